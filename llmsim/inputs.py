"""Which files a compile read: what the compiled-spec cache (`llmsim.cache`) keys its entries on.

The few places that read a compile's inputs (the spec and its imports, hardware entry files, model
configs) call `note_read`; paths the checker only resolves (trace files, read when the simulation
starts) call `note_path`. Outside `recording()` both cost one truthiness check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Inputs:
    """The files one compile read (absolute path -> sha256 of their bytes) and the paths it resolved."""

    def __init__(self) -> None:
        self.read: dict[str, str] = {}
        self.resolved: set[str] = set()


_ACTIVE: list[Inputs] = []


def note_read(path: Path | str, data: bytes | None = None) -> None:
    """`path` was read (its bytes are `data`, or read again here when not given)."""
    if not _ACTIVE:
        return
    key = str(Path(path).absolute())
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            return  # the reader reports the failure itself
    digest = hashlib.sha256(data).hexdigest()
    for rec in _ACTIVE:
        rec.read[key] = digest


def note_path(path: Path | str) -> None:
    """`path` was found to be a file, and the compiled spec refers to it."""
    if _ACTIVE:
        key = str(Path(path).absolute())
        for rec in _ACTIVE:
            rec.resolved.add(key)


@contextmanager
def recording() -> Iterator[Inputs]:
    """Collect the inputs read inside the block."""
    rec = Inputs()
    _ACTIVE.append(rec)
    try:
        yield rec
    finally:
        _ACTIVE.remove(rec)
