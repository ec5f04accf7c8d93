"""The sweep report: rows, Pareto front, the best point within the SLO, metrics against params."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from llmsim.report.html import write_sweep_html
from llmsim.report.sweep import lookup, normalise, numeric_axis, pareto_front, render_sweep_html, slo_target

from .conftest import sweep_points


def test_pareto_front_keeps_only_points_nobody_beats():
    latency = [100, 200, 150, 300, 200]
    throughput = [10, 30, 10, 25, 30]
    assert pareto_front(latency, throughput) == [True, True, False, False, True]
    cost = [5, 3, 6, 2, 3]
    assert pareto_front(latency, cost, maximize_y=False) == [True, True, False, True, True]


def test_numeric_axis_needs_one_unit():
    assert numeric_axis(["4/s", "8/s", "16/s"]) == ([4.0, 8.0, 16.0], "/s")
    assert numeric_axis(["1", "2.5", "1e3"]) == ([1.0, 2.5, 1000.0], "")
    assert numeric_axis(["h100", "b200"]) is None
    assert numeric_axis(["8/s", "2ms"]) is None


def test_both_point_forms_are_accepted(quickstart: dict[str, Any]):
    docs = sweep_points(quickstart["doc"])
    wrapped = []
    for d in copy.deepcopy(docs):
        params, point = d.pop("params"), d.pop("point")
        wrapped.append({"params": params, "point": point, "result": d})
    a, b = normalise(docs), normalise(wrapped)
    assert [(p.index, p.params) for p in a] == [(p.index, p.params) for p in b]
    assert render_sweep_html(docs, slo_ms=500) == render_sweep_html(wrapped, slo_ms=500)
    with pytest.raises(ValueError, match="no results document"):
        normalise([{"params": {"a": 1}}])


def test_sweep_report_rows_front_and_best(quickstart: dict[str, Any], sweep_html: Path):
    html = sweep_html.read_text()
    rows = re.findall(r"<tr class=\"(front|)\"><td>(\d+)</td>", html)
    assert [int(i) for _, i in rows] == list(range(9))
    # Throughput 1000 tp rate, TTFT p99 100 rate / tp: the front is every point whose TTFT no
    # faster point matches; within 500 ms the best is tp=4, rate=16 (400 ms, 64,000 tok/s).
    docs = sweep_points(quickstart["doc"])
    expected = pareto_front([lookup(d, "metrics.ttft_ms.p99") for d in docs],
                            [lookup(d, "throughput.output_tokens_per_s") for d in docs])
    assert [flag == "front" for flag, _ in rows] == expected
    assert "Best within the SLO: point #8 (tp = 4, rate = 16/s)" in html
    ids = re.findall(r'data-plot="([^"]+)"', html)
    assert ids == ["sweep-pareto", "sweep-param-tp", "sweep-param-rate"]
    assert "<script" not in html


def test_no_point_meets_a_tight_slo(quickstart: dict[str, Any], tmp_path: Path):
    path = tmp_path / "s.html"
    write_sweep_html(sweep_points(quickstart["doc"]), path, slo_ms=1.0)
    assert "No point meets the SLO." in path.read_text()


def test_slo_target_comes_from_the_points_slo_blocks(quickstart: dict[str, Any]):
    docs = sweep_points(quickstart["doc"])
    docs[0]["slo"] = {"s": {"objectives": [{"metric": "ttft", "stat": "p99", "unit": "ms", "target": 250.0}],
                            "attainment": 0.5}}
    assert slo_target(normalise(docs), "metrics.ttft_ms.p99") == 250.0
    assert slo_target(normalise(docs), "metrics.tpot_ms.p99") is None
    assert "at most 250.0 ms" in render_sweep_html(docs)


def test_params_that_do_not_vary_get_no_plot_and_names_are_escaped(quickstart: dict[str, Any]):
    docs = sweep_points(quickstart["doc"])[:3]  # tp = 1 throughout
    for d in docs:
        d["params"]["<b>gpu</b>"] = "h100"
    html = render_sweep_html(docs)
    assert re.findall(r'data-plot="([^"]+)"', html) == ["sweep-pareto", "sweep-param-rate"]
    assert "&lt;b&gt;gpu&lt;/b&gt;" in html and "<b>gpu</b>" not in html


def test_cost_objectives_are_minimised(quickstart: dict[str, Any]):
    docs = sweep_points(quickstart["doc"])
    for d in docs:
        d["cost"] = {"cost_per_mtok": 10.0 / d["throughput"]["output_tokens_per_s"]}
    html = render_sweep_html(docs, objective="cost.cost_per_mtok", slo_ms=500)
    assert "(lower is better) against" in html
    assert "Best within the SLO: point #8" in html
