"""The results document: one dict in the schema of docs/results.md, written as JSON.

Keys are API: later versions add keys, never rename or remove one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
# Buckets of the JSON `timeline` at most (the HTML report uses the run's full resolution).
JSON_TIMELINE_BUCKETS = 128


def results_document(compiled: Any, summary: dict[str, Any], wall_s: float, *,
                     result: Any = None) -> dict[str, Any]:
    """Merge the runtime's summary with what the compiler used (hardware, fallbacks, plans).

    With the `SimResult` (`result`), also the latency `distributions` (from its rows or its
    streamed aggregates), the `timeline` and the run-mean batches of `step_breakdown`, and with its timeline the
    `energy` of the run (computed from the instances' busy time and tokens: `llmsim.compiler.power`).
    """
    from llmsim.compiler.power import energy_report
    from llmsim.report.breakdown import step_breakdown
    from llmsim.report.distributions import distributions

    timeline = getattr(result, "timeline", None)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "spec": str(compiled.spec.path.name),
        "metrics": summary["metrics"],
        "throughput": summary["throughput"],
        "requests": summary["requests"],
        "prefix_cache": summary.get("prefix_cache", {}),
        **{key: summary[key] for key in ("kv_transfer", "kv_tiers", "links", "speculative") if key in summary},
        "hardware": [h.to_json() for h in compiled.hardware],
        "fallbacks": compiled.fallbacks,
        "pools": [plan.to_json() for plan in compiled.plans.values()],
        "sim": {**summary["sim"], "wall_s": wall_s},
        "step_breakdown": step_breakdown(compiled, timeline),
    }
    if result is not None:
        doc["distributions"] = distributions(result)
    if timeline is not None:
        doc["timeline"] = timeline.to_json(max_buckets=JSON_TIMELINE_BUCKETS)
        energy = energy_report(compiled.plans, timeline, summary["requests"]["completed"],
                               max_buckets=JSON_TIMELINE_BUCKETS)
        if energy is not None:
            doc["energy"] = energy
            doc["timeline"]["not_modelled"] = [k for k in doc["timeline"]["not_modelled"] if k != "power"]
    return doc


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.write_text(dumps(doc) + "\n", encoding="utf-8")


def dumps(value: Any, indent: int = 0) -> str:
    """JSON indented by two spaces, except that a list of numbers (or nulls) stays on one line."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value):
            return json.dumps(list(value))
        return "[\n" + ",\n".join(pad + dumps(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    return json.dumps(value)
