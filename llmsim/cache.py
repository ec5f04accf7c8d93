"""The compiled-spec cache: `compile_file` returns a spec's checked IR and compiled form, from disk when
nothing it was built from has changed.

Running a spec spends most of its fixed cost parsing, checking and lowering it (and importing the code
that does); a cache hit loads one pickle and imports only the classes it holds. An entry is found by a
key over the spec's path, the search paths, the `-D` defines, the Python version and a fingerprint of
llmsim's own files (so an edited checkout never reads a stale entry). It then lists every file the
compile read with the sha256 of its bytes (the spec, its imports, the hardware entry files, model
configs), the paths it resolved (trace files) and the hardware entries on the search path; any change
there is a miss, and the spec is compiled again. A file whose size, modification time and inode are
those recorded when the entry was written is taken as unchanged without being read again (as make and
ccache do); any other is read and its sha256 compared, so touching a file costs a hash, not a miss.
Warnings raised while compiling are stored and raised again on a hit, so a hit prints what a miss
prints.

Entries live in `$LLMSIM_CACHE_DIR`, else `$XDG_CACHE_HOME/llmsim`, else `~/.cache/llmsim` (folder
mode 0700), written atomically; an unreadable or corrupted entry is ignored and rebuilt. `llmsimc
--no-cache` or `LLMSIM_NO_CACHE=1` turns the cache off. The folder keeps the MAX_ENTRIES most
recently used compiled specs. Loading uses `llmsim.safepickle`: a cache entry can build llmsim's
classes and plain data, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
import warnings
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmsim import inputs, safepickle

if TYPE_CHECKING:
    from llmsim.compiler.compiled import CompiledSpec
    from llmsim.lang.ir import Spec

ENV_DIR = "LLMSIM_CACHE_DIR"
ENV_OFF = "LLMSIM_NO_CACHE"
FORMAT = 2  # bump when the layout of an entry changes
MAX_ENTRIES = 200  # compiled specs kept (under 1 MB each); the least recently used go first
_PACKAGE = Path(__file__).resolve().parent
_SOURCE_SUFFIXES = (".py", ".lark", ".llms", ".json", ".csv", ".yaml")
# A file modified this recently when an entry is written gets no trusted signature: on a file system
# with a coarse clock, a second edit within the same tick could leave size and time as they were.
RACY_NS = 2_000_000_000


def cache_dir() -> Path:
    """Where entries live: $LLMSIM_CACHE_DIR, else $XDG_CACHE_HOME/llmsim, else ~/.cache/llmsim."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmsim"


def enabled(no_cache: bool = False) -> bool:
    """False with `--no-cache`, or when LLMSIM_NO_CACHE is set to anything but empty or `0`."""
    return not no_cache and os.environ.get(ENV_OFF, "") in ("", "0")


@cache
def source_fingerprint() -> str:
    """llmsim's own files by path, size and modification time: an edit anywhere changes it."""
    h = hashlib.sha256()
    stack = [_PACKAGE]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        stack.append(Path(e.path))
                elif e.name.endswith(_SOURCE_SUFFIXES):
                    st = e.stat()
                    h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _key(path: Path, search_paths: Sequence[Path], hwdb_paths: Sequence[Path], defines: Sequence[str],
         point: int | None) -> str:
    parts = [
        f"format={FORMAT}",
        f"python={sys.version}",
        f"llmsim={source_fingerprint()}",
        f"spec={path}\0{Path(path).absolute()}",
        *(f"include={p}\0{Path(p).absolute()}" for p in search_paths),
        *(f"hwdb={p}\0{Path(p).absolute()}" for p in hwdb_paths),
        *(f"define={d}" for d in defines),
        f"point={point}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _entries(hwdb_paths: Sequence[Path]) -> list[str]:
    from llmsim.hwdb.locate import find_entries

    return [str(r.path.absolute()) for r in find_entries(hwdb_paths)]


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino


def _signatures(read: dict[str, str]) -> dict[str, tuple[int, int, int]]:
    """(size, modification time, inode) of each input that still holds the bytes the compile read,
    for `_fresh` to trust without reading it. Stat, read, stat: a file that changed meanwhile, or
    changed within RACY_NS of now, gets none and is hashed on every check instead."""
    now = time.time_ns()
    out: dict[str, tuple[int, int, int]] = {}
    for name, digest in read.items():
        try:
            before = os.stat(name)
            with open(name, "rb") as f:
                data = f.read()
            after = os.stat(name)
        except OSError:
            continue
        sig = _stat_key(before)
        if (sig == _stat_key(after) and now - before.st_mtime_ns > RACY_NS
                and hashlib.sha256(data).hexdigest() == digest):
            out[name] = sig
    return out


def _fresh(manifest: dict[str, Any], hwdb_paths: Sequence[Path]) -> bool:
    """Does every input still hold the bytes the entry was built from?"""
    signatures = manifest["signatures"]
    for name, digest in manifest["read"].items():
        sig = signatures.get(name)
        try:
            if sig is not None and _stat_key(os.stat(name)) == sig:
                continue  # unchanged since the entry was written
            with open(name, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != digest:
                    return False
        except OSError:
            return False
    if not all(os.path.isfile(name) for name in manifest["resolved"]):
        return False
    return manifest["entries"] == _entries(hwdb_paths)


def _load(file: Path, hwdb_paths: Sequence[Path]) -> tuple[Any, list[tuple[str, str]]] | None:
    """The entry's (payload, warnings), or None when it is missing, stale or unreadable."""
    try:
        data = file.read_bytes()
    except OSError:
        return None
    try:
        fmt, manifest, caught, payload = safepickle.loads(data, packages=())
        if fmt != FORMAT or not _fresh(manifest, hwdb_paths):
            return None
        return safepickle.loads(payload), caught
    except Exception:  # a corrupted, truncated or foreign entry: compile again and overwrite it
        return None


def _store(file: Path, manifest: dict[str, Any], caught: list[tuple[str, str]], result: Any) -> None:
    try:
        entry = safepickle.dumps((FORMAT, manifest, caught, safepickle.dumps(result)))
    except Exception:  # something in this spec does not pickle: run it uncached
        return
    _write(file, entry)
    _trim(file.parent, MAX_ENTRIES)


def _trim(folder: Path, keep: int) -> None:
    """Delete all but the `keep` most recently used entries of `folder`."""
    try:
        entries = sorted(folder.glob("*.pickle"), key=lambda f: f.stat().st_mtime_ns, reverse=True)
        for old in entries[keep:]:
            old.unlink(missing_ok=True)
    except OSError:  # another process trimming at the same time: it is done next time
        return


def _write(file: Path, data: bytes) -> None:
    """Write `file` (in a 0700 folder under the cache folder) atomically: a reader sees all or nothing."""
    try:
        file.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        file.parent.mkdir(mode=0o700, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:  # a read-only or full cache folder costs speed, never a run
        return


def load_data(kind: str, key: str) -> Any:
    """Plain data (dicts, lists, strings, numbers) stored by `store_data`; None if absent or unreadable.
    For llmsim's own derived data, such as the parser's tables (`llmsim.lang.parser`)."""
    if not enabled():
        return None
    try:
        return safepickle.loads((cache_dir() / kind / f"{key}.pickle").read_bytes(), packages=())
    except Exception:  # missing, corrupted, or not plain data: the caller rebuilds it
        return None


def store_data(kind: str, key: str, data: Any) -> None:
    if enabled():
        _write(cache_dir() / kind / f"{key}.pickle", safepickle.dumps(data))


_CATEGORIES = {c.__name__: c for c in (UserWarning, DeprecationWarning, RuntimeWarning, FutureWarning)}


def _replay(caught: list[tuple[str, str]]) -> None:
    for category, message in caught:
        warnings.warn(message, _CATEGORIES.get(category, UserWarning), stacklevel=3)


def compile_file(
    path: Path,
    *,
    search_paths: Sequence[Path] = (),
    hwdb_paths: Sequence[Path] | None = None,
    defines: Sequence[str] = (),
    point: int | None = None,
    use_cache: bool = True,
) -> tuple[Spec, CompiledSpec | None]:
    """`load_spec` then `compile_spec`, from the cache when it holds this spec as it is now.

    A spec with a sweep is only loaded (its points compile on their own): the second item is None.
    Errors (`CompileError`, `UserError`) are raised as by `load_spec` and `compile_spec`, never cached.
    """
    from llmsim.hwdb.locate import default_paths

    path = Path(path)
    search = [Path(p) for p in search_paths]
    hwdb = list(hwdb_paths) if hwdb_paths is not None else default_paths([])
    use = use_cache and enabled()
    file = cache_dir() / "compiled" / f"{_key(path, search, hwdb, defines, point)}.pickle" if use else None
    if file is not None:
        hit = _load(file, hwdb)
        if hit is not None:
            result, caught = hit
            with contextlib.suppress(OSError):
                os.utime(file)  # recently used: kept longest when the folder is trimmed
            _replay(caught)
            return result
    with inputs.recording() as rec, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = _compile(path, search, hwdb, defines, point)
    caught = [(type(w.message).__name__ if isinstance(w.message, Warning) else "UserWarning", str(w.message))
              for w in seen]
    if file is not None:
        manifest = {"read": dict(rec.read), "signatures": _signatures(rec.read), "resolved": sorted(rec.resolved),
                    "entries": _entries(hwdb)}
        _store(file, manifest, caught, result)
    _replay(caught)
    return result


def _compile(path: Path, search: list[Path], hwdb: list[Path], defines: Sequence[str],
             point: int | None) -> tuple[Spec, CompiledSpec | None]:
    from llmsim.compiler import compile_spec
    from llmsim.lang import load_spec

    spec = load_spec(path, search_paths=search, hwdb_paths=hwdb, defines=defines, point=point)
    if spec.sweep is not None:
        return spec, None
    return spec, compile_spec(spec, hwdb_paths=hwdb)
