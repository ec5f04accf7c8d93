"""The hardware database: entries of measured operator latencies plus a device spec sheet.

    entry = load_entry(ref)                 # ref from find_entries()
    g = entry.gemm("bf16")                  # None when the entry has no such table
    g.latency_us(np.arange(1, 8193), n=28672, k=4096)
    t = entry.layerwise("meta-llama/Llama-3.1-8B", "bf16", 1)   # layer-wise tables, or None

See docs/hardware.md for the entry layout, the schema and every interpolation rule.
"""

from llmsim.hwdb.entry import DeviceSpec, HardwareEntry, LinkSpec, load_entry
from llmsim.hwdb.errors import HwdbError
from llmsim.hwdb.layerwise import LayerwiseTables
from llmsim.hwdb.locate import EntryRef, bundled_root, default_paths, find_entries, parse_spec_name
from llmsim.hwdb.schema import SCHEMA_VERSION
from llmsim.hwdb.tables import AttentionTable, CommTable, GemmTable, MoeTable, SizeCurve

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
