"""Exact evaluation of numeric expressions: literals with units, unary minus and `+ - * /`.

Values are `units.Quantity` (exact `Fraction` in SI base units with a dimension). Unknown units,
arithmetic on non-numbers and dimension mismatches become diagnostics; the result is then None so
callers do not report the same mistake twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llmsim.diagnostics import DiagnosticBag, did_you_mean, suggestion_text
from llmsim.lang import ast
from llmsim.lang.units import UNITS, DimensionError, Quantity, quantity, unit_suggestions

MAX_DIGITS = 60  # digits of a literal; longer ones are surely mistakes
MAX_EXPONENT = 60

_LITERAL = re.compile(r"(?P<int>[0-9_]+)(?:\.(?P<frac>[0-9_]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?")

NUMERIC = (ast.Number, ast.Unary, ast.Binary)


def is_numeric(expr: ast.Expr) -> bool:
    """Whether `expr` is written as arithmetic (a literal or an operator), whatever its operands."""
    return isinstance(expr, NUMERIC)


def describe(expr: ast.Expr) -> str:
    """What a value is, in the words a diagnostic's label uses: "a string", "the name `main`"."""
    if isinstance(expr, ast.Number):
        if expr.unit in UNITS:
            return "a plain number" if not expr.unit or expr.unit == "%" else UNITS[expr.unit][1].name
        return "a number" if expr.unit else "a plain number"
    if isinstance(expr, ast.String):
        return "a string"
    if isinstance(expr, ast.Bool):
        return "`true`" if expr.value else "`false`"
    if isinstance(expr, ast.Ref):
        return f"the name `{expr.name}`"
    if isinstance(expr, ast.Call):
        return f"a call to `{expr.func.name}`"
    if isinstance(expr, ast.ListExpr):
        return "a list"
    return "an expression"


def literal_text(expr: ast.Expr, limit: int = 40) -> str | None:
    """The source text of `expr` when it is on one line and short, for labels like "found `2.5`"."""
    span = expr.span
    if span.line != span.end_line:
        return None
    text = span.source.line(span.line)[span.col - 1 : span.end_col - 1]
    return text if 0 < len(text) <= limit else None


class Evaluator:
    """Evaluates numeric expressions, reporting into `bag`."""

    def __init__(self, bag: DiagnosticBag, names: Sequence[str] = ()):
        self.bag = bag
        self.names = list(names)  # the params a name in arithmetic may be

    def evaluate(self, expr: ast.Expr) -> Quantity | None:
        if isinstance(expr, ast.Number):
            return self.number(expr)
        if isinstance(expr, ast.Unary):
            operand = self.operand(expr.operand)
            return None if operand is None else -operand
        if isinstance(expr, ast.Binary):
            left = self.operand(expr.left)
            right = self.operand(expr.right)
            if left is None or right is None:
                return None
            return self.binary(expr, left, right)
        help = ""
        if isinstance(expr, ast.Ref):
            help = suggestion_text(did_you_mean(expr.name, self.names)) or (
                "only params can be used in arithmetic" + (
                    ": " + ", ".join(f"`{n}`" for n in self.names) if self.names else
                    f"; declare one with `param {expr.parts[0].name} = ...`"
                )
            )
        self.bag.error(
            "arithmetic needs numbers or quantities", expr.span, label=f"this is {describe(expr)}", help=help
        )
        return None

    def operand(self, expr: ast.Expr) -> Quantity | None:
        return self.evaluate(expr)

    def binary(self, expr: ast.Binary, left: Quantity, right: Quantity) -> Quantity | None:
        try:
            if expr.op == "+":
                return left + right
            if expr.op == "-":
                return left - right
            if expr.op == "*":
                return left * right
            if right.value == 0:
                self.bag.error("division by zero", expr.right.span, label="this is zero")
                return None
            return left / right
        except DimensionError as exc:
            self.bag.error(
                str(exc),
                expr.op_span,
                label=f"{left.dim.name} {expr.op} {right.dim.name}",
                help="both sides of `+` and `-` must have the same dimension",
            )
            return None

    def number(self, node: ast.Number) -> Quantity | None:
        match = _LITERAL.fullmatch(node.text)
        if match is None:  # pragma: no cover - the grammar only produces well-formed literals
            self.bag.error(f"malformed number `{node.text}`", node.span, label="not a number")
            return None
        digits = (match.group("int") + (match.group("frac") or "")).replace("_", "")
        exponent = int(match.group("exp") or 0) if len(match.group("exp") or "") <= 6 else MAX_EXPONENT + 1
        if len(digits) > MAX_DIGITS or abs(exponent) > MAX_EXPONENT:
            self.bag.error(
                "number too large",
                node.span,
                label="out of range",
                help=f"write at most {MAX_DIGITS} digits and exponents up to {MAX_EXPONENT}",
            )
            return None
        if node.unit and node.unit not in UNITS:
            self.unknown_unit(node)
            return None
        return quantity(node.text, node.unit)

    def unknown_unit(self, node: ast.Number) -> None:
        unit = node.unit
        suggestions = [f"{node.text}{u}" for u in unit_suggestions(unit)[:2]]
        notes: list[str] = []
        help = suggestion_text(suggestions)
        if "/" in unit:
            left, right = unit.rsplit("/", 1)
            if right and not (right in UNITS or "/" + right in UNITS):
                division = f"to divide, put spaces around `/`: `{node.text}{left} / {right}`"
                if help:
                    notes.append(division)
                else:
                    help = division
        if not help:
            help = "units are case-sensitive; see the unit table in docs/language.md"
        self.bag.error(f"unknown unit `{unit}`", node.span, label="not a unit", help=help, notes=notes)
