"""The Vidur side: trace files, argument lists, reading its metrics, missing data (nothing is run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bench.vidur as vidur
from bench.vidur import (
    MATCHED_SETTINGS,
    Vidur,
    poisson_arrival_ns,
    read_request_metrics,
    write_matched_trace,
)


def test_poisson_arrivals_are_deterministic_and_start_at_zero() -> None:
    a = poisson_arrival_ns(1000, 2.0, 42)
    assert a[0] == 0 and np.all(np.diff(a) >= 0)
    assert np.array_equal(a, poisson_arrival_ns(1000, 2.0, 42))
    assert 400e9 < a[-1] < 600e9  # about 1000 / 2 seconds


def test_matched_trace_files_hold_the_same_rows(tmp_path: Path) -> None:
    arrivals = np.array([0, 1_500_000_001, 2_000_000_000], dtype=np.int64)
    ours, theirs = write_matched_trace(tmp_path, "t", arrivals, 512, 128)
    assert ours.read_text().splitlines() == [
        "arrived_at,num_prefill_tokens,num_decode_tokens",
        "0.000000000,512,128",
        "1.500000001,512,128",
        "2.000000000,512,128",
    ]
    assert theirs.read_text().splitlines()[:2] == [
        "Date,Time,PromptTokenCount,CompletionTokenCount",
        f"{vidur.TRACE_DATE},0.000000000,512,128",
    ]


def test_matched_trace_reads_back_in_llmsim_exactly(tmp_path: Path) -> None:
    from llmsim.runtime.traces import read_trace

    arrivals = poisson_arrival_ns(50, 2.0, 1)
    ours, _ = write_matched_trace(tmp_path, "t", arrivals, 512, 128)
    data = read_trace(ours, "vidur")
    assert np.array_equal(data.arrival_ns, arrivals)
    assert set(data.prompt_tokens.tolist()) == {512} and set(data.output_tokens.tolist()) == {128}


def test_read_request_metrics(tmp_path: Path) -> None:
    (tmp_path / "request_metrics.csv").write_text(
        "Request Id,request_e2e_time,prefill_e2e_time,decode_time_execution_plus_preemption_normalized\n"
        "0,2.0,0.5,0.01\n1,4.0,1.5,0.03\n",
        encoding="utf-8",
    )
    metrics, finish = read_request_metrics(tmp_path, np.array([0.0, 10.0]))
    assert metrics["e2e_ms"]["mean"] == pytest.approx(3000.0)
    assert metrics["ttft_ms"]["p50"] == pytest.approx(1000.0)
    assert metrics["tpot_ms"]["mean"] == pytest.approx(20.0)
    assert finish.tolist() == [2.0, 14.0]


def test_args_match_the_documented_command(tmp_path: Path) -> None:
    args = Vidur().args("sarathi", tmp_path / "t.csv", tmp_path / "out")
    pairs = dict(zip(args[::2], args[1::2]))
    assert pairs["--replica_config_model_name"] == "meta-llama/Llama-2-70b-hf"
    assert pairs["--replica_config_tensor_parallel_size"] == "2"
    assert pairs["--replica_scheduler_config_type"] == "sarathi"
    assert pairs["--sarathi_scheduler_config_chunk_size"] == "512"
    assert pairs["--request_generator_config_type"] == "trace_replay"
    assert "--no-metrics_config_store_plots" in args
    vllm = Vidur().args("vllm", tmp_path / "t.csv", tmp_path / "out")
    assert "--vllm_scheduler_config_max_tokens_in_batch" in vllm


def test_missing_shared_data_gives_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vidur, "PROFILES", tmp_path / "nowhere")
    reason = Vidur(log=lambda s: None).prepare(install=False)
    assert reason is not None and "shared data missing" in reason


def test_matched_settings_name_every_dimension() -> None:
    names = {row[0] for row in MATCHED_SETTINGS}
    assert {"model", "device", "tensor parallel", "scheduler vllm", "scheduler sarathi", "arrivals", "lengths"} <= names
