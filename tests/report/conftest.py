"""Shared report fixtures: the quickstart run once (HTML and JSON), synthetic sweep and validation data."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmsim.cli.llmsimc import main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "specs" / "quickstart.llms"


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`llmsimc specs/quickstart.llms --html ... --json ...`, run once for every report test."""
    out = tmp_path_factory.mktemp("quickstart")
    html, js = out / "quickstart.html", out / "quickstart.json"
    assert main([str(QUICKSTART), "--html", str(html), "--json", str(js), "-q"]) == 0
    return {"html_path": html, "html": html.read_text(encoding="utf-8"), "doc": json.loads(js.read_text())}


def sweep_points(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Nine synthetic points over tp x rate, made from one results document (llmsim.sweep's form:
    documents that carry `params` and `point`). Throughput grows with both; TTFT p99 falls with tp."""
    points = []
    for i, (tp, rate) in enumerate((tp, rate) for tp in (1, 2, 4) for rate in (4, 8, 16)):
        d = copy.deepcopy(doc)
        d["throughput"]["output_tokens_per_s"] = 1000.0 * tp * rate
        d["metrics"]["ttft_ms"]["p99"] = 100.0 * rate / tp
        d["params"], d["point"] = {"tp": str(tp), "rate": f"{rate}/s"}, i
        points.append(d)
    return points


def validation_sides(seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """A measured and a simulated run whose simulated latencies are 8 % higher."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, 60.0)
    measured = {
        "ttft_ms": rng.lognormal(3.5, 0.4, 400).tolist(),
        "tpot_ms": rng.normal(9.0, 0.4, 400).tolist(),
        "itl_ms": rng.normal(9.0, 1.0, 4000).tolist(),
        "e2e_ms": rng.normal(5000, 800, 400).tolist(),
        "timeline": {"t_s": t.tolist(), "running": (20 + 5 * np.sin(t / 9)).tolist(),
                     "waiting": np.maximum(0, 3 * np.cos(t / 7)).tolist()},
    }
    simulated = {k: (np.asarray(v) * 1.08).tolist() for k, v in measured.items() if k != "timeline"}
    simulated["timeline"] = {"t_s": t.tolist(), "running": (21 + 5 * np.sin(t / 9)).tolist(),
                             "waiting": np.maximum(0, 2.5 * np.cos(t / 7)).tolist()}
    return measured, simulated


@pytest.fixture(scope="session")
def sweep_html(tmp_path_factory: pytest.TempPathFactory, quickstart: dict[str, Any]) -> Path:
    from llmsim.report.html import write_sweep_html

    path = tmp_path_factory.mktemp("sweep") / "sweep.html"
    write_sweep_html(sweep_points(quickstart["doc"]), path, slo_ms=500)
    return path


@pytest.fixture(scope="session")
def validation_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llmsim.report.html import write_validation_html

    path = tmp_path_factory.mktemp("validation") / "validation.html"
    write_validation_html(*validation_sides(), path, labels=("vLLM (measured)", "llmsim"))
    return path
