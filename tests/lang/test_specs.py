"""The AST and IR of every spec in specs/ and docs/tutorial/, in golden files (`--update-golden`).

(The compiler's stages of the specs in specs/ are in tests/compiler/golden.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmsim.lang import emit_ast, emit_ir, load_spec, parse, read_source

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").rglob("*.llms")) + sorted((ROOT / "docs" / "tutorial").glob("*.llms"))
GOLDEN = Path(__file__).parent / "golden" / "specs"


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)).removesuffix(".llms").replace("/", "__")


@pytest.mark.parametrize("path", SPECS, ids=_name)
def test_ast_and_ir_of_every_spec(path: Path, golden, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(path.parent)
    golden.check(GOLDEN / f"{_name(path)}.ast", emit_ast(parse(read_source(Path(path.name)))))
    golden.check(GOLDEN / f"{_name(path)}.ir", emit_ir(load_spec(Path(path.name))))
