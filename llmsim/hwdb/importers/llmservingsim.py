"""Import LLMServingSim's layer-wise profiles (MIT, casys-kaist) into hardware_db entries.

Source layout (`profiler/perf` of the LLMServingSim repository; a copy is in the shared data under
`hw/llmservingsim-vllm0.19/`): `<hardware>/<org>/<model>/<dtype>/meta.yaml` and `tp<N>/` with
`dense.csv`, `per_sequence.csv`, `attention.csv` (`time_us` in microseconds), and `moe.csv`, `skew.csv`,
`skew_fit.csv` where the profiler made them. One entry per hardware folder and vLLM version:
`<vendor>/<device>/vllm@<version>/`, the device's spec sheet from `specsheets.yaml` (cited figures only).

What changes on the way: `time_us` is renamed `latency_us` and rounded to 5 significant digits; rows
are sorted by their keys (dense and per-sequence tables keep the source's operator order); the skew
tables are copied as they are. Everything else, including meta.yaml, is kept (meta.yaml in
`provenance.profiling`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

import yaml

from llmsim.diagnostics import UserError
from llmsim.hwdb.importers import ImportResult, source_label
from llmsim.hwdb.layerwise import LAYERWISE_COLUMNS
from llmsim.hwdb.schema import SCHEMA_VERSION
from llmsim.hwdb.writer import dump_entry, format_latency

NAME = "llmservingsim"
PACKAGE = "LLMServingSim"
SPECSHEETS = Path(__file__).with_name("specsheets.yaml")
LICENCE = "LLMServingSim-MIT.txt"
_LATENCY_TABLES = ("dense", "per_sequence", "attention", "moe")
_VERBATIM_TABLES = ("skew", "skew_fit")


def _is_hardware_dir(path: Path) -> bool:
    return any(path.glob("*/*/*/meta.yaml"))


def hardware_dirs(src: Path) -> list[Path]:
    """The hardware folders to import: `src` itself, or every folder in it that holds profiles."""
    src = Path(src)
    if _is_hardware_dir(src):
        return [src]
    found = sorted(p for p in src.iterdir() if p.is_dir() and _is_hardware_dir(p)) if src.is_dir() else []
    if not found:
        raise UserError(
            f"{src} holds no LLMServingSim profiles (no <hardware>/<org>/<model>/<dtype>/meta.yaml)",
            help="pass the profiler's perf folder, e.g. .../llmservingsim-vllm0.19, or one hardware folder in it",
        )
    return found


def _latency_rows(path: Path, kind: str) -> tuple[list[list[Any]], int]:
    """Rows of a timed table with `time_us` last; repeated keys collapsed to their median."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        expected = [*(c for c, _ in LAYERWISE_COLUMNS[kind][:-1]), "time_us"]
        if header != expected:
            raise UserError(f"{path}: columns are `{','.join(header)}`, expected `{','.join(expected)}`")
        groups: dict[tuple, list[float]] = defaultdict(list)
        for row in reader:
            key = tuple(row[:-1]) if kind in ("dense", "per_sequence") else tuple(int(x) for x in row[:-1])
            groups[key].append(float(row[-1]))
    dups = sum(len(v) - 1 for v in groups.values())
    rows = []
    for key, values in groups.items():
        k = [key[0], int(key[1])] if kind in ("dense", "per_sequence") else list(key)
        rows.append([*k, median(values)])
    return rows, dups


def _latency_csv(kind: str, rows: list[list[Any]]) -> bytes:
    names = [c for c, _ in LAYERWISE_COLUMNS[kind]]
    if kind in ("dense", "per_sequence"):
        order: dict[str, int] = {}
        for r in rows:
            order.setdefault(r[0], len(order))
        rows = sorted(rows, key=lambda r: (order[r[0]], r[1]))
    else:
        rows = sorted(rows, key=lambda r: tuple(r[:-1]))
    lines = [",".join(names)]
    lines += [",".join([*(str(x) for x in r[:-1]), format_latency(r[-1])]) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _verbatim_csv(path: Path, kind: str) -> tuple[bytes, int]:
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    lines = [line for line in text.split("\n") if line]
    names = [c for c, _ in LAYERWISE_COLUMNS[kind]]
    if next(csv.reader(io.StringIO(lines[0]))) != names:
        raise UserError(f"{path}: columns are `{lines[0]}`, expected `{','.join(names)}`")
    return ("\n".join(lines) + "\n").encode("utf-8"), len(lines) - 1


def _profiles(hw_dir: Path) -> list[tuple[str, str, Path, dict[str, Any]]]:
    """(model id, dtype, dtype folder, meta) for every profiled model of a hardware folder."""
    out = []
    for meta_file in sorted(hw_dir.glob("*/*/*/meta.yaml")):
        dtype_dir = meta_file.parent
        model_id = f"{dtype_dir.parent.parent.name}/{dtype_dir.parent.name}"
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
        out.append((model_id, dtype_dir.name, dtype_dir, meta))
    return out


def build(src: Path, *, specs: Path | None = None, command: str | None = None) -> list[ImportResult]:
    """One ImportResult per hardware folder (and vLLM version) under `src`."""
    sheets = yaml.safe_load((specs or SPECSHEETS).read_text(encoding="utf-8"))
    results = []
    for hw_dir in hardware_dirs(Path(os.path.abspath(src))):
        by_version: dict[str, list] = defaultdict(list)
        for prof in _profiles(hw_dir):
            by_version[str(prof[3].get("vllm_version", "unknown"))].append(prof)
        for version, profs in sorted(by_version.items()):
            results.append(_build_one(hw_dir, version, profs, sheets, command))
    return results


def _build_one(hw_dir: Path, version: str, profs: list, sheets: dict[str, Any], command: str | None) -> ImportResult:
    hw = hw_dir.name
    sheet = sheets.get(hw)
    if sheet is None:
        raise UserError(
            f"no spec sheet for hardware `{hw}`",
            help=f"add one, with a source for every figure, to {SPECSHEETS} (or pass --specs FILE)",
        )
    entry = sheet["entry"]
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*", entry):
        raise UserError(f"spec sheet `{hw}`: entry `{entry}` is not `<vendor>/<device>`")
    files: dict[str, bytes] = {}
    layerwise: list[dict[str, Any]] = []
    profiling: dict[str, Any] = {}
    notes = [
        "layer-wise tables of one decoder layer, measured by LLMServingSim's profiler inside vLLM on a "
        "one-layer copy of each model with dummy weights in eager mode (enforce_eager: no CUDA graphs); "
        "for TP > 1 the profiler runs the per-rank shard (heads and MLP divided by TP) on one GPU, so "
        "the tables hold no TP communication",
        "time_us renamed latency_us and rounded to 5 significant digits; rows sorted by key (dense and "
        "per-sequence tables keep the source's operator order); skew.csv and skew_fit.csv copied as they are",
        "provenance.profiling holds each model's meta.yaml as published; its engine_effective.hf_overrides "
        "is the shrunken model of the last TP degree the profiler ran",
    ]
    gpus: set[str] = set()
    cuda: set[str] = set()
    profilers: set[str] = set()
    dates: list[str] = []
    for model_id, dtype, dtype_dir, meta in profs:
        profiling[f"{model_id} {_dtype(dtype)}"] = meta
        gpus.add(str(meta.get("gpu", "")))
        cuda.add(str(meta.get("cuda_version", "")))
        profilers.add(str(meta.get("profiler_version", "")))
        if meta.get("profiled_at"):
            dates.append(str(meta["profiled_at"])[:10])
        for tp_dir in sorted(dtype_dir.glob("tp*"), key=lambda p: int(p.name[2:]) if p.name[2:].isdigit() else 0):
            if not re.fullmatch(r"tp[1-9][0-9]*", tp_dir.name):
                continue
            tp = int(tp_dir.name[2:])
            rel_dir = f"layerwise/{model_id}/{dtype}/{tp_dir.name}"
            tables: dict[str, Any] = {}
            for kind in (*_LATENCY_TABLES, *_VERBATIM_TABLES):
                path = tp_dir / f"{kind}.csv"
                if not path.is_file():
                    continue
                if kind in _LATENCY_TABLES:
                    rows, dups = _latency_rows(path, kind)
                    data, n = _latency_csv(kind, rows), len(rows)
                    if dups:
                        notes.append(f"{model_id} tp{tp} {kind}: {dups} repeated rows collapsed to their median")
                else:
                    data, n = _verbatim_csv(path, kind)
                file = f"{rel_dir}/{kind}.csv"
                files[file] = data
                source = f"{hw}/{model_id}/{dtype}/{tp_dir.name}/{kind}.csv"
                tables[kind] = {"file": file, "rows": n, "source": source}
            missing = [k for k in ("dense", "per_sequence", "attention") if k not in tables]
            if missing:
                raise UserError(f"{tp_dir}: no {', '.join(m + '.csv' for m in missing)}")
            layerwise.append({"model": model_id, "dtype": _dtype(dtype), "tp": tp, "tables": tables})
        kinds = {k for item in layerwise if item["model"] == model_id for k in item["tables"]}
        if "skew" not in kinds:
            notes.append(f"{model_id}: no skew tables (the profiler ran with skew_profile disabled)")
        tps = sorted(item["tp"] for item in layerwise if item["model"] == model_id)
        moe_tps = sorted(item["tp"] for item in layerwise if item["model"] == model_id and "moe" in item["tables"])
        if moe_tps and moe_tps != tps:
            notes.append(f"{model_id}: moe.csv only at tp {', '.join(map(str, moe_tps))} in the source")
    validation = _tolerances(files, layerwise, notes)
    device = dict(sheet["device"])
    device["sources"] = dict(sheet["sources"])
    notes += [f"spec sheet: {o}" for o in sheet.get("omitted", [])]
    label = source_label(hw_dir)
    lic_src = hw_dir.parent / "LICENSE-MIT"
    if not lic_src.is_file():
        raise UserError(f"no LICENSE-MIT next to {hw_dir}", help="the licence travels with the data")
    measured_with = {
        "engine": f"vllm {version}",
        "gpu": ", ".join(sorted(g for g in gpus if g)),
        "cuda": ", ".join(sorted(c for c in cuda if c)),
        "profiler": f"LLMServingSim profiler {', '.join(sorted(p for p in profilers if p))}",
        "mode": "enforce_eager (no CUDA graphs), load_format dummy (random weights), one-layer model",
    }
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "entry": entry,
        "engine": {"name": "vllm", "version": version},
        "kind": "measured",
        "device": device,
        "provenance": {
            "source": {
                "package": PACKAGE,
                "version": f"profiler {', '.join(sorted(p for p in profilers if p))}",
                "path": f"profiler/perf/{hw}",
            },
            "measured_by": "casys-kaist (KAIST CASYS lab), with the LLMServingSim profiler (published in "
            "the LLMServingSim repository)",
            "measured_with": measured_with,
            **({"date": max(dates)} if dates else {}),
            "licence": {"spdx": "MIT", "file": f"../../../LICENSES/{LICENCE}"},
            "converted_by": command or f"llmsim hwdb import llmservingsim {label}",
            "notes": notes,
            "profiling": profiling,
        },
        **({"validation": validation} if validation else {}),
        "tables": {},
        "layerwise": layerwise,
    }
    header = (
        f"{entry} on vllm {version}: LLMServingSim layer-wise profiles, converted by "
        "`llmsim hwdb import llmservingsim`.\n"
        "Generated file: re-run the importer (see provenance.converted_by) rather than editing by hand."
    )
    out = {"entry.yaml": dump_entry(doc, header).encode("utf-8"), **files}
    return ImportResult(entry, f"vllm@{version}", out, {f"LICENSES/{LICENCE}": lic_src.read_bytes()})


def _tolerances(files: dict[str, bytes], layerwise: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    """Per-entry monotonic tolerances where the data needs more than the defaults (see
    `llmsim.hwdb.validate.tolerances_for`); the measurements themselves are never altered."""
    from llmsim.hwdb.layerwise import parse_layerwise
    from llmsim.hwdb.validate import layerwise_lines, tolerances_for, worst_drops

    worst: dict[str, tuple[float, str]] = {}
    for item in layerwise:
        for kind, meta in item["tables"].items():
            if kind not in ("dense", "per_sequence", "attention", "moe"):
                continue
            rows = parse_layerwise(files[meta["file"]].decode("utf-8"), kind)
            label = f"{item['model']} tp{item['tp']} {kind}: "
            for check, (drop, where) in worst_drops(layerwise_lines(kind, rows), label).items():
                if drop > worst.get(check, (0.0, ""))[0]:
                    worst[check] = (drop, where)
    out, tol_notes = tolerances_for(worst)
    notes.extend(tol_notes)
    return {"monotone_tolerance": out} if out else {}


def _dtype(name: str) -> str:
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(name, name)
