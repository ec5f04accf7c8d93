"""Progress: the simulator's callback and the terminal bar (terminal only, after a second)."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from llmsim.cli.llmsimc import main
from llmsim.report.progress import ProgressBar
from llmsim.runtime import BatchShape, ClusterSpec, InstanceSpec, RouterSpec, simulate
from llmsim.runtime.simulator import Progress
from llmsim.runtime.workload import Workload

from .conftest import QUICKSTART


class Cost:
    def step_time_ns(self, batch: BatchShape) -> int:
        return 1_000_000 + 10_000 * batch.num_tokens


def _cluster() -> ClusterSpec:
    spec = InstanceSpec("main[0]", "main", Cost(), num_kv_blocks=1000, block_size=16, max_num_seqs=16,
                        max_num_batched_tokens=256, chunked_prefill=True, long_prefill_token_threshold=0,
                        max_model_len=4096, prefix_caching=False)
    return ClusterSpec((spec,), {"r": RouterSpec("r", "round_robin", (0,))})


def _workload(n: int = 300) -> Workload:
    arrivals = (np.arange(n) * 20_000_000).astype(np.int64)
    return Workload("w", np.full(n, 200, dtype=np.int64), np.full(n, 30, dtype=np.int64), arrivals)


def _sim(**kw):
    return simulate(_cluster(), [(_workload(), "r")], **kw)


def test_progress_reports_end_with_done_and_do_not_change_results():
    reports: list[Progress] = []
    with_progress = _sim(progress=reports.append)
    plain = _sim()
    assert with_progress.summary() == plain.summary()
    assert np.array_equal(with_progress.timeline.sums["steps"], plain.timeline.sums["steps"])
    assert reports[-1].done and not any(r.done for r in reports[:-1])
    assert reports[-1].completed == reports[-1].total_requests == 300
    assert [r.simulated_ns for r in reports] == sorted(r.simulated_ns for r in reports)
    assert reports[-1].events == plain.events


def test_progress_stops_at_max_time():
    reports: list[Progress] = []
    result = _sim(progress=reports.append, max_time_ns=1_000_000_000)
    assert result.summary() == _sim(max_time_ns=1_000_000_000).summary()
    assert reports[-1].done and reports[-1].simulated_ns <= 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _report(done: bool = False) -> Progress:
    return Progress(5_000_000_000, 12_000, 120, 100, 0, 300, None, done)


def test_the_bar_waits_a_second_then_shows_time_requests_and_events_per_second():
    buf = io.StringIO()
    clock = Clock()
    bar = ProgressBar(Console(file=buf, force_terminal=True, width=120), clock=clock)
    bar(_report())
    assert bar.updates == 0
    clock.now = 2.0
    bar(_report())
    bar(_report(done=True))
    bar.close()
    out = buf.getvalue()
    assert bar.updates == 2
    assert "5.0 s simulated" in out and "100/300 requests done" in out and "6,000 events/s" in out


def test_the_bar_stays_quiet_off_a_terminal():
    buf = io.StringIO()
    clock = Clock()
    bar = ProgressBar(Console(file=buf, force_terminal=False), clock=clock)
    clock.now = 5.0
    bar(_report())
    assert not bar.enabled and bar.updates == 0 and buf.getvalue() == ""


def test_llmsimc_prints_no_progress_when_output_is_captured(capsys):
    assert main([str(QUICKSTART)]) == 0
    out = capsys.readouterr().out
    assert "simulating" not in out and "events/s" not in out
