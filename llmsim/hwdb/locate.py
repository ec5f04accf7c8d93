"""Finding hardware_db entries on the search path, without loading their tables.

An entry lives in `<root>/<vendor>/<device>/<engine>@<version>/entry.yaml`. Specs name it as
`"<vendor>/<device>@<engine>-<version>"`; the resolver and `llmsim hwdb list` both start here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from msgspec import Struct

ENTRY_FILE = "entry.yaml"
ENV_PATH = "LLMSIM_HWDB_PATH"


class EntryRef(Struct, frozen=True, order=True):
    """Where one entry is: `entry` is "nvidia/h100-sxm", `engine` is "vllm@0.24.0"."""

    entry: str
    engine: str
    path: Path

    @property
    def spec_name(self) -> str:
        """How a spec names it: "nvidia/h100-sxm@vllm-0.24.0"."""
        name, version = self.engine.split("@", 1)
        return f"{self.entry}@{name}-{version}"


def bundled_root() -> Path:
    """The repository's own `hardware_db/`, next to the `llmsim` package."""
    return Path(__file__).resolve().parent.parent.parent / "hardware_db"


def default_paths(extra: Iterable[Path] = ()) -> list[Path]:
    """Explicit paths first, then `$LLMSIM_HWDB_PATH`, then the bundled database."""
    paths = [Path(p) for p in extra]
    env = os.environ.get(ENV_PATH, "")
    paths += [Path(p) for p in env.split(os.pathsep) if p]
    paths.append(bundled_root())
    seen: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def find_entries(search_paths: Sequence[Path] | None = None) -> list[EntryRef]:
    """Every entry on the search path; an entry found twice is taken from the earlier root."""
    found: dict[tuple[str, str], EntryRef] = {}
    for root in search_paths if search_paths is not None else default_paths():
        if not root.is_dir():
            continue
        for entry_file in sorted(root.glob(f"*/*/*@*/{ENTRY_FILE}")):
            engine_dir = entry_file.parent
            entry = f"{engine_dir.parent.parent.name}/{engine_dir.parent.name}"
            key = (entry, engine_dir.name)
            found.setdefault(key, EntryRef(entry, engine_dir.name, engine_dir))
    return sorted(found.values())


def parse_spec_name(text: str) -> tuple[str, str] | None:
    """Split "nvidia/h100-sxm@vllm-0.24.0" into ("nvidia/h100-sxm", "vllm@0.24.0"); None if malformed."""
    if text.count("@") != 1:
        return None
    entry, engine = text.split("@")
    if entry.count("/") != 1 or not all(entry.split("/")) or "-" not in engine:
        return None
    name, version = engine.split("-", 1)
    if not name or not version:
        return None
    return entry, f"{name}@{version}"


def ref_for_dir(path: Path) -> EntryRef | None:
    """The EntryRef of an entry folder given by path (`.../<vendor>/<device>/<engine>@<version>`)."""
    path = Path(path)
    if not (path / ENTRY_FILE).is_file() or "@" not in path.name:
        return None
    return EntryRef(f"{path.parent.parent.name}/{path.parent.name}", path.name, path)


def match_entries(name: str, refs: Sequence[EntryRef]) -> list[EntryRef]:
    """Entries a user's name selects. Accepted forms: "nvidia/h100-sxm" (every engine),
    "nvidia/h100-sxm@vllm" (every version), "nvidia/h100-sxm@vllm@0.24.0" and the spec form
    "nvidia/h100-sxm@vllm-0.24.0"."""
    entry, _, engine = name.partition("@")
    out = [r for r in refs if r.entry == entry]
    if not engine:
        return out
    exact = [r for r in out if r.engine == engine]
    if exact:
        return exact
    spec = parse_spec_name(name)
    if spec is not None:
        exact = [r for r in out if (r.entry, r.engine) == spec]
        if exact:
            return exact
    return [r for r in out if r.engine.split("@", 1)[0] == engine]
