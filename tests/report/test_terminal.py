"""The terminal summary says when percentiles are approximate (a long run without per-request rows)."""

import io

from rich.console import Console

from llmsim.report.terminal import print_summary


def _doc(extra):
    stats = {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0}
    return {
        "spec": "a.llms",
        "metrics": {"ttft_ms": {**stats, **extra}, **{k: stats for k in ("tpot_ms", "itl_ms", "e2e_ms", "queue_ms")}},
        "throughput": {"requests_per_s": 1.0, "input_tokens_per_s": 1.0, "output_tokens_per_s": 1.0},
        "requests": {"submitted": 1, "completed": 1},
        "sim": {"simulated_s": 1.0, "wall_s": 0.1},
    }


def _printed(doc):
    out = io.StringIO()
    print_summary(doc, Console(file=out, width=200), full=False)
    return out.getvalue()


def test_approximate_percentiles_are_noted():
    assert "note: percentiles of ttft_ms are within a relative 0.0001 of exact" in _printed(
        _doc({"percentiles_rel_error": 1e-4}))
    assert "note:" not in _printed(_doc({}))
