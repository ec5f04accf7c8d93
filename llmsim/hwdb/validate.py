"""`llmsim hwdb validate`: every check an entry must pass, all problems reported at once.

Beyond what `load_entry` checks (schema, units, identity, files present), this reads every table
and checks its header, values and two physical sanity rules:

- Monotonic within noise: along a line of a table (m of a GEMM, the length of attention, the message
  size of a collective, tokens of a MoE block or of a layer-wise op, each context axis of layer-wise
  attention), a latency may not fall more than a tolerance below the smallest latency measured in the
  preceding factor of four of that key, [x/4, x) (or below the previous point when that span is
  empty). Taking the minimum over a span lets an isolated upward spike (a slow measurement) pass
  without letting a falling trend through. Defaults are in `MONOTONE_TOLERANCE`; an entry whose source
  is noisier records its own, just above the measured worst case, in `validation.monotone_tolerance`
  (the importers compute it and say where the worst case is in the notes; docs/hardware.md).
- Roofline: no GEMM may run faster than the device's peak dense compute for its dtype (+5 %).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmsim.hwdb.entry import check_entry_files, check_identity, check_unique, read_document
from llmsim.hwdb.errors import HwdbError
from llmsim.hwdb.layerwise import LAYERWISE_COLUMNS, read_layerwise
from llmsim.hwdb.locate import ENTRY_FILE, EntryRef
from llmsim.hwdb.schema import COLLECTIVE_OPS, LATENCY_COLUMN, MONOTONE_CHECKS, OP_KEYS, check_document, quantity_value
from llmsim.hwdb.tables import read_table

# fraction a latency may fall below the reference as its growing key grows (see module docstring)
MONOTONE_TOLERANCE: dict[str, float] = {
    "gemm": 0.35,
    "attention_prefill": 0.20,
    "attention_decode": 0.20,
    **{op: 0.15 for op in COLLECTIVE_OPS},
    "moe": 0.35,
    "moe_a2a": 0.35,
    "layer_dense": 0.35,
    "layer_per_sequence": 0.15,
    "layer_moe": 0.20,
    "layer_attention_prefill_chunk": 0.20,
    "layer_attention_kv_prefill": 0.20,
    "layer_attention_n_decode": 0.20,
    "layer_attention_kv_decode": 0.20,
}
assert set(MONOTONE_TOLERANCE) == set(MONOTONE_CHECKS)
MONOTONE_SPAN = 4  # compare with the minimum over [x / MONOTONE_SPAN, x)
ROOFLINE_MARGIN = 1.05
MAX_ERRORS_PER_TABLE = 5


@dataclass
class Report:
    ref: EntryRef
    errors: list[HwdbError]
    tables: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _reference(x: np.ndarray, v: np.ndarray, i: int) -> int:
    lo = int(np.searchsorted(x[:i], x[i] / MONOTONE_SPAN, side="left"))
    lo = min(lo, i - 1)
    return lo + int(np.argmin(v[lo:i]))


def monotone_violation(x: np.ndarray, v: np.ndarray, tol: float) -> tuple[int, int] | None:
    """First (i, j) where v[i] < (1 - tol) * v[j], v[j] the minimum over earlier points with
    x[j] >= x[i] / MONOTONE_SPAN (or the previous point when there are none); x sorted ascending."""
    for i in range(1, len(x)):
        j = _reference(x, v, i)
        if v[i] < (1 - tol) * v[j]:
            return i, j
    return None


def line_drop(x: np.ndarray, v: np.ndarray) -> tuple[float, int, int]:
    """The largest fall 1 - v[i] / v[j] under the same rule, with its (i, j); (0, 0, 0) if none."""
    best = (0.0, 0, 0)
    for i in range(1, len(x)):
        j = _reference(x, v, i)
        d = 1.0 - v[i] / v[j]
        if d > best[0]:
            best = (float(d), i, j)
    return best


# A line of a table: (check name, growing key name, x, latencies, description of the fixed keys,
# row index of every point).
Line = tuple[str, str, np.ndarray, np.ndarray, str, np.ndarray]


def table_lines(op: str, data: np.ndarray) -> Iterator[Line]:
    """The lines of an op table along its growing key (m for GEMM, the last key otherwise)."""
    keys = OP_KEYS[op]
    grow = 0 if op == "gemm" else len(keys) - 1
    others = [c for c in range(len(keys)) if c != grow]
    _, groups = np.unique(data[:, others], axis=0, return_inverse=True)
    groups = groups.reshape(-1)
    order = np.lexsort((data[:, grow], groups))
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) < 2:
            continue
        fixed = ", ".join(f"{keys[c]}={int(data[idx[0], c])}" for c in others)
        yield op, keys[grow], data[idx, grow], data[idx, -1], fixed, idx


def layerwise_lines(kind: str, rows: list[tuple]) -> Iterator[Line]:
    """The lines of a layer-wise table: per op along its size; attention along each of its four
    axes with the other three fixed (points where the axis is 0, i.e. absent, are left out); MoE along
    tokens at a fixed number of activated experts."""
    if kind in ("dense", "per_sequence", "moe"):
        label_col, size_col = (0, 1) if kind != "moe" else (1, 0)
        groups: dict[Any, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            groups[r[label_col]].append(i)
        size_name = LAYERWISE_COLUMNS[kind][size_col][0]
        label_name = LAYERWISE_COLUMNS[kind][label_col][0]
        for label, idx in groups.items():
            idx = sorted(idx, key=lambda i: rows[i][size_col])
            x = np.array([rows[i][size_col] for i in idx], float)
            v = np.array([rows[i][-1] for i in idx], float)
            yield f"layer_{kind}", size_name, x, v, f"{label_name}={label}", np.array(idx)
        return
    if kind == "attention":
        names = [c for c, _ in LAYERWISE_COLUMNS["attention"]][:4]
        for axis, name in enumerate(names):
            groups = defaultdict(list)
            for i, r in enumerate(rows):
                if r[axis] > 0:
                    groups[r[:axis] + r[axis + 1 : 4]].append(i)
            for key, idx in groups.items():
                if len(idx) < 2:
                    continue
                idx = sorted(idx, key=lambda i: rows[i][axis])
                x = np.array([rows[i][axis] for i in idx], float)
                v = np.array([rows[i][4] for i in idx], float)
                others = [n for n in names if n != name]
                fixed = ", ".join(f"{n}={k}" for n, k in zip(others, key))
                yield f"layer_attention_{name}", name, x, v, fixed, np.array(idx)


def worst_drops(lines: Iterator[Line], label: str = "") -> dict[str, tuple[float, str]]:
    """Per check, the largest fall over all lines and where it is (for tolerances and notes)."""
    out: dict[str, tuple[float, str]] = {}
    for check, key, x, v, fixed, _ in lines:
        d, i, j = line_drop(x, v)
        if d > out.get(check, (0.0, ""))[0]:
            where = f"{label}{key} {int(x[j])} -> {int(x[i])}, {v[j]:g} -> {v[i]:g} us ({fixed})"
            out[check] = (d, where)
    return out


def tolerances_for(worst: dict[str, tuple[float, str]]) -> tuple[dict[str, float], list[str]]:
    """Per-entry tolerances where the measured worst fall exceeds the default (the next whole percent
    above it, plus one), and one note per such check saying where the worst case is."""
    out: dict[str, float] = {}
    notes: list[str] = []
    for check, (drop, where) in sorted(worst.items()):
        default = MONOTONE_TOLERANCE[check]
        if drop > default:
            tol = min(0.99, (int(drop * 100) + 2) / 100)
            out[check] = tol
            notes.append(
                f"validation: {check} falls by up to {drop:.1%} as its key grows ({where}); this entry's "
                f"monotonic tolerance for {check} is {tol:.0%} (default {default:.0%}); measurements kept as published"
            )
    return out, notes


def _check_lines(lines: Iterator[Line], tolerances: dict[str, float], path: Path, line_of) -> list[HwdbError]:
    errors: list[HwdbError] = []
    for check, key, x, v, fixed, idx in lines:
        tol = tolerances.get(check, MONOTONE_TOLERANCE[check])
        hit = monotone_violation(x, v, tol)
        if hit is None:
            continue
        i, j = hit
        errors.append(
            HwdbError(
                path,
                LATENCY_COLUMN,
                f"latency falls from {v[j]:g} us at {key}={int(x[j])} to {v[i]:g} us at {key}={int(x[i])} "
                f"({fixed}), more than the {tol:.0%} noise tolerance of {check}",
                f"latency should not drop as {key} grows; check the measurement or the key columns",
                **line_of(int(idx[i])),
            )
        )
        if len(errors) >= MAX_ERRORS_PER_TABLE:
            break
    return errors


def check_table(
    csv_path: Path,
    meta: dict,
    data: np.ndarray,
    peak_flops: dict[str, float],
    tolerances: dict[str, float] | None = None,
) -> list[HwdbError]:
    """Sanity rules on one op table's rows (already read and checked by `read_table`)."""
    op = meta["op"]
    errors = _check_lines(table_lines(op, data), tolerances or {}, csv_path, lambda r: _latency_cell(csv_path, r))
    if op == "gemm":
        peak = peak_flops.get(meta["dtype"])
        if peak:
            flops = 2.0 * data[:, 0] * data[:, 1] * data[:, 2]
            rate = flops / (data[:, 3] * 1e-6)
            over = rate > peak * ROOFLINE_MARGIN
            if over.any():
                i = int(np.argmax(rate))
                errors.append(
                    HwdbError(
                        csv_path,
                        LATENCY_COLUMN,
                        f"m={int(data[i, 0])}, n={int(data[i, 1])}, k={int(data[i, 2])} in {data[i, 3]:g} us "
                        f"is {rate[i] / 1e12:.0f} TFLOP/s, above the device's {meta['dtype']} peak "
                        f"of {peak / 1e12:.0f} TFLOP/s",
                        "latencies are microseconds per call; check the unit conversion",
                        **_latency_cell(csv_path, i),
                    )
                )
    return errors


def _latency_cell(csv_path: Path, row: int) -> dict[str, int]:
    """line/col/width of the latency (last) cell of data row `row` (0-based), for the error's span."""
    line_no = row + 2
    try:
        with csv_path.open(encoding="utf-8") as f:
            for n, text in enumerate(f, start=1):
                if n == line_no:
                    cells = text.rstrip("\r\n").split(",")
                    col = len(text.rstrip("\r\n")) - len(cells[-1]) + 1
                    return {"line": line_no, "col": col, "width": max(1, len(cells[-1]))}
    except OSError:
        pass
    return {"line": line_no, "col": 1, "width": 1}


def _rows_error(entry_file: Path, field: tuple, file: str, exc: HwdbError) -> HwdbError:
    """A row-count mismatch is reported on the `rows` field of entry.yaml, other errors as they are."""
    if exc.field == "rows" and exc.line is None:
        return HwdbError(entry_file, field, exc.problem.replace("has", f"{file} has", 1), exc.help)
    return exc


def validate_entry(ref: EntryRef) -> Report:
    """Run every check on one entry; never raises HwdbError, returns them all."""
    entry_file = ref.path / ENTRY_FILE
    report = Report(ref, [])
    try:
        doc = read_document(entry_file)
    except HwdbError as exc:
        report.errors.append(exc)
        return report
    problems = check_document(doc)
    if problems:
        report.errors.extend(HwdbError(entry_file, p.path, p.message, p.help) for p in problems)
        return report
    report.errors.extend(check_identity(ref, doc, entry_file))
    report.errors.extend(check_entry_files(ref.path, doc, entry_file))
    report.errors.extend(check_unique(doc, entry_file))
    tolerances = doc.get("validation", {}).get("monotone_tolerance", {})
    peak = {dt: float(quantity_value(v)) for dt, v in doc["device"]["peak_flops"].items()}
    for name, meta in doc["tables"].items():
        path = ref.path / meta["file"]
        if not path.is_file():
            continue
        expected_name = f"tables/{name}.csv"
        if meta["file"] != expected_name:
            report.errors.append(
                HwdbError(
                    entry_file,
                    ("tables", name, "file"),
                    f"is `{meta['file']}`, expected `{expected_name}`",
                    "a table named <name> lives in tables/<name>.csv",
                )
            )
        try:
            data = read_table(path, OP_KEYS[meta["op"]], meta["rows"])
        except HwdbError as exc:
            report.errors.append(_rows_error(entry_file, ("tables", name, "rows"), meta["file"], exc))
            continue
        report.tables += 1
        report.rows += int(data.shape[0])
        report.errors.extend(check_table(path, meta, data, peak, tolerances))
    for i, item in enumerate(doc.get("layerwise", [])):
        for kind, meta in item["tables"].items():
            path = ref.path / meta["file"]
            if not path.is_file():
                continue
            try:
                rows = read_layerwise(path, kind, meta["rows"])
            except HwdbError as exc:
                field = ("layerwise", i, "tables", kind, "rows")
                report.errors.append(_rows_error(entry_file, field, meta["file"], exc))
                continue
            report.tables += 1
            report.rows += len(rows)
            report.errors.extend(
                _check_lines(
                    layerwise_lines(kind, rows), tolerances, path, lambda r, p=path: _latency_cell(p, r)
                )
            )
    return report
