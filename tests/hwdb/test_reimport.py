"""Every committed entry is what its importer makes from the shared data, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmsim.hwdb import bundled_root, find_entries
from llmsim.hwdb.importers import aiconfigurator, llmservingsim, source_label, specsheet

from .conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared source data is not present")
AIC = SHARED_DATA / "hw" / "aiconfigurator-0.12.0"


def _committed(rel: str) -> dict[str, bytes]:
    root = bundled_root() / rel
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _check(results) -> set[str]:
    done = set()
    for r in results:
        on_disk = _committed(r.entry_rel)
        assert sorted(on_disk) == sorted(r.files), r.entry_rel
        for rel, data in r.files.items():
            assert on_disk[rel] == data, f"{r.entry_rel}/{rel} differs from the importer's output"
        for rel, data in r.shared.items():
            assert (bundled_root() / rel).read_bytes() == data
        done.add(r.entry_rel)
    return done


@pytest.fixture(scope="module")
def seen() -> set[str]:
    return set()


@pytest.mark.parametrize("system", ["a100_sxm", "h100_sxm", "h200_sxm", "b200_sxm"])
def test_aiconfigurator_every_engine_version(system: str, seen: set[str]):
    sysdir = AIC / system
    results = [
        aiconfigurator.build(sysdir, engine, vendor="nvidia", device_name=system.replace("_", "-"))
        for engine in aiconfigurator.engine_versions(sysdir)
    ]
    seen |= _check(results)


def test_llmservingsim(seen: set[str]):
    results = llmservingsim.build(SHARED_DATA / "hw" / "llmservingsim-vllm0.19")
    assert [r.entry_rel for r in results] == ["nvidia/rtx-4090/vllm@0.19.0", "nvidia/rtx-pro-6000/vllm@0.19.0"]
    seen |= _check(results)


def test_specsheet(seen: set[str]):
    seen |= _check(specsheet.build(SHARED_DATA / "hw" / "specs.csv"))


def test_no_entry_without_its_importer(seen: set[str]):
    """Run last: every committed measured and spec-sheet entry was reproduced above."""
    if len(seen) < 25:
        pytest.skip("run the whole module to check coverage")
    kinds = {}
    for ref in find_entries([bundled_root()]):
        kinds[f"{ref.entry}/{ref.engine}"] = (ref.path / "entry.yaml").read_text(encoding="utf-8")
    imported = {k for k, text in kinds.items() if "\nkind: profiled\n" not in text}
    assert imported == seen


def test_source_label_is_relative_to_the_shared_data_root(tmp_path: Path):
    assert source_label(AIC / "h100_sxm") == "hw/aiconfigurator-0.12.0/h100_sxm"
    assert source_label(tmp_path / "x") == str((tmp_path / "x").resolve())
