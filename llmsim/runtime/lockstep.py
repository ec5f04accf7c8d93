"""Data-parallel ranks in lockstep: the attention data-parallel ranks of one MoE instance.

With attention data parallelism each rank has its own scheduler, queues and KV cache (vLLM's DP
engine cores), but every MoE layer exchanges the tokens of all ranks (all-to-all dispatch and
combine), so no rank can run a step alone: the ranks step together. When any rank has work, every
rank runs a step: its own batch, or an empty (dummy) step when it has nothing to run, as vLLM's idle
DP ranks do. The step starts on all ranks at once and ends on all ranks at once, after the time the
group's `GroupCostModel` gives for the ranks' batches (the slowest rank's own work plus the expert
layers at the tokens of every rank: see `llmsim.compiler.cluster.MoELockstepCost`).

With async scheduling each rank plans its next batch while the group's step runs, as it would alone.
The group only orders the ranks' steps; the ranks schedule, emit tokens and free KV as instances do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmsim.runtime.batch import BatchShape, GroupCostModel
from llmsim.runtime.engine import PRIO_STEP_END, PRIO_STEP_START, Engine

if TYPE_CHECKING:
    from llmsim.runtime.instance import Instance

_EMPTY = BatchShape(0, 0, 0, 0, 0, ())


class LockstepGroup:
    """Ranks whose steps start and end together; one pending event for the whole group."""

    __slots__ = ("busy", "cost", "engine", "name", "ranks", "start_pending", "steps")

    def __init__(self, name: str, ranks: list[Instance], cost: GroupCostModel, engine: Engine) -> None:
        self.name = name
        self.ranks = ranks
        self.cost = cost
        self.engine = engine
        self.busy = False
        self.start_pending = False
        self.steps = 0  # group steps
        for rank in ranks:
            rank.group = self
            rank.decodes = None  # (a rank's steps do not start when its previous one ends)

    def wake(self, now: int) -> None:
        """Start a group step at `now` (after the events already due) if idle and a rank has work."""
        if self.busy or self.start_pending:
            return
        for r in self.ranks:
            if r.waiting or r.running or r.queued:
                self.start_pending = True
                self.engine.at(now, PRIO_STEP_START, self._start)
                return

    def _start(self, now: int, _: object = None) -> None:
        self.start_pending = False
        plans = []
        for r in self.ranks:
            plan = r.queued or r._plan(now)
            r.queued = None
            plans.append(plan)
        live = [p[0] for p in plans if p is not None]
        if not live:
            for r in self.ranks:
                r._stalled()
            return
        duration = self.cost.group_step_time_ns(live)
        assert duration >= 0, f"group cost model returned a negative step time {duration}"
        self.busy = True
        self.steps += 1
        for r, plan in zip(self.ranks, plans, strict=True):
            if plan is None:  # a dummy step: the rank takes part in the expert layers' exchanges
                r._launch(now, _EMPTY, [], [], None, 0, duration)
            else:
                r._launch(now, *plan, duration)
        self.engine.at(now + duration, PRIO_STEP_END, self._end)
        for r, plan in zip(self.ranks, plans, strict=True):
            if plan is not None and r.spec.async_scheduling:
                r.queued = r._plan(now)

    def _end(self, now: int, _: object = None) -> None:
        self.busy = False
        for r in self.ranks:
            r._finish(now)
        self.wake(now)
