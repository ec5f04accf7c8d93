"""The hardware database: entries of measured operator latencies plus a device spec sheet.

    entry = load_entry(ref)                 # ref from find_entries()
    g = entry.gemm("bf16")                  # None when the entry has no such table
    g.latency_us(np.arange(1, 8193), n=28672, k=4096)
    t = entry.layerwise("meta-llama/Llama-3.1-8B", "bf16", 1)   # layer-wise tables, or None

See docs/hardware.md for the entry layout, the schema and every interpolation rule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmsim.hwdb.entry import DeviceSpec, HardwareEntry, LinkSpec, load_entry
    from llmsim.hwdb.errors import HwdbError
    from llmsim.hwdb.layerwise import LayerwiseTables
    from llmsim.hwdb.locate import EntryRef, bundled_root, default_paths, find_entries, parse_spec_name
    from llmsim.hwdb.schema import SCHEMA_VERSION
    from llmsim.hwdb.tables import AttentionTable, CommTable, GemmTable, MoeTable, SizeCurve

# Loaded on first use (PEP 562): `llmsim.hwdb.locate` and `llmsim.hwdb.tables` stay importable
# without the YAML reader and the schema, which only loading an entry needs.
_LAZY = {
    "DeviceSpec": "llmsim.hwdb.entry",
    "HardwareEntry": "llmsim.hwdb.entry",
    "LinkSpec": "llmsim.hwdb.entry",
    "load_entry": "llmsim.hwdb.entry",
    "HwdbError": "llmsim.hwdb.errors",
    "LayerwiseTables": "llmsim.hwdb.layerwise",
    "EntryRef": "llmsim.hwdb.locate",
    "bundled_root": "llmsim.hwdb.locate",
    "default_paths": "llmsim.hwdb.locate",
    "find_entries": "llmsim.hwdb.locate",
    "parse_spec_name": "llmsim.hwdb.locate",
    "SCHEMA_VERSION": "llmsim.hwdb.schema",
    "AttentionTable": "llmsim.hwdb.tables",
    "CommTable": "llmsim.hwdb.tables",
    "GemmTable": "llmsim.hwdb.tables",
    "MoeTable": "llmsim.hwdb.tables",
    "SizeCurve": "llmsim.hwdb.tables",
}


__all__ = [
    "SCHEMA_VERSION",
    "AttentionTable",
    "CommTable",
    "DeviceSpec",
    "EntryRef",
    "GemmTable",
    "HardwareEntry",
    "HwdbError",
    "LayerwiseTables",
    "LinkSpec",
    "MoeTable",
    "SizeCurve",
    "bundled_root",
    "default_paths",
    "find_entries",
    "load_entry",
    "parse_spec_name",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'llmsim.hwdb' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
