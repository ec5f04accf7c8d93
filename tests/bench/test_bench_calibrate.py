"""Saturation throughput and rates (arithmetic only)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.calibrate import calibration_requests, poisson_rate, steady_throughput
from bench.cases import LLAMA_8B, VIDUR_VLLM


def test_steady_throughput_ignores_ramp_and_drain() -> None:
    steady = np.arange(100) * 0.5  # 2 completions per second
    ramp = np.array([100.0, 200.0])  # a slow drain after the steady part
    assert steady_throughput(steady) == pytest.approx(2.0)
    # The drain moves the 80th percentile a little; the measured rate stays close to 2/s.
    assert steady_throughput(np.concatenate([steady, ramp])) == pytest.approx(2.0, rel=0.05)


def test_steady_throughput_needs_spread_samples() -> None:
    with pytest.raises(ValueError):
        steady_throughput(np.arange(5.0))
    with pytest.raises(ValueError):
        steady_throughput(np.zeros(50))


def test_poisson_rate_scales_with_instances_and_load() -> None:
    assert poisson_rate(10.0, 8, 0.9) == pytest.approx(72.0)
    with pytest.raises(ValueError):
        poisson_rate(10.0, 1, 0.0)


def test_calibration_requests() -> None:
    assert calibration_requests(LLAMA_8B) == 1536
    assert calibration_requests(VIDUR_VLLM) == 1500
