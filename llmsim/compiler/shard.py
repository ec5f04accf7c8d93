"""Tensor-parallel sharding: divide heads and hidden dimensions, insert the collectives TP needs.

Follows Megatron-style TP as vLLM implements it: QKV and gate/up projections are column-parallel,
O and down projections row-parallel and followed by an all-reduce; the embedding is vocab-parallel
(all-reduce of its output) and the LM head vocab-parallel (logits gathered). KV heads fewer than the
TP degree are replicated, one per rank.
"""

from __future__ import annotations

import networkx as nx

from llmsim.compiler.models import DTYPE_BYTES, ModelConfig
from llmsim.compiler.ops import Attention, Collective, Elementwise, Embedding, Gemm, Operator


class ShardError(ValueError):
    """The model cannot be split this way; the message says which dimension does not divide."""


def check_tp(model: ModelConfig, tp: int) -> None:
    if model.num_heads % tp:
        raise ShardError(
            f"tp = {tp} does not divide the {model.num_heads} attention heads of `{model.name}`"
        )
    if model.num_kv_heads % tp and tp % model.num_kv_heads:
        raise ShardError(
            f"tp = {tp} and the {model.num_kv_heads} KV heads of `{model.name}` do not divide one another"
        )
    if model.intermediate_size % tp:
        raise ShardError(
            f"tp = {tp} does not divide the MLP size {model.intermediate_size} of `{model.name}`"
        )


def kv_heads_per_rank(model: ModelConfig, tp: int) -> int:
    return max(1, model.num_kv_heads // tp)


def shard_graph(g: nx.DiGraph, model: ModelConfig, tp: int) -> nx.DiGraph:
    """A new graph with per-rank operator sizes and the TP collectives; tp = 1 returns a copy."""
    check_tp(model, tp)
    if tp == 1:
        return g.copy()
    a = DTYPE_BYTES[g.graph["dtype"]]
    heads = model.num_heads // tp
    kv = kv_heads_per_rank(model, tp)
    d = model.head_dim
    q_size, kv_size = heads * d, kv * d
    out = nx.DiGraph(**{**g.graph, "tp": tp})
    renamed: dict[str, str] = {}  # node -> the node that now carries its output

    def sharded(op: Operator) -> Operator:
        name = op.name
        if isinstance(op, Gemm):
            if name == "qkv_proj":
                return Gemm(name, n=q_size + 2 * kv_size, k=op.k, bias=op.bias)
            if name == "gate_up_proj":
                return Gemm(name, n=op.n // tp, k=op.k)
            if name in ("o_proj", "down_proj"):
                return Gemm(name, n=op.n, k=op.k // tp)
            if name == "lm_head":
                return Gemm(name, n=-(-op.n // tp), k=op.k, per="seq")
        if isinstance(op, Attention):
            return Attention(name, num_heads=heads, num_kv_heads=kv, head_dim=d)
        if isinstance(op, Embedding):
            return Embedding(name, vocab=-(-op.vocab // tp), hidden=op.hidden, bytes_per_item=op.bytes_per_item)
        if isinstance(op, Elementwise):
            if name == "qk_norm":
                return Elementwise(name, bytes_per_item=2 * (q_size + kv_size) * a, params=op.params)
            if name == "rotary":
                return Elementwise(name, bytes_per_item=2 * (q_size + kv_size) * a)
            if name == "act":
                return Elementwise(name, bytes_per_item=op.bytes_per_item // tp)
        return op

    def collective_after(node: str, op: Operator) -> Collective | None:
        if op.name in ("o_proj", "down_proj", "embed"):
            return Collective(f"{op.name}_allreduce", kind="all_reduce", elements=model.hidden_size,
                              dtype_bytes=a, group=tp)
        if op.name == "lm_head":
            return Collective("lm_head_gather", kind="all_gather", elements=model.vocab_size,
                              dtype_bytes=a, group=tp, per="seq")
        return None

    for node, data in g.nodes(data=True):
        op = sharded(data["op"])
        out.add_node(node, op=op, layer=data["layer"])
        for pred in g.predecessors(node):
            out.add_edge(renamed.get(pred, pred), node, **g.edges[pred, node])
        coll = collective_after(node, op)
        renamed[node] = node
        if coll is not None:
            prefix = f"L{data['layer']}." if data["layer"] is not None else ""
            cnode = prefix + coll.name
            out.add_node(cnode, op=coll, layer=data["layer"])
            out.add_edge(node, cnode, bytes_per_token=model.hidden_size * a)
            renamed[node] = cnode
    return out
