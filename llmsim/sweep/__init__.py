"""Sweeps: run every point of a spec's `sweep` block, in parallel, and collect one table of results.

    job = SweepJob(spec_path, include=[...], hwdb=[...], defines=["seed=3"])
    points = run_sweep(job, range(job_points), backend="local", jobs=4)   # ordered by point

Each point is checked, compiled and simulated in a worker from the spec's path and the point's index
(`llmsim.sweep.point.run_point`), so workers need nothing but the files; results come back in point
order whatever order the workers finish in, and a point gives the same document on any backend.
"""

from __future__ import annotations

from llmsim.sweep.point import PointOutcome, SweepJob, run_point
from llmsim.sweep.runner import BACKENDS, run_sweep

__all__ = ["BACKENDS", "PointOutcome", "SweepJob", "run_point", "run_sweep"]
