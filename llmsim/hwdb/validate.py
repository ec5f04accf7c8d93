"""`llmsim hwdb validate`: every check an entry must pass, all problems reported at once.

Beyond what `load_entry` checks (schema, units, identity, files present), this reads every table
and checks its header, values and two physical sanity rules:

- Monotonic within noise: as m (GEMM), length (attention) or message size (all-reduce) grows, a
  latency may not fall more than a tolerance below the smallest latency measured in the preceding
  factor of four of that key, [x/4, x) (or below the previous point when that span is empty). Taking
  the minimum over a span lets an isolated upward spike (a slow measurement) pass without letting a
  falling trend through. The real H100 vLLM 0.24 data needs 32 % for GEMM (fp8 kernel selection at
  small k), 12 % for attention and 2 % for all-reduce (see docs/hardware.md); the tolerances below
  leave room over that.
- Roofline: no GEMM may run faster than the device's peak dense compute for its dtype (+5 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmsim.hwdb.entry import check_entry_files, check_identity, lookup_key, read_document
from llmsim.hwdb.errors import HwdbError
from llmsim.hwdb.locate import ENTRY_FILE, EntryRef
from llmsim.hwdb.schema import LATENCY_COLUMN, OP_KEYS, check_document, quantity_value
from llmsim.hwdb.tables import read_table

# fraction a latency may fall below the reference as its growing key grows (see module docstring)
MONOTONE_TOLERANCE = {"gemm": 0.35, "attention_prefill": 0.20, "attention_decode": 0.20, "allreduce": 0.15}
MONOTONE_SPAN = 4  # compare with the minimum over [x / MONOTONE_SPAN, x)
ROOFLINE_MARGIN = 1.05


@dataclass
class Report:
    ref: EntryRef
    errors: list[HwdbError]
    tables: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def monotone_violation(x: np.ndarray, v: np.ndarray, tol: float) -> tuple[int, int] | None:
    """First (i, j) where v[i] < (1 - tol) * v[j], v[j] the minimum over earlier points with
    x[j] >= x[i] / MONOTONE_SPAN (or the previous point when there are none); x sorted ascending."""
    for i in range(1, len(x)):
        lo = int(np.searchsorted(x[:i], x[i] / MONOTONE_SPAN, side="left"))
        lo = min(lo, i - 1)
        j = lo + int(np.argmin(v[lo:i]))
        if v[i] < (1 - tol) * v[j]:
            return i, j
    return None


def check_table(
    csv_path: Path, meta: dict, data: np.ndarray, peak_flops: dict[str, float]
) -> list[HwdbError]:
    """Sanity rules on one table's rows (already read and checked by `read_table`)."""
    op = meta["op"]
    keys = OP_KEYS[op]
    tol = MONOTONE_TOLERANCE[op]
    errors: list[HwdbError] = []
    grow = len(keys) - 1 if op != "gemm" else 0  # the key that grows along a line
    others = [c for c in range(len(keys)) if c != grow]
    line_key = data[:, others]
    _, groups = np.unique(line_key, axis=0, return_inverse=True)
    groups = groups.reshape(-1)
    for g in range(int(groups.max()) + 1):
        idx = np.flatnonzero(groups == g)
        idx = idx[np.argsort(data[idx, grow], kind="stable")]
        hit = monotone_violation(data[idx, grow], data[idx, -1], tol)
        if hit is None:
            continue
        i, j = idx[hit[0]], idx[hit[1]]
        fixed = ", ".join(f"{keys[c]}={int(data[i, c])}" for c in others)
        errors.append(
            HwdbError(
                csv_path,
                LATENCY_COLUMN,
                f"latency falls from {data[j, -1]:g} us at {keys[grow]}={int(data[j, grow])} "
                f"to {data[i, -1]:g} us at "
                f"{keys[grow]}={int(data[i, grow])} ({fixed}), more than the {tol:.0%} noise tolerance",
                f"latency should not drop as {keys[grow]} grows; check the measurement or the key columns",
                **_latency_cell(csv_path, int(i)),
            )
        )
        if len(errors) >= 5:
            break
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
    """line/col/width of the latency cell of data row `row` (0-based), for the error's span."""
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
    missing = check_entry_files(ref.path, doc, entry_file)
    report.errors.extend(missing)
    seen: dict[tuple, str] = {}
    for name, meta in doc["tables"].items():
        k = lookup_key(meta)
        if k in seen:
            report.errors.append(
                HwdbError(
                    entry_file,
                    ("tables", name),
                    f"describes the same table as `{seen[k]}`",
                    "an entry holds one table per op, dtype and layout",
                )
            )
        seen[k] = name
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
            if exc.field == "rows" and exc.line is None:
                report.errors.append(
                    HwdbError(
                        entry_file,
                        ("tables", name, "rows"),
                        exc.problem.replace("has", f"{meta['file']} has", 1),
                        exc.help,
                    )
                )
            else:
                report.errors.append(exc)
            continue
        report.tables += 1
        report.rows += int(data.shape[0])
        report.errors.extend(check_table(path, meta, data, peak))
    return report
