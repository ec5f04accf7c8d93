"""The schema of `entry.yaml`, written out in Python and checked by a small validator.

The schema is data (`ENTRY_SCHEMA`), built from a handful of node kinds: `Str`, `Int`, `Number`,
`Qty` (a quantity string such as `3.35TB/s`, parsed by `llmsim.lang.units`), `Map` (closed: an
unknown key is an error with a suggestion), `MapOf`, `ListOf` and `Tagged` (a map whose `op` picks
its fields). `check_document()` returns every problem at once, each with the path of its field.

Bump `SCHEMA_VERSION` on any change that an older reader would misread; readers refuse versions they
do not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from llmsim.diagnostics import did_you_mean, suggestion_text
from llmsim.hwdb.layerwise import LAYERWISE_KINDS
from llmsim.hwdb.tables import LATENCY_COLUMN  # noqa: F401 (re-exported: the column every table ends with)
from llmsim.lang.units import (
    BANDWIDTH,
    COMPUTE_RATE,
    DATA,
    DIM_NAMES,
    POWER,
    TIME,
    UNITS,
    Dim,
    parse_quantity,
    unit_suggestions,
)

SCHEMA_VERSION = 2
KINDS = ("measured", "profiled", "spec-sheet")
DTYPES = ("bf16", "fp16", "fp8", "fp4", "int8", "fp32", "tf32")
KV_DTYPES = ("bf16", "fp16", "fp8", "fp32")

# op -> the key columns of its CSV, in order; every table file is `<keys...>,latency_us`.
OP_KEYS: dict[str, tuple[str, ...]] = {
    "gemm": ("m", "n", "k"),
    "attention_prefill": ("batch", "isl"),
    "attention_decode": ("batch", "kv_len"),
    "allreduce": ("num_gpus", "message_bytes"),
    "all_gather": ("num_gpus", "message_bytes"),
    "reduce_scatter": ("num_gpus", "message_bytes"),
    "alltoall": ("num_gpus", "message_bytes"),
    "moe": ("hidden_size", "inter_size", "topk", "num_experts", "moe_tp", "moe_ep", "num_tokens"),
    "moe_a2a": ("ep_size", "node_num", "hidden_size", "topk", "num_experts", "num_tokens"),
}
COLLECTIVE_OPS = ("allreduce", "all_gather", "reduce_scatter", "alltoall")
# the monotonic checks of `llmsim hwdb validate`: one per op table, and these on layer-wise tables
LAYERWISE_CHECKS = (
    "layer_dense",
    "layer_per_sequence",
    "layer_moe",
    "layer_attention_prefill_chunk",
    "layer_attention_kv_prefill",
    "layer_attention_n_decode",
    "layer_attention_kv_decode",
)
MONOTONE_CHECKS = (*OP_KEYS, *LAYERWISE_CHECKS)
# layer-wise table kinds (their columns: llmsim.hwdb.layerwise.LAYERWISE_COLUMNS)
REQUIRED_LAYERWISE = ("dense", "per_sequence", "attention")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One schema violation: where (a path into the document), what, and what to write instead."""

    path: Path_
    message: str
    help: str = ""


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Node:
    """A schema node; `describe` is the noun used in messages ("a bandwidth", "a string")."""

    describe = "a value"

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:  # pragma: no cover
        raise NotImplementedError

    def example(self) -> str:
        return "..."


@dataclass(frozen=True)
class Str(Node):
    choices: tuple[str, ...] = ()
    pattern: str = ""
    what: str = "a string"
    sample: str = "..."

    @property
    def describe(self) -> str:  # type: ignore[override]
        return self.what

    def example(self) -> str:
        return self.choices[0] if self.choices else self.sample

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, str):
            hint = (
                f'quote it: `"{value}"`'
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else ""
            )
            out.append(Problem(path, f"expected {self.what}, found {_type_name(value)}", hint))
            return
        if self.choices and value not in self.choices:
            sugg = suggestion_text(did_you_mean(value, self.choices))
            legal = ", ".join(f"`{c}`" for c in self.choices)
            out.append(Problem(path, f"`{value}` is not one of {legal}", sugg))
        elif self.pattern and not re.fullmatch(self.pattern, value):
            out.append(Problem(path, f"`{value}` is not {self.what}", f"write it like `{self.sample}`"))


@dataclass(frozen=True)
class Int(Node):
    min: int | None = None
    const: int | None = None
    describe = "an integer"

    def example(self) -> str:
        return str(self.const if self.const is not None else (self.min or 1))

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(Problem(path, f"expected an integer, found {_type_name(value)}"))
        elif self.const is not None and value != self.const:
            out.append(Problem(path, f"must be {self.const}, found {value}"))
        elif self.min is not None and value < self.min:
            out.append(Problem(path, f"must be at least {self.min}, found {value}"))


@dataclass(frozen=True)
class Number(Node):
    """A plain number in (low, high]; a dimensionless quantity string such as `80%` is accepted too."""

    low: float = 0.0
    high: float = 1.0
    describe = "a number"

    def example(self) -> str:
        return "0.8"

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        v = dimensionless(value)
        if v is None:
            out.append(
                Problem(path, f"expected a number, found {_type_name(value)}", "write it like `0.8` or `80%`")
            )
        elif not (self.low < v <= self.high):
            out.append(
                Problem(path, f"must be greater than {self.low:g} and at most {self.high:g}, found {v:g}")
            )


def dimensionless(value: Any) -> float | None:
    """The value of a plain number or a dimensionless quantity string; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            q = parse_quantity(value)
        except (KeyError, ValueError):
            return None
        return float(q.value) if q.dim.is_dimensionless else None
    return None


@dataclass(frozen=True)
class Qty(Node):
    """A quantity written with its unit (`3.35TB/s`), of one dimension, strictly positive."""

    dim: Dim
    sample: str

    @property
    def describe(self) -> str:  # type: ignore[override]
        return DIM_NAMES.get(self.dim, self.dim.formula)

    def example(self) -> str:
        return self.sample

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        what = self.describe
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(
                Problem(
                    path,
                    f"{what} needs a unit, found the bare number {value}",
                    f"write it with its unit, like `{self.sample}`",
                )
            )
            return
        if not isinstance(value, str):
            out.append(
                Problem(path, f"expected {what}, found {_type_name(value)}", f"write it like `{self.sample}`")
            )
            return
        try:
            q = parse_quantity(value)
        except KeyError as exc:
            unit = str(exc.args[0])
            cands = unit_suggestions(unit)
            fitting = [c for c in cands if UNITS[c][1] == self.dim]
            sugg = suggestion_text(fitting or cands)
            out.append(
                Problem(path, f"unknown unit `{unit}` in `{value}`", sugg or f"write it like `{self.sample}`")
            )
            return
        except (ValueError, ZeroDivisionError):
            out.append(Problem(path, f"`{value}` is not a quantity", f"write it like `{self.sample}`"))
            return
        if q.dim != self.dim:
            if q.dim.is_dimensionless:
                out.append(
                    Problem(
                        path,
                        f"{what} needs a unit, found `{value}`",
                        f"write it with its unit, like `{self.sample}`",
                    )
                )
            else:
                out.append(
                    Problem(
                        path,
                        f"expected {what}, found {q.dim.name} (`{value}`)",
                        f"write it like `{self.sample}`",
                    )
                )
            return
        if q.value <= 0:
            out.append(Problem(path, f"must be positive, found `{value}`"))


def quantity_value(text: str) -> Fraction:
    """The exact value in base units of a quantity string the schema has already accepted."""
    return parse_quantity(text).value


@dataclass(frozen=True)
class Field:
    node: Node
    required: bool = True


@dataclass(frozen=True)
class Map(Node):
    fields: dict[str, Field]
    what: str = "a mapping"

    @property
    def describe(self) -> str:  # type: ignore[override]
        return self.what

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected {self.what}, found {_type_name(value)}"))
            return
        for key in value:
            if key not in self.fields:
                sugg = suggestion_text(did_you_mean(str(key), self.fields))
                legal = ", ".join(f"`{k}`" for k in self.fields)
                out.append(
                    Problem((*path, str(key)), "unknown field", sugg or f"the fields here are {legal}")
                )
        for name, f in self.fields.items():
            if name in value:
                f.node.check(value[name], (*path, name), out)
            elif f.required:
                out.append(
                    Problem(
                        (*path, name),
                        "required field is missing",
                        f"add `{name}: {f.node.example()}` ({f.node.describe})",
                    )
                )


@dataclass(frozen=True)
class MapOf(Node):
    key: Str
    value: Node
    min_items: int = 0
    what: str = "a mapping"

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected {self.what}, found {_type_name(value)}"))
            return
        if len(value) < self.min_items:
            out.append(Problem(path, f"needs at least {self.min_items} item(s)"))
        for k, v in value.items():
            if not isinstance(k, str):
                out.append(Problem((*path, str(k)), f"a name here must be a string, found {_type_name(k)}"))
                continue
            key_problems: list[Problem] = []
            self.key.check(k, (*path, k), key_problems)
            out.extend(key_problems)
            self.value.check(v, (*path, k), out)


@dataclass(frozen=True)
class ListOf(Node):
    item: Node
    describe = "a list"

    def example(self) -> str:
        return "[...]"

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, list):
            out.append(Problem(path, f"expected a list, found {_type_name(value)}"))
            return
        for i, v in enumerate(value):
            self.item.check(v, (*path, i), out)


@dataclass(frozen=True)
class Opaque(Node):
    """A mapping copied verbatim from a source (profiling metadata); only its type is checked."""

    describe = "a mapping"

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected a mapping, found {_type_name(value)}"))


@dataclass(frozen=True)
class Keys(Node):
    """The `keys` of a table: exactly the key columns its op defines, in order."""

    expected: tuple[str, ...]
    describe = "a list of key columns"

    def example(self) -> str:
        return "[" + ", ".join(self.expected) + "]"

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, list) or tuple(value) != self.expected:
            out.append(
                Problem(
                    path,
                    f"must be {self.example()} for this op, found {value!r}",
                    f"write `keys: {self.example()}`",
                )
            )


@dataclass(frozen=True)
class Tagged(Node):
    """A mapping whose `tag` field chooses the rest of its schema."""

    tag: str
    variants: dict[str, Map]
    what: str = "a table"

    @property
    def describe(self) -> str:  # type: ignore[override]
        return self.what

    def check(self, value: Any, path: Path_, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected {self.what}, found {_type_name(value)}"))
            return
        tag = value.get(self.tag)
        if tag is None:
            out.append(
                Problem(
                    (*path, self.tag),
                    "required field is missing",
                    f"add `{self.tag}:` with one of " + ", ".join(f"`{v}`" for v in self.variants),
                )
            )
            return
        if tag not in self.variants:
            sugg = suggestion_text(did_you_mean(str(tag), self.variants))
            legal = ", ".join(f"`{v}`" for v in self.variants)
            out.append(Problem((*path, self.tag), f"`{tag}` is not one of {legal}", sugg))
            return
        self.variants[tag].check(value, path, out)


# ---------------------------------------------------------------------------------------------------
# The entry schema

NAME = r"[a-z0-9][a-z0-9_-]*"
_TABLE_FILE = r"(?!.*(^|/)\.\.(/|$))[A-Za-z0-9_./-]+\.csv"


def _table_fields(op: str, extra: dict[str, Field]) -> Map:
    fields = {
        "file": Field(
            Str(pattern=_TABLE_FILE, what="a relative path to a .csv file", sample="tables/gemm_bf16.csv")
        ),
        "op": Field(Str(choices=tuple(OP_KEYS))),
        **extra,
        "keys": Field(Keys(OP_KEYS[op])),
        "unit": Field(Str(choices=("us",))),
        "rows": Field(Int(min=1)),
        "kernel": Field(Str(sample="torch.nn.functional.linear")),
        "source": Field(Str(sample="gemm/vllm/0.24.0/gemm_perf.csv.gz")),
        "source_filter": Field(Str(sample="gemm_dtype=bfloat16"), required=False),
        "notes": Field(Str(), required=False),
    }
    return Map(fields, what=f"a {op} table")


_COLLECTIVE = {
    "dtype": Field(Str(choices=("bf16", "fp16", "fp8", "fp32", "int8"))),
    "implementation": Field(Str(pattern=NAME, what="an implementation name", sample="nccl")),
    "implementation_version": Field(Str(sample="2.27.3"), required=False),
    "mode": Field(Str(choices=("graph", "eager")), required=False),
}

_ATTENTION = {
    "dtype": Field(Str(choices=("bf16", "fp16", "fp32"))),
    "kv_dtype": Field(Str(choices=KV_DTYPES)),
    "num_heads": Field(Int(min=1)),
    "num_kv_heads": Field(Int(min=1)),
    "head_dim": Field(Int(min=1)),
    "window": Field(Int(min=0), required=False),
}

TABLE_SCHEMA = Tagged(
    "op",
    {
        "gemm": _table_fields("gemm", {"dtype": Field(Str(choices=("bf16", "fp16", "fp8", "fp32")))}),
        "attention_prefill": _table_fields("attention_prefill", _ATTENTION),
        "attention_decode": _table_fields("attention_decode", _ATTENTION),
        **{op: _table_fields(op, _COLLECTIVE) for op in COLLECTIVE_OPS},
        "moe": _table_fields(
            "moe",
            {
                "dtype": Field(Str(pattern=NAME, what="a MoE quantisation name", sample="bf16")),
                "distribution": Field(Str(pattern=r"[a-z0-9_.]+", what="a routing distribution", sample="balanced")),
            },
        ),
        "moe_a2a": _table_fields(
            "moe_a2a",
            {
                "dtype": Field(Str(pattern=NAME, what="a dtype name", sample="default")),
                "backend": Field(Str(pattern=NAME, what="a backend name", sample="deepep_ht")),
                "phase": Field(Str(choices=("dispatch", "combine"))),
            },
        ),
    },
)

_LAYERWISE_TABLE = Map(
    {
        "file": Field(
            Str(pattern=_TABLE_FILE, what="a relative path to a .csv file", sample="layerwise/m/bf16/tp1/dense.csv")
        ),
        "rows": Field(Int(min=1)),
        "source": Field(Str(sample="RTX4090/meta-llama/Llama-3.1-8B/bf16/tp1/dense.csv")),
    },
    what="a layer-wise table",
)

LAYERWISE_SCHEMA = ListOf(
    Map(
        {
            "model": Field(Str(pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*",
                               what="a Hugging Face model id", sample="meta-llama/Llama-3.1-8B")),
            "dtype": Field(Str(choices=DTYPES)),
            "tp": Field(Int(min=1)),
            "tables": Field(
                Map({kind: Field(_LAYERWISE_TABLE, required=kind in REQUIRED_LAYERWISE) for kind in LAYERWISE_KINDS},
                    what="the layer-wise tables")
            ),
        },
        what="a layer-wise table set",
    )
)

VALIDATION_SCHEMA = Map(
    {
        "monotone_tolerance": Field(
            MapOf(Str(choices=MONOTONE_CHECKS), Number(0.0, 1.0), min_items=1), required=False
        ),
        "notes": Field(ListOf(Str()), required=False),
    },
    what="validation settings",
)

LINK_SCHEMA = Map(
    {
        "bandwidth": Field(Qty(BANDWIDTH, "450GB/s")),
        "latency": Field(Qty(TIME, "10us"), required=False),
    },
    what="a link",
)

DEVICE_SCHEMA = Map(
    {
        "name": Field(Str(sample="NVIDIA H100 SXM 80GB")),
        "memory_capacity": Field(Qty(DATA, "80GiB")),
        "memory_bandwidth": Field(Qty(BANDWIDTH, "3.35TB/s")),
        "memory_efficiency": Field(Number(0.0, 1.0), required=False),
        "launch_latency": Field(Qty(TIME, "3us"), required=False),
        "peak_flops": Field(MapOf(Str(choices=DTYPES), Qty(COMPUTE_RATE, "989TFLOP/s"))),
        "tdp": Field(Qty(POWER, "700W"), required=False),
        "idle_power": Field(Qty(POWER, "70W"), required=False),
        "links": Field(MapOf(Str(pattern=NAME, what="a link name", sample="nvlink"), LINK_SCHEMA)),
        "gpus_per_node": Field(Int(min=1), required=False),
        "sources": Field(
            MapOf(Str(pattern=r"[a-z_]+", what="a device field", sample="tdp"), Str()), required=False
        ),
    },
    what="a device spec sheet",
)

PROVENANCE_SCHEMA = Map(
    {
        "source": Field(
            Map(
                {
                    "package": Field(Str(sample="aiconfigurator-core")),
                    "version": Field(Str(sample="0.12.0")),
                    "path": Field(Str(sample="systems/data/h100_sxm")),
                    "files": Field(MapOf(Str(pattern=r"[a-z0-9_]+", sample="gemm"), Str()), required=False),
                },
                what="a source",
            )
        ),
        "measured_by": Field(Str(sample="NVIDIA")),
        "measured_with": Field(MapOf(Str(pattern=r"[a-z0-9_]+", sample="engine"), Str())),
        "date": Field(Str(pattern=r"\d{4}-\d{2}-\d{2}", what="a date", sample="2026-01-31"), required=False),
        "licence": Field(
            Map(
                {
                    "spdx": Field(Str(sample="Apache-2.0")),
                    "file": Field(Str(sample="../../../LICENSES/x.txt")),
                },
                what="a licence",
            )
        ),
        "converted_by": Field(Str(sample="llmsim hwdb import ...")),
        "profiling": Field(MapOf(Str(sample="meta-llama/Llama-3.1-8B bf16"), Opaque()), required=False),
        "notes": Field(ListOf(Str()), required=False),
    },
    what="a provenance record",
)

ENTRY_SCHEMA = Map(
    {
        "schema_version": Field(Int(const=SCHEMA_VERSION)),
        "entry": Field(Str(pattern=rf"{NAME}/{NAME}", what="`<vendor>/<device>`", sample="nvidia/h100-sxm")),
        "engine": Field(
            Map(
                {
                    "name": Field(Str(pattern=NAME, what="an engine name", sample="vllm")),
                    "version": Field(
                        Str(pattern=r"[0-9A-Za-z][0-9A-Za-z.+_-]*", what="a version", sample="0.24.0")
                    ),
                },
                what="an engine",
            )
        ),
        "kind": Field(Str(choices=KINDS)),
        "device": Field(DEVICE_SCHEMA),
        "provenance": Field(PROVENANCE_SCHEMA),
        "validation": Field(VALIDATION_SCHEMA, required=False),
        "tables": Field(
            MapOf(Str(pattern=r"[a-z0-9][a-z0-9_]*", what="a table name", sample="gemm_bf16"), TABLE_SCHEMA)
        ),
        "layerwise": Field(LAYERWISE_SCHEMA, required=False),
    },
    what="a hardware entry",
)


def check_document(doc: Any) -> list[Problem]:
    """Every schema problem in a parsed `entry.yaml`, in document order; empty when it is valid."""
    out: list[Problem] = []
    if isinstance(doc, dict) and "schema_version" in doc and doc["schema_version"] != SCHEMA_VERSION:
        v = doc["schema_version"]
        return [
            Problem(
                ("schema_version",),
                f"schema version {v!r} is not supported (this llmsim reads {SCHEMA_VERSION})",
                "re-import the entry with this llmsim, or upgrade llmsim",
            )
        ]
    ENTRY_SCHEMA.check(doc, (), out)
    return out
