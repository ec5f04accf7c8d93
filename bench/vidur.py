"""Vidur side by side: its own virtual environment, its offline profiles, runs as subprocesses.

Vidur (Microsoft, MLSys 2024, MIT; PyPI `vidur`) is never a dependency of llmsim. The bench installs
`vidur==0.0.26` into `.bench-cache/vidur-venv` with pip, stages the measured profiles shipped in
`shared/data/peers/vidur/profiling_data` as `.bench-cache/vidur-work/.vidur_cache/profiling_data`
(the Hugging Face cache layout Vidur reads offline), and runs `bench/vidur_driver.py` (Vidur's
`vidur.main` plus phase timings) from that working folder. The trained predictors are cached there,
so only the first run ever trains them.

The only complete profiles are Llama-2-70B at TP2 on one A100-80GB with the a100_dgx network, so
that is the matched setup. Both simulators replay the same generated trace (identical arrival times
and lengths): Vidur through its `trace_replay` request generator, llmsim through `trace = vidur(...)`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.cases import REPO_ROOT, SHARED_DATA
from bench.measure import Measured, run_measured

VIDUR_VERSION = "0.0.26"
CACHE_DIR = REPO_ROOT / ".bench-cache"
VENV_DIR = CACHE_DIR / "vidur-venv"
WORK_DIR = CACHE_DIR / "vidur-work"
PROFILES = SHARED_DATA / "peers" / "vidur" / "profiling_data"
DRIVER = Path(__file__).resolve().parent / "vidur_driver.py"
TRACE_DATE = "2023-08-21"  # Vidur's trace_replay keeps rows of one date; any fixed date will do
MAX_TOKENS = 4096  # Vidur's per-request token limit (prompt + output), Llama-2's context
INSTALL_TIMEOUT_S = 1200

MODEL_ARGS = [
    "--replica_config_model_name", "meta-llama/Llama-2-70b-hf",
    "--replica_config_device", "a100",
    "--replica_config_network_device", "a100_dgx",
    "--replica_config_tensor_parallel_size", "2",
    "--replica_config_num_pipeline_stages", "1",
    "--execution_time_predictor_config_type", "random_forrest",
    "--random_forrest_execution_time_predictor_config_model_profiling_dataset", "local/llama2-70b-a100",
    "--random_forrest_execution_time_predictor_config_network_profiling_dataset", "local/a100-dgx",
    "--random_forrest_execution_time_predictor_config_num_estimators", "250",
    "--random_forrest_execution_time_predictor_config_max_depth", "16",
    "--random_forrest_execution_time_predictor_config_min_samples_split", "2",
    "--random_forrest_execution_time_predictor_config_k_fold_cv_splits", "2",
    "--random_forrest_execution_time_predictor_config_prediction_max_tokens_per_request", str(MAX_TOKENS),
    "--random_forrest_execution_time_predictor_config_kv_cache_prediction_granularity", "64",
]
SCHEDULER_ARGS = {
    "vllm": ["--replica_scheduler_config_type", "vllm", "--vllm_scheduler_config_batch_size_cap", "128",
             "--vllm_scheduler_config_max_tokens_in_batch", "4096"],
    "sarathi": ["--replica_scheduler_config_type", "sarathi", "--sarathi_scheduler_config_batch_size_cap", "128",
                "--sarathi_scheduler_config_chunk_size", "512"],
}
# Vidur's optional outputs that llmsim does not produce are off; its request metrics stay on.
OUTPUT_ARGS = ["--no-metrics_config_store_plots", "--no-metrics_config_enable_chrome_trace"]

# What the matched cases hold equal, and how (printed by the bench).
MATCHED_SETTINGS = (
    ("model", "Llama-2-70B (bench/data/models/Llama-2-70b-hf.json)", "meta-llama/Llama-2-70b-hf", "same config"),
    ("device", "{hardware}", "a100, a100_dgx network, profiles measured on A100-80GB", "{device_note}"),
    ("tensor parallel", "tp = 2", "tensor_parallel_size 2, 1 pipeline stage", "equal"),
    ("scheduler vllm", "max_num_seqs 128, max_num_batched_tokens 4096, chunked_prefill false",
     "vllm: batch_size_cap 128, max_tokens_in_batch 4096", "Vidur defaults, as llmsim settings"),
    ("scheduler sarathi", "max_num_seqs 128, max_num_batched_tokens 512, chunked_prefill true",
     "sarathi: batch_size_cap 128, chunk_size 512", "chunk size = token budget per step"),
    ("KV cache", "block_size 16, num_blocks = Vidur's, prefix caching off",
     "block_size 16, memory planner (0.9 of 80 GB less weights)", "same block count, from Vidur's planner"),
    ("arrivals", "trace = vidur(generated CSV), arrival = trace()",
     "trace_replay of the same rows, time_scale 1", "identical times (Poisson, fixed rate, seed 42)"),
    ("lengths", "512 prompt + 128 output tokens", "512 prefill + 128 decode tokens", "identical"),
    ("requests", "N", "N", "identical"),
)


@dataclass
class VidurRun:
    """One measured Vidur run."""

    measured: Measured
    phases: dict[str, Any] | None  # from the driver: import_s, init_s, loop_s, write_s, events, ...
    metrics: dict[str, dict[str, float]] | None  # ttft_ms, tpot_ms, e2e_ms: mean, p50, p99
    completed: int | None
    error: str | None = None


def write_matched_trace(folder: Path, stem: str, arrival_ns: np.ndarray, prompt: int, output: int) -> tuple[Path, Path]:
    """The same requests in llmsim's Vidur CSV reader format and in Vidur's trace_replay format.

    Times are written exactly to the nanosecond (`seconds.nnnnnnnnn`) in both files.
    """
    llmsim_csv = folder / f"{stem}.llmsim.csv"
    vidur_csv = folder / f"{stem}.vidur.csv"
    times = [f"{int(t) // 1_000_000_000}.{int(t) % 1_000_000_000:09d}" for t in arrival_ns]
    with open(llmsim_csv, "w", encoding="utf-8", newline="") as f:
        f.write("arrived_at,num_prefill_tokens,num_decode_tokens\n")
        f.writelines(f"{t},{prompt},{output}\n" for t in times)
    with open(vidur_csv, "w", encoding="utf-8", newline="") as f:
        f.write("Date,Time,PromptTokenCount,CompletionTokenCount\n")
        f.writelines(f"{TRACE_DATE},{t},{prompt},{output}\n" for t in times)
    return llmsim_csv, vidur_csv


def poisson_arrival_ns(n: int, rate_per_s: float, seed: int) -> np.ndarray:
    """First at 0, then exponential gaps of mean 1/rate, rounded to ns (as llmsim's workloads do)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    gaps = np.rint(rng.exponential(scale=1e9 / rate_per_s, size=max(n - 1, 0))).astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    np.cumsum(gaps, out=out[1:])
    return out


def _stats_ms(values_s: list[float]) -> dict[str, float]:
    a = np.asarray(values_s, dtype=np.float64) * 1e3
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}


def read_request_metrics(output_dir: Path, arrival_s: np.ndarray) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """TTFT, TPOT and end-to-end latency statistics (ms) and completion times (s) from Vidur's CSV.

    Vidur numbers requests in arrival order; `arrival_s` (the replayed trace) gives their arrivals.
    """
    path = output_dir / "request_metrics.csv"
    ttft, tpot, e2e, finish = [], [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            ttft.append(float(row["prefill_e2e_time"]))
            tpot.append(float(row["decode_time_execution_plus_preemption_normalized"]))
            e2e.append(float(row["request_e2e_time"]))
            finish.append(float(arrival_s[int(row["Request Id"])]) + e2e[-1])
    if not e2e:
        raise ValueError(f"{path} has no rows")
    metrics = {"ttft_ms": _stats_ms(ttft), "tpot_ms": _stats_ms(tpot), "e2e_ms": _stats_ms(e2e)}
    return metrics, np.asarray(finish, dtype=np.float64)


class Vidur:
    """The Vidur installation the bench uses; `prepare()` first, then `plan`, `run`."""

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.python = VENV_DIR / "bin" / "python"
        self.work = WORK_DIR

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(HF_HUB_OFFLINE="1", WANDB_MODE="disabled", PYTHONHASHSEED="0")
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # warm runs, as for llmsim (pip compiled Vidur already)
        return env

    def installed_version(self) -> str | None:
        if not self.python.exists():
            return None
        proc = subprocess.run(
            [str(self.python), "-c", "import importlib.metadata as m; print(m.version('vidur'))"],
            capture_output=True, text=True, env=self._env(), check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def prepare(self, install: bool = True) -> str | None:
        """Make Vidur runnable; the reason it cannot run, or None when it can."""
        if not (PROFILES / "compute").is_dir() or not (PROFILES / "network").is_dir():
            return f"Vidur profiles not found at {PROFILES} (shared data missing)"
        version = self.installed_version()
        if version != VIDUR_VERSION:
            if not install:
                return f"vidur {VIDUR_VERSION} is not installed in {VENV_DIR} (run without --no-install)"
            self.log(f"installing vidur=={VIDUR_VERSION} into {VENV_DIR} (once; about 90 s) ...")
            VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
            log_path = CACHE_DIR / "vidur-install.log"
            with open(log_path, "w", encoding="utf-8") as log:
                steps = [[sys.executable, "-m", "venv", str(VENV_DIR)],
                         [str(self.python), "-m", "pip", "install", "-q", f"vidur=={VIDUR_VERSION}"]]
                for cmd in steps:
                    try:
                        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S,
                                              check=False)
                    except subprocess.TimeoutExpired:
                        return f"installing vidur timed out after {INSTALL_TIMEOUT_S} s (see {log_path})"
                    if proc.returncode != 0:
                        what = " ".join(cmd[-3:])
                        return f"installing vidur failed: `{what}` exited {proc.returncode} (see {log_path})"
            if self.installed_version() != VIDUR_VERSION:
                return f"vidur {VIDUR_VERSION} did not install (see {log_path})"
        staged = self.work / ".vidur_cache" / "profiling_data"
        if not (staged / "compute").is_dir() or not (staged / "network").is_dir():
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(PROFILES, staged, dirs_exist_ok=True)
        (self.work / "out").mkdir(parents=True, exist_ok=True)
        return None

    def args(self, scheduler: str, trace: Path, out_dir: Path) -> list[str]:
        """Vidur's command-line arguments for replaying every row of `trace` with `scheduler`."""
        return [
            *MODEL_ARGS,
            *SCHEDULER_ARGS[scheduler],
            "--request_generator_config_type", "trace_replay",
            "--trace_request_generator_config_trace_file", str(trace),
            "--trace_request_generator_config_date", TRACE_DATE,
            "--trace_request_generator_config_prefill_scale_factor", "1",
            "--trace_request_generator_config_decode_scale_factor", "1",
            "--trace_request_generator_config_time_scale_factor", "1",
            "--trace_request_generator_config_max_tokens", str(MAX_TOKENS),
            *OUTPUT_ARGS,
            "--metrics_config_output_dir", str(out_dir),
        ]

    def _driver(self, tag: str, vidur_args: list[str], timeout_s: float | None, plan: bool = False
                ) -> tuple[Measured, dict[str, Any] | None, str | None]:
        out_json = self.work / "out" / f"{tag}.json"
        out_json.unlink(missing_ok=True)
        cmd = [str(self.python), str(DRIVER), str(out_json), *(["--plan"] if plan else []), "--", *vidur_args]
        stdout, stderr = self.work / "out" / f"{tag}.stdout", self.work / "out" / f"{tag}.stderr"
        m = run_measured(cmd, cwd=self.work, stdout=stdout, stderr=stderr, timeout_s=timeout_s, env=self._env())
        if m.killed:
            return m, None, f"timed out at {timeout_s:.0f} s"
        if m.returncode != 0 or not out_json.exists():
            tail = stderr.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            return m, None, f"vidur exited {m.returncode}: {' | '.join(tail)}"
        return m, json.loads(out_json.read_text(encoding="utf-8")), None

    def plan(self, scheduler: str, trace: Path) -> dict[str, Any]:
        """Vidur's KV cache for this setup: num_blocks, kv_tokens, block_size, ..."""
        _, doc, err = self._driver(f"plan-{scheduler}", self.args(scheduler, trace, self.work / "out" / "plan"),
                                   timeout_s=300, plan=True)
        if err is not None or doc is None:
            raise RuntimeError(f"Vidur memory plan failed: {err}")
        return doc

    def run(self, tag: str, scheduler: str, trace: Path, arrival_s: np.ndarray, timeout_s: float | None
            ) -> VidurRun:
        """Replay `trace` (arrivals `arrival_s`) with `scheduler`; measured as a whole process."""
        out_dir = self.work / "out" / tag
        shutil.rmtree(out_dir, ignore_errors=True)
        m, phases, err = self._driver(tag, self.args(scheduler, trace, out_dir), timeout_s)
        if err is not None or phases is None:
            return VidurRun(m, None, None, None, err)
        try:
            metrics, finish = read_request_metrics(Path(phases["output_dir"]), arrival_s)
        except (OSError, KeyError, ValueError) as exc:
            return VidurRun(m, phases, None, None, f"cannot read Vidur's request metrics: {exc}")
        shutil.rmtree(out_dir, ignore_errors=True)
        return VidurRun(m, phases, metrics, len(finish))
