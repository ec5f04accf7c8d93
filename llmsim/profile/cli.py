"""`llmsim profile`: the command line of the profiler."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from llmsim.diagnostics import UserError
from llmsim.profile.grids import GRIDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="measure this machine's CPU or GPU with PyTorch and write a hardware_db entry",
        description="Time the operators llmsim's compiler emits for the given models on a torch device and "
        "write a `profiled` hardware_db entry (needs the optional extra: pip install -e '.[profile]').",
    )
    p.add_argument("--device", default="cpu", metavar="cpu|cuda[:N]", help="torch device (default: cpu)")
    p.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"), help="compute dtype (default: bf16)")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME|config.json",
        help="a catalog model (e.g. Llama-3.1-8B) or a Hugging Face config.json; repeatable",
    )
    p.add_argument("--grid", default="quick", choices=tuple(GRIDS), help="measurement grid (default: quick)")
    p.add_argument("--out", type=Path, default=Path("hardware_db"), metavar="DIR",
                   help="database root to write the entry into (default: ./hardware_db)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads torch may use (default: torch's own)")
    p.add_argument("--force", action="store_true", help="replace an existing entry whose content differs")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_profile)


def import_torch():
    """torch, or a UserError that says how to get it."""
    try:
        import torch
    except ImportError:
        raise UserError(
            "`llmsim profile` needs PyTorch, which is not installed",
            help="install the optional extra: python -m pip install -e \".[profile]\"",
        ) from None
    return torch


def load_models(names: list[str]):
    """Catalog names or config.json paths -> ModelConfig, with a UserError naming a bad one."""
    from llmsim.compiler import catalog
    from llmsim.compiler.models import ModelConfigError, load_model

    out = []
    for name in names:
        path = Path(name)
        if path.suffix == ".json" or path.is_file():
            if not path.is_file():
                raise UserError(f"no config file at `{name}`")
            label = path.parent.name if path.name == "config.json" else path.stem
        else:
            try:
                path = catalog.config_path(name)
            except KeyError:
                raise UserError(
                    f"`{name}` is neither a catalog model nor a config.json",
                    help="catalog models: " + ", ".join(catalog.names()),
                ) from None
            label = name
        try:
            out.append(load_model(path, label))
        except ModelConfigError as exc:
            raise UserError(f"{name}: {exc}") from None
    return out


def check_device(torch, device: str) -> None:
    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise UserError(f"unknown device `{device}`", help="use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UserError(f"`{device}` asked for, but torch sees no CUDA device", help="profile `--device cpu`")
    idx = int(device.split(":", 1)[1]) if ":" in device else 0
    if idx >= torch.cuda.device_count():
        raise UserError(f"`{device}` does not exist: torch sees {torch.cuda.device_count()} CUDA device(s)")


def cmd_profile(args: argparse.Namespace) -> int:
    from llmsim.hwdb.errors import display_path
    from llmsim.hwdb.writer import install
    from llmsim.profile.run import measure
    from llmsim.profile.write import build_entry

    torch = import_torch()
    check_device(torch, args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise UserError("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    warn_if_busy(args.quiet)
    models = load_models(args.model)
    command = "llmsim profile " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["profile"] else
                                               [a for a in _argv(args)])
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr)

    meas = measure(torch, args.device, args.dtype, models, GRIDS[args.grid], progress)
    result = build_entry(torch, args.device, args.dtype, args.grid, [m.name for m in models], meas, command)
    status = install(args.out, result.entry_rel, result.files, result.shared, force=args.force)
    ntables = sum(1 for f in result.files if f.endswith(".csv"))
    print(f"{status} {display_path(args.out / result.entry_rel)}: {ntables} tables, "
          f"{time.perf_counter() - t0:.0f} s of measurement")
    return 0


def warn_if_busy(quiet: bool) -> None:
    """Timings on a busy machine measure the other processes too: say so before spending minutes."""
    import os

    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return
    cores = os.cpu_count() or 1
    if load > 0.5 * cores and not quiet:
        print(f"warning: the load average is {load:.1f} on {cores} cores; other processes will disturb the "
              "timings (profile an otherwise idle machine)", file=sys.stderr)


def _argv(args: argparse.Namespace) -> list[str]:
    """The options as given, for provenance, when not run from the `llmsim` script itself."""
    out = ["--device", args.device, "--dtype", args.dtype]
    for m in args.model:
        out += ["--model", m]
    out += ["--grid", args.grid, "--out", str(args.out)]
    if args.threads is not None:
        out += ["--threads", str(args.threads)]
    return out
