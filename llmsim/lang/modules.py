"""`import "file.llms"`: find, read and parse the modules a spec imports, once each, cycles reported.

An import is resolved relative to the importing file's folder, then to each search path (`-I DIR`);
`"std/NAME"` names a file of the standard library (`llmsim/stdlib/NAME.llms`). The `.llms` suffix
may be left out. Like every path a spec names, an import must stay inside the spec's folder, a
search path or the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmsim import inputs
from llmsim.diagnostics import DiagnosticBag, SourceFile, Span, did_you_mean, suggestion_text
from llmsim.lang import ast
from llmsim.lang.parser import parse_into

STDLIB = Path(__file__).resolve().parents[1] / "stdlib"
STD_PREFIX = "std/"
SUFFIX = ".llms"


@dataclass(frozen=True)
class LoadedModule:
    """A parsed `.llms` file: the spec itself (`root`) or a module it imports."""

    module: ast.Module
    path: Path  # resolved
    root: bool
    imported_at: Span | None = None


def stdlib_names() -> list[str]:
    """`std/...` names of the standard library's modules."""
    return sorted(STD_PREFIX + p.stem for p in STDLIB.glob("*" + SUFFIX))


def load_imports(
    root: ast.Module, root_path: Path, search_paths: Sequence[Path], bag: DiagnosticBag
) -> list[LoadedModule]:
    """The root module and every module it imports, directly or not, in a stable order."""
    loader = _Loader(root_path, tuple(search_paths), bag, Path(root.span.path).parent)
    resolved = _real(root_path)
    out = [LoadedModule(root, resolved, True)]
    loader.visit(root, resolved, [resolved], out)
    return out


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # pragma: no cover - an unreadable folder on the way
        return path.absolute()


class _Loader:
    def __init__(self, root_path: Path, search_paths: tuple[Path, ...], bag: DiagnosticBag, shown_dir: Path):
        self.root_dir = _real(root_path).parent
        self.shown_dir = shown_dir  # the spec's folder as the user wrote it, for diagnostics
        self.search_paths = tuple(_real(p) for p in search_paths)
        self.bag = bag
        self.seen: set[Path] = set()

    def visit(self, module: ast.Module, path: Path, stack: list[Path], out: list[LoadedModule]) -> None:
        for item in module.items:
            if not isinstance(item, ast.Import):
                continue
            found = self.find(item, path.parent)
            if found is None:
                continue
            target, shown = found
            if target in stack:
                chain = [_short(p, self.root_dir) for p in stack[stack.index(target) :]]
                self.bag.error(
                    "import cycle: " + " -> ".join([*chain, _short(target, self.root_dir)]),
                    item.target.span,
                    label="imports a module that imports this one",
                    help="move what both files need into a third module that both import",
                )
                continue
            if target in self.seen:
                continue
            self.seen.add(target)
            source = self.read(target, shown, item)
            if source is None:
                continue
            parsed = parse_into(source, self.bag)
            if parsed is None:
                continue
            out.append(LoadedModule(parsed, target, False, item.target.span))
            self.visit(parsed, target, [*stack, target], out)

    def find(self, item: ast.Import, here: Path) -> tuple[Path, str] | None:
        text = item.target.value
        span = item.target.span
        if not text or "\0" in text or Path(text).is_absolute() or text.startswith("~"):
            self.bag.error(
                f"cannot import `{text}`",
                span,
                label="not a relative path",
                help='write a path relative to this file, such as `"nodes.llms"`, or `"std/nodes"`',
            )
            return None
        name = text if text.endswith(SUFFIX) else text + SUFFIX
        if text.startswith(STD_PREFIX):
            candidates = [(STDLIB / name[len(STD_PREFIX) :], STDLIB)]
        else:
            candidates = [(here / name, here), *((root / name, root) for root in self.search_paths)]
        allowed = (self.root_dir, *self.search_paths, STDLIB)
        outside = False
        for candidate, _ in candidates:
            real = _real(candidate)
            if not real.is_file():
                continue
            if any(real.is_relative_to(r) for r in allowed):
                if real.is_relative_to(STDLIB):
                    return real, STD_PREFIX + real.name
                if real.is_relative_to(self.root_dir):
                    return real, (self.shown_dir / real.relative_to(self.root_dir)).as_posix()
                return real, real.as_posix()
            outside = True
        if outside:
            self.bag.error(
                f"import `{text}` leaves the spec's folder",
                span,
                label="outside the spec's folder and the search paths",
                help="pass the folder that holds it with `-I DIR` and import it relative to that",
            )
        elif text.startswith(STD_PREFIX):
            names = stdlib_names()
            help = suggestion_text(did_you_mean(text.removesuffix(SUFFIX), names)) or (
                "the standard library has " + ", ".join(f"`{n}`" for n in names)
            )
            self.bag.error(f"no standard module `{text}`", span, label="not in the standard library", help=help)
        else:
            self.bag.error(
                f"cannot find module `{text}`",
                span,
                label="no such file",
                help="imports are relative to the importing file; pass other folders with `-I DIR`",
            )
        return None

    def read(self, path: Path, shown: str, item: ast.Import) -> SourceFile | None:
        try:
            raw = path.read_bytes()
            inputs.note_read(path, raw)
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "unreadable"
            self.bag.error(f"cannot read module `{item.target.value}`: {reason}", item.target.span)
            return None
        return SourceFile(shown, text.removeprefix("\ufeff"))


def _short(path: Path, root_dir: Path) -> str:
    """How diagnostics name a module: relative to the spec's folder when inside it."""
    if path.is_relative_to(STDLIB):
        return STD_PREFIX + path.name
    if path.is_relative_to(root_dir):
        return path.relative_to(root_dir).as_posix()
    return path.as_posix()
