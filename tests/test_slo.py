"""SLO evaluation: per-request bounds, statistics, attainment and goodput."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from llmsim import slo
from llmsim.diagnostics import SourceFile, Span
from llmsim.lang import ir

SPAN = Span(SourceFile("t.llms", "x"), 1, 1, 1, 2)
MS = 10**6


def result(ttft_ms, e2e_ms, out_tokens, workload=None, submitted=None):
    n = len(ttft_ms)
    arrival = np.arange(n, dtype=np.int64) * 1000 * MS  # one per second
    first = arrival + np.array(ttft_ms, dtype=np.int64) * MS
    finish = arrival + np.array(e2e_ms, dtype=np.int64) * MS
    columns = {
        "id": np.arange(n),
        "workload": np.array(workload or [0] * n),
        "arrival_ns": arrival,
        "first_scheduled_ns": arrival,
        "first_token_ns": first,
        "finish_ns": finish,
        "output_tokens": np.array(out_tokens),
    }
    return SimpleNamespace(
        columns=columns,
        submitted=submitted if submitted is not None else n,
        first_arrival_ns=0,
        itl_values_ns=np.array([10 * MS, 20 * MS]),
        itl_counts=np.array([3, 1]),
    )


def objective(metric, stat, op, value):
    text = f"{metric}{'.' + stat if stat else ''} {op} {value}"
    return ir.Objective(metric, stat, op, Fraction(value), text, SPAN)


def decl(*objectives, workload=None):
    return ir.SLODecl("s", workload, tuple(objectives), SPAN)


def test_per_request_bounds_attainment_and_goodput():
    # TTFTs 100..400 ms; e2e 1 s except the last; TPOT = (e2e - ttft) / (tokens - 1)
    r = result([100, 200, 300, 400], [1000, 1000, 1000, 3000], [10, 10, 1, 10])
    doc = slo.evaluate_one(
        decl(objective("ttft", "p50", "<", Fraction(1, 4)), objective("e2e", None, "<", 2),
             objective("attainment", None, ">=", Fraction(1, 2))),
        r,
        ["chat"],
    )
    # requests 0 and 1 meet ttft < 250ms and e2e < 2s; 2 misses ttft, 3 misses both
    assert doc["met_requests"] == 2 and doc["requests"] == 4
    assert doc["attainment"] == 0.5
    assert doc["goodput_per_s"] == pytest.approx(2 / 6.0)  # span: 0 to the last finish (3 s + 3 s)
    ttft, e2e, att = doc["objectives"]
    assert (ttft["value"], ttft["met"]) == (250.0, False)  # p50 of 100..400 is 250: not < 250
    assert (e2e["value"], e2e["met"]) == (3000.0, False)
    assert (att["value"], att["target"], att["met"]) == (50.0, 50.0, True)
    assert doc["met"] is False


def test_rejected_requests_miss_and_one_token_requests_pass_tpot():
    r = result([100, 100], [1000, 100], [10, 1], submitted=4)
    doc = slo.evaluate_one(decl(objective("tpot", None, "<", Fraction(1, 5))), r, ["chat"])
    # request 0: TPOT = 900 ms / 9 = 100 ms; request 1 has one token: no TPOT
    assert (doc["met_requests"], doc["requests"], doc["attainment"]) == (2, 4, 0.5)


def test_itl_statistics_use_the_weighted_samples():
    r = result([100], [1000], [5])
    doc = slo.evaluate_one(decl(objective("itl", "p50", "<", Fraction(15, 1000)),
                                objective("itl", "mean", "<", Fraction(15, 1000))), r, ["chat"])
    p50, mean = doc["objectives"]
    assert p50["value"] == 10.0 and p50["met"]
    assert mean["value"] == pytest.approx(12.5) and mean["met"]


def test_workload_scope():
    r = result([100, 900], [1000, 1000], [2, 2], workload=[0, 1])
    doc = slo.evaluate_one(decl(objective("ttft", None, "<", Fraction(1, 2)), workload="b"), r, ["a", "b"])
    assert (doc["requests"], doc["met_requests"]) == (1, 0)


def test_summary_line():
    r = result([100], [1000], [5])
    doc = slo.evaluate({"fast": decl(objective("ttft", "p99", "<", Fraction(1, 2)))}, r, ["chat"])
    assert slo.summary_line(doc) == (
        "SLO fast: met (ttft.p99 < 1/2 ok); attainment 100.0%, goodput 1.00 req/s"
    )


# -- streamed tallies (no rows) against the rows ------------------------------------------------------


def _runs():
    """(cluster, [(workload, router)], workload names): one workload with rejections and one-token
    requests; two workloads on preempting instances."""
    from llmsim.runtime import Workload
    from tests.runtime.rt_helpers import cluster, instance

    n = 300

    def wl(seed_shift, prompt_max, out_max):
        r = np.random.default_rng(5 + seed_shift)
        return Workload.from_arrays(r.integers(1, prompt_max, n), r.integers(1, out_max, n),
                                    np.cumsum(r.integers(0, 4_000_000, n)))

    rejecting = cluster(instance(0, num_kv_blocks=12, block_size=16, max_model_len=180))
    preempting = cluster(*[instance(i, num_kv_blocks=40) for i in range(3)], policy="least_loaded")
    return {
        "rejections": (rejecting, [(wl(0, 200, 6), "r")], ["chat"]),
        "two-workloads": (preempting, [(wl(1, 500, 60), "r"), (wl(2, 100, 3), "r")], ["a", "b"]),
    }


def _slos(workloads):
    f = Fraction
    blocks = [
        ("all", None, [objective("ttft", "p99", "<", f(1, 10)), objective("tpot", None, "<", f(3, 100)),
                       objective("e2e", "mean", "<", 2), objective("attainment", None, ">=", f(9, 10)),
                       objective("goodput", None, ">=", 1)]),
        ("gaps", None, [objective("itl", "p99", "<", f(3, 100)), objective("itl", "mean", "<", f(2, 100)),
                        objective("queue", None, "<=", f(5, 1000))]),
        ("first", workloads[0], [objective("ttft", None, "<", f(1, 10)), objective("tpot", "p50", "<", f(15, 1000)),
                                 objective("queue", "p90", "<", f(1, 100)), objective("e2e", "p95", "<", 3)]),
        ("last", workloads[-1], [objective("e2e", None, "<", f(1, 2)), objective("ttft", "mean", "<", f(1, 20)),
                                 objective("tpot", "p99", "<", f(1, 50))]),
    ]
    return {name: ir.SLODecl(name, w, tuple(objs), SPAN) for name, w, objs in blocks}


@pytest.mark.parametrize("run", ["rejections", "two-workloads"])
def test_streamed_tallies_give_the_rows_document_exactly(run, monkeypatch):
    from llmsim.runtime import metrics, simulate

    spec, workloads, names = _runs()[run]
    slos = _slos(names)
    kept = simulate(spec, workloads)
    expected = slo.evaluate(slos, kept, names)
    monkeypatch.setattr(metrics, "CHUNK", 7)  # fold in many small chunks
    streamed = simulate(spec, workloads, keep_requests=False, slo_bounds=slo.bounds(slos, names))
    assert slo.evaluate(slos, streamed, names) == expected
    # figures neither trivially all nor none of the requests
    assert 0 < sum(s["met_requests"] for s in expected.values()) < sum(s["requests"] for s in expected.values())
    if run == "rejections":
        assert kept.num_rejected > 0 and expected["all"]["requests"] == kept.submitted
        assert np.any(kept.output_tokens == 1)


def test_rows_path_matches_the_original_arithmetic():
    """The tally of the rows recomputes the former per-request numpy figures, bit for bit."""
    from llmsim.runtime import simulate

    spec, workloads, names = _runs()["two-workloads"]
    result = simulate(spec, workloads)
    doc = slo.evaluate(_slos(names), result, names)
    c = result.columns
    ttft = (c["first_token_ns"] - c["arrival_ns"]).astype(np.float64)
    scope = c["workload"] == 1
    assert doc["last"]["objectives"][1]["value"] == float(np.mean(ttft[scope] / 1e6))
    assert doc["all"]["objectives"][0]["value"] == float(np.percentile(ttft / 1e6, 99))
    e2e = (c["finish_ns"] - c["arrival_ns"]).astype(np.float64)
    assert doc["last"]["objectives"][0]["value"] == float(e2e[scope].max()) / 1e6
    assert doc["last"]["requests"] == int(scope.sum())


def test_past_the_cap_statistics_are_approximate_and_say_so(monkeypatch):
    from functools import partial

    from llmsim.runtime import simulate, simulator
    from llmsim.runtime.distribution import REL_ERROR
    from llmsim.runtime.metrics import Recorder

    spec, workloads, names = _runs()["two-workloads"]
    slos = _slos(names)
    exact = slo.evaluate(slos, simulate(spec, workloads), names)
    monkeypatch.setattr(simulator, "Recorder", partial(Recorder, cap=20))
    approx = slo.evaluate(slos, simulate(spec, workloads, keep_requests=False, slo_bounds=slo.bounds(slos, names)),
                          names)
    for name, doc in approx.items():
        for a, e in zip(doc["objectives"], exact[name]["objectives"], strict=True):
            rel = a.pop("value_rel_error", None)
            if (a["stat"] is not None and a["stat"] != "mean") or a["metric"] == "itl":
                assert rel == REL_ERROR, a
                assert abs(a["value"] - e["value"]) <= REL_ERROR * abs(e["value"]) * (1 + 1e-9)
            else:
                assert rel is None
                assert a["value"] == pytest.approx(e["value"], rel=1e-12)
        same = ("requests", "met_requests", "attainment", "goodput_per_s")
        assert {k: doc[k] for k in same} == {k: exact[name][k] for k in same}


def test_an_slo_the_run_did_not_tally_needs_rows():
    from llmsim.runtime import simulate
    from llmsim.runtime.metrics import RowsNotKept

    spec, workloads, names = _runs()["two-workloads"]
    slos = _slos(names)
    result = simulate(spec, workloads, keep_requests=False, slo_bounds=slo.bounds({"all": slos["all"]}, names))
    assert slo.evaluate({"all": slos["all"]}, result, names)["all"]["requests"] == result.submitted
    with pytest.raises(RowsNotKept):
        slo.evaluate(slos, result, names)


def test_summary_line_marks_approximate_values():
    from llmsim.slo import summary_line

    block = {"attainment": 1.0, "goodput_per_s": 2.0, "met": True, "objectives": [
        {"objective": "ttft.p99 < 500ms", "met": True, "value_rel_error": 1e-4},
        {"objective": "e2e < 10s", "met": True}]}
    assert summary_line({"s": block}) == ("SLO s: met (ttft.p99 < 500ms ok (within 0.0001 of exact); e2e < 10s ok); "
                                          "attainment 100.0%, goodput 2.00 req/s")
