"""Random damage to a valid spec never escapes as anything but CompileError or UserError."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmsim.diagnostics import CompileError, SourceFile, UserError
from llmsim.lang import compile_source, emit_ast, parse

from .helpers import GOLDEN

VALID = (GOLDEN / "valid" / "full.llms").read_text(encoding="utf-8")
QUICKSTART = (GOLDEN / "valid" / "quickstart.llms").read_text(encoding="utf-8")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([VALID, QUICKSTART]))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "delete",
                    "duplicate",
                    "swap",
                    "delete_line",
                    "duplicate_line",
                    "swap_lines",
                    "truncate",
                    "insert",
                ]
            )
        )
        if not text:
            break
        if kind in ("delete_line", "duplicate_line", "swap_lines"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "delete_line":
                del lines[i]
            elif kind == "duplicate_line":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(0, len(text) - 1))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 8)) :]
        elif kind == "duplicate":
            text = text[:i] + text[i : j + 1] + text[i:]
        elif kind == "swap":
            chars = list(text)
            chars[i], chars[j] = chars[j], chars[i]
            text = "".join(chars)
        elif kind == "truncate":
            text = text[:i]
        else:
            text = text[:i] + draw(st.sampled_from(list('{}[]()=,."#\\/-+*%0a \n'))) + text[i:]
    return text


@settings(max_examples=300, deadline=None)
@given(text=mutated())
def test_mutations_only_raise_compile_errors(text: str, hwdb: Path):
    spec_path = GOLDEN / "valid" / "fuzzed.llms"  # never written: only its folder is used for paths
    source = SourceFile("fuzzed.llms", text)
    try:
        compile_source(source, path=spec_path, hwdb_paths=[hwdb])
    except CompileError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            d.render()
    except UserError:
        pass
    with contextlib.suppress(CompileError):
        emit_ast(parse(source))
