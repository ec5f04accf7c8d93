"""Backends that run sweep points: local processes (default) or Ray tasks."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from llmsim.diagnostics import UserError
from llmsim.sweep.point import PointOutcome, SweepJob, run_point

BACKENDS = ("local", "ray")

Progress = Callable[[PointOutcome], None]


def run_sweep(
    job: SweepJob,
    points: Sequence[int],
    *,
    backend: str = "local",
    jobs: int | None = None,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> list[PointOutcome]:
    """Run `points` of the job's sweep; the outcomes come back in the order of `points`."""
    if backend == "ray":
        from llmsim.sweep.ray_backend import run_on_ray

        outcomes = run_on_ray(job, points, address=ray_address, jobs=jobs)
        for outcome in outcomes:
            if progress is not None:
                progress(outcome)
        return outcomes
    if backend != "local":
        raise UserError(f"unknown backend `{backend}`", help="use `--backend local` or `--backend ray`")
    workers = max(1, min(jobs or os.cpu_count() or 1, len(points)))
    if workers == 1:
        out = []
        for i in points:
            outcome = run_point(job, i)
            if progress is not None:
                progress(outcome)
            out.append(outcome)
        return out
    from concurrent.futures import ProcessPoolExecutor  # here: ~10 ms of imports llmsimc needs only for sweeps

    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_point, job, i) for i in points]
        out = []
        for future in futures:  # in point order, whatever order they finish in
            outcome = future.result()
            if progress is not None:
                progress(outcome)
            out.append(outcome)
        return out
