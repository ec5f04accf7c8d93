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
