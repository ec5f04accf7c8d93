"""Service-level objectives evaluated on a simulation's results.

Every latency objective of an `slo` block (`ttft.p99 < 500ms`, `e2e < 10s`) is a bound each request
should meet: a request *meets the SLO* when its TTFT, TPOT, end-to-end and queueing latencies meet
every bound written for them (TPOT only for requests with more than one output token; `itl` bounds
have no per-request value and only judge the statistic). An objective with a statistic
(`ttft.p99 < 500ms`) also judges that statistic over the requests. `attainment` is the share of
requests that meet the SLO, `goodput` their number per second over the run's span (first arrival to
last completion, as `throughput`). Requests that were rejected or never finished miss the SLO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from llmsim.lang import ir
from llmsim.runtime.distribution import REL_ERROR
from llmsim.runtime.metrics import weighted_percentile
from llmsim.runtime.slo_tally import OPS, PER_REQUEST, Bound, SLOBounds, SLOTally


def bounds(slos: Mapping[str, ir.SLODecl], workloads: Sequence[str]) -> dict[str, SLOBounds]:
    """The runtime's form of each `slo` block (`simulate(..., slo_bounds=...)`), by name."""
    return {name: bounds_of(decl, workloads) for name, decl in slos.items()}


def bounds_of(decl: ir.SLODecl, workloads: Sequence[str]) -> SLOBounds:
    per_request = [o for o in decl.objectives if o.metric in PER_REQUEST]
    return SLOBounds(
        workload=None if decl.workload is None else workloads.index(decl.workload),
        bounds=tuple(Bound(o.metric, o.op, float(o.value * 10**9)) for o in per_request),
        stats=tuple(dict.fromkeys(o.metric for o in per_request if o.stat is not None)),
    )


def evaluate(slos: Mapping[str, ir.SLODecl], result: Any, workloads: Sequence[str]) -> dict[str, Any]:
    """The `slo` key of the results document: one entry per `slo` block, by name.

    From the run's tallies when it kept no rows (`simulate(..., slo_bounds=bounds(...))`), else from
    its per-request rows: the same figures, bit for bit, while the tallies stay under their caps."""
    return {name: evaluate_one(decl, result, workloads, name) for name, decl in slos.items()}


def _tally(name: str, b: SLOBounds, result: Any) -> SLOTally:
    if hasattr(result, "slo_tally"):  # a SimResult: its streamed tally, or its rows
        return result.slo_tally(name, b)
    return SLOTally.of_columns(b, result.columns)


def _span_ns(result: Any) -> int:
    """First arrival to last completion (0 without completions), as `throughput`'s span."""
    if getattr(result, "keeps_requests", True):
        finish = result.columns["finish_ns"]
        return int(finish.max()) - result.first_arrival_ns if len(finish) else 0
    agg = result.aggregates
    return agg.last_finish_ns - result.first_arrival_ns if agg.completed else 0


def evaluate_one(decl: ir.SLODecl, result: Any, workloads: Sequence[str], name: str | None = None) -> dict[str, Any]:
    tally = _tally(decl.name if name is None else name, bounds_of(decl, workloads), result)
    completed = tally.completed
    # Rejected and unfinished requests miss the SLO; the runtime does not record their workload, so
    # an SLO over one workload of several counts its completed requests only.
    total = result.submitted if decl.workload is None or len(workloads) == 1 else completed
    met = tally.met
    span_ns = _span_ns(result)
    attainment = met / total if total else None
    goodput = met / (span_ns / 1e9) if span_ns > 0 else None
    objectives = []
    for obj in decl.objectives:
        value, unit, target, approximate = _figure(obj, tally, result, attainment, goodput)
        ok = value is not None and OPS[obj.op](value, target)
        entry = {
            "objective": obj.text,
            "metric": obj.metric,
            "stat": obj.stat,
            "op": obj.op,
            "target": target,
            "unit": unit,
            "value": value,
            "met": bool(ok),
        }
        if approximate:
            entry["value_rel_error"] = REL_ERROR
        objectives.append(entry)
    return {
        "workload": decl.workload,
        "requests": total,
        "met_requests": met,
        "attainment": attainment,
        "goodput_per_s": goodput,
        "objectives": objectives,
        "met": all(o["met"] for o in objectives),
    }


def _figure(
    obj: ir.Objective,
    tally: SLOTally,
    result: Any,
    attainment: float | None,
    goodput: float | None,
) -> tuple[float | None, str, float, bool]:
    """(measured value, unit, target in that unit, whether the value is a histogram's percentile)
    for one objective."""
    if obj.metric == "attainment":
        return (None if attainment is None else attainment * 100), "%", float(obj.value * 100), False
    if obj.metric == "goodput":
        return goodput, "/s", float(obj.value), False
    target_ms = float(obj.value * 1000)
    if obj.stat is None:  # a per-request bound only: judged through the requests that meet it
        top = tally.max_ns[obj.metric]
        return (None if top is None else top / 1e6), "ms", target_ms, False
    if obj.metric == "itl":  # over every request: the runtime keeps inter-token gaps as weighted samples
        values_ns, counts = result.itl_values_ns, result.itl_counts
        n = int(np.sum(counts))
        if n == 0:
            return None, "ms", target_ms, False
        approximate = not getattr(result, "itl_exact", True)
        if obj.stat == "mean":
            return float(np.dot(values_ns, counts) / n / 1e6), "ms", target_ms, approximate
        return weighted_percentile(values_ns / 1e6, counts, int(obj.stat[1:])), "ms", target_ms, approximate
    dist = tally.dists[obj.metric]
    return dist.stat_ms(obj.stat), "ms", target_ms, not dist.exact and obj.stat != "mean"


def summary_line(doc: Mapping[str, Any]) -> str:
    """One line per `slo` block for the terminal: which objectives hold, attainment and goodput."""
    lines = []
    for name, s in doc.items():
        parts = [f"{o['objective']} {'ok' if o['met'] else 'MISSED'}"
                 + (f" (within {o['value_rel_error']:g} of exact)" if o.get("value_rel_error") else "")
                 for o in s["objectives"]]
        att = "-" if s["attainment"] is None else f"{s['attainment'] * 100:.1f}%"
        good = "-" if s["goodput_per_s"] is None else f"{s['goodput_per_s']:.2f} req/s"
        verdict = "met" if s["met"] else "missed"
        lines.append(f"SLO {name}: {verdict} ({'; '.join(parts)}); attainment {att}, goodput {good}")
    return "\n".join(lines)
