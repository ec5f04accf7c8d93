"""What the runtime simulates: instances (with their cost model) and routers over them.

The compiler builds a `ClusterSpec` from the checked spec and its instance plans; tests build one by
hand with a fake cost model. Everything here is plain configuration: no simulation state.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from msgspec import Struct, field

from llmsim.runtime.batch import CostModel, GroupCostModel, StageCostModel

ROLES = ("unified", "prefill", "decode")


class LinkSpec(Struct, frozen=True):
    """A kind of link: bandwidth per direction (bytes/s, exact) and one-way latency.

    Transfers over one link share its bandwidth equally; an uncontended transfer of `n` bytes takes
    `latency_ns + ceil(n * 1e9 / bandwidth)` ns (see transfer.py)."""

    name: str
    bandwidth_bytes_per_s: Fraction | int
    latency_ns: int = 0
    kind: str = "network"

    def __post_init__(self) -> None:
        if self.bandwidth_bytes_per_s <= 0:
            raise ValueError(f"link {self.name}: bandwidth must be positive")
        if self.latency_ns < 0:
            raise ValueError(f"link {self.name}: latency must be >= 0")


class TierSpec(Struct, frozen=True):
    """A KV tier below device memory (host DRAM, CXL memory, SSD, a remote store).

    `capacity_bytes` and `link` cover a whole instance (all its tensor-parallel ranks). With
    `shared`, instances whose specs name the same tier share one store and one link; otherwise each
    instance gets its own copy of the tier."""

    name: str  # "main.cpu": the pool's tier; per-instance copies are named after the instance
    medium: str  # "cpu" | "cxl" | "ssd" | "remote"
    capacity_bytes: int
    link: LinkSpec
    shared: bool = False
    eviction: str = "lru"  # an eviction policy registered in llmsim.runtime.eviction

    def __post_init__(self) -> None:
        if self.capacity_bytes < 1:
            raise ValueError(f"tier {self.name}: capacity must be positive")


class SpeculativeSpec(Struct, frozen=True):
    """Speculative decoding on an instance: every decode step proposes `tokens` draft tokens per
    decoding sequence and verifies them in one target pass; each proposal is accepted with
    probability `acceptance`, independently, until the first rejection. The instance's `cost`
    prices a step from the scheduler's `BatchShape` (decodes counted one token each) with the
    draft passes and the verification (the compiler's `SpeculativeCost`)."""

    tokens: int  # k: proposals per decoding sequence per step
    acceptance: float  # a: probability that a proposal is accepted

    def __post_init__(self) -> None:
        if self.tokens < 1:
            raise ValueError(f"speculative decoding needs tokens >= 1, got {self.tokens}")
        if not 0.0 <= self.acceptance <= 1.0:
            raise ValueError(f"speculative acceptance must be in [0, 1], got {self.acceptance}")

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens a decoding sequence gains per step: (1 - a^(k+1)) / (1 - a), k + 1 at a = 1."""
        a, k = self.acceptance, self.tokens
        return float(k + 1) if a == 1.0 else (1.0 - a ** (k + 1)) / (1.0 - a)


class InstanceSpec(Struct, frozen=True):
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
    # Prefill/decode disaggregation: a `prefill` instance hands each request to a decode instance
    # after its first token; a `decode` instance only receives such requests.
    role: str = "unified"
    tp: int = 1  # tensor-parallel ranks (KV moves over one link per rank, in parallel)
    kv_bytes_per_token: int = 0  # KV bytes of one token on one rank (the compiler's memory plan)
    tiers: tuple[TierSpec, ...] = ()  # KV tiers below device memory, fastest first
    # Pipeline parallelism: with `stages`, up to `pp` batches are in flight, each passing the
    # stages in order (priced by `stages`); without, a step is one `cost.step_time_ns`.
    pp: int = 1
    stages: StageCostModel | None = None
    speculative: SpeculativeSpec | None = None  # speculative decoding (draft tokens per step)

    def __post_init__(self) -> None:
        for name in (
            "num_kv_blocks",
            "block_size",
            "max_num_seqs",
            "max_num_batched_tokens",
            "max_model_len",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"instance {self.name}: {name} must be a positive integer, got {value!r}")
        if self.long_prefill_token_threshold < 0:
            raise ValueError(f"instance {self.name}: long_prefill_token_threshold must be >= 0")
        if self.role not in ROLES:
            raise ValueError(f"instance {self.name}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if self.tp < 1 or self.kv_bytes_per_token < 0:
            raise ValueError(f"instance {self.name}: tp must be >= 1 and kv_bytes_per_token >= 0")
        if self.tiers and self.kv_bytes_per_token == 0:
            raise ValueError(f"instance {self.name}: KV tiers need kv_bytes_per_token to size their blocks")
        for tier in self.tiers:
            if tier.capacity_bytes < self.block_bytes:
                raise ValueError(f"instance {self.name}: tier {tier.name} holds less than one KV block "
                                 f"({self.block_bytes} bytes)")
        if self.pp < 1 or (self.pp > 1 and self.stages is None):
            raise ValueError(f"instance {self.name}: pp must be >= 1, and pp > 1 needs a stage cost model")
        if self.speculative is not None and self.stages is not None:
            raise ValueError(f"instance {self.name}: speculative decoding with pipeline parallelism is not supported")
        if self.speculative is not None and self.speculative.tokens >= self.max_num_batched_tokens:
            raise ValueError(f"instance {self.name}: {self.speculative.tokens} speculative tokens per decode "
                             f"leave no room in max_num_batched_tokens ({self.max_num_batched_tokens})")
        if not self.chunked_prefill and self.max_num_batched_tokens < self.max_model_len:
            # vLLM refuses this configuration too: a long prompt could never be scheduled.
            raise ValueError(
                f"instance {self.name}: without chunked prefill, max_num_batched_tokens "
                f"({self.max_num_batched_tokens}) must be at least max_model_len ({self.max_model_len})"
            )

    @property
    def block_bytes(self) -> int:
        """Bytes of one KV block over all ranks: what a tier stores and a tier link moves per block."""
        return self.kv_bytes_per_token * self.tp * self.block_size


class RouterSpec(Struct, frozen=True):
    """A router: a policy name, the instances it spreads requests over, and policy options
    (`slo_aware`: `ttft_ns`; `prefix_affinity`: `cache_threshold`, `balance_abs`, `balance_rel`)."""

    name: str
    policy: str
    instances: tuple[int, ...]  # indices into ClusterSpec.instances
    options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.instances:
            raise ValueError(f"router {self.name}: no instances")


class HandoffSpec(Struct, frozen=True):
    """Prefill/decode disaggregation: `prefill` instances send each request's KV over `link` to the
    decode instance `decode_router` picks among its instances.

    `link` is a kind: every prefill instance gets one sending link of it and every decode instance
    one receiving link (standing for one link per tensor-parallel rank, all used in parallel)."""

    name: str  # the disaggregated pool, e.g. "main"
    prefill: tuple[int, ...]  # indices of prefill instances
    decode_router: RouterSpec  # over decode instances
    link: LinkSpec

    def __post_init__(self) -> None:
        if not self.prefill:
            raise ValueError(f"handoff {self.name}: no prefill instances")


class LockstepSpec(Struct, frozen=True):
    """Data-parallel ranks that step in lockstep (attention data parallelism of a MoE model, whose
    expert layers exchange every rank's tokens): their steps start and end together, a rank with
    nothing to run runs an empty (dummy) step, and `cost` prices each step from the ranks' batches."""

    name: str  # "main[0..7]"
    instances: tuple[int, ...]  # indices into ClusterSpec.instances
    cost: GroupCostModel

    def __post_init__(self) -> None:
        if not self.instances:
            raise ValueError(f"lockstep group {self.name}: no instances")


class ClusterSpec(Struct, frozen=True):
    instances: tuple[InstanceSpec, ...]
    routers: dict[str, RouterSpec]
    handoffs: tuple[HandoffSpec, ...] = ()
    seed: int = 0  # seeds the routers that draw random numbers, and speculative acceptance
    lockstep: tuple[LockstepSpec, ...] = ()  # groups of data-parallel ranks stepping together

    def __post_init__(self) -> None:
        n = len(self.instances)
        grouped: set[int] = set()
        for g in self.lockstep:
            for i in g.instances:
                if not 0 <= i < n:
                    raise ValueError(f"lockstep group {g.name}: instance index {i} out of range (0..{n - 1})")
                if i in grouped:
                    raise ValueError(f"lockstep group {g.name}: instance {self.instances[i].name} is in two groups")
                if self.instances[i].stages is not None:
                    raise ValueError(f"lockstep group {g.name}: instance {self.instances[i].name} is pipelined "
                                     "(pipelined ranks in lockstep are not supported)")
                grouped.add(i)
        for router in (*self.routers.values(), *(h.decode_router for h in self.handoffs)):
            for i in router.instances:
                if not 0 <= i < n:
                    raise ValueError(f"router {router.name}: instance index {i} out of range (0..{n - 1})")
        senders: set[int] = set()
        for h in self.handoffs:
            for i in h.prefill:
                if not 0 <= i < n or self.instances[i].role != "prefill":
                    raise ValueError(f"handoff {h.name}: instance {i} is not a prefill instance")
                if i in senders:
                    raise ValueError(f"handoff {h.name}: prefill instance {i} hands off twice")
                senders.add(i)
            for i in h.decode_router.instances:
                if self.instances[i].role != "decode":
                    raise ValueError(f"handoff {h.name}: instance {self.instances[i].name} is not a decode instance")
        for i, inst in enumerate(self.instances):
            if inst.role == "prefill" and i not in senders:
                raise ValueError(f"instance {inst.name}: a prefill instance needs a handoff to decode instances")
        for router in self.routers.values():
            for i in router.instances:
                if self.instances[i].role == "decode":
                    raise ValueError(f"router {router.name}: decode instance {self.instances[i].name} only "
                                     "receives requests from prefill instances")
