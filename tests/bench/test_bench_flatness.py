"""The per-step cost probe: windows by completions, wall time per event, the late/early ratio."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.flatness import StepCostProbe


def _feed(rows: list[tuple[float, int, int]]) -> StepCostProbe:
    """A probe that saw these (wall s, events, completed) samples."""
    walls = iter([wall for wall, _, _ in rows])
    probe = StepCostProbe(clock=lambda: next(walls))
    for _, events, completed in rows:
        probe(SimpleNamespace(events=events, completed=completed))
    return probe


def test_ratio_compares_the_two_windows() -> None:
    # 1,000 requests; 1 event costs 2 us early (10-30 % completed) and 3 us late (70-90 %)
    rows = [(0.0, 0, 0)]
    rows += [(1.0 + 2e-6 * i * 100, 1000 + i * 100, 100 + i * 50) for i in range(5)]  # 100..300
    rows += [(10.0 + 3e-6 * i * 100, 50_000 + i * 100, 700 + i * 50) for i in range(5)]  # 700..900
    probe = _feed(rows)
    out = probe.summary(1000)
    assert out is not None
    assert out["early_us_per_event"] == pytest.approx(2.0)
    assert out["late_us_per_event"] == pytest.approx(3.0)
    assert out["late_over_early"] == pytest.approx(1.5)
    assert out["samples"] == len(rows)


def test_too_short_a_run_gives_no_figure() -> None:
    assert _feed([(0.0, 0, 0), (0.1, 500, 150), (0.2, 900, 800)]).summary(1000) is None


def test_probe_runs_as_a_simulate_progress_callback() -> None:
    from llmsim.runtime.simulator import Progress

    probe = StepCostProbe()
    probe(Progress(5, 7, 3, 2, 0, 10, None, False))
    assert probe.samples[0][1:] == (7, 2)
