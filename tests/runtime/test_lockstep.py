"""Data-parallel ranks in lockstep: steps start and end together, idle ranks run dummy steps."""

from __future__ import annotations

import numpy as np
import pytest

from llmsim.runtime import ClusterSpec, LockstepSpec, RouterSpec, Workload, simulate

from .rt_helpers import AffineCost, instance

MS = 1_000_000


class GroupCost:
    """Slowest rank's `base + per_token x tokens`, plus `shared` ns per token of all ranks together."""

    def __init__(self, base=MS, per_token=10_000, shared=1_000):
        self.base, self.per_token, self.shared = base, per_token, shared
        self.calls: list[list[int]] = []

    def group_step_time_ns(self, batches):
        self.calls.append([b.num_tokens for b in batches])
        own = max(self.base + self.per_token * b.num_tokens for b in batches)
        return own + self.shared * sum(b.num_tokens for b in batches)


def dp_cluster(n=2, cost=None, policy="round_robin", **overrides):
    cost = cost if cost is not None else GroupCost()
    specs = tuple(instance(i, cost=AffineCost(record=False), **overrides) for i in range(n))
    return ClusterSpec(specs, {"r": RouterSpec("r", policy, tuple(range(n)))},
                       lockstep=(LockstepSpec("main[0..1]", tuple(range(n)), cost),))


def run(cl, arrivals, prompts, outputs, **kw):
    wl = Workload.from_arrays(prompts, outputs, arrivals)
    return simulate(cl, [(wl, "r")], debug=True, **kw)


def test_ranks_step_together_at_the_slowest_rank():
    cost = GroupCost()
    # Round robin: request 0 (100-token prompt) on rank 0, request 1 (10 tokens) on rank 1.
    result = run(dp_cluster(cost=cost), [0, 0], [100, 10], [3, 3])
    first = MS + 10_000 * 100 + 1_000 * 110  # the slowest rank's prefill plus both ranks' tokens
    assert result.first_token_ns.tolist() == [first, first]
    assert cost.calls[0] == [100, 10]
    decode = MS + 10_000 + 1_000 * 2
    assert result.finish_ns.tolist() == [first + 2 * decode] * 2


def test_an_idle_rank_runs_dummy_steps():
    cost = GroupCost()
    result = run(dp_cluster(cost=cost), [0], [20], [4])
    assert cost.calls == [[20], [1], [1], [1]]  # only the working rank's batch is priced
    assert result.steps == 8  # four group steps on each of the two ranks
    tl = result.timeline
    assert tl.totals()["steps"] == 8
    busy = tl.integrals["busy"].sum(axis=1)
    assert busy[0] == busy[1] == result.finish_ns[0]  # the idle rank's devices are busy too


def test_a_rank_waits_for_the_group():
    # Rank 1's request arrives while rank 0 runs a long prefill: it starts with the next group step.
    cost = GroupCost(per_token=100_000, shared=0)
    result = run(dp_cluster(cost=cost), [0, MS], [100, 1], [1, 1])
    first0 = MS + 100 * 100_000
    assert result.first_scheduled_ns.tolist() == [0, first0]
    assert result.first_token_ns.tolist() == [first0, first0 + MS + 100_000]


@pytest.mark.parametrize("async_scheduling", [False, True])
def test_lockstep_groups_complete_every_request(async_scheduling):
    rng = np.random.default_rng(6)
    n = 120
    prompts, outputs = rng.integers(1, 300, n), rng.integers(1, 60, n)
    arrivals = np.cumsum(rng.integers(0, MS, n))
    result = run(dp_cluster(4, policy="least_loaded", num_kv_blocks=60, async_scheduling=async_scheduling),
                 arrivals, prompts, outputs)
    s = result.summary()
    assert s["requests"]["completed"] == n and s["requests"]["preemptions"] > 0
    assert result.output_tokens.tolist() == outputs.tolist()
    # Every rank runs a step (its own or a dummy one) in every group step, for the same time.
    steps = result.timeline.sums["steps"].sum(axis=1)
    busy = result.timeline.integrals["busy"].sum(axis=1)
    assert len(set(steps.tolist())) == 1 and steps[0] * 4 == result.steps
    assert len(set(busy.tolist())) == 1


def test_lockstep_specs_are_checked():
    specs = (instance(0), instance(1))
    with pytest.raises(ValueError, match="in two groups"):
        ClusterSpec(specs, {}, lockstep=(LockstepSpec("a", (0, 1), GroupCost()), LockstepSpec("b", (1,), GroupCost())))
    with pytest.raises(ValueError, match="out of range"):
        ClusterSpec(specs, {}, lockstep=(LockstepSpec("a", (0, 2), GroupCost()),))
