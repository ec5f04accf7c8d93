"""`llmsim hwdb diff A B`: how two entries differ, per operator family, and what one has alone.

Tables are matched by what they describe (op, dtype, head layout, implementation, group size,
layer-wise model and TP), not by file name. For a matched pair, B is evaluated with llmsim's own
interpolation at every point A measured, and the difference is `B / A - 1` in percent: median,
smallest and largest. Positive means B is slower. Spec sheets are compared field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llmsim.hwdb.entry import HardwareEntry, lookup_key


@dataclass
class FamilyDiff:
    family: str
    what: str
    points: int
    median: float
    low: float
    high: float

    def to_json(self) -> dict[str, object]:
        return {"family": self.family, "table": self.what, "points": self.points,
                "median_pct": round(100 * self.median, 2), "min_pct": round(100 * self.low, 2),
                "max_pct": round(100 * self.high, 2)}


@dataclass
class EntryDiff:
    a: str
    b: str
    device: list[tuple[str, str, str]] = field(default_factory=list)  # (field, A, B)
    tables: list[FamilyDiff] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"a": self.a, "b": self.b,
                "device": [{"field": f, "a": x, "b": y} for f, x, y in self.device],
                "tables": [t.to_json() for t in self.tables], "only_a": self.only_a, "only_b": self.only_b}


def _describe(key: tuple) -> str:
    op = key[0]
    if op == "gemm":
        return f"gemm {key[1]}"
    if op.startswith("attention"):
        return f"{op} h{key[1]}/kv{key[2]}/d{key[3]} kv {key[4]}" + (f" window {key[5]}" if key[5] else "")
    if op == "moe":
        return f"moe {key[1]} {key[2]}"
    if op == "moe_a2a":
        return f"moe_a2a {key[2]} {key[3]} {key[1]}"
    return f"{op} {key[2]} {key[1]}" + (" eager" if key[3] == "eager" else "")


def _ratios(a: HardwareEntry, b: HardwareEntry, na: str, nb: str) -> np.ndarray:
    meta = a.tables_meta[na]
    op = meta["op"]
    data = a.raw_table(na)
    if op == "gemm":
        tb = b.table(nb)
        pred = np.array([tb.latency_us(m, int(n), int(k)) for m, n, k in data[:, :3]])  # type: ignore[union-attr]
    elif op.startswith("attention"):
        pred = b.table(nb).latency_us(data[:, 0], data[:, 1])  # type: ignore[union-attr]
    else:
        parts_b = b.table(nb)
        keycols = data.shape[1] - 2
        pred = np.full(len(data), np.nan)
        for i, row in enumerate(data):
            key = int(row[0]) if keycols == 1 else tuple(int(x) for x in row[:keycols])
            t = parts_b.get(key)  # type: ignore[union-attr]
            if t is not None:
                pred[i] = t.latency_us(row[-2])
    ratio = pred / data[:, -1] - 1
    return ratio[np.isfinite(ratio)]


def _layerwise_ratios(ta, tb, kind: str) -> np.ndarray:
    rows = ta.raw(kind)
    if kind == "dense":
        have = set(tb.ops_per_token())
        r = [tb.token_latency_us(op, n) / lat - 1 for op, n, lat in rows if op in have]
    elif kind == "per_sequence":
        have = set(tb.ops_per_sequence())
        r = [tb.sequence_latency_us(op, n) / lat - 1 for op, n, lat in rows if op in have]
    elif kind == "attention":
        r = [tb.attention_us(*row[:4]) / row[4] - 1 for row in rows]
    else:  # moe
        r = [tb.moe_us(t, e) / lat - 1 for t, e, lat in rows]
    return np.array(r, float)


DEVICE_FIELDS = ("name", "memory_capacity", "memory_bandwidth", "memory_efficiency", "launch_latency", "tdp",
                 "idle_power", "gpus_per_node")


def diff_entries(a: HardwareEntry, b: HardwareEntry) -> EntryDiff:
    out = EntryDiff(f"{a.entry}@{a.engine}", f"{b.entry}@{b.engine}")
    da, db = a.doc["device"], b.doc["device"]
    for f in DEVICE_FIELDS:
        if da.get(f) != db.get(f):
            out.device.append((f, str(da.get(f, "-")), str(db.get(f, "-"))))
    for dt in sorted(set(da["peak_flops"]) | set(db["peak_flops"])):
        x, y = da["peak_flops"].get(dt, "-"), db["peak_flops"].get(dt, "-")
        if x != y:
            out.device.append((f"peak_flops.{dt}", x, y))
    for name in sorted(set(da["links"]) | set(db["links"])):
        x, y = da["links"].get(name), db["links"].get(name)
        if x != y:
            out.device.append((f"links.{name}", str(x or "-"), str(y or "-")))
    keys_a = {lookup_key(m): n for n, m in a.tables_meta.items()}
    keys_b = {lookup_key(m): n for n, m in b.tables_meta.items()}
    for key in sorted(set(keys_a) & set(keys_b), key=str):
        r = _ratios(a, b, keys_a[key], keys_b[key])
        if len(r):
            out.tables.append(FamilyDiff(key[0], _describe(key), len(r), float(np.median(r)), float(r.min()),
                                         float(r.max())))
    out.only_a = [_describe(k) for k in sorted(set(keys_a) - set(keys_b), key=str)]
    out.only_b = [_describe(k) for k in sorted(set(keys_b) - set(keys_a), key=str)]
    la, lb = set(a.layerwise_models()), set(b.layerwise_models())
    for m in sorted(la & lb):
        ta, tb = a.layerwise(*m), b.layerwise(*m)
        for kind in ("dense", "per_sequence", "attention", "moe"):
            label = f"layerwise {m[0]} {m[1]} tp{m[2]} {kind}"
            if kind in ta.tables() and kind in tb.tables():
                r = _layerwise_ratios(ta, tb, kind)
                out.tables.append(FamilyDiff(f"layer_{kind}", label, len(r), float(np.median(r)), float(r.min()),
                                             float(r.max())))
            elif kind in ta.tables():
                out.only_a.append(label)
            elif kind in tb.tables():
                out.only_b.append(label)
    out.only_a += [f"layerwise {m[0]} {m[1]} tp{m[2]}" for m in sorted(la - lb)]
    out.only_b += [f"layerwise {m[0]} {m[1]} tp{m[2]}" for m in sorted(lb - la)]
    return out


def summary_by_family(d: EntryDiff) -> list[FamilyDiff]:
    """Per family: the median of the tables' medians, and the extremes over all of them."""
    fams: dict[str, list[FamilyDiff]] = {}
    for t in d.tables:
        fams.setdefault(t.family, []).append(t)
    return [
        FamilyDiff(fam, f"{len(ts)} tables", sum(t.points for t in ts), float(np.median([t.median for t in ts])),
                   min(t.low for t in ts), max(t.high for t in ts))
        for fam, ts in sorted(fams.items())
    ]
