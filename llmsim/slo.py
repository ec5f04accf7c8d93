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
from llmsim.runtime.metrics import weighted_percentile

_PER_REQUEST = ("ttft", "tpot", "e2e", "queue")
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def evaluate(slos: Mapping[str, ir.SLODecl], result: Any, workloads: Sequence[str]) -> dict[str, Any]:
    """The `slo` key of the results document: one entry per `slo` block, by name."""
    return {name: evaluate_one(decl, result, workloads) for name, decl in slos.items()}


def per_request_ns(result: Any) -> dict[str, np.ndarray]:
    """Each completed request's TTFT, TPOT, end-to-end and queueing time in ns (TPOT NaN with one token)."""
    c = result.columns
    out_tokens = c["output_tokens"].astype(np.float64)
    decode_ns = (c["finish_ns"] - c["first_token_ns"]).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tpot = np.where(out_tokens > 1, decode_ns / np.maximum(out_tokens - 1, 1), np.nan)
    return {
        "ttft": (c["first_token_ns"] - c["arrival_ns"]).astype(np.float64),
        "tpot": tpot,
        "e2e": (c["finish_ns"] - c["arrival_ns"]).astype(np.float64),
        "queue": (c["first_scheduled_ns"] - c["arrival_ns"]).astype(np.float64),
    }


def meets(decl: ir.SLODecl, result: Any, workloads: Sequence[str]) -> np.ndarray:
    """One bool per completed request (in `result.columns` order): does it meet every per-request bound?
    Requests outside the SLO's workload are False."""
    c = result.columns
    ok = np.ones(len(c["id"]), dtype=bool)
    if decl.workload is not None:
        ok &= c["workload"] == workloads.index(decl.workload)
    values = per_request_ns(result)
    for obj in decl.objectives:
        if obj.metric in _PER_REQUEST:
            bound_ns = float(obj.value * 10**9)
            v = values[obj.metric]
            passed = _OPS[obj.op](v, bound_ns)
            if obj.metric == "tpot":
                passed |= np.isnan(v)
            ok &= passed
    return ok


def evaluate_one(decl: ir.SLODecl, result: Any, workloads: Sequence[str]) -> dict[str, Any]:
    c = result.columns
    scope = np.ones(len(c["id"]), dtype=bool)
    if decl.workload is not None:
        scope = c["workload"] == workloads.index(decl.workload)
    completed = int(scope.sum())
    # Rejected and unfinished requests miss the SLO; the runtime does not record their workload, so
    # an SLO over one workload of several counts its completed requests only.
    total = result.submitted if decl.workload is None or len(workloads) == 1 else completed
    met_mask = meets(decl, result, workloads)
    met = int(met_mask.sum())
    span_ns = int(c["finish_ns"].max()) - result.first_arrival_ns if len(c["id"]) else 0
    attainment = met / total if total else None
    goodput = met / (span_ns / 1e9) if span_ns > 0 else None
    values = per_request_ns(result)
    objectives = []
    for obj in decl.objectives:
        value, unit, target = _figure(obj, values, scope, result, attainment, goodput)
        ok = value is not None and _OPS[obj.op](value, target)
        objectives.append(
            {
                "objective": obj.text,
                "metric": obj.metric,
                "stat": obj.stat,
                "op": obj.op,
                "target": target,
                "unit": unit,
                "value": value,
                "met": bool(ok),
            }
        )
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
    values: dict[str, np.ndarray],
    scope: np.ndarray,
    result: Any,
    attainment: float | None,
    goodput: float | None,
) -> tuple[float | None, str, float]:
    """(measured value, unit, target in that unit) for one objective."""
    if obj.metric == "attainment":
        return (None if attainment is None else attainment * 100), "%", float(obj.value * 100)
    if obj.metric == "goodput":
        return goodput, "/s", float(obj.value)
    target_ms = float(obj.value * 1000)
    if obj.stat is None:  # a per-request bound only: judged through the requests that meet it
        v = values[obj.metric][scope]
        v = v[~np.isnan(v)]
        return (float(v.max()) / 1e6 if len(v) else None), "ms", target_ms
    if obj.metric == "itl":  # over every request: the runtime keeps inter-token gaps as weighted samples
        values_ns, counts = result.itl_values_ns, result.itl_counts
        n = int(np.sum(counts))
        if n == 0:
            return None, "ms", target_ms
        if obj.stat == "mean":
            return float(np.dot(values_ns, counts) / n / 1e6), "ms", target_ms
        return weighted_percentile(values_ns / 1e6, counts, int(obj.stat[1:])), "ms", target_ms
    else:
        v = values[obj.metric][scope]
        samples = v[~np.isnan(v)] / 1e6
    if len(samples) == 0:
        return None, "ms", target_ms
    if obj.stat == "mean":
        return float(np.mean(samples)), "ms", target_ms
    return float(np.percentile(samples, int(obj.stat[1:]))), "ms", target_ms


def summary_line(doc: Mapping[str, Any]) -> str:
    """One line per `slo` block for the terminal: which objectives hold, attainment and goodput."""
    lines = []
    for name, s in doc.items():
        parts = [f"{o['objective']} {'ok' if o['met'] else 'MISSED'}" for o in s["objectives"]]
        att = "-" if s["attainment"] is None else f"{s['attainment'] * 100:.1f}%"
        good = "-" if s["goodput_per_s"] is None else f"{s['goodput_per_s']:.2f} req/s"
        verdict = "met" if s["met"] else "missed"
        lines.append(f"SLO {name}: {verdict} ({'; '.join(parts)}); attainment {att}, goodput {good}")
    return "\n".join(lines)
