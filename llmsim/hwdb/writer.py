"""Writing entries: deterministic text for entry.yaml and table CSVs, and a careful install.

Everything an importer (or, later, `llmsim profile`) produces goes through here, so that the same
input always gives the same bytes: keys in a fixed order, one table per line in entry.yaml, CSV rows
sorted by their keys, latencies rounded to 5 significant digits with no exponent notation.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from llmsim.diagnostics import UserError
from llmsim.hwdb.errors import display_path
from llmsim.hwdb.schema import LATENCY_COLUMN
from llmsim.lang.units import UNITS, Quantity, format_quantity, parse_quantity

SIGNIFICANT_DIGITS = 5


def format_latency(x: float) -> str:
    """A latency rounded to 5 significant digits, positional: 4.2915, 80850, 0.0012346."""
    return np.format_float_positional(
        float(x), precision=SIGNIFICANT_DIGITS, unique=False, fractional=False, trim="-"
    )


def format_qty(value: Fraction | int | float, dim_example: str) -> str:
    """A quantity string for entry.yaml that parses back to exactly `value` (in base units).

    `dim_example` is any quantity string of the right dimension ("1B", "1B/s", "1s", ...)."""
    v = (
        value
        if isinstance(value, Fraction)
        else Fraction(str(value))
        if isinstance(value, float)
        else Fraction(value)
    )
    dim = parse_quantity(dim_example).dim
    q = Quantity(v, dim)
    # the shortest exact spelling among the units of this dimension, larger unit on a tie
    best: tuple[int, int, str] | None = None
    for unit, (factor, udim) in UNITS.items():
        if udim != dim or unit.startswith("/") or "µ" in unit:
            continue
        x = v / factor
        if x < 1 or (unit.endswith("b") or unit.endswith("b/s")):
            continue
        text = f"{_plain(x)}{unit}"
        try:
            if parse_quantity(text) != q:
                continue
        except (KeyError, ValueError):
            continue
        cand = (len(text), -int(factor * 1000 if factor < 1 else factor), text)
        if best is None or cand < best:
            best = cand
    if best is not None:
        return best[2]
    text = format_quantity(q).replace(" ", "")
    try:
        if parse_quantity(text) == q:
            return text
    except (KeyError, ValueError):
        pass
    base = {"1B": "B", "1B/s": "B/s", "1s": "s", "1W": "W", "1FLOP/s": "FLOP/s"}[dim_example]
    return f"{v.numerator / v.denominator:.17g}{base}" if v.denominator != 1 else f"{v.numerator}{base}"


def _plain(x: Fraction) -> str:
    """An exact decimal for x when it has one of at most 6 decimals, else a 12-digit approximation."""
    for places in range(7):
        scaled = x * 10**places
        if scaled.denominator == 1:
            n = scaled.numerator
            return str(n) if places == 0 else f"{n // 10**places}.{n % 10**places:0{places}d}".rstrip("0")
    return f"{float(x):.12g}"


def table_csv(keys: Sequence[str], rows: Iterable[tuple[Sequence[int], float]]) -> bytes:
    """CSV text: header `keys,latency_us`, then rows sorted by their integer keys."""
    lines = [",".join([*keys, LATENCY_COLUMN])]
    for key, lat in sorted(rows, key=lambda r: tuple(r[0])):
        lines.append(",".join([*(str(int(k)) for k in key), format_latency(lat)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _flow(value: Any) -> str:
    return yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=10**6, allow_unicode=True
    ).strip()


def dump_entry(doc: Mapping[str, Any], header: str = "") -> str:
    """entry.yaml text: block style, fixed key order, one flow-style line per table."""
    parts: list[str] = []
    if header:
        parts.extend(f"# {line}".rstrip() for line in header.splitlines())
    head = {k: doc[k] for k in doc if k not in ("tables", "layerwise")}
    parts.append(
        yaml.safe_dump(
            head, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
        ).rstrip()
    )
    parts.append("tables:" if doc["tables"] else "tables: {}")
    for name, table in doc["tables"].items():
        parts.append(f"  {name}: {_flow(table)}")
    if "layerwise" in doc:
        parts.append("layerwise:")
        for item in doc["layerwise"]:
            first = True
            for key, value in item.items():
                lead = "- " if first else "  "
                first = False
                if key == "tables":
                    parts.append(f"{lead}tables:")
                    parts.extend(f"    {kind}: {_flow(t)}" for kind, t in value.items())
                else:
                    parts.append(f"{lead}{_flow({key: value})[1:-1]}")
    text = "\n".join(parts) + "\n"
    if yaml.safe_load(text) != dict(doc):  # pragma: no cover - a writer bug, not a user error
        raise AssertionError("entry.yaml does not read back as written")
    return text


def _existing_files(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def install(
    out_root: Path,
    entry_rel: str,
    files: Mapping[str, bytes],
    shared: Mapping[str, bytes],
    *,
    force: bool = False,
) -> str:
    """Write an entry folder (`files`, relative to it) and shared files (relative to `out_root`).

    Returns "created", "replaced" or "unchanged". An existing entry or shared file with different
    content is an error unless `force`; the new entry folder replaces the old one whole (stale tables
    do not survive), written beside it first so a failure leaves the old one intact.
    """
    entry_dir = out_root / entry_rel
    old = _existing_files(entry_dir)
    conflicts = []
    if old and old != dict(files):
        conflicts.append(display_path(entry_dir))
    for rel, data in shared.items():
        p = out_root / rel
        if p.is_file() and p.read_bytes() != data:
            conflicts.append(display_path(p))
    if not conflicts and old == dict(files) and all((out_root / r).is_file() for r in shared):
        return "unchanged"
    if conflicts and not force:
        raise UserError(
            f"{conflicts[0]} already exists with different content",
            help="pass --force to replace it (the old entry is removed)",
        )
    for rel, data in shared.items():
        p = out_root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    # scratch names carry no `@`, so `find_entries` never mistakes them for entries
    tmp = entry_dir.with_name(f".incoming-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    for rel, data in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    status = "replaced" if entry_dir.exists() else "created"
    if entry_dir.exists():
        trash = entry_dir.with_name(f".outgoing-{os.getpid()}")
        entry_dir.rename(trash)
        tmp.rename(entry_dir)
        shutil.rmtree(trash)
    else:
        entry_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(entry_dir)
    return status
