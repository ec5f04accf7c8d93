"""The results document: one dict in the schema of docs/results.md, written as JSON.

Keys are API: later versions add keys, never rename or remove one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def results_document(compiled: Any, summary: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """Merge the runtime's summary with what the compiler used (hardware, fallbacks, plans)."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "spec": str(compiled.spec.path.name),
        "metrics": summary["metrics"],
        "throughput": summary["throughput"],
        "requests": summary["requests"],
        "prefix_cache": summary.get("prefix_cache", {}),
        "hardware": [h.to_json() for h in compiled.hardware],
        "fallbacks": compiled.fallbacks,
        "pools": [plan.to_json() for plan in compiled.plans.values()],
        "sim": {**summary["sim"], "wall_s": wall_s},
    }
    return doc


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
