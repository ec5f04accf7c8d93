"""Sweep points as Ray tasks, on an existing cluster (`--ray-address`) or a local one.

Needs the optional `ray` extra (`pip install 'llmsim[ray]'`); on an existing cluster, llmsim and the
spec's files must be installed and readable at the same paths on every node.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmsim.diagnostics import UserError
from llmsim.sweep.point import PointOutcome, SweepJob, run_point


def run_on_ray(
    job: SweepJob, points: Sequence[int], *, address: str | None = None, jobs: int | None = None
) -> list[PointOutcome]:
    try:
        import ray
    except ImportError:
        raise UserError(
            "the Ray backend needs Ray, which is not installed",
            help="install the extra: `pip install 'llmsim[ray]'`, or use `--backend local`",
        ) from None
    started = not ray.is_initialized()
    if started:
        options: dict[str, object] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if address is None and jobs is not None:
            options["num_cpus"] = jobs
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot connect to Ray at `{address}`: {exc}" if address else f"cannot start Ray: {exc}",
                help="check `--ray-address`, or leave it out to start a local Ray",
            ) from None
    try:
        task = ray.remote(run_point)
        refs = [task.remote(job, i) for i in points]
        return list(ray.get(refs))  # in point order
    finally:
        if started:
            ray.shutdown()
