"""Stable text forms of the compiler's stages (`--emit graph`, `--emit plan`), for people and goldens.

Layers with identical operators are folded into one line with their layer range (`L0-31.qkv_proj`),
so an 80-layer model prints as compactly as a 1-layer one while every operator stays visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmsim.compiler.models import ModelConfig
from llmsim.compiler.ops import Operator
from llmsim.compiler.plan import InstancePlan
from llmsim.runtime.batch import BatchShape

if TYPE_CHECKING:
    import networkx as nx

# The graph helpers (networkx) are imported by the functions that print a graph: the results
# document reads REFERENCE_BATCHES from here, also for a plan loaded from the compiled-spec cache.


def _ranges(layers: list[int]) -> str:
    parts: list[str] = []
    start = prev = layers[0]
    for layer in [*layers[1:], None]:
        if layer is not None and layer == prev + 1:
            prev = layer
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if layer is not None:
            start = prev = layer
    return ",".join(parts)


def folded_ops(g: nx.DiGraph) -> list[tuple[str, Operator]]:
    """(label, operator) in execution order, identical per-layer operators folded over layers."""
    rows: list[tuple[str, Operator]] = []
    layer_groups: dict[tuple[str, Operator], list[int]] = {}
    order: list[tuple[str, Operator] | tuple[None, str, Operator]] = []
    from llmsim.compiler.graph import ops_in_order

    for node, op, layer in ops_in_order(g):
        if layer is None:
            order.append((None, node, op))
            continue
        key = (node.split(".", 1)[1], op)
        if key not in layer_groups:
            layer_groups[key] = []
            order.append(key)
        layer_groups[key].append(layer)
    for item in order:
        if item[0] is None:
            rows.append((item[1], item[2]))  # type: ignore[misc]
        else:
            name, op = item  # type: ignore[misc]
            rows.append((f"L{_ranges(layer_groups[(name, op)])}.{name}", op))
    return rows


def emit_graph(name: str, g: nx.DiGraph, model: ModelConfig) -> str:
    from llmsim.compiler.graph import flops_per_token, weight_params

    residual = sum(1 for _, _, d in g.edges(data=True) if d.get("residual"))
    lines = [
        f"graph {name}: {model.name} dtype={g.graph['dtype']} tp={g.graph['tp']}",
        f"  operators: {g.number_of_nodes()}  edges: {g.number_of_edges()} ({residual} residual)",
        f"  parameters per rank: {weight_params(g, model):,}",
        f"  forward FLOPs per decoded token per rank: {flops_per_token(g):,.0f}",
    ]
    rows = folded_ops(g)
    width = max(len(label) for label, _ in rows)
    for label, op in rows:
        lines.append(f"  {label:<{width}}  {type(op).__name__.lower():<11}  {op.describe()}".rstrip())
    return "\n".join(lines) + "\n"


# Reference batches at which `--emit plan` prints step times: decode at two batch sizes, a prefill, a mix.
REFERENCE_BATCHES: list[tuple[str, BatchShape]] = [
    ("decode 1 seq x 1024 ctx", BatchShape.decode(1, 1024)),
    ("decode 32 seqs x 1024 ctx", BatchShape.decode(32, 1024)),
    ("prefill 1 x 512 tokens", BatchShape.prefill(512)),
    ("prefill 1 x 2048 tokens", BatchShape.prefill(2048)),
    ("mixed 16 decodes + 512 chunk", BatchShape(528, 17, 16, 16 * 1024, 1024, ((512, 0),))),
]


def emit_plan(plan: InstancePlan, instances: int) -> str:
    m = plan.memory
    gb = 1e9
    parallel = "".join(f", {k}={v}" for k, v in (("pp", plan.pp), ("ep", plan.ep), ("dp", plan.dp)) if v > 1)
    replicas = f" of {plan.replicas} data-parallel ranks each" if plan.replicas > 1 else ""
    kv_where = f" on `{m.kv_device}`" if m.kv_device is not None else ""
    lines = [
        f"plan {plan.pool}: {plan.model.name} {plan.dtype} (kv {plan.kv_dtype}) on "
        f"{plan.hardware.entry} {plan.hardware.engine}, tp={plan.tp}{parallel}, {instances} instance(s){replicas}",
        f"  hardware sha256: {plan.hardware.sha256}",
        f"  memory per device: capacity {m.capacity_bytes / gb:.2f} GB, usable {m.usable_bytes / gb:.2f} GB, "
        f"weights {m.weight_bytes / gb:.2f} GB, activations {m.activation_bytes / gb:.2f} GB, "
        f"runtime reserve {m.reserve_bytes / gb:.2f} GB",
        f"  kv cache{kv_where}: {m.kv_bytes_per_token} B/token, block {m.block_size} tokens, {m.kv_blocks} blocks "
        f"({m.kv_tokens} tokens)",
        f"  max_model_len: {plan.max_model_len}",
    ]
    for family, device in plan.placement.items():
        lines.append(f"  placement: {family} on `{device}`")
    if plan.pp > 1:
        lines.append("  stages (memory per device):")
        for st in plan.stages:
            sm = st.memory
            send = f"; send: {st.send.method}" if st.send is not None else ""
            lines.append(f"    stage {st.index}: layers {st.layers[0]}-{st.layers[1] - 1}, weights "
                         f"{sm.weight_bytes / gb:.2f} GB, activations {sm.activation_bytes / gb:.2f} GB, kv "
                         f"{sm.kv_bytes_per_token} B/token, room for {sm.kv_blocks_derived} blocks{send}")
    lines.append("  operators:")
    width = max(len(item.op.name) for item in plan.lowering.ops)
    for item in plan.lowering.ops:
        lines.append(f"    {item.op.name:<{width}}  x{item.count:<4} {item.op.family:<11}  {item.method}")
    lines.append("  step time:" if plan.pp == 1 else "  step time (stages in turn, nothing overlapped):")
    bwidth = max(len(label) for label, _ in REFERENCE_BATCHES)
    for label, batch in REFERENCE_BATCHES:
        if batch.num_tokens > len(plan._token_us) - 1 or batch.num_seqs > len(plan._seq_us) - 1:
            continue
        line = f"    {label:<{bwidth}}  {plan.step_time_ns(batch) / 1e6:9.3f} ms"
        if plan.pp > 1:
            stages = " + ".join(f"{t / 1e6:.3f}" for t in plan.stage_times_ns(batch))
            sends = " + ".join(f"{t / 1e6:.3f}" for t in plan.stage_transfer_ns(batch))
            line += f"  (stages {stages} ms; sends {sends} ms)"
        lines.append(line)
    if plan.power is not None:
        pw = plan.power
        for d in pw.devices:
            figures = (f"active {d.active_w:g} W, idle {d.idle_w:.4g} W ({d.source})" if d.active_w is not None
                       and d.idle_w is not None else d.source)
            lines.append(f"  power: {d.device} x{d.count:g}: {figures}")
        lines.append(f"  power: links {pw.link_pj_per_bit:g} pJ/bit over {pw.link_bytes_per_token:,.0f} B/token and "
                     f"{pw.link_bytes_per_seq:,.0f} B/sequence; host {pw.host_w:.4g} W")
    if plan.fallbacks:
        lines.append("  fallbacks:")
        for fb in plan.fallbacks:
            lines.append(f"    {fb.op} x{fb.count}: {fb.reason}; priced by {fb.model}")
    else:
        lines.append("  fallbacks: none")
    return "\n".join(lines) + "\n"
