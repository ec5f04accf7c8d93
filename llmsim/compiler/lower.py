"""Lowering: bind every operator of a sharded graph to a latency function of the batch.

Providers are tried in order of fidelity. Layer-wise tables measured for this exact model, dtype and
TP degree inside the engine (`layerwise.py`) price the operators they cover (the MoE block too, from
their `moe.csv`). Otherwise GEMMs read the entry's GEMM table by (m, n, k); attention reads the
prefill and decode attention tables; MoE experts read the entry's MoE table for the exact layout;
collectives read the engine's all-reduce, all-gather and all-to-all tables (DeepEP's MoE all-to-all
where measured) when their group stays inside one node; elementwise kernels use the device's
bandwidth model (bytes / achievable bandwidth + launch latency). Where no table covers an operator
that should have one, the roofline model of the spec sheet (or an alpha-beta model of the link)
prices it and a `Fallback` records it: fallbacks are listed in every report, never silent.

Operators placed on another device (`place { attention = pim }`) are lowered on that device's entry;
an analytical device (a `device` block without measurements) prices all of them on its roofline and
flags every one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from msgspec import Struct, field

from llmsim.compiler.layerwise import DENSE_OPS, SEQUENCE_OPS, LayerwiseAttention, find_tables
from llmsim.compiler.models import DTYPE_BYTES, ModelConfig
from llmsim.compiler.ops import (
    Attention,
    Collective,
    Elementwise,
    Embedding,
    Gemm,
    MLAttention,
    MoE,
    MoEAllToAll,
    Operator,
    Transfer,
)
from llmsim.compiler.topology import LinkModel, Topology
from llmsim.runtime.batch import BatchShape

if TYPE_CHECKING:
    import networkx as nx

# How tokens are spread over experts when the MoE table is read. aiconfigurator, whose collectors
# measured these tables, prices MoE with power-law routing by default (its `workload_distribution`
# "power_law"); its tables hold alpha 1.01 and 1.2 besides "balanced". Real routers are skewed, so
# the milder power law is the default; `lower(..., moe_distribution=...)` picks another.
DEFAULT_MOE_DISTRIBUTION = "power_law_1.01"
MOE_DISTRIBUTIONS = ("balanced", "power_law_1.01", "power_law_1.2")


class Fallback(Struct, frozen=True):
    """An operator priced by a model instead of a measurement, and why."""

    op: str
    family: str
    reason: str
    model: str
    count: int

    def merge_key(self) -> tuple[str, str, str, str]:
        return (self.op, self.family, self.reason, self.model)

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "family": self.family, "reason": self.reason, "model": self.model,
                "count": self.count}


class LoweredOp(Struct):
    """One distinct operator, how many times a step runs it, and how it is priced."""

    op: Operator
    nodes: list[str]
    method: str
    fallback: Fallback | None = None
    curve_us: np.ndarray | None = None  # latency for m = 0..len-1 (tokens or sequences), one call

    @property
    def count(self) -> int:
        return len(self.nodes)


class Lowering(Struct):
    """All operators of one instance's graph, lowered; curves summed per family for speed."""

    ops: list[LoweredOp]
    token_curves_us: dict[str, np.ndarray]  # family -> latency for m tokens (all layers)
    seq_curves_us: dict[str, np.ndarray]  # family -> latency for s sequences
    attention: Callable[[BatchShape], float]  # latency of every layer's attention for a step
    fallbacks: list[Fallback] = field(default_factory=list)


class LinkError(ValueError):
    """A collective whose group crosses a link no source describes."""


class SumAttention:
    """Attention of several attention groups (layers on different devices or stages), summed."""

    def __init__(self, parts: list[Callable[[BatchShape], float]]):
        self.parts = parts

    def __call__(self, batch: BatchShape) -> float:
        return sum(part(batch) for part in self.parts)


def merge_fallbacks(fallbacks: list[Fallback]) -> list[Fallback]:
    """One fallback per (operator, reason, model), counts summed (stages lower the same operators)."""
    merged: dict[tuple[str, str, str, str], Fallback] = {}
    for fb in fallbacks:
        key = fb.merge_key()
        old = merged.get(key)
        merged[key] = fb if old is None else Fallback(fb.op, fb.family, fb.reason, fb.model, old.count + fb.count)
    return list(merged.values())


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
          model: ModelConfig | None = None, topology: Topology | None = None,
          targets: dict[str, Any] | None = None, moe_distribution: str = DEFAULT_MOE_DISTRIBUTION) -> Lowering:
    """Lower every operator of `g` on hardware `entry` for batches up to the given sizes.

    With `model`, layer-wise tables of that model in the entry take precedence. `topology` gives the
    links collectives and transfers cross (default: the entry's own). Nodes whose `device` attribute
    names a device of `targets` are lowered on that device instead of `entry`."""
    dtype = g.graph["dtype"]
    topology = topology or Topology.from_entry(entry)
    tokens = np.arange(max_tokens + 1, dtype=np.int64)
    seqs = np.arange(max_seqs + 1, dtype=np.int64)
    home = _Target(entry, dtype)

    groups: dict[tuple[Operator, str | None], list[str]] = {}
    for node, data in g.nodes(data=True):
        groups.setdefault((data["op"], data.get("device")), []).append(node)

    tables = find_tables(entry, model, dtype, g.graph["tp"]) if model is not None else None
    layerwise_moe = tables is not None and any(
        isinstance(op, MoE) and dev is None and _layerwise_moe_applies(op, tables) for op, dev in groups)
    lowered: list[LoweredOp] = []
    attention: list[Callable[[BatchShape], float]] = []
    for (op, device), nodes in groups.items():
        target = home if device is None else _Target((targets or {})[device], dtype, device)
        own_tables = tables if device is None else None
        m = seqs if getattr(op, "per", "token") == "seq" else tokens
        if isinstance(op, (Attention, MLAttention)):
            if own_tables is not None and isinstance(op, Attention):
                cost: Callable[[BatchShape], float] = LayerwiseAttention(own_tables, len(nodes))
                method = f"layer-wise attention ({own_tables.model} tp{own_tables.tp})"
                item = LoweredOp(op, nodes, method + (", skew fit" if cost.skew else ""))  # type: ignore[attr-defined]
            elif isinstance(op, MLAttention):
                cost, item = _lower_mla(op, nodes, target, kv_dtype)
            else:
                cost, item = _lower_attention(op, nodes, target.entry, kv_dtype, target.a, target.peak,
                                              target.bandwidth, target.launch_us, target.name)
            attention.append(cost)
            lowered.append(target.flag(item))
            continue
        if isinstance(op, MoE):
            item = _lower_moe(op, nodes, m, target, own_tables, model, moe_distribution)
        elif isinstance(op, Gemm) and op.name == "router" and layerwise_moe and device is None:
            item = LoweredOp(op, nodes, "included in the layer-wise moe block", None, np.zeros(len(m)))
        elif isinstance(op, Collective):
            item = _lower_collective(op, nodes, m, target, topology)
        elif isinstance(op, Transfer):
            item = _transfer(op, nodes, m, topology)
        else:
            item = _lower_layerwise(op, nodes, m, own_tables) if own_tables is not None else None
            if item is None:
                item = _lower_curve(op, nodes, m, target.entry, dtype, target.a, target.peak, target.bandwidth,
                                    target.launch_us, target.entry.device, target.name)
        lowered.append(target.flag(item))
    if not attention:
        raise ValueError("graph has no attention operator")

    token_curves: dict[str, np.ndarray] = {}
    seq_curves: dict[str, np.ndarray] = {}
    for item in lowered:
        if item.curve_us is None:
            continue
        target_curves = seq_curves if getattr(item.op, "per", "token") == "seq" else token_curves
        curve = item.curve_us * item.count
        family = item.op.family
        target_curves[family] = target_curves[family] + curve if family in target_curves else curve
    fallbacks = [item.fallback for item in lowered if item.fallback is not None]
    combined = attention[0] if len(attention) == 1 else SumAttention(attention)
    return Lowering(lowered, token_curves, seq_curves, combined, fallbacks)


class _Target:
    """The device a group of operators is lowered on, with its roofline figures."""

    def __init__(self, entry: Any, dtype: str, placed_as: str | None = None):
        dev = entry.device
        self.entry = entry
        self.dtype = dtype
        self.a = DTYPE_BYTES[dtype]
        self.bandwidth = dev.memory_bandwidth * dev.memory_efficiency
        self.launch_us = dev.launch_latency_ns / 1000.0
        self.peak = dev.peak_flops.get(dtype, 0.0)
        self.name = f"{entry.entry}@{entry.engine}"
        self.placed_as = placed_as
        self.analytical = bool(getattr(entry, "analytical", False))

    def flag(self, item: LoweredOp) -> LoweredOp:
        """On an analytical device every operator is a fallback: no measurement backs any of it."""
        if self.placed_as is not None:
            item.method = f"on `{self.placed_as}`: {item.method}"
        if not self.analytical:
            return item
        formula = item.fallback.model if item.fallback is not None else (
            "roofline: max(FLOPs / peak, bytes / bandwidth)" if item.op.family not in ("elementwise", "memory")
            else "bytes / memory bandwidth")
        item.fallback = Fallback(item.op.name, item.op.family,
                                 f"`{self.placed_as}` is an analytical {self.entry.kind} device (its `device` "
                                 "block's spec sheet, no measurements)", formula, item.count)
        return item


def _layerwise_moe_applies(op: MoE, tables: Any) -> bool:
    """The layer-wise MoE table measures the whole block on one device: no expert or data parallelism."""
    return (op.moe_tp == 1 and op.moe_ep == 1 and op.token_scale == 1
            and tables.moe_us(1, op.topk) is not None)


def _moe_dtypes(dtype: str, model: ModelConfig | None) -> list[str]:
    """MoE table quantisations that stand for the model dtype, most faithful first: an FP8 checkpoint
    with block scales (DeepSeek-V3) runs the block-scaled kernels."""
    if dtype == "fp8":
        return ["fp8_block", "fp8"] if model is not None and model.fp8_block else ["fp8", "fp8_block"]
    if dtype == "fp16":
        return ["fp16", "bf16"]
    return [dtype]


def _lower_moe(op: MoE, nodes: list[str], m: np.ndarray, target: _Target, tables: Any,
               model: ModelConfig | None, distribution: str) -> LoweredOp:
    """The routed experts: the layer-wise MoE table, else the entry's MoE table for the exact layout,
    else the roofline on the expert weights a batch actually reads."""
    curve = np.zeros(len(m), dtype=np.float64)
    live = m[1:]
    tokens = live * op.token_scale
    if tables is not None and _layerwise_moe_applies(op, tables):
        active = 1.0 - (1.0 - op.topk / op.experts) ** tokens.astype(np.float64)
        lookup = tables.moe_us
        curve[1:] = [lookup(int(t), float(op.experts * x)) for t, x in zip(tokens, active, strict=True)]
        return LoweredOp(op, nodes, f"layer-wise moe ({tables.model} tp{tables.tp}), uniform routing", None, curve)
    for dt in _moe_dtypes(target.dtype, model):
        table = target.entry.moe(dt, op.hidden, op.inter * op.moe_tp, op.topk, op.experts, moe_tp=op.moe_tp,
                                 moe_ep=op.moe_ep, distribution=distribution)
        if table is not None:
            curve[1:] = table.latency_us(tokens)
            return LoweredOp(op, nodes, f"table {table.name}" + (f" at tokens x{op.token_scale}"
                                                                 if op.token_scale != 1 else ""), None, curve)
    a = target.a
    flops = 2.0 * tokens * op.topk * 3 * op.hidden * op.inter / op.moe_ep
    touched = op.local_experts * (1.0 - (1.0 - op.topk / op.experts) ** tokens.astype(np.float64))
    moved = touched * 3 * op.hidden * op.inter * a + tokens * op.topk / op.moe_ep * (2 * op.hidden + 3 * op.inter) * a
    compute = flops / target.peak if target.peak else 0.0
    curve[1:] = np.maximum(compute, moved / target.bandwidth) * 1e6 + target.launch_us
    fallback = Fallback("moe", "moe", f"no {target.dtype} MoE table for hidden={op.hidden} "
                        f"inter={op.inter * op.moe_tp} topk={op.topk} experts={op.experts} moe_tp={op.moe_tp} "
                        f"moe_ep={op.moe_ep} ({distribution}) in {target.name}",
                        "roofline on the expert weights read: E_local x (1 - (1 - k/E)^tokens) experts touched "
                        "(uniform routing)", len(nodes))
    return LoweredOp(op, nodes, "roofline (experts touched under uniform routing)", fallback, curve)


# Attention on the roofline where the entry has no table. Callable classes rather than closures so
# that a plan pickles (the compiled-spec cache); each computes exactly what the closure did.


class _RooflinePrefill:
    __slots__ = ("a", "bandwidth", "d", "h", "kv_a", "kvh", "launch_us", "peak")

    def __init__(self, h: int, kvh: int, d: int, a: int, kv_a: int, peak: float, bandwidth: float,
                 launch_us: float) -> None:
        self.h, self.kvh, self.d, self.a, self.kv_a = h, kvh, d, a, kv_a
        self.peak, self.bandwidth, self.launch_us = peak, bandwidth, launch_us

    def __call__(self, batch: int, length: float) -> float:
        h, kvh, d, a, kv_a = self.h, self.kvh, self.d, self.a, self.kv_a
        flops = 4.0 * h * d * batch * length * (length + 1) / 2
        moved = batch * length * (2 * h * d * a + 2 * kvh * d * kv_a)
        return _roofline_us(flops, moved, self.peak, self.bandwidth, self.launch_us)


class _RooflineDecode(_RooflinePrefill):
    __slots__ = ()

    def __call__(self, batch: int, kv: float) -> float:
        h, kvh, d, a, kv_a = self.h, self.kvh, self.d, self.a, self.kv_a
        flops = 4.0 * h * d * batch * kv
        moved = batch * (kv * 2 * kvh * d * kv_a + 2 * h * d * a)
        return _roofline_us(flops, moved, self.peak, self.bandwidth, self.launch_us)


class _MLADecode:
    __slots__ = ("a", "bw", "h", "kv_a", "latent", "launch", "lora", "peak")

    def __init__(self, h: int, latent: int, lora: int, a: int, kv_a: int, peak: float, bw: float,
                 launch: float) -> None:
        self.h, self.latent, self.lora, self.a, self.kv_a = h, latent, lora, a, kv_a
        self.peak, self.bw, self.launch = peak, bw, launch

    def __call__(self, batch: int, kv: float) -> float:
        h, latent, lora, a, kv_a = self.h, self.latent, self.lora, self.a, self.kv_a
        flops = 2.0 * h * (latent + lora) * batch * kv
        moved = batch * kv * latent * kv_a + batch * h * (latent + lora) * a
        return _roofline_us(flops, moved, self.peak, self.bw, self.launch)


class _MLAPrefill:
    __slots__ = ("a", "bw", "h", "launch", "peak", "qk", "v")

    def __init__(self, h: int, qk: int, v: int, a: int, peak: float, bw: float, launch: float) -> None:
        self.h, self.qk, self.v, self.a = h, qk, v, a
        self.peak, self.bw, self.launch = peak, bw, launch

    def __call__(self, batch: int, length: float) -> float:
        h, qk, v, a = self.h, self.qk, self.v, self.a
        flops = 2.0 * h * (qk + v) * batch * length * (length + 1) / 2
        moved = batch * length * h * (2 * qk + 2 * v) * a
        return _roofline_us(flops, moved, self.peak, self.bw, self.launch)


def _lower_mla(op: MLAttention, nodes: list[str], target: _Target, kv_dtype: str) -> tuple[AttentionCost, LoweredOp]:
    """Latent attention. Decode reads the latent cache (kv_lora_rank + qk_rope_head_dim per token) and
    scores it in the latent space; prefill runs as ordinary attention of qk_nope + qk_rope query/key
    and v_head_dim value heads. No table measures MLA's latent decode; the prefill table of that
    head layout is used where the entry has one."""
    a, kv_a = target.a, DTYPE_BYTES[kv_dtype]
    h, latent, lora = op.num_heads, op.latent_dim, op.kv_lora_rank
    qk = op.qk_nope_head_dim + op.qk_rope_head_dim
    peak, bw, launch = target.peak, target.bandwidth, target.launch_us
    prefill_table = target.entry.attention_prefill(h, h, qk, kv_dtype) if op.v_head_dim == qk else None

    decode = _MLADecode(h, latent, lora, a, kv_a, peak, bw, launch)
    if prefill_table is not None:
        prefill = prefill_table.scalar_us
    else:
        prefill = _MLAPrefill(h, qk, op.v_head_dim, a, peak, bw, launch)

    missing = "decode" if prefill_table is not None else "prefill/decode"
    method = (f"table {prefill_table.name} + " if prefill_table is not None else "") + f"roofline ({missing})"
    fallback = Fallback("attention", "attention",
                        f"no MLA {missing} attention table (heads={h} latent={latent} kv_dtype={kv_dtype}) in "
                        f"{target.name}", "roofline: max(FLOPs / peak, bytes / bandwidth) + launch latency; "
                        "decode reads the latent cache once per sequence", len(nodes))
    return AttentionCost(op, len(nodes), prefill, decode), LoweredOp(op, nodes, method, fallback, None)  # type: ignore[arg-type]


def _alpha_beta(link: LinkModel, factor: float, message: np.ndarray) -> np.ndarray:
    return link.latency_ns / 1000.0 + factor * message / link.bandwidth * 1e6


def _lower_collective(op: Collective, nodes: list[str], m: np.ndarray, target: _Target,
                      topology: Topology) -> LoweredOp:
    """A measured table where the group stays inside one node of the entry's own link: the engine's
    all-reduce (fastest path), NCCL's all-gather, DeepEP's MoE all-to-all or NCCL's all-to-all;
    else alpha-beta on the slowest link the group crosses."""
    entry, dtype, g = target.entry, target.dtype, op.group
    curve = np.zeros(len(m), dtype=np.float64)
    live = m[1:]
    message = live * op.elements * op.dtype_bytes
    if topology.tables_apply(g):
        if isinstance(op, MoEAllToAll):
            found = _deepep(op, live, entry, topology)
            if found is not None:
                curve[1:], method = found
                return LoweredOp(op, nodes, method, None, curve)
        table = (entry.allreduce(g, dtype) if op.kind == "all_reduce"
                 else entry.collective(op.kind, g, dtype) if hasattr(entry, "collective") else None)
        if table is not None:
            curve[1:] = table.latency_us(message)
            return LoweredOp(op, nodes, f"table {table.name}", None, curve)
    link = topology.link(g)
    if link is None:
        where = f"{topology.nodes_spanned(g)} nodes" if topology.spans_nodes(g) else "one node"
        raise LinkError(f"no link is known to carry a {op.kind} over {g} ranks ({where}) of {target.name}")
    factor = {"all_reduce": 2.0 * (g - 1) / g}.get(op.kind, (g - 1) / g)
    curve[1:] = _alpha_beta(link, factor, message)
    where = f"across {topology.nodes_spanned(g)} nodes" if topology.spans_nodes(g) else "inside a node"
    why = ("no table" if topology.tables_apply(g) else "the entry's tables measure its own intra-node link, not "
           f"this one ({where})")
    fallback = Fallback(op.name, "collective", f"{why}: {op.kind} over {g} ranks in {target.name}",
                        f"alpha-beta over {link.describe()}: latency + {factor:.3g} x bytes / bandwidth", len(nodes))
    return LoweredOp(op, nodes, f"alpha-beta {link.name}", fallback, curve)


def _deepep(op: MoEAllToAll, live: np.ndarray, entry: Any, topology: Topology) -> tuple[np.ndarray, str] | None:
    """DeepEP's measured dispatch/combine for this EP layout: at every size, the fastest backend that
    measured it (low-latency kernels at small batches, high-throughput ones at large), as the engine
    picks; beyond every backend's range, the one measured furthest."""
    meta = getattr(entry, "tables_meta", None)
    if not meta:
        return None
    backends = sorted({t["backend"] for t in meta.values() if t.get("op") == "moe_a2a" and t.get("phase") == op.phase})
    found = []
    for backend in backends:
        t = entry.moe_a2a(backend, op.phase, ep_size=op.group, node_num=topology.nodes_spanned(op.group),
                          hidden_size=op.hidden, topk=op.topk, num_experts=op.experts)
        if t is not None:
            found.append(t)
    if not found:
        return None
    per_rank = live * op.elements / (op.topk * op.hidden)  # the rank's share of its group's tokens
    curves = np.array([t.latency_us(per_rank) for t in found])
    covered = np.array([per_rank <= t.sizes[-1] for t in found])
    widest = int(np.argmax([t.sizes[-1] for t in found]))
    best = np.where(covered, curves, np.inf).min(axis=0)
    out = np.where(covered.any(axis=0), best, curves[widest])
    return out, "table " + " / ".join(t.name for t in found) + " (fastest measured per size)"


def lower_transfer(op: Transfer, nodes: list[str], max_items: int, topology: Topology) -> LoweredOp:
    """A transfer outside any graph (the send between pipeline stages), for 0 .. max_items tokens."""
    return _transfer(op, nodes, np.arange(max_items + 1, dtype=np.int64), topology)


def _transfer(op: Transfer, nodes: list[str], m: np.ndarray, topology: Topology) -> LoweredOp:
    link = topology.links()[op.link]
    curve = np.zeros(len(m), dtype=np.float64)
    curve[1:] = _alpha_beta(link, 1.0, m[1:] * op.bytes_per_item)
    fallback = Fallback(op.name, "transfer", f"no measured table for point-to-point transfers over `{link.name}`",
                        f"alpha-beta over {link.describe()}: latency + bytes / bandwidth", len(nodes))
    return LoweredOp(op, nodes, f"alpha-beta {link.name}", fallback, curve)


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

    prefill: Callable[[int, float], float]
    decode: Callable[[int, float], float]
    if prefill_table is not None:
        prefill = prefill_table.scalar_us
    else:
        missing.append("prefill")
        prefill = _RooflinePrefill(h, kvh, d, a, kv_a, peak, bandwidth, launch_us)

    if decode_table is not None:
        decode = decode_table.scalar_us
    else:
        missing.append("decode")
        decode = _RooflineDecode(h, kvh, d, a, kv_a, peak, bandwidth, launch_us)

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
