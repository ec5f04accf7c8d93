"""Sweep backends: local processes and Ray give the same documents, in point order."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from llmsim.diagnostics import UserError
from llmsim.sweep import SweepJob, run_point, run_sweep

SPEC = """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
param rate = 10/s
param tp   = 1
model llama { catalog = "Llama-3.1-8B" }
pool main { model = llama  hardware = h100  tp = tp }
workload chat { requests = 20  arrival = poisson(rate = rate)  lengths = dataset("sharegpt")  seed = 3 }
sweep { rate = [5/s, 40/s]  tp = [1, 3] }
"""


@pytest.fixture
def job(tmp_path: Path) -> SweepJob:
    path = tmp_path / "s.llms"
    path.write_text(SPEC)
    return SweepJob(path)


def _strip(outcomes):
    out = []
    for o in outcomes:
        doc = dict(o.doc) if o.doc else None
        if doc:
            doc["sim"] = {k: v for k, v in doc["sim"].items() if k != "wall_s"}
        out.append((o.index, o.params, doc, [d.render() for d in o.diagnostics]))
    return out


def test_points_report_their_params_and_failures(job: SweepJob):
    outcomes = run_sweep(job, range(4), jobs=1)
    assert [o.params for o in outcomes] == [
        {"rate": "5/s", "tp": "1"},
        {"rate": "5/s", "tp": "3"},
        {"rate": "40/s", "tp": "1"},
        {"rate": "40/s", "tp": "3"},
    ]
    ok = [o.doc is not None for o in outcomes]
    assert ok == [True, False, True, False]  # tp = 3 does not divide Llama's 32 heads
    (d,) = outcomes[1].diagnostics
    assert d.summary.startswith("tensor parallelism") or "tp" in d.render()
    assert outcomes[0].doc["params"] == {"rate": "5/s", "tp": "1"}


def test_local_processes_match_a_single_process(job: SweepJob):
    serial = run_sweep(job, [0, 2], jobs=1)
    parallel = run_sweep(job, [0, 2], jobs=2)
    assert _strip(serial) == _strip(parallel)
    assert _strip([run_point(job, 2)]) == _strip(serial[1:])


def test_unknown_backend(job: SweepJob):
    with pytest.raises(UserError):
        run_sweep(job, [0], backend="slurm")


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the `ray` extra is not installed")
def test_ray_backend_matches_local(job: SweepJob):
    local = run_sweep(job, [0, 2], jobs=1)
    on_ray = run_sweep(job, [0, 2], backend="ray", jobs=2)
    assert _strip(on_ray) == _strip(local)
