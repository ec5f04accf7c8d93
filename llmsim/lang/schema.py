"""What the generic grammar means: block kinds, their keys, types, units, defaults and ranges.

A new block kind or key is an entry here, not a grammar change. `check.py` reads these tables to
turn the AST into the IR, and `reference_markdown()` writes `docs/language.md` from them, so the
reference cannot drift from what the checker accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from llmsim.lang import ir
from llmsim.lang.units import DIM_EXAMPLES, ONE, RATE, TIME, UNITS, Dim

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
    """One of a closed set of bare names: `dtype = bf16`."""

    values: tuple[str, ...]
    noun: str

    def describe(self) -> str:
        return _or(self.values) if len(self.values) == 1 else "one of " + _or(self.values)

    def doc(self) -> str:
        return " \\| ".join(f"`{v}`" for v in self.values)


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
        return f"the name of a {self.kind}" if self.kind != "hardware" else "the name of a hardware import"

    def doc(self) -> str:
        if self.kind == "hardware":
            return "name of a `use hardware` import"
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

MODEL = BlockSchema(
    "model",
    "A model: from the built-in catalog or a Hugging Face `config.json`.",
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
    rules=("Exactly one of `catalog` and `config`.",),
    ir=ir.ModelDecl,
    example='model llama { catalog = "Llama-3.1-8B" }',
)

SCHEDULER = BlockSchema(
    "scheduler",
    "How an instance forms batches (vLLM V1 continuous batching).",
    (
        Field(
            "policy",
            Enum(("vllm",), "scheduler policy"),
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
            "step_overhead",
            DURATION,
            "host time added to every step",
            default=0,
            default_doc="0s",
            example="500us",
            ir_name="step_overhead_ns",
        ),
    ),
    named=False,
    unique=True,
    ir=ir.SchedulerConfig,
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
    named=False,
    unique=True,
    ir=ir.KVCacheConfig,
)

POOL = BlockSchema(
    "pool",
    "A pool of identical serving instances of one model on one kind of device.",
    (
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
    ),
    blocks=(SCHEDULER, KV_CACHE),
    ir=ir.PoolDecl,
    example="pool main { model = llama  hardware = h100 }",
)

ROUTER = BlockSchema(
    "router",
    "Spreads arriving requests over the instances of its target pools.",
    (
        Field(
            "policy",
            Enum(("round_robin",), "router policy"),
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

BLOCKS: tuple[BlockSchema, ...] = (MODEL, POOL, ROUTER, WORKLOAD, SIMULATION)
NESTED: dict[str, str] = {b.kind: parent.kind for parent in BLOCKS for b in parent.blocks}


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

## Syntax

- A file is a list of `use hardware` lines and blocks. A block is `KIND NAME { ... }`; its body holds
  attributes `key = value` and nested blocks, separated by spaces or new lines (no commas).
- `#` starts a comment that runs to the end of the line.
- Values: numbers (`1_000`, `0.5`, `2e3`), quantities with the unit glued on (`80GiB`, `3.35TB/s`,
  `500ms`, `4/s`, `90%`), strings in double quotes (escapes `\\"` and `\\\\`), `true` and `false`, names
  of other blocks (`llama`), lists (`[a, b]`, trailing comma allowed), calls
  (`poisson(rate = 4/s)`, arguments by position or by name), parentheses, unary minus and `+ - * /`.
- Arithmetic is exact and checks units: `2 * 80GiB` is a data size, `1GiB + 1s` is an error. Write
  spaces around `/` to divide: `16/tp` reads as the number 16 with the unit `/tp`.
- Keys are closed: a key a block does not know is an error. Each key may be set once.
- Paths (`config`, `trace`) are relative to the spec's folder or to a folder passed with `-I DIR`;
  absolute paths and paths that leave those folders are errors.

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
    title = f"`{schema.kind} NAME {{ ... }}`" if schema.named else f"`{schema.kind} {{ ... }}`"
    where = f" (inside `{parent}`, optional, at most one)" if parent else ""
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
    for sub in schema.blocks:
        lines += _block_section(sub, level + 1, schema.kind)
    return lines


def reference_markdown() -> str:
    """The language reference, generated from this schema (`docs/language.md`)."""
    lines = [_INTRO]
    for b in BLOCKS:
        lines += _block_section(b)
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
