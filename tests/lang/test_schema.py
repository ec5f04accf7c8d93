"""The schema agrees with the IR, its documented defaults and examples are valid, and the docs match."""

from __future__ import annotations

from pathlib import Path

import pytest
from msgspec import structs

from llmsim.diagnostics import DiagnosticBag
from llmsim.lang import schema
from llmsim.lang.check import INVALID, Checker
from llmsim.lang.parser import parse_expr
from llmsim.lang.resolve import PathResolver, Symbols

DOCS = Path(__file__).resolve().parents[2] / "docs" / "language.md"


def all_blocks() -> list[schema.BlockSchema]:
    out = []
    for block in schema.BLOCKS:
        out.append(block)
        out.extend(block.blocks)
    return out


def all_fields() -> list[tuple[str, schema.Field]]:
    out = []
    for block in all_blocks():
        for f in block.fields:
            out.append((f"{block.kind}.{f.name}", f))
            if isinstance(f.type, schema.OneOf):
                for v in f.type.variants:
                    out.extend((f"{block.kind}.{f.name}.{v.name}.{p.name}", p) for p in v.params)
    return out


FIELDS = all_fields()


@pytest.fixture
def checker(tmp_path: Path) -> Checker:
    for rel in ("models/config.json", "traces/requests.jsonl"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}", encoding="utf-8")
    symbols = Symbols(
        blocks={
            "model": {"llama": None, "small": None},
            "pool": {"main": None},
            "router": {"front": None},
            "workload": {"chat": None},
            "device": {"pim": None, "aim": None},
            "node": {"dgx": None},
            "link": {"ib": None, "nvlink4": None, "cxl": None},
        },
        hardware={"h100": None},
    )
    return Checker(DiagnosticBag(), symbols, PathResolver(tmp_path))


@pytest.mark.parametrize("block", [b for b in all_blocks() if b.ir is not None], ids=lambda b: b.kind)
def test_keys_map_onto_the_ir(block: schema.BlockSchema):
    assert block.ir is not None
    nested = {b.ir_field for b in block.blocks if b.ir is not None}
    expected = {f.ir_field for f in block.fields} | nested | {"span"} | set(block.ir_extra)
    if block.named:
        expected.add("name")
    assert {f.name for f in structs.fields(block.ir)} - {"key_spans"} == expected


def test_call_parameters_map_onto_the_ir():
    for _, f in FIELDS:
        if isinstance(f.type, schema.OneOf):
            for v in f.type.variants:
                expected = {p.ir_field for p in v.params} | {k for k, _ in v.fixed} | {"span"}
                assert {x.name for x in structs.fields(v.ir)} == expected, v.name


@pytest.mark.parametrize(
    ("where", "f"), [x for x in FIELDS if x[1].default is not None], ids=lambda x: str(x)
)
def test_documented_defaults_are_the_defaults(where: str, f: schema.Field, checker: Checker):
    assert not f.required
    value = checker.value(f.type, parse_expr(f.default_doc.strip("`")), f)
    assert not checker.bag.items, [d.render() for d in checker.bag.items]
    assert value == f.default


@pytest.mark.parametrize(("where", "f"), FIELDS, ids=lambda x: str(x))
def test_examples_are_valid(where: str, f: schema.Field, checker: Checker):
    assert f.example, f"{where} needs an example for its diagnostics"
    value = checker.value(f.type, parse_expr(f.example), f)
    assert not checker.bag.items, [d.render() for d in checker.bag.items]
    assert value is not INVALID


def test_block_kinds_are_unique():
    kinds = [b.kind for b in all_blocks()]
    assert len(kinds) == len(set(kinds))


def test_docs_are_generated_from_the_schema():
    assert DOCS.read_text(encoding="utf-8") == schema.reference_markdown(), (
        "docs/language.md is out of date; regenerate it with "
        '`python -c "from llmsim.lang.schema import write_reference; write_reference()"`'
    )


def test_reference_mentions_every_key():
    text = schema.reference_markdown()
    for where, f in FIELDS:
        assert f"| `{f.name}` |" in text, where
