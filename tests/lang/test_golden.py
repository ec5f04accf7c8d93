"""Golden files: the exact diagnostics of each invalid spec, and the AST and IR of each valid one.

Run `pytest tests/lang --update-golden` to rewrite them after an intended change, then review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmsim.diagnostics import CompileError
from llmsim.lang import emit_ast, emit_ir, load_spec, parse, read_source

from .helpers import GOLDEN, rendered

INVALID = sorted((GOLDEN / "invalid").glob("*.llms"))
VALID = sorted((GOLDEN / "valid").glob("*.llms"))


def test_there_are_enough_cases():
    assert len(INVALID) >= 25
    assert len(VALID) >= 2


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_invalid(case: Path, golden, hwdb: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(case.parent)  # diagnostics show the path as given: just the file name
    with pytest.raises(CompileError) as info:
        load_spec(Path(case.name), hwdb_paths=[hwdb])
    golden.check(case.with_suffix(".expected"), rendered(info.value.diagnostics))


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.stem)
def test_valid_ast(case: Path, golden, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(case.parent)
    module = parse(read_source(Path(case.name)))
    golden.check(case.with_suffix(".ast"), emit_ast(module))


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.stem)
def test_valid_ir(case: Path, golden, hwdb: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(case.parent)
    spec = load_spec(Path(case.name), hwdb_paths=[hwdb])
    golden.check(case.with_suffix(".ir"), emit_ir(spec))
