"""Arrival rates "near saturation", from short saturation runs.

An instance's saturation throughput is measured, not guessed: a closed loop of `max_num_seqs` clients
with no think time keeps one instance as full as its scheduler and KV cache allow; the throughput is
the completions per second between the 20th and the 80th percentile completion (the steady part,
without the ramp-up and the drain). A case's Poisson rate is `load` (0.9 by default) x that
throughput x its number of instances. (Vidur-matched cases use a fixed rate instead: see
`bench/cli.py`, MATCHED_RATE_PER_S.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.cases import DATA_DIR, Setup, calibration_spec_text
from bench.runner import Runner

LOW_Q, HIGH_Q = 0.2, 0.8


def steady_throughput(finish_s: np.ndarray) -> float:
    """Completions per second between the 20th and 80th percentile completion times."""
    t = np.sort(np.asarray(finish_s, dtype=np.float64))
    if len(t) < 10:
        raise ValueError(f"need at least 10 completions to measure a throughput, got {len(t)}")
    lo, hi = int(LOW_Q * (len(t) - 1)), int(HIGH_Q * (len(t) - 1))
    span = t[hi] - t[lo]
    if span <= 0:
        raise ValueError("completions do not spread over time: no throughput to measure")
    return (hi - lo) / span


@dataclass(frozen=True)
class Calibration:
    setup_key: str
    lengths: str
    requests: int
    throughput_per_s: float  # one instance, saturated
    wall_s: float


def calibration_requests(setup: Setup) -> int:
    """Enough requests for a steady middle: six times the clients, at least 1,500."""
    return max(1500, 6 * setup.max_num_seqs)


def calibrate_llmsim(runner: Runner, setup: Setup, lengths: str, folder: Path) -> Calibration:
    """Saturation throughput of one instance of `setup`, simulated by llmsim in a worker."""
    n = calibration_requests(setup)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"calibrate-{setup.key}.llms"
    path.write_text(calibration_spec_text(setup, n, lengths), encoding="utf-8")
    doc, m = runner.job({"kind": "calibrate", "spec": str(path), "include": [str(DATA_DIR)]}, folder, timeout_s=None)
    assert doc is not None
    return Calibration(setup.key, lengths, n, float(doc["throughput_per_s"]), m.wall_s)


def poisson_rate(throughput_per_s: float, instances: int, load: float) -> float:
    """The cluster-wide Poisson rate for `load` x saturation on `instances` instances."""
    if not load > 0:
        raise ValueError(f"load must be positive, got {load}")
    return load * throughput_per_s * instances
