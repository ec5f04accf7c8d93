"""The regression check against recorded figures."""

from __future__ import annotations

from bench.regress import compare, is_slowdown, report


def _doc(cases: list[dict], cpu: str = "AMD EPYC") -> dict:
    return {"recorded": "2026-01-01 00:00 UTC", "machine": {"cpu": cpu}, "cases": cases}


def _case(name: str, wall: float, sim: float, **extra: object) -> dict:
    return {"name": name, "llmsim_wall_s": wall, "llmsim_sim_s": sim, "llmsim_sim_cpu_s": sim, **extra}


def test_noise_needs_both_the_relative_and_the_absolute_bar() -> None:
    assert not is_slowdown(1.0, 1.1)  # 10 %
    assert not is_slowdown(0.5, 0.65)  # 30 % but 0.15 s
    assert not is_slowdown(10.0, 11.4)  # 14 %
    assert is_slowdown(1.0, 1.3)
    assert is_slowdown(10.0, 12.0)


def test_report_lists_slowdowns_and_speedups() -> None:
    old = _doc([_case("a", 2.0, 1.0), _case("b", 10.0, 8.0), _case("c", 1.0, 0.5)])
    new = _doc([_case("a", 3.0, 1.9), _case("b", 5.0, 4.0), _case("d", 1.0, 1.0)])
    lines, slow = report(old, new)
    assert slow == 3  # a: wall, sim and sim CPU
    assert any(line.startswith("SLOWER  a") for line in lines)
    assert any(line.startswith("faster  b") for line in lines)
    assert "over 2 case(s)" in lines[-1]


def test_timed_out_cases_are_not_compared_and_workload_changes_are_noted() -> None:
    old = _doc([_case("a", 2.0, 1.0, rate_per_s=10.0), _case("t", 900.0, 899.0, timed_out=True)])
    new = _doc([_case("a", 2.0, 1.0, rate_per_s=11.0), _case("t", 100.0, 99.0)])
    changes = compare(old, new)
    assert {c.case for c in changes} == {"a"}
    assert all("rate 10/s -> 11/s" in c.note for c in changes)


def test_other_machine_is_flagged() -> None:
    lines, slow = report(_doc([], cpu="A"), _doc([], cpu="B"))
    assert slow == 0
    assert lines[0].startswith("note: the baseline ran on 'A'")


def test_process_wall_compared_by_kind_cached_with_cached_compiling_with_compiling() -> None:
    # baseline: --repeat 2 (first run compiles: 0.5 s; the cached one 0.2 s)
    old = _doc([_case("a", 0.2, 0.05, llmsim_cold_wall_s=0.5)])
    # --quick: one run per case, which compiles (0.55 s): no slowdown against the compiling 0.5 s
    quick = _doc([_case("a", 0.55, 0.05, llmsim_cold_wall_s=0.55)])
    changes = compare(old, quick)
    assert [(c.field, c.old_s, c.new_s) for c in changes if "wall" in c.field] == [("llmsim_cold_wall_s", 0.5, 0.55)]
    assert report(old, quick)[1] == 0
    # a cached run that got slower is caught
    slow = _doc([_case("a", 0.5, 0.05, llmsim_cold_wall_s=0.9)])
    walls = {c.field: c for c in compare(old, slow) if "wall" in c.field}
    assert walls["llmsim_wall_s"].slower and walls["llmsim_cold_wall_s"].slower


def test_a_baseline_from_before_the_cache_compares_with_the_compiling_run() -> None:
    old = _doc([_case("a", 0.6, 0.06)])  # no cold field: every run compiled
    new = _doc([_case("a", 0.2, 0.05, llmsim_cold_wall_s=0.5)])
    walls = [(c.field, c.old_s, c.new_s) for c in compare(old, new) if "wall" in c.field]
    assert walls == [("llmsim_cold_wall_s", 0.6, 0.5)]
