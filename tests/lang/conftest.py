"""Fixtures for the language tests: a small hardware_db with entries that only need to exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import make_hwdb


@pytest.fixture(scope="session")
def hwdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hwdb(tmp_path_factory.mktemp("hwdb"))


@pytest.fixture
def compile_text(tmp_path: Path, hwdb: Path):
    """`compile_text(text, name="spec.llms", **kwargs)`: write a spec into a fresh folder and load it."""
    from llmsim.lang import load_spec

    def run(text: str, name: str = "spec.llms", **kwargs):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        kwargs.setdefault("hwdb_paths", [hwdb])
        return load_spec(path, **kwargs)

    return run
