"""The operator/dataflow graph of a model, built in networkx.

Nodes are named `embed`, `L<i>.<op>`, `final_norm`, `lm_head`, `sampler`, each carrying its `Operator`
as the `op` attribute and its layer index as `layer`; edges carry the activation bytes per token that
flow along them. The graph is unsharded here; `shard.py` rewrites it for tensor and expert
parallelism. A MoE layer replaces the dense MLP by the router GEMM, the routed experts and, where
the model has them, the shared experts; an MLA model (DeepSeek-V3) has latent-attention projections
instead of the fused QKV projection.
"""

from __future__ import annotations

import networkx as nx

from llmsim.compiler.models import DTYPE_BYTES, ModelConfig
from llmsim.compiler.ops import Attention, Elementwise, Embedding, Gemm, MLAttention, MoE, Operator

# Bytes an elementwise kernel moves, in units of (elements x dtype bytes) per token. These follow the
# fused kernels vLLM runs: fused_add_rms_norm reads x and the residual and writes both; rotary reads
# and writes q and k; silu_and_mul reads gate and up and writes their product.
NORM_TRAFFIC = 4
SAMPLER_PASSES = 3  # logits -> fp32 softmax -> sampling: three passes over fp32 logits per sequence


def build_graph(model: ModelConfig, dtype: str) -> nx.DiGraph:
    """One node per operator, layer by layer, in execution order."""
    a = DTYPE_BYTES[dtype]
    h, i = model.hidden_size, model.intermediate_size
    g = nx.DiGraph(model=model.name, architecture=model.architecture, dtype=dtype, tp=1)

    def add(node: str, op: Operator, layer: int | None, after: str | None, edge_bytes: int) -> str:
        g.add_node(node, op=op, layer=layer)
        if after is not None:
            g.add_edge(after, node, bytes_per_token=edge_bytes)
        return node

    prev = add("embed", Embedding("embed", vocab=model.vocab_size, hidden=h, bytes_per_item=2 * h * a), None, None, 0)
    hidden_bytes = h * a
    qkv_n = model.q_size + 2 * model.kv_size
    for layer in range(model.num_layers):
        p = f"L{layer}."
        layer_in = prev
        prev = add(p + "input_norm", Elementwise("input_norm", bytes_per_item=NORM_TRAFFIC * h * a, params=h),
                   layer, prev, hidden_bytes)
        if model.is_mla:
            prev = _mla_attention(add, model, a, layer, prev)
        else:
            prev = add(p + "qkv_proj", Gemm("qkv_proj", n=qkv_n, k=h, bias=model.qkv_bias), layer, prev,
                       hidden_bytes)
            if model.qk_norm:
                prev = add(p + "qk_norm", Elementwise("qk_norm", bytes_per_item=2 * (model.q_size + model.kv_size) * a,
                                                      params=2 * model.head_dim), layer, prev, qkv_n * a)
            prev = add(p + "rotary", Elementwise("rotary", bytes_per_item=2 * (model.q_size + model.kv_size) * a),
                       layer, prev, qkv_n * a)
            prev = add(p + "attention", Attention("attention", num_heads=model.num_heads,
                                                  num_kv_heads=model.num_kv_heads, head_dim=model.head_dim),
                       layer, prev, qkv_n * a)
            prev = add(p + "o_proj", Gemm("o_proj", n=h, k=model.q_size), layer, prev, model.q_size * a)
        norm = add(p + "post_attn_norm", Elementwise("post_attn_norm", bytes_per_item=NORM_TRAFFIC * h * a,
                                                     params=h), layer, prev, hidden_bytes)
        g.add_edge(layer_in, norm, bytes_per_token=hidden_bytes, residual=True)
        if model.is_moe_layer(layer):
            prev = _moe_block(add, model, a, layer, norm)
            continue
        prev = add(p + "gate_up_proj", Gemm("gate_up_proj", n=2 * i, k=h), layer, norm, hidden_bytes)
        prev = add(p + "act", Elementwise("act", bytes_per_item=3 * i * a), layer, prev, 2 * i * a)
        prev = add(p + "down_proj", Gemm("down_proj", n=h, k=i), layer, prev, i * a)
    prev = add("final_norm", Elementwise("final_norm", bytes_per_item=NORM_TRAFFIC * h * a, params=h),
               None, prev, hidden_bytes)
    lm_head = Gemm("lm_head", n=model.vocab_size, k=h, per="seq")
    prev = add("lm_head", lm_head, None, prev, hidden_bytes)
    add("sampler", Elementwise("sampler", bytes_per_item=SAMPLER_PASSES * model.vocab_size * 4, per="seq"),
        None, prev, model.vocab_size * 4)
    return g


def _mla_attention(add, model: ModelConfig, a: int, layer: int, prev: str) -> str:
    """DeepSeek's latent attention as vLLM runs it: one fused GEMM projects the hidden state to the q
    latent and the KV latent (with its rotary part), each latent is normalised, `q_b_proj` and
    `kv_b_proj` expand them per head (in decode `kv_b_proj`'s weights are absorbed into the query and
    the output instead; the same weights are read per token either way)."""
    p = f"L{layer}."
    h, heads = model.hidden_size, model.num_heads
    qk = model.qk_nope_head_dim + model.qk_rope_head_dim
    latent = model.kv_lora_rank + model.qk_rope_head_dim
    if model.q_lora_rank:
        prev = add(p + "qkv_a_proj", Gemm("qkv_a_proj", n=model.q_lora_rank + latent, k=h), layer, prev, h * a)
        prev = add(p + "q_a_norm", Elementwise("q_a_norm", bytes_per_item=2 * model.q_lora_rank * a,
                                               params=model.q_lora_rank), layer, prev, (model.q_lora_rank + latent) * a)
        prev = add(p + "q_b_proj", Gemm("q_b_proj", n=heads * qk, k=model.q_lora_rank), layer, prev,
                   model.q_lora_rank * a)
    else:
        prev = add(p + "q_proj", Gemm("q_proj", n=heads * qk, k=h), layer, prev, h * a)
        prev = add(p + "kv_a_proj", Gemm("kv_a_proj", n=latent, k=h), layer, prev, heads * qk * a)
    prev = add(p + "kv_a_norm", Elementwise("kv_a_norm", bytes_per_item=2 * model.kv_lora_rank * a,
                                            params=model.kv_lora_rank), layer, prev, latent * a)
    prev = add(p + "kv_b_proj", Gemm("kv_b_proj", n=heads * (model.qk_nope_head_dim + model.v_head_dim),
                                     k=model.kv_lora_rank), layer, prev, model.kv_lora_rank * a)
    prev = add(p + "rotary", Elementwise("rotary", bytes_per_item=2 * (heads + 1) * model.qk_rope_head_dim * a),
               layer, prev, heads * qk * a)
    prev = add(p + "attention", MLAttention("attention", num_heads=heads, kv_lora_rank=model.kv_lora_rank,
                                            qk_nope_head_dim=model.qk_nope_head_dim,
                                            qk_rope_head_dim=model.qk_rope_head_dim, v_head_dim=model.v_head_dim),
               layer, prev, (heads * qk + latent) * a)
    return add(p + "o_proj", Gemm("o_proj", n=h, k=heads * model.v_head_dim), layer, prev,
               heads * model.v_head_dim * a)


def _moe_block(add, model: ModelConfig, a: int, layer: int, prev: str) -> str:
    """Router GEMM, routed experts, then the shared experts (a dense gated MLP every token runs)."""
    p = f"L{layer}."
    h, e = model.hidden_size, model.num_experts
    prev = add(p + "router", Gemm("router", n=e, k=h), layer, prev, h * a)
    prev = add(p + "moe", MoE("moe", hidden=h, inter=model.moe_intermediate_size, experts=e, local_experts=e,
                              topk=model.experts_per_token), layer, prev, e * 4)
    s = model.shared_expert_intermediate_size
    if s:
        prev = add(p + "shared_gate_up_proj", Gemm("shared_gate_up_proj", n=2 * s, k=h), layer, prev, h * a)
        prev = add(p + "shared_act", Elementwise("shared_act", bytes_per_item=3 * s * a), layer, prev, 2 * s * a)
        prev = add(p + "shared_down_proj", Gemm("shared_down_proj", n=h, k=s), layer, prev, s * a)
    return prev


def ops_in_order(g: nx.DiGraph) -> list[tuple[str, Operator, int | None]]:
    """(node, operator, layer) in execution order (the order nodes were added)."""
    return [(node, data["op"], data["layer"]) for node, data in g.nodes(data=True)]


def weight_params(g: nx.DiGraph, model: ModelConfig | None = None) -> int:
    """Parameters held by one rank; the LM head shares the embedding when the model ties them."""
    total = sum(op.weight_params() for _, op, _ in ops_in_order(g))
    if model is not None and model.tie_word_embeddings:
        total -= g.nodes["lm_head"]["op"].weight_params()
    return total


def flops_per_token(g: nx.DiGraph, context: int = 0) -> float:
    """Forward FLOPs of one rank for one decoded token attending `context` cached tokens."""
    total = 0.0
    for _, op, _ in ops_in_order(g):
        total += op.flops(1)
        if isinstance(op, Attention):
            total += 4.0 * op.num_heads * op.head_dim * (context + 1)
        elif isinstance(op, MLAttention):  # scores over the latent, values from its kv_lora part
            total += 2.0 * op.num_heads * (op.latent_dim + op.kv_lora_rank) * (context + 1)
    return total
