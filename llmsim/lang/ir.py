"""The checked spec: typed, unit-resolved, every value exact and every node with its span.

This is the contract between the language front end (`llmsim.lang`) and the compiler. Values are
already in the units the simulator uses (integer nanoseconds, integer bytes, exact fractions), names
are resolved, and defaults are filled in from the schema, so nothing downstream re-reads the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

from msgspec import Struct, field

from llmsim.diagnostics import Span


class HardwareImport(Struct, frozen=True):
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


class ModelDecl(Struct, frozen=True):
    """A model: from the built-in catalog or a Hugging Face `config.json`."""

    name: str
    catalog: str | None  # catalog name, e.g. "Llama-3.1-8B"
    config_path: Path | None  # resolved path of a config.json
    dtype: str  # weights and activations: "bf16" | "fp16" | "fp8"
    kv_dtype: str  # KV cache: "bf16" | "fp16" | "fp8"
    max_model_len: int | None
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)
    architecture: ModelArchitecture | None = None  # a model written out in the spec


class ModelArchitecture(Struct, frozen=True):
    """A model written out in the spec: the dimensions a Hugging Face `config.json` would give."""

    type: str  # Hugging Face `model_type`: "llama", "qwen3", "qwen2", "mistral", "mixtral", ...
    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    kv_heads: int | None  # None: as many as `heads`
    head_dim: int | None  # None: hidden_size / heads
    vocab_size: int
    max_position: int
    tie_embeddings: bool
    experts: int  # 0: dense
    experts_per_token: int
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)

    def to_hf_config(self) -> dict[str, object]:
        """The same model as a Hugging Face `config.json` dictionary."""
        cfg: dict[str, object] = {
            "model_type": self.type,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads or self.heads,
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self.max_position,
            "tie_word_embeddings": self.tie_embeddings,
        }
        if self.head_dim is not None:
            cfg["head_dim"] = self.head_dim
        if self.experts:
            cfg["num_local_experts"] = self.experts
            cfg["num_experts_per_tok"] = self.experts_per_token
        return cfg


class SchedulerConfig(Struct, frozen=True):
    """How an instance forms batches (vLLM V1 continuous batching by default)."""

    policy: str  # "vllm"
    max_num_seqs: int
    max_num_batched_tokens: int
    chunked_prefill: bool
    long_prefill_token_threshold: int  # 0: no per-request cap on prefill chunk
    step_overhead_ns: int  # host time added to every step (scheduling, input preparation)
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)
    order: str = "fcfs"  # which waiting request goes first: "fcfs" | "priority" | "deadline"
    async_scheduling: bool = True  # vLLM's async scheduling: plan step k+1 while step k runs
    reserve_full_isl: bool = True  # admit only if the whole current sequence fits in free KV blocks


class KVCacheConfig(Struct, frozen=True):
    """Paged KV cache of an instance."""

    block_size: int
    gpu_memory_utilization: Fraction
    num_blocks: int | None  # override of the memory plan, as vLLM's num_gpu_blocks_override
    prefix_caching: bool
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)
    tiers: tuple[KVTier, ...] = ()  # offload tiers below device memory, fastest first


class KVTier(Struct, frozen=True):
    """A KV offload tier: `tier { medium = cpu  capacity = 512GiB  bandwidth = 64GB/s }`."""

    medium: str  # "cpu" | "cxl" | "ssd" | "remote"
    capacity_bytes: int
    bandwidth_bytes_per_s: Fraction
    latency_ns: int
    shared: bool  # one tier shared by every instance of the pool
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class Placement(Struct, frozen=True):
    """Operator families placed on another device than the pool's: `place { attention = pim }`."""

    embed: str | None
    attention: str | None
    mlp: str | None
    moe: str | None
    lm_head: str | None
    sampler: str | None
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)

    def placed(self) -> dict[str, str]:
        """Operator family -> device name, for the families that were placed."""
        names = ("embed", "attention", "mlp", "moe", "lm_head", "sampler")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class SpeculativeConfig(Struct, frozen=True):
    """Speculative decoding with a draft model proposing `tokens` tokens per step."""

    draft: str  # ModelDecl name
    tokens: int
    acceptance: Fraction  # expected share of proposed tokens accepted
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class LoRAConfig(Struct, frozen=True):
    """LoRA adapters served by the pool."""

    adapters: int
    rank: int
    max_loras: int  # adapters resident per batch
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class PoolDecl(Struct, frozen=True):
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
    key_spans: Mapping[str, Span] = field(default_factory=dict)
    ep: int = 1  # expert-parallel degree
    dp: int = 1  # data-parallel (attention) degree
    node: str | None = None  # NodeDecl the instances are placed on
    group: str | None = None  # for `main.prefill` and `main.decode`: the disaggregated pool `main`
    kv_link: str | None = None  # LinkDecl carrying KV from a prefill stage to its decode stage
    placement: Placement | None = None
    speculative: SpeculativeConfig | None = None
    lora: LoRAConfig | None = None


class RouterDecl(Struct, frozen=True):
    """Spreads arriving requests over the instances of its target pools."""

    name: str
    policy: str  # "round_robin"
    targets: tuple[str, ...]  # PoolDecl names
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


# Workloads --------------------------------------------------------------------------------------


class PoissonArrivals(Struct, frozen=True):
    rate_per_s: Fraction
    span: Span


class ConstantArrivals(Struct, frozen=True):
    """Evenly spaced arrivals at `rate_per_s`."""

    rate_per_s: Fraction
    span: Span


class ClosedLoopArrivals(Struct, frozen=True):
    """`clients` users, each sending its next request `think_ns` after its previous one completes."""

    clients: int
    think_ns: int
    span: Span


class TraceArrivals(Struct, frozen=True):
    """Arrival times as recorded in the workload's trace, scaled by `time_scale`."""

    time_scale: Fraction
    span: Span


Arrival = PoissonArrivals | ConstantArrivals | ClosedLoopArrivals | TraceArrivals


class FixedLength(Struct, frozen=True):
    tokens: int
    span: Span


class UniformLength(Struct, frozen=True):
    low: int
    high: int  # inclusive
    span: Span


class LognormalLength(Struct, frozen=True):
    """Lognormal with the given median and shape `sigma`, clipped to [low, high]."""

    median: Fraction
    sigma: Fraction
    low: int
    high: int
    span: Span


LengthDist = FixedLength | UniformLength | LognormalLength


class DatasetLengths(Struct, frozen=True):
    """(prompt, output) pairs sampled jointly from a bundled dataset, e.g. "sharegpt"."""

    dataset: str
    span: Span


class TraceSource(Struct, frozen=True):
    """A trace file replayed request by request: lengths and (unless overridden) arrivals."""

    path: Path
    format: str  # "sharegpt" | "azure" | "mooncake" | "vidur"
    span: Span


class MultiTurnSessions(Struct, frozen=True):
    """Each request opens a session of `turns` turns; a turn's prompt extends the previous context."""

    turns: int
    think_ns: int
    span: Span


class WorkloadDecl(Struct, frozen=True):
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
    key_spans: Mapping[str, Span] = field(default_factory=dict)
    sessions: MultiTurnSessions | None = None  # multi-turn conversations instead of single requests
    priority: int = 0  # larger first, with `order = priority` schedulers


class SimulationConfig(Struct, frozen=True):
    """Run-wide settings."""

    seed: int
    max_time_ns: int | None  # stop simulated time here; None: run until every request completes
    span: Span | None


# Topology -----------------------------------------------------------------------------------------


class DeviceDecl(Struct, frozen=True):
    """A kind of device: a measured hardware entry, or a spec sheet (a PIM or CXL device, a CPU)."""

    name: str
    kind: str  # "gpu" | "npu" | "cpu" | "pim" | "memory"
    hardware: str | None  # HardwareImport alias whose measurements price it
    memory_bytes: int | None
    memory_bandwidth_bytes_per_s: Fraction | None
    compute_flop_per_s: Fraction | None
    power_w: Fraction | None
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class LinkDecl(Struct, frozen=True):
    """A kind of link: bandwidth per direction and latency."""

    name: str
    kind: str  # "nvlink" | "pcie" | "infiniband" | "ethernet" | "cxl"
    bandwidth_bytes_per_s: Fraction
    latency_ns: int
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class Attachment(Struct, frozen=True):
    """More devices in a node beside its main ones: `attach { device = pim  count = 16 }`."""

    device: str
    count: int
    link: str | None
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class NodeDecl(Struct, frozen=True):
    """`node dgx[2] { device = h100  count = 8  link = nvlink }`: `replicas` identical nodes."""

    name: str
    replicas: int
    device: str  # DeviceDecl name or HardwareImport alias
    count: int  # devices per node
    link: str | None  # LinkDecl between the devices of one node
    memory_bytes: int | None  # host memory
    attach: tuple[Attachment, ...]
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class FabricDecl(Struct, frozen=True):
    """The network between nodes."""

    name: str
    nodes: tuple[str, ...]  # NodeDecl names
    link: str  # LinkDecl
    topology: str  # "full" | "ring" | "fat_tree" | "torus"
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


# SLOs, params and sweeps ----------------------------------------------------------------------------


class Objective(Struct, frozen=True):
    """One line of an `slo` block: `ttft.p99 < 500ms`, `ttft < 1s`, `attainment >= 95%`.

    `metric` is a latency (`ttft`, `tpot`, `itl`, `e2e`, `queue`), `attainment` or `goodput`;
    `stat` is `mean`/`p50`/`p90`/`p95`/`p99` or None (a per-request bound only). `value` is in base
    units: seconds for latencies, a fraction for attainment, requests per second for goodput.
    """

    metric: str
    stat: str | None
    op: str  # "<" | "<=" | ">" | ">="
    value: Fraction
    text: str  # as written, for reports: "ttft.p99 < 500ms"
    span: Span


class SLODecl(Struct, frozen=True):
    """Service-level objectives, evaluated on the results (`llmsim.slo`)."""

    name: str
    workload: str | None  # WorkloadDecl name; None: every request
    objectives: tuple[Objective, ...]
    span: Span
    key_spans: Mapping[str, Span] = field(default_factory=dict)


class ParamDecl(Struct, frozen=True):
    """`param NAME = default`; `value` is the value this spec was checked with, in source syntax."""

    name: str
    value: str
    origin: str  # "default" | "-D" | "sweep"
    span: Span


class SweepAxis(Struct, frozen=True):
    """Params that vary together: one param, or the params of a `zip { ... }` group."""

    params: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]  # one tuple per step, in source syntax, aligned with params
    span: Span


class SweepDecl(Struct, frozen=True):
    """`sweep { ... }`: the cartesian product of its axes, the first axis varying slowest."""

    axes: tuple[SweepAxis, ...]
    span: Span

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(p for axis in self.axes for p in axis.params)

    def points(self) -> list[dict[str, str]]:
        """Every point as param -> value text, in order."""
        out: list[dict[str, str]] = [{}]
        for axis in self.axes:
            out = [{**point, **dict(zip(axis.params, step))} for point in out for step in axis.values]
        return out


class ModuleImport(Struct, frozen=True):
    """`import "nodes.llms"`: a module whose declarations the spec may use."""

    path: Path
    span: Span


class Spec(Struct, frozen=True):
    """A whole checked spec."""

    path: Path
    hardware: dict[str, HardwareImport] = field(default_factory=dict)
    models: dict[str, ModelDecl] = field(default_factory=dict)
    pools: dict[str, PoolDecl] = field(default_factory=dict)
    routers: dict[str, RouterDecl] = field(default_factory=dict)
    workloads: dict[str, WorkloadDecl] = field(default_factory=dict)
    simulation: SimulationConfig | None = None
    devices: dict[str, DeviceDecl] = field(default_factory=dict)
    links: dict[str, LinkDecl] = field(default_factory=dict)
    nodes: dict[str, NodeDecl] = field(default_factory=dict)
    fabrics: dict[str, FabricDecl] = field(default_factory=dict)
    slos: dict[str, SLODecl] = field(default_factory=dict)
    params: dict[str, ParamDecl] = field(default_factory=dict)
    sweep: SweepDecl | None = None
    imports: tuple[ModuleImport, ...] = ()
    point: int | None = None  # the sweep point this spec was checked at; None: params' defaults
