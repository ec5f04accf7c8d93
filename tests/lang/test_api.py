"""The public entry points: `load_spec`, `parse`, `emit_ast` and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import llmsim.lang as lang
from llmsim.diagnostics import CompileError, UserError

from .helpers import SCAFFOLD


def test_public_names():
    for name in ("parse", "load_spec", "emit_ast"):
        assert callable(getattr(lang, name))


def test_load_spec_returns_the_ir(tmp_path: Path, hwdb: Path):
    path = tmp_path / "c.llms"
    path.write_text(SCAFFOLD, encoding="utf-8")
    spec = lang.load_spec(path, hwdb_paths=[hwdb])
    assert isinstance(spec, lang.ir.Spec)
    assert spec.path == path
    assert spec.pools["main"].span.path == str(path)


def test_missing_file_is_a_user_error(tmp_path: Path):
    with pytest.raises(UserError) as info:
        lang.load_spec(tmp_path / "nope.llms")
    assert info.value.message == f"cannot read `{tmp_path / 'nope.llms'}`: no such file"


def test_folder_is_a_user_error(tmp_path: Path):
    with pytest.raises(UserError, match="it is a folder"):
        lang.load_spec(tmp_path)


def test_binary_file_is_a_user_error(tmp_path: Path):
    path = tmp_path / "b.llms"
    path.write_bytes(b"\xff\xfe\x00pool")
    with pytest.raises(UserError, match="not UTF-8 text"):
        lang.load_spec(path)


def test_byte_order_mark_is_ignored(tmp_path: Path, hwdb: Path):
    path = tmp_path / "bom.llms"
    path.write_bytes(b"\xef\xbb\xbf" + SCAFFOLD.encode())
    assert lang.load_spec(path, hwdb_paths=[hwdb]).pools


def test_compile_error_carries_every_diagnostic(tmp_path: Path, hwdb: Path):
    path = tmp_path / "bad.llms"
    path.write_text(SCAFFOLD.replace("requests = 10", "requests = 0  seed = -1"), encoding="utf-8")
    with pytest.raises(CompileError) as info:
        lang.load_spec(path, hwdb_paths=[hwdb])
    assert [d.summary for d in info.value.diagnostics] == [
        "`requests` must be at least 1",
        "`seed` must be at least 0",
    ]
    assert str(info.value) == "\n\n".join(d.render() for d in info.value.diagnostics)
