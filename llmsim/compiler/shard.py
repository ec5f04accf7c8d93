"""Tensor, expert and attention-data parallelism: divide the operators, insert the collectives.

Tensor parallelism is Megatron-style, as vLLM implements it: QKV and gate/up projections are
column-parallel, O and down projections row-parallel and followed by an all-reduce; the embedding is
vocab-parallel (all-reduce of its output) and the LM head vocab-parallel (logits gathered). KV heads
fewer than the TP degree are replicated, one per rank. MLA (DeepSeek) splits its heads; the shared
latent projections and the latent KV cache are replicated on every rank, as vLLM does.

MoE layers run on all `tp x dp` ranks of an instance: their experts are split `ep` ways (whole
experts per rank) and each expert's intermediate dimension `tp x dp / ep` ways (vLLM's MoE TP), the
router is replicated. With `dp = 1` every rank of the TP group already holds the step's tokens, so
the experts' partial outputs are summed by the layer's all-reduce, exactly like a dense MLP (vLLM
with `enable_expert_parallel`: no all-to-all). With attention data parallelism (`dp > 1`) each of
the dp groups runs attention on its own batch, and the MoE layer is bracketed by an all-to-all
dispatch and combine over the `tp x dp` ranks; the experts then see the tokens of every group.
"""

from __future__ import annotations

import networkx as nx

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
)


class ShardError(ValueError):
    """The model cannot be split this way; the message says which dimension does not divide and `key`
    names the pool key to change (`tp`, `ep` or `dp`)."""

    def __init__(self, message: str, key: str = "tp"):
        self.key = key
        super().__init__(message)


def check_tp(model: ModelConfig, tp: int) -> None:
    if model.num_heads % tp:
        raise ShardError(
            f"tp = {tp} does not divide the {model.num_heads} attention heads of `{model.name}`"
        )
    if model.num_kv_heads % tp and tp % model.num_kv_heads:
        raise ShardError(
            f"tp = {tp} and the {model.num_kv_heads} KV heads of `{model.name}` do not divide one another"
        )
    if model.has_dense_mlp and model.intermediate_size % tp:
        raise ShardError(
            f"tp = {tp} does not divide the MLP size {model.intermediate_size} of `{model.name}`"
        )
    if model.shared_expert_intermediate_size % tp:
        raise ShardError(
            f"tp = {tp} does not divide the shared experts' size {model.shared_expert_intermediate_size} "
            f"of `{model.name}`"
        )


def check_parallel(model: ModelConfig, tp: int, ep: int = 1, dp: int = 1) -> None:
    """Raise ShardError (with the key to change) if the model cannot run at these degrees."""
    check_tp(model, tp)
    if not model.is_moe:
        if ep > 1:
            raise ShardError(f"ep = {ep} needs a mixture-of-experts model; `{model.name}` is dense", "ep")
        return
    ranks = tp * dp
    if ranks % ep:
        raise ShardError(
            f"ep = {ep} does not divide the {ranks} ranks (tp x dp) the experts of `{model.name}` are spread over",
            "ep")
    if model.num_experts % ep:
        raise ShardError(f"ep = {ep} does not divide the {model.num_experts} experts of `{model.name}`", "ep")
    moe_tp = ranks // ep
    if model.moe_intermediate_size % moe_tp:
        raise ShardError(
            f"tp x dp / ep = {moe_tp} does not divide the expert size {model.moe_intermediate_size} of "
            f"`{model.name}`", "ep")


def kv_heads_per_rank(model: ModelConfig, tp: int) -> int:
    return max(1, model.num_kv_heads // tp)


def shard_graph(g: nx.DiGraph, model: ModelConfig, tp: int, *, ep: int = 1, dp: int = 1) -> nx.DiGraph:
    """A new graph with per-rank operator sizes and the collectives; tp = dp = 1 returns a copy."""
    check_parallel(model, tp, ep, dp)
    if tp == 1 and dp == 1:
        return g.copy()
    a = DTYPE_BYTES[g.graph["dtype"]]
    h = model.hidden_size
    heads = model.num_heads // tp
    kv = kv_heads_per_rank(model, tp)
    d = model.head_dim
    q_size, kv_size = heads * d, kv * d
    moe_tp = tp * dp // ep
    out = nx.DiGraph(**{**g.graph, "tp": tp, "ep": ep, "dp": dp})
    renamed: dict[str, str] = {}  # node -> the node that now carries its output

    def sharded(op: Operator) -> Operator:
        name = op.name
        if isinstance(op, Gemm):
            if name == "qkv_proj":
                return Gemm(name, n=q_size + 2 * kv_size, k=op.k, bias=op.bias)
            if name in ("gate_up_proj", "shared_gate_up_proj", "q_b_proj", "kv_b_proj", "q_proj"):
                return Gemm(name, n=op.n // tp, k=op.k)
            if name in ("o_proj", "down_proj", "shared_down_proj"):
                return Gemm(name, n=op.n, k=op.k // tp)
            if name == "lm_head":
                return Gemm(name, n=-(-op.n // tp), k=op.k, per="seq")
            return op  # router, qkv_a_proj, kv_a_proj: replicated
        if isinstance(op, Attention):
            return Attention(name, num_heads=heads, num_kv_heads=kv, head_dim=d)
        if isinstance(op, MLAttention):
            return MLAttention(name, num_heads=heads, kv_lora_rank=op.kv_lora_rank,
                               qk_nope_head_dim=op.qk_nope_head_dim, qk_rope_head_dim=op.qk_rope_head_dim,
                               v_head_dim=op.v_head_dim)
        if isinstance(op, MoE):
            return MoE(name, hidden=op.hidden, inter=op.inter // moe_tp, experts=op.experts,
                       local_experts=op.experts // ep, topk=op.topk, moe_tp=moe_tp, moe_ep=ep, token_scale=dp)
        if isinstance(op, Embedding):
            return Embedding(name, vocab=-(-op.vocab // tp), hidden=op.hidden, bytes_per_item=op.bytes_per_item)
        if isinstance(op, Elementwise):
            if name == "qk_norm":
                return Elementwise(name, bytes_per_item=2 * (q_size + kv_size) * a, params=op.params)
            if name == "rotary":
                if model.is_mla:
                    return Elementwise(name, bytes_per_item=2 * (heads + 1) * model.qk_rope_head_dim * a)
                return Elementwise(name, bytes_per_item=2 * (q_size + kv_size) * a)
            if name in ("act", "shared_act"):
                return Elementwise(name, bytes_per_item=op.bytes_per_item // tp)
        return op

    def allreduce(name: str) -> Collective:
        return Collective(name, kind="all_reduce", elements=h, dtype_bytes=a, group=tp)

    def a2a(phase: str) -> MoEAllToAll:
        return MoEAllToAll(f"moe_{phase}", phase=phase, elements=model.experts_per_token * h // tp,
                           dtype_bytes=a, group=tp * dp, hidden=h, topk=model.experts_per_token,
                           experts=model.num_experts)

    def collectives_before(op: Operator) -> list[Collective]:
        return [a2a("dispatch")] if isinstance(op, MoE) and dp > 1 else []

    def collectives_after(op: Operator) -> list[Collective]:
        out_: list[Collective] = []
        if isinstance(op, MoE) and dp > 1:
            out_.append(a2a("combine"))
        block_end = op.name == "shared_down_proj" or (isinstance(op, MoE) and not model.shared_expert_intermediate_size)
        if tp > 1 and (op.name in ("o_proj", "down_proj", "embed") or block_end):
            out_.append(allreduce("moe_allreduce" if block_end else f"{op.name}_allreduce"))
        if tp > 1 and op.name == "lm_head":
            out_.append(Collective("lm_head_gather", kind="all_gather", elements=model.vocab_size,
                                   dtype_bytes=a, group=tp, per="seq"))
        return out_

    def add_collective(coll: Collective, prefix: str, layer: int | None, src: str) -> str:
        cnode = prefix + coll.name
        out.add_node(cnode, op=coll, layer=layer)
        out.add_edge(src, cnode, bytes_per_token=coll.elements * a)
        return cnode

    for node, data in g.nodes(data=True):
        op = sharded(data["op"])
        layer = data["layer"]
        prefix = f"L{layer}." if layer is not None else ""
        preds = [(renamed.get(pred, pred), g.edges[pred, node]) for pred in g.predecessors(node)]
        for coll in collectives_before(op):
            cnode = prefix + coll.name
            out.add_node(cnode, op=coll, layer=layer)
            for src, attrs in preds:
                out.add_edge(src, cnode, **attrs)
            preds = [(cnode, {"bytes_per_token": h * a})]
        out.add_node(node, op=op, layer=layer)
        for src, attrs in preds:
            out.add_edge(src, node, **attrs)
        last = node
        for coll in collectives_after(op):
            last = add_collective(coll, prefix, layer, last)
        renamed[node] = last
    return out
