"""One sweep point: check the spec at that point, compile it, simulate it, assemble its results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmsim.diagnostics import CompileError, Diagnostic, UserError


@dataclass(frozen=True)
class SweepJob:
    """What every worker needs to rebuild a spec: paths and `-D` arguments (all picklable)."""

    spec: Path
    include: tuple[Path, ...] = ()
    hwdb: tuple[Path, ...] = ()
    defines: tuple[str, ...] = ()


@dataclass
class PointOutcome:
    """A point's results document, or the diagnostics that stopped it."""

    index: int
    params: dict[str, str]
    doc: dict[str, Any] | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str = ""  # a user error outside the spec (an unreadable trace, ...)


def run_point(job: SweepJob, index: int | None) -> PointOutcome:
    """Run point `index` of the job's sweep (None: the spec without a sweep point)."""
    from llmsim.compiler import compile_spec
    from llmsim.hwdb.locate import default_paths
    from llmsim.lang import load_spec

    params: dict[str, str] = {}
    try:
        hwdb_paths = default_paths(list(job.hwdb))
        spec = load_spec(job.spec, search_paths=job.include, hwdb_paths=hwdb_paths, defines=job.defines, point=index)
        params = {name: p.value for name, p in spec.params.items() if p.origin == "sweep"}
        compiled = compile_spec(spec, hwdb_paths=hwdb_paths)
        doc = simulate_compiled(compiled)
    except CompileError as exc:
        return PointOutcome(index or 0, params, diagnostics=list(exc.diagnostics))
    except UserError as exc:
        return PointOutcome(index or 0, params, error=exc.render())
    doc["params"] = {name: p.value for name, p in spec.params.items()}
    doc["point"] = index
    return PointOutcome(index or 0, params, doc)


def simulate_compiled(compiled: Any, csv_path: Path | None = None) -> dict[str, Any]:
    """Simulate a compiled spec and return its results document, SLOs included."""
    from llmsim import slo
    from llmsim.report.results import results_document
    from llmsim.runtime import build_workload, simulate

    spec = compiled.spec
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    sim = spec.simulation
    start = time.perf_counter()
    # No per-request rows: the SLOs are tallied as requests complete.
    result = simulate(compiled.cluster, workloads, max_time_ns=sim.max_time_ns if sim else None, csv_path=csv_path,
                      keep_requests=False, slo_bounds=slo.bounds(spec.slos, list(spec.workloads)))
    wall_s = time.perf_counter() - start
    doc = results_document(compiled, result.summary(), wall_s)
    doc["slo"] = slo.evaluate(spec.slos, result, list(spec.workloads))
    return doc
