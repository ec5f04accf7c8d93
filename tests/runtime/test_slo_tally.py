"""SLO tallies: bounded memory past their caps."""

from __future__ import annotations

import numpy as np

from llmsim.runtime.distribution import NUM_BUCKETS
from llmsim.runtime.slo_tally import Bound, SLOBounds, SLOTally, per_request_ns


def _chunk(rng: np.random.Generator, start: int, n: int) -> dict[str, np.ndarray]:
    arrival = rng.integers(0, 10**12, n)
    first = arrival + rng.integers(1, 10**9, n)
    return {
        "id": np.arange(start, start + n),
        "workload": rng.integers(0, 2, n),
        "arrival_ns": arrival,
        "first_scheduled_ns": arrival + rng.integers(0, 10**8, n),
        "first_token_ns": first,
        "finish_ns": first + rng.integers(0, 10**10, n),
        "output_tokens": rng.integers(1, 100, n),
    }


def test_the_tally_stops_growing_past_its_cap():
    cap, n = 1000, 500
    bounds = SLOBounds(1, (Bound("ttft", "<", 5e8), Bound("tpot", "<", 1e8)), ("ttft", "tpot", "e2e", "queue"))
    tally = SLOTally(bounds, cap)
    rng = np.random.default_rng(0)
    sizes = []
    for i in range(40):  # 20,000 requests, about 10,000 in scope: ten times the cap
        c = _chunk(rng, i * n, n)
        tally.add_columns(c, per_request_ns(c))
        sizes.append(tally.nbytes())
    assert not tally.exact
    # under the cap: the values and their keys; past it: one histogram of one sign per statistic
    assert max(sizes) <= 4 * max(2 * 8 * (cap + n), 8 * NUM_BUCKETS)
    assert sizes[-1] == sizes[len(sizes) // 2] == 4 * 8 * NUM_BUCKETS
    assert 9000 < tally.completed < 11000 and 0 < tally.met < tally.completed
