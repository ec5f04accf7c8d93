"""Bounded-memory distributions: exact (bit-identical to numpy) under the cap, within the stated
relative error past it, and a retained size that stops growing at the cap."""

import numpy as np
import pytest

from llmsim.runtime.distribution import (
    NUM_BUCKETS,
    PERCENTILES,
    REL_ERROR,
    Distribution,
    GapCounts,
    LogHistogram,
    plain_stats,
)
from llmsim.runtime.metrics import _weighted_stats


def _chunks(values, keys, size):
    for i in range(0, len(values), size):
        yield keys[i:i + size], values[i:i + size]


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_under_the_cap_the_figures_are_numpys_on_the_values_in_key_order(dtype):
    rng = np.random.default_rng(1)
    by_key = (rng.lognormal(16, 1.5, 5000) if dtype is np.float64 else rng.integers(0, 10**10, 5000)).astype(dtype)
    keys = rng.permutation(5000)  # added in completion order, not key order
    d = Distribution(dtype, cap=5000)
    for k, v in _chunks(by_key[keys], keys, 333):
        d.add(k, v)
    assert d.exact and d.count == 5000
    assert np.array_equal(d.exact_values(), by_key)
    ms = by_key / 1e6
    want = {"mean": float(np.mean(ms)), **{f"p{q}": float(np.percentile(ms, q)) for q in PERCENTILES}}
    assert d.stats_ms() == want == plain_stats(ms)


@pytest.mark.parametrize("sigma", [0.3, 3.0])
def test_past_the_cap_percentiles_are_within_the_stated_relative_error(sigma):
    rng = np.random.default_rng(2)
    values = np.rint(rng.lognormal(15, sigma, 20_000)).astype(np.int64)
    d = Distribution(np.int64, cap=1000)
    for k, v in _chunks(values, np.arange(len(values)), 512):
        d.add(k, v)
    assert not d.exact
    s = d.stats_ms()
    ms = values / 1e6
    assert s["percentiles_rel_error"] == REL_ERROR
    assert s["mean"] == pytest.approx(float(np.mean(ms)), rel=1e-12)  # sum and count stay exact
    for q in PERCENTILES:
        exact = float(np.percentile(ms, q))
        assert abs(s[f"p{q}"] - exact) <= REL_ERROR * exact * (1 + 1e-9), q


def test_the_histogram_bound_holds_across_magnitudes_and_signs():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(1e-3, 1e-1, 500), rng.lognormal(10, 8, 3000), -rng.lognormal(5, 2, 500),
                             np.zeros(50)])
    h = LogHistogram()
    h.add(values)
    mids, counts = h.samples()
    assert int(counts.sum()) == len(values) and np.all(np.diff(mids) > 0)
    exact = np.sort(values)
    approx = np.repeat(mids, counts)
    big = np.abs(exact) >= 2.0**-10
    assert np.all(np.abs(approx[big] - exact[big]) <= REL_ERROR * np.abs(exact[big]) * (1 + 1e-9))
    assert np.all(np.abs(approx[~big] - exact[~big]) < 2.0**-10)


def test_weighted_samples_under_the_cap_match_the_expanded_array():
    rng = np.random.default_rng(4)
    g = GapCounts(cap=10_000)
    gaps = rng.integers(1_000_000, 1_008_000, 50_000)  # 8000 distinct gaps at most
    for i, gap in enumerate(gaps.tolist()):
        g.buf.extend((gap, 1))
        if i % 7000 == 0:  # fold in several merges, as a run does
            g.fold()
    values, counts = g.samples()
    want_values, want_counts = np.unique(gaps, return_counts=True)
    assert np.array_equal(values, want_values) and np.array_equal(counts, want_counts)
    assert g.exact and g.stats_ms() == _weighted_stats(want_values, want_counts)
    ms = gaps / 1e6
    for q in PERCENTILES:
        assert g.stats_ms()[f"p{q}"] == float(np.percentile(ms, q))


def test_weighted_samples_past_the_cap_stay_within_the_bound():
    rng = np.random.default_rng(5)
    gaps = np.rint(rng.lognormal(14, 1.0, 30_000)).astype(np.int64)
    g = GapCounts(cap=500)
    for chunk in np.array_split(gaps, 30):
        v, c = np.unique(chunk, return_counts=True)
        g.add(dict(zip(v.tolist(), c.tolist(), strict=True)))
        g.fold()
    assert not g.exact and g.count == len(gaps) and g.total == int(gaps.sum())
    s = g.stats_ms()
    ms = gaps / 1e6
    assert s["mean"] == pytest.approx(float(np.mean(ms)), rel=1e-12)
    for q in PERCENTILES:
        exact = float(np.percentile(ms, q))
        assert abs(s[f"p{q}"] - exact) <= REL_ERROR * exact * (1 + 1e-9), q


def test_retained_memory_stops_growing_at_the_cap():
    cap = 4096
    d = Distribution(np.int64, cap=cap)
    g = GapCounts(cap=cap)
    rng = np.random.default_rng(6)
    sizes = []
    for i in range(200):
        v = rng.integers(1, 10**12, 1000)
        d.add(np.arange(i * 1000, (i + 1) * 1000), v)
        g.add(dict.fromkeys(v.tolist(), 1))
        g.fold()
        sizes.append((d.nbytes(), g.nbytes()))
    hist_bytes = NUM_BUCKETS * 8
    assert all(a <= max(16 * cap + 16_000, hist_bytes) and b <= max(16 * cap + 16_000, hist_bytes) for a, b in sizes)
    assert sizes[-1] == sizes[10]  # constant once folded (10 chunks are past the cap)
    assert d.count == 200_000 and d.held == 0


def test_sorted_percentile_is_numpys_linear_percentile_bit_for_bit() -> None:
    from llmsim.runtime.distribution import sorted_percentile

    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(1, 200))
        values = rng.lognormal(3, 2, n) if trial % 2 else rng.integers(0, 10**9, n) / 1e6
        ordered = np.sort(values)
        for q in (0, 1, 33.3, 50, 90, 95, 99, 99.9, 100):
            assert sorted_percentile(ordered, q) == float(np.percentile(values, q))
    assert np.isnan(sorted_percentile(np.sort(np.array([1.0, np.nan, 2.0])), 50))
    assert np.isnan(sorted_percentile(np.zeros(0), 50))
