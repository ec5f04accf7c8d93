"""Measured against simulated: per-metric statistics, their errors, and the queue timelines.

Measured metrics follow LLMServingSim's benchmark summary (they reproduce its vLLM column):
TTFT = first_token_ts - queued_ts; TPOT = (last_token_ts - first_token_ts) / (output_toks - 1);
latency = last_token_ts - queued_ts. A run records no per-token times, so its ITL distribution is
unknown: ITL rows show the simulated values with the measured side empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llmsim.validate.run_dir import RunDir

STATS = ("mean", "p50", "p90", "p95", "p99")
METRICS = ("ttft", "tpot", "itl", "latency")


@dataclass(frozen=True)
class Row:
    metric: str
    stat: str
    measured_ms: float | None
    simulated_ms: float | None

    @property
    def error_pct(self) -> float | None:
        if self.measured_ms is None or self.simulated_ms is None or self.measured_ms == 0:
            return None
        return (self.simulated_ms - self.measured_ms) / self.measured_ms * 100.0

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "stat": self.stat, "measured_ms": self.measured_ms,
                "simulated_ms": self.simulated_ms, "error_pct": self.error_pct}


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), **{f"p{q}": float(np.percentile(values, q)) for q in (50, 90, 95, 99)}}


def measured(run: RunDir) -> dict[str, np.ndarray]:
    """Per-request measured metrics in ms, in the run's (queued) order."""
    r = run.requests
    queued = np.array([x["queued_ts"] for x in r])
    first = np.array([x["first_token_ts"] for x in r])
    last = np.array([x["last_token_ts"] for x in r])
    out = np.array([x["output_toks"] for x in r])
    many = out > 1
    return {
        "ttft": (first - queued) * 1e3,
        "tpot": ((last - first)[many] / (out[many] - 1)) * 1e3,
        "latency": (last - queued) * 1e3,
    }


def simulated(result: Any) -> dict[str, np.ndarray]:
    c = result.columns
    out = c["output_tokens"]
    many = out > 1
    return {
        "ttft": (c["first_token_ns"] - c["arrival_ns"]) / 1e6,
        "tpot": (c["finish_ns"] - c["first_token_ns"])[many] / (out[many] - 1) / 1e6,
        "latency": (c["finish_ns"] - c["arrival_ns"]) / 1e6,
    }


def compare(run: RunDir, result: Any) -> list[Row]:
    """Every (metric, statistic) row: TTFT, TPOT, ITL, latency by mean, p50, p90, p95, p99."""
    meas, sim = measured(run), simulated(result)
    itl = result.summary()["metrics"]["itl_ms"]
    rows = []
    for metric in METRICS:
        m = _stats(meas[metric]) if metric in meas else {}
        s = _stats(sim[metric]) if metric in sim else itl
        for stat in STATS:
            rows.append(Row(metric, stat, m.get(stat), s.get(stat)))
    return rows


def mean_abs_error(rows: list[Row]) -> dict[str, float | None]:
    """Per metric, the mean |error| over its statistics that both sides have."""
    out: dict[str, float | None] = {}
    for metric in METRICS:
        errs = [abs(r.error_pct) for r in rows if r.metric == metric and r.error_pct is not None]
        out[metric] = float(np.mean(errs)) if errs else None
    return out


def overall_mae(rows: list[Row]) -> float:
    """Mean |error| over every row with both sides (the 15 rows LLMServingSim's summary lists)."""
    errs = [abs(r.error_pct) for r in rows if r.error_pct is not None]
    return float(np.mean(errs))


def simulated_timeline(result: Any, seconds: int) -> dict[str, np.ndarray]:
    """Running and waiting requests at each whole second, from the per-request columns: a request
    waits from arrival to its first scheduling and runs from then until it finishes (time spent
    re-queued after a preemption counts as running)."""
    c = result.columns
    t = np.arange(1, seconds + 1) * 1e9
    arrival, sched, finish = c["arrival_ns"], c["first_scheduled_ns"], c["finish_ns"]
    running = ((sched[None, :] <= t[:, None]) & (finish[None, :] > t[:, None])).sum(axis=1)
    waiting = ((arrival[None, :] <= t[:, None]) & (sched[None, :] > t[:, None])).sum(axis=1)
    return {"t_s": t / 1e9, "running": running, "waiting": waiting}


def timeline_error(run: RunDir, result: Any) -> dict[str, Any] | None:
    """Mean absolute difference of running and waiting requests per second, as a share of the
    measured mean; None without a timeseries."""
    if not run.timeseries:
        return None
    seconds = len(run.timeseries)
    sim = simulated_timeline(result, seconds)
    out: dict[str, Any] = {"seconds": seconds}
    for key in ("running", "waiting"):
        real = np.array([row.get(key, 0.0) for row in run.timeseries])
        diff = np.abs(sim[key][: len(real)] - real).mean()
        scale = real.mean()
        out[key] = {"mean_abs": float(diff), "error_pct": float(diff / scale * 100.0) if scale else None}
    out["measured"] = {k: [row.get(k, 0.0) for row in run.timeseries] for k in ("running", "waiting")}
    out["simulated"] = {k: sim[k].tolist() for k in ("running", "waiting")}
    return out
