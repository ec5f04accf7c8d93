"""What the generic grammar means: block kinds, their keys, types, units, defaults and ranges.

A new block kind or key is an entry here, not a grammar change. `check.py` reads these tables to
turn the AST into the IR, and `reference_markdown()` writes `docs/language.md` from them, so the
reference cannot drift from what the checker accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from llmsim.lang import ir
from llmsim.lang.units import BANDWIDTH, COMPUTE_RATE, DATA, DIM_EXAMPLES, ONE, POWER, RATE, TIME, UNITS, Dim

# Types --------------------------------------------------------------------------------------------


class Type:
    """A value type of a key or call parameter."""

    def describe(self) -> str:
        """What a value must be, for diagnostics: "a whole number"."""
        raise NotImplementedError

    def doc(self) -> str:
        """The type column of the reference."""
        return self.describe()


@dataclass(frozen=True)
class Int(Type):
    low: int | None = None
    high: int | None = None

    def describe(self) -> str:
        return "a whole number"

    def range_words(self) -> str:
        return _range_words(self.low, False, self.high, False, str)

    def doc(self) -> str:
        return "integer" + (
            f", {_range_symbols(self.low, False, self.high, False, str)}"
            if self.low is not None or self.high is not None
            else ""
        )


@dataclass(frozen=True)
class Measure(Type):
    """A number or quantity of one dimension, exact; `to_ns` turns a duration into integer ns."""

    dim: Dim = ONE
    low: Fraction | None = None
    low_open: bool = False
    high: Fraction | None = None
    high_open: bool = False
    unit: str = ""  # how bounds are shown: "%" for ratios, "s" for durations
    to_ns: bool = False
    ratio: bool = False  # a fraction of a whole: `90%` or `0.9`
    whole: bool = False  # a whole number of base units (bytes): stored as an int

    def describe(self) -> str:
        if self.ratio:
            return "a ratio such as `90%` or `0.9`"
        if self.dim == ONE:
            return "a number"
        return self.dim.name

    def show(self, value: Fraction) -> str:
        if not self.unit:
            return _number(value)
        factor, _ = UNITS[self.unit]
        return f"{_number(value / factor)}{self.unit}"

    def range_words(self) -> str:
        return _range_words(self.low, self.low_open, self.high, self.high_open, self.show)

    def doc(self) -> str:
        if self.ratio:
            kind = "ratio (`90%` or `0.9`)"
        elif self.dim == ONE:
            kind = "number"
        else:
            units = ", ".join(f"`{u}`" for u in _DOC_UNITS.get(self.dim, (DIM_EXAMPLES[self.dim],)))
            kind = f"{self.dim.name.split(' ', 1)[1]} ({units}, ...)"
        rng = _range_symbols(self.low, self.low_open, self.high, self.high_open, self.show)
        return f"{kind}, {rng}" if rng else kind


_DOC_UNITS: dict[Dim, tuple[str, ...]] = {TIME: ("us", "ms", "s", "min"), RATE: ("/s", "/min")}


@dataclass(frozen=True)
class Bool(Type):
    def describe(self) -> str:
        return "`true` or `false`"


@dataclass(frozen=True)
class Enum(Type):
    """One of a closed set of bare names: `dtype = bf16`; with `plugins`, also the names of policies
    registered at run time (third-party routers and schedulers found through entry points)."""

    values: tuple[str, ...]
    noun: str
    plugins: Callable[[], Sequence[str]] | None = None

    def legal(self) -> tuple[str, ...]:
        """The built-in names, then any registered plugin names."""
        if self.plugins is None:
            return self.values
        return (*self.values, *(n for n in self.plugins() if n not in self.values))

    def describe(self) -> str:
        return _or(self.values) if len(self.values) == 1 else "one of " + _or(self.values)

    def doc(self) -> str:
        names = " \\| ".join(f"`{v}`" for v in self.values)
        return names + " \\| a registered plugin" if self.plugins is not None else names


def _registered(kind: str) -> Callable[[], Sequence[str]]:
    """Names registered in the runtime's `kind` registry ("router", "scheduler"), plugins included."""

    def names() -> Sequence[str]:
        if kind == "router":
            from llmsim.runtime.router import ROUTERS

            return ROUTERS.names()
        from llmsim.runtime.scheduler import SCHEDULERS

        return SCHEDULERS.names()

    return names


@dataclass(frozen=True)
class Str(Type):
    """A string, optionally from a closed set (catalog names, dataset names)."""

    noun: str
    choices: Callable[[], Sequence[str]] | None = None

    def describe(self) -> str:
        return "a string"

    def doc(self) -> str:
        return f"string: {self.noun}"


@dataclass(frozen=True)
class FilePath(Type):
    """A path in quotes, relative to the spec's folder or a search path (`-I DIR`)."""

    what: str

    def describe(self) -> str:
        return "a path in quotes"

    def doc(self) -> str:
        return f"string: path to {self.what}"


@dataclass(frozen=True)
class RefTo(Type):
    """The name of another block (`model`, `pool`, `router`) or a hardware alias (`hardware`)."""

    kind: str

    def describe(self) -> str:
        if self.kind == "hardware":
            return "the name of a hardware import"
        if self.kind == "device":
            return "the name of a device or hardware import"
        return f"the name of a {self.kind}"

    def doc(self) -> str:
        if self.kind == "hardware":
            return "name of a `use hardware` import"
        if self.kind == "device":
            return "name of a `device` block or `use hardware` import"
        return f"name of a `{self.kind}` block"


@dataclass(frozen=True)
class ListOf(Type):
    item: Type
    non_empty: bool = False
    unique: bool = False

    def describe(self) -> str:
        if isinstance(self.item, RefTo):
            return f"a list of {self.item.kind} names"
        return "a list"

    def doc(self) -> str:
        inner = f"`{self.item.kind}` names" if isinstance(self.item, RefTo) else self.item.doc()
        return f"list of {inner}" + (", not empty" if self.non_empty else "")


@dataclass(frozen=True)
class Variant:
    """One constructor of a call-typed key: `poisson(rate = 4/s)` builds `ir.PoissonArrivals`."""

    name: str
    params: tuple[Param, ...]
    doc: str
    ir: type
    fixed: tuple[tuple[str, Any], ...] = ()  # extra IR fields, e.g. the trace format

    @property
    def signature(self) -> str:
        return f"{self.name}(" + ", ".join(p.name for p in self.params) + ")"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class OneOf(Type):
    """A call from a closed set of constructors."""

    noun: str
    variants: tuple[Variant, ...]

    def describe(self) -> str:
        if len(self.variants) == 1:
            return f"`{self.variants[0].name}(...)`"
        return "one of " + _or([f"{v.name}(...)" for v in self.variants])

    def doc(self) -> str:
        return " \\| ".join(f"`{v.signature}`" for v in self.variants)

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


# Keys and blocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A key of a block. `default` is the converted value used when the key is absent."""

    name: str
    type: Type
    doc: str
    default: Any = None
    default_doc: str = ""
    required: bool = False
    example: str = ""
    ir_name: str = ""

    @property
    def ir_field(self) -> str:
        return self.ir_name or self.name


Param = Field  # a call parameter is described exactly like a key


@dataclass(frozen=True)
class BlockSchema:
    kind: str
    doc: str
    fields: tuple[Field, ...]
    blocks: tuple[BlockSchema, ...] = ()
    named: bool = True
    unique: bool = False  # at most one block of this kind (only for unnamed kinds)
    rules: tuple[str, ...] = ()  # constraints between keys, for the reference
    ir: type | None = None
    example: str = ""
    name_optional: bool = False  # `slo { ... }` or `slo NAME { ... }`; unnamed, it is named after its kind
    indexed: bool = False  # `node dgx[2] { ... }`: a count in brackets
    repeated: bool = False  # nested: may appear several times; the IR holds a tuple
    optional: bool = False  # nested: the IR holds None when the block is absent
    library: bool = False  # may be declared in an imported module
    constraints: bool = False  # holds comparisons (`ttft.p99 < 500ms`)
    ir_name: str = ""  # nested: the parent's IR field that holds it, when not its kind
    ir_extra: tuple[str, ...] = ()  # IR fields that no key sets (built by the checker)

    @property
    def ir_field(self) -> str:
        return self.ir_name or self.kind

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def block(self, kind: str) -> BlockSchema | None:
        return next((b for b in self.blocks if b.kind == kind), None)


# Helpers ------------------------------------------------------------------------------------------


def _number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return str(float(value))


def _or(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _range_words(low: Any, low_open: bool, high: Any, high_open: bool, show: Callable[[Any], str]) -> str:
    parts = []
    if low is not None:
        parts.append(("greater than " if low_open else "at least ") + show(low))
    if high is not None:
        parts.append(("less than " if high_open else "at most ") + show(high))
    return " and ".join(parts)


def _range_symbols(low: Any, low_open: bool, high: Any, high_open: bool, show: Callable[[Any], str]) -> str:
    parts = []
    if low is not None:
        parts.append(("> " if low_open else "≥ ") + show(low))
    if high is not None:
        parts.append(("< " if high_open else "≤ ") + show(high))
    return " and ".join(parts)


def catalog_names() -> list[str]:
    """The built-in model names; imported late so the schema does not load the compiler package."""
    from llmsim.compiler import catalog

    return catalog.names()


POSITIVE_INT = Int(low=1)
NON_NEGATIVE_INT = Int(low=0)
DURATION = Measure(TIME, low=Fraction(0), unit="s", to_ns=True)
POSITIVE_DURATION = Measure(TIME, low=Fraction(0), low_open=True, unit="s", to_ns=True)
POSITIVE_RATE = Measure(RATE, low=Fraction(0), low_open=True, unit="/s")
RATIO = Measure(ONE, low=Fraction(0), low_open=True, high=Fraction(1), unit="%", ratio=True)
POSITIVE_NUMBER = Measure(ONE, low=Fraction(0), low_open=True)
DATA_SIZE = Measure(DATA, low=Fraction(0), low_open=True, unit="GiB", whole=True)
POSITIVE_BANDWIDTH = Measure(BANDWIDTH, low=Fraction(0), low_open=True, unit="GB/s")
POSITIVE_COMPUTE_RATE = Measure(COMPUTE_RATE, low=Fraction(0), low_open=True, unit="TFLOP/s")
POSITIVE_POWER = Measure(POWER, low=Fraction(0), low_open=True, unit="W")
POSITIVE_LATENCY = Measure(TIME, low=Fraction(0), low_open=True, unit="ms")
NON_NEGATIVE_NUMBER = Measure(ONE, low=Fraction(0))

DTYPES = ("bf16", "fp16", "fp8")
DATASETS = ("sharegpt",)
TRACE_FORMATS = ("sharegpt", "azure", "mooncake", "vidur")


# Calls ----------------------------------------------------------------------------------------------

ARRIVAL = OneOf(
    "arrival",
    (
        Variant(
            "poisson",
            (
                Param(
                    "rate",
                    POSITIVE_RATE,
                    "mean arrival rate",
                    required=True,
                    example="4/s",
                    ir_name="rate_per_s",
                ),
            ),
            "Open-loop arrivals with exponential gaps.",
            ir.PoissonArrivals,
        ),
        Variant(
            "constant",
            (
                Param(
                    "rate", POSITIVE_RATE, "arrival rate", required=True, example="4/s", ir_name="rate_per_s"
                ),
            ),
            "Evenly spaced arrivals.",
            ir.ConstantArrivals,
        ),
        Variant(
            "closed_loop",
            (
                Param("clients", POSITIVE_INT, "concurrent users", required=True, example="16"),
                Param(
                    "think",
                    DURATION,
                    "pause between a completion and the user's next request",
                    default=0,
                    default_doc="0s",
                    example="1s",
                    ir_name="think_ns",
                ),
            ),
            "Each client sends its next request `think` after its previous one completes.",
            ir.ClosedLoopArrivals,
        ),
        Variant(
            "trace",
            (
                Param(
                    "time_scale",
                    POSITIVE_NUMBER,
                    "multiplies the recorded arrival times",
                    default=Fraction(1),
                    default_doc="1",
                    example="0.5",
                ),
            ),
            "Arrival times as recorded in the workload's `trace`.",
            ir.TraceArrivals,
        ),
    ),
)

SESSIONS = OneOf(
    "session kind",
    (
        Variant(
            "multi_turn",
            (
                Param("turns", POSITIVE_INT, "turns per session", required=True, example="4"),
                Param(
                    "think",
                    DURATION,
                    "pause between a reply and the user's next turn",
                    default=0,
                    default_doc="0s",
                    example="5s",
                    ir_name="think_ns",
                ),
            ),
            "Conversations: each turn's prompt extends the context of the turns before it.",
            ir.MultiTurnSessions,
        ),
    ),
)

_TOKENS = Int(low=1)
LENGTH = OneOf(
    "length distribution",
    (
        Variant(
            "fixed",
            (Param("tokens", _TOKENS, "every request has this many tokens", required=True, example="128"),),
            "The same length for every request.",
            ir.FixedLength,
        ),
        Variant(
            "uniform",
            (
                Param("low", _TOKENS, "shortest length", required=True, example="32"),
                Param(
                    "high",
                    _TOKENS,
                    "longest length (inclusive), at least `low`",
                    required=True,
                    example="512",
                ),
            ),
            "Uniform over whole numbers in [low, high].",
            ir.UniformLength,
        ),
        Variant(
            "lognormal",
            (
                Param("median", POSITIVE_NUMBER, "median length", required=True, example="256"),
                Param(
                    "sigma",
                    NON_NEGATIVE_NUMBER,
                    "shape (standard deviation of the log)",
                    required=True,
                    example="1",
                ),
                Param("low", _TOKENS, "clip below", default=1, default_doc="1", example="1"),
                Param("high", _TOKENS, "clip above, at least `low`", required=True, example="4096"),
            ),
            "Lognormal lengths clipped to [low, high].",
            ir.LognormalLength,
        ),
    ),
)

LENGTHS = OneOf(
    "dataset",
    (
        Variant(
            "dataset",
            (
                Param(
                    "name",
                    Str("dataset name", lambda: DATASETS),
                    "a bundled dataset: " + _or(DATASETS),
                    required=True,
                    example='"sharegpt"',
                    ir_name="dataset",
                ),
            ),
            "(prompt, output) pairs sampled jointly from a bundled dataset.",
            ir.DatasetLengths,
        ),
    ),
)

TRACE = OneOf(
    "trace format",
    tuple(
        Variant(
            fmt,
            (
                Param(
                    "path",
                    FilePath("a trace file"),
                    "the trace file",
                    required=True,
                    example='"traces/requests.jsonl"',
                ),
            ),
            f"A trace file in the {fmt} format, replayed request by request.",
            ir.TraceSource,
            fixed=(("format", fmt),),
        )
        for fmt in TRACE_FORMATS
    ),
)


# Blocks ---------------------------------------------------------------------------------------------

MODEL_TYPES = ("llama", "qwen3", "qwen2", "mistral", "mixtral", "qwen3_moe", "deepseek_v3")

ARCHITECTURE = BlockSchema(
    "architecture",
    "A model written out: the dimensions a Hugging Face `config.json` gives.",
    (
        Field("type", Enum(MODEL_TYPES, "model type"), "the `model_type`", required=True, example="llama"),
        Field("hidden_size", POSITIVE_INT, "width of the residual stream", required=True, example="4096"),
        Field("intermediate_size", POSITIVE_INT, "width of the MLP", required=True, example="14336"),
        Field("layers", POSITIVE_INT, "decoder layers", required=True, example="32"),
        Field("heads", POSITIVE_INT, "attention heads", required=True, example="32"),
        Field("kv_heads", POSITIVE_INT, "key/value heads", default_doc="`heads`", example="8"),
        Field("head_dim", POSITIVE_INT, "width of one head", default_doc="`hidden_size / heads`", example="128"),
        Field("vocab_size", POSITIVE_INT, "vocabulary", required=True, example="128256"),
        Field("max_position", POSITIVE_INT, "longest context", default=4096, default_doc="4096", example="131072"),
        Field(
            "tie_embeddings",
            Bool(),
            "the LM head shares the embedding",
            default=False,
            default_doc="`false`",
            example="false",
        ),
        Field("experts", NON_NEGATIVE_INT, "MoE experts; 0: dense", default=0, default_doc="0", example="8"),
        Field(
            "experts_per_token",
            NON_NEGATIVE_INT,
            "experts each token is routed to",
            default=0,
            default_doc="0",
            example="2",
        ),
    ),
    named=False,
    unique=True,
    optional=True,
    ir=ir.ModelArchitecture,
)

MODEL = BlockSchema(
    "model",
    "A model: from the built-in catalog, a Hugging Face `config.json`, or written out.",
    (
        Field(
            "catalog",
            Str("catalog model", catalog_names),
            "name of a built-in model (see [the catalog](#model-catalog))",
            default_doc="—",
            example='"Llama-3.1-8B"',
        ),
        Field(
            "config",
            FilePath("a Hugging Face `config.json`"),
            "the model's `config.json`",
            default_doc="—",
            example='"models/config.json"',
            ir_name="config_path",
        ),
        Field(
            "dtype",
            Enum(DTYPES, "dtype"),
            "weights and activations",
            default="bf16",
            default_doc="`bf16`",
            example="bf16",
        ),
        Field(
            "kv_dtype",
            Enum(("auto", *DTYPES), "KV cache dtype"),
            "KV cache; `auto` is the same as `dtype`",
            default="auto",
            default_doc="`auto`",
            example="fp8",
        ),
        Field(
            "max_model_len",
            POSITIVE_INT,
            "longest sequence (prompt + output) the model serves",
            default_doc="the model's own limit",
            example="8192",
        ),
    ),
    blocks=(ARCHITECTURE,),
    rules=("Exactly one of `catalog`, `config` and an `architecture { ... }` block.",),
    ir=ir.ModelDecl,
    example='model llama { catalog = "Llama-3.1-8B" }',
    library=True,
)

SCHEDULER = BlockSchema(
    "scheduler",
    "How an instance forms batches (vLLM V1 continuous batching).",
    (
        Field(
            "policy",
            Enum(("vllm", "orca", "sarathi", "static"), "scheduler policy", _registered("scheduler")),
            "batching policy",
            default="vllm",
            default_doc="`vllm`",
            example="vllm",
        ),
        Field(
            "max_num_seqs",
            POSITIVE_INT,
            "most sequences in one step",
            default=256,
            default_doc="256",
            example="256",
        ),
        Field(
            "max_num_batched_tokens",
            POSITIVE_INT,
            "most tokens in one step",
            default=8192,
            default_doc="8192",
            example="8192",
        ),
        Field(
            "chunked_prefill",
            Bool(),
            "split long prompts over several steps",
            default=True,
            default_doc="`true`",
            example="true",
        ),
        Field(
            "long_prefill_token_threshold",
            NON_NEGATIVE_INT,
            "cap on one request's prefill chunk; 0: no cap",
            default=0,
            default_doc="0",
            example="0",
        ),
        Field(
            "async_scheduling",
            Bool(),
            "plan the next step while this one runs (vLLM's `async_scheduling`, on by default in V1)",
            default=True,
            default_doc="`true`",
            example="true",
        ),
        Field(
            "reserve_full_isl",
            Bool(),
            "admit a request only if its whole sequence fits in free KV blocks "
            "(vLLM's `scheduler_reserve_full_isl`)",
            default=True,
            default_doc="`true`",
            example="true",
        ),
        Field(
            "step_overhead",
            DURATION,
            "host time added to every step",
            default=0,
            default_doc="0s",
            example="500us",
            ir_name="step_overhead_ns",
        ),
        Field(
            "order",
            Enum(("fcfs", "priority", "deadline"), "queue order"),
            "which waiting request is admitted first",
            default="fcfs",
            default_doc="`fcfs`",
            example="fcfs",
        ),
    ),
    named=False,
    unique=True,
    ir=ir.SchedulerConfig,
)

TIER = BlockSchema(
    "tier",
    "A KV offload tier below device memory (repeat the block for several tiers, fastest first).",
    (
        Field("medium", Enum(("cpu", "cxl", "ssd", "remote"), "medium"), "where the blocks go", required=True,
              example="cpu"),
        Field("capacity", DATA_SIZE, "space for KV blocks", required=True, example="512GiB",
              ir_name="capacity_bytes"),
        Field("bandwidth", POSITIVE_BANDWIDTH, "transfer bandwidth to and from the device", required=True,
              example="64GB/s", ir_name="bandwidth_bytes_per_s"),
        Field("latency", DURATION, "per-transfer latency", default=0, default_doc="0s", example="2us",
              ir_name="latency_ns"),
        Field("shared", Bool(), "one tier shared by every instance of the pool", default=False,
              default_doc="`false`", example="false"),
    ),
    named=False,
    repeated=True,
    ir=ir.KVTier,
    ir_name="tiers",
)

KV_CACHE = BlockSchema(
    "kv_cache",
    "The paged KV cache of an instance.",
    (
        Field("block_size", POSITIVE_INT, "tokens per KV block", default=16, default_doc="16", example="16"),
        Field(
            "gpu_memory_utilization",
            RATIO,
            "share of device memory the engine may use",
            default=Fraction(9, 10),
            default_doc="90%",
            example="90%",
        ),
        Field(
            "num_blocks",
            POSITIVE_INT,
            "fixed number of KV blocks instead of the memory plan's",
            default_doc="from the memory plan",
            example="4096",
        ),
        Field(
            "prefix_caching",
            Bool(),
            "reuse KV blocks of shared prefixes",
            default=True,
            default_doc="`true`",
            example="true",
        ),
    ),
    blocks=(TIER,),
    named=False,
    unique=True,
    ir=ir.KVCacheConfig,
)

_FAMILIES = (
    ("embed", "the token embedding"),
    ("attention", "attention (prefill and decode)"),
    ("mlp", "the dense MLP"),
    ("moe", "the MoE experts"),
    ("lm_head", "the LM head"),
    ("sampler", "sampling"),
)

PLACE = BlockSchema(
    "place",
    "Operator placement: operator families run on another device than the pool's (attention on a PIM "
    "device, for example).",
    tuple(
        Field(family, RefTo("device"), f"device for {what}", default_doc="the pool's", example="pim")
        for family, what in _FAMILIES
    ),
    named=False,
    unique=True,
    optional=True,
    ir=ir.Placement,
    ir_name="placement",
)

SPECULATIVE = BlockSchema(
    "speculative",
    "Speculative decoding: a draft model proposes tokens, the pool's model verifies them.",
    (
        Field("draft", RefTo("model"), "the draft model", required=True, example="small"),
        Field("tokens", POSITIVE_INT, "tokens proposed per step", default=4, default_doc="4", example="4"),
        Field("acceptance", RATIO, "share of proposed tokens accepted", default=Fraction(7, 10),
              default_doc="70%", example="70%"),
    ),
    named=False,
    unique=True,
    optional=True,
    ir=ir.SpeculativeConfig,
)

LORA = BlockSchema(
    "lora",
    "LoRA adapters served beside the base model.",
    (
        Field("adapters", POSITIVE_INT, "adapters requests may ask for", required=True, example="8"),
        Field("rank", POSITIVE_INT, "LoRA rank", default=16, default_doc="16", example="16"),
        Field("max_loras", POSITIVE_INT, "adapters in one batch", default=1, default_doc="1", example="4"),
    ),
    named=False,
    unique=True,
    optional=True,
    ir=ir.LoRAConfig,
)

_POOL_FIELDS: tuple[Field, ...] = (
        Field("model", RefTo("model"), "the model it serves", required=True, example="llama"),
        Field(
            "hardware",
            RefTo("hardware"),
            "the device, by its `use hardware` name",
            required=True,
            example="h100",
        ),
        Field("instances", POSITIVE_INT, "number of instances", default=1, default_doc="1", example="1"),
        Field("tp", POSITIVE_INT, "tensor-parallel degree", default=1, default_doc="1", example="1"),
        Field("pp", POSITIVE_INT, "pipeline-parallel degree", default=1, default_doc="1", example="1"),
        Field(
            "role",
            Enum(("unified", "prefill", "decode"), "role"),
            "which phases the instances run",
            default="unified",
            default_doc="`unified`",
            example="unified",
        ),
        Field("ep", POSITIVE_INT, "expert-parallel degree", default=1, default_doc="1", example="1"),
        Field("dp", POSITIVE_INT, "data-parallel degree of attention", default=1, default_doc="1", example="1"),
        Field("node", RefTo("node"), "the nodes the instances run on", default_doc="—", example="dgx"),
        Field(
            "kv_link",
            RefTo("link"),
            "the link KV caches cross from the prefill to the decode stage",
            default_doc="—",
            example="ib",
        ),
    )

STAGE_KEYS = ("hardware", "instances", "tp", "pp", "ep", "dp", "node")


def _stage(kind: str, what: str) -> BlockSchema:
    return BlockSchema(
        kind,
        f"The {what} stage of a disaggregated pool: the pool's keys it changes.",
        tuple(
            dataclasses.replace(f, required=False, default=None, default_doc="the pool's")
            for f in _POOL_FIELDS
            if f.name in STAGE_KEYS
        ),
        blocks=(SCHEDULER, KV_CACHE),
        named=False,
        unique=True,
        optional=True,
    )


STAGES = (_stage("prefill", "prefill"), _stage("decode", "decode"))

POOL = BlockSchema(
    "pool",
    "A pool of identical serving instances of one model on one kind of device.",
    _POOL_FIELDS,
    blocks=(SCHEDULER, KV_CACHE, PLACE, SPECULATIVE, LORA, *STAGES),
    rules=(
        "With `prefill { ... }` and `decode { ... }` blocks the pool is disaggregated: it becomes the two "
        "pools `NAME.prefill` and `NAME.decode`, each with the pool's settings and its own block's on top; "
        "a router whose `targets` name the pool sends new requests to `NAME.prefill`.",
    ),
    ir=ir.PoolDecl,
    example="pool main { model = llama  hardware = h100 }",
    ir_extra=("group",),
)

ROUTER_POLICIES = (
    "round_robin",
    "random",
    "least_loaded",
    "least_outstanding_tokens",
    "power_of_two",
    "prefix_affinity",
    "slo_aware",
)

ROUTER = BlockSchema(
    "router",
    "Spreads arriving requests over the instances of its target pools.",
    (
        Field(
            "policy",
            Enum(ROUTER_POLICIES, "router policy", _registered("router")),
            "how to pick an instance",
            default="round_robin",
            default_doc="`round_robin`",
            example="round_robin",
        ),
        Field(
            "targets",
            ListOf(RefTo("pool"), non_empty=True, unique=True),
            "the pools it sends to",
            required=True,
            example="[main]",
        ),
    ),
    ir=ir.RouterDecl,
    example="router front { targets = [main] }",
)

WORKLOAD = BlockSchema(
    "workload",
    "The requests sent to the cluster: how many, when they arrive, and how long they are.",
    (
        Field("requests", POSITIVE_INT, "number of requests", default_doc="all of the trace", example="1000"),
        Field(
            "seed",
            NON_NEGATIVE_INT,
            "seed of the workload's random numbers",
            default=0,
            default_doc="0",
            example="42",
        ),
        Field(
            "arrival",
            ARRIVAL,
            "when requests arrive",
            default_doc="`trace()` with a `trace`",
            example="poisson(rate = 4/s)",
        ),
        Field(
            "lengths",
            LENGTHS,
            "joint prompt and output lengths",
            default_doc="—",
            example='dataset("sharegpt")',
        ),
        Field("prompt", LENGTH, "prompt lengths (with `output`)", default_doc="—", example="fixed(512)"),
        Field("output", LENGTH, "output lengths (with `prompt`)", default_doc="—", example="fixed(128)"),
        Field(
            "trace",
            TRACE,
            "a trace to replay: lengths and arrival times",
            default_doc="—",
            example='sharegpt("traces/requests.jsonl")',
        ),
        Field(
            "router",
            RefTo("router"),
            "the router that receives the requests",
            default_doc="the only router, or the only pool",
            example="front",
        ),
        Field("sessions", SESSIONS, "multi-turn conversations", default_doc="—", example="multi_turn(turns = 4)"),
        Field("priority", NON_NEGATIVE_INT, "larger is served first by `order = priority` schedulers",
              default=0, default_doc="0", example="1"),
    ),
    rules=(
        "Lengths come from exactly one of: `lengths`, both `prompt` and `output`, or `trace`.",
        "`requests` is required unless `trace` is given.",
        "`arrival` is required unless `trace` is given; `arrival = trace(...)` needs a `trace`.",
    ),
    ir=ir.WorkloadDecl,
    example='workload chat { requests = 100  arrival = poisson(rate = 4/s)  lengths = dataset("sharegpt") }',
)

SIMULATION = BlockSchema(
    "simulation",
    "Run-wide settings.",
    (
        Field("seed", NON_NEGATIVE_INT, "seed of the run", default=0, default_doc="0", example="42"),
        Field(
            "max_time",
            POSITIVE_DURATION,
            "stop simulated time here",
            default_doc="until every request completes",
            example="10min",
            ir_name="max_time_ns",
        ),
    ),
    named=False,
    unique=True,
    ir=ir.SimulationConfig,
    example="simulation { seed = 1 }",
)

DEVICE = BlockSchema(
    "device",
    "A kind of device: a measured hardware entry, or a spec sheet for a device without one (a PIM "
    "device, a CPU, a memory expander).",
    (
        Field("kind", Enum(("gpu", "npu", "cpu", "pim", "memory"), "device kind"), "what it is", default="gpu",
              default_doc="`gpu`", example="pim"),
        Field("hardware", RefTo("hardware"), "the measured entry that prices it", default_doc="—",
              example="h100"),
        Field("memory", DATA_SIZE, "memory capacity", default_doc="the entry's", example="80GiB",
              ir_name="memory_bytes"),
        Field("memory_bandwidth", POSITIVE_BANDWIDTH, "memory bandwidth", default_doc="the entry's",
              example="3.35TB/s", ir_name="memory_bandwidth_bytes_per_s"),
        Field("compute", POSITIVE_COMPUTE_RATE, "peak compute", default_doc="the entry's",
              example="989TFLOP/s", ir_name="compute_flop_per_s"),
        Field("power", POSITIVE_POWER, "power at full load", default_doc="the entry's", example="700W",
              ir_name="power_w"),
    ),
    ir=ir.DeviceDecl,
    example="device aim { kind = pim  memory = 32GiB  memory_bandwidth = 16TB/s }",
    library=True,
)

LINK = BlockSchema(
    "link",
    "A kind of link between devices or nodes.",
    (
        Field("kind", Enum(("nvlink", "pcie", "infiniband", "ethernet", "cxl"), "link kind"), "what it is",
              default="ethernet", default_doc="`ethernet`", example="nvlink"),
        Field("bandwidth", POSITIVE_BANDWIDTH, "bandwidth per direction", required=True, example="900GB/s",
              ir_name="bandwidth_bytes_per_s"),
        Field("latency", DURATION, "one-way latency", default=0, default_doc="0s", example="2us",
              ir_name="latency_ns"),
    ),
    ir=ir.LinkDecl,
    example="link nvlink4 { kind = nvlink  bandwidth = 900GB/s }",
    library=True,
)

ATTACH = BlockSchema(
    "attach",
    "More devices in each node beside its main ones (repeat the block for several kinds).",
    (
        Field("device", RefTo("device"), "the device", required=True, example="aim"),
        Field("count", POSITIVE_INT, "devices per node", default=1, default_doc="1", example="16"),
        Field("link", RefTo("link"), "how they connect to the main devices", default_doc="—", example="cxl"),
    ),
    named=False,
    repeated=True,
    ir=ir.Attachment,
)

NODE = BlockSchema(
    "node",
    "A kind of node; `node NAME[N] { ... }` declares N identical nodes (1 without brackets).",
    (
        Field("device", RefTo("device"), "its accelerators", required=True, example="h100"),
        Field("count", POSITIVE_INT, "accelerators per node", default=1, default_doc="1", example="8"),
        Field("link", RefTo("link"), "the link between the node's accelerators", default_doc="—",
              example="nvlink4"),
        Field("memory", DATA_SIZE, "host memory", default_doc="—", example="2TiB", ir_name="memory_bytes"),
    ),
    blocks=(ATTACH,),
    ir=ir.NodeDecl,
    example="node dgx[2] { device = h100  count = 8  link = nvlink4 }",
    indexed=True,
    library=True,
    ir_extra=("replicas",),
)

FABRIC = BlockSchema(
    "fabric",
    "The network between nodes.",
    (
        Field("nodes", ListOf(RefTo("node"), non_empty=True, unique=True), "the nodes it connects",
              required=True, example="[dgx]"),
        Field("link", RefTo("link"), "the link of each node to the network", required=True, example="ib"),
        Field("topology", Enum(("full", "ring", "fat_tree", "torus"), "topology"), "how nodes connect",
              default="fat_tree", default_doc="`fat_tree`", example="fat_tree"),
    ),
    ir=ir.FabricDecl,
    example="fabric net { nodes = [dgx]  link = ib }",
    library=True,
)

SLO_METRICS = ("ttft", "tpot", "itl", "e2e", "queue")
SLO_STATS = ("mean", "p50", "p90", "p95", "p99")
SLO_TOTALS = ("attainment", "goodput")

SLO = BlockSchema(
    "slo",
    "Service-level objectives, checked on the results: bounds on latency statistics, and on the share "
    "of requests (`attainment`) and the rate of requests (`goodput`) that meet every per-request bound.",
    (
        Field("workload", RefTo("workload"), "the requests it judges", default_doc="every request",
              example="chat"),
    ),
    ir=ir.SLODecl,
    example="slo interactive { ttft.p99 < 500ms  tpot.p50 < 30ms  attainment >= 95% }",
    name_optional=True,
    constraints=True,
    library=True,
    ir_extra=("objectives",),
)

BLOCKS: tuple[BlockSchema, ...] = (
    MODEL, POOL, ROUTER, WORKLOAD, SIMULATION, DEVICE, LINK, NODE, FABRIC, SLO,
)
NESTED: dict[str, str] = {b.kind: parent.kind for parent in BLOCKS for b in parent.blocks}
NESTED.update({"tier": "kv_cache", "zip": "sweep"})
SWEEP_KIND = "sweep"


def block(kind: str) -> BlockSchema | None:
    """The schema of a top-level block kind."""
    return next((b for b in BLOCKS if b.kind == kind), None)


def kinds() -> list[str]:
    return [b.kind for b in BLOCKS]


# The reference ------------------------------------------------------------------------------------

_INTRO = """\
# The `.llms` language

<!-- Generated by `llmsim.lang.schema.reference_markdown()`; do not edit by hand.
     Regenerate with `python -c "from llmsim.lang.schema import write_reference; write_reference()"`. -->

A spec describes a serving cluster: the hardware it runs on, the models, the pools of instances that
serve them, the routers in front of them and the workloads sent to them.

```
# Quickstart: Llama-3.1-8B served by vLLM 0.24.0 on one H100-SXM.
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100

model llama {
  catalog = "Llama-3.1-8B"
  dtype   = bf16
}

pool main {
  model     = llama
  hardware  = h100
  instances = 1
  tp        = 1
  scheduler {
    max_num_seqs           = 256
    max_num_batched_tokens = 8192
  }
  kv_cache { block_size = 16  gpu_memory_utilization = 90% }
}

router front {
  policy  = round_robin
  targets = [main]
}

workload chat {
  requests = 1000
  arrival  = poisson(rate = 4/s)
  lengths  = dataset("sharegpt")
  seed     = 42
}
```

See [the tutorial](tutorial.md) for a walk from one GPU to a disaggregated cluster with a sweep.

## Syntax

- A file is a list of `use hardware`, `import` and `param` lines and blocks. A block is
  `KIND NAME { ... }`; its body holds attributes `key = value`, nested blocks and (in `slo` blocks)
  comparisons `metric.stat < value`, separated by spaces or new lines (no commas).
- `#` starts a comment that runs to the end of the line.
- Values: numbers (`1_000`, `0.5`, `2e3`), quantities with the unit glued on (`80GiB`, `3.35TB/s`,
  `500ms`, `4/s`, `90%`), strings in double quotes (escapes `\\"` and `\\\\`), `true` and `false`, names
  of other blocks (`llama`), lists (`[a, b]`, trailing comma allowed), calls
  (`poisson(rate = 4/s)`, arguments by position or by name), parentheses, unary minus and `+ - * /`.
- Arithmetic is exact and checks units: `2 * 80GiB` is a data size, `1GiB + 1s` is an error. Write
  spaces around `/` to divide: `16/tp` reads as the number 16 with the unit `/tp`.
- Keys are closed: a key a block does not know is an error. Each key may be set once.
- Names refer to blocks of the right kind (`model = llama`, `targets = [main.decode]`), wherever in
  the file or its modules they are declared; a misspelt name gets suggestions from the names legal there.
- Paths (`config`, `trace`) are relative to the spec's folder or to a folder passed with `-I DIR`;
  absolute paths and paths that leave those folders are errors.
- `llmsimc fmt FILE...` rewrites files in the canonical layout (`--check` only reports).

Every construct below is checked and compiled to the IR. Those whose compiler or runtime support comes
in a later version (`lora`; scheduler policies other than `vllm` and registered plugins, and orders
other than `fcfs`; multi-turn `sessions`; request `priority`; fabric topologies `ring` and
`torus`; speculative decoding together with `pp` > 1) are then refused by `llmsimc` with a
"not supported yet" error at their place in the file, never ignored
(`llmsim/compiler/support.py` lists them).

## `import`

```
import "std/nodes"          # the standard library: llmsim/stdlib/nodes.llms
import "common/models.llms" # relative to this file, then to each `-I DIR`
```

Makes the declarations of another file usable here. Modules hold `use hardware` and `import` lines
and `model`, `device`, `link`, `node`, `fabric` and `slo` blocks; only what the spec uses is built.
Each module is read once; an import cycle is an error. The `.llms` suffix may be left out.

## `param` and `-D`

```
param tp   = 2
param rate = 4/s
pool main { model = llama  hardware = h100  tp = tp  instances = 16 / tp }
```

A param is a named value used wherever a value goes, in arithmetic too; a param may use params
declared before it. `llmsimc spec.llms -D tp=4 -D rate=8/s` overrides defaults; the value is read
with the same syntax and units, and a `-D` for a param the spec does not declare is an error.

## `sweep`

```
sweep {
  tp = [1, 2, 4]                 # each value of tp ...
  zip {                          # ... times each pair (rate, instances), zipped
    rate      = [2/s, 8/s]
    instances = [1, 4]
  }
}
```

A sweep runs the spec at every point of the cartesian product of its lines and `zip` groups (the
first varies slowest); the lists of a `zip` group advance together and must have the same length.
Every value is checked where the param is used. `llmsimc` runs the points in parallel (`-j N`
processes, or `--backend ray [--ray-address ADDR]`) and prints one row per point; `--json` writes
every point's results. At most 10,000 points; a param set with `-D` cannot also be swept.

## `use hardware`

```
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
```

Imports a hardware_db entry pinned to an engine and version, written
`"<vendor>/<device>@<engine>-<version>"`. Pools refer to it by its alias; without `as`, the alias is
the device name with `-` replaced by `_` (`h100_sxm`).
"""


def _units_section() -> str:
    groups: dict[str, list[str]] = {}
    for unit, (_, dim) in UNITS.items():
        name = "a ratio (`%` is 1/100)" if dim == ONE else dim.name
        groups.setdefault(name, []).append(unit)
    lines = [
        "## Units",
        "",
        "Units are case-sensitive: `GB` is 10^9 bytes, `GiB` 2^30 bytes, `Gb` 10^9 bits.",
        "",
        "| dimension | units |",
        "| --- | --- |",
    ]
    for name, units in groups.items():
        lines.append(f"| {name} | " + " ".join(f"`{u}`" for u in units) + " |")
    return "\n".join(lines) + "\n"


def _field_table(fields: Sequence[Field], head: str = "key") -> list[str]:
    lines = [f"| {head} | type | default | meaning |", "| --- | --- | --- | --- |"]
    for f in fields:
        default = "required" if f.required else (f.default_doc or "—")
        lines.append(f"| `{f.name}` | {f.type.doc()} | {default} | {f.doc} |")
    return lines


def _block_section(schema: BlockSchema, level: int = 2, parent: str = "") -> list[str]:
    head = "#" * level
    name = " NAME[N]" if schema.indexed else (" NAME?" if schema.name_optional else " NAME")
    title = f"`{schema.kind}{name if schema.named else ''} {{ ... }}`"
    where = f" (inside `{parent}`, optional, at most one)" if parent else ""
    if parent and schema.repeated:
        where = f" (inside `{parent}`, optional, any number)"
    if not parent and schema.unique:
        where = " (optional, at most one)"
    lines = [f"{head} {title}{where}", "", schema.doc, ""]
    if schema.example:
        lines += ["```", schema.example, "```", ""]
    lines += _field_table(schema.fields)
    lines.append("")
    for rule in schema.rules:
        lines.append(f"- {rule}")
    if schema.rules:
        lines.append("")
    calls: dict[int, list[Field]] = {}  # keys sharing one call type are documented once
    for f in schema.fields:
        if isinstance(f.type, OneOf):
            calls.setdefault(id(f.type), []).append(f)
    for fields in calls.values():
        call = fields[0].type
        assert isinstance(call, OneOf)
        names = " and ".join(f"`{f.name}`" for f in fields)
        lines += [f"{head}# {names} values", ""]
        for v in call.variants:
            lines += [f"`{v.signature}`: {v.doc}", ""]
            if v.params:
                lines += _field_table(v.params, "argument")
                lines.append("")
    if schema.ir is None and schema.blocks:  # a pool's stage: its nested blocks are the pool's
        kinds = " and ".join(f"`{b.kind} {{ ... }}`" for b in schema.blocks)
        lines += [f"It may also hold {kinds} blocks, whose keys override the pool's.", ""]
        return lines
    for sub in schema.blocks:
        lines += _block_section(sub, level + 1, schema.kind)
    return lines


def _slo_section() -> list[str]:
    return [
        "### Objectives",
        "",
        "An objective is `METRIC.STAT OP VALUE` or `METRIC OP VALUE`:",
        "",
        "| metric | meaning | bound |",
        "| --- | --- | --- |",
        "| `ttft` | time to first token | `<` or `<=` a duration |",
        "| `tpot` | time per output token (after the first) | `<` or `<=` a duration |",
        "| `itl` | inter-token latency (statistic only) | `<` or `<=` a duration |",
        "| `e2e` | arrival to last token | `<` or `<=` a duration |",
        "| `queue` | arrival to first scheduled | `<` or `<=` a duration |",
        "| `attainment` | share of requests that meet every per-request bound | `>` or `>=` a ratio |",
        "| `goodput` | requests per second that meet every per-request bound | `>` or `>=` a rate |",
        "",
        "Statistics: " + ", ".join(f"`{s}`" for s in SLO_STATS) + ". A latency bound with a statistic "
        "(`ttft.p99 < 500ms`) judges the statistic and is also the bound each request must meet; "
        "without one (`e2e < 10s`) it is a per-request bound only. Results carry the outcome under the "
        "`slo` key (docs/results.md).",
        "",
    ]


def _stdlib_section() -> list[str]:
    from llmsim.lang.modules import STDLIB

    lines = ["## Standard library", "", "Modules under `std/`, written in `.llms` (`llmsim/stdlib/`):", ""]
    for path in sorted(STDLIB.glob("*.llms")):
        names = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            words = raw.split()
            if len(words) >= 2 and words[0] in {b.kind for b in BLOCKS}:
                names.append(f"`{words[1].split('[')[0]}`")
        lines.append(f"- `import \"std/{path.stem}\"`: " + ", ".join(names))
    return [*lines, ""]


def reference_markdown() -> str:
    """The language reference, generated from this schema (`docs/language.md`)."""
    lines = [_INTRO]
    for b in BLOCKS:
        lines += _block_section(b)
        if b is SLO:
            lines += _slo_section()
    lines += _stdlib_section()
    catalog = ["## Model catalog", "", 'Names a `model` block may write as `catalog = "..."`:', ""]
    catalog += [f"- `{name}`" for name in catalog_names()]
    out = "\n".join(lines).rstrip("\n") + "\n\n" + _units_section() + "\n" + "\n".join(catalog) + "\n"
    return out


REFERENCE_PATH = Path(__file__).resolve().parents[2] / "docs" / "language.md"


def write_reference(path: Path = REFERENCE_PATH) -> None:  # pragma: no cover - maintenance helper
    path.write_text(reference_markdown(), encoding="utf-8")


__all__ = [
    "BLOCKS",
    "BlockSchema",
    "Field",
    "OneOf",
    "Param",
    "Type",
    "Variant",
    "block",
    "kinds",
    "reference_markdown",
]
