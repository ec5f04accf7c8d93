"""AST -> IR: every block and value against the schema, then the rules between keys.

Checking collects every diagnostic of the phase; a value that failed is `INVALID`, and anything
built from it is skipped, so one mistake is reported once. The IR is returned only when nothing
failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from llmsim.diagnostics import DiagnosticBag, Span, did_you_mean, suggestion_text
from llmsim.lang import ast, ir, schema
from llmsim.lang.evaluate import Evaluator, describe, is_numeric, literal_text
from llmsim.lang.resolve import PathResolver, Symbols, check_head, resolve, where
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
) -> ir.Spec:
    """Resolve and check a parsed spec; raises CompileError with every diagnostic of the phase."""
    bag = DiagnosticBag()
    spec = check_into(module, bag, path=path, search_paths=search_paths, hwdb_paths=hwdb_paths)
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
) -> ir.Spec | None:
    symbols = resolve(module, bag, hwdb_paths)
    paths = PathResolver(path.parent, tuple(search_paths))
    checker = Checker(bag, symbols, paths)
    spec = checker.spec(path)
    if not symbols.blocks["pool"] and not _has_kind(module, "pool"):
        bag.error(
            f"`{module.span.path}` defines no pool",
            None,
            help="add a block such as `pool main { model = llama  hardware = h100 }`",
        )
    if not symbols.blocks["workload"] and not _has_kind(module, "workload"):
        bag.error(
            f"`{module.span.path}` defines no workload",
            None,
            help="add a block such as `workload chat { requests = "
            '100  arrival = poisson(rate = 4/s)  lengths = dataset("sharegpt") }`',
        )
    return None if bag.has_errors else spec


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
        return all(v is not INVALID for v in self.values.values()) and all(
            n.valid for n in self.nested.values()
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
    def __init__(self, bag: DiagnosticBag, symbols: Symbols, paths: PathResolver):
        self.bag = bag
        self.symbols = symbols
        self.paths = paths
        self.evaluator = Evaluator(bag)

    # The spec -----------------------------------------------------------------------------------

    def spec(self, path: Path) -> ir.Spec:
        out = ir.Spec(path=path, hardware={k: v for k, v in self.symbols.hardware.items() if v is not None})
        tables: dict[str, dict[str, Any]] = {
            "model": out.models,
            "pool": out.pools,
            "router": out.routers,
            "workload": out.workloads,
        }
        for block, spec, keep in self.symbols.checked:
            checked = self.body(block, spec)
            built = self.build(checked)
            if built is None or not keep:
                continue
            if spec.kind == "simulation":
                out = ir.Spec(
                    out.path, out.hardware, out.models, out.pools, out.routers, out.workloads, built
                )
            elif block.name is not None:
                tables[spec.kind][block.name.name] = built
        if out.simulation is None:
            out = ir.Spec(
                out.path,
                out.hardware,
                out.models,
                out.pools,
                out.routers,
                out.workloads,
                ir.SimulationConfig(seed=0, max_time_ns=None, span=None),
            )
        return out

    # Bodies -------------------------------------------------------------------------------------

    def body(self, block: ast.Block, spec: BlockSchema) -> Checked:
        checked = Checked(block, spec)
        for stmt in block.body:
            if isinstance(stmt, ast.Attr):
                self.attr(stmt, checked)
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
            if name in t.values:
                return name
            help = suggestion_text(did_you_mean(name, t.values)) or (
                f"write `{f.name} = {t.values[0]}`" if len(t.values) == 1 else f"write one of {_or(t.values)}"
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
        if not checked.valid:
            return None
        return self.generic(checked, checked.block.span)

    def generic(self, checked: Checked | None, span: Span, spec: BlockSchema | None = None) -> Any:
        """The IR of a block whose keys map one to one onto its IR class, defaults filled in."""
        spec = spec or (checked.schema if checked else None)
        assert spec is not None and spec.ir is not None
        kwargs: dict[str, Any] = {}
        for f in spec.fields:
            kwargs[f.ir_field] = checked.get(f.name) if checked else f.default
        for sub in spec.blocks:
            inner = checked.nested.get(sub.kind) if checked else None
            kwargs[sub.kind] = self.generic(inner, inner.block.span if inner else span, sub)
        if spec.named:
            assert checked is not None
            kwargs["name"] = checked.name
        if checked is not None and "key_spans" in {f.name for f in dataclasses.fields(spec.ir)}:
            kwargs["key_spans"] = key_spans(checked)
        return spec.ir(**kwargs, span=span)

    def model(self, checked: Checked) -> ir.ModelDecl | None:
        has_catalog, has_config = checked.has("catalog"), checked.has("config")
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
                help='add `catalog = "Llama-3.1-8B"` or `config = "path/to/config.json"`',
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
