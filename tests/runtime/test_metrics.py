import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmsim.runtime import Workload, simulate
from llmsim.runtime.metrics import weighted_percentile

from .rt_helpers import AffineCost, cluster, instance

# Two requests on one instance; step time = 1 ms + 10 us per token.
#   step 1 [0, 1.04 ms]:      r0 prefills 4 tokens (r1 arrives at 0.5 ms, during the step)
#   step 2 [1.04, 2.07 ms]:   r0 decodes, r1 prefills 2 tokens       -> 3 tokens, 1.03 ms
#   step 3 [2.07, 3.09 ms]:   both decode                            -> 2 tokens, 1.02 ms
# r0: first token 1.04, tokens at 2.07 and 3.09 (done); r1: first token 2.07, then 3.09 (done).


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    csv_path = tmp_path_factory.mktemp("csv") / "requests.csv"
    wl = Workload.from_arrays([4, 2], [3, 2], [0, 500_000])
    spec = instance(0, AffineCost(base=1_000_000, per_token=10_000))
    return simulate(cluster(spec), [(wl, "r")], csv_path=csv_path, debug=True), csv_path


def test_columns_of_the_hand_computed_case(tiny):
    result, _ = tiny
    assert list(result.id) == [0, 1]
    assert list(result.instance) == [0, 0]
    assert list(result.arrival_ns) == [0, 500_000]
    assert list(result.first_scheduled_ns) == [0, 1_040_000]
    assert list(result.first_token_ns) == [1_040_000, 2_070_000]
    assert list(result.finish_ns) == [3_090_000, 3_090_000]
    assert list(result.preemptions) == [0, 0]
    assert list(result.itl_values_ns) == [1_020_000, 1_030_000]
    assert list(result.itl_counts) == [2, 1]


def test_summary_of_the_hand_computed_case(tiny):
    result, _ = tiny
    s = result.summary()
    m = s["metrics"]
    assert m["ttft_ms"]["mean"] == pytest.approx((1.04 + 1.57) / 2)
    assert m["ttft_ms"]["p50"] == pytest.approx(1.305)
    assert m["ttft_ms"]["p90"] == pytest.approx(1.04 + 0.9 * 0.53)
    assert m["tpot_ms"]["mean"] == pytest.approx((1.025 + 1.02) / 2)  # r0: (3.09-1.04)/2, r1: 1.02/1
    assert m["itl_ms"]["mean"] == pytest.approx((1.03 + 1.02 + 1.02) / 3)
    assert m["itl_ms"]["p50"] == pytest.approx(1.02)
    assert m["itl_ms"]["p99"] == pytest.approx(1.02 + 0.98 * 0.01)
    assert m["e2e_ms"]["mean"] == pytest.approx((3.09 + 2.59) / 2)
    assert m["queue_ms"]["mean"] == pytest.approx(0.54 / 2)
    assert m["queue_ms"]["p99"] == pytest.approx(0.99 * 0.54)
    # Percentiles are numpy's own on the same millisecond values.
    assert m["ttft_ms"]["p95"] == np.percentile(np.array([1_040_000, 1_570_000]) / 1e6, 95)
    assert m["itl_ms"]["p95"] == np.percentile(np.array([1_020_000, 1_020_000, 1_030_000]) / 1e6, 95)
    t = s["throughput"]
    assert t["requests_per_s"] == pytest.approx(2 / 3.09e-3)
    assert t["input_tokens_per_s"] == pytest.approx(6 / 3.09e-3)
    assert t["output_tokens_per_s"] == pytest.approx(5 / 3.09e-3)
    assert s["requests"] == {"submitted": 2, "completed": 2, "preempted": 0, "preemptions": 0, "rejected": 0,
                             "swapped": 0}
    assert s["prefix_cache"] == {"queried_tokens": 0, "hit_tokens": 0, "hit_rate": None, "tier_hit_tokens": 0,
                                 "saved_tokens": 0, "prefill_tokens_computed": 6}
    assert s["sim"]["steps"] == 3
    assert s["sim"]["simulated_s"] == pytest.approx(3.09e-3)


def test_summary_has_exactly_the_documented_shape(tiny):
    s = tiny[0].summary()
    stats = {"mean", "p50", "p90", "p95", "p99"}
    assert set(s) == {"metrics", "throughput", "requests", "prefix_cache", "sim"}
    assert set(s["metrics"]) == {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "queue_ms"}
    assert all(set(v) == stats for v in s["metrics"].values())
    assert set(s["throughput"]) == {"requests_per_s", "input_tokens_per_s", "output_tokens_per_s"}
    assert set(s["requests"]) == {"submitted", "completed", "preempted", "preemptions", "rejected", "swapped"}
    assert set(s["prefix_cache"]) == {"queried_tokens", "hit_tokens", "hit_rate", "tier_hit_tokens", "saved_tokens",
                                      "prefill_tokens_computed"}
    assert set(s["sim"]) == {"events", "steps", "simulated_s"}


def test_csv_rows_are_exact(tiny):
    _, csv_path = tiny
    assert csv_path.read_text().splitlines() == [
        "id,instance,arrival_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms,e2e_ms,queue_ms,preemptions",
        "0,main[0],0.000000000,4,3,1.040000,1.025,3.090000,0.000000,0",
        "1,main[0],0.000500000,2,2,1.570000,1.02,2.590000,0.540000,0",
    ]


def test_single_token_requests_have_no_tpot_or_itl():
    wl = Workload.from_arrays([5, 5], [1, 1], [0, 0])
    result = simulate(cluster(instance()), [(wl, "r")])
    m = result.summary()["metrics"]
    assert m["tpot_ms"] == {"mean": None, "p50": None, "p90": None, "p95": None, "p99": None}
    assert m["itl_ms"]["p50"] is None
    assert m["ttft_ms"]["p50"] is not None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 10**10), st.integers(1, 50)),
        min_size=1,
        max_size=30,
        unique_by=lambda t: t[0],
    ),
    st.one_of(st.sampled_from([0, 50, 90, 95, 99, 100]), st.floats(0, 100)),
)
def test_weighted_percentile_is_numpy_percentile_on_the_expanded_array(pairs, q):
    pairs.sort()
    values = np.array([v for v, _ in pairs], dtype=np.int64) / 1e6
    counts = np.array([c for _, c in pairs], dtype=np.int64)
    expected = np.percentile(np.repeat(values, counts), q)
    assert weighted_percentile(values, counts, q) == expected


# -- keep_requests=False: the summary from streamed aggregates ---------------------------------------


def _specs():
    from .test_disagg import disagg

    rng = np.random.default_rng(11)
    n = 400
    wl = Workload.from_arrays(rng.integers(1, 600, n), rng.integers(1, 80, n),
                              np.cumsum(rng.integers(0, 3_000_000, n)))
    return {
        "one": (cluster(instance(0)), wl),
        "four-preempting": (cluster(*[instance(i, num_kv_blocks=40) for i in range(4)], policy="least_loaded"), wl),
        "disaggregated": (disagg(2, 2), wl),
    }


@pytest.mark.parametrize("name", ["one", "four-preempting", "disaggregated"])
def test_the_summary_is_the_same_with_and_without_rows(name, monkeypatch, tmp_path):
    from llmsim.runtime import metrics

    spec, wl = _specs()[name]
    kept = simulate(spec, [(wl, "r")], csv_path=tmp_path / "a.csv")
    monkeypatch.setattr(metrics, "CHUNK", 7)  # fold in many small chunks
    streamed = simulate(spec, [(wl, "r")], csv_path=tmp_path / "b.csv", keep_requests=False)
    assert streamed.summary() == kept.summary()
    assert streamed.completed == kept.completed
    assert np.array_equal(streamed.itl_values_ns, kept.itl_values_ns)
    assert np.array_equal(streamed.itl_counts, kept.itl_counts)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()  # the CSV is written either way


def test_rows_not_kept_are_an_error_not_an_empty_table():
    from llmsim.runtime.metrics import RowsNotKept

    spec, wl = _specs()["one"]
    result = simulate(spec, [(wl, "r")], keep_requests=False)
    assert not result.keeps_requests
    for read in (lambda: result.columns, lambda: result.finish_ns, lambda: result.rejected_ids, result.ttft_ns,
                 result.tpot_ns):
        with pytest.raises(RowsNotKept, match=r"keep_requests=True"):
            read()
    with pytest.raises(AttributeError):
        result.no_such_column  # noqa: B018


def test_past_the_cap_the_summary_is_approximate_and_says_so(monkeypatch):
    from functools import partial

    from llmsim.runtime import simulator
    from llmsim.runtime.distribution import REL_ERROR
    from llmsim.runtime.metrics import Recorder

    spec, wl = _specs()["four-preempting"]
    exact = simulate(spec, [(wl, "r")]).summary()
    monkeypatch.setattr(simulator, "Recorder", partial(Recorder, cap=50))
    assert simulate(spec, [(wl, "r")]).summary() == exact  # with rows kept, everything stays exact
    approx = simulate(spec, [(wl, "r")], keep_requests=False).summary()
    for metric in ("ttft_ms", "tpot_ms", "e2e_ms", "queue_ms", "itl_ms"):
        a, e = approx["metrics"][metric], exact["metrics"][metric]
        assert a.pop("percentiles_rel_error") == REL_ERROR
        assert "percentiles_rel_error" not in e
        assert a["mean"] == pytest.approx(e["mean"], rel=1e-12)
        for q in (50, 90, 95, 99):
            assert abs(a[f"p{q}"] - e[f"p{q}"]) <= REL_ERROR * abs(e[f"p{q}"]) * (1 + 1e-9), (metric, q)
    assert {k: v for k, v in approx.items() if k != "metrics"} == {k: v for k, v in exact.items() if k != "metrics"}
