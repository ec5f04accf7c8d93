"""Importers: convert public measured data into hardware_db entries.

Each importer module exposes `NAME` and `build(args) -> ImportResult`; the `llmsim hwdb import`
command finds them in `IMPORTERS`. Importers only compute file contents; `llmsim.hwdb.writer.install`
writes them, so every importer gets the same determinism and overwrite rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


IMPORTERS = ("aiconfigurator",)
