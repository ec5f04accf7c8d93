"""The text dumps of the AST and IR are compact, stable and complete."""

from __future__ import annotations

from llmsim.diagnostics import SourceFile
from llmsim.lang import emit_ast, emit_ir, parse

from .helpers import SCAFFOLD


def test_emit_ast_is_indented_with_positions():
    module = parse(
        SourceFile(
            "t.llms", 'use hardware "a/b@c-1"\npool p {\n  tp = 16 / 2\n  scheduler { x = [a, "s\\"q"] }\n}\n'
        )
    )
    assert emit_ast(module) == (
        "module\n"
        '  use hardware "a/b@c-1" @1:1\n'
        "  block pool p @2:1\n"
        "    attr tp = (16 / 2) @3:3\n"
        "    block scheduler @4:3\n"
        '      attr x = [a, "s\\"q"] @4:15\n'
    )


def test_emit_ast_of_an_empty_file():
    assert emit_ast(parse(SourceFile("t.llms", ""))) == "module\n"


def test_emit_ast_round_trips_through_the_parser():
    text = 'w x { a = f(1, k = -2GiB * (3 + 4))  b = [p.q, true, "s"] }\n'
    once = emit_ast(parse(SourceFile("t.llms", text)))
    body = once.splitlines()[2].split("attr ", 1)[1].rsplit(" @", 1)[0]
    again = emit_ast(parse(SourceFile("t.llms", "w x { " + body + " }")))
    assert again.splitlines()[2].split("attr ", 1)[1].rsplit(" @", 1)[0] == body


def test_emit_ir_is_stable(compile_text):
    first = emit_ir(compile_text(SCAFFOLD))
    second = emit_ir(compile_text(SCAFFOLD))
    assert first == second
    assert first.startswith("spec spec.llms\n  hardware h100 @1:1\n")
    assert "  simulation @-\n" in first
