"""AST -> IR: every block and value against the schema, then the rules between keys.

Checking collects every diagnostic of the phase; a value that failed is `INVALID`, and anything
built from it is skipped, so one mistake is reported once. The IR is returned only when nothing
failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from msgspec import structs

from llmsim.diagnostics import DiagnosticBag, Span, did_you_mean, suggestion_text
from llmsim.lang import ast, ir, schema
from llmsim.lang.evaluate import Evaluator, describe, is_numeric, literal_text
from llmsim.lang.modules import load_imports
from llmsim.lang.params import Define, Params, substitute
from llmsim.lang.resolve import STAGE_KINDS, PathResolver, Symbols, check_head, resolve, where
from llmsim.lang.schema import (
    BlockSchema,
    Bool,
    Enum,
    Field,
    FilePath,
    Int,
    ListOf,
    Measure,
    OneOf,
    RefTo,
    Str,
    Type,
    Variant,
)
from llmsim.lang.units import DIM_EXAMPLES, ONE, Quantity


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
_NS_PER_S = 10**9


def check(
    module: ast.Module,
    *,
    path: Path,
    search_paths: Sequence[Path] = (),
    hwdb_paths: Sequence[Path] | None = None,
    defines: Sequence[Define] = (),
    point: int | None = None,
) -> ir.Spec:
    """Resolve and check a parsed spec; raises CompileError with every diagnostic of the phase.

    `defines` are the `-D` overrides; `point` selects a sweep point (None: the params' values)."""
    bag = DiagnosticBag()
    spec = check_into(
        module, bag, path=path, search_paths=search_paths, hwdb_paths=hwdb_paths, defines=defines, point=point
    )
    bag.check()
    assert spec is not None
    return spec


def check_into(
    module: ast.Module,
    bag: DiagnosticBag,
    *,
    path: Path,
    search_paths: Sequence[Path] = (),
    hwdb_paths: Sequence[Path] | None = None,
    defines: Sequence[Define] = (),
    point: int | None = None,
) -> ir.Spec | None:
    modules = load_imports(module, path, search_paths, bag)
    symbols = resolve(modules, bag, hwdb_paths)
    params = Params(symbols, bag, defines, point)
    if point is None and params.sweep is not None and not bag.has_errors:
        _check_sweep_values(module, bag, params, path, search_paths, hwdb_paths, defines)
    paths = PathResolver(path.parent, tuple(search_paths))
    checker = Checker(bag, symbols, paths, params)
    spec = checker.spec(path)
    spec = structs.replace(
        spec,
        params=params.decls,
        sweep=params.sweep,
        point=point,
        imports=tuple(ir.ModuleImport(p, s) for p, s in symbols.imports),
    )
    if not symbols.blocks["pool"] and not _has_kind(module, "pool"):
        bag.error(
            f"`{module.span.path}` defines no pool",
            _end_of(module),
            label="no pool in this file",
            help="add a block such as `pool main { model = llama  hardware = h100 }`",
        )
    if not symbols.blocks["workload"] and not _has_kind(module, "workload"):
        bag.error(
            f"`{module.span.path}` defines no workload",
            _end_of(module),
            label="no workload in this file",
            help="add a block such as `workload chat { requests = "
            '100  arrival = poisson(rate = 4/s)  lengths = dataset("sharegpt") }`',
        )
    return None if bag.has_errors else spec


def _check_sweep_values(
    module: ast.Module,
    bag: DiagnosticBag,
    params: Params,
    path: Path,
    search_paths: Sequence[Path],
    hwdb_paths: Sequence[Path] | None,
    defines: Sequence[Define],
) -> None:
    """Check every value of the sweep once: at the points that vary one axis from the first point."""
    sizes = [len(a.steps) for a in params.axes]
    labels = params.sweep.points() if params.sweep is not None else []
    seen = {d.render() for d in bag.items}
    for axis, size in enumerate(sizes):
        for step in range(size):
            if step == 0 and axis > 0:
                continue  # the first point is checked with the first axis
            index = 0
            for a, n in enumerate(sizes):
                index = index * n + (step if a == axis else 0)
            inner = DiagnosticBag()
            check_into(module, inner, path=path, search_paths=search_paths, hwdb_paths=hwdb_paths,
                       defines=defines, point=index)
            label = ", ".join(f"{k} = {v}" for k, v in labels[index].items())
            for d in inner.items:
                if d.render() not in seen:
                    seen.add(d.render())
                    bag.extend([structs.replace(d, notes=(*d.notes, f"at sweep point {index} ({label})"))])


def _end_of(module: ast.Module) -> Span:
    """Where a missing block would go: the end of the file."""
    s = module.span
    lines = s.source.text.split("\n")
    line = len(lines)
    while line > 1 and not lines[line - 1].strip():
        line -= 1
    col = len(lines[line - 1]) + 1
    return Span(s.source, line, col, line, col + 1)


def _has_kind(module: ast.Module, kind: str) -> bool:
    return any(isinstance(i, ast.Block) and i.kind.name == kind for i in module.items)


@dataclass
class Checked:
    """A block's values after conversion: by key, with the attribute that set each one."""

    block: ast.Block
    schema: BlockSchema
    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, ast.Attr] = field(default_factory=dict)
    nested: dict[str, Checked] = field(default_factory=dict)
    repeated: dict[str, list[Checked]] = field(default_factory=dict)
    constraints: list[tuple[ast.Constraint, Any]] = field(default_factory=list)

    def has(self, key: str) -> bool:
        return key in self.where

    def get(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        f = self.schema.field(key)
        assert f is not None, key
        return f.default

    @property
    def valid(self) -> bool:
        return (
            all(v is not INVALID for v in self.values.values())
            and all(n.valid for n in self.nested.values())
            and all(n.valid for ns in self.repeated.values() for n in ns)
            and all(v is not INVALID for _, v in self.constraints)
        )

    @property
    def name(self) -> str:
        return self.block.name.name if self.block.name else self.schema.kind

    @property
    def title(self) -> str:
        """`pool `main``: how diagnostics name the block."""
        if self.block.name:
            return f"{self.schema.kind} `{self.block.name.name}`"
        return f"`{self.schema.kind}`"


def key_spans(checked: Checked) -> dict[str, Span]:
    """Where each written key's value is, so later phases can point at it."""
    return {key: attr.value.span for key, attr in checked.where.items()}


class Checker:
    def __init__(self, bag: DiagnosticBag, symbols: Symbols, paths: PathResolver, params: Params | None = None):
        self.bag = bag
        self.symbols = symbols
        self.paths = paths
        self.params = params.values if params is not None else {}
        self.evaluator = Evaluator(bag, names=list(self.params))

    # The spec -----------------------------------------------------------------------------------

    def spec(self, path: Path) -> ir.Spec:
        hardware = {
            k: v for k, v in self.symbols.hardware.items() if v is not None and k in self.symbols.kept_hardware
        }
        out = ir.Spec(path=path, hardware=hardware)
        tables: dict[str, dict[str, Any]] = {
            "model": out.models,
            "pool": out.pools,
            "router": out.routers,
            "workload": out.workloads,
            "device": out.devices,
            "link": out.links,
            "node": out.nodes,
            "fabric": out.fabrics,
            "slo": out.slos,
        }
        simulation = None
        for block, spec, keep in self.symbols.checked:
            checked = self.body(block, spec)
            built = self.build(checked)
            if built is None or not keep:
                continue
            if spec.kind == "simulation":
                simulation = built
            elif isinstance(built, list):  # a disaggregated pool: its stages
                for stage in built:
                    tables[spec.kind][stage.name] = stage
            else:
                tables[spec.kind][checked.name] = built
        return structs.replace(
            out, simulation=simulation or ir.SimulationConfig(seed=0, max_time_ns=None, span=None)
        )

    # Bodies -------------------------------------------------------------------------------------

    def body(self, block: ast.Block, spec: BlockSchema) -> Checked:
        checked = Checked(block, spec)
        for stmt in block.body:
            if isinstance(stmt, ast.Attr):
                self.attr(stmt, checked)
            elif isinstance(stmt, ast.Constraint):
                self.constraint(stmt, checked)
            else:
                self.nested(stmt, checked)
        for f in spec.fields:
            if f.required and not checked.has(f.name):
                self.missing(checked, f)
        return checked

    def attr(self, attr: ast.Attr, checked: Checked) -> None:
        key = attr.key.name
        spec = checked.schema
        f = spec.field(key)
        if f is None:
            if spec.block(key) is not None:
                self.bag.error(
                    f"`{key}` is a block, not a key",
                    attr.key.span,
                    label="a block",
                    help=f"write `{key} {{ ... }}` without `=`",
                )
                return
            legal = [x.name for x in spec.fields]
            inner = next((b.kind for b in spec.blocks if b.field(key) is not None), None)
            help = suggestion_text(did_you_mean(key, legal)) or (
                f"`{key}` goes inside `{inner} {{ ... }}`" if inner else f"`{spec.kind}` takes " + _and(legal)
            )
            self.bag.error(
                f"unknown key `{key}` in {checked.title}",
                attr.key.span,
                label=f"not a key of `{spec.kind}`",
                help=help,
            )
            return
        first = checked.where.get(key)
        if first is not None:
            self.bag.error(
                f"duplicate key `{key}`",
                attr.key.span,
                label="set again here",
                notes=[f"`{key}` was first set at {where(first.key.span)}"],
                help="remove one of them",
            )
            return
        checked.where[key] = attr
        checked.values[key] = self.value(f.type, attr.value, f)

    def nested(self, block: ast.Block, checked: Checked) -> None:
        kind = block.kind.name
        spec = checked.schema
        sub = spec.block(kind)
        if sub is None:
            if spec.field(kind) is not None:
                self.bag.error(
                    f"`{kind}` is a key, not a block",
                    block.kind.span,
                    label="a key",
                    help=f"write `{kind} = ...`"
                    + (f", and put `{kind}` blocks at the top level" if schema.block(kind) else ""),
                )
                return
            legal = [b.kind for b in spec.blocks]
            if schema.block(kind) is not None:
                help = f"`{kind}` blocks go at the top level of the file"
            else:
                help = suggestion_text(did_you_mean(kind, legal)) or (
                    f"`{spec.kind}` holds " + _and(legal) + " blocks"
                    if legal
                    else f"`{spec.kind}` holds no blocks"
                )
            self.bag.error(
                f"unknown block `{kind}` in {checked.title}",
                block.kind.span,
                label=f"not a block of `{spec.kind}`",
                help=help,
            )
            return
        check_head(block, sub, self.bag)
        if sub.repeated:
            checked.repeated.setdefault(kind, []).append(self.body(block, sub))
            return
        first = checked.nested.get(kind)
        if first is not None:
            self.bag.error(
                f"duplicate `{kind}` block in {checked.title}",
                block.kind.span,
                label="second one here",
                notes=[f"the first `{kind}` block is at {where(first.block.kind.span)}"],
                help="merge them into one block",
            )
            return
        checked.nested[kind] = self.body(block, sub)

    def missing(self, checked: Checked, f: Field) -> None:
        self.bag.error(
            f"missing key `{f.name}` in {checked.title}",
            checked.block.head_span,
            label=f"`{f.name}` is not set",
            help=f"add `{f.name} = {self.example(f)}`",
        )

    def example(self, f: Field) -> str:
        if isinstance(f.type, RefTo):
            names = self.symbols.names(f.type.kind)
            if names:
                return names[0]
        if isinstance(f.type, ListOf) and isinstance(f.type.item, RefTo):
            names = self.symbols.names(f.type.item.kind)
            if names:
                return f"[{names[0]}]"
        return f.example or "..."

    # Values -------------------------------------------------------------------------------------

    def value(self, t: Type, expr: ast.Expr, f: Field) -> Any:
        if self.params:
            substituted = substitute(expr, self.params)
            if substituted is None:  # a param that was already reported
                return INVALID
            expr = substituted
        if isinstance(t, Int):
            return self.integer(t, expr, f)
        if isinstance(t, Measure):
            return self.measure(t, expr, f)
        if isinstance(t, Bool):
            if isinstance(expr, ast.Bool):
                return expr.value
            help = (
                f"write `{f.name} = {expr.value}` without quotes"
                if (isinstance(expr, ast.String) and expr.value in ("true", "false"))
                else ""
            )
            return self.type_error(t, expr, f, help=help)
        if isinstance(t, Enum):
            return self.enum(t, expr, f)
        if isinstance(t, Str):
            return self.string(t, expr, f)
        if isinstance(t, FilePath):
            if not isinstance(expr, ast.String):
                return self.type_error(t, expr, f)
            resolved = self.paths.resolve(expr.value, expr.span, self.bag)
            return INVALID if resolved is None else resolved
        if isinstance(t, RefTo):
            return self.reference(t, expr, f)
        if isinstance(t, ListOf):
            return self.list(t, expr, f)
        if isinstance(t, OneOf):
            return self.call(t, expr, f)
        raise AssertionError(f"no checker for {t!r}")  # pragma: no cover

    def type_error(self, t: Type, expr: ast.Expr, f: Field, *, help: str = "") -> Any:
        found = describe(expr)
        if is_numeric(expr):
            q = self.quiet(expr)
            if q is not None:
                found = q.dim.name
        self.bag.error(
            f"`{f.name}` must be {t.describe()}",
            expr.span,
            label=f"found {found}",
            help=help or f"write `{f.name} = {self.example(f)}`",
        )
        return INVALID

    def quiet(self, expr: ast.Expr) -> Quantity | None:
        """Evaluate without reporting: for describing a value in another diagnostic."""
        return Evaluator(DiagnosticBag()).evaluate(expr)

    def numeric(self, t: Type, expr: ast.Expr, f: Field) -> Quantity | None:
        if not is_numeric(expr):
            help = ""
            if isinstance(expr, ast.String) and _parses_as_number(expr.value):
                help = f"write `{f.name} = {expr.value}` without quotes"
            self.type_error(t, expr, f, help=help)
            return None
        return self.evaluator.evaluate(expr)

    def integer(self, t: Int, expr: ast.Expr, f: Field) -> Any:
        q = self.numeric(t, expr, f)
        if q is None:
            return INVALID
        if q.dim != ONE:
            self.bag.error(
                f"`{f.name}` must be a whole number, not {q.dim.name}",
                expr.span,
                label=f"found {q.dim.name}",
                help=f"write `{f.name} = {self.example(f)}`",
            )
            return INVALID
        if not q.is_integer:
            self.bag.error(
                f"`{f.name}` must be a whole number",
                expr.span,
                label=_found(expr, "not whole"),
                help=_round_help(f.name, q.value),
            )
            return INVALID
        value = q.value.numerator
        if (t.low is not None and value < t.low) or (t.high is not None and value > t.high):
            self.bag.error(
                f"`{f.name}` must be {t.range_words()}",
                expr.span,
                label=_found(expr, "out of range"),
                help=f"write `{f.name} = {self.example(f)}`",
            )
            return INVALID
        return value

    def measure(self, t: Measure, expr: ast.Expr, f: Field) -> Any:
        q = self.numeric(t, expr, f)
        if q is None:
            return INVALID
        if q.dim != t.dim:
            if q.dim == ONE:
                example = DIM_EXAMPLES[t.dim]
                text = expr.text if isinstance(expr, ast.Number) else None
                help = f"write `{text}{example}`" if text else f"give it a unit, such as `{example}`"
                self.bag.error(
                    f"`{f.name}` needs a unit", expr.span, label=f"expected {t.dim.name}", help=help
                )
            else:
                self.bag.error(
                    f"`{f.name}` must be {t.describe()}, not {q.dim.name}",
                    expr.span,
                    label=f"found {q.dim.name}",
                    help=f"write `{f.name} = {self.example(f)}`",
                )
            return INVALID
        v = q.value
        too_low = t.low is not None and (v <= t.low if t.low_open else v < t.low)
        too_high = t.high is not None and (v >= t.high if t.high_open else v > t.high)
        if too_low or too_high:
            help = f"write `{f.name} = {self.example(f)}`"
            if t.ratio and too_high and isinstance(expr, ast.Number) and not expr.unit:
                help = f"write `{expr.text}%`"
            self.bag.error(
                f"`{f.name}` must be {t.range_words()}",
                expr.span,
                label=_found(expr, "out of range"),
                help=help,
            )
            return INVALID
        if t.whole:
            if v.denominator != 1:
                self.bag.error(
                    f"`{f.name}` must be a whole number of bytes",
                    expr.span,
                    label=_found(expr, "not whole"),
                    help=f"write `{f.name} = {self.example(f)}`",
                )
                return INVALID
            return v.numerator
        if t.to_ns:
            ns = v * _NS_PER_S
            if ns.denominator != 1:
                self.bag.error(
                    f"`{f.name}` must be a whole number of nanoseconds",
                    expr.span,
                    label=_found(expr, "not whole"),
                    help=f"write `{f.name} = {self.example(f)}`",
                )
                return INVALID
            return ns.numerator
        return v

    def enum(self, t: Enum, expr: ast.Expr, f: Field) -> Any:
        if isinstance(expr, ast.Ref) and len(expr.parts) == 1:
            name = expr.name
            legal = t.legal()
            if name in legal:
                return name
            help = suggestion_text(did_you_mean(name, legal)) or (
                f"write `{f.name} = {legal[0]}`" if len(legal) == 1 else f"write one of {_or(legal)}"
            )
            self.bag.error(f"unknown {t.noun} `{name}`", expr.span, label=f"not a known {t.noun}", help=help)
            return INVALID
        help = ""
        if isinstance(expr, ast.String) and expr.value in t.values:
            help = f"write `{f.name} = {expr.value}` without quotes"
        return self.type_error(t, expr, f, help=help)

    def string(self, t: Str, expr: ast.Expr, f: Field) -> Any:
        if not isinstance(expr, ast.String):
            help = ""
            if isinstance(expr, ast.Ref):
                help = f'write it in quotes: `{f.name} = "{expr.name}"`'
            return self.type_error(t, expr, f, help=help)
        if t.choices is not None:
            choices = list(t.choices())
            if expr.value not in choices:
                help = suggestion_text(did_you_mean(expr.value, choices))
                if not help and len(choices) <= 6:
                    help = "write one of " + _or([f'"{c}"' for c in choices])
                elif not help:
                    help = f"write a {t.noun} from docs/language.md, e.g. `{f.name} = {f.example}`"
                self.bag.error(
                    f"unknown {t.noun} `{expr.value}`", expr.span, label=f"not a known {t.noun}", help=help
                )
                return INVALID
        return expr.value

    def reference(self, t: RefTo, expr: ast.Expr, f: Field) -> Any:
        names = self.symbols.names(t.kind)
        if isinstance(expr, ast.Ref):
            name = expr.name
            if name in names:
                return name
            help = suggestion_text(did_you_mean(name, names))
            if not help:
                if t.kind == "hardware":
                    help = f'import it with `use hardware "vendor/device@engine-version" as {name}`'
                else:
                    help = f"define it with `{t.kind} {name} {{ ... }}`"
            self.bag.error(
                f"unknown {t.kind} `{name}`", expr.span, label=f"no {t.kind} named `{name}`", help=help
            )
            return INVALID
        help = ""
        if isinstance(expr, ast.String) and expr.value in names:
            help = f"write the name without quotes: `{f.name} = {expr.value}`"
        return self.type_error(t, expr, f, help=help)

    def list(self, t: ListOf, expr: ast.Expr, f: Field) -> Any:
        if not isinstance(expr, ast.ListExpr):
            help = ""
            if isinstance(expr, ast.Ref):
                help = f"write a list: `{f.name} = [{expr.name}]`"
            return self.type_error(t, expr, f, help=help)
        if t.non_empty and not expr.items:
            self.bag.error(
                f"`{f.name}` must not be empty",
                expr.span,
                label="empty list",
                help=f"write `{f.name} = {self.example(f)}`",
            )
            return INVALID
        out: list[Any] = []
        seen: dict[Any, ast.Expr] = {}
        ok = True
        for item in expr.items:
            if isinstance(t.item, RefTo) and not isinstance(item, ast.Ref):
                names = self.symbols.names(t.item.kind)
                help = f"write `{f.name} = {self.example(f)}`"
                if isinstance(item, ast.String) and item.value in names:
                    help = f"write the name without quotes: `{item.value}`"
                self.bag.error(
                    f"`{f.name}` must be {t.describe()}",
                    item.span,
                    label=f"found {describe(item)}",
                    help=help,
                )
                ok = False
                continue
            value = self.value(t.item, item, f)
            if value is INVALID:
                ok = False
                continue
            if t.unique and value in seen:
                self.bag.error(
                    f"`{value}` is listed twice in `{f.name}`",
                    item.span,
                    label="listed again here",
                    notes=[f"first listed at {where(seen[value].span)}"],
                    help="remove one of them",
                )
                ok = False
                continue
            seen[value] = item
            out.append(value)
        return tuple(out) if ok else INVALID

    # Calls --------------------------------------------------------------------------------------

    def call(self, t: OneOf, expr: ast.Expr, f: Field) -> Any:
        if not isinstance(expr, ast.Call):
            help = ""
            if isinstance(expr, ast.Ref) and t.variant(expr.name) is not None:
                variant = t.variant(expr.name)
                assert variant is not None
                help = f"write `{f.name} = {_call_example(variant)}`"
            return self.type_error(t, expr, f, help=help)
        name = expr.func.name
        variant = t.variant(name)
        if variant is None:
            names = [v.name for v in t.variants]
            help = suggestion_text(did_you_mean(name, names)) or (
                "write " + _or([f"{v.name}(...)" for v in t.variants])
            )
            self.bag.error(
                f"unknown {t.noun} `{name}`", expr.func.span, label=f"not a known {t.noun}", help=help
            )
            for arg in expr.args:  # still look inside, for unknown units and the like
                if is_numeric(arg.value):
                    self.evaluator.evaluate(arg.value)
            return INVALID
        return self.arguments(variant, expr)

    def arguments(self, variant: Variant, call: ast.Call) -> Any:
        values: dict[str, Any] = {}
        given: dict[str, ast.Arg] = {}
        named = False
        position = 0
        ok = True
        for arg in call.args:
            if arg.name is None:
                if named:
                    self.bag.error(
                        "positional argument after a named one",
                        arg.span,
                        label="give it a name",
                        help="name every argument after the first named one",
                    )
                    ok = False
                    continue
                if position >= len(variant.params):
                    count = len(variant.params)
                    self.bag.error(
                        f"too many arguments for `{variant.name}`",
                        arg.span,
                        label="unexpected argument",
                        help=f"`{variant.name}` takes {count} argument{'s' if count != 1 else ''}: "
                        f"`{variant.signature}`",
                    )
                    ok = False
                    continue
                param = variant.params[position]
                position += 1
            else:
                named = True
                param = variant.param(arg.name.name)
                if param is None:
                    legal = [p.name for p in variant.params]
                    help = suggestion_text(did_you_mean(arg.name.name, legal)) or (
                        f"`{variant.name}` takes " + _and(legal)
                    )
                    self.bag.error(
                        f"unknown argument `{arg.name.name}` for `{variant.name}`",
                        arg.name.span,
                        label=f"not an argument of `{variant.name}`",
                        help=help,
                    )
                    ok = False
                    continue
            first = given.get(param.name)
            if first is not None:
                self.bag.error(
                    f"argument `{param.name}` given twice",
                    arg.span,
                    label="given again here",
                    notes=[f"`{param.name}` was first given at {where(first.span)}"],
                    help="remove one of them",
                )
                ok = False
                continue
            given[param.name] = arg
            values[param.name] = self.value(param.type, arg.value, param)
        for param in variant.params if ok else ():  # after a bad argument, "missing" is mostly noise
            if param.required and param.name not in given:
                self.bag.error(
                    f"missing argument `{param.name}` for `{variant.name}`",
                    call.func.span,
                    label=f"`{param.name}` is not given",
                    help=f"write `{_call_example(variant, given)}`",
                )
                ok = False
        if not ok or any(v is INVALID for v in values.values()):
            return INVALID
        kwargs = {p.ir_field: values.get(p.name, p.default) for p in variant.params}
        kwargs.update(dict(variant.fixed))
        if "high" in kwargs and "low" in kwargs and kwargs["high"] < kwargs["low"]:
            at = given["high"].value.span if "high" in given else call.span
            self.bag.error(
                "`high` must be at least `low`",
                at,
                label=f"`low` is {_small(kwargs['low'])}",
                help="swap them, or raise `high`",
            )
            return INVALID
        return variant.ir(**kwargs, span=call.span)

    # IR -----------------------------------------------------------------------------------------

    def build(self, checked: Checked) -> Any:
        kind = checked.schema.kind
        if kind == "model":
            return self.model(checked)
        if kind == "workload":
            return self.workload(checked)
        if kind == "pool":
            return self.pool(checked)
        if kind == "slo":
            return self.slo(checked)
        index = self.index(checked) if checked.schema.indexed else None
        if not checked.valid or index is INVALID:
            return None
        if kind == "router":
            return self.router(checked)
        built = self.generic(checked, checked.block.span)
        if kind == "node":
            built = structs.replace(built, replicas=index)
        return built

    def generic(self, checked: Checked | None, span: Span, spec: BlockSchema | None = None) -> Any:
        """The IR of a block whose keys map one to one onto its IR class, defaults filled in."""
        spec = spec or (checked.schema if checked else None)
        assert spec is not None and spec.ir is not None
        kwargs: dict[str, Any] = {}
        fields = {f.name for f in structs.fields(spec.ir)}
        for f in spec.fields:
            kwargs[f.ir_field] = checked.get(f.name) if checked else f.default
        for sub in spec.blocks:
            if sub.ir is None:  # built by the block's own builder (a pool's stages)
                continue
            name = sub.ir_field
            if sub.repeated:
                blocks = checked.repeated.get(sub.kind, []) if checked else []
                kwargs[name] = tuple(self.generic(b, b.block.span, sub) for b in blocks)
                continue
            inner = checked.nested.get(sub.kind) if checked else None
            if inner is None and sub.optional:
                kwargs[name] = None
                continue
            kwargs[name] = self.generic(inner, inner.block.span if inner else span, sub)
        if spec.named:
            assert checked is not None
            kwargs["name"] = checked.name
        if "replicas" in fields:
            kwargs["replicas"] = 1
        if checked is not None and "key_spans" in fields:
            kwargs["key_spans"] = key_spans(checked)
        return spec.ir(**kwargs, span=span)

    def index(self, checked: Checked) -> Any:
        """`node dgx[2]`: how many such nodes (1 without brackets)."""
        expr = checked.block.index
        if expr is None:
            return 1
        name = checked.name
        f = Field(f"{name}[...]", schema.POSITIVE_INT, "", example="2")
        inner = DiagnosticBag()  # value errors, with their help written as the block head
        self.bag, outer = inner, self.bag
        self.evaluator.bag = inner
        try:
            value = self.value(schema.POSITIVE_INT, expr, f)
        finally:
            self.bag = outer
            self.evaluator.bag = outer
        kind = checked.schema.kind
        outer.extend(structs.replace(d, help=f"write `{kind} {name}[2] {{ ... }}`") for d in inner.items)
        return value

    # Pools, routers and SLOs ----------------------------------------------------------------------

    def pool(self, checked: Checked) -> Any:
        stages = {k: checked.nested[k] for k in STAGE_KINDS if k in checked.nested}
        if stages and checked.has("role"):
            attr = checked.where["role"]
            self.bag.error(
                f"{checked.title} has `prefill` and `decode` blocks and a `role`",
                attr.key.span,
                label="the stages set the roles",
                help="remove `role`: the `prefill { ... }` and `decode { ... }` blocks make two pools",
            )
            return None
        if stages and len(stages) == 1:
            (present,) = stages
            absent = "decode" if present == "prefill" else "prefill"
            self.bag.error(
                f"{checked.title} has a `{present}` block but no `{absent}` block",
                stages[present].block.kind.span,
                label=f"no `{absent}` stage",
                help=f"add `{absent} {{ ... }}` to the pool (it may be empty), or remove `{present} {{ ... }}`",
            )
            return None
        if not checked.valid:
            return None
        if not stages:
            return self.generic(checked, checked.block.span)
        out = []
        for kind, stage in stages.items():
            merged = _merge(checked, stage)
            pool = self.generic(merged, stage.block.span, schema.POOL)
            spans = dict(pool.key_spans)
            spans["role"] = stage.block.kind.span
            out.append(
                structs.replace(
                    pool, name=f"{checked.name}.{kind}", role=kind, group=checked.name, key_spans=spans
                )
            )
        return out

    def router(self, checked: Checked) -> Any:
        router = self.generic(checked, checked.block.span)
        targets: list[str] = []
        for t in router.targets or ():
            targets.extend(self.symbols.stages.get(t, (t,))[:1])  # a disaggregated pool: its prefill stage
        return structs.replace(router, targets=tuple(targets))

    def constraint(self, stmt: ast.Constraint, checked: Checked) -> None:
        if not checked.schema.constraints:
            self.bag.error(
                f"comparisons only go in `slo` blocks, not in {checked.title}",
                stmt.op_span,
                label="a comparison",
                help=f"write `{stmt.target.name} = ...` to set a key",
            )
            return
        checked.constraints.append((stmt, self.objective(stmt, checked)))

    def objective(self, stmt: ast.Constraint, checked: Checked) -> Any:
        parts = [p.name for p in stmt.target.parts]
        metric, stat = parts[0], parts[1] if len(parts) > 1 else None
        legal = [*schema.SLO_METRICS, *schema.SLO_TOTALS]
        if metric not in legal:
            help = suggestion_text(did_you_mean(metric, legal)) or "measure one of " + _or(legal)
            self.bag.error(
                f"unknown SLO metric `{metric}`",
                stmt.target.parts[0].span,
                label="not a metric",
                help=help,
            )
            return INVALID
        totals = metric in schema.SLO_TOTALS
        if len(parts) > 2 or (totals and stat is not None):
            extra = stmt.target.parts[2 if not totals else 1]
            self.bag.error(
                f"`{metric}` takes no " + ("statistic" if totals else "more than one statistic"),
                extra.span.merge(stmt.target.parts[-1].span),
                label="remove this",
                help=f"write `{metric} {stmt.op} ...`" if totals else f"write `{metric}.p99 {stmt.op} ...`",
            )
            return INVALID
        if stat is not None and stat not in schema.SLO_STATS:
            help = suggestion_text(did_you_mean(stat, schema.SLO_STATS)) or "write one of " + _or(schema.SLO_STATS)
            self.bag.error(f"unknown statistic `{stat}`", stmt.target.parts[1].span, label="not a statistic",
                           help=help)
            return INVALID
        if metric == "itl" and stat is None:
            self.bag.error(
                "`itl` needs a statistic",
                stmt.target.span,
                label="inter-token gaps have no per-request value",
                help=f"write `itl.p99 {stmt.op} ...`",
            )
            return INVALID
        upper = stmt.op in ("<", "<=")
        if totals == upper:
            good = ">=" if totals else "<"
            what = "lower bounds" if totals else "upper bounds"
            self.bag.error(
                f"`{stmt.target.name}` objectives are {what}",
                stmt.op_span,
                label="wrong direction",
                help=f"write `{stmt.target.name} {good} ...`",
            )
            return INVALID
        for other, _ in checked.constraints:
            if other.target.name == stmt.target.name:
                self.bag.error(
                    f"duplicate objective `{stmt.target.name}`",
                    stmt.target.span,
                    label="bounded again here",
                    notes=[f"first bounded at {where(other.target.span)}"],
                    help="keep one of them",
                )
                return INVALID
        t = {"attainment": schema.RATIO, "goodput": schema.POSITIVE_RATE}.get(metric, schema.POSITIVE_LATENCY)
        inner = DiagnosticBag()  # value errors, with their help written as a comparison
        self.bag, outer = inner, self.bag
        self.evaluator.bag = inner
        try:
            value = self.value(t, stmt.value, Field(stmt.target.name, t, "", example=_SLO_EXAMPLES[metric]))
        finally:
            self.bag = outer
            self.evaluator.bag = outer
        name = stmt.target.name
        outer.extend(
            structs.replace(d, help=d.help.replace(f"`{name} = ", f"`{name} {stmt.op} ")) for d in inner.items
        )
        if value is INVALID:
            return INVALID
        text = f"{stmt.target.name} {stmt.op} {literal_text(stmt.value) or '...'}"
        return ir.Objective(metric, stat, stmt.op, value, text, stmt.span)

    def slo(self, checked: Checked) -> Any:
        if not checked.constraints and checked.valid:
            self.bag.error(
                f"{checked.title} sets no objective",
                checked.block.head_span,
                label="nothing to check",
                help="add objectives such as `ttft.p99 < 500ms  attainment >= 95%`",
            )
            return None
        if not checked.valid:
            return None
        return ir.SLODecl(
            name=checked.name,
            workload=checked.get("workload"),
            objectives=tuple(v for _, v in checked.constraints),
            span=checked.block.span,
            key_spans=key_spans(checked),
        )

    def model(self, checked: Checked) -> ir.ModelDecl | None:
        has_catalog, has_config = checked.has("catalog"), checked.has("config")
        arch = checked.nested.get("architecture")
        if arch is not None and (has_catalog or has_config):
            other = checked.where["catalog" if has_catalog else "config"]
            self.bag.error(
                f"{checked.title} sets both `{other.key.name}` and an `architecture` block",
                arch.block.kind.span,
                label="second source here",
                notes=[f"`{other.key.name}` is set at {where(other.key.span)}"],
                help="keep only one of them: a model comes from the catalog, a config file, or is written out",
            )
            return None
        if arch is not None:
            if not checked.valid:
                return None
            dtype = checked.get("dtype")
            kv_dtype = checked.get("kv_dtype")
            return ir.ModelDecl(
                name=checked.name,
                catalog=None,
                config_path=None,
                dtype=dtype,
                kv_dtype=dtype if kv_dtype == "auto" else kv_dtype,
                max_model_len=checked.get("max_model_len"),
                span=checked.block.span,
                key_spans=key_spans(checked),
                architecture=self.generic(arch, arch.block.span),
            )
        if has_catalog and has_config:
            second = max(
                checked.where["catalog"], checked.where["config"], key=lambda a: (a.span.line, a.span.col)
            )
            first = checked.where["config" if second is checked.where["catalog"] else "catalog"]
            self.bag.error(
                f"{checked.title} sets both `catalog` and `config`",
                second.key.span,
                label="second source here",
                notes=[f"`{first.key.name}` is set at {where(first.key.span)}"],
                help="keep only one of them: a model comes from the catalog or from a config file",
            )
            return None
        if not has_catalog and not has_config:
            self.bag.error(
                f"missing key `catalog` or `config` in {checked.title}",
                checked.block.head_span,
                label="no model source",
                help='add `catalog = "Llama-3.1-8B"`, `config = "path/to/config.json"` or an `architecture { ... }` '
                "block",
            )
            return None
        if not checked.valid:
            return None
        dtype = checked.get("dtype")
        kv_dtype = checked.get("kv_dtype")
        return ir.ModelDecl(
            name=checked.name,
            catalog=checked.get("catalog"),
            config_path=checked.get("config"),
            dtype=dtype,
            kv_dtype=dtype if kv_dtype == "auto" else kv_dtype,
            max_model_len=checked.get("max_model_len"),
            span=checked.block.span,
            key_spans=key_spans(checked),
        )

    def workload(self, checked: Checked) -> ir.WorkloadDecl | None:
        ok = checked.valid
        has = checked.has
        title = checked.title
        if has("trace"):
            for key in ("lengths", "prompt", "output"):
                if has(key):
                    self.conflict(checked, key, "trace", "the trace gives the lengths")
                    ok = False
        elif has("lengths"):
            for key in ("prompt", "output"):
                if has(key):
                    self.conflict(checked, key, "lengths", "`lengths` gives the lengths")
                    ok = False
        elif has("prompt") != has("output"):
            present, absent = ("prompt", "output") if has("prompt") else ("output", "prompt")
            self.bag.error(
                f"missing key `{absent}` in {title}",
                checked.block.head_span,
                label=f"`{present}` is set but `{absent}` is not",
                help=f"add `{absent} = {checked.schema.field(absent).example}`; "  # type: ignore[union-attr]
                "`prompt` and `output` go together",
            )
            ok = False
        elif not has("prompt"):
            self.bag.error(
                f"missing lengths in {title}",
                checked.block.head_span,
                label="no request lengths",
                help='add `lengths = dataset("sharegpt")`, both `prompt` and `output`, or `trace`',
            )
            ok = False
        if not has("trace") and not has("requests"):
            self.bag.error(
                f"missing key `requests` in {title}",
                checked.block.head_span,
                label="`requests` is not set",
                help="add `requests = 1000`",
            )
            ok = False
        arrival = checked.get("arrival")
        if not has("arrival") and not has("trace"):
            self.bag.error(
                f"missing key `arrival` in {title}",
                checked.block.head_span,
                label="`arrival` is not set",
                help="add `arrival = poisson(rate = 4/s)`",
            )
            ok = False
        if isinstance(arrival, ir.TraceArrivals) and not has("trace"):
            self.bag.error(
                "`trace()` arrivals need a `trace`",
                checked.where["arrival"].value.span,
                label="no trace to replay",
                help='add `trace = sharegpt("path/to/trace.jsonl")`, or use `poisson(rate = 4/s)`',
            )
            ok = False
        if not ok:
            return None
        if arrival is None:
            arrival = ir.TraceArrivals(time_scale=Fraction(1), span=checked.block.span)
        return ir.WorkloadDecl(
            name=checked.name,
            requests=checked.get("requests"),
            seed=checked.get("seed"),
            arrival=arrival,
            prompt=checked.get("prompt"),
            output=checked.get("output"),
            lengths=checked.get("lengths"),
            trace=checked.get("trace"),
            router=checked.get("router"),
            span=checked.block.span,
            key_spans=key_spans(checked),
            sessions=checked.get("sessions"),
            priority=checked.get("priority"),
        )

    def conflict(self, checked: Checked, key: str, other: str, why: str) -> None:
        attr = checked.where[key]
        self.bag.error(
            f"`{key}` cannot be used with `{other}`",
            attr.key.span,
            label=why,
            notes=[f"`{other}` is set at {where(checked.where[other].key.span)}"],
            help=f"remove `{key}` or `{other}`",
        )


_SLO_EXAMPLES = {"attainment": "95%", "goodput": "10/s", "ttft": "500ms", "tpot": "50ms", "itl": "50ms",
                 "e2e": "10s", "queue": "100ms"}


def _merge(parent: Checked, stage: Checked) -> Checked:
    """A stage of a disaggregated pool: the pool's keys and blocks with the stage's on top."""
    merged = Checked(parent.block, parent.schema, dict(parent.values), dict(parent.where), dict(parent.nested))
    merged.values.update(stage.values)
    merged.where.update(stage.where)
    for kind, inner in stage.nested.items():
        base = parent.nested.get(kind)
        if base is None:
            merged.nested[kind] = inner
            continue
        both = Checked(inner.block, inner.schema, {**base.values, **inner.values}, {**base.where, **inner.where})
        both.repeated = {**base.repeated, **inner.repeated}
        merged.nested[kind] = both
    for kind in STAGE_KINDS:
        merged.nested.pop(kind, None)
    return merged


# Wording helpers --------------------------------------------------------------------------------


def _or(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _and(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _found(expr: ast.Expr, fallback: str) -> str:
    text = literal_text(expr)
    return f"found `{text}`" if text else fallback


def _small(value: Any) -> str:
    text = str(value) if not isinstance(value, int) or abs(value) < 10**30 else "very large"
    return text


def _round_help(name: str, value: Fraction) -> str:
    if abs(value) < 10**12:
        low, high = value.numerator // value.denominator, -(-value.numerator // value.denominator)
        return f"write `{name} = {low}` or `{name} = {high}`"
    return f"write `{name}` as a whole number"


def _parses_as_number(text: str) -> bool:
    try:
        Fraction(text.replace("_", ""))
    except (ValueError, ZeroDivisionError):
        return False
    return len(text) < 40


def _call_example(variant: Variant, given: dict[str, ast.Arg] | None = None) -> str:
    given = given or {}
    parts = []
    for p in variant.params:
        if p.required or p.name in given:
            text = literal_text(given[p.name].value) if p.name in given else None
            parts.append(f"{p.name} = {text or p.example}")
    return f"{variant.name}(" + ", ".join(parts) + ")"
