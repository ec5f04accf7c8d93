"""Latency distributions as fixed quantile grids: a CDF of any number of requests in ~100 numbers.

The grid is every whole percent plus 99.5 and 99.9; values use numpy's default (linear)
interpolation, so `p50`, `p90`, `p95`, `p99` here equal the summary's. Inter-token latency is
kept as weighted samples (distinct gap, count) and is interpolated the same way without expanding it.
A run that kept no per-request rows gives its grids from the runtime's `Distribution`s: the same
numbers while they hold their values exactly (`distribution.EXACT_CAP`), within
`distribution.REL_ERROR` past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmsim.runtime.distribution import REL_ERROR

PERCENTS: tuple[float, ...] = (*(float(p) for p in range(100)), 99.5, 99.9, 100.0)
METRICS = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "queue_ms")


def quantiles_ms(values_ms: Sequence[float] | np.ndarray, counts: np.ndarray | None = None) -> list[float] | None:
    """Values at PERCENTS (None when there is no sample); `counts` weights sorted distinct values."""
    values = np.asarray(values_ms, dtype=np.float64)
    if counts is None:
        if len(values) == 0:
            return None
        return _round(np.percentile(values, PERCENTS))
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        return None
    # np.percentile's linear method on the expanded array, computed from cumulative counts.
    virtual = (n - 1) * (np.asarray(PERCENTS) / 100.0)
    lo = np.floor(virtual).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    cum = np.cumsum(counts)
    a = values[np.searchsorted(cum, lo, side="right")]
    b = values[np.searchsorted(cum, hi, side="right")]
    return _round(a + (b - a) * (virtual - lo))


def distributions(result: Any) -> dict[str, Any]:
    """The `distributions` key of the results document, from a `SimResult`: from its per-request
    rows when it kept them, else from its streamed aggregates (the same numbers under their caps;
    past a cap the metric is listed in `percentiles_rel_error` with its bound)."""
    out: dict[str, Any] = {"percent": list(PERCENTS), "ms": {}, "samples": {}}
    approximate: dict[str, float] = {}
    if getattr(result, "keeps_requests", True):
        samples = {
            "ttft_ms": result.ttft_ns() / 1e6,
            "tpot_ms": result.tpot_ns() / 1e6,
            "e2e_ms": result.e2e_ns() / 1e6,
            "queue_ms": result.queue_ns() / 1e6,
        }
        streamed = None
    else:
        agg = result.aggregates
        streamed = {"ttft_ms": agg.ttft, "tpot_ms": agg.tpot, "e2e_ms": agg.e2e, "queue_ms": agg.queue}
    for name in METRICS:
        if name == "itl_ms":
            out["ms"][name] = quantiles_ms(result.itl_values_ns / 1e6, result.itl_counts)
            out["samples"][name] = int(result.itl_counts.sum())
            if not getattr(result, "itl_exact", True):
                approximate[name] = REL_ERROR
        elif streamed is not None:
            dist = streamed[name]
            grid = dist.grid_ms(np.asarray(PERCENTS))
            out["ms"][name] = None if grid is None else _round(grid)
            out["samples"][name] = dist.count
            if not dist.exact:
                approximate[name] = REL_ERROR
        else:
            out["ms"][name] = quantiles_ms(samples[name])
            out["samples"][name] = len(samples[name])
    if approximate:
        out["percentiles_rel_error"] = approximate
    return out


def attainment(quantiles: Sequence[float] | None, threshold_ms: float) -> float | None:
    """Share of samples at or under `threshold_ms`, read off a quantile grid (linear between points)."""
    if quantiles is None:
        return None
    q = np.asarray(quantiles, dtype=np.float64)
    if threshold_ms < q[0]:
        return 0.0
    if threshold_ms >= q[-1]:
        return 1.0
    i = int(np.searchsorted(q, threshold_ms, side="right"))  # q[i-1] <= threshold < q[i]
    p0, p1 = PERCENTS[i - 1], PERCENTS[i]
    frac = 0.0 if q[i] == q[i - 1] else (threshold_ms - q[i - 1]) / (q[i] - q[i - 1])
    return (p0 + (p1 - p0) * frac) / 100.0


def _round(a: np.ndarray) -> list[float]:
    return [float(f"{x:.6g}") for x in np.asarray(a).tolist()]
