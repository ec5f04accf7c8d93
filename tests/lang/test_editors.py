"""The TextMate grammar is valid and knows every block kind and SLO metric of the schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

from llmsim.lang import schema

GRAMMAR = Path(__file__).resolve().parents[2] / "editors" / "llms.tmLanguage.json"


def _patterns(node: object) -> list[str]:
    out = []
    if isinstance(node, dict):
        for key in ("match", "begin", "end"):
            if key in node:
                out.append(node[key])
        for value in node.values():
            out += _patterns(value)
    elif isinstance(node, list):
        for value in node:
            out += _patterns(value)
    return out


def test_grammar_is_valid_json_with_compiling_patterns():
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    assert grammar["scopeName"] == "source.llms" and grammar["fileTypes"] == ["llms"]
    for pattern in _patterns(grammar):
        re.compile(pattern)  # Oniguruma accepts what these Python-compatible patterns use


def _all_kinds() -> set[str]:
    kinds: set[str] = {schema.SWEEP_KIND, "zip"}
    todo = list(schema.BLOCKS)
    while todo:
        block = todo.pop()
        kinds.add(block.kind)
        todo += block.blocks
    return kinds


def test_grammar_knows_every_block_kind_and_metric():
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    head = grammar["repository"]["block-head"]["match"]
    listed = set(re.search(r"\\b\(([a-z_|]+)\)", head).group(1).split("|"))
    assert listed == _all_kinds()
    objective = grammar["repository"]["objective"]["match"]
    for name in (*schema.SLO_METRICS, *schema.SLO_TOTALS, *schema.SLO_STATS):
        assert name in objective


def test_grammar_highlights_a_spec():
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    number = re.compile(grammar["repository"]["value"]["patterns"][1]["match"])
    assert number.match("3.35TB/s").groups() == ("3.35", "TB/s")
    assert number.match("4/s").groups() == ("4", "/s")
    head = re.compile(grammar["repository"]["block-head"]["match"])
    assert head.search("node dgx[2] { device = h100 }").groups() == ("node", "dgx")
    assert head.search("  kv_cache {").groups() == ("kv_cache", None)
