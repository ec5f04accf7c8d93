"""Lowering: bind every operator of a sharded graph to a latency function of the batch.

Providers are tried in order of fidelity. Layer-wise tables measured for this exact model, dtype and
TP degree inside the engine (`layerwise.py`) price the operators they cover. Otherwise GEMMs read the
entry's GEMM table by (m, n, k); attention reads the prefill and decode attention tables; collectives
read the engine's all-reduce table; elementwise kernels use the device's bandwidth model (bytes /
achievable bandwidth + launch latency). Where no table covers an operator that should have one, the
roofline model of the spec sheet prices it and a `Fallback` records it: fallbacks are listed in every
report, never silent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from llmsim.compiler.graph import ops_in_order
from llmsim.compiler.layerwise import DENSE_OPS, SEQUENCE_OPS, LayerwiseAttention, find_tables
from llmsim.compiler.models import DTYPE_BYTES, ModelConfig
from llmsim.compiler.ops import Attention, Collective, Elementwise, Embedding, Gemm, Operator
from llmsim.runtime.batch import BatchShape


@dataclass(frozen=True)
class Fallback:
    """An operator priced by a model instead of a measurement, and why."""

    op: str
    family: str
    reason: str
    model: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "family": self.family, "reason": self.reason, "model": self.model,
                "count": self.count}


@dataclass
class LoweredOp:
    """One distinct operator, how many times a step runs it, and how it is priced."""

    op: Operator
    nodes: list[str]
    method: str
    fallback: Fallback | None = None
    curve_us: np.ndarray | None = None  # latency for m = 0..len-1 (tokens or sequences), one call

    @property
    def count(self) -> int:
        return len(self.nodes)


@dataclass
class Lowering:
    """All operators of one instance's graph, lowered; curves summed per family for speed."""

    ops: list[LoweredOp]
    token_curves_us: dict[str, np.ndarray]  # family -> latency for m tokens (all layers)
    seq_curves_us: dict[str, np.ndarray]  # family -> latency for s sequences
    attention: Callable[[BatchShape], float]  # latency of every layer's attention for a step
    fallbacks: list[Fallback] = field(default_factory=list)


class AttentionCost:
    """Per-step attention latency of all layers from the prefill and decode attention tables.

    Decodes: the decode table at (number of decodes, mean context): attention over a paged cache is
    memory-bound and its cost follows the total context read. Prefill chunks: the prefill table at
    (number of chunks, an equivalent prompt length) where a chunk of `c` tokens after `p` cached
    ones counts as a prompt of sqrt(c * (c + 2p)) tokens, which has the same causal attention work
    (exact for a chunk with nothing cached); several chunks use their root-mean-square length.
    """

    def __init__(self, op: Attention, layers: int, prefill: Callable[[int, float], float],
                 decode: Callable[[int, float], float]):
        self.op = op
        self.layers = layers
        self._prefill = prefill
        self._decode = decode

    def __call__(self, batch: BatchShape) -> float:
        total = 0.0
        if batch.n_decode:
            total += self._decode(batch.n_decode, batch.decode_kv_sum / batch.n_decode)
        if batch.prefills:
            work = 0
            for chunk, past in batch.prefills:
                work += chunk * (chunk + 2 * past)
            total += self._prefill(len(batch.prefills), math.sqrt(work / len(batch.prefills)))
        return total * self.layers


def _roofline_us(flops: float, bytes_moved: float, peak_flops: float, bandwidth: float, launch_us: float) -> float:
    compute = flops / peak_flops if peak_flops > 0 else 0.0
    return max(compute, bytes_moved / bandwidth) * 1e6 + launch_us


def lower(g: nx.DiGraph, entry: Any, *, kv_dtype: str, max_tokens: int, max_seqs: int,
          model: ModelConfig | None = None) -> Lowering:
    """Lower every operator of `g` on hardware `entry` for batches up to the given sizes; with
    `model`, layer-wise tables of that model in the entry take precedence."""
    dtype = g.graph["dtype"]
    a = DTYPE_BYTES[dtype]
    dev = entry.device
    bandwidth = dev.memory_bandwidth * dev.memory_efficiency
    launch_us = dev.launch_latency_ns / 1000.0
    peak = dev.peak_flops.get(dtype, 0.0)
    entry_name = f"{entry.entry}@{entry.engine}"
    tokens = np.arange(max_tokens + 1, dtype=np.int64)
    seqs = np.arange(max_seqs + 1, dtype=np.int64)

    groups: dict[Operator, list[str]] = {}
    for node, op, _layer in ops_in_order(g):
        groups.setdefault(op, []).append(node)

    tables = find_tables(entry, model, dtype, g.graph["tp"]) if model is not None else None
    lowered: list[LoweredOp] = []
    attention: Callable[[BatchShape], float] | None = None
    for op, nodes in groups.items():
        if isinstance(op, Attention):
            if tables is not None:
                attention = LayerwiseAttention(tables, len(nodes))
                method = f"layer-wise attention ({tables.model} tp{tables.tp})"
                lowered.append(LoweredOp(op, nodes, method + (", skew fit" if attention.skew else "")))
            else:
                attention, item = _lower_attention(op, nodes, entry, kv_dtype, a, peak, bandwidth, launch_us,
                                                   entry_name)
                lowered.append(item)
            continue
        m = seqs if getattr(op, "per", "token") == "seq" else tokens
        item = _lower_layerwise(op, nodes, m, tables) if tables is not None else None
        if item is None:
            item = _lower_curve(op, nodes, m, entry, dtype, a, peak, bandwidth, launch_us, dev, entry_name)
        lowered.append(item)
    if attention is None:
        raise ValueError("graph has no attention operator")

    token_curves: dict[str, np.ndarray] = {}
    seq_curves: dict[str, np.ndarray] = {}
    for item in lowered:
        if item.curve_us is None:
            continue
        target = seq_curves if getattr(item.op, "per", "token") == "seq" else token_curves
        curve = item.curve_us * item.count
        target[item.op.family] = target[item.op.family] + curve if item.op.family in target else curve
    fallbacks = [item.fallback for item in lowered if item.fallback is not None]
    return Lowering(lowered, token_curves, seq_curves, attention, fallbacks)


def _lower_layerwise(op: Operator, nodes: list[str], m: np.ndarray, tables: Any) -> LoweredOp | None:
    """The operator's row in the layer-wise tables, or None if they do not measure it."""
    per_seq = getattr(op, "per", "token") == "seq"
    name = (SEQUENCE_OPS if per_seq else DENSE_OPS).get(op.name)
    if name is None or name not in (tables.ops_per_sequence() if per_seq else tables.ops_per_token()):
        return None
    curve = np.zeros(len(m), dtype=np.float64)
    lookup = tables.sequence_latency_us if per_seq else tables.token_latency_us
    curve[1:] = lookup(name, m[1:])
    table = "per_sequence" if per_seq else "dense"
    return LoweredOp(op, nodes, f"layer-wise {table}:{name} ({tables.model} tp{tables.tp})", None, curve)


def _lower_curve(op: Operator, nodes: list[str], m: np.ndarray, entry: Any, dtype: str, a: int, peak: float,
                 bandwidth: float, launch_us: float, dev: Any, entry_name: str) -> LoweredOp:
    """Latency of one call for every m (0 for m = 0: nothing runs)."""
    curve = np.zeros(len(m), dtype=np.float64)
    live = m[1:]
    fallback = None
    if isinstance(op, Gemm):
        table = entry.gemm(dtype)
        if table is not None:
            curve[1:] = table.latency_us(live, op.n, op.k)
            method = f"table {table.name}" + ("" if table.in_grid(op.n, op.k) else " (n/k beyond grid: work-scaled)")
        else:
            flops = 2.0 * live * op.n * op.k
            moved = (live * op.k + op.k * op.n + live * op.n) * a
            curve[1:] = np.maximum(flops / peak if peak else 0.0, moved / bandwidth) * 1e6 + launch_us
            method = "roofline"
            fallback = Fallback(nodes[0].split(".")[-1], "gemm", f"no {dtype} GEMM table in {entry_name}",
                                "roofline: max(FLOPs / peak, bytes / bandwidth) + launch latency", len(nodes))
    elif isinstance(op, Collective):
        table = entry.allreduce(op.group, dtype) if op.kind == "all_reduce" else None
        message = live * op.elements * op.dtype_bytes
        if table is not None:
            curve[1:] = table.latency_us(message)
            method = f"table {table.name}"
        else:
            link = dev.links.get("nvlink") or dev.links.get("pcie")
            if link is None:
                raise ValueError(f"{entry_name} has no link to price a {op.kind}")
            factor = 2.0 * (op.group - 1) / op.group if op.kind == "all_reduce" else (op.group - 1) / op.group
            curve[1:] = link.latency_ns / 1000.0 + factor * message / link.bandwidth * 1e6
            method = "alpha-beta link model"
            fallback = Fallback(op.name, "collective", f"no {op.kind} table for {op.group} GPUs in {entry_name}",
                                f"alpha-beta: link latency + {factor:.3g} x bytes / link bandwidth", len(nodes))
    elif isinstance(op, (Elementwise, Embedding)):
        curve[1:] = live * op.bytes_per_item / bandwidth * 1e6 + launch_us
        method = "bandwidth model"
    else:  # pragma: no cover - every operator kind is handled above
        raise TypeError(f"cannot lower {type(op).__name__}")
    return LoweredOp(op, nodes, method, fallback, curve)


def _lower_attention(op: Attention, nodes: list[str], entry: Any, kv_dtype: str, a: int, peak: float,
                     bandwidth: float, launch_us: float, entry_name: str) -> tuple[AttentionCost, LoweredOp]:
    kv_a = DTYPE_BYTES[kv_dtype]
    h, kvh, d = op.num_heads, op.num_kv_heads, op.head_dim
    prefill_table = entry.attention_prefill(h, kvh, d, kv_dtype)
    decode_table = entry.attention_decode(h, kvh, d, kv_dtype)
    missing = []

    if prefill_table is not None:
        prefill = prefill_table.latency_us
    else:
        missing.append("prefill")

        def prefill(batch: int, length: float) -> float:
            flops = 4.0 * h * d * batch * length * (length + 1) / 2
            moved = batch * length * (2 * h * d * a + 2 * kvh * d * kv_a)
            return _roofline_us(flops, moved, peak, bandwidth, launch_us)

    if decode_table is not None:
        decode = decode_table.latency_us
    else:
        missing.append("decode")

        def decode(batch: int, kv: float) -> float:
            flops = 4.0 * h * d * batch * kv
            moved = batch * (kv * 2 * kvh * d * kv_a + 2 * h * d * a)
            return _roofline_us(flops, moved, peak, bandwidth, launch_us)

    method = ", ".join(
        f"table {t.name}" for t in (prefill_table, decode_table) if t is not None
    ) or "roofline"
    fallback = None
    if missing:
        method += " + roofline (" + "/".join(missing) + ")"
        fallback = Fallback(
            "attention", "attention",
            f"no {'/'.join(missing)} attention table for heads={h} kv_heads={kvh} head_dim={d} "
            f"kv_dtype={kv_dtype} in {entry_name}",
            "roofline: max(FLOPs / peak, bytes / bandwidth) + launch latency", len(nodes))
    cost = AttentionCost(op, len(nodes), prefill, decode)
    return cost, LoweredOp(op, nodes, method, fallback, None)
