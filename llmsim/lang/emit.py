"""Compact, stable text forms of the AST and the IR (`llmsimc SPEC --emit ast`, golden tests).

One node per line, two spaces of indentation per level, positions as `@line:col`. Expressions are
printed inline, fully parenthesised, so the dump shows how the parser grouped them.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from msgspec import Struct, structs

from llmsim.diagnostics import Span
from llmsim.lang import ast, ir
from llmsim.lang.modules import STD_PREFIX, STDLIB

_ROOT: list[str] = []  # the file whose spans `_at` prints without their path (set by emit_ir)


def _at(span: Span | None) -> str:
    if span is None:
        return "@-"
    if _ROOT and span.path != _ROOT[-1]:
        return f"@{span.path}:{span.line}:{span.col}"
    return f"@{span.line}:{span.col}"


def emit_ast(module: ast.Module) -> str:
    """The AST as indented text, ending with a newline."""
    lines = ["module"]
    for item in module.items:
        if isinstance(item, ast.UseHardware):
            alias = f" as {item.alias.name}" if item.alias else ""
            lines.append(f"  use hardware {_string(item.target.value)}{alias} {_at(item.span)}")
        elif isinstance(item, ast.Import):
            lines.append(f"  import {_string(item.target.value)} {_at(item.span)}")
        elif isinstance(item, ast.Param):
            lines.append(f"  param {item.name.name} = {expr_text(item.value)} {_at(item.span)}")
        else:
            _block(item, 1, lines)
    return "\n".join(lines) + "\n"


def _block(block: ast.Block, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    head = block.kind.name + (f" {block.name.name}" if block.name else "")
    if block.index is not None:
        head += f" [{expr_text(block.index)}]"
    lines.append(f"{pad}block {head} {_at(block.span)}")
    for stmt in block.body:
        if isinstance(stmt, ast.Attr):
            lines.append(f"{pad}  attr {stmt.key.name} = {expr_text(stmt.value)} {_at(stmt.span)}")
        elif isinstance(stmt, ast.Constraint):
            lines.append(f"{pad}  constraint {stmt.target.name} {stmt.op} {expr_text(stmt.value)} {_at(stmt.span)}")
        else:
            _block(stmt, depth + 1, lines)


def expr_text(expr: ast.Expr) -> str:
    """An expression in source syntax, every operation in parentheses: `(16 / tp)`."""
    if isinstance(expr, ast.Number):
        return expr.text + expr.unit
    if isinstance(expr, ast.String):
        return _string(expr.value)
    if isinstance(expr, ast.Bool):
        return "true" if expr.value else "false"
    if isinstance(expr, ast.Ref):
        return expr.name
    if isinstance(expr, ast.Call):
        args = []
        for arg in expr.args:
            value = expr_text(arg.value)
            args.append(f"{arg.name.name} = {value}" if arg.name else value)
        return f"{expr.func.name}(" + ", ".join(args) + ")"
    if isinstance(expr, ast.ListExpr):
        return "[" + ", ".join(expr_text(i) for i in expr.items) + "]"
    if isinstance(expr, ast.Unary):
        return f"({expr.op}{expr_text(expr.operand)})"
    if isinstance(expr, ast.Binary):
        return f"({expr_text(expr.left)} {expr.op} {expr_text(expr.right)})"
    raise AssertionError(f"unknown expression {expr!r}")  # pragma: no cover


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def emit_ir(spec: ir.Spec) -> str:
    """The checked spec as indented text; paths relative to the spec's folder, ending with a newline.

    Positions are `@line:col` in the spec and `@file:line:col` in the modules it imports."""
    _ROOT.append(str(spec.path))
    try:
        return _emit_ir(spec)
    finally:
        _ROOT.pop()


def _emit_ir(spec: ir.Spec) -> str:
    base = Path(os.path.abspath(spec.path)).parent
    lines = [f"spec {Path(spec.path).name}"]
    for imp in spec.imports:
        lines.append(f"  import {_value(imp.path, base)} {_at(imp.span)}")
    for name, param in spec.params.items():
        lines.append(f"  param {name} = {param.value} ({param.origin}) {_at(param.span)}")
    sections = [
        ("hardware", spec.hardware),
        ("model", spec.models),
        ("device", spec.devices),
        ("link", spec.links),
        ("node", spec.nodes),
        ("fabric", spec.fabrics),
        ("pool", spec.pools),
        ("router", spec.routers),
        ("workload", spec.workloads),
        ("slo", spec.slos),
    ]
    for kind, table in sections:
        for name, node in table.items():
            lines.append(f"  {kind} {name} {_at(node.span)}")
            _fields(node, 2, lines, base, skip=("name", "alias"))
    if spec.simulation is not None:
        lines.append(f"  simulation {_at(spec.simulation.span)}")
        _fields(spec.simulation, 2, lines, base)
    if spec.sweep is not None:
        points = len(spec.sweep.points())
        lines.append(f"  sweep ({points} point{'s' if points != 1 else ''}) {_at(spec.sweep.span)}")
        for axis in spec.sweep.axes:
            steps = ", ".join("(" + ", ".join(step) + ")" if len(step) > 1 else step[0] for step in axis.values)
            lines.append(f"    {', '.join(axis.params)} = [{steps}]")
        if spec.point is not None:
            lines.append(f"    at point {spec.point}")
    return "\n".join(lines) + "\n"


def _fields(node: Any, depth: int, lines: list[str], base: Path, skip: tuple[str, ...] = ()) -> None:
    pad = "  " * depth
    for f in structs.fields(node):
        if f.name in ("span", "key_spans") or f.name in skip:  # where things are written, not what
            continue
        value = getattr(node, f.name)
        if isinstance(value, Struct):
            lines.append(f"{pad}{f.name} = {type(value).__name__} {_at(value.span)}")
            _fields(value, depth + 1, lines, base)
        elif isinstance(value, tuple) and value and isinstance(value[0], Struct):
            lines.append(f"{pad}{f.name} =")
            for item in value:
                lines.append(f"{pad}  - {type(item).__name__} {_at(item.span)}")
                _fields(item, depth + 2, lines, base)
        else:
            lines.append(f"{pad}{f.name} = {_value(value, base)}")


def _value(value: Any, base: Path) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, Path):
        if value.is_relative_to(STDLIB):
            return json.dumps(STD_PREFIX + value.relative_to(STDLIB).as_posix())
        return json.dumps(Path(os.path.relpath(value, base)).as_posix())
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v, base) for v in value) + "]"
    return str(value)
