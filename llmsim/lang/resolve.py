"""Names and places: hardware imports, the blocks each name refers to, and file paths.

Resolution runs before checking so a reference can point at a block defined later in the file, and
so every unknown name gets suggestions drawn from the names of the right kind only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmsim.diagnostics import DiagnosticBag, Span, did_you_mean, suggestion_text
from llmsim.hwdb.locate import EntryRef, find_entries, parse_spec_name
from llmsim.lang import ast, ir, schema

EXAMPLE_HARDWARE = "nvidia/h100-sxm@vllm-0.24.0"


def where(span: Span) -> str:
    """`12:3`: how notes point at another place in the same file."""
    return f"{span.line}:{span.col}"


@dataclass
class Symbols:
    """Every name a reference may use, by kind: block names and hardware aliases."""

    blocks: dict[str, dict[str, ast.Block]] = field(default_factory=dict)  # kind -> name -> block
    hardware: dict[str, ir.HardwareImport | None] = field(default_factory=dict)  # None: import failed
    # blocks to check, and whether their IR is kept (not for a duplicate, whose body is still checked)
    checked: list[tuple[ast.Block, schema.BlockSchema, bool]] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        if kind == "hardware":
            return list(self.hardware)
        return list(self.blocks.get(kind, {}))


def resolve(module: ast.Module, bag: DiagnosticBag, hwdb_paths: Sequence[Path] | None) -> Symbols:
    symbols = Symbols(blocks={b.kind: {} for b in schema.BLOCKS})
    uses = [item for item in module.items if isinstance(item, ast.UseHardware)]
    if uses:
        symbols.hardware = resolve_hardware(uses, bag, hwdb_paths)
    firsts: dict[str, ast.Block] = {}
    for item in module.items:
        if isinstance(item, ast.Block):
            _collect(item, symbols, firsts, bag)
    return symbols


def _collect(block: ast.Block, symbols: Symbols, firsts: dict[str, ast.Block], bag: DiagnosticBag) -> None:
    kind = block.kind.name
    spec = schema.block(kind)
    if spec is None:
        _unknown_kind(block, bag)
        return
    check_head(block, spec, bag)
    keep = True
    if spec.unique:
        first = firsts.get(kind)
        if first is not None:
            bag.error(
                f"duplicate `{kind}` block",
                block.kind.span,
                label="second one here",
                notes=[f"the first `{kind}` block is at {where(first.kind.span)}"],
                help="merge them into one block",
            )
            keep = False
        else:
            firsts[kind] = block
    if spec.named and block.name is not None:
        table = symbols.blocks[kind]
        first = table.get(block.name.name)
        if first is not None:
            assert first.name is not None
            bag.error(
                f"duplicate {kind} `{block.name.name}`",
                block.name.span,
                label="defined again here",
                notes=[f"`{block.name.name}` was first defined at {where(first.name.span)}"],
                help="give it another name",
            )
            keep = False
        else:
            table[block.name.name] = block
    symbols.checked.append((block, spec, keep))


def _unknown_kind(block: ast.Block, bag: DiagnosticBag) -> None:
    kind = block.kind.name
    parent = schema.NESTED.get(kind)
    if parent is not None:
        help = f"`{kind}` goes inside a `{parent}` block"
    else:
        help = suggestion_text(did_you_mean(kind, schema.kinds())) or ("write one of " + _or(schema.kinds()))
    bag.error(f"unknown block kind `{kind}`", block.kind.span, label="not a block kind", help=help)


def check_head(block: ast.Block, spec: schema.BlockSchema, bag: DiagnosticBag) -> None:
    """The name and `[...]` of a block against its kind."""
    kind = block.kind.name
    if spec.named and block.name is None:
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
    if block.index is not None:
        bag.error(
            f"`{kind}` blocks take no `[...]`",
            block.index.span,
            label="not allowed here",
            help="remove the `[...]`",
        )


def _or(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


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
        if alias in aliases:
            at = use.alias.span if use.alias else use.target.span
            bag.error(
                f"duplicate hardware alias `{alias}`",
                at,
                label="already used",
                notes=[f"`{alias}` was first used at {where(first_use[alias].span)}"],
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
    help = suggestion_text(did_you_mean(text, names)) or "run `llmsim hwdb list` to see the available entries"
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
