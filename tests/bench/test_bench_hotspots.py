"""Reading py-spy's collapsed stacks."""

from __future__ import annotations

from bench.hotspots import collapse

SIM = "<module> (bench/worker.py:1);simulate (llmsim/runtime/simulator.py:200)"
RUN = "run (llmsim/runtime/engine.py"


def test_collapse_counts_own_and_inclusive_inside_simulate() -> None:
    lines = [
        f"{SIM};{RUN}:50);schedule (llmsim/runtime/scheduler.py:70) 6",
        f"{SIM};{RUN}:51);schedule (llmsim/runtime/scheduler.py:90) 2",
        f"{SIM};{RUN}:52) 2",
        "<module> (bench/worker.py:1);compile_spec (llmsim/compiler/pipeline.py:10) 50",
        "garbage",
    ]
    own, inclusive, total = collapse(lines)
    assert total == 10
    assert own["schedule (llmsim/runtime/scheduler.py)"] == 8
    assert own["run (llmsim/runtime/engine.py)"] == 2
    assert inclusive["run (llmsim/runtime/engine.py)"] == 10
    assert "compile_spec (llmsim/compiler/pipeline.py)" not in inclusive
