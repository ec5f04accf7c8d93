"""The `.llms` language front end: text -> AST -> checked `Spec` (the IR in `ir.py`).

    spec = load_spec(Path("cluster.llms"))          # parse, resolve, check; CompileError on mistakes
    module = parse(SourceFile.read(path))           # syntax only
    print(emit_ast(module))                         # the stable text dump behind `--emit ast`
    text = format_source(source)                    # the canonical layout (`llmsimc fmt`)

Each phase collects every diagnostic it finds; the pipeline stops at the end of the syntax phase,
then at the end of the resolve/check phase.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmsim import inputs
from llmsim.diagnostics import SourceFile, UserError

if TYPE_CHECKING:
    from llmsim.lang import ast, ir
    from llmsim.lang.check import check
    from llmsim.lang.emit import emit_ast, emit_ir
    from llmsim.lang.fmt import format_source
    from llmsim.lang.parser import parse

# Loaded on first use (PEP 562), so that importing `llmsim.lang.ir` (the runtime and a cached compile
# need only the IR classes) does not pull in lark, the checker, the hardware database and numpy.
_LAZY = {
    "ast": ("llmsim.lang.ast", None),
    "ir": ("llmsim.lang.ir", None),
    "check": ("llmsim.lang.check", "check"),
    "emit_ast": ("llmsim.lang.emit", "emit_ast"),
    "emit_ir": ("llmsim.lang.emit", "emit_ir"),
    "format_source": ("llmsim.lang.fmt", "format_source"),
    "parse": ("llmsim.lang.parser", "parse"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'llmsim.lang' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value
    return value

__all__ = [
    "ast",
    "check",
    "compile_source",
    "emit_ast",
    "emit_ir",
    "format_source",
    "ir",
    "load_spec",
    "parse",
    "read_source",
]


def read_source(path: Path) -> SourceFile:
    """The text of a spec file, shown in diagnostics under the path as given; UserError if unreadable."""
    try:
        raw = Path(path).read_bytes()
        inputs.note_read(path, raw)
    except FileNotFoundError:
        raise UserError(f"cannot read `{path}`: no such file", help="check the path") from None
    except IsADirectoryError:
        raise UserError(f"cannot read `{path}`: it is a folder", help="name a `.llms` file") from None
    except OSError as exc:
        reason = (exc.strerror or "unreadable").lower()
        raise UserError(f"cannot read `{path}`: {reason}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"cannot read `{path}`: not UTF-8 text", help="save the file as UTF-8") from None
    return SourceFile(str(path), text.removeprefix("\ufeff"))


def compile_source(
    source: SourceFile,
    *,
    path: Path,
    search_paths: Sequence[Path] = (),
    hwdb_paths: Sequence[Path] | None = None,
    defines: Sequence[str] = (),
    point: int | None = None,
) -> ir.Spec:
    """Parse and check text that belongs at `path` (whose folder relative paths start from).

    `defines` are `-D` arguments (`"tp=4"`); `point` picks a sweep point (None: the params' values)."""
    from llmsim.lang.check import check
    from llmsim.lang.params import parse_defines
    from llmsim.lang.parser import parse

    parsed = parse_defines(tuple(defines))
    module = parse(source)
    return check(
        module,
        path=Path(path),
        search_paths=[Path(p) for p in search_paths],
        hwdb_paths=hwdb_paths,
        defines=parsed,
        point=point,
    )


def load_spec(
    path: Path,
    *,
    search_paths: Sequence[Path] = (),
    hwdb_paths: Sequence[Path] | None = None,
    defines: Sequence[str] = (),
    point: int | None = None,
) -> ir.Spec:
    """Read, parse, resolve and check a spec file (its imports too).

    Raises `UserError` when the file cannot be read and `CompileError` carrying every diagnostic of
    the first phase (syntax, then resolve/check) that found errors.
    """
    source = read_source(Path(path))
    return compile_source(
        source, path=Path(path), search_paths=search_paths, hwdb_paths=hwdb_paths, defines=defines, point=point
    )
