"""Errors in hardware entries: each names the file and the field, and points at it when it can.

`HwdbError` is a `UserError` (exit code 1). Its message is `<file>: `<field>`: <problem>`, so a log line
alone says where to look; `render()` adds the Rust/Elm layout with the offending line quoted, found by
re-reading the file only when an error is actually shown.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmsim.diagnostics import Diagnostic, SourceFile, Span, UserError


def display_path(path: Path | str) -> str:
    """A path as users should see it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        rel = os.path.relpath(p, Path.cwd())
    except ValueError:  # another drive on Windows
        return str(p)
    return str(p) if rel.startswith("..") else rel


def field_text(path: tuple[str | int, ...]) -> str:
    """("tables", "gemm_bf16", "keys", 1) -> "tables.gemm_bf16.keys[1]"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "<document>"


class HwdbError(UserError):
    """A malformed hardware entry: which file, which field, what is wrong, what to write instead.

    `field` is a path into the YAML document (`("device", "memory_bandwidth")`) or, for a table file,
    `("row 12", "latency_us")` with `line`/`col` set so the CSV cell can be shown.
    """

    def __init__(
        self,
        file: Path | str,
        field: tuple[str | int, ...] | str,
        problem: str,
        help: str = "",
        *,
        line: int | None = None,
        col: int | None = None,
        width: int = 1,
    ):
        self.file = Path(file)
        self.field = field if isinstance(field, str) else field_text(field)
        self.field_path: tuple[str | int, ...] = (field,) if isinstance(field, str) else tuple(field)
        self.problem = problem
        self.line = line
        self.col = col
        self.width = width
        super().__init__(f"{display_path(self.file)}: `{self.field}`: {problem}", help)

    def span(self) -> Span | None:
        """Where the field is in its file, or None when the file cannot be read back."""
        try:
            text = self.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        source = SourceFile(display_path(self.file), text)
        if self.line is not None:
            col = self.col or 1
            return Span(source, self.line, col, self.line, col + max(1, self.width))
        if self.file.suffix in (".yaml", ".yml"):
            mark = _yaml_mark(text, self.field_path)
            if mark is not None:
                line, col, end_col = mark
                return Span(source, line, col, line, end_col)
        return None

    def render(self) -> str:
        span = self.span()
        if span is None:
            return super().render()
        return Diagnostic(f"`{self.field}`: {self.problem}", span, help=self.help).render()


def _yaml_mark(text: str, path: tuple[str | int, ...]) -> tuple[int, int, int] | None:
    """1-based (line, col, end_col) of the deepest node on `path` that exists in the YAML text.

    For a mapping value the span covers the value when it sits on the key's line (`tdp: 70OW`), else
    the key; a field that is missing points at its parent's key (the place to add it), or at the
    document's first key for a missing top-level field.
    """
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    best = node
    best_key = None
    for part in path:
        nxt = None
        key_node = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == part:
                    key_node, nxt = k, v
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        if nxt is None:
            break
        node, best, best_key = nxt, nxt, key_node
    target = best
    if best_key is not None and not (
        isinstance(best, yaml.ScalarNode) and best.start_mark.line == best_key.start_mark.line
    ):
        target = best_key
    start, end = target.start_mark, target.end_mark
    end_col = end.column + 1 if end.line == start.line else len(text.splitlines()[start.line]) + 1
    return (start.line + 1, start.column + 1, max(end_col, start.column + 2))
