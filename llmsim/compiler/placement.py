"""Operator placement: run operator families on another device than the pool's, with the transfers
their inputs and outputs need.

`place { attention = aim }` moves every attention operator of the instance to device `aim` (a PIM
device attached to each node, as LLMServingSim's attention offload does). Each rank of the pool uses
its share of the attached devices (`attach { count }` over the node's `count`), and the KV cache
moves with attention. A run of consecutive operators on the placed device receives its input over
the link between the two devices before it (`<op>.to_<device>`) and sends its output back after it
(`<op>.from_<device>`); consecutive placed operators exchange nothing. Collectives stay on the
pool's devices. Bytes per token (per sequence for the LM head and sampler) at a run's boundary, on
one rank:

| first / last operator of the run | into the device | back from it |
| --- | --- | --- |
| attention | q, k and v: (heads + 2 KV heads) x head_dim | the attention output: heads x head_dim |
| latent attention (MLA) | q: heads x (qk_nope + qk_rope), and the new latent | heads x v_head_dim |
| a GEMM (`gate_up_proj`, `router`, `lm_head`, ...) | its input: k | its output: n |
| the routed experts | the hidden state | the hidden state |
| embedding | the token id (4 bytes) | the hidden state |
| sampler | the fp32 logits of one sequence | the sampled token id (4 bytes) |

Elements are of the model dtype. A placement on the pool's own device (its `use hardware` alias, or a
`device` block naming that entry without overriding it) changes nothing.
"""

from __future__ import annotations

import networkx as nx

from llmsim.compiler.graph import SAMPLER_PASSES
from llmsim.compiler.models import DTYPE_BYTES
from llmsim.compiler.ops import Attention, Elementwise, Embedding, Gemm, MLAttention, MoE, Operator, Transfer

# `place` key -> the graph operators it moves.
FAMILIES: dict[str, frozenset[str]] = {
    "embed": frozenset({"embed"}),
    "attention": frozenset({"attention"}),
    "mlp": frozenset({"gate_up_proj", "act", "down_proj"}),
    "moe": frozenset({"router", "moe", "shared_gate_up_proj", "shared_act", "shared_down_proj"}),
    "lm_head": frozenset({"lm_head"}),
    "sampler": frozenset({"sampler"}),
}
TOKEN_ID_BYTES = 4


def io_bytes(op: Operator, a: int) -> tuple[int, int]:
    """(bytes into, bytes out of) an operator per token (per sequence for per-sequence operators)."""
    if isinstance(op, Attention):
        return (op.num_heads + 2 * op.num_kv_heads) * op.head_dim * a, op.num_heads * op.head_dim * a
    if isinstance(op, MLAttention):
        qk = op.qk_nope_head_dim + op.qk_rope_head_dim
        return (op.num_heads * qk + op.latent_dim) * a, op.num_heads * op.v_head_dim * a
    if isinstance(op, Gemm):
        return op.k * a, op.n * a
    if isinstance(op, MoE):
        return op.hidden * a, op.hidden * a
    if isinstance(op, Embedding):
        return TOKEN_ID_BYTES, op.hidden * a
    if isinstance(op, Elementwise) and op.name == "sampler":
        return op.bytes_per_item // SAMPLER_PASSES, TOKEN_ID_BYTES
    if isinstance(op, Elementwise):
        return op.bytes_per_item // 2, op.bytes_per_item // 2
    raise TypeError(f"no placement rule for {type(op).__name__}")


def place_operators(g: nx.DiGraph, placed: dict[str, str], links: dict[str, str]) -> nx.DiGraph:
    """A copy of `g` whose placed operators carry their device in the `device` attribute, with the
    transfers to and from it inserted. `placed` maps a `place` key to a device; `links` a device to
    the name of the link that reaches it."""
    if not placed:
        return g
    a = DTYPE_BYTES[g.graph["dtype"]]
    device_of_name = {name: dev for family, dev in placed.items() for name in FAMILIES[family]}
    order = list(g.nodes(data=True))
    devices = [device_of_name.get(data["op"].name) if data["op"].family != "collective" else None
               for _, data in order]
    out = nx.DiGraph(**g.graph)
    renamed: dict[str, str] = {}
    for i, (node, data) in enumerate(order):
        op, layer, dev = data["op"], data["layer"], devices[i]
        prefix = f"L{layer}." if layer is not None else ""
        preds = [(renamed.get(p, p), g.edges[p, node]) for p in g.predecessors(node)]
        per = getattr(op, "per", "token")
        if dev is not None and (i == 0 or devices[i - 1] != dev):
            t = Transfer(f"{op.name}.to_{dev}", bytes_per_item=io_bytes(op, a)[0], per=per, link=links[dev])
            tnode = f"{prefix}{t.name}"
            out.add_node(tnode, op=t, layer=layer)
            for src, attrs in preds:
                out.add_edge(src, tnode, **attrs)
            preds = [(tnode, {"bytes_per_token": t.bytes_per_item})]
        out.add_node(node, **data, **({"device": dev} if dev is not None else {}))
        for src, attrs in preds:
            out.add_edge(src, node, **attrs)
        renamed[node] = node
        if dev is not None and (i == len(order) - 1 or devices[i + 1] != dev):
            t = Transfer(f"{op.name}.from_{dev}", bytes_per_item=io_bytes(op, a)[1], per=per, link=links[dev])
            tnode = f"{prefix}{t.name}"
            out.add_node(tnode, op=t, layer=layer)
            out.add_edge(node, tnode, bytes_per_token=t.bytes_per_item)
            renamed[node] = tnode
    return out
