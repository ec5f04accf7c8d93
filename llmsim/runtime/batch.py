"""What one engine step computes, as the cost model needs to price it.

The scheduler fills a `BatchShape` per step; the compiled plan's `CostModel` turns it into a duration.
Only aggregate numbers cross this boundary (no request objects), so a cost model can be a few table
lookups and the runtime never reads hardware data itself.

Two more views of the same contract serve the parallel runtimes: a `StageCostModel` prices a batch
stage by stage (pipeline parallelism), and a `GroupCostModel` prices one lockstep step of several
data-parallel ranks together (attention data parallelism of a MoE model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class BatchShape:
    """The work of one forward pass over a mixed batch of decodes and prefill chunks."""

    __slots__ = ("decode_kv_max", "decode_kv_min", "decode_kv_sum", "n_decode", "num_seqs", "num_tokens", "prefills")

    def __init__(
        self,
        num_tokens: int,
        num_seqs: int,
        n_decode: int,
        decode_kv_sum: int,
        decode_kv_max: int,
        prefills: tuple[tuple[int, int], ...],
        decode_kv_min: int | None = None,
    ) -> None:
        self.num_tokens = num_tokens  # new tokens computed this step (decodes + prefill chunks)
        self.num_seqs = num_seqs  # sequences in the batch
        self.n_decode = n_decode  # sequences decoding one token
        self.decode_kv_sum = decode_kv_sum  # sum over decodes of the context attended (incl. the new token)
        self.decode_kv_max = decode_kv_max  # the longest such context
        # the shortest; with the mean and the longest it tells how uneven the contexts are
        self.decode_kv_min = decode_kv_max if decode_kv_min is None else decode_kv_min
        self.prefills = prefills  # (chunk tokens, tokens already cached before the chunk) per prefill

    @classmethod
    def decode(cls, n: int, kv: int) -> BatchShape:
        """`n` sequences decoding with `kv` tokens of context each."""
        return cls(n, n, n, n * kv, kv, ())

    @classmethod
    def prefill(cls, chunk: int, past: int = 0) -> BatchShape:
        """One prefill chunk of `chunk` tokens after `past` cached tokens."""
        return cls(chunk, 1, 0, 0, 0, ((chunk, past),))

    def __repr__(self) -> str:
        return (
            f"BatchShape(tokens={self.num_tokens}, seqs={self.num_seqs}, decode={self.n_decode}"
            f"x{self.decode_kv_sum // max(self.n_decode, 1)}, prefills={list(self.prefills)})"
        )


class CostModel(Protocol):
    """Prices a step. Implemented by the compiler's instance plan; deterministic and pure."""

    def step_time_ns(self, batch: BatchShape) -> int: ...


class StageCostModel(Protocol):
    """Prices a batch on a pipeline of stages. Deterministic and pure."""

    def stage_times_ns(self, batch: BatchShape) -> list[int]:
        """Each stage's compute for the batch, in stage order."""
        ...

    def stage_transfer_ns(self, batch: BatchShape) -> list[int]:
        """The send of the batch's activations from each stage to the next (one fewer than stages)."""
        ...

    def host_ns(self, batch: BatchShape) -> int:
        """Host time of the step (scheduling, input preparation, sampling), outside the stages."""
        ...


class GroupCostModel(Protocol):
    """Prices one step of data-parallel ranks that run in lockstep. Deterministic and pure."""

    def group_step_time_ns(self, batches: Sequence[BatchShape]) -> int:
        """The step's duration when each rank runs its batch (ranks with nothing to run left out)."""
        ...
