"""Timing one operator: warm-up, repeated runs, median; synchronised on CUDA."""

from __future__ import annotations

import time
from collections.abc import Callable
from statistics import median
from typing import Any

MIN_SAMPLES = 5
NOISY = 1.5  # max/min of the first samples above which a point is sampled three times as long


class Timer:
    """Times callables on one torch device. The median of several runs after warm-up, because a
    single run on a shared machine (CPU frequency, other processes) is an outlier often enough."""

    def __init__(self, torch: Any, device: str, min_seconds: float, max_repeats: int, warmup: int = 2):
        self.torch = torch
        self.cuda = device.startswith("cuda")
        self.min_seconds = min_seconds
        self.max_repeats = max_repeats
        self.warmup = warmup

    def _sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def once(self, fn: Callable[[], Any]) -> float:
        self._sync()
        t0 = time.perf_counter()
        fn()
        self._sync()
        return time.perf_counter() - t0

    def median_us(self, fn: Callable[[], Any], setup: Callable[[], Any] | None = None) -> float:
        """Median time of `fn()` in microseconds; `setup()` runs untimed before every call."""
        with self.torch.inference_mode():
            spent = 0.0
            for _ in range(self.warmup):  # a slow kernel needs one warm-up run, not several
                if setup:
                    setup()
                spent += self.once(fn)
                if spent > self.min_seconds:
                    break
            times: list[float] = []
            limit = self.max_repeats
            while len(times) < MIN_SAMPLES or (sum(times) < self.min_seconds and len(times) < limit):
                if setup:
                    setup()
                times.append(self.once(fn))
                # a noisy point (other processes on the machine) gets more samples before its median
                if len(times) == MIN_SAMPLES and max(times) > NOISY * min(times):
                    limit = self.max_repeats * 3
        return median(times) * 1e6
