"""Importers: convert public measured data into hardware_db entries.

Each importer module exposes `NAME` and `build(args) -> ImportResult`; the `llmsim hwdb import`
command finds them in `IMPORTERS`. Importers only compute file contents; `llmsim.hwdb.writer.install`
writes them, so every importer gets the same determinism and overwrite rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportResult:
    """What an importer produced: the entry folder's files and files shared across entries."""

    entry: str  # "nvidia/h100-sxm"
    engine: str  # "vllm@0.24.0"
    files: dict[str, bytes]  # relative to the entry folder
    shared: dict[str, bytes] = field(default_factory=dict)  # relative to the database root (licences)

    @property
    def entry_rel(self) -> str:
        return f"{self.entry}/{self.engine}"


IMPORTERS = ("aiconfigurator", "llmservingsim", "specsheet")
DATA_FOLDERS = ("hw",)  # top folders of the shared data root that hold hardware sources


def source_label(path: Path) -> str:
    """How provenance names a source folder: relative to the shared data root (the folder above
    `hw/`), e.g. `hw/aiconfigurator-0.12.0/h100_sxm`, so a re-import from any checkout writes the same
    bytes; the absolute path when the folder is not under such a root."""
    p = Path(path).resolve()
    for i, parent in enumerate(p.parents):
        if parent.name in DATA_FOLDERS:
            return p.relative_to(p.parents[i + 1]).as_posix()
    return str(p)
