"""Whether a step costs more late in a run than early: issue 8's "per-step cost independent of how
many requests have completed", as a standing figure of every long case instead of a one-off script.

The worker hands `StepCostProbe` to `simulate(progress=...)`, which calls it about every 0.1 s of
wall-clock time (between slices of simulated time, outside the event loop: the slicing costs no
measurable time). Each call records the wall clock, the engine's events and the completed requests.
The probe then compares the wall time per event over two windows of the same length in completions,
both past the ramp-up and before the drain: from 10 % to 30 % of the requests completed, and from
70 % to 90 %. A ratio near 1 says that what grows with history (completed requests, their rows, the
gaps recorded) does not slow the step loop down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

EARLY = (0.10, 0.30)  # windows, as fractions of the requests completed
LATE = (0.70, 0.90)
MIN_SAMPLES_PER_WINDOW = 3  # fewer progress calls than this in a window: too short a run to tell


class StepCostProbe:
    """A `simulate` progress callback that samples (wall s, events, completed requests)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.samples: list[tuple[float, int, int]] = []

    def __call__(self, progress: Any) -> None:
        self.samples.append((self.clock(), int(progress.events), int(progress.completed)))

    def summary(self, total_requests: int) -> dict[str, Any] | None:
        """Wall microseconds per event in the early and late windows and their ratio (late / early);
        None when the run was too short for both windows to hold enough samples."""
        early = self._window(EARLY, total_requests)
        late = self._window(LATE, total_requests)
        if early is None or late is None:
            return None
        return {"early_us_per_event": early, "late_us_per_event": late, "late_over_early": late / early,
                "windows": {"early": list(EARLY), "late": list(LATE)}, "samples": len(self.samples)}

    def _window(self, bounds: tuple[float, float], total: int) -> float | None:
        lo, hi = (int(f * total) for f in bounds)
        inside = [s for s in self.samples if lo <= s[2] <= hi]
        if len(inside) < MIN_SAMPLES_PER_WINDOW:
            return None
        (t0, e0, _), (t1, e1, _) = inside[0], inside[-1]
        if e1 <= e0:
            return None
        return (t1 - t0) * 1e6 / (e1 - e0)
