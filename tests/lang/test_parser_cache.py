"""The parser's LALR tables kept in llmsim's cache folder (`llmsim/lang/parser.py:_lark`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmsim.lang import parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("LLMSIM_NO_CACHE", raising=False)
    return tmp_path


def tables(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "grammar").glob("*.pickle"))


def test_tables_are_kept_and_parse_the_same(cache_dir: Path):
    built = parser._lark.__wrapped__()
    assert len(tables(cache_dir)) == 1
    loaded = parser._lark.__wrapped__()
    for spec in sorted((ROOT / "specs").rglob("*.llms")):
        text = spec.read_text(encoding="utf-8")
        assert loaded.parse(text, start="start") == built.parse(text, start="start"), spec


@pytest.mark.parametrize("garbage", [b"", b"junk", b"\x80\x05\x95"])
def test_corrupted_tables_are_rebuilt(cache_dir: Path, garbage: bytes):
    parser._lark.__wrapped__()
    (file,) = tables(cache_dir)
    file.write_bytes(garbage)
    assert parser._lark.__wrapped__().parse("model m { }\n", start="start") is not None
    assert file.read_bytes() != garbage


def test_nothing_kept_when_the_cache_is_off(cache_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMSIM_NO_CACHE", "1")
    parser._lark.__wrapped__()
    assert tables(cache_dir) == []
