"""`llmsim hwdb accuracy`: how far llmsim's interpolation is from measurements it did not see.

Leave-one-out, one grid value at a time: a measured value of one key (an m of a GEMM, a prompt or KV
length or batch of attention, a message size, a token count) is removed with every row that has it,
the table is rebuilt from the rest, and the removed rows are predicted. Only interior values are held
out (an edge value would test extrapolation, not interpolation). The error of a row is
|predicted / measured - 1|; each table reports the median and the 90th percentile. Removing a value
doubles the gap around it, so these figures overstate the error at the real grid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from llmsim.hwdb.entry import HardwareEntry
from llmsim.hwdb.tables import AttentionTable, CommTable, GemmTable, SizeCurve
from llmsim.hwdb.treegrid import TreeGrid

MAX_HOLDOUTS = 24  # grid values held out per key of a table (evenly spread when there are more)
LAYERWISE_ATTENTION_POINTS = 60  # rows held out, one at a time, per layer-wise attention table


@dataclass(frozen=True)
class Accuracy:
    table: str
    family: str
    points: int
    median: float
    p90: float

    def to_json(self) -> dict[str, object]:
        return {"table": self.table, "family": self.family, "points": self.points,
                "median": round(self.median, 5), "p90": round(self.p90, 5)}


def _spread(values: np.ndarray, n: int = MAX_HOLDOUTS) -> np.ndarray:
    interior = np.unique(values)[1:-1]
    if len(interior) <= n:
        return interior
    return interior[np.linspace(0, len(interior) - 1, n).round().astype(int)]


def _rel(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(pred, float) / np.asarray(meas, float) - 1)


def _gemm(name: str, dtype: str, data: np.ndarray) -> np.ndarray:
    errs = []
    for col in (0, 1, 2):  # m, n, k
        for v in _spread(data[:, col]):
            keep = data[:, col] != v
            if keep.all():
                continue
            t = GemmTable(name, dtype, data[keep])
            held = data[~keep]
            pred = [t.latency_us(m, int(n), int(k)) for m, n, k in held[:, :3]]
            errs.append(_rel(pred, held[:, 3]))
    return np.concatenate(errs) if errs else np.zeros(0)


def _attention(name: str, op: str, data: np.ndarray) -> np.ndarray:
    errs = []
    for col in (0, 1):  # batch, length
        for v in _spread(data[:, col]):
            keep = data[:, col] != v
            t = AttentionTable(name, op, data[keep])
            held = data[~keep]
            errs.append(_rel(t.latency_us(held[:, 0], held[:, 1]), held[:, 2]))
    return np.concatenate(errs) if errs else np.zeros(0)


def _lines(keys: np.ndarray, x: np.ndarray, y: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    _, groups = np.unique(keys, axis=0, return_inverse=True)
    groups = groups.reshape(-1)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        order = idx[np.argsort(x[idx])]
        yield x[order], y[order]


def _size_lines(lines: Iterator[tuple[np.ndarray, np.ndarray]], curve: type = SizeCurve) -> np.ndarray:
    """1-D leave-one-out along each line (log-log for CommTable, linear for SizeCurve)."""
    errs = []
    for x, y in lines:
        for i in range(1, len(x) - 1):
            keep = np.arange(len(x)) != i
            if curve is CommTable:
                t = CommTable("loo", 0, x[keep], y[keep])
            else:
                t = SizeCurve("loo", x[keep], y[keep])
            errs.append(abs(t.latency_us(x[i]) / y[i] - 1))
    return np.array(errs)


def _layerwise_attention(rows: list[tuple], seed: int = 0) -> np.ndarray:
    keys = [r[:4] for r in rows]
    vals = [r[4] for r in rows]
    axes = [sorted({k[a] for k in keys}) for a in range(4)]
    interior = [i for i, k in enumerate(keys) if all(ax[0] < k[a] < ax[-1] for a, ax in enumerate(axes))]
    rng = np.random.default_rng(seed)
    pick = rng.choice(interior, size=min(LAYERWISE_ATTENTION_POINTS, len(interior)), replace=False)
    from llmsim.hwdb.layerwise import _prefill_work

    errs = []
    for i in pick:
        rest = [j for j in range(len(keys)) if j != i]
        g = TreeGrid([keys[j] for j in rest], [vals[j] for j in rest], coords=[_prefill_work, None, None, None])
        errs.append(abs(g(*keys[i]) / vals[i] - 1))
    return np.array(errs)


def _row(table: str, family: str, errs: np.ndarray) -> Accuracy | None:
    if len(errs) == 0:
        return None
    return Accuracy(table, family, len(errs), float(np.median(errs)), float(np.percentile(errs, 90)))


def entry_accuracy(entry: HardwareEntry, *, layerwise_attention: bool = True) -> list[Accuracy]:
    """Leave-one-out accuracy of every table of an entry (tables with no interior point are left out)."""
    out: list[Accuracy | None] = []
    for name in entry.table_names():
        meta = entry.tables_meta[name]
        op = meta["op"]
        data = entry.raw_table(name)
        if op == "gemm":
            out.append(_row(name, op, _gemm(name, meta["dtype"], data)))
        elif op.startswith("attention"):
            out.append(_row(name, op, _attention(name, op, data)))
        elif op in ("moe", "moe_a2a"):
            out.append(_row(name, op, _size_lines(_lines(data[:, :-2], data[:, -2], data[:, -1]))))
        else:
            out.append(_row(name, op, _size_lines(_lines(data[:, :1], data[:, 1], data[:, 2]), CommTable)))
    for model, dtype, tp in entry.layerwise_models():
        t = entry.layerwise(model, dtype, tp)
        assert t is not None
        prefix = f"layerwise/{model}/{dtype}/tp{tp}/"
        for kind in ("dense", "per_sequence"):
            rows = t.raw(kind)
            labels = np.array([hash(r[0]) for r in rows])[:, None]
            x = np.array([r[1] for r in rows], float)
            y = np.array([r[2] for r in rows], float)
            out.append(_row(prefix + kind, f"layer_{kind}", _size_lines(_lines(labels, x, y))))
        if "moe" in t.tables():
            rows = t.raw("moe")
            d = np.array(rows, float)
            out.append(_row(prefix + "moe", "layer_moe", _size_lines(_lines(d[:, 1:2], d[:, 0], d[:, 2]))))
        if layerwise_attention:
            out.append(_row(prefix + "attention", "layer_attention", _layerwise_attention(t.raw("attention"))))
    return [r for r in out if r is not None]


def summarise(rows: list[Accuracy]) -> list[Accuracy]:
    """One line per family: median and p90 of the per-table medians and p90s (tables weigh alike)."""
    fams: dict[str, list[Accuracy]] = {}
    for r in rows:
        fams.setdefault(r.family, []).append(r)
    return [
        Accuracy(f"{len(rs)} tables", fam, sum(r.points for r in rs), float(np.median([r.median for r in rs])),
                 float(np.median([r.p90 for r in rs])))
        for fam, rs in sorted(fams.items())
    ]
