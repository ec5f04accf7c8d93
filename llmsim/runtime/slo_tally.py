"""SLO bookkeeping as requests complete, so SLOs need no per-request rows.

`llmsim.slo` turns each `slo` block into an `SLOBounds` (plain data: the runtime never imports the
language): its workload scope, its per-request bounds and the latencies whose statistics it judges.
A `SLOTally` folds tables of completed requests (the recorder's chunks of `metrics.COLUMNS`) into
what `llmsim.slo.evaluate` reports: requests in scope, requests meeting every bound, the largest
value of each bounded latency and a `Distribution` per judged statistic. The per-request values
and comparisons are the same numpy expressions on the same float64 values in every path, so a
tally folded chunk by chunk gives the same numbers as one folded from a whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from msgspec import Struct

from llmsim.runtime.distribution import EXACT_CAP, Distribution

PER_REQUEST = ("ttft", "tpot", "e2e", "queue")
OPS: dict[str, Callable[..., object]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class Bound(Struct, frozen=True):
    """A per-request bound: `metric op ns` (TPOT: requests with one output token pass)."""

    metric: str  # one of PER_REQUEST
    op: str  # one of OPS
    ns: float


class SLOBounds(Struct, frozen=True):
    """What the runtime needs of one `slo` block: its scope (a workload index, None: every
    request), its per-request bounds and the latencies (of PER_REQUEST) whose statistics it judges."""

    workload: int | None
    bounds: tuple[Bound, ...]
    stats: tuple[str, ...] = ()


def per_request_ns(c: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each request's TTFT, TPOT, end-to-end and queueing time in ns, float64 (TPOT NaN with one
    output token), from columns or a chunk of them."""
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


def meets(bounds: SLOBounds, c: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray]) -> np.ndarray:
    """One bool per request of `c`: in scope and meeting every per-request bound."""
    ok = np.ones(len(c["id"]), dtype=bool)
    if bounds.workload is not None:
        ok &= c["workload"] == bounds.workload
    for b in bounds.bounds:
        v = values[b.metric]
        passed = OPS[b.op](v, b.ns)
        if b.metric == "tpot":
            passed |= np.isnan(v)
        ok &= passed
    return ok


class SLOTally:
    """One `slo` block's figures over the requests completed so far (bounded memory: counts, one
    maximum per bounded latency, and `Distribution`s that keep `cap` values exactly)."""

    __slots__ = ("bounds", "completed", "dists", "max_ns", "met")

    def __init__(self, bounds: SLOBounds, cap: int | None = EXACT_CAP) -> None:
        self.bounds = bounds
        self.completed = 0  # requests in scope
        self.met = 0
        self.max_ns: dict[str, float | None] = {b.metric: None for b in bounds.bounds}
        self.dists = {m: Distribution(np.float64, cap) for m in bounds.stats}

    @classmethod
    def of_columns(cls, bounds: SLOBounds, c: Mapping[str, np.ndarray]) -> SLOTally:
        """Every request of a kept table, exactly (no cap)."""
        tally = cls(bounds, cap=None)
        tally.add_columns(c, per_request_ns(c))
        return tally

    def add_columns(self, c: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray]) -> None:
        """Requests `c` (in any order) and their `per_request_ns` values."""
        if len(c["id"]) == 0:
            return
        self.met += int(meets(self.bounds, c, values).sum())
        if self.bounds.workload is None:
            scope = None
            self.completed += len(c["id"])
        else:
            scope = c["workload"] == self.bounds.workload
            self.completed += int(scope.sum())
        for metric in dict.fromkeys([*self.max_ns, *self.dists]):
            v = values[metric] if scope is None else values[metric][scope]
            known = ~np.isnan(v)
            v = v[known]
            if len(v) == 0:
                continue
            if metric in self.max_ns:
                top = float(v.max())
                old = self.max_ns[metric]
                self.max_ns[metric] = top if old is None else max(old, top)
            if metric in self.dists:
                ids = c["id"] if scope is None else c["id"][scope]
                self.dists[metric].add(ids[known], v)

    @property
    def exact(self) -> bool:
        return all(d.exact for d in self.dists.values())

    def nbytes(self) -> int:
        return sum(d.nbytes() for d in self.dists.values())


def tallies(bounds: Mapping[str, SLOBounds], cap: int | None = EXACT_CAP) -> dict[str, SLOTally]:
    return {name: SLOTally(b, cap) for name, b in bounds.items()}
