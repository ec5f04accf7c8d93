"""The results document's latency distributions from rows and from streamed aggregates."""

from __future__ import annotations

from functools import partial

import numpy as np

from llmsim.report.distributions import METRICS, PERCENTS, distributions
from llmsim.runtime import Workload, simulate
from tests.runtime.rt_helpers import cluster, instance


def _run(**kw):
    rng = np.random.default_rng(3)
    n = 500
    wl = Workload.from_arrays(rng.integers(1, 600, n), rng.integers(1, 80, n), np.cumsum(rng.integers(0, 3_000_000, n)))
    spec = cluster(*[instance(i, num_kv_blocks=40) for i in range(3)], policy="least_loaded")
    return simulate(spec, [(wl, "r")], **kw)


def test_streamed_grids_are_the_rows_grids(monkeypatch):
    from llmsim.runtime import metrics

    kept = distributions(_run())
    monkeypatch.setattr(metrics, "CHUNK", 7)  # fold in many small chunks
    streamed = distributions(_run(keep_requests=False))
    assert streamed == kept
    assert "percentiles_rel_error" not in kept
    assert all(kept["ms"][m] is not None for m in METRICS)


def test_past_the_cap_grids_are_within_the_error_bound_and_flagged(monkeypatch):
    from llmsim.runtime import simulator
    from llmsim.runtime.distribution import REL_ERROR
    from llmsim.runtime.metrics import Recorder

    exact = distributions(_run())
    monkeypatch.setattr(simulator, "Recorder", partial(Recorder, cap=40))
    approx = distributions(_run(keep_requests=False))
    assert approx.pop("percentiles_rel_error") == {m: REL_ERROR for m in METRICS}
    assert approx["samples"] == exact["samples"] and approx["percent"] == list(PERCENTS)
    for m in METRICS:
        a, e = np.array(approx["ms"][m]), np.array(exact["ms"][m])
        # within the histogram's bound, plus the grid's rounding to 6 significant digits
        assert np.all(np.abs(a - e) <= (REL_ERROR + 1e-5) * np.abs(e)), m
        if m != "itl_ms":  # (the weighted gaps' grid interpolates in bucket midpoints to its ends)
            assert (a[0], a[-1]) == (e[0], e[-1])  # min and max are exact
