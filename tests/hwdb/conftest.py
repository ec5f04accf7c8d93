"""Fixtures for the hardware database tests: the bundled H100 entry and broken copies of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from llmsim.hwdb import EntryRef, HardwareEntry, bundled_root, find_entries, load_entry

ENTRY = "nvidia/h100-sxm"
ENGINE = "vllm@0.24.0"
def _shared_data() -> Path:
    """The shared source data: $LLMSIM_SHARED_DATA, else `shared/data` beside the checkout (as CI
    lays it out), else /work/shared/data."""
    env = os.environ.get("LLMSIM_SHARED_DATA")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside if beside.is_dir() else Path("/work/shared/data")


SHARED_DATA = _shared_data()
SYSTEM_DIR = SHARED_DATA / "hw" / "aiconfigurator-0.12.0" / "h100_sxm"


@pytest.fixture(scope="session")
def bundled_ref() -> EntryRef:
    refs = [r for r in find_entries([bundled_root()]) if (r.entry, r.engine) == (ENTRY, ENGINE)]
    assert refs, "the bundled H100 entry is missing from hardware_db/"
    return refs[0]


@pytest.fixture(scope="session")
def entry(bundled_ref: EntryRef) -> HardwareEntry:
    return load_entry(bundled_ref)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _replace(path: Path, text: str) -> None:
    """Write a new file at `path` (never through a hard link to the committed one)."""
    path.unlink()
    path.write_text(text, encoding="utf-8")


class EntryCopy:
    """A writable copy of the bundled entry under `root` (with the LICENSES folder beside it)."""

    def __init__(self, root: Path, source: EntryRef):
        self.root = root
        self.dir = root / ENTRY / ENGINE
        # table files are hard links (fast); `edit` replaces a file instead of writing into it, so
        # the committed files are never touched
        shutil.copytree(source.path, self.dir, copy_function=_link_or_copy)
        shutil.copytree(source.path.parent.parent.parent / "LICENSES", root / "LICENSES")
        self.ref = EntryRef(ENTRY, ENGINE, self.dir)
        self.yaml = self.dir / "entry.yaml"

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace the one occurrence of `old` in a file of the entry."""
        p = self.dir / rel
        text = p.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        _replace(p, text.replace(old, new))

    def edit_line(self, rel: str, prefix: str, old: str, new: str) -> None:
        """Replace `old` in the one line of a file that starts with `prefix`."""
        p = self.dir / rel
        lines = p.read_text(encoding="utf-8").split("\n")
        hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        assert len(hits) == 1 and old in lines[hits[0]]
        lines[hits[0]] = lines[hits[0]].replace(old, new)
        _replace(p, "\n".join(lines))

    def line_of(self, rel: str, needle: str) -> int:
        lines = (self.dir / rel).read_text(encoding="utf-8").splitlines()
        return next(i for i, line in enumerate(lines, start=1) if needle in line)


@pytest.fixture(scope="session")
def import_result():
    """The importer's output for the bundled entry (built once: it takes a few seconds)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared source data is not present")
    from llmsim.hwdb.importers import aiconfigurator

    return aiconfigurator.build(SYSTEM_DIR, ENGINE, vendor="nvidia", device_name="h100-sxm")


@pytest.fixture
def copy(tmp_path: Path, bundled_ref: EntryRef) -> EntryCopy:
    return EntryCopy(tmp_path / "db", bundled_ref)
