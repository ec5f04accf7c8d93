"""Import one aiconfigurator-core system folder and engine version into a hardware_db entry.

Source layout (aiconfigurator-core 0.12.0, Apache-2.0, NVIDIA): `<system>/system.yaml` and
`<system>/<family>/<engine>/<version>/<table>.csv.gz`; every table has `latency` in MILLISECONDS per
call. What is taken (all else is skipped and said so in the entry's notes):

- `gemm/<engine>/<version>/gemm_perf`: `gemm_dtype` bfloat16 -> `gemm_bf16`, fp8 (per-tensor scaled)
  -> `gemm_fp8`, float16 -> `gemm_fp16` if present; one kernel per dtype (the one with most rows).
- `attention/<engine>/<version>/{context,generation}_attention_perf`: window_size 0, attn_dtype
  bfloat16, beam 1, kv_cache_dtype bfloat16 / fp8; one table per head layout. Decode rows are keyed
  by `kv_len = isl + step` (the tokens the new one attends to, as aiconfigurator reads it).
- `comm/nccl/<misc.nccl_version>/nccl_perf`: all_reduce, dtype half; `message_size` is a number of
  ELEMENTS, stored as bytes (x2).
- `comm/<engine>/<version>/custom_allreduce_perf`: the engine's own all-reduce (for vLLM the
  CUDA-graph backend, `vllm_graph`); `message_size` is also ELEMENTS (the collector builds a tensor of
  that many elements), stored as bytes.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any

import yaml

from llmsim.diagnostics import UserError
from llmsim.hwdb.importers import ImportResult, source_label
from llmsim.hwdb.schema import OP_KEYS, SCHEMA_VERSION
from llmsim.hwdb.writer import dump_entry, format_qty, table_csv

NAME = "aiconfigurator"
PACKAGE = "aiconfigurator-core"

_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "fp8": "fp8", "float32": "fp32", "int8": "int8"}
_ELEMENT_BYTES = {"bfloat16": 2, "float16": 2, "half": 2, "float32": 4, "fp8": 1, "int8": 1}
_GEMM_DTYPES = ("bfloat16", "float16", "fp8")  # per-tensor fp8; fp8_block and others are skipped
_KV_DTYPES = ("bfloat16", "fp8")
_PEAK_KEYS = {
    "bfloat16_tc_flops": "bf16",
    "fp16_tc_flops": "fp16",
    "float16_tc_flops": "fp16",
    "fp8_tc_flops": "fp8",
    "fp4_tc_flops": "fp4",
}


def _read_gz(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _ms_to_us(values: Iterable[str]) -> float:
    """The median of repeated measurements, milliseconds -> microseconds."""
    return median(float(v) for v in values) * 1000.0


def _pick_kernel(rows: list[dict[str, str]]) -> tuple[str, dict[str, int]]:
    """The kernel with the most rows (ties: alphabetical) and the row count of every kernel."""
    counts = Counter(r["kernel_source"] for r in rows)
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return best, dict(sorted(counts.items()))


def _collapse(
    rows: list[dict[str, str]], key: Callable[[dict[str, str]], tuple[int, ...]]
) -> tuple[list, int]:
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r["latency"])
    dups = sum(len(v) - 1 for v in groups.values())
    return [(k, _ms_to_us(v)) for k, v in groups.items()], dups


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        avail = sorted(p.name for p in path.parent.parent.iterdir()) if path.parent.parent.is_dir() else []
        raise UserError(
            f"no {what} at {path}",
            help=("versions there: " + ", ".join(avail)) if avail else "check SYSTEM_DIR and --engine",
        )
    return path


def _meta(path: Path) -> dict[str, Any]:
    p = path / "collection_meta.yaml"
    if not p.is_file():
        return {}
    return yaml.safe_load(p.read_text(encoding="utf-8")) or {}


def _specs_row(specs_csv: Path | None, system: str) -> dict[str, str] | None:
    """The row of specs.csv for this system ("h100_sxm" matches "NVIDIA H100 SXM 80GB")."""
    if specs_csv is None or not specs_csv.is_file():
        return None
    tokens = [t for t in system.lower().split("_") if t]
    with specs_csv.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(t in r["accelerator"].lower() for t in tokens)]
    return rows[0] if len(rows) == 1 else None


class _Tables:
    """Collects tables: their metadata for entry.yaml and their CSV bytes."""

    def __init__(self) -> None:
        self.meta: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}

    def add(
        self,
        name: str,
        op: str,
        fields: dict[str, Any],
        rows: list,
        kernel: str,
        source: str,
        source_filter: str,
    ) -> None:
        file = f"tables/{name}.csv"
        self.files[file] = table_csv(OP_KEYS[op], rows)
        self.meta[name] = {
            "file": file,
            "op": op,
            **fields,
            "keys": list(OP_KEYS[op]),
            "unit": "us",
            "rows": len(rows),
            "kernel": kernel,
            "source": source,
            "source_filter": source_filter,
        }


def build(
    system_dir: Path,
    engine: str,
    *,
    vendor: str = "nvidia",
    device_name: str | None = None,
    nccl_version: str | None = None,
    specs_csv: Path | None = None,
    command: str | None = None,
) -> ImportResult:
    """Convert `system_dir` (e.g. .../aiconfigurator-0.12.0/h100_sxm) for `engine` ("vllm@0.24.0")."""
    system_dir = Path(os.path.abspath(system_dir))
    m = re.fullmatch(r"([a-z0-9_-]+)@([0-9A-Za-z][0-9A-Za-z.+_-]*)", engine)
    if not m:
        raise UserError(
            f"`--engine {engine}` is not `<engine>@<version>`", help="write it like `--engine vllm@0.24.0`"
        )
    eng, ver = m.groups()
    system_file = system_dir / "system.yaml"
    if not system_file.is_file():
        raise UserError(
            f"{system_dir} is not an aiconfigurator system folder (no system.yaml)",
            help="pass a folder such as .../aiconfigurator-0.12.0/h100_sxm",
        )
    available = engine_versions(system_dir)
    if engine not in available:
        raise UserError(
            f"no {eng} {ver} tables in {system_dir}",
            help="engine versions there: " + ", ".join(available),
        )
    system = yaml.safe_load(system_file.read_text(encoding="utf-8"))
    sysname = system_dir.name
    device_name = device_name or sysname.replace("_", "-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", device_name) or not re.fullmatch(
        r"[a-z0-9][a-z0-9_-]*", vendor
    ):
        raise UserError("--vendor and --device-name must be lower-case names like `nvidia` and `h100-sxm`")
    pkg_match = re.fullmatch(r"aiconfigurator(?:-core)?-(.+)", system_dir.parent.name)
    pkg_version = pkg_match.group(1) if pkg_match else "unknown"
    explicit_nccl, explicit_specs = nccl_version, specs_csv
    if specs_csv is None:
        guess = system_dir.parent.parent / "specs.csv"
        specs_csv = guess if guess.is_file() else None
    nccl_version = nccl_version or str(system.get("misc", {}).get("nccl_version", ""))
    if not nccl_version:
        raise UserError("system.yaml names no misc.nccl_version", help="pass --nccl-version")

    tables = _Tables()
    notes: list[str] = [
        "latency converted from milliseconds per call to microseconds, rounded to 5 significant digits; "
        "repeated measurements of one key collapsed to their median; "
        "only the key columns llmsim uses are kept",
    ]
    measured_with: dict[str, str] = {"engine": f"{eng} {ver}"}
    files: dict[str, str] = {"system": f"systems/{sysname}.yaml"}
    gpu_names: set[str] = set()

    # GEMM -----------------------------------------------------------------------------------------
    gemm_rel = f"gemm/{eng}/{ver}/gemm_perf.csv.gz"
    gemm_rows = _read_gz(system_dir / gemm_rel) if (system_dir / gemm_rel).is_file() else []
    if gemm_rows:
        files["gemm"] = gemm_rel
    else:
        notes.append(f"no {eng} {ver} GEMM table in the source; GEMMs fall back to the roofline")
    gpu_names.update(r["device"] for r in gemm_rows)
    present = sorted({r["gemm_dtype"] for r in gemm_rows})
    kernels_used = []
    for src_dtype in _GEMM_DTYPES:
        rows = [r for r in gemm_rows if r["gemm_dtype"] == src_dtype]
        if not rows:
            continue
        kernel, counts = _pick_kernel(rows)
        rows = [r for r in rows if r["kernel_source"] == kernel]
        data, dups = _collapse(rows, lambda r: (int(r["m"]), int(r["n"]), int(r["k"])))
        dt = _DTYPES[src_dtype]
        tables.add(
            f"gemm_{dt}",
            "gemm",
            {"dtype": dt},
            data,
            kernel,
            gemm_rel,
            f"gemm_dtype={src_dtype}, kernel_source={kernel}",
        )
        kernels_used.append(f"{dt}: {kernel}")
        if len(counts) > 1:
            notes.append(
                f"GEMM {src_dtype}: kernel {kernel} kept; skipped "
                + ", ".join(f"{k} ({n} rows)" for k, n in counts.items() if k != kernel)
            )
        if dups:
            notes.append(f"GEMM {src_dtype}: {dups} repeated rows collapsed to their median")
    skipped = [d for d in present if d not in _GEMM_DTYPES]
    if skipped:
        notes.append("GEMM dtypes not imported: " + ", ".join(skipped))
    if kernels_used:
        measured_with["gemm_kernels"] = "; ".join(kernels_used)

    # Attention ------------------------------------------------------------------------------------
    attn_kernels: set[str] = set()
    for op, fname, label in (
        ("attention_prefill", "context_attention_perf", "prefill"),
        ("attention_decode", "generation_attention_perf", "decode"),
    ):
        rel = f"attention/{eng}/{ver}/{fname}.csv.gz"
        if not (system_dir / rel).is_file():
            notes.append(f"no {eng} {ver} {label} attention table in the source; it falls back to the roofline")
            continue
        rows_all = _read_gz(system_dir / rel)
        files[f"attention_{label}"] = rel
        gpu_names.update(r["device"] for r in rows_all)
        base = [
            r
            for r in rows_all
            if r.get("window_size", "0") == "0"
            and r["attn_dtype"] == "bfloat16"
            and r.get("beam_width", "1") == "1"
        ]
        windows = sorted({int(r.get("window_size", "0")) for r in rows_all} - {0})
        if windows:
            notes.append(
                f"{label} attention: sliding-window rows "
                f"(window_size {', '.join(map(str, windows))}) not imported"
            )
        for kv_src in _KV_DTYPES:
            rows = [r for r in base if r["kv_cache_dtype"] == kv_src]
            if not rows:
                continue
            main_kernel, _ = _pick_kernel(rows)
            if op == "attention_prefill":
                if any(r.get("step", "0") != "0" for r in rows):
                    raise UserError(
                        f"{rel}: context attention rows with step != 0; this importer does not know them"
                    )

                def key(r: dict[str, str]) -> tuple[int, ...]:
                    return (int(r["batch_size"]), int(r["isl"]))
            else:

                def key(r: dict[str, str]) -> tuple[int, ...]:
                    return (int(r["batch_size"]), int(r["isl"]) + int(r["step"]))

            layouts: dict[tuple[int, int, int], list] = defaultdict(list)
            for r in rows:
                layouts[(int(r["num_heads"]), int(r["num_key_value_heads"]), int(r["head_dim"]))].append(r)
            kv = _DTYPES[kv_src]
            skipped_layouts: dict[str, list[str]] = defaultdict(list)
            skipped_rows: Counter[str] = Counter()
            for (nh, nkv, hd), lrows in sorted(layouts.items()):
                # one kernel per entry and op: the engine's kernel for most layouts. A layout measured
                # only with another kernel is skipped (on H100 that is head_dim 512 with FA4, whose
                # isl=1 prefill rows run up to 7x slower than isl=16 and fail `hwdb validate`).
                kinds = Counter(r["kernel_source"] for r in lrows)
                if main_kernel not in kinds:
                    for k in kinds:
                        skipped_layouts[k].append(f"{nh}/{nkv}/{hd}")
                    continue
                attn_kernels.add(main_kernel)
                skipped_rows.update({k: n for k, n in kinds.items() if k != main_kernel})
                lrows = [r for r in lrows if r["kernel_source"] == main_kernel]
                kernel = main_kernel
                data, dups = _collapse(lrows, key)
                name = f"{op}_h{nh}_kv{nkv}_d{hd}_kv{kv}"
                fields = {
                    "dtype": "bf16",
                    "kv_dtype": kv,
                    "num_heads": nh,
                    "num_kv_heads": nkv,
                    "head_dim": hd,
                    "window": 0,
                }
                tables.add(
                    name,
                    op,
                    fields,
                    data,
                    kernel,
                    rel,
                    f"num_heads={nh}, num_key_value_heads={nkv}, head_dim={hd}, kv_cache_dtype={kv_src}, "
                    "attn_dtype=bfloat16, window_size=0, beam_width=1",
                )
                if dups:
                    notes.append(f"{name}: {dups} repeated rows collapsed to their median")
            for k, lays in sorted(skipped_layouts.items()):
                notes.append(
                    f"{label} attention kv {kv_src}: layouts (heads/kv heads/head dim) "
                    f"{', '.join(lays)} were "
                    f"measured only with {k}, not {main_kernel}; not imported"
                )
            if skipped_rows:
                notes.append(
                    f"{label} attention kv {kv_src}: skipped rows of other kernels for layouts that have "
                    + main_kernel
                    + ": "
                    + ", ".join(f"{k} ({n})" for k, n in sorted(skipped_rows.items()))
                )
    if attn_kernels:
        measured_with["attention_kernel"] = ", ".join(sorted(attn_kernels))
        notes.append("decode attention is keyed by kv_len = isl + step, the KV tokens the new token attends to")
    reuse = system_dir / f"attention/{eng}/{ver}/reuse.yaml"
    if reuse.is_file():
        for item in (yaml.safe_load(reuse.read_text(encoding="utf-8")) or {}).get("reuse", []):
            notes.append(
                f"attention/{eng}/{ver}/reuse.yaml: {item.get('table')} reuses version "
                f"{item.get('from_version')} ({item.get('reason')})"
            )

    # All-reduce -----------------------------------------------------------------------------------
    nccl_rel = f"comm/nccl/{nccl_version}/nccl_perf.csv.gz"
    nccl_rows = _read_gz(_require(system_dir / nccl_rel, f"NCCL {nccl_version} table"))
    files["nccl"] = nccl_rel
    gpu_names.update(r["device"] for r in nccl_rows)
    coll_ops = {"all_reduce": "allreduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
                "alltoall": "alltoall"}
    row_versions: set[str] = set()
    for src_op, op in coll_ops.items():
        for src_dtype in ("half", "int8"):
            sel = [r for r in nccl_rows if r["op_name"] == src_op and r["nccl_dtype"] == src_dtype]
            if not sel:
                continue
            size = _ELEMENT_BYTES[src_dtype]
            data, dups = _collapse(
                sel, lambda r, size=size: (int(r["num_gpus"]), int(r["message_size"]) * size)
            )
            dt = _DTYPES[src_dtype]
            tables.add(
                f"{op}_nccl_{dt}",
                op,
                {"dtype": dt, "implementation": "nccl", "implementation_version": nccl_version},
                data,
                "NCCL",
                nccl_rel,
                f"op_name={src_op}, nccl_dtype={src_dtype}; message_size elements x {size} bytes",
            )
            if dups:
                notes.append(f"NCCL {src_op} {src_dtype}: {dups} repeated rows collapsed to their median")
            row_versions |= {r.get("version", "") for r in sel} - {"", nccl_version}
    if row_versions:
        notes.append(
            f"the rows of {nccl_rel} carry version {', '.join(sorted(row_versions))} in their version column; "
            f"the folder (and system.yaml misc.nccl_version) says {nccl_version}"
        )
    missing_ops = sorted(set(coll_ops) - {r["op_name"] for r in nccl_rows})
    if missing_ops:
        notes.append(f"{nccl_rel} has no {', '.join(missing_ops)} rows")
    measured_with["nccl"] = nccl_version

    custom_rel = f"comm/{eng}/{ver}/custom_allreduce_perf.csv.gz"
    if (system_dir / custom_rel).is_file():
        crow = _read_gz(system_dir / custom_rel)
        files["custom_allreduce"] = custom_rel
        gpu_names.update(r["device"] for r in crow)
        # vLLM measured its custom all-reduce twice: under CUDA graphs (`vllm_graph`, how it serves)
        # and eagerly (`vllm_eager`); TensorRT-LLM's table has no backend column (graph mode).
        backends = sorted({r.get("backend", "") for r in crow})
        for backend in backends:
            brows = [r for r in crow if r.get("backend", "") == backend]
            eager = backend.endswith("_eager")
            impl = f"{eng}_custom_eager" if eager else f"{eng}_custom"
            for src_dtype in sorted({r["allreduce_dtype"] for r in brows}):
                rows = [r for r in brows if r["allreduce_dtype"] == src_dtype]
                kernel, _ = _pick_kernel(rows)
                rows = [r for r in rows if r["kernel_source"] == kernel]
                size = _ELEMENT_BYTES[src_dtype]
                data, dups = _collapse(
                    rows, lambda r, size=size: (int(r["num_gpus"]), int(r["message_size"]) * size)
                )
                dt = _DTYPES[src_dtype]
                fields: dict[str, Any] = {"dtype": dt, "implementation": impl}
                if eager:
                    fields["mode"] = "eager"
                tables.add(
                    f"allreduce_{impl}_{dt}",
                    "allreduce",
                    fields,
                    data,
                    kernel,
                    custom_rel,
                    (f"backend={backend}, " if backend else "")
                    + f"allreduce_dtype={src_dtype}, kernel_source={kernel}; message_size elements x {size} bytes",
                )
        if any(b.endswith("_eager") for b in backends):
            notes.append(
                f"{eng} custom all-reduce: the CUDA-graph backend is the default path (with NCCL); the eager "
                f"backend is kept as implementation {eng}_custom_eager, used only when asked for by name"
            )
        cmeta = _meta(system_dir / custom_rel.rsplit("/", 1)[0]).get("runtime", {})
        abi = cmeta.get("abi", {}) or {}
        if cmeta.get("image"):
            measured_with["custom_allreduce_image"] = str(cmeta["image"])
        for k in ("torch", "cuda", "driver"):
            if abi.get(k):
                measured_with[f"custom_allreduce_{k}"] = str(abi[k])
    else:
        notes.append(f"no {eng} {ver} custom all-reduce table in the source; all-reduce is NCCL only")
    notes.append(
        "message sizes are bytes: the source's message_size counts elements (2 bytes each for half/bfloat16, "
        "1 for int8), the whole buffer of the collective as nccl-tests counts it"
    )

    # MoE ------------------------------------------------------------------------------------------
    moe_rel = f"moe/{eng}/{ver}/moe_perf.csv.gz"
    if (system_dir / moe_rel).is_file():
        files["moe"] = moe_rel
        _import_moe(_read_gz(system_dir / moe_rel), moe_rel, tables, notes, gpu_names)
    else:
        notes.append(f"no {eng} {ver} MoE table in the source")
    a2a_rel = f"comm/{eng}/{ver}/moe_a2a_perf.csv.gz"
    if (system_dir / a2a_rel).is_file():
        files["moe_a2a"] = a2a_rel
        _import_moe_a2a(_read_gz(system_dir / a2a_rel), a2a_rel, tables, notes, gpu_names)

    if len(gpu_names) == 1:
        measured_with["gpu"] = next(iter(gpu_names))
    elif gpu_names:
        measured_with["gpu"] = ", ".join(sorted(gpu_names))
    for label, rel in (("gemm", f"gemm/{eng}/{ver}"), ("attention", f"attention/{eng}/{ver}")):
        prov = _meta(system_dir / rel).get("provenance")
        if prov:
            notes.append(f"{label} collection_meta.yaml says provenance: {prov}")

    # Spec sheet -----------------------------------------------------------------------------------
    gpu, node = system.get("gpu", {}), system.get("node", {})
    spec_row = _specs_row(specs_csv, sysname)
    device, sources = _device(gpu, node, spec_row, measured_with.get("gpu", sysname), sysname)
    if spec_row is not None:
        bf = spec_row.get("bf16_dense_tflops", "")
        ours = Fraction(str(gpu.get("bfloat16_tc_flops", 0))) / 10**12
        if bf and _num(bf) is not None and _num(bf) != ours:
            notes.append(f"specs.csv lists {bf} dense bf16 TFLOP/s, system.yaml {ours}; system.yaml used")
    device["sources"] = sources

    lic_name = f"{PACKAGE}-{pkg_version}-Apache-2.0.txt"
    lic_src = system_dir.parent / "LICENSE-APACHE"
    if not lic_src.is_file():
        raise UserError(f"no LICENSE-APACHE next to {system_dir}", help="the licence travels with the data")
    entry = f"{vendor}/{device_name}"
    if not tables.meta:
        raise UserError(f"{system_dir} has no table for {engine}", help="see `engine_versions()` for what it has")
    validation = _tolerances(tables, notes)
    cmd = command or (
        f"llmsim hwdb import aiconfigurator {source_label(system_dir)} --engine {engine} "
        f"--vendor {vendor} --device-name {device_name}"
        + (f" --nccl-version {explicit_nccl}" if explicit_nccl else "")
        + (f" --specs {source_label(Path(explicit_specs))}" if explicit_specs else "")
    )
    doc = {
        "schema_version": SCHEMA_VERSION,
        "entry": entry,
        "engine": {"name": eng, "version": ver},
        "kind": "measured",
        "device": device,
        "provenance": {
            "source": {
                "package": PACKAGE,
                "version": pkg_version,
                "path": f"systems/data/{sysname}",
                "files": files,
            },
            "measured_by": "NVIDIA, with the aiconfigurator-core collectors (published in the PyPI package)",
            "measured_with": measured_with,
            "licence": {"spdx": "Apache-2.0", "file": f"../../../LICENSES/{lic_name}"},
            "converted_by": cmd,
            "notes": notes,
        },
        **({"validation": validation} if validation else {}),
        "tables": dict(sorted(tables.meta.items())),
    }
    header = (
        f"{entry} on {eng} {ver}: converted from {PACKAGE} {pkg_version} "
        "by `llmsim hwdb import aiconfigurator`.\n"
        "Generated file: re-run the importer (see provenance.converted_by) rather than editing by hand."
    )
    files_out = {"entry.yaml": dump_entry(doc, header).encode("utf-8"), **tables.files}
    return ImportResult(entry, f"{eng}@{ver}", files_out, {f"LICENSES/{lic_name}": lic_src.read_bytes()})


def _num(text: str) -> Fraction | None:
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        return None


def _device(
    gpu: dict, node: dict, spec_row: dict[str, str] | None, gpu_name: str, sysname: str
) -> tuple[dict[str, Any], dict[str, str]]:
    src = f"{PACKAGE} systems/{sysname}.yaml"
    sources: dict[str, str] = {}

    def q(value: Any, unit: str) -> str:
        return format_qty(Fraction(str(value)), unit)

    peak = {}
    for key, dt in _PEAK_KEYS.items():
        if gpu.get(key):
            peak[dt] = q(gpu[key], "1FLOP/s")
    device: dict[str, Any] = {
        "name": spec_row["accelerator"] if spec_row else gpu_name,
        "memory_capacity": q(gpu["mem_capacity"], "1B"),
        "memory_bandwidth": q(gpu["mem_bw"], "1B/s"),
        "memory_efficiency": float(gpu.get("mem_bw_empirical_scaling_factor", 1.0)),
        "launch_latency": q(gpu.get("mem_empirical_constant_latency", 0) or "0.000001", "1s"),
        "peak_flops": peak,
    }
    sources["name"] = (
        "specs.csv accelerator column" if spec_row else "the device column of the measured tables"
    )
    sources["memory_capacity"] = f"{src} gpu.mem_capacity"
    sources["memory_bandwidth"] = f"{src} gpu.mem_bw"
    sources["memory_efficiency"] = (
        f"{src} gpu.mem_bw_empirical_scaling_factor: NVIDIA's unofficial correction "
        "from observations (achievable fraction of memory bandwidth)"
    )
    sources["launch_latency"] = (
        f"{src} gpu.mem_empirical_constant_latency: NVIDIA's unofficial constant latency "
        "per memory-bound kernel, from observations"
    )
    sources["peak_flops"] = f"{src} gpu.<dtype>_tc_flops (dense tensor-core peak)"
    if gpu.get("power"):
        device["tdp"] = q(gpu["power"], "1W")
        sources["tdp"] = f"{src} gpu.power"
    links = {}
    lat = node.get("p2p_latency")
    for name, key in (("nvlink", "intra_node_bw"), ("pcie", "pcie_bw"), ("network", "inter_node_bw")):
        if node.get(key) and lat:
            links[name] = {"bandwidth": q(node[key], "1B/s"), "latency": q(lat, "1s")}
    device["links"] = links
    sources["links"] = (
        f"{src} node.intra_node_bw (nvlink), node.pcie_bw (pcie), node.inter_node_bw (network), "
        "bytes/s per direction per GPU; latency node.p2p_latency (NVIDIA's unofficial correction) "
        "for every link"
    )
    device["gpus_per_node"] = int(node.get("num_gpus_per_node", 8))
    sources["gpus_per_node"] = f"{src} node.num_gpus_per_node"
    if spec_row:
        sources["cross_check"] = (
            f"specs.csv row `{spec_row['accelerator']}` (source: {spec_row.get('source', '')})"
        )
    return device, sources


def engine_versions(system_dir: Path) -> list[str]:
    """Every `<engine>@<version>` with a table in a system folder (NCCL, shared by all, excluded)."""
    found = set()
    for fam in ("gemm", "attention", "comm", "moe"):
        for d in Path(system_dir).glob(f"{fam}/*/*"):
            if d.is_dir() and d.parent.name != "nccl" and any(d.glob("*.csv.gz")):
                found.add(f"{d.parent.name}@{d.name}")
    if not found:
        raise UserError(f"{system_dir} holds no engine tables", help="pass an aiconfigurator system folder")
    return sorted(found)


def _import_moe(rows: list[dict[str, str]], rel: str, tables: _Tables, notes: list[str], gpus: set[str]) -> None:
    """One table per (MoE quantisation, routing distribution), keyed by the model layout and tokens.
    Where a layout was measured with more than one kernel, the kernel with most rows there is kept."""
    gpus.update(r["device"] for r in rows)
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        groups[(r["moe_dtype"], r["distribution"])].append(r)

    def layout(r: dict[str, str]) -> tuple[int, ...]:
        return tuple(int(r[c]) for c in ("hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size",
                                          "moe_ep_size"))

    for (src_dtype, dist), grows in sorted(groups.items()):
        by_layout: dict[tuple[int, ...], list[dict[str, str]]] = defaultdict(list)
        for r in grows:
            by_layout[layout(r)].append(r)
        kept: list[dict[str, str]] = []
        dropped: Counter[str] = Counter()
        for lrows in by_layout.values():
            kernel, counts = _pick_kernel(lrows)
            kept += [r for r in lrows if r["kernel_source"] == kernel]
            dropped.update({k: n for k, n in counts.items() if k != kernel})
        data, dups = _collapse(kept, lambda r: (*layout(r), int(r["num_tokens"])))
        dt = _DTYPES.get(src_dtype, src_dtype)
        name = f"moe_{dt}_{re.sub(r'[^a-z0-9]+', '_', dist.lower())}"
        kernels = sorted({r["kernel_source"] for r in kept})
        tables.add(name, "moe", {"dtype": dt, "distribution": dist}, data, "; ".join(kernels), rel,
                   f"moe_dtype={src_dtype}, distribution={dist}")
        if dups:
            notes.append(f"{name}: {dups} repeated rows collapsed to their median")
        if dropped:
            notes.append(f"{name}: layouts measured with several kernels keep the one with most rows; skipped "
                         + ", ".join(f"{k} ({n})" for k, n in sorted(dropped.items())))


def _import_moe_a2a(rows: list[dict[str, str]], rel: str, tables: _Tables, notes: list[str], gpus: set[str]) -> None:
    """MoE all-to-all (DeepEP dispatch / combine): one table per backend and phase; `latency` here is
    already MICROSECONDS (the table also carries transmit_us and notify_us, and latency = their sum)."""
    gpus.update(r["device"] for r in rows)
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        groups[(r["comm_backend"], r["phase"], r["comm_dtype"])].append(r)
    for (backend, phase, dtype), grows in sorted(groups.items()):
        keys = ("ep_size", "node_num", "hidden_size", "topk", "num_experts", "num_tokens")
        groups_k: dict[tuple[int, ...], list[float]] = defaultdict(list)
        for r in grows:
            groups_k[tuple(int(r[k]) for k in keys)].append(float(r["latency"]))
        data = [(k, median(v)) for k, v in groups_k.items()]
        kernel, _ = _pick_kernel(grows)
        sms = sorted({r["sms"] for r in grows})
        tables.add(f"moe_a2a_{backend}_{phase}", "moe_a2a",
                   {"dtype": dtype, "backend": backend, "phase": phase}, data, kernel, rel,
                   f"comm_backend={backend}, phase={phase}, comm_dtype={dtype}, sms={','.join(sms)}")
    notes.append(f"{rel}: latency is in microseconds in this table (= transmit_us + notify_us), kept as is")


def _tolerances(tables: _Tables, notes: list[str]) -> dict[str, Any]:
    """Per-entry monotonic tolerances where this data needs more than the defaults (see
    `llmsim.hwdb.validate.tolerances_for`); the measurements themselves are never altered."""
    import numpy as np

    from llmsim.hwdb.validate import table_lines, tolerances_for, worst_drops

    worst: dict[str, tuple[float, str]] = {}
    for name, meta in sorted(tables.meta.items()):
        lines = tables.files[meta["file"]].decode("utf-8").split("\n")[1:]
        data = np.array([[float(x) for x in line.split(",")] for line in lines if line])
        for check, (drop, where) in worst_drops(table_lines(meta["op"], data), f"{name}: ").items():
            if drop > worst.get(check, (0.0, ""))[0]:
                worst[check] = (drop, where)
    out, tol_notes = tolerances_for(worst)
    notes.extend(tol_notes)
    return {"monotone_tolerance": out} if out else {}
