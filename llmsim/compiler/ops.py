"""Operators of the model graph: what each computes, per token or per sequence.

Operators are small frozen records (`msgspec.Struct`) so that identical ones (the same projection in every layer)
compare equal and are lowered once. Sizes are per rank once the graph is sharded.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

Per = Literal["token", "seq"]  # what `m` counts: new tokens of the step, or sequences in it


class Operator(Struct, frozen=True):
    name: str  # role in the layer: "qkv_proj", "attention", ...
    family: str  # breakdown family: gemm | attention | moe | collective | transfer | elementwise | memory

    def flops(self, m: int) -> float:
        return 0.0

    def weight_params(self) -> int:
        return 0

    def describe(self) -> str:
        return ""

    def with_name(self, name: str) -> Operator:
        return replace(self, name=name)


class Gemm(Operator, frozen=True):
    """y[m, n] = x[m, k] @ W[k, n]: `m` is tokens (or sequences for the LM head)."""

    n: int = 0
    k: int = 0
    per: Per = "token"
    bias: bool = False
    family: str = "gemm"

    def flops(self, m: int) -> float:
        return 2.0 * m * self.n * self.k

    def weight_params(self) -> int:
        return self.n * self.k + (self.n if self.bias else 0)

    def describe(self) -> str:
        return f"m={'seqs' if self.per == 'seq' else 'tokens'} n={self.n} k={self.k}" + (" +bias" if self.bias else "")


class Attention(Operator, frozen=True):
    """Causal self-attention over the paged KV cache (prefill chunks and decodes mixed)."""

    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    family: str = "attention"

    def describe(self) -> str:
        return f"heads={self.num_heads} kv_heads={self.num_kv_heads} head_dim={self.head_dim}"


class MLAttention(Operator, frozen=True):
    """Multi-head latent attention (DeepSeek-V2/V3) over a cache of one latent vector per token.

    Decode runs in the latent space (vLLM absorbs the up-projections): every head scores the cached
    `kv_lora_rank + qk_rope_head_dim` latent and reads back its `kv_lora_rank` part. Prefill runs as
    ordinary attention with query/key heads of `qk_nope + qk_rope` and value heads of `v_head_dim`.
    """

    num_heads: int = 0  # per rank
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    family: str = "attention"

    @property
    def latent_dim(self) -> int:
        """Elements cached per token and layer."""
        return self.kv_lora_rank + self.qk_rope_head_dim

    def describe(self) -> str:
        return (f"mla heads={self.num_heads} latent={self.kv_lora_rank}+{self.qk_rope_head_dim} "
                f"qk={self.qk_nope_head_dim}+{self.qk_rope_head_dim} v={self.v_head_dim}")


class MoE(Operator, frozen=True):
    """The routed experts of one MoE layer on one rank: top-k dispatch, the experts' gated MLPs
    (gate/up and down GEMMs), and the weighted combine of their outputs.

    `m` counts the tokens of the rank's own batch; `token_scale` more arrive from the other ranks of
    the expert-parallel group under attention data parallelism (dp ranks, each with its own batch),
    so the kernel sees m x token_scale tokens. Experts are split `moe_ep` ways (whole experts per
    rank) and each expert's intermediate dimension `moe_tp` ways.
    """

    hidden: int = 0
    inter: int = 0  # intermediate width of one expert on this rank (the model's / moe_tp)
    experts: int = 0  # experts of the model
    local_experts: int = 0  # experts held by this rank
    topk: int = 0
    moe_tp: int = 1
    moe_ep: int = 1
    token_scale: int = 1
    family: str = "moe"

    def flops(self, m: int) -> float:
        # every (token, expert) pair runs three GEMMs of hidden x inter; a rank gets 1/moe_ep of the pairs
        return 2.0 * m * self.token_scale * self.topk * 3 * self.hidden * self.inter / self.moe_ep

    def weight_params(self) -> int:
        return self.local_experts * 3 * self.hidden * self.inter

    def active_experts(self, tokens: float) -> float:
        """Expected distinct experts of the model that `tokens` tokens are routed to, under uniform
        top-k routing: each expert is missed by one token with probability 1 - k/E."""
        if tokens <= 0:
            return 0.0
        return self.experts * (1.0 - (1.0 - self.topk / self.experts) ** tokens)

    def describe(self) -> str:
        return (f"experts={self.local_experts}/{self.experts} topk={self.topk} hidden={self.hidden} "
                f"inter={self.inter} moe_tp={self.moe_tp} moe_ep={self.moe_ep}"
                + (f" tokens x{self.token_scale}" if self.token_scale != 1 else ""))


class Elementwise(Operator, frozen=True):
    """A memory-bound kernel priced by the bytes it moves per token (or per sequence).

    Its FLOPs are left out of FLOP counts: they are a few per byte, far below the GEMMs'.
    """

    bytes_per_item: int = 0
    params: int = 0
    per: Per = "token"
    family: str = "elementwise"

    def weight_params(self) -> int:
        return self.params

    def describe(self) -> str:
        unit = "seq" if self.per == "seq" else "token"
        return f"bytes/{unit}={self.bytes_per_item}" + (f" params={self.params}" if self.params else "")


class Embedding(Operator, frozen=True):
    """Token embedding lookup: a gather, no FLOPs."""

    vocab: int = 0
    hidden: int = 0
    bytes_per_item: int = 0
    family: str = "memory"

    def weight_params(self) -> int:
        return self.vocab * self.hidden

    def describe(self) -> str:
        return f"vocab={self.vocab} hidden={self.hidden}"


class Collective(Operator, frozen=True):
    """A collective over a group of ranks: `elements` per token (or per sequence) of `dtype_bytes` each.

    For `all_reduce` and `all_gather` the message is the whole buffer (nccl-tests' `size`); for
    `alltoall` it is what one rank sends (its own tokens' copies for every destination)."""

    kind: str = "all_reduce"  # all_reduce | all_gather | alltoall
    elements: int = 0
    dtype_bytes: int = 2
    group: int = 1
    per: Per = "token"
    family: str = "collective"

    def message_bytes(self, m: int) -> int:
        return m * self.elements * self.dtype_bytes

    def describe(self) -> str:
        unit = "seq" if self.per == "seq" else "token"
        return f"{self.kind} group={self.group} elements/{unit}={self.elements}"


class MoEAllToAll(Collective, frozen=True):
    """The dispatch (before the experts) or combine (after) of expert parallelism under attention data
    parallelism: every rank sends each of its tokens to the ranks holding its top-k experts."""

    kind: str = "alltoall"
    phase: str = "dispatch"  # dispatch | combine
    hidden: int = 0
    topk: int = 0
    experts: int = 0

    def describe(self) -> str:
        return f"alltoall {self.phase} group={self.group} elements/token={self.elements}"


class Transfer(Operator, frozen=True):
    """Activations sent point to point over a link: between pipeline stages, or to and from a device
    that placed operators run on. Priced by the link's latency and bandwidth."""

    bytes_per_item: int = 0
    per: Per = "token"
    link: str = ""  # the link's name, as the topology knows it
    family: str = "transfer"

    def describe(self) -> str:
        unit = "seq" if self.per == "seq" else "token"
        return f"bytes/{unit}={self.bytes_per_item} link={self.link}"
