"""Replay a real run through the same compiler and runtime as `llmsimc` and compare the results."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsim.compiler import compile_spec
from llmsim.diagnostics import UserError
from llmsim.lang import load_spec
from llmsim.runtime import build_workload, simulate
from llmsim.validate.compare import (
    Row,
    compare,
    mean_abs_error,
    measured,
    overall_mae,
    simulated,
    timeline_error,
)
from llmsim.validate.run_dir import RunDir, load_run
from llmsim.validate.spec_gen import write_spec


@dataclass
class ValidationReport:
    run: RunDir
    spec_text: str
    compiled: Any
    result: Any
    rows: list[Row]
    timeline: dict[str, Any] | None
    wall_s: float

    @property
    def mae(self) -> dict[str, float | None]:
        return mean_abs_error(self.rows)

    @property
    def overall_mae(self) -> float:
        return overall_mae(self.rows)

    def samples(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Measured and simulated per-request samples (ms) and queue timelines, for the HTML report."""
        meas, sim = measured(self.run), simulated(self.result)
        names = {"ttft": "ttft_ms", "tpot": "tpot_ms", "latency": "e2e_ms"}
        m = {names[k]: v.tolist() for k, v in meas.items()}
        s = {names[k]: v.tolist() for k, v in sim.items()}
        if self.timeline is not None:
            t_s = list(range(1, self.timeline["seconds"] + 1))
            m["timeline"] = {"t_s": t_s, **self.timeline["measured"]}
            s["timeline"] = {"t_s": t_s, **self.timeline["simulated"]}
        return m, s

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "run": str(self.run.path),
            "rows": [r.to_json() for r in self.rows],
            "mean_abs_error_pct": self.mae,
            "overall_mean_abs_error_pct": self.overall_mae,
            "hardware": [h.to_json() for h in self.compiled.hardware],
            "fallbacks": self.compiled.fallbacks,
            "sim": {**self.result.summary()["sim"], "wall_s": self.wall_s},
        }
        if self.timeline is not None:
            doc["timeline"] = {k: v for k, v in self.timeline.items() if k not in ("measured", "simulated")}
        return doc


def validate(run_dir: Path, *, hwdb_paths: Sequence[Path] | None = None,
             spec_dir: Path | None = None) -> ValidationReport:
    """Simulate a run; `spec_dir` keeps the generated spec and trace (otherwise a temporary folder)."""
    run = load_run(run_dir)
    with tempfile.TemporaryDirectory(prefix="llmsim-validate-") as tmp:
        folder = spec_dir if spec_dir is not None else Path(tmp)
        spec_path = write_spec(run, folder, hwdb_paths)
        spec_text = spec_path.read_text(encoding="utf-8")
        spec = load_spec(spec_path, hwdb_paths=hwdb_paths)
        compiled = compile_spec(spec, hwdb_paths=hwdb_paths)
        workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
        start = time.perf_counter()
        result = simulate(compiled.cluster, workloads)
        wall_s = time.perf_counter() - start
    summary = result.summary()["requests"]
    if summary["completed"] != len(run.requests):
        raise UserError(
            f"the simulation completed {summary['completed']} of the run's {len(run.requests)} requests "
            f"({summary['rejected']} rejected)",
            help="the simulated instance cannot serve every request of this run; check max_model_len and "
            "the KV capacity in the generated spec (--emit-spec)",
        )
    return ValidationReport(run, spec_text, compiled, result, compare(run, result), timeline_error(run, result), wall_s)
