"""The syntax tree of a `.llms` file: generic blocks, attributes and expressions, each with its span.

The grammar knows nothing about block kinds or keys; `schema.py` gives them meaning and `check.py`
turns this tree into the typed IR. Nodes are frozen so passes cannot change what the parser saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmsim.diagnostics import Span


@dataclass(frozen=True)
class Ident:
    """A name as written: a block kind, a block name, a key or one part of a reference."""

    name: str
    span: Span


# Expressions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A numeric literal with the unit glued to it, both as written (`3.35` and `TB/s`)."""

    text: str
    unit: str  # "" for a plain number
    span: Span

    @property
    def unit_span(self) -> Span:
        """The unit part alone (the whole literal when there is no unit)."""
        if not self.unit:
            return self.span
        s = self.span
        return Span(s.source, s.line, s.col + len(self.text), s.end_line, s.end_col)


@dataclass(frozen=True)
class String:
    value: str  # escapes already decoded
    span: Span


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True)
class Ref:
    """A name or dotted reference: `main`, `main.decode`."""

    parts: tuple[Ident, ...]
    span: Span

    @property
    def name(self) -> str:
        return ".".join(p.name for p in self.parts)


@dataclass(frozen=True)
class Arg:
    """One argument of a call, positional (`name` is None) or by keyword."""

    name: Ident | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    """`poisson(rate = 4/s)`: a constructor; the schema says which ones exist where."""

    func: Ident
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # "-"
    operand: Expr
    span: Span
    op_span: Span


@dataclass(frozen=True)
class Binary:
    op: str  # "+", "-", "*", "/"
    left: Expr
    right: Expr
    span: Span
    op_span: Span


Expr = Number | String | Bool | Ref | Call | ListExpr | Unary | Binary


# Statements -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attr:
    """`key = value` inside a block."""

    key: Ident
    value: Expr
    span: Span


@dataclass(frozen=True)
class Block:
    """`KIND NAME? [INDEX]? { ... }`: what the kind means is up to the schema."""

    kind: Ident
    name: Ident | None
    index: Expr | None
    body: tuple[Attr | Block | Constraint, ...]
    span: Span

    @property
    def head_span(self) -> Span:
        """Where to point at the block as a whole: its name, or its kind when it has none."""
        return (self.name or self.kind).span


@dataclass(frozen=True)
class UseHardware:
    """`use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100`."""

    target: String
    alias: Ident | None
    span: Span


@dataclass(frozen=True)
class Constraint:
    """`ttft.p99 < 500ms` inside a block (only `slo` blocks accept them)."""

    target: Ref
    op: str  # "<" | "<=" | ">" | ">="
    value: Expr
    span: Span
    op_span: Span


@dataclass(frozen=True)
class Import:
    """`import "nodes.llms"`: another `.llms` file whose declarations this one may use."""

    target: String
    span: Span


@dataclass(frozen=True)
class Param:
    """`param tp = 2`: a named value, overridable with `-D tp=4` and sweepable."""

    name: Ident
    value: Expr
    span: Span


Item = UseHardware | Import | Param | Block


@dataclass(frozen=True)
class Module:
    """A whole file."""

    items: tuple[Item, ...]
    span: Span
