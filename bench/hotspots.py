"""`python -m bench --profile CASE`: where the runtime's time goes, for one case.

The case runs in a worker process like any other, with cProfile around `simulate()` only (compile
and workload building excluded); the top functions by own time and by cumulative time are printed.
If py-spy is installed (on PATH, or in `.bench-cache/tools-venv`), the case runs a second time under
`py-spy record` (sampling, so no tracing overhead): own and inclusive samples per function, counted
inside `simulate()` only.
"""

from __future__ import annotations

import io
import pstats
import shutil
import sys
from collections import Counter
from pathlib import Path

from bench.cases import REPO_ROOT, all_cases
from bench.runner import Runner, WorkerError

PY_SPY_RATE = 200  # samples per second
SIM_FRAME = "simulate (llmsim/runtime/simulator.py"


def find_py_spy() -> str | None:
    local = REPO_ROOT / ".bench-cache" / "tools-venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def collapse(raw_lines: list[str], within: str = SIM_FRAME) -> tuple[Counter[str], Counter[str], int]:
    """Own and inclusive sample counts per function from py-spy's raw (collapsed stack) output.

    Only stacks that pass through a frame starting with `within` count; frames are named
    `function (file)`, without line numbers, so a function's samples add up across its lines.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        for i, f in enumerate(frames):
            if f.startswith(within):
                frames = frames[i:]
                break
        else:
            continue
        count = int(count_text)
        total += count
        names = [_strip_line(f) for f in frames]
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    return own, inclusive, total


def _strip_line(frame: str) -> str:
    """`f (path/file.py:12)` -> `f (path/file.py)`."""
    head, sep, rest = frame.rpartition(":")
    return f"{head})" if sep and rest.rstrip(")").isdigit() else frame


def print_pstats(prof: Path, top: int) -> None:
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        stats.strip_dirs().sort_stats(key).print_stats(top)
        text = buf.getvalue()
        start = text.find("   ncalls")
        print(f"\ncProfile, simulate() only, top {top} by {title}:")
        print(text[start:].rstrip() if start >= 0 else text.rstrip())


def profile_case(runner: Runner, name: str, *, timeout_s: float, top: int) -> int:
    """Profile one case by exact name; exit code."""
    from bench.cli import RUNS_DIR, prepare, resolve_matched_hardware, run_llmsim

    cases = {c.name: c for c in all_cases()}
    if name not in cases:
        print(f"no case named {name!r}; `python -m bench --list` lists them", file=sys.stderr)
        return 1
    folder = RUNS_DIR / f"profile-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    hardware = resolve_matched_hardware(runner)[0] if cases[name].vidur else ""
    case, spec, rate, _, _ = prepare(runner, cases[name], folder, {}, 0.9, hardware, {})
    prof = folder / "simulate.prof"
    try:
        result = run_llmsim(runner, case, spec, folder, timeout_s, profile=prof)
    except WorkerError as exc:
        print(exc, file=sys.stderr)
        return 1
    sim_s, events, steps = result.get("sim_s"), result.get("events"), result.get("steps")
    print(f"{name}: {case.requests:,} requests on {case.instances} instance(s)"
          + (f" at {rate:.4g} req/s" if rate else "")
          + f"; simulate() {sim_s:.2f} s under cProfile, {events or 0:,} events, {steps or 0:,} steps"
          + (" (TIMED OUT)" if result.get("timed_out") else ""))
    if prof.exists():
        print_pstats(prof, top)
    spy = find_py_spy()
    if spy is None:
        print("\npy-spy not found (pip install py-spy into .bench-cache/tools-venv to add sampled profiles)")
        return 0
    raw = folder / "py-spy.txt"
    prefix = [spy, "record", "--format", "raw", "--rate", str(PY_SPY_RATE), "-o", str(raw), "--"]
    try:
        plain = run_llmsim(runner, case, spec, folder, timeout_s, cmd_prefix=prefix)
    except WorkerError as exc:
        print(f"\npy-spy failed: {exc}")
        return 0
    if not raw.exists():
        print("\npy-spy wrote no samples")
        return 0
    own, inclusive, total = collapse(raw.read_text(encoding="utf-8").splitlines())
    if not total:
        print("\npy-spy: no samples inside simulate()")
        return 0
    print(f"\npy-spy ({PY_SPY_RATE} Hz, simulate() {plain.get('sim_s', 0):.2f} s without cProfile), {total} samples "
          "inside simulate(); own / inclusive share:")
    for fn, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f} % own  {100 * inclusive[fn] / total:5.1f} % incl  {fn}")
    return 0
