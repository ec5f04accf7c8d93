"""Names and places: hardware imports, the blocks each name refers to, and file paths.

Resolution runs before checking so a reference can point at a block defined later in the file, and
so every unknown name gets suggestions drawn from the names of the right kind only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmsim import inputs
from llmsim.diagnostics import DiagnosticBag, Span, did_you_mean, suggestion_text
from llmsim.hwdb.locate import EntryRef, find_entries, parse_spec_name
from llmsim.lang import ast, ir, schema
from llmsim.lang.modules import LoadedModule

EXAMPLE_HARDWARE = "nvidia/h100-sxm@vllm-0.24.0"


def where(span: Span, here: Span | None = None) -> str:
    """`12:3`: how notes point at another place in the same file (`file:12:3` in another file than
    `here`'s)."""
    if here is not None and here.path != span.path:
        return f"{span.path}:{span.line}:{span.col}"
    return f"{span.line}:{span.col}"


STAGE_KINDS = ("prefill", "decode")


@dataclass
class Symbols:
    """Every name a reference may use, by kind: block names and hardware aliases."""

    blocks: dict[str, dict[str, ast.Block]] = field(default_factory=dict)  # kind -> name -> block
    hardware: dict[str, ir.HardwareImport | None] = field(default_factory=dict)  # None: import failed
    # blocks to check, and whether their IR is kept (not for a duplicate, whose body is still checked,
    # nor for a block of an imported module that nothing uses)
    checked: list[tuple[ast.Block, schema.BlockSchema, bool]] = field(default_factory=list)
    stages: dict[str, tuple[str, ...]] = field(default_factory=dict)  # disaggregated pool -> its stages
    params: dict[str, ast.Param] = field(default_factory=dict)  # the root's `param` lines, in order
    sweep: ast.Block | None = None
    kept_hardware: set[str] = field(default_factory=set)  # aliases the IR keeps
    imports: list[tuple[Path, Span]] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        if kind == "hardware":
            return list(self.hardware)
        if kind == "device":
            return list(self.blocks.get("device", {})) + [a for a in self.hardware if a not in self.blocks["device"]]
        return list(self.blocks.get(kind, {}))


def resolve(
    module: ast.Module | Sequence[LoadedModule], bag: DiagnosticBag, hwdb_paths: Sequence[Path] | None
) -> Symbols:
    """Every name of the spec and the modules it imports (`modules`: the root first)."""
    if isinstance(module, ast.Module):
        module = [LoadedModule(module, Path(module.span.path), True)]
    symbols = Symbols(blocks={b.kind: {} for b in schema.BLOCKS})
    uses = [(item, m.root) for m in module for item in m.module.items if isinstance(item, ast.UseHardware)]
    if uses:
        symbols.hardware = resolve_hardware([u for u, _ in uses], bag, hwdb_paths)
    firsts: dict[str, ast.Block] = {}
    for m in module:
        if m.imported_at is not None:
            symbols.imports.append((m.path, m.imported_at))
        for item in m.module.items:
            if isinstance(item, ast.Block):
                _collect(item, symbols, firsts, bag, m.root)
            elif isinstance(item, ast.Param):
                _param(item, symbols, bag, m.root)
    _keep_used(module, symbols, uses)
    return symbols


def _param(item: ast.Param, symbols: Symbols, bag: DiagnosticBag, root: bool) -> None:
    name = item.name.name
    if not root:
        bag.error(
            "`param` lines cannot go in an imported module",
            item.span,
            label="in an imported module",
            help="declare params in the spec you run",
        )
        return
    first = symbols.params.get(name)
    if first is not None:
        bag.error(
            f"duplicate param `{name}`",
            item.name.span,
            label="declared again here",
            notes=[f"`{name}` was first declared at {where(first.name.span)}"],
            help="give it another name",
        )
        return
    symbols.params[name] = item


def _collect(
    block: ast.Block, symbols: Symbols, firsts: dict[str, ast.Block], bag: DiagnosticBag, root: bool = True
) -> None:
    kind = block.kind.name
    if kind == schema.SWEEP_KIND:
        _sweep(block, symbols, bag, root)
        return
    spec = schema.block(kind)
    if spec is None:
        _unknown_kind(block, bag)
        return
    check_head(block, spec, bag)
    keep = True
    if not root and not spec.library:
        library = [b.kind for b in schema.BLOCKS if b.library]
        bag.error(
            f"`{kind}` blocks cannot go in an imported module",
            block.kind.span,
            label="in an imported module",
            help="modules hold " + _and(library) + f" blocks; write `{kind}` blocks in the spec you run",
        )
        return
    if spec.unique:
        first = firsts.get(kind)
        if first is not None:
            bag.error(
                f"duplicate `{kind}` block",
                block.kind.span,
                label="second one here",
                notes=[f"the first `{kind}` block is at {where(first.kind.span, block.kind.span)}"],
                help="merge them into one block",
            )
            keep = False
        else:
            firsts[kind] = block
    name_ident = block.name if spec.named else None
    if spec.named and (block.name is not None or spec.name_optional):
        name = block.name.name if block.name else kind
        at = block.name or block.kind
        table = symbols.blocks[kind]
        first = table.get(name)
        if first is not None:
            first_at = first.name or first.kind
            what = f"{kind} `{name}`" if block.name else f"unnamed `{kind}` block"
            bag.error(
                f"duplicate {what}",
                at.span,
                label="defined again here",
                notes=[f"`{name}` was first defined at {where(first_at.span, at.span)}"],
                help="give it another name" if block.name else f"name them: `{kind} NAME {{ ... }}`",
            )
            keep = False
        else:
            table[name] = block
            if kind == "pool" and name_ident is not None:
                _stages(block, name, symbols)
    symbols.checked.append((block, spec, keep and root))


def _stages(block: ast.Block, name: str, symbols: Symbols) -> None:
    """`main.prefill` and `main.decode`: the stages of a disaggregated pool are pools too."""
    stages = []
    for stmt in block.body:
        if isinstance(stmt, ast.Block) and stmt.kind.name in STAGE_KINDS and stmt.name is None:
            full = f"{name}.{stmt.kind.name}"
            if full not in symbols.blocks["pool"]:
                symbols.blocks["pool"][full] = stmt
                stages.append(full)
    if stages:
        symbols.stages[name] = tuple(stages)


def _sweep(block: ast.Block, symbols: Symbols, bag: DiagnosticBag, root: bool) -> None:
    if not root:
        bag.error(
            "`sweep` blocks cannot go in an imported module",
            block.kind.span,
            label="in an imported module",
            help="write the `sweep` block in the spec you run",
        )
        return
    if block.name is not None:
        bag.error(
            "`sweep` blocks take no name", block.name.span, label="remove this name", help="write `sweep { ... }`"
        )
    if block.index is not None:
        bag.error(
            "`sweep` blocks take no `[...]`", block.index.span, label="not allowed here", help="remove the `[...]`"
        )
    if symbols.sweep is not None:
        bag.error(
            "duplicate `sweep` block",
            block.kind.span,
            label="second one here",
            notes=[f"the first `sweep` block is at {where(symbols.sweep.kind.span)}"],
            help="merge them into one block",
        )
        return
    symbols.sweep = block


def _unknown_kind(block: ast.Block, bag: DiagnosticBag) -> None:
    kind = block.kind.name
    parent = schema.NESTED.get(kind)
    legal = [*schema.kinds(), schema.SWEEP_KIND]
    if parent is not None:
        help = f"`{kind}` goes inside a `{parent}` block"
    else:
        help = suggestion_text(did_you_mean(kind, legal)) or ("write one of " + _or(legal))
    bag.error(f"unknown block kind `{kind}`", block.kind.span, label="not a block kind", help=help)


# What imported modules contribute: only what the spec uses -------------------------------------------


def _keep_used(
    modules: Sequence[LoadedModule], symbols: Symbols, uses: Sequence[tuple[ast.UseHardware, bool]]
) -> None:
    """Mark the blocks and hardware imports of imported modules that the spec uses, directly or not;
    the others are checked but left out of the IR (a module's declarations are available, not built)."""
    library: dict[str, list[ast.Block]] = {}
    for m in modules:
        if m.root:
            continue
        for item in m.module.items:
            if isinstance(item, ast.Block) and item.name is not None:
                library.setdefault(item.name.name, []).append(item)
    root_items: list[object] = [i for m in modules if m.root for i in m.module.items]
    used: set[int] = set()
    names: set[str] = set()
    stack = list(root_items)
    while stack:
        for ref in _refs(stack.pop()):
            names.add(ref)
            for block in library.get(ref, ()):
                if id(block) not in used:
                    used.add(id(block))
                    stack.append(block)
    for i, (block, spec, keep) in enumerate(symbols.checked):
        if not keep and id(block) in used:
            symbols.checked[i] = (block, spec, _not_duplicate(block, spec, symbols))
    for use, root in uses:
        alias = use.alias.name if use.alias else default_alias(use.target.value)
        if alias is not None and (root or alias in names):
            symbols.kept_hardware.add(alias)


def _not_duplicate(block: ast.Block, spec: schema.BlockSchema, symbols: Symbols) -> bool:
    name = block.name.name if block.name else spec.kind
    return symbols.blocks.get(spec.kind, {}).get(name) is block


def _refs(node: object) -> list[str]:
    """Every name a statement, block or expression refers to (`main.decode` gives both parts)."""
    out: list[str] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Ref):
            out.append(n.parts[0].name)
            out.append(n.name)
        elif isinstance(n, ast.Block):
            todo.extend(n.body)
            if n.index is not None:
                todo.append(n.index)
        elif isinstance(n, ast.Attr | ast.Param | ast.Constraint):
            todo.append(n.value)
        elif isinstance(n, ast.Call):
            todo.extend(a.value for a in n.args)
        elif isinstance(n, ast.ListExpr):
            todo.extend(n.items)
        elif isinstance(n, ast.Binary):
            todo.extend((n.left, n.right))
        elif isinstance(n, ast.Unary):
            todo.append(n.operand)
    return out


def check_head(block: ast.Block, spec: schema.BlockSchema, bag: DiagnosticBag) -> None:
    """The name and `[...]` of a block against its kind."""
    kind = block.kind.name
    if spec.named and block.name is None and not spec.name_optional:
        bag.error(
            f"missing name for `{kind}` block",
            block.kind.span,
            label="needs a name",
            help=f"write `{kind} NAME {{ ... }}`",
        )
    if not spec.named and block.name is not None:
        bag.error(
            f"`{kind}` blocks take no name",
            block.name.span,
            label="remove this name",
            help=f"write `{kind} {{ ... }}`",
        )
    if block.index is not None and not spec.indexed:
        bag.error(
            f"`{kind}` blocks take no `[...]`",
            block.index.span,
            label="not allowed here",
            help="remove the `[...]`",
        )


def _or(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _and(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


# Hardware -----------------------------------------------------------------------------------------


def default_alias(text: str) -> str | None:
    """`nvidia/h100-sxm@vllm-0.24.0` -> `h100_sxm`: the device with `-` (and any other character a
    name cannot hold) replaced by `_`."""
    match = re.match(r"[^/@]*/([^/@]+)", text)
    if match is None:
        return None
    return re.sub(r"\W", "_", match.group(1), flags=re.ASCII)


def resolve_hardware(
    uses: Sequence[ast.UseHardware], bag: DiagnosticBag, hwdb_paths: Sequence[Path] | None
) -> dict[str, ir.HardwareImport | None]:
    entries = find_entries(list(hwdb_paths) if hwdb_paths is not None else None)
    aliases: dict[str, ir.HardwareImport | None] = {}
    first_use: dict[str, ast.UseHardware] = {}
    for use in uses:
        text = use.target.value
        alias = use.alias.name if use.alias else default_alias(text)
        resolved = _hardware_entry(use, entries, bag)
        if alias is None:
            continue
        if alias in aliases and first_use[alias].target.value == text:
            continue  # the same entry under the same name, e.g. from a module and the spec
        if alias in aliases:
            at = use.alias.span if use.alias else use.target.span
            bag.error(
                f"duplicate hardware alias `{alias}`",
                at,
                label="already used",
                notes=[f"`{alias}` was first used at {where(first_use[alias].span, use.span)}"],
                help="give it another name with `as NAME`",
            )
            continue
        first_use[alias] = use
        aliases[alias] = None
        if resolved is not None:
            entry, engine = resolved
            name, version = engine.split("@", 1)
            aliases[alias] = ir.HardwareImport(alias, entry, name, version, use.span)
    return aliases


def _hardware_entry(
    use: ast.UseHardware, entries: Sequence[EntryRef], bag: DiagnosticBag
) -> tuple[str, str] | None:
    text = use.target.value
    parsed = parse_spec_name(text)
    if parsed is None:
        example = entries[0].spec_name if entries else EXAMPLE_HARDWARE
        bag.error(
            f"malformed hardware name `{text}`",
            use.target.span,
            label="expected `vendor/device@engine-version`",
            help=f'write it as `"vendor/device@engine-version"`, e.g. `"{example}"`',
        )
        return None
    entry, engine = parsed
    if any(e.entry == entry and e.engine == engine for e in entries):
        return parsed
    names = [e.spec_name for e in entries]
    same_device = [e.spec_name.split("@", 1)[1] for e in entries if e.entry == entry]
    notes = []
    if same_device:
        notes.append(f"`{entry}` is available as " + _or(same_device))
    # A known device with another version: suggest among that device's versions, the newest first
    # on a tie, rather than a look-alike version of some other device.
    candidates = [e.spec_name for e in entries if e.entry == entry] or names
    help = suggestion_text(did_you_mean(text, candidates)) or "run `llmsim hwdb list` to see the available entries"
    bag.error(
        f"unknown hardware entry `{text}`",
        use.target.span,
        label="not in the hardware database",
        notes=notes,
        help=help,
    )
    return None


# Paths ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathResolver:
    """Finds files a spec names: relative to its folder, then to each search path (`-I DIR`)."""

    spec_dir: Path
    search_paths: tuple[Path, ...] = ()

    def roots(self) -> list[Path]:
        return [self.spec_dir, *self.search_paths]

    def resolve(self, text: str, span: Span, bag: DiagnosticBag) -> Path | None:
        if not text:
            bag.error(
                "empty path", span, label="no file named", help='write a path such as `"traces/a.jsonl"`'
            )
            return None
        if "\0" in text:
            bag.error(f"invalid path `{text}`", span, label="holds a NUL character")
            return None
        relative = Path(text)
        if relative.is_absolute() or text.startswith("~"):
            bag.error(
                "absolute paths are not allowed",
                span,
                label="absolute path",
                help="write the path relative to the spec's folder, or pass the folder that holds it "
                "with `-I DIR` and write the path relative to that",
            )
            return None
        real_roots = []
        for root in self.roots():
            try:
                real_roots.append(root.resolve())
            except (OSError, RuntimeError):  # pragma: no cover - an unreadable search path
                continue
        outside: Path | None = None
        folder = False
        for root in self.roots():
            try:
                real = (root / relative).resolve()
                exists, is_file = real.exists(), real.is_file()
            except (OSError, RuntimeError, ValueError):
                continue
            if not exists:
                continue
            if not is_file:
                folder = True
                continue
            if any(real.is_relative_to(r) for r in real_roots):
                inputs.note_path(real)
                return real
            outside = outside or real
        if outside is not None:
            bag.error(
                f"path `{text}` leaves the spec's folder",
                span,
                label="outside the spec's folder and the search paths",
                help="pass the folder that holds it with `-I DIR` and write the path relative to it",
            )
        elif folder:
            bag.error(
                f"`{text}` is a folder, not a file", span, label="not a file", help="name a file inside it"
            )
        else:
            bag.error(
                f"cannot find file `{text}`",
                span,
                label="no such file",
                help="paths are relative to the spec's folder; pass other folders with `-I DIR`",
            )
        return None
