"""The results document's new keys: distributions, timeline, step_breakdown; and its JSON layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmsim.compiler import compile_spec
from llmsim.lang import load_spec
from llmsim.report.breakdown import mean_batches
from llmsim.report.distributions import PERCENTS, attainment, quantiles_ms
from llmsim.report.results import JSON_TIMELINE_BUCKETS, dumps, results_document, write_json
from llmsim.runtime import build_workload, simulate
from llmsim.runtime.metrics import weighted_percentile

from .conftest import QUICKSTART


@pytest.fixture(scope="module")
def run():
    spec = load_spec(QUICKSTART)
    compiled = compile_spec(spec)
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    result = simulate(compiled.cluster, workloads)
    return compiled, result, results_document(compiled, result.summary(), result.wall_s, result=result)


def test_old_keys_stay_and_new_keys_are_added(run):
    _, _, doc = run
    for key in ("schema_version", "spec", "metrics", "throughput", "requests", "prefix_cache", "hardware",
                "fallbacks", "pools", "sim"):
        assert key in doc
    assert {"distributions", "timeline", "step_breakdown"} <= set(doc)


def test_distribution_percentiles_equal_the_summary(run):
    _, result, doc = run
    dist = doc["distributions"]
    assert dist["percent"] == list(PERCENTS)
    for metric in ("ttft_ms", "tpot_ms", "e2e_ms", "queue_ms", "itl_ms"):
        values = dist["ms"][metric]
        assert values == sorted(values)
        for stat in ("p50", "p90", "p99"):
            i = PERCENTS.index(float(stat[1:]))
            assert values[i] == pytest.approx(doc["metrics"][metric][stat], rel=1e-5)
    assert dist["samples"]["itl_ms"] == int(result.itl_counts.sum())
    assert dist["samples"]["ttft_ms"] == result.completed


def test_weighted_quantiles_equal_expanding_the_samples():
    rng = np.random.default_rng(3)
    values = np.unique(rng.integers(1, 500, 60)).astype(float)
    counts = rng.integers(1, 20, len(values))
    expanded = np.repeat(values, counts)
    assert quantiles_ms(values, counts) == pytest.approx(quantiles_ms(expanded), rel=1e-12)
    for q in (50, 99):
        assert quantiles_ms(values, counts)[PERCENTS.index(q)] == pytest.approx(
            weighted_percentile(values, counts, q), rel=1e-6)
    assert quantiles_ms([]) is None and quantiles_ms([], np.zeros(0, dtype=np.int64)) is None


def test_attainment_reads_the_quantile_grid():
    q = quantiles_ms(np.arange(1, 101, dtype=float))  # 1 .. 100 ms
    assert attainment(q, 0.5) == 0.0 and attainment(q, 100) == 1.0
    assert attainment(q, 50.5) == pytest.approx(0.5, abs=0.001)
    assert attainment(None, 1.0) is None


def test_json_timeline_is_compact_and_consistent(run):
    _, result, doc = run
    tl = doc["timeline"]
    assert tl["buckets"] <= JSON_TIMELINE_BUCKETS
    assert sum(tl["requests"]["arrivals"]) == doc["requests"]["submitted"]
    assert sum(tl["requests"]["completions"]) == doc["requests"]["completed"]
    assert sum(tl["pools"]["main"]["steps"]) == doc["sim"]["steps"]
    assert sum(tl["pools"]["main"]["output_tokens"]) == int(result.output_tokens.sum())
    assert tl["end_s"] == doc["sim"]["simulated_s"]


def test_step_breakdown_has_reference_and_run_mean_batches(run):
    compiled, result, doc = run
    (entry,) = doc["step_breakdown"]
    assert entry["pool"] == "main"
    kinds = [b["kind"] for b in entry["batches"]]
    assert kinds.count("reference") >= 3 and kinds.count("run") == 3
    plan = compiled.plans["main"]
    for b in entry["batches"]:
        if b["kind"] == "reference":
            assert b["total_us"] == pytest.approx(sum(plan.breakdown_us(_shape(b)).values()), abs=0.01)
        assert b["total_us"] == pytest.approx(sum(b["us"].values()), abs=0.01)
        assert set(b["us"]) <= {"gemm", "attention", "collective", "elementwise", "memory", "overhead"}
        assert b["us"]["gemm"] > 0
    decode = next(b for b in entry["batches"] if b["label"].startswith("run mean decode"))
    totals = result.timeline.totals("main")
    assert decode["batch"]["seqs"] == round(totals["step_decodes"] / totals["steps"])


def test_mean_batches_from_totals():
    totals = {"steps": 10, "step_seqs": 42, "step_tokens": 1040, "step_decodes": 40, "step_decode_context": 40_000}
    (dec_label, dec), (pre_label, pre), (mix_label, mix) = mean_batches(totals)
    assert (dec.n_decode, dec.decode_kv_max) == (4, 1000) and dec_label == "run mean decode step: 4 seqs x 1000 ctx"
    assert pre.prefills == ((500, 0),) and pre.num_tokens == 500 and pre_label == "run mean prefill chunk: 500 tokens"
    assert (mix.num_tokens, mix.num_seqs, mix.n_decode) == (504, 5, 4) and "4 decodes + a 500-token" in mix_label
    assert mean_batches({"steps": 0}) == []


def test_json_is_indented_with_number_lists_on_one_line(run, tmp_path: Path):
    _, _, doc = run
    path = tmp_path / "r.json"
    write_json(doc, path)
    text = path.read_text()
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert '"arrivals": [' in text and '"schema_version": 1,' in text
    assert dumps({"a": [1, None, 2.5], "b": []}) == '{\n  "a": [1, null, 2.5],\n  "b": []\n}'


def _shape(row: dict) -> object:
    from llmsim.compiler.emit import REFERENCE_BATCHES

    return dict(REFERENCE_BATCHES)[row["label"]]
