"""The regression check: this run against the last recorded figures (`bench/baseline.json`).

A case is slower "beyond noise" when its time grew by more than 15 % AND by more than 0.2 s: the
relative bar absorbs run-to-run jitter of long cases, the absolute bar that of short ones (process
start, imports and compilation alone vary by a tenth of a second on a busy machine). The whole
process wall time, the simulation's wall time and the simulation's CPU time are compared (CPU time
is the least disturbed by other load on the machine). Figures from another machine are compared
too, with a warning, since the ratio still tells a story.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REL_NOISE = 0.15
ABS_NOISE_S = 0.2
FIELDS = ("llmsim_sim_s", "llmsim_sim_cpu_s")  # compared as they are; the process wall time by kind:


def process_walls(case: dict[str, Any]) -> dict[str, float]:
    """The case's whole-process wall times by kind: `llmsim_cold_wall_s`, the run that compiled its
    spec, and `llmsim_wall_s`, a run that read it from the compiled-spec cache, when there was one.
    A run with the cache warm is only compared with another such run, a compiling run with a
    compiling one (so `--quick`, one compiling run per case, is not judged against a baseline of
    cached runs). The fastest of `--repeat N` is a cached run unless it is the first, compiling one;
    a case from before the cache existed has only compiling runs."""
    wall = case.get("llmsim_wall_s")
    cold = case.get("llmsim_cold_wall_s")
    out: dict[str, float] = {}
    if cold is None:
        if isinstance(wall, int | float):
            out["llmsim_cold_wall_s"] = float(wall)
        return out
    out["llmsim_cold_wall_s"] = float(cold)
    if isinstance(wall, int | float) and wall != cold:
        out["llmsim_wall_s"] = float(wall)
    return out


@dataclass(frozen=True)
class Change:
    case: str
    field: str
    old_s: float
    new_s: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.new_s / self.old_s if self.old_s > 0 else float("inf")

    @property
    def slower(self) -> bool:
        return is_slowdown(self.old_s, self.new_s)

    @property
    def faster(self) -> bool:
        return is_slowdown(self.new_s, self.old_s)


def is_slowdown(old_s: float, new_s: float) -> bool:
    """Whether `new_s` is slower than `old_s` by more than the noise (15 % and 0.2 s)."""
    return new_s > old_s * (1 + REL_NOISE) and new_s - old_s > ABS_NOISE_S


def load_baseline(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> list[Change]:
    """Every comparable figure of the cases both runs have, in the current run's order.

    A case that timed out in either run has no time to compare and is skipped; a changed workload
    (another calibrated arrival rate) is noted on the change.
    """
    old = {c["name"]: c for c in baseline.get("cases", [])}
    out: list[Change] = []
    for case in current.get("cases", []):
        prev = old.get(case["name"])
        if prev is None or case.get("timed_out") or prev.get("timed_out"):
            continue
        note = ""
        r_old, r_new = prev.get("rate_per_s"), case.get("rate_per_s")
        if r_old and r_new and abs(r_new / r_old - 1) > 0.01:
            note = f"workload changed: rate {r_old:.4g}/s -> {r_new:.4g}/s"
        before, now = process_walls(prev), process_walls(case)
        for field in ("llmsim_wall_s", "llmsim_cold_wall_s"):
            if field in before and field in now:
                out.append(Change(case["name"], field, before[field], now[field], note))
        for field in FIELDS:
            a, b = prev.get(field), case.get(field)
            if isinstance(a, int | float) and isinstance(b, int | float):
                out.append(Change(case["name"], field, float(a), float(b), note))
    return out


def report(baseline: dict[str, Any], current: dict[str, Any]) -> tuple[list[str], int]:
    """Lines to print and the number of slowdowns beyond noise."""
    changes = compare(baseline, current)
    lines = []
    machine_then = baseline.get("machine", {}).get("cpu")
    machine_now = current.get("machine", {}).get("cpu")
    if machine_then and machine_now and machine_then != machine_now:
        lines.append(f"note: the baseline ran on {machine_then!r}, this run on {machine_now!r}")
    slow = [c for c in changes if c.slower]
    fast = [c for c in changes if c.faster]
    for c in slow:
        extra = f" ({c.note})" if c.note else ""
        lines.append(f"SLOWER  {c.case:<28} {c.field:<18} {c.old_s:9.3f} s -> {c.new_s:9.3f} s  x{c.ratio:.2f}{extra}")
    for c in fast:
        extra = f" ({c.note})" if c.note else ""
        lines.append(f"faster  {c.case:<28} {c.field:<18} {c.old_s:9.3f} s -> {c.new_s:9.3f} s  x{c.ratio:.2f}{extra}")
    cases = len({c.case for c in changes})
    verdict = (f"{len(slow)} slowdown(s) beyond noise" if slow else "no slowdown beyond noise")
    lines.append(f"{verdict} (> {REL_NOISE:.0%} and > {ABS_NOISE_S} s) over {cases} case(s) compared "
                 f"with the baseline recorded {baseline.get('recorded', '?')}")
    return lines, len(slow)
