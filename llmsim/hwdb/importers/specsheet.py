"""Spec-sheet-only entries from the shared data's `hw/specs.csv`: no latency tables, roofline only.

Each row of specs.csv (dense BF16/FP8/FP4 TFLOP/s, HBM capacity and bandwidth, scale-up link
bandwidth and its convention, TDP, the row's source) becomes `<vendor>/<device>/roofline@1/` of kind
`spec-sheet`. The compiler prices every operator on such an entry with its roofline and alpha-beta
fallbacks, and flags each one, so every result that uses it says so.

Conversions: capacity `GB` and bandwidth `GB/s` as written; a scale-up bandwidth given as a
bidirectional total is halved to the per-direction figure entry.yaml holds; a link whose direction
convention the row does not state is left out. specs.csv gives no link latency: the link is recorded
without one (the alpha-beta fallback then has no latency term). A TDP written as alternatives
("900 (air) / 1200 (liquid)") keeps the first and says so in the notes.
"""

from __future__ import annotations

import csv
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from llmsim.diagnostics import UserError
from llmsim.hwdb.importers import ImportResult, source_label
from llmsim.hwdb.schema import SCHEMA_VERSION
from llmsim.hwdb.writer import dump_entry, format_qty

NAME = "specsheet"
ENGINE = ("roofline", "1")
NOTICE = "specs-csv-NOTICE.txt"
NOTICE_TEXT = """Spec-sheet figures in hardware_db/*/*/roofline@1/ entries

The figures (peak FLOP/s, memory capacity and bandwidth, scale-up link bandwidth, TDP) are facts
published by the vendors. They were collected in the llmsim shared data file hw/specs.csv, where
every row names its source (vendor data sheets, vendor documentation, vendor-submitted MLPerf system
descriptions, or a secondary source where the row says so). No licence is asserted over them;
each entry's device.sources and provenance repeat the row's source.
"""

# specs.csv accelerator -> (vendor, device folder, scale-up link name)
DEVICES: dict[str, tuple[str, str, str]] = {
    "NVIDIA A100-80GB SXM": ("nvidia", "a100-sxm", "nvlink"),
    "NVIDIA H100 SXM 80GB": ("nvidia", "h100-sxm", "nvlink"),
    "NVIDIA H200 SXM 141GB": ("nvidia", "h200-sxm", "nvlink"),
    "NVIDIA B200 SXM (HGX/DGX)": ("nvidia", "b200-sxm", "nvlink"),
    "AMD Instinct MI300X": ("amd", "mi300x", "xgmi"),
    "Google TPU v5e": ("google", "tpu-v5e", "ici"),
    "Google TPU v5p": ("google", "tpu-v5p", "ici"),
    "Google TPU v6e (Trillium)": ("google", "tpu-v6e", "ici"),
    "Intel Gaudi 3 (OAM)": ("intel", "gaudi-3", "roce"),
}


def _number(text: str) -> Fraction | None:
    m = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)\s*$", text or "")
    return Fraction(m.group(1)) if m else None


def _first_number(text: str) -> Fraction | None:
    m = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", text or "")
    return Fraction(m.group(1)) if m else None


def build(specs_csv: Path, *, only: list[str] | None = None) -> list[ImportResult]:
    """One entry per row of specs.csv (or per row named in `only`, by accelerator or device)."""
    specs_csv = Path(specs_csv)
    if not specs_csv.is_file():
        raise UserError(f"no spec-sheet CSV at {specs_csv}", help="pass .../hw/specs.csv")
    with specs_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    results = []
    for row in rows:
        name = row["accelerator"]
        if name not in DEVICES:
            raise UserError(
                f"{specs_csv}: no device folder known for `{name}`",
                help=f"add it to DEVICES in {__file__}",
            )
        vendor, device, link = DEVICES[name]
        if only and name not in only and device not in only and f"{vendor}/{device}" not in only:
            continue
        results.append(_entry(row, vendor, device, link, specs_csv))
    return results


def _entry(row: dict[str, str], vendor: str, device_name: str, link: str, specs_csv: Path) -> ImportResult:
    notes: list[str] = [
        "a spec-sheet entry: no latency tables; the compiler prices every operator with its roofline "
        "(GEMM, attention), bandwidth (elementwise) and alpha-beta (collectives) models and flags each one",
    ]
    src = f"specs.csv row `{row['accelerator']}` (source: {row['source']}; {row['source_type']})"
    peak: dict[str, str] = {}
    for col, dt in (("bf16_dense_tflops", "bf16"), ("fp8_dense_tflops", "fp8"), ("fp4_dense_tflops", "fp4")):
        v = _number(row[col])
        if v is not None:
            peak[dt] = format_qty(v * 10**12, "1FLOP/s")
        elif row[col].strip():
            notes.append(f"{col} `{row[col]}`: not a dense figure, left out")
    device: dict[str, Any] = {
        "name": row["accelerator"],
        "memory_capacity": format_qty(_number(row["hbm_capacity_gb"]) * 10**9, "1B"),  # type: ignore[operator]
        "memory_bandwidth": format_qty(_number(row["hbm_bandwidth_gbps"]) * 10**9, "1B/s"),  # type: ignore[operator]
        "peak_flops": peak,
    }
    sources = {
        "name": "specs.csv accelerator column",
        "memory_capacity": f"{src}, hbm_capacity_gb",
        "memory_bandwidth": f"{src}, hbm_bandwidth_gbps (GB/s)",
        "peak_flops": f"{src}, bf16/fp8/fp4_dense_tflops",
    }
    tdp = _number(row["tdp_w"])
    if tdp is None and _first_number(row["tdp_w"]) is not None:
        tdp = _first_number(row["tdp_w"])
        notes.append(f"tdp_w `{row['tdp_w']}`: the first figure is kept")
    if tdp is not None:
        device["tdp"] = format_qty(tdp, "1W")
        sources["tdp"] = f"{src}, tdp_w"
    links: dict[str, Any] = {}
    bw = _number(row["scaleup_bw_gbps_per_chip"])
    convention = row["scaleup_bw_convention"].lower()
    if bw is not None and "bidirectional" in convention:
        links[link] = {"bandwidth": format_qty(bw * 10**9 / 2, "1B/s")}
        sources["links"] = (
            f"{src}, scaleup_bw_gbps_per_chip {row['scaleup_bw_gbps_per_chip']} GB/s "
            f"({row['scaleup_bw_convention']}) halved to per direction; {row['scaleup_interconnect']}; "
            "no latency given"
        )
    elif bw is not None:
        notes.append(
            f"scale-up link ({row['scaleup_interconnect']}, {row['scaleup_bw_gbps_per_chip']} GB/s) left out: "
            f"the row does not say whether that is per direction ({row['scaleup_bw_convention']})"
        )
    device["links"] = links
    device["sources"] = sources
    if row.get("notes"):
        notes.append(f"specs.csv notes: {row['notes']}")
    notes.append("not in specs.csv, so not here: memory_efficiency, launch_latency, gpus_per_node, idle power")
    eng, ver = ENGINE
    entry = f"{vendor}/{device_name}"
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "entry": entry,
        "engine": {"name": eng, "version": ver},
        "kind": "spec-sheet",
        "device": device,
        "provenance": {
            "source": {"package": "llmsim shared data", "version": "hw/specs.csv", "path": source_label(specs_csv)},
            "measured_by": "nobody: vendor spec-sheet figures, each with its source",
            "measured_with": {"source": row["source"], "source_type": row["source_type"]},
            "licence": {"spdx": "NOASSERTION", "file": f"../../../LICENSES/{NOTICE}"},
            "converted_by": f"llmsim hwdb import specsheet {source_label(specs_csv)}",
            "notes": notes,
        },
        "tables": {},
    }
    header = (
        f"{entry}: spec sheet only (roofline), converted by `llmsim hwdb import specsheet`.\n"
        "Generated file: re-run the importer (see provenance.converted_by) rather than editing by hand."
    )
    files = {"entry.yaml": dump_entry(doc, header).encode("utf-8")}
    return ImportResult(entry, f"{eng}@{ver}", files, {f"LICENSES/{NOTICE}": NOTICE_TEXT.encode("utf-8")})
