"""Text -> AST: structure, spans, literals, precedence, and syntax errors in user words."""

from __future__ import annotations

import pytest

from llmsim.diagnostics import CompileError, SourceFile
from llmsim.lang import ast, parse
from llmsim.lang.emit import expr_text
from llmsim.lang.parser import parse_expr


def parse_text(text: str) -> ast.Module:
    return parse(SourceFile("t.llms", text))


def errors(text: str) -> list[str]:
    with pytest.raises(CompileError) as info:
        parse_text(text)
    return [d.summary for d in info.value.diagnostics]


def only_error(text: str):
    with pytest.raises(CompileError) as info:
        parse_text(text)
    assert len(info.value.diagnostics) == 1
    return info.value.diagnostics[0]


def test_blocks_attributes_and_nesting():
    module = parse_text(
        "pool main {\n  tp = 2\n  scheduler { max_num_seqs = 8  chunked_prefill = true }\n}\n"
    )
    (pool,) = module.items
    assert isinstance(pool, ast.Block)
    assert (pool.kind.name, pool.name and pool.name.name) == ("pool", "main")
    attr, nested = pool.body
    assert isinstance(attr, ast.Attr) and attr.key.name == "tp"
    assert isinstance(nested, ast.Block) and nested.name is None
    assert [a.key.name for a in nested.body] == ["max_num_seqs", "chunked_prefill"]
    assert nested.body[1].value == ast.Bool(True, nested.body[1].value.span)


def test_use_hardware_with_and_without_alias():
    module = parse_text('use hardware "a/b@c-1" as x\nuse hardware "a/b@c-2"\n')
    first, second = module.items
    assert isinstance(first, ast.UseHardware) and first.alias and first.alias.name == "x"
    assert first.target.value == "a/b@c-1"
    assert isinstance(second, ast.UseHardware) and second.alias is None


def test_hardware_is_an_ordinary_key_inside_blocks():
    (pool,) = parse_text("pool p { hardware = h100 }").items
    assert pool.body[0].key.name == "hardware"


def test_comments_and_empty_file():
    assert parse_text("").items == ()
    assert parse_text("# only a comment\n\n").items == ()
    (block,) = parse_text("model m { # trailing\n  dtype = bf16 # here too\n}").items
    assert len(block.body) == 1


def test_spans_are_tight():
    (block,) = parse_text("pool main {\n  tp = 16 / 2\n}").items
    attr = block.body[0]
    assert (attr.key.span.line, attr.key.span.col, attr.key.span.end_col) == (2, 3, 5)
    value = attr.value
    assert isinstance(value, ast.Binary)
    assert (value.span.col, value.span.end_col) == (8, 14)
    assert (value.op_span.col, value.op_span.end_col) == (11, 12)
    assert (block.span.line, block.span.end_line) == (1, 3)


@pytest.mark.parametrize(
    ("text", "number", "unit"),
    [
        ("80GiB", "80", "GiB"),
        ("3.35TB/s", "3.35", "TB/s"),
        ("500ms", "500", "ms"),
        ("4/s", "4", "/s"),
        ("90%", "90", "%"),
        ("1_000", "1_000", ""),
        ("2e3", "2e3", ""),
        ("2e3GiB", "2e3", "GiB"),
        ("16/tp", "16", "/tp"),
        ("900Gbs", "900", "Gbs"),
        ("10µs", "10", "µs"),
    ],
)
def test_units_glue_to_numbers(text, number, unit):
    expr = parse_expr(text)
    assert isinstance(expr, ast.Number)
    assert (expr.text, expr.unit) == (number, unit)


def test_unit_span_is_the_unit_alone():
    expr = parse_expr("3.35TB/s")
    assert isinstance(expr, ast.Number)
    assert (expr.unit_span.col, expr.unit_span.end_col) == (5, 9)


@pytest.mark.parametrize(
    ("text", "grouped"),
    [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("1 - 2 - 3", "((1 - 2) - 3)"),
        ("16 / tp", "(16 / tp)"),
        ("16/ tp", "(16 / tp)"),
        ("-2 * 3", "((-2) * 3)"),
        ("- -x", "(-(-x))"),
        ("8 / 2 / 2", "((8 / 2) / 2)"),
        ("[a, b.c,]", "[a, b.c]"),
        ("[]", "[]"),
        ('f(1, k = "v")', 'f(1, k = "v")'),
        ("f()", "f()"),
        ("g(x = -1GiB)", "g(x = (-1GiB))"),
    ],
)
def test_expressions(text, grouped):
    assert expr_text(parse_expr(text)) == grouped


def test_strings_decode_escapes():
    expr = parse_expr(r'"say \"hi\" \\ bye"')
    assert isinstance(expr, ast.String)
    assert expr.value == 'say "hi" \\ bye'


def test_true_and_false_are_booleans_not_names():
    assert isinstance(parse_expr("true"), ast.Bool)
    assert isinstance(parse_expr("truer"), ast.Ref)


def test_dotted_references():
    expr = parse_expr("main.decode")
    assert isinstance(expr, ast.Ref)
    assert expr.name == "main.decode"
    assert [p.name for p in expr.parts] == ["main", "decode"]


def test_several_attributes_on_one_line():
    (block,) = parse_text("kv_cache { block_size = 16  gpu_memory_utilization = 90% }").items
    assert [a.key.name for a in block.body] == ["block_size", "gpu_memory_utilization"]


# Syntax errors: the wording is API ----------------------------------------------------------------


def test_missing_equals():
    d = only_error("pool main {\n  max_num_seqs 256\n}\n")
    assert d.summary == "expected `=` or `{` after `max_num_seqs`"
    assert d.label == "unexpected `256`"
    assert (d.span.line, d.span.col, d.span.end_col) == (2, 16, 19)


def test_unterminated_string():
    d = only_error('model m {\n  catalog = "Llama\n}\n')
    assert d.summary == "unterminated string"
    assert (d.span.line, d.span.col) == (2, 13)


def test_unexpected_closing_brace():
    d = only_error("model m { }\n}\n")
    assert d.summary == "unexpected `}`"
    assert d.label == "no `{` to close"


def test_missing_value():
    assert errors("pool p { tp = }") == ["expected a value after `=`"]


def test_commas_between_attributes():
    d = only_error("pool p { tp = 1, pp = 1 }")
    assert d.summary == "expected a key or `}` after `1`"
    assert "not commas" in d.help


def test_unclosed_brace_points_at_the_opener():
    d = only_error("pool p {\n  scheduler {\n    x = 1\n}\n")
    assert d.summary == "unclosed `{`"
    assert (d.span.line, d.span.col) == (2, 13)
    assert d.help == "add `}` at the end of the `scheduler` block"


def test_unclosed_paren_in_call():
    assert errors("w x { a = f(1 2) }") == ["expected `,` or `)` after `1`"]


def test_unexpected_character():
    d = only_error("pool p { tp = 1; }")
    assert d.summary == "unexpected character `;`"


def test_errors_in_several_items_are_all_reported():
    text = "model a {\n  x =\n}\npool b {\n  y = 1 2\n}\nrouter c { }\n"
    assert errors(text) == ["expected a value after `=`", "expected a key or `}` after `1`"]


def test_unknown_escape():
    d = only_error('model m { config = "a\\qb" }')
    assert d.summary == "unknown escape `\\q` in string"
    assert (d.span.col, d.span.end_col) == (22, 24)


def test_top_level_key():
    d = only_error("seed = 1\n")
    assert d.summary == "expected a name or `{` after `seed`"
    assert d.help == "keys go inside a block: `KIND NAME { key = value }`"


def test_end_of_file_after_operator():
    d = only_error("pool p { tp = 1 +")
    assert d.summary == "unclosed `{`"


@pytest.mark.parametrize(
    "value", ["-" * 5000 + "1", "[" * 5000 + "]" * 5000, "+".join(["1"] * 5000), "f(" * 300 + ")" * 300]
)
def test_deep_nesting_is_a_diagnostic_not_a_crash(value):
    d = errors_of("pool p { tp = " + value + " }")
    assert d[0].summary == "expression nested too deeply"
    assert d[0].label == "more than 100 levels deep"


def test_deep_blocks():
    d = errors_of("a {" * 300 + "}" * 300)
    assert d[0].summary == "blocks nested too deeply"


def test_moderate_nesting_is_fine():
    parse_text("pool p { tp = " + "(" * 50 + "1" + ")" * 50 + " + " + "-" * 50 + "1 }")


def errors_of(text: str):
    with pytest.raises(CompileError) as info:
        parse_text(text)
    return info.value.diagnostics
