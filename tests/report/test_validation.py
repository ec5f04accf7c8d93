"""The validation report: measured against simulated tables, CDFs and timelines."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from llmsim.report.validation import render_validation_html, stats_table

from .conftest import validation_sides


def test_the_table_compares_every_metric_both_sides_have():
    measured, simulated = validation_sides()
    rows = stats_table(measured, simulated)
    assert [(r["metric"], r["stat"]) for r in rows[:4]] == [("ttft_ms", s) for s in ("mean", "p50", "p90", "p99")]
    assert len(rows) == 4 * 4
    for r in rows:
        assert r["error_pct"] == pytest.approx(8.0, abs=1e-9)
    assert r["measured_ms"] == pytest.approx(float(np.percentile(measured["e2e_ms"], 99)))


def test_the_report_has_its_plots_and_highlights_large_errors(validation_html: Path):
    html = validation_html.read_text()
    assert re.findall(r'data-plot="([^"]+)"', html) == ["validation-cdf", "validation-timeline"]
    assert html.count('<td class="">+8.0 %</td>') == 16
    assert "vLLM (measured)" in html and "<script" not in html


def test_a_given_table_is_used_as_is():
    measured, simulated = validation_sides()
    table = [{"metric": "ttft_ms", "stat": "p99", "measured_ms": 100.0, "simulated_ms": 125.0, "error_pct": 25.0},
             {"metric": "tpot_ms", "stat": "mean", "measured_ms": 9.0, "simulated_ms": None, "error_pct": None}]
    html = render_validation_html(measured, simulated, table=table)
    assert '<td class="missed">+25.0 %</td>' in html and "<td class=\"\">–</td>" in html
    with pytest.raises(ValueError, match="missing measured_ms, simulated_ms, error_pct"):
        render_validation_html(measured, simulated, table=[{"metric": "ttft_ms", "stat": "p99"}])


def test_sides_are_checked():
    measured, simulated = validation_sides()
    with pytest.raises(ValueError, match="unknown key `latency_ms`"):
        render_validation_html({"latency_ms": [1.0]}, simulated)
    bad = dict(simulated, timeline={"t_s": [0, 1], "running": [1], "waiting": [0, 0]})
    with pytest.raises(ValueError, match="different lengths"):
        render_validation_html(measured, bad)
    with pytest.raises(ValueError, match="missing waiting"):
        render_validation_html(measured, dict(simulated, timeline={"t_s": [], "running": []}))


def test_one_metric_without_timelines():
    html = render_validation_html({"ttft_ms": [10.0, 20.0]}, {"ttft_ms": [11.0, 19.0]})
    assert re.findall(r'data-plot="([^"]+)"', html) == ["validation-cdf"]
    assert "Neither side has a timeline." in html
