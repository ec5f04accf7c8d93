"""Hardware imports, default aliases and file paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmsim.diagnostics import CompileError, DiagnosticBag, SourceFile, Span
from llmsim.lang.resolve import PathResolver, default_alias

from .helpers import SCAFFOLD, make_hwdb


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("nvidia/h100-sxm@vllm-0.24.0", "h100_sxm"),
        ("amd/mi300x@vllm-0.24.0", "mi300x"),
        ("nvidia/gb200-nvl.72@vllm-1", "gb200_nvl_72"),
        ("no-slash", None),
    ],
)
def test_default_alias(text, alias):
    assert default_alias(text) == alias


def _span() -> Span:
    source = SourceFile("t.llms", 'x = "p"')
    return Span(source, 1, 5, 1, 8)


def resolve(resolver: PathResolver, text: str) -> tuple[Path | None, list[str]]:
    bag = DiagnosticBag()
    found = resolver.resolve(text, _span(), bag)
    return found, [d.summary for d in bag.items]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """spec/ (with a.json and sub/b.json), data/c.json, outside/d.json."""
    for rel in ("spec/a.json", "spec/sub/b.json", "data/c.json", "outside/d.json"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}", encoding="utf-8")
    return tmp_path


def test_relative_to_the_spec_folder(tree: Path):
    resolver = PathResolver(tree / "spec")
    assert resolve(resolver, "a.json") == ((tree / "spec/a.json").resolve(), [])
    assert resolve(resolver, "sub/../a.json") == ((tree / "spec/a.json").resolve(), [])
    assert resolve(resolver, "sub/b.json")[0] == (tree / "spec/sub/b.json").resolve()


def test_search_paths_come_after_the_spec_folder(tree: Path):
    resolver = PathResolver(tree / "spec", (tree / "data",))
    assert resolve(resolver, "c.json") == ((tree / "data/c.json").resolve(), [])
    (tree / "spec/c.json").write_text("{}", encoding="utf-8")
    assert resolve(resolver, "c.json")[0] == (tree / "spec/c.json").resolve()


def test_dot_dot_into_a_search_path_is_allowed(tree: Path):
    resolver = PathResolver(tree / "spec", (tree / "data",))
    assert resolve(resolver, "../data/c.json")[0] == (tree / "data/c.json").resolve()


def test_escaping_the_roots_is_refused(tree: Path):
    resolver = PathResolver(tree / "spec", (tree / "data",))
    found, errors = resolve(resolver, "../outside/d.json")
    assert found is None
    assert errors == ["path `../outside/d.json` leaves the spec's folder"]


def test_absolute_paths_are_refused(tree: Path):
    resolver = PathResolver(tree / "spec")
    assert resolve(resolver, str(tree / "spec/a.json")) == (None, ["absolute paths are not allowed"])


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_out_of_the_roots_is_refused(tree: Path):
    link = tree / "spec" / "link.json"
    try:
        link.symlink_to(tree / "outside" / "d.json")
    except OSError:
        pytest.skip("cannot create symlinks here")
    assert resolve(PathResolver(tree / "spec"), "link.json") == (
        None,
        ["path `link.json` leaves the spec's folder"],
    )


def test_missing_file_and_folder(tree: Path):
    resolver = PathResolver(tree / "spec")
    assert resolve(resolver, "nope.json") == (None, ["cannot find file `nope.json`"])
    assert resolve(resolver, "sub") == (None, ["`sub` is a folder, not a file"])
    assert resolve(resolver, "") == (None, ["empty path"])


def test_search_paths_reach_load_spec(compile_text, tree: Path):
    text = SCAFFOLD.replace('catalog = "Llama-3.1-8B"', 'config = "c.json"')
    with pytest.raises(CompileError):
        compile_text(text)
    spec = compile_text(text, search_paths=[tree / "data"])
    assert spec.models["llama"].config_path == (tree / "data/c.json").resolve()


def test_hardware_entries_come_from_every_root(compile_text, tmp_path: Path, hwdb: Path):
    extra = tmp_path / "extra"
    (extra / "acme/npu-1/vllm@1.0").mkdir(parents=True)
    (extra / "acme/npu-1/vllm@1.0/entry.yaml").write_text("", encoding="utf-8")
    text = SCAFFOLD + 'use hardware "acme/npu-1@vllm-1.0"\n'
    spec = compile_text(text, hwdb_paths=[hwdb, extra])
    assert spec.hardware["npu_1"].engine_id == "vllm@1.0"
    with pytest.raises(CompileError):
        compile_text(text, hwdb_paths=[hwdb])


def test_make_hwdb_layout(tmp_path: Path):
    root = make_hwdb(tmp_path / "db")
    assert (root / "nvidia/h100-sxm/vllm@0.24.0/entry.yaml").is_file()
