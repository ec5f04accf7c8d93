"""The formatter: canonical layout, comments kept, idempotent, and the IR never changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmsim.diagnostics import CompileError, SourceFile
from llmsim.lang import emit_ir, load_spec, parse
from llmsim.lang.fmt import format_text

from .helpers import GOLDEN

ROOT = Path(__file__).resolve().parents[2]


def repository_specs() -> list[Path]:
    """Every .llms file in the repository that parses."""
    out = []
    for path in sorted(ROOT.rglob("*.llms")):
        if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
            continue
        try:
            parse(SourceFile(str(path), path.read_text(encoding="utf-8")))
        except CompileError:
            continue
        out.append(path)
    return out


SPECS = repository_specs()


def test_there_are_specs_to_format():
    assert len(SPECS) >= 20


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_fmt_is_idempotent_on_every_spec(path: Path):
    once = format_text(path.read_text(encoding="utf-8"))
    assert format_text(once) == once


GOLDEN_VALID = [GOLDEN / "valid" / n for n in ("quickstart.llms", "full.llms", "roadmap.llms")]
VALID = GOLDEN_VALID + sorted((ROOT / "specs").rglob("*.llms")) + sorted((ROOT / "docs" / "tutorial").glob("*.llms"))


def _without_positions(text: str) -> str:
    return re.sub(r"@[^ \n]*\d+:\d+", "@", text)


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_formatting_never_changes_the_ir(path: Path, hwdb: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(path.parent)
    hwdb_paths = [hwdb] if path in GOLDEN_VALID else None  # the golden specs name test-only entries
    before = emit_ir(load_spec(Path(path.name), hwdb_paths=hwdb_paths))
    formatted = path.parent / f".fmt-{path.name}"
    formatted.write_text(format_text(path.read_text(encoding="utf-8")), encoding="utf-8")
    try:
        after = emit_ir(load_spec(Path(formatted.name), hwdb_paths=hwdb_paths))
    finally:
        formatted.unlink()
    assert _without_positions(after).replace(formatted.name, path.name) == _without_positions(before)


def test_canonical_layout():
    messy = (
        "# head\n\n\n"
        'use hardware   "a/b@c-1"   as  x   # why\n'
        "param tp=2\nparam rate  =  4/s\n"
        "pool main {   model=llama\n"
        "  # about tp\n"
        "  tp = (16/ 2) * tp  instances = 2-(1-1)\n\n\n"
        "  scheduler {max_num_seqs=8}\n"
        "  kv_cache {\n    block_size = 16 }  # closing\n"
        "}\n"
        "slo s { ttft.p99 < 500ms  attainment>=95% }\n"
        "router r { targets = [a,b,] }   # end\n"
        "# tail\n"
    )
    assert format_text(messy) == (
        "# head\n"
        "\n"
        'use hardware "a/b@c-1" as x  # why\n'
        "param tp   = 2\n"
        "param rate = 4/s\n"
        "pool main {\n"
        "  model     = llama\n"
        "  # about tp\n"
        "  tp        = 16 / 2 * tp\n"
        "  instances = 2 - (1 - 1)\n"
        "\n"
        "  scheduler { max_num_seqs = 8 }\n"
        "  kv_cache {\n"
        "    block_size = 16\n"
        "  }  # closing\n"
        "}\n"
        "slo s { ttft.p99 < 500ms  attainment >= 95% }\n"
        "router r { targets = [a, b] }  # end\n"
        "# tail\n"
    )


def test_comments_inside_expressions_are_kept():
    text = "router r {\n  targets = [\n    a,  # first\n    b,\n  ]\n}\n"
    out = format_text(text)
    assert "# first" in out and format_text(out) == out


def test_syntax_errors_are_diagnostics():
    with pytest.raises(CompileError):
        format_text("pool main {")
