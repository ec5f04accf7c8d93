"""Params and sweeps: `param NAME = default`, `-D NAME=VALUE`, and `sweep { ... }` points.

A param's value is an expression; wherever a spec names the param, the checker reads that
expression instead (`substitute`), so a param is checked exactly like a value written in its
place, and a mistake in it is reported where it was written: in the `param` line, in the `-D`
argument or in the sweep's list. The value a param takes is, by precedence: the sweep point being
checked, then `-D`, then the default. Params may use params declared before them (`16 / tp`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from llmsim.diagnostics import CompileError, Diagnostic, DiagnosticBag, SourceFile, Span, UserError, did_you_mean
from llmsim.diagnostics import suggestion_text as _suggest
from llmsim.lang import ast, ir
from llmsim.lang.emit import expr_text
from llmsim.lang.evaluate import Evaluator, is_numeric
from llmsim.lang.parser import parse_expr
from llmsim.lang.resolve import Symbols, where

MAX_POINTS = 10_000
COMMAND_LINE = "<command line>"


@dataclass(frozen=True)
class Define:
    """One `-D NAME=VALUE`: the value parsed, spans pointing into the argument as typed."""

    name: str
    name_span: Span
    value: ast.Expr


def parse_define(text: str) -> Define:
    """`tp=4` -> Define; raises CompileError (located in the argument) when it is malformed."""
    shown = f"-D {text}"
    source = SourceFile(COMMAND_LINE, shown)
    name, eq, value = text.partition("=")
    name = name.strip()
    start = 4  # column of the name in `-D NAME=VALUE`
    if not eq or not name.isidentifier():
        raise CompileError(
            [
                _diag(
                    f"malformed `-D {text}`",
                    Span(source, 1, start, 1, max(start + 1, len(shown) + 1)),
                    "expected NAME=VALUE",
                    "write `-D NAME=VALUE`, such as `-D tp=2` or `-D rate=8/s`",
                )
            ]
        )
    if not value.strip():
        at = len(shown) + 1
        raise CompileError(
            [_diag(f"`-D {name}=` has no value", Span(source, 1, at, 1, at + 1), "a value goes here", "")]
        )
    padded = " " * (len(shown) - len(value)) + value  # the value at its place in the argument
    expr = parse_expr(padded, COMMAND_LINE, display=shown)
    return Define(name, Span(source, 1, start, 1, start + len(name)), expr)


def _diag(summary: str, span: Span, label: str, help: str) -> Diagnostic:
    return Diagnostic(summary, span, label, help)


def parse_defines(texts: list[str] | tuple[str, ...]) -> list[Define]:
    """Every `-D`; raises CompileError with the diagnostics of all malformed ones."""
    out: list[Define] = []
    errors = []
    for text in texts:
        try:
            out.append(parse_define(text))
        except CompileError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise CompileError(errors)
    return out


def substitute(expr: ast.Expr, values: Mapping[str, ast.Expr | None]) -> ast.Expr | None:
    """`expr` with every param it names replaced by the param's value; None if one of them is invalid."""
    if isinstance(expr, ast.Ref) and len(expr.parts) == 1 and expr.name in values:
        return values[expr.name]
    if isinstance(expr, ast.Binary):
        left, right = substitute(expr.left, values), substitute(expr.right, values)
        if left is None or right is None:
            return None
        return dataclasses.replace(expr, left=left, right=right)
    if isinstance(expr, ast.Unary):
        operand = substitute(expr.operand, values)
        return None if operand is None else dataclasses.replace(expr, operand=operand)
    if isinstance(expr, ast.ListExpr):
        items = [substitute(i, values) for i in expr.items]
        return None if any(i is None for i in items) else dataclasses.replace(expr, items=tuple(items))
    if isinstance(expr, ast.Call):
        args = []
        for arg in expr.args:
            value = substitute(arg.value, values)
            if value is None:
                return None
            args.append(dataclasses.replace(arg, value=value))
        return dataclasses.replace(expr, args=tuple(args))
    return expr


def source_text(expr: ast.Expr) -> str:
    """An expression as the user wrote it when it sits on one line, else in canonical syntax."""
    span = expr.span
    if span.line == span.end_line:
        text = span.source.line(span.line)[span.col - 1 : span.end_col - 1]
        if text:
            return text
    return expr_text(expr)


@dataclass
class Axis:
    params: tuple[str, ...]
    steps: list[tuple[ast.Expr, ...]]
    span: Span


class Params:
    """The params of a spec and their values for one check: `values` feeds `substitute`."""

    def __init__(
        self,
        symbols: Symbols,
        bag: DiagnosticBag,
        defines: list[Define] | tuple[Define, ...] = (),
        point: int | None = None,
    ):
        self.symbols = symbols
        self.bag = bag
        self.values: dict[str, ast.Expr | None] = {}
        self.decls: dict[str, ir.ParamDecl] = {}
        self.axes: list[Axis] = []
        self.sweep: ir.SweepDecl | None = None
        names = list(symbols.params)
        given = self._defines(defines, names)
        if symbols.sweep is not None:
            self._sweep(symbols.sweep, names)
        chosen = self._point(point)
        swept = {name for axis in self.axes for name in axis.params}
        for name in list(given):
            if name in swept:
                self._swept_define(given.pop(name), name)
        self._evaluate(given, chosen)

    # -D ---------------------------------------------------------------------------------------------

    def _defines(self, defines, names: list[str]) -> dict[str, Define]:
        out: dict[str, Define] = {}
        for d in defines:
            if d.name not in self.symbols.params:
                help = _suggest(did_you_mean(d.name, names)) or (
                    "the spec declares " + ", ".join(f"`{n}`" for n in names)
                    if names
                    else f"declare it in the spec: `param {d.name} = ...`"
                )
                self.bag.error(f"unknown param `{d.name}`", d.name_span, label="no such param", help=help)
                continue
            if d.name in out:
                self.bag.error(
                    f"`-D {d.name}` given twice", d.name_span, label="given again", help="keep one of them"
                )
                continue
            out[d.name] = d
        return out

    def _swept_define(self, d: Define, name: str) -> None:
        self.bag.error(
            f"param `{name}` is swept",
            d.name_span,
            label="the sweep sets it",
            help=f"remove `{name}` from the `sweep` block to set it with `-D`",
        )

    # sweep ------------------------------------------------------------------------------------------

    def _sweep(self, block: ast.Block, names: list[str]) -> None:
        seen: dict[str, Span] = {}
        for stmt in block.body:
            if isinstance(stmt, ast.Attr):
                axis = self._axis([stmt], seen, names, stmt.span)
                if axis is not None:
                    self.axes.append(axis)
            elif isinstance(stmt, ast.Block) and stmt.kind.name == "zip" and stmt.name is None and stmt.index is None:
                attrs = []
                for inner in stmt.body:
                    if isinstance(inner, ast.Attr):
                        attrs.append(inner)
                    else:
                        self._not_in_sweep(inner, "zip")
                if not attrs:
                    self.bag.error(
                        "empty `zip` block",
                        stmt.kind.span,
                        label="no params",
                        help="list params that vary together: `zip { tp = [1, 2]  instances = [8, 4] }`",
                    )
                    continue
                axis = self._axis(attrs, seen, names, stmt.span)
                if axis is not None:
                    self.axes.append(axis)
            else:
                self._not_in_sweep(stmt, "sweep")
        if not self.axes and not self.bag.has_errors:
            self.bag.error(
                "empty `sweep` block",
                block.kind.span,
                label="sweeps nothing",
                help="list values for a param: `sweep { tp = [1, 2, 4] }`",
            )
        total = 1
        for axis in self.axes:
            total *= len(axis.steps)
        if total > MAX_POINTS:
            self.bag.error(
                f"the sweep has {total} points, more than {MAX_POINTS}",
                block.kind.span,
                label="too many points",
                help="sweep fewer values, or zip params that vary together",
            )
            self.axes = []
        if self.axes:
            self.sweep = ir.SweepDecl(
                tuple(
                    ir.SweepAxis(a.params, tuple(tuple(source_text(e) for e in step) for step in a.steps), a.span)
                    for a in self.axes
                ),
                block.span,
            )

    def _not_in_sweep(self, stmt: ast.Attr | ast.Block | ast.Constraint, where_: str) -> None:
        if isinstance(stmt, ast.Block):
            at, what = stmt.kind.span, f"`{stmt.kind.name}` block"
            help = "a `sweep` holds `param = [values]` lines and `zip { ... }` blocks"
            if where_ == "zip":
                help = "a `zip` block holds `param = [values]` lines"
            elif stmt.kind.name == "zip":
                help = "write `zip { ... }` without a name or `[...]`"
        else:
            at, what = stmt.span, "comparison"
            help = "write `param = [values]`"
        self.bag.error(f"unexpected {what} in `{where_}`", at, label="not allowed here", help=help)

    def _axis(self, attrs: list[ast.Attr], seen: dict[str, Span], names: list[str], span: Span) -> Axis | None:
        params: list[str] = []
        lists: list[ast.ListExpr] = []
        ok = True
        for attr in attrs:
            name = attr.key.name
            if name not in self.symbols.params:
                help = _suggest(did_you_mean(name, names)) or f"declare it first: `param {name} = ...`"
                self.bag.error(f"unknown param `{name}`", attr.key.span, label="not a param", help=help)
                ok = False
                continue
            if name in seen:
                self.bag.error(
                    f"param `{name}` is swept twice",
                    attr.key.span,
                    label="swept again here",
                    notes=[f"`{name}` is first swept at {where(seen[name])}"],
                    help="sweep each param once",
                )
                ok = False
                continue
            seen[name] = attr.key.span
            value = attr.value
            if not isinstance(value, ast.ListExpr) or not value.items:
                self.bag.error(
                    f"sweep values of `{name}` must be a list that is not empty",
                    value.span,
                    label="not a list" if not isinstance(value, ast.ListExpr) else "empty list",
                    help=f"write `{name} = [{source_text(value) if not isinstance(value, ast.ListExpr) else '1, 2'}]`",
                )
                ok = False
                continue
            for item in value.items:
                for ref in _param_refs(item, self.symbols.params):
                    self.bag.error(
                        "sweep values cannot use params",
                        ref.span,
                        label=f"`{ref.name}` is a param",
                        help="write the values out",
                    )
                    ok = False
            params.append(name)
            lists.append(value)
        if not ok or not params:
            return None
        lengths = {len(lst.items) for lst in lists}
        if len(lengths) > 1:
            first = lists[0]
            for name, lst in zip(params[1:], lists[1:]):
                if len(lst.items) != len(first.items):
                    self.bag.error(
                        "the lists of a `zip` group must have the same length",
                        lst.span,
                        label=f"{len(lst.items)} values",
                        notes=[f"`{params[0]}` has {len(first.items)} values at {where(first.span)}"],
                        help=f"give `{name}` {len(first.items)} values, or move it out of the `zip` block",
                    )
            return None
        steps = [tuple(lst.items[i] for lst in lists) for i in range(len(lists[0].items))]
        return Axis(tuple(params), steps, span)

    def _point(self, point: int | None) -> dict[str, ast.Expr]:
        if point is None:
            return {}
        points = self.points()
        if not 0 <= point < len(points):
            raise UserError(f"no sweep point {point}: the spec has {len(points)}")
        return points[point]

    def points(self) -> list[dict[str, ast.Expr]]:
        """Every sweep point as param -> value expression, the first axis varying slowest."""
        out: list[dict[str, ast.Expr]] = [{}]
        for axis in self.axes:
            out = [{**p, **dict(zip(axis.params, step))} for p in out for step in axis.steps]
        return out if self.axes else []

    # values -----------------------------------------------------------------------------------------

    def _evaluate(self, given: dict[str, Define], chosen: dict[str, ast.Expr]) -> None:
        clashes = {
            name: kind
            for kind, table in self.symbols.blocks.items()
            for name in table
        }
        clashes.update({alias: "hardware import" for alias in self.symbols.hardware})
        evaluator = Evaluator(self.bag)
        for name, param in self.symbols.params.items():
            if name in clashes:
                self.bag.error(
                    f"param `{name}` has the name of a {clashes[name]}",
                    param.name.span,
                    label="name taken",
                    help="give the param another name",
                )
                self.values[name] = None
                continue
            origin, raw = "default", param.value
            if name in chosen:
                origin, raw = "sweep", chosen[name]
            elif name in given:
                origin, raw = "-D", given[name].value
            if origin != "default":  # the default is still checked
                self._check(substitute(param.value, self.values), evaluator)
            value = substitute(raw, self.values)
            if value is not None and not self._check(value, evaluator):
                value = None
            self.values[name] = value
            self.decls[name] = ir.ParamDecl(name, source_text(raw), origin, param.span)

    def _check(self, value: ast.Expr | None, evaluator: Evaluator) -> bool:
        if value is None:
            return False
        if is_numeric(value):
            return evaluator.evaluate(value) is not None
        return True


def _param_refs(expr: ast.Expr, params: Mapping[str, object]) -> list[ast.Ref]:
    out = []
    todo = [expr]
    while todo:
        e = todo.pop()
        if isinstance(e, ast.Ref) and len(e.parts) == 1 and e.name in params:
            out.append(e)
        elif isinstance(e, ast.Binary):
            todo += [e.left, e.right]
        elif isinstance(e, ast.Unary):
            todo.append(e.operand)
        elif isinstance(e, ast.ListExpr):
            todo += list(e.items)
        elif isinstance(e, ast.Call):
            todo += [a.value for a in e.args]
    return out


def point_label(decl: ir.SweepDecl, index: int) -> str:
    """`tp = 2, rate = 8/s`: a point's values as the sweep wrote them."""
    return ", ".join(f"{k} = {v}" for k, v in decl.points()[index].items())


__all__ = ["MAX_POINTS", "Define", "Params", "parse_define", "parse_defines", "point_label", "substitute"]
