"""Memory plan per device: weights, activation peak, runtime reserve, and the KV blocks that remain.

Mirrors how vLLM sizes its KV cache: of `gpu_memory_utilization x capacity`, what weights, the peak
activation of a profile forward pass at `max_num_batched_tokens` and non-torch runtime memory leave
is KV cache, in whole blocks. Under pipeline parallelism each stage's devices are planned with the
stage's own layers, and the instance holds the fewest blocks any stage can (vLLM takes the minimum
over its workers). When attention is placed on another device the KV cache lives there: it gets
that device's capacity x `gpu_memory_utilization`, and the pool's devices keep weights and
activations only.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from msgspec import Struct

from llmsim.compiler.models import DTYPE_BYTES, ModelConfig
from llmsim.compiler.ops import Attention, Gemm, MLAttention, MoE

if TYPE_CHECKING:
    import networkx as nx

# The graph passes (networkx) are imported inside the functions that walk a graph: a plan loaded
# from the compiled-spec cache needs `MemoryPlan` alone.

# Non-torch memory of a vLLM process (CUDA context, cuBLAS and NCCL workspaces, CUDA graphs), in bytes.
# Source: the real vLLM 0.19 run on an RTX 4090 in shared/data/validation/llmservingsim-bench: of
# 0.9 x 25,250,627,584 B, weights took 16.06 GB and 2,588 KV blocks 5.43 GB, leaving 1.24 GB, of
# which the activation estimate below accounts for 0.34 GB.
RUNTIME_RESERVE_BYTES = 900_000_000

# Logits of the profile run are kept in fp32 for `max_num_seqs` sequences.
LOGITS_BYTES = 4


class MemoryPlan(Struct, frozen=True):
    capacity_bytes: int
    usable_bytes: int  # capacity x gpu_memory_utilization
    weight_bytes: int
    activation_bytes: int
    reserve_bytes: int
    kv_bytes_per_token: int
    block_size: int
    kv_blocks: int  # may be given by the spec (num_blocks) instead of derived
    kv_blocks_derived: int
    kv_device: str | None = None  # where the KV cache lives when not on the pool's devices
    kv_capacity_bytes: int | None = None  # that device's capacity (per rank)

    @property
    def kv_bytes_per_block(self) -> int:
        return self.kv_bytes_per_token * self.block_size

    @property
    def kv_tokens(self) -> int:
        return self.kv_blocks * self.block_size


def weight_bytes(g: nx.DiGraph, model: ModelConfig) -> int:
    """Bytes of weights on one rank. FP8 models keep the embedding, LM head, MoE router and norms in
    bf16 (vLLM quantises neither the LM head nor the routers' gate)."""
    dtype = g.graph["dtype"]
    total = 0
    from llmsim.compiler.graph import ops_in_order

    for node, op, _ in ops_in_order(g):
        if node == "lm_head" and model.tie_word_embeddings:
            continue
        quantised = (isinstance(op, Gemm) and op.name not in ("lm_head", "router")) or isinstance(op, MoE)
        per_param = DTYPE_BYTES[dtype] if quantised or dtype != "fp8" else DTYPE_BYTES["bf16"]
        total += op.weight_params() * per_param
    return total


def kv_bytes_per_token(model: ModelConfig, tp: int, kv_dtype: str, layers: int | None = None) -> int:
    """K and V of every layer (or `layers` of them) for one token, on one rank. MLA caches one latent
    vector of kv_lora_rank + qk_rope_head_dim per layer instead, the same on every TP rank."""
    n = model.num_layers if layers is None else layers
    if model.is_mla:
        return n * (model.kv_lora_rank + model.qk_rope_head_dim) * DTYPE_BYTES[kv_dtype]
    from llmsim.compiler.shard import kv_heads_per_rank

    return 2 * n * kv_heads_per_rank(model, tp) * model.head_dim * DTYPE_BYTES[kv_dtype]


def attention_layers(g: nx.DiGraph) -> int:
    """Layers whose attention (and so KV cache) a graph, or one pipeline stage of it, holds."""
    from llmsim.compiler.graph import ops_in_order

    return sum(1 for _, op, _ in ops_in_order(g) if isinstance(op, (Attention, MLAttention)))


def activation_bytes(g: nx.DiGraph, model: ModelConfig, max_tokens: int, max_seqs: int) -> int:
    """Peak live activations of the profile forward: hidden state and residual, the widest GEMM output
    with the MLP's activation output beside it, and the fp32 logits of `max_seqs` sequences."""
    a = DTYPE_BYTES[g.graph["dtype"]]
    widest = 0
    mlp_out = 0
    lm_head_n = 0
    from llmsim.compiler.graph import ops_in_order

    for node, op, _ in ops_in_order(g):
        if isinstance(op, Gemm):
            if node == "lm_head":
                lm_head_n = op.n
            else:
                widest = max(widest, op.n)
            if op.name == "gate_up_proj":
                mlp_out = max(mlp_out, op.n // 2)
        elif isinstance(op, MoE):
            # fused MoE keeps every (token, expert) pair's gate/up output and its activation
            widest = max(widest, op.topk * 2 * op.inter)
            mlp_out = max(mlp_out, op.topk * op.inter)
    per_token = 2 * model.hidden_size + widest + mlp_out
    return max_tokens * per_token * a + max_seqs * lm_head_n * LOGITS_BYTES


def plan_memory(g: nx.DiGraph, model: ModelConfig, *, tp: int, kv_dtype: str, capacity_bytes: int,
                utilization: Fraction, block_size: int, max_tokens: int, max_seqs: int,
                num_blocks: int | None, layers: int | None = None, kv_device: str | None = None,
                kv_capacity_bytes: int | None = None) -> MemoryPlan:
    """The memory plan of one device; `layers` (default: all) are those whose KV cache it holds, and
    with `kv_device` the KV cache lives on that device's `kv_capacity_bytes` instead."""
    usable = int(capacity_bytes * utilization)
    weights = weight_bytes(g, model)
    activations = activation_bytes(g, model, max_tokens, max_seqs)
    per_token = kv_bytes_per_token(model, tp, kv_dtype, layers)
    free = usable - weights - activations - RUNTIME_RESERVE_BYTES
    if kv_device is not None and kv_capacity_bytes is not None and free >= 0:
        free = int(kv_capacity_bytes * utilization)
    derived = max(0, free // (per_token * block_size))
    return MemoryPlan(
        capacity_bytes=capacity_bytes,
        usable_bytes=usable,
        weight_bytes=weights,
        activation_bytes=activations,
        reserve_bytes=RUNTIME_RESERVE_BYTES,
        kv_bytes_per_token=per_token,
        block_size=block_size,
        kv_blocks=num_blocks if num_blocks is not None else derived,
        kv_blocks_derived=derived,
        kv_device=kv_device,
        kv_capacity_bytes=kv_capacity_bytes,
    )
