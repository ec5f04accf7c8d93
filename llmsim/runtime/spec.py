"""What the runtime simulates: instances (with their cost model) and routers over them.

The compiler builds a `ClusterSpec` from the checked spec and its instance plans; tests build one by
hand with a fake cost model. Everything here is plain configuration: no simulation state.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmsim.runtime.batch import CostModel


@dataclass(frozen=True)
class InstanceSpec:
    """One serving engine instance: its cost model, KV cache and scheduler settings."""

    name: str  # "main[0]"
    pool: str  # "main"
    cost: CostModel
    num_kv_blocks: int  # usable KV blocks (vLLM's num_gpu_blocks minus its one null block)
    block_size: int  # tokens per KV block
    max_num_seqs: int
    max_num_batched_tokens: int
    chunked_prefill: bool
    long_prefill_token_threshold: int  # 0 = none
    max_model_len: int
    prefix_caching: bool
    scheduler: str = "vllm"
    # vLLM's `async_scheduling`: the next step is scheduled while this one runs, so a step's
    # outputs (finished requests, freed blocks) reach the scheduler one step later.
    async_scheduling: bool = False
    # vLLM's `scheduler_reserve_full_isl`: admit a waiting request only if its whole current
    # sequence fits in the free blocks, not merely its first chunk.
    reserve_full_isl: bool = False

    def __post_init__(self) -> None:
        for field in (
            "num_kv_blocks",
            "block_size",
            "max_num_seqs",
            "max_num_batched_tokens",
            "max_model_len",
        ):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"instance {self.name}: {field} must be a positive integer, got {value!r}")
        if self.long_prefill_token_threshold < 0:
            raise ValueError(f"instance {self.name}: long_prefill_token_threshold must be >= 0")
        if not self.chunked_prefill and self.max_num_batched_tokens < self.max_model_len:
            # vLLM refuses this configuration too: a long prompt could never be scheduled.
            raise ValueError(
                f"instance {self.name}: without chunked prefill, max_num_batched_tokens "
                f"({self.max_num_batched_tokens}) must be at least max_model_len ({self.max_model_len})"
            )


@dataclass(frozen=True)
class RouterSpec:
    """A router: a policy name and the instances it spreads requests over."""

    name: str
    policy: str
    instances: tuple[int, ...]  # indices into ClusterSpec.instances

    def __post_init__(self) -> None:
        if not self.instances:
            raise ValueError(f"router {self.name}: no instances")


@dataclass(frozen=True)
class ClusterSpec:
    instances: tuple[InstanceSpec, ...]
    routers: dict[str, RouterSpec]

    def __post_init__(self) -> None:
        n = len(self.instances)
        for router in self.routers.values():
            for i in router.instances:
                if not 0 <= i < n:
                    raise ValueError(f"router {router.name}: instance index {i} out of range (0..{n - 1})")
