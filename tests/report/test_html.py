"""The HTML report of a run: every section and plot, self-contained, autoescaped, deterministic."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from llmsim.cli.llmsimc import main
from llmsim.report.html import render_report_html, slo_thresholds
from llmsim.report.svg import clean_svg

from .conftest import QUICKSTART

RUN_PLOTS = ("latency-cdf", "timeline-requests", "timeline-throughput", "timeline-queues", "timeline-batches",
             "timeline-kv", "timeline-preemptions", "timeline-power", "breakdown-main")
SECTIONS = ("summary", "spec", "latency", "timelines", "breakdown")


def plot_ids(html: str) -> list[str]:
    return re.findall(r'<figure class="plot" id="plot-[^"]+" data-plot="([^"]+)">\s*<svg', html)


def test_the_quickstart_report_has_every_section_and_plot(quickstart: dict[str, Any]):
    html = quickstart["html"]
    assert plot_ids(html) == list(RUN_PLOTS)
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    # The spec as written and as compiled, the pinned hardware entry and its hash.
    assert 'catalog = &#34;Llama-3.1-8B&#34;' in html and "spec quickstart.llms" in html
    assert "plan main:" in html
    sha = quickstart["doc"]["hardware"][0]["sha256"]
    assert f'<td class="hash">{sha}</td>' in html
    assert "None: every operator was priced from measured tables." in html
    assert "not modelled yet (no KV transfer" not in html  # KV links and tiers are modelled (issue 6)
    assert "Power and energy: not modelled yet." not in html
    assert "per output token (J)" in html  # the energy table fills the power placeholder
    assert "The spec declares no <code>slo</code> block" in html


def test_the_report_is_self_contained(quickstart: dict[str, Any]):
    html = quickstart["html"]
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert not re.search(r"url\((?!#)", html)  # no CSS or SVG reference outside the page
    assert len(html.encode()) < 400_000


def test_the_report_is_deterministic_apart_from_wall_clock(quickstart: dict[str, Any], tmp_path: Path):
    again = tmp_path / "again.html"
    assert main([str(QUICKSTART), "--html", str(again), "-q"]) == 0

    def strip(html: str) -> str:
        return re.sub(r'<span class="wall-clock">[^<]*</span>', "", html)

    assert strip(again.read_text()) == strip(quickstart["html"])


def test_user_text_is_escaped(quickstart: dict[str, Any]):
    doc = copy.deepcopy(quickstart["doc"])
    doc["spec"] = "<script>alert(1)</script>.llms"
    doc["fallbacks"] = [{"pool": "main", "op": "L0.<b>qkv</b>", "family": "gemm", "count": 32,
                         "reason": "no fp8 table & <i>no</i> luck", "model": "roofline"}]
    html = render_report_html(doc, spec_source="</pre><script>x()</script>", compiled_listing="a < b")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.llms" in html
    assert "&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;" in html
    assert html.count('<tr class="fallback">') == 1 and "L0.&lt;b&gt;qkv&lt;/b&gt;" in html
    assert "1 operator(s) priced without a measured table" in html


def test_slo_blocks_render_and_their_bounds_mark_the_cdfs(quickstart: dict[str, Any]):
    doc = copy.deepcopy(quickstart["doc"])
    doc["slo"] = {"interactive": {
        "workload": None, "requests": 1000, "met_requests": 990, "attainment": 0.99, "goodput_per_s": 3.8,
        "met": False, "objectives": [
            {"objective": "ttft.p99 < 500ms", "metric": "ttft", "stat": "p99", "op": "<", "target": 500.0,
             "unit": "ms", "value": 99.2, "met": True},
            {"objective": "attainment >= 99.5%", "metric": "attainment", "stat": None, "op": ">=",
             "target": 99.5, "unit": "%", "value": 99.0, "met": False}]}}
    assert slo_thresholds(doc["slo"]) == {"ttft_ms": [500.0]}
    html = render_report_html(doc)
    assert "attainment 99.0 %" in html and "<code>ttft.p99 &lt; 500ms</code>" in html
    assert html.count('class="text missed"') == 1 and html.count('class="text met"') == 1


def test_a_report_from_the_json_alone_uses_its_compact_timeline(quickstart: dict[str, Any]):
    html = render_report_html(quickstart["doc"])
    assert plot_ids(html) == list(RUN_PLOTS)
    assert f"({quickstart['doc']['timeline']['buckets']} over" in html


def test_report_html_writes_spec_name_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    small = tmp_path / "small.llms"
    small.write_text(QUICKSTART.read_text().replace("requests = 1000", "requests = 50"))
    monkeypatch.chdir(tmp_path)
    assert main([str(small), "--report", "html"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "small.html").is_file()
    assert "wrote small.html" in out and "Latency (ms)" in out  # the full terminal report too
    assert main([str(small), "--report", "pdf"]) == 1


def test_html_output_path_is_guarded(tmp_path: Path, capsys):
    assert main([str(QUICKSTART), "--html", str(tmp_path / "missing" / "r.html")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_svg_ids_are_prefixed_and_unreferenced_ids_dropped():
    raw = ('<?xml version="1.0"?>\n<svg width="10pt" height="5pt" viewBox="0 0 10 5">\n <metadata>x</metadata>\n'
           ' <g id="figure_1"><path id="m1" d="M 0.123456 1.5"/><use xlink:href="#m1" x="1.234567"/>'
           '<rect clip-path="url(#p2)"/><clipPath id="p2"/>'
           '<text style="font-size: 9px; font-family: \'DejaVu Sans\', sans-serif; text-anchor: middle">a</text>'
           '</g>\n</svg>')
    svg = clean_svg(raw, "demo")
    assert svg.startswith("<svg ") and "metadata" not in svg and 'id="figure_1"' not in svg
    assert 'id="demo-m1"' in svg and 'xlink:href="#demo-m1"' in svg and 'url(#demo-p2)' in svg
    assert 'd="M 0.12 1.5"' in svg and 'x="1.23"' in svg
    assert 'style="font-size: 9px; text-anchor: middle"' in svg
    assert 'viewBox="0 0 10 5"' in svg and "width=" not in svg


def test_without_matplotlib_html_is_a_user_error(monkeypatch: pytest.MonkeyPatch, quickstart: dict[str, Any],
                                                 tmp_path: Path):
    import sys

    from llmsim.diagnostics import UserError
    from llmsim.report.html import write_report_html

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with pytest.raises(UserError, match="HTML reports need matplotlib") as exc:
        write_report_html(quickstart["doc"], tmp_path / "r.html")
    assert 'llmsim[report]' in exc.value.render()


def test_approximate_figures_are_marked(quickstart: dict[str, Any]):
    doc = copy.deepcopy(quickstart["doc"])
    assert "too many samples" not in render_report_html(doc)
    doc["metrics"]["itl_ms"]["percentiles_rel_error"] = 1e-4
    doc["slo"] = {"s": {"workload": None, "requests": 10, "met_requests": 10, "attainment": 1.0,
                        "goodput_per_s": 1.0, "met": True, "objectives": [
                            {"objective": "ttft.p99 < 500ms", "metric": "ttft", "stat": "p99", "op": "<",
                             "target": 500.0, "unit": "ms", "value": 99.2, "met": True, "value_rel_error": 1e-4}]}}
    html = render_report_html(doc)
    assert "Percentiles of itl_ms are within a relative 0.0001 of exact" in " ".join(html.split())
    assert 'title="within a relative 0.0001 of exact">&asymp; ' in html
