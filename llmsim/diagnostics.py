"""Diagnostics: located, collected, rendered in the Rust/Elm layout.

Every user-facing error in llmsim is a `Diagnostic` with a tight `Span`; passes collect them in a
`DiagnosticBag` and the driver stops at the end of a phase, so users see all of a phase's mistakes at
once. Error text is API: tests compare it exactly.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path

from msgspec import Struct, field


class SourceFile(Struct, frozen=True):
    """A file's text, kept so diagnostics can quote the offending line."""

    path: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 1 <= number <= len(lines) else ""

    @classmethod
    def read(cls, path: Path, display: str | None = None) -> SourceFile:
        return cls(display or str(path), path.read_text(encoding="utf-8"))


class Span(Struct, frozen=True):
    """A region of a source file; lines and columns are 1-based, `end_col` exclusive."""

    source: SourceFile
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def path(self) -> str:
        return self.source.path

    def __repr__(self) -> str:  # keeps IR dumps short and stable
        return f"{self.source.path}:{self.line}:{self.col}"

    def merge(self, other: Span) -> Span:
        start = min((self.line, self.col), (other.line, other.col))
        end = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(self.source, start[0], start[1], end[0], end[1])


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Diagnostic(Struct, frozen=True):
    """One finding: a one-line summary, a label under the span, and what to write instead."""

    summary: str
    span: Span | None = None
    label: str = ""
    help: str = ""
    notes: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        return render(self)


def render(diag: Diagnostic) -> str:
    """Render in the layout STYLE.md shows: header, location, quoted line, carets, help."""
    out = [f"{diag.severity.value}: {diag.summary}"]
    span = diag.span
    if span is not None:
        gutter = " " * len(str(span.line))
        out.append(f"{gutter}--> {span.path}:{span.line}:{span.col}")
        text = span.source.line(span.line)
        if text:
            out.append(f"{gutter} |")
            out.append(f"{span.line} | {text}")
            end_col = span.end_col if span.end_line == span.line else len(text) + 1
            width = max(1, end_col - span.col)
            marker = " " * (span.col - 1) + "^" * width
            out.append(f"{gutter} | {marker}" + (f" {diag.label}" if diag.label else ""))
        for note in diag.notes:
            out.append(f"{gutter} = note: {note}")
        if diag.help:
            out.append(f"{gutter} = help: {diag.help}")
    else:
        for note in diag.notes:
            out.append(f"  = note: {note}")
        if diag.help:
            out.append(f"  = help: {diag.help}")
    return "\n".join(out)


class DiagnosticBag(Struct):
    """Collects diagnostics through a phase; `check()` stops the pipeline if any is an error."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(
        self,
        summary: str,
        span: Span | None = None,
        *,
        label: str = "",
        help: str = "",
        notes: Sequence[str] = (),
    ) -> None:
        self.items.append(Diagnostic(summary, span, label, help, tuple(notes)))

    def warn(self, summary: str, span: Span | None = None, *, label: str = "", help: str = "") -> None:
        self.items.append(Diagnostic(summary, span, label, help, (), Severity.WARNING))

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        self.items.extend(diags)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def check(self) -> None:
        """End of a phase: raise if anything went wrong, keeping every diagnostic."""
        if self.has_errors:
            raise CompileError(sorted_diagnostics(self.items))


def sorted_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Order by file and position so output is stable whatever order the passes found them."""

    def key(d: Diagnostic) -> tuple[str, int, int]:
        if d.span is None:
            return ("", 0, 0)
        return (d.span.path, d.span.line, d.span.col)

    return sorted(diags, key=key)


class CompileError(Exception):
    """Raised at the end of a phase that found errors; carries every diagnostic of the phase."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n\n".join(d.render() for d in self.diagnostics))


class UserError(Exception):
    """A user mistake outside a spec (bad CLI argument, unreadable file): exit code 1."""

    def __init__(self, message: str, help: str = ""):
        self.message = message
        self.help = help
        super().__init__(message)

    def render(self) -> str:
        return render(Diagnostic(self.message, None, help=self.help))


def did_you_mean(name: str, legal: Iterable[str], *, limit: int = 2) -> list[str]:
    """Suggestions for a misspelt name, drawn only from the names legal at that point."""
    legal = sorted(set(legal))
    lowered = {c.lower(): c for c in legal}
    exact_case = [lowered[name.lower()]] if name.lower() in lowered and lowered[name.lower()] != name else []
    close = difflib.get_close_matches(name, legal, n=limit, cutoff=0.6)
    out: list[str] = []
    for cand in exact_case + close:
        if cand not in out and cand != name:
            out.append(cand)
    return out[:limit]


def suggestion_text(candidates: Sequence[str], *, quote: str = "`") -> str:
    """`did you mean `a` or `b`?` in the wording every llmsim diagnostic uses."""
    if not candidates:
        return ""
    quoted = [f"{quote}{c}{quote}" for c in candidates]
    if len(quoted) == 1:
        return f"did you mean {quoted[0]}?"
    return "did you mean " + ", ".join(quoted[:-1]) + f" or {quoted[-1]}?"
