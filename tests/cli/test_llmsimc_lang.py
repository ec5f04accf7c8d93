"""`llmsimc` and the language: `--emit ast|ir`, `-D`, sweeps, SLOs, and "not supported yet" refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmsim.cli.llmsimc import main

ROOT = Path(__file__).resolve().parents[2]
ROADMAP = ROOT / "tests" / "lang" / "golden" / "valid" / "roadmap.llms"

SPEC = """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
param requests = 60
param rate     = 10/s
model llama { catalog = "Llama-3.1-8B" }
pool main { model = llama  hardware = h100 }
workload chat { requests = requests  arrival = poisson(rate = rate)  lengths = dataset("sharegpt")  seed = 1 }
slo fast { ttft.p99 < 400ms  attainment >= 90% }
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "s.llms"
    path.write_text(SPEC)
    return path


def test_emit_ast_and_ir(spec: Path, capsys):
    assert main([str(spec), "--emit", "ast"]) == 0
    assert "  param requests = 60 @2:1" in capsys.readouterr().out
    assert main([str(spec), "--emit", "ir", "-D", "rate=2/s"]) == 0
    out = capsys.readouterr().out
    assert "  param rate = 2/s (-D) @3:1" in out and "rate_per_s = 2" in out


def test_run_with_defines_reports_slos(spec: Path, tmp_path: Path, capsys):
    out_json = tmp_path / "r.json"
    assert main([str(spec), "-D", "requests=30", "--json", str(out_json)]) == 0
    stdout = capsys.readouterr().out
    assert "30/30 requests completed" in stdout
    assert "SLO fast: met (ttft.p99 < 400ms ok; attainment >= 90% ok); attainment 100.0%" in stdout
    doc = json.loads(out_json.read_text())
    fast = doc["slo"]["fast"]
    assert fast["met"] and fast["requests"] == 30 and [o["objective"] for o in fast["objectives"]] == [
        "ttft.p99 < 400ms",
        "attainment >= 90%",
    ]


def test_the_document_without_rows_is_the_one_with_rows(spec: Path, tmp_path: Path, monkeypatch):
    """llmsimc keeps no per-request rows; its distributions and SLOs are those of a run that does."""
    from llmsim import slo
    from llmsim.cache import compile_file
    from llmsim.report.results import results_document
    from llmsim.runtime import build_workload, metrics, simulate

    monkeypatch.setattr(metrics, "CHUNK", 5)  # fold in many small chunks
    spec.write_text(SPEC.replace("slo fast { ttft.p99 < 400ms  attainment >= 90% }",
                                 "slo fast { ttft.p99 < 400ms  tpot < 12ms  e2e.mean < 5s  attainment >= 90% }\n"
                                 "slo chat { workload = chat  queue.p50 < 1ms  itl.p90 < 20ms  goodput >= 1/s }"))
    out_json = tmp_path / "r.json"
    assert main([str(spec), "-q", "--json", str(out_json)]) == 0
    streamed = json.loads(out_json.read_text())
    parsed, compiled = compile_file(spec)
    result = simulate(compiled.cluster, [(build_workload(w), compiled.workload_routers[w.name])
                                         for w in parsed.workloads.values()])
    assert result.keeps_requests
    kept = results_document(compiled, result.summary(), 0.0, result=result)
    kept["slo"] = slo.evaluate(parsed.slos, result, list(parsed.workloads))
    for doc in (streamed, kept):
        doc["sim"].pop("wall_s")
    assert json.loads(json.dumps(kept)) == streamed
    assert 0 < streamed["slo"]["fast"]["met_requests"] < 60


def test_define_errors_exit_1_with_a_located_diagnostic(spec: Path, capsys):
    assert main([str(spec), "--check", "-D", "rat=2/s"]) == 1
    err = capsys.readouterr().err
    assert "error: unknown param `rat`" in err and "--> <command line>:1:4" in err and "`rate`" in err


def test_sweep_runs_every_point_in_order(spec: Path, tmp_path: Path, capsys):
    spec.write_text(SPEC + "sweep { rate = [5/s, 20/s]  requests = [20, 40] }\n")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main([str(spec), "--json", str(a), "-j", "2"]) == 0
    table = capsys.readouterr().out
    assert "s.llms: 4 sweep points" in table and "20/20" in table and "40/40" in table
    assert main([str(spec), "--json", str(b), "-j", "1", "-q"]) == 0
    doc_a, doc_b = json.loads(a.read_text()), json.loads(b.read_text())
    assert doc_a["sweep"] == {"params": ["rate", "requests"], "points": 4}
    assert [p["params"] for p in doc_a["points"]] == [
        {"requests": r, "rate": rate} for rate in ("5/s", "20/s") for r in ("20", "40")
    ]
    assert [p["point"] for p in doc_a["points"]] == [0, 1, 2, 3]
    for p in doc_a["points"] + doc_b["points"]:
        p["sim"].pop("wall_s")
    assert doc_a == doc_b  # same results whatever the parallelism


def test_sweep_check_compiles_every_point(spec: Path, capsys):
    text = SPEC.replace("hardware = h100 }", "hardware = h100  tp = tp }").replace(
        "param rate", "param tp = 1\nparam rate"
    )
    spec.write_text(text + "sweep { tp = [1, 3] }\n")
    assert main([str(spec), "--check"]) == 1
    err = capsys.readouterr().err
    assert "--> " in err and "at sweep point 1 (tp = 3)" in err and "choose `tp` among" in err
    spec.write_text(text + "sweep { tp = [1, 2] }\n")
    assert main([str(spec), "--check"]) == 0
    assert "compiles at all 2 sweep points" in capsys.readouterr().out


def test_sweep_refuses_csv(spec: Path, tmp_path: Path, capsys):
    spec.write_text(SPEC + "sweep { rate = [5/s, 20/s] }\n")
    assert main([str(spec), "--csv", str(tmp_path / "r.csv")]) == 1
    assert "`--csv` writes the requests of one run" in capsys.readouterr().err


def test_roadmap_constructs_are_refused_at_their_spans(capsys, monkeypatch):
    monkeypatch.chdir(ROADMAP.parent)
    assert main([ROADMAP.name, "--emit", "ir"]) == 0  # the language accepts all of it
    capsys.readouterr()
    assert main([ROADMAP.name, "--check"]) == 1
    err = capsys.readouterr().err
    expected = [
        "LoRA adapters is not supported yet",
        "scheduler policy `sarathi` is not supported yet",
        "scheduling order `priority` is not supported yet",
        "multi-turn sessions (`sessions`) is not supported yet",
        "request priorities (`priority`) is not supported yet",
    ]
    for line in expected:
        assert f"error: {line}" in err, line
    assert "Traceback" not in err and "internal error" not in err
    assert " --> roadmap.llms:76:14" in err  # `sessions = ...`: the value's span
    # Disaggregation, KV links, KV tiers and router policies run now (issue 6), speculative decoding too (issue 7).
    for gone in ("prefill/decode disaggregation", "`kv_link`", "`tier`", "router policy", "speculative decoding"):
        assert gone not in err, gone
