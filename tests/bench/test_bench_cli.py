"""The bench's command line, rows and JSON, and worker jobs (small cases; nothing is timed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cases import DATA_DIR, LLAMA_8B, Case, spec_text
from bench.cli import Row, best_of, format_row, machine_info, main
from bench.runner import Runner, WorkerError
from llmsim.cli import tool

REQUIRED = ("name", "requests", "instances", "llmsim_wall_s", "vidur_wall_s", "ratio", "peak_rss_mb")


def _case(**kw: object) -> Case:
    return Case(**{"name": "t", "setup": LLAMA_8B, "requests": 200, "instances": 1, "workload": "sharegpt", **kw})


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "8b-x1-sharegpt-1k" in out and "vidur-vllm-1k" in out and "1m" not in out


def test_llmsim_bench_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main(["bench", "--list"]) == 0
    assert "70b-tp4-x64-sharegpt-1m" in capsys.readouterr().out


def test_row_json_has_the_issue_fields_and_nulls_without_vidur() -> None:
    row = Row(_case(), llmsim={"process_wall_s": 2.0, "sim_s": 1.0, "completed": 200, "events": 1000,
                               "peak_rss_mb": 80.0, "user_s": 1.5, "sys_s": 0.1})
    j = row.to_json()
    assert all(k in j for k in REQUIRED)
    assert j["vidur_wall_s"] is None and j["ratio"] is None
    assert j["requests_per_s"] == 200 and j["events_per_s"] == 1000
    row.vidur = {"wall_s": 30.0, "loop_s": 20.0, "cpu_s": 16.0}
    j = row.to_json()
    assert j["ratio"] == 15.0 and j["sim_ratio"] == 20.0 and j["cpu_ratio"] == 10.0


def test_timed_out_row_says_so_and_has_no_ratio() -> None:
    row = Row(_case(requests=1_000_000, vidur="vllm"),
              llmsim={"process_wall_s": 905.0, "sim_s": 899.0, "completed": 312_000, "timed_out": True,
                      "user_s": 900.0, "sys_s": 1.0},
              vidur={"wall_s": 3000.0, "loop_s": 2900.0}, vidur_note=None)
    assert "timed out at 905 s, 312,000 of 1,000,000 completed" in format_row(row)
    assert row.to_json()["ratio"] is None


def test_best_of_prefers_completed_runs() -> None:
    runs = [{"process_wall_s": 3.0}, {"process_wall_s": 2.0}, {"process_wall_s": 1.0, "timed_out": True}]
    assert best_of(runs)["process_wall_s"] == 2.0


def test_machine_info() -> None:
    info = machine_info()
    assert info["cores"] and info["python"] and info["cpu"]


def test_worker_runs_a_case_and_reports_a_timeout(tmp_path: Path) -> None:
    spec = tmp_path / "case.llms"
    spec.write_text(spec_text(_case(), rate_per_s=20.0), encoding="utf-8")
    runner = Runner()
    doc, m = runner.job({"kind": "run", "spec": str(spec), "include": [str(DATA_DIR)]}, tmp_path / "ok", 300)
    assert doc is not None and not doc["timed_out"]
    assert doc["completed"] == 200 and doc["events"] > 0 and doc["sim_s"] > 0
    assert set(doc["metrics"]) == {"ttft_ms", "tpot_ms", "e2e_ms"}
    assert m.peak_rss_mb > 0
    doc, _ = runner.job({"kind": "run", "spec": str(spec), "include": [str(DATA_DIR)]}, tmp_path / "late", 0)
    assert doc is not None and doc["timed_out"]
    assert doc["completed"] is not None and doc["completed"] < 200


def test_worker_failure_is_an_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.llms"
    spec.write_text("pool {", encoding="utf-8")
    with pytest.raises(WorkerError):
        Runner().job({"kind": "run", "spec": str(spec), "include": []}, tmp_path / "bad", 60)


def test_runner_rejects_a_folder_without_llmsim(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Runner(tmp_path)


def test_json_output_shape(tmp_path: Path) -> None:
    row = Row(_case(), llmsim={"process_wall_s": 2.0, "sim_s": 1.0, "completed": 200, "events": 10})
    text = json.dumps({"cases": [row.to_json()]})
    assert json.loads(text)["cases"][0]["name"] == "t"


def test_matched_entry_prefers_the_newest_vllm_a100() -> None:
    from bench.cli import pick_matched_entry

    names = ["nvidia/a100-sxm@roofline-1", "nvidia/a100-sxm@trtllm-1.0.0", "nvidia/a100-sxm@vllm-0.9.2",
             "nvidia/a100-sxm@vllm-0.14.0", "nvidia/h100-sxm@vllm-0.24.0"]
    assert pick_matched_entry(names) == "nvidia/a100-sxm@vllm-0.14.0"
    assert pick_matched_entry(["nvidia/h100-sxm@vllm-0.24.0", "nvidia/a100-sxm@roofline-1"]) is None


def test_llmsim_bench_without_a_checkout_says_so(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from llmsim.cli import bench_cmd

    monkeypatch.setattr(bench_cmd, "_bench_root", lambda: None)
    assert tool.main(["bench", "--quick", "--json", "x.json"]) == 1
    assert "needs a source checkout" in capsys.readouterr().err
