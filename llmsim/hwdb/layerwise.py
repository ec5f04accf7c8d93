"""Layer-wise latency tables: one decoder layer's operators measured inside a serving engine.

LLMServingSim's profiler (MIT, casys-kaist) runs vLLM on a one-layer copy of a model and times each
operator of the layer by batch size. An entry keeps one set of such tables per (model, dtype, TP):

| table | columns | what |
| --- | --- | --- |
| dense | layer, tokens, latency_us | per-layer ops that scale with the step's tokens (qkv_proj, ...) |
| per_sequence | layer, sequences, latency_us | ops that scale with sequences (lm_head, sampler) |
| attention | prefill_chunk, kv_prefill, n_decode, kv_decode, latency_us | one layer's attention call |
| moe | tokens, activated_experts, latency_us | the MoE block of one layer (MoE models) |
| skew, skew_fit | as the source | correction for decode batches whose context lengths differ |

Interpolation (docs/hardware.md, "Layer-wise tables"): dense and per-sequence ops are linear in
tokens (sequences) between measured points and extend along the secant over the last factor of two
beyond the largest; attention and MoE use `TreeGrid` (nested linear interpolation on their scattered
grids), with the prefill axis of attention in attention work rather than in tokens. Every rule is
exact at measured points.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmsim.hwdb.errors import HwdbError
from llmsim.hwdb.tables import SizeCurve
from llmsim.hwdb.treegrid import TreeGrid

# Column kinds: "label" a non-empty name, "count" an integer >= 0, "size" an integer >= 1,
# "latency" a positive finite number of microseconds, "real" any finite number, "real?" the same or
# empty (the source leaves a skew factor empty where it is undefined).
LAYERWISE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "dense": (("layer", "label"), ("tokens", "size"), ("latency_us", "latency")),
    "per_sequence": (("layer", "label"), ("sequences", "size"), ("latency_us", "latency")),
    "attention": (
        ("prefill_chunk", "count"),
        ("kv_prefill", "count"),
        ("n_decode", "count"),
        ("kv_decode", "count"),
        ("latency_us", "latency"),
    ),
    "moe": (("tokens", "size"), ("activated_experts", "size"), ("latency_us", "latency")),
    "skew": (
        ("regime", "label"),
        ("n", "size"),
        ("nb", "count"),
        ("ratio", "real"),
        ("skew", "real"),
        ("pc", "count"),
        ("kp", "count"),
        ("kvs", "size"),
        ("kv_big", "count"),
        ("kv_mean", "count"),
        ("t_mean_us", "latency"),
        ("t_max_us", "latency"),
        ("t_skew_us", "latency"),
        ("alpha", "real?"),
    ),
    "skew_fit": (
        ("pc", "count"),
        ("n_label", "label"),
        ("skew_rate_label", "label"),
        ("kv_big_label", "label"),
        ("kp_label", "label"),
        ("alpha", "real"),
        ("n_samples", "count"),
    ),
}
# The kinds of layer-wise table, in order. Defined here, not in `schema` (which re-exports it), so that
# loading a cached compile that holds layer-wise tables does not build the entry.yaml schema.
LAYERWISE_KINDS = ("dense", "per_sequence", "attention", "moe", "skew", "skew_fit")
assert tuple(LAYERWISE_COLUMNS) == LAYERWISE_KINDS
# The keys of each table: no two rows may share them.
LAYERWISE_KEYS: dict[str, tuple[str, ...]] = {
    "dense": ("layer", "tokens"),
    "per_sequence": ("layer", "sequences"),
    "attention": ("prefill_chunk", "kv_prefill", "n_decode", "kv_decode"),
    "moe": ("tokens", "activated_experts"),
}

Row = tuple[Any, ...]


def _cell(kind: str, text: str) -> Any:
    """Parse one cell; ValueError with the reason when it does not fit the column's kind."""
    if kind == "label":
        if not text.strip():
            raise ValueError("missing name")
        return text
    if kind == "real?" and text == "":
        return None
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"`{text}` is not a number" if text else "missing value") from None
    if not math.isfinite(x):
        raise ValueError(f"`{text}` is not finite")
    if kind in ("count", "size"):
        if x != int(x) or x < (1 if kind == "size" else 0):
            raise ValueError(f"`{text}` must be an integer >= {1 if kind == 'size' else 0}")
        return int(x)
    if kind == "latency" and x <= 0:
        raise ValueError(f"`{text}` is not a positive latency")
    return x


def parse_layerwise(text: str, kind: str) -> list[Row]:
    """Typed rows of a layer-wise table's text (no file at hand: importers check what they write)."""
    return read_layerwise(Path("<text>"), kind, text=text)


def read_layerwise(path: Path, kind: str, rows: int | None = None, *, text: str | None = None) -> list[Row]:
    """A layer-wise table as typed rows; HwdbError naming file, column and line on any bad cell, a
    wrong header, a repeated key or a row count that differs from `rows`."""
    columns = LAYERWISE_COLUMNS[kind]
    names = [c for c, _ in columns]
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise HwdbError(path, "file", f"cannot read the table file ({exc.strerror or exc})") from None
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[0] if lines else []
    if header != names:
        raise HwdbError(
            path,
            "header",
            f"columns are `{','.join(header)}`, expected `{','.join(names)}`",
            f"a {kind} table has exactly these columns",
            line=1,
            col=1,
            width=max(1, len(",".join(header))),
        )
    out: list[Row] = []
    for n, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(columns):
            raise HwdbError(path, f"line {n}", f"has {len(cells)} cells, expected {len(columns)}", line=n, col=1)
        row = []
        for c, ((name, ck), cell) in enumerate(zip(columns, cells)):
            try:
                row.append(_cell(ck, cell))
            except ValueError as exc:
                col = sum(len(x) + 1 for x in cells[:c]) + 1
                raise HwdbError(path, name, f"{exc} on line {n}", line=n, col=col, width=max(1, len(cell))) from None
        out.append(tuple(row))
    if not out:
        raise HwdbError(path, "rows", "has no data rows", line=1, col=1)
    if rows is not None and len(out) != rows:
        raise HwdbError(path, "rows", f"has {len(out)} data rows, entry.yaml declares {rows}")
    keys = LAYERWISE_KEYS.get(kind)
    if keys:
        idx = [names.index(k) for k in keys]
        seen: dict[tuple, int] = {}
        for n, r in enumerate(out, start=2):
            k = tuple(r[i] for i in idx)
            if k in seen:
                raise HwdbError(
                    path,
                    keys[0],
                    f"duplicate row for key ({', '.join(map(str, k))}) on line {n} (first on line {seen[k]})",
                    "collapse repeated measurements to one row",
                    line=n,
                    col=1,
                )
            seen[k] = n
    return out


__safepickle__ = ("_prefill_work",)  # held by the attention grid of compiled plans (llmsim.safepickle)


def _prefill_work(pc: float, q: Sequence[float]) -> float:
    """Causal attention work of a chunk of `pc` tokens after `q[1]` cached ones, in token pairs:
    each new token attends to every cached token and to the new ones before it."""
    return pc * (q[1] + (pc + 1) / 2)


class LayerwiseTables:
    """The layer-wise tables of one (model, dtype, TP) in an entry; lookups are per call of one layer.

    `meta` is the profiling metadata (the source's meta.yaml, kept in the entry's provenance)."""

    def __init__(
        self,
        model: str,
        dtype: str,
        tp: int,
        files: dict[str, tuple[Path, int]],
        meta: dict[str, Any] | None = None,
    ):
        self.model = model
        self.dtype = dtype
        self.tp = tp
        self.meta: dict[str, Any] = meta or {}
        self._files = files
        self._raw: dict[str, list[Row]] = {}
        self._curves: dict[str, dict[str, SizeCurve]] = {}
        self._attention: TreeGrid | None = None
        self._moe: TreeGrid | None = None

    def tables(self) -> list[str]:
        """The table kinds this set has (dense, per_sequence, attention, and moe/skew/skew_fit if any)."""
        return [k for k in LAYERWISE_KINDS if k in self._files]

    def columns(self, name: str) -> list[str]:
        return [c for c, _ in LAYERWISE_COLUMNS[name]]

    def raw(self, name: str) -> list[Row]:
        """The rows of a table as stored (typed: names str, integers int, others float or None)."""
        if name not in self._files:
            raise KeyError(f"{self.model} {self.dtype} tp{self.tp} has no {name} table")
        rows = self._raw.get(name)
        if rows is None:
            path, n = self._files[name]
            rows = read_layerwise(path, name, n)
            self._raw[name] = rows
        return rows

    # -- dense and per-sequence ops -------------------------------------------------------------------

    def _ops(self, name: str) -> dict[str, SizeCurve]:
        curves = self._curves.get(name)
        if curves is None:
            by_op: dict[str, list[tuple[int, float]]] = {}
            for op, size, lat in self.raw(name):
                by_op.setdefault(op, []).append((size, lat))
            curves = {}
            for op, pts in by_op.items():
                curves[op] = SizeCurve(f"{name}:{op}", [p[0] for p in pts], [p[1] for p in pts])
            self._curves[name] = curves
        return curves

    def ops_per_token(self) -> list[str]:
        """Operators in dense.csv, in the order the source lists them (execution order)."""
        return list(self._ops("dense"))

    def ops_per_sequence(self) -> list[str]:
        return list(self._ops("per_sequence"))

    def token_latency_us(self, op: str, tokens):
        """One call of `op` on `tokens` batched tokens (int -> float, ndarray -> ndarray)."""
        return self._curve("dense", op)(tokens)

    def sequence_latency_us(self, op: str, seqs):
        """One call of `op` on `seqs` sequences (int -> float, ndarray -> ndarray)."""
        return self._curve("per_sequence", op)(seqs)

    def _curve(self, name: str, op: str) -> SizeCurve:
        curves = self._ops(name)
        if op not in curves:
            raise KeyError(f"no `{op}` in {name}.csv of {self.model} tp{self.tp}; it has {', '.join(curves)}")
        return curves[op]

    # -- attention ------------------------------------------------------------------------------------

    def attention_grid(self) -> TreeGrid:
        if self._attention is None:
            rows = self.raw("attention")
            self._attention = TreeGrid(
                [r[:4] for r in rows], [r[4] for r in rows], coords=[_prefill_work, None, None, None]
            )
        return self._attention

    def attention_us(self, prefill_chunk: int, kv_prefill: int, n_decode: int, kv_decode: int) -> float:
        """One layer's attention call for a batch of one prefill chunk (`prefill_chunk` new tokens
        after `kv_prefill` cached ones; 0 for none) and `n_decode` decodes of `kv_decode` context each."""
        if prefill_chunk <= 0 and n_decode <= 0:
            return 0.0
        pc, kp = max(prefill_chunk, 0), max(kv_prefill, 0) if prefill_chunk > 0 else 0
        nd, kd = max(n_decode, 0), max(kv_decode, 0) if n_decode > 0 else 0
        return self.attention_grid()(pc, kp, nd, kd)

    # -- MoE and skew ---------------------------------------------------------------------------------

    def moe_us(self, tokens: int, activated_experts: int) -> float | None:
        """One layer's MoE block for `tokens` tokens that activate `activated_experts` experts in all;
        None when the set has no MoE table. The grid is a triangle (at most top-k x tokens experts
        can be active); nested interpolation handles it like any scattered grid."""
        if "moe" not in self._files:
            return None
        if tokens <= 0:
            return 0.0
        if self._moe is None:
            rows = self.raw("moe")
            self._moe = TreeGrid([r[:2] for r in rows], [r[2] for r in rows])
        return self._moe(tokens, max(activated_experts, 1))

    def skew(self) -> list[Row] | None:
        """The raw skew measurements (columns: `columns("skew")`), or None."""
        return self.raw("skew") if "skew" in self._files else None

    def skew_fit(self) -> list[Row] | None:
        """The source's fitted skew factors per bucket (columns: `columns("skew_fit")`), or None."""
        return self.raw("skew_fit") if "skew_fit" in self._files else None

    def __repr__(self) -> str:
        return f"LayerwiseTables({self.model!r}, {self.dtype}, tp={self.tp}, {', '.join(self.tables())})"
