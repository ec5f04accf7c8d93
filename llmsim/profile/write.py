"""Turn one profile run into a hardware_db entry (kind `profiled`) through the hwdb writer."""

from __future__ import annotations

import datetime as _dt
import platform
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from llmsim.hwdb.importers import ImportResult
from llmsim.hwdb.schema import SCHEMA_VERSION
from llmsim.hwdb.writer import dump_entry, format_qty, table_csv
from llmsim.profile.run import Measurements, best_gemm_rate, fit_elementwise

LICENCE = "llmsim-profiled-NOTICE.txt"
LICENCE_TEXT = """Entries of kind `profiled` in hardware_db/ were measured with `llmsim profile` by contributors
to llmsim on their own machines, as each entry's provenance records (command, date, versions), and
are contributed under the project's licence (Apache-2.0, see pyproject.toml).
"""


def cpu_model() -> str:
    """The CPU's model name as the OS reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def device_identity(torch: Any, device: str) -> tuple[str, str, str, int]:
    """(vendor folder, device folder, display name, memory bytes) of the profiled device."""
    if device.startswith("cuda"):
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        props = torch.cuda.get_device_properties(idx)
        name = props.name
        vendor = _slug(name.split()[0]) if name.split() else "gpu"
        folder = _slug(name[len(name.split()[0]) :]) if len(name.split()) > 1 else _slug(name)
        return vendor, folder, name, int(props.total_memory)
    threads = torch.get_num_threads()
    name = f"{cpu_model()}, {threads} torch thread{'s' if threads != 1 else ''}"
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return "cpu", f"{_slug(cpu_model())}-{threads}t", name, mem


def build_entry(
    torch: Any,
    device: str,
    dtype: str,
    grid: str,
    models: list[str],
    meas: Measurements,
    command: str,
    *,
    today: _dt.date | None = None,
) -> ImportResult:
    """entry.yaml and table files for one profile run."""
    import llmsim

    vendor, folder, name, mem = device_identity(torch, device)
    version = str(torch.__version__).split("+", 1)[0]
    tables: dict[str, dict[str, Any]] = {}
    files: dict[str, bytes] = {}

    def add(tname: str, op: str, fields: dict[str, Any], keys: list[str], rows: list, kernel: str, source: str) -> None:
        file = f"tables/{tname}.csv"
        files[file] = table_csv(keys, rows)
        tables[tname] = {"file": file, "op": op, **fields, "keys": keys, "unit": "us", "rows": len(rows),
                         "kernel": kernel, "source": source}

    add("gemm_" + dtype, "gemm", {"dtype": dtype}, ["m", "n", "k"],
        [((m, n, k), t) for (m, n, k), t in meas.gemm.items()],
        "torch.nn.functional.linear per projection (qkv_proj and gate_up_proj as the separate q/k/v and "
        "gate/up projections transformers runs), weights cold",
        "llmsim profile: each GEMM operator of the models' graphs over the m grid")
    for (h, kv, d), pts in sorted(meas.prefill.items()):
        add(f"attention_prefill_h{h}_kv{kv}_d{d}_kv{dtype}", "attention_prefill",
            {"dtype": dtype, "kv_dtype": dtype, "num_heads": h, "num_kv_heads": kv, "head_dim": d, "window": 0},
            ["batch", "isl"], sorted(pts.items()), "torch.cat (KV append) + scaled_dot_product_attention(is_causal)",
            "llmsim profile: prefill attention over the batch x prompt-length grid")
    for (h, kv, d), pts in sorted(meas.decode.items()):
        add(f"attention_decode_h{h}_kv{kv}_d{d}_kv{dtype}", "attention_decode",
            {"dtype": dtype, "kv_dtype": dtype, "num_heads": h, "num_kv_heads": kv, "head_dim": d, "window": 0},
            ["batch", "kv_len"], sorted(pts.items()), "torch.cat (KV append) + scaled_dot_product_attention",
            "llmsim profile: decode attention over the batch x KV-length grid")

    fit = fit_elementwise(meas.elementwise)
    peak, where = best_gemm_rate(meas.gemm)
    eff = fit.bandwidth / meas.copy_bandwidth
    bandwidth = meas.copy_bandwidth if eff <= 1 else fit.bandwidth
    eff = min(eff, 1.0)
    cmd_src = f"measured by `{command}`"
    device_doc: dict[str, Any] = {
        "name": name,
        "memory_capacity": format_qty(mem, "1B"),
        "memory_bandwidth": format_qty(round(bandwidth), "1B/s"),
        "memory_efficiency": round(eff, 4),
        "launch_latency": format_qty(Fraction(max(1, round(fit.launch_us * 1000)), 10**9), "1s"),
        "peak_flops": {dtype: format_qty(round(peak), "1FLOP/s")},
        "links": {},
        "sources": {
            "name": "the OS (/proc/cpuinfo) and torch.get_num_threads()" if vendor == "cpu"
            else "torch.cuda.get_device_properties",
            "memory_capacity": "/proc/meminfo MemTotal" if vendor == "cpu" else "torch.cuda.get_device_properties",
            "memory_bandwidth": f"{cmd_src}: a {256} MiB fp32 device-to-device copy, read + write bytes"
            + ("" if eff < 1 else "; the elementwise fit exceeded it, so the fitted bandwidth is used"),
            "memory_efficiency": (
                f"{cmd_src}: elementwise bandwidth fitted to {fit.points} kernel timings "
                f"(latency = launch + bytes / bandwidth, bytes as the compiler counts them; median error "
                f"{fit.median_error:.1%}, worst {fit.worst_error:.1%}) over the copy bandwidth"
            ),
            "launch_latency": f"{cmd_src}: the intercept of the same fit",
            "peak_flops": (
                f"{cmd_src}: the fastest GEMM measured (m={where[0]}, n={where[1]}, k={where[2]}), a lower bound "
                "of the true peak"
            ),
        },
    }
    notes = [
        f"grid `{grid}`; models {', '.join(models)}; warm-up 2 runs, then the median of repeated runs",
        "attention is what a PyTorch eager decoder runs per layer: the new K/V concatenated to the cache "
        "(as transformers' DynamicCache does) and torch scaled_dot_product_attention (GQA via enable_gqa)",
        "GEMM operators are timed as the engine runs them: the compiler's fused qkv_proj and gate_up_proj "
        "as transformers' separate q/k/v and gate/up projections (a row of gemm is that operator's latency), "
        f"with the weights cycled through copies larger than twice the {meas.cache_bytes // 2**20} MiB "
        "last-level cache so they come from memory, as in a forward pass",
        "elementwise kernels (RMSNorm in fp32 with its residual add, rotary by rotate-half, SiLU-and-mul, "
        "embedding, greedy sampling) are not tables: their timings are fitted to the compiler's bandwidth "
        "model and enter as memory_efficiency and launch_latency",
        *meas.skipped,
    ]
    threads = torch.get_num_threads()
    measured_with = {
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "device": name,
        "cpu": cpu_model(),
        "threads": str(threads),
        "os": f"{platform.system()} {platform.release()}",
    }
    if device.startswith("cuda"):
        measured_with["cuda"] = str(torch.version.cuda)
    when = today or _dt.datetime.now(_dt.UTC).date()
    doc = {
        "schema_version": SCHEMA_VERSION,
        "entry": f"{vendor}/{folder}",
        "engine": {"name": "torch", "version": version},
        "kind": "profiled",
        "device": device_doc,
        "provenance": {
            "source": {"package": "llmsim", "version": getattr(llmsim, "__version__", "0"), "path": "llmsim profile"},
            "measured_by": "a contributor, with llmsim profile on the machine described in measured_with",
            "measured_with": measured_with,
            "date": when.isoformat(),
            "licence": {"spdx": "Apache-2.0", "file": f"../../../LICENSES/{LICENCE}"},
            "converted_by": command,
            "notes": notes,
        },
        "tables": dict(sorted(tables.items())),
    }
    header = (
        f"{vendor}/{folder} on torch {version}: measured by `llmsim profile`.\n"
        "Generated file: re-run the profiler (see provenance.converted_by) rather than editing by hand."
    )
    out = {"entry.yaml": dump_entry(doc, header).encode("utf-8"), **files}
    return ImportResult(f"{vendor}/{folder}", f"torch@{version}", out, {f"LICENSES/{LICENCE}": LICENCE_TEXT.encode()})
