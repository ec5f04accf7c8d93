"""Operators of the model graph: what each computes, per token or per sequence.

Operators are small frozen dataclasses so that identical ones (the same projection in every layer)
compare equal and are lowered once. Sizes are per rank once the graph is sharded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Per = Literal["token", "seq"]  # what `m` counts: new tokens of the step, or sequences in it


@dataclass(frozen=True)
class Operator:
    name: str  # role in the layer: "qkv_proj", "attention", ...
    family: str  # breakdown family: gemm | attention | collective | elementwise | memory

    def flops(self, m: int) -> float:
        return 0.0

    def weight_params(self) -> int:
        return 0

    def describe(self) -> str:
        return ""

    def with_name(self, name: str) -> Operator:
        return replace(self, name=name)


@dataclass(frozen=True)
class Gemm(Operator):
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


@dataclass(frozen=True)
class Attention(Operator):
    """Causal self-attention over the paged KV cache (prefill chunks and decodes mixed)."""

    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    family: str = "attention"

    def describe(self) -> str:
        return f"heads={self.num_heads} kv_heads={self.num_kv_heads} head_dim={self.head_dim}"


@dataclass(frozen=True)
class Elementwise(Operator):
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


@dataclass(frozen=True)
class Embedding(Operator):
    """Token embedding lookup: a gather, no FLOPs."""

    vocab: int = 0
    hidden: int = 0
    bytes_per_item: int = 0
    family: str = "memory"

    def weight_params(self) -> int:
        return self.vocab * self.hidden

    def describe(self) -> str:
        return f"vocab={self.vocab} hidden={self.hidden}"


@dataclass(frozen=True)
class Collective(Operator):
    """A collective over the TP group: `elements` per token (or per sequence) of `dtype_bytes` each."""

    kind: str = "all_reduce"  # all_reduce | all_gather
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
