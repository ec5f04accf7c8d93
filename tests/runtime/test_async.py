"""Async scheduling (step k+1 planned while step k runs) and the full-sequence admission gate."""

import numpy as np

from llmsim.runtime import Workload, simulate

from .rt_helpers import AffineCost, cluster, instance

STEP = 1_000_000  # AffineCost(base=STEP, per_token=0): every step takes 1 ms


def run(arrivals, prompts, outputs, **spec):
    cost = AffineCost(base=STEP, per_token=0)
    wl = Workload.from_arrays(prompts, outputs, arrivals)
    result = simulate(cluster(instance(0, cost=cost, **spec)), [(wl, "r")], debug=True)
    return result, cost


def test_a_lone_request_decodes_every_step_with_async_scheduling():
    # Idle engine: the prefill starts at arrival, the first decode is planned while it runs.
    result, cost = run([0], [10], [5], async_scheduling=True)
    assert result.first_token_ns[0] == STEP
    assert result.finish_ns[0] == 5 * STEP  # no bubble: one token per 1 ms step
    assert len(cost.shapes) == 5


def test_an_arrival_waits_one_extra_step_with_async_scheduling():
    # B arrives at 0.5 ms while A's first step runs.
    sync, _ = run([0, STEP // 2], [10, 10], [5, 5], async_scheduling=False)
    asyn, _ = run([0, STEP // 2], [10, 10], [5, 5], async_scheduling=True)
    assert sync.first_scheduled_ns[1] == STEP  # joins the step that starts when A's first ends
    assert asyn.first_scheduled_ns[1] == STEP  # planned then, for the step after the one queued
    assert sync.first_token_ns[1] == 2 * STEP
    assert asyn.first_token_ns[1] == 3 * STEP


def test_async_scheduling_never_schedules_a_step_past_the_last_token():
    result, cost = run([0], [10], [3], async_scheduling=True)
    # prefill + 2 decodes; the request's last token is in flight when the next step is planned
    assert len(cost.shapes) == 3
    assert result.summary()["requests"]["completed"] == 1


def test_async_and_sync_agree_on_token_counts():
    rng = np.random.default_rng(3)
    n = 60
    prompts, outputs = rng.integers(1, 200, n), rng.integers(1, 40, n)
    arrivals = np.cumsum(rng.integers(0, 3 * STEP, n))
    a, _ = run(arrivals, prompts, outputs, async_scheduling=True)
    s, _ = run(arrivals, prompts, outputs, async_scheduling=False)
    assert list(a.output_tokens) == list(s.output_tokens) == list(outputs)
    assert int(a.itl_counts.sum()) == int((outputs - 1).sum())


def test_full_sequence_gate_holds_back_a_request_whose_prompt_does_not_fit():
    # 8 blocks of 4 tokens. A holds 5 blocks (20 tokens). B's 20-token prompt needs 5 blocks: its
    # first chunk (8 tokens, 2 blocks) fits the 3 free ones, the whole prompt does not.
    spec = dict(num_kv_blocks=8, block_size=4, max_num_batched_tokens=8, max_model_len=64)
    gated, _ = run([0, 1], [20, 20], [3, 3], reserve_full_isl=True, **spec)
    open_, _ = run([0, 1], [20, 20], [3, 3], reserve_full_isl=False, **spec)
    # Without the gate B starts prefilling alongside A; with it B waits until A has finished.
    assert open_.first_scheduled_ns[1] < open_.finish_ns[0]
    assert gated.first_scheduled_ns[1] >= gated.finish_ns[0]
    assert gated.summary()["requests"]["preemptions"] == 0
    assert gated.summary()["requests"]["completed"] == open_.summary()["requests"]["completed"] == 2


def test_batch_shape_carries_the_shortest_decode_context():
    _, cost = run([0, 0], [10, 30], [4, 4], max_num_batched_tokens=64)
    decodes = [s for s in cost.shapes if s.n_decode == 2]
    assert decodes
    for s in decodes:
        assert s.decode_kv_min < s.decode_kv_max
        assert s.decode_kv_min + s.decode_kv_max == s.decode_kv_sum
