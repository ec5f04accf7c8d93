"""The checked spec: typed, unit-resolved, every value exact and every node with its span.

This is the contract between the language front end (`llmsim.lang`) and the compiler. Values are
already in the units the simulator uses (integer nanoseconds, integer bytes, exact fractions), names
are resolved, and defaults are filled in from the schema, so nothing downstream re-reads the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from llmsim.diagnostics import Span


@dataclass(frozen=True)
class HardwareImport:
    """`use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100`: a pinned hardware_db entry."""

    alias: str
    entry: str  # "nvidia/h100-sxm"
    engine: str  # "vllm"
    version: str  # "0.24.0"
    span: Span

    @property
    def engine_id(self) -> str:
        return f"{self.engine}@{self.version}"


def span_of(decl: object, key: str) -> Span:
    """The span of `key`'s value in a block, or the block's own span when the key was not written."""
    spans: Mapping[str, Span] = getattr(decl, "key_spans", {})
    return spans.get(key) or decl.span  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ModelDecl:
    """A model: from the built-in catalog or a Hugging Face `config.json`."""

    name: str
    catalog: str | None  # catalog name, e.g. "Llama-3.1-8B"
    config_path: Path | None  # resolved path of a config.json
    dtype: str  # weights and activations: "bf16" | "fp16" | "fp8"
    kv_dtype: str  # KV cache: "bf16" | "fp16" | "fp8"
    max_model_len: int | None
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SchedulerConfig:
    """How an instance forms batches (vLLM V1 continuous batching by default)."""

    policy: str  # "vllm"
    max_num_seqs: int
    max_num_batched_tokens: int
    chunked_prefill: bool
    long_prefill_token_threshold: int  # 0: no per-request cap on prefill chunk
    step_overhead_ns: int  # host time added to every step (scheduling, input preparation)
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class KVCacheConfig:
    """Paged KV cache of an instance."""

    block_size: int
    gpu_memory_utilization: Fraction
    num_blocks: int | None  # override of the memory plan, as vLLM's num_gpu_blocks_override
    prefix_caching: bool
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class PoolDecl:
    """A pool of identical serving instances of one model on one kind of device."""

    name: str
    model: str  # ModelDecl name
    hardware: str  # HardwareImport alias
    instances: int
    tp: int
    pp: int
    role: str  # "unified" (prefill and decode); "prefill" | "decode" once disaggregation lands
    scheduler: SchedulerConfig
    kv_cache: KVCacheConfig
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RouterDecl:
    """Spreads arriving requests over the instances of its target pools."""

    name: str
    policy: str  # "round_robin"
    targets: tuple[str, ...]  # PoolDecl names
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


# Workloads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoissonArrivals:
    rate_per_s: Fraction
    span: Span


@dataclass(frozen=True)
class ConstantArrivals:
    """Evenly spaced arrivals at `rate_per_s`."""

    rate_per_s: Fraction
    span: Span


@dataclass(frozen=True)
class ClosedLoopArrivals:
    """`clients` users, each sending its next request `think_ns` after its previous one completes."""

    clients: int
    think_ns: int
    span: Span


@dataclass(frozen=True)
class TraceArrivals:
    """Arrival times as recorded in the workload's trace, scaled by `time_scale`."""

    time_scale: Fraction
    span: Span


Arrival = PoissonArrivals | ConstantArrivals | ClosedLoopArrivals | TraceArrivals


@dataclass(frozen=True)
class FixedLength:
    tokens: int
    span: Span


@dataclass(frozen=True)
class UniformLength:
    low: int
    high: int  # inclusive
    span: Span


@dataclass(frozen=True)
class LognormalLength:
    """Lognormal with the given median and shape `sigma`, clipped to [low, high]."""

    median: Fraction
    sigma: Fraction
    low: int
    high: int
    span: Span


LengthDist = FixedLength | UniformLength | LognormalLength


@dataclass(frozen=True)
class DatasetLengths:
    """(prompt, output) pairs sampled jointly from a bundled dataset, e.g. "sharegpt"."""

    dataset: str
    span: Span


@dataclass(frozen=True)
class TraceSource:
    """A trace file replayed request by request: lengths and (unless overridden) arrivals."""

    path: Path
    format: str  # "sharegpt" | "azure" | "mooncake" | "vidur"
    span: Span


@dataclass(frozen=True)
class WorkloadDecl:
    name: str
    requests: int | None  # None: every request of the trace
    seed: int
    arrival: Arrival
    prompt: LengthDist | None  # with `output`, independent lengths
    output: LengthDist | None
    lengths: DatasetLengths | None  # joint lengths from a dataset
    trace: TraceSource | None
    router: str | None  # RouterDecl name; None: the only router, or the only pool
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SimulationConfig:
    """Run-wide settings."""

    seed: int
    max_time_ns: int | None  # stop simulated time here; None: run until every request completes
    span: Span | None


@dataclass(frozen=True)
class Spec:
    """A whole checked spec."""

    path: Path
    hardware: dict[str, HardwareImport] = field(default_factory=dict)
    models: dict[str, ModelDecl] = field(default_factory=dict)
    pools: dict[str, PoolDecl] = field(default_factory=dict)
    routers: dict[str, RouterDecl] = field(default_factory=dict)
    workloads: dict[str, WorkloadDecl] = field(default_factory=dict)
    simulation: SimulationConfig | None = None
