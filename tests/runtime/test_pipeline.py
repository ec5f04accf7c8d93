"""Pipeline parallelism in the runtime: batches in flight through stages, bubbles, sends, host time."""

from __future__ import annotations

import numpy as np
import pytest

from llmsim.runtime import BatchShape, Workload, simulate

from .rt_helpers import AffineCost, cluster, instance

MS = 1_000_000


class Stages:
    """A fake StageCostModel: stage s takes `per_stage[s]` ns plus `per_token` ns per token, each send
    `send` ns, the host `host` ns; records every shape."""

    def __init__(self, per_stage, per_token=0, send=0, host=0):
        self.per_stage = list(per_stage)
        self.per_token = per_token
        self.send = send
        self.host = host
        self.shapes: list[BatchShape] = []

    def stage_times_ns(self, batch):
        self.shapes.append(batch)
        return [t + self.per_token * batch.num_tokens for t in self.per_stage]

    def stage_transfer_ns(self, batch):
        return [self.send] * (len(self.per_stage) - 1)

    def host_ns(self, batch):
        return self.host

    # the conservative cost (every stage in turn), which routers read
    def step_time_ns(self, batch):
        return self.host + sum(self.stage_times_ns(batch)) + self.send * (len(self.per_stage) - 1)


def run(spec, arrivals, prompts, outputs, **kw):
    wl = Workload.from_arrays(prompts, outputs, arrivals)
    return simulate(cluster(spec), [(wl, "r")], debug=True, **kw)


def pipelined(stages, **overrides):
    return instance(0, cost=stages, stages=stages, pp=len(stages.per_stage), **overrides)


def test_pp_with_one_stage_equals_no_pp():
    # The pipelined loop with one stage (stage time + host = the plain cost) against the plain loop.
    rng = np.random.default_rng(5)
    n = 80
    prompts, outputs = rng.integers(1, 300, n), rng.integers(1, 60, n)
    arrivals = np.cumsum(rng.integers(0, 4 * MS, n))

    class OneStage(Stages):
        def stage_times_ns(self, batch):
            return [AffineCost(base=MS, per_token=20_000, per_kv=3, record=False).step_time_ns(batch) - self.host]

    plain = run(instance(0, cost=AffineCost(base=MS, per_token=20_000, per_kv=3, record=False)),
                arrivals, prompts, outputs)
    one = run(instance(0, cost=OneStage([0], host=250_000), stages=OneStage([0], host=250_000), pp=1),
              arrivals, prompts, outputs)
    a, b = plain.summary(), one.summary()
    assert a == b
    for name in plain.columns:
        assert np.array_equal(plain.columns[name], one.columns[name]), name
    assert np.array_equal(plain.itl_values_ns, one.itl_values_ns)
    assert np.array_equal(plain.itl_counts, one.itl_counts)
    assert plain.timeline.totals() == one.timeline.totals()


def test_equal_stages_give_pp_times_the_step_rate():
    # Four stages of 1 ms; four requests arriving 1 ms apart form four cohorts, one per stage.
    stages = Stages([MS] * 4)
    arrivals, prompts, outputs = [0, MS, 2 * MS, 3 * MS], [1] * 4, [10] * 4
    pipe = run(pipelined(stages), arrivals, prompts, outputs)
    # Each request samples a token every 4 ms (its batch's trip through the stages)...
    assert pipe.finish_ns.tolist() == [i * MS + 40 * MS for i in range(4)]
    assert pipe.first_token_ns.tolist() == [i * MS + 4 * MS for i in range(4)]
    # ... and the pipeline holds four batches: 40 steps in 43 ms, one every 1 ms at steady state.
    assert pipe.steps == 40
    assert all(s.num_seqs == 1 for s in stages.shapes)  # a request in flight is in no other batch
    # One stage doing all the work (4 ms a step) batches them instead: 11 steps in 44 ms.
    one = run(instance(0, cost=AffineCost(base=4 * MS, per_token=0)), arrivals, prompts, outputs)
    assert one.finish_ns.tolist() == [40 * MS, 44 * MS, 44 * MS, 44 * MS]
    assert one.steps == 11
    assert pipe.steps / 43 == pytest.approx(4 * one.steps / 44, rel=0.1)


def test_a_long_prefill_fills_the_pipeline_chunk_after_chunk():
    # 1,000 prompt tokens in chunks of 100; 10 us per token per stage (1 ms per chunk per stage).
    stages = Stages([0] * 4, per_token=10_000)
    pipe = run(pipelined(stages, max_num_batched_tokens=100), [0], [1000], [1])
    assert pipe.first_token_ns.tolist() == [13 * MS]  # chunk c enters at c ms, leaves at c + 4 ms
    assert [s.prefills for s in stages.shapes] == [((100, 100 * c),) for c in range(10)]
    one = run(instance(0, cost=AffineCost(base=0, per_token=40_000), max_num_batched_tokens=100), [0], [1000], [1])
    assert one.first_token_ns.tolist() == [40 * MS]


def test_one_request_leaves_bubbles():
    pipe = run(pipelined(Stages([MS] * 4)), [0], [1], [5])
    assert pipe.finish_ns.tolist() == [20 * MS]  # every token waits for its batch's trip
    assert pipe.steps == 5


def test_a_batch_waits_for_a_busy_stage_and_crosses_the_sends():
    # Stage 0: 1 ms, stage 1: 3 ms, send 0.5 ms, host 0.25 ms on stage 0.
    h = MS // 4
    stages = Stages([MS, 3 * MS], send=MS // 2, host=h)
    pipe = run(pipelined(stages), [0, MS + h], [1, 1], [2, 2])
    # A: stage 0 [0, 1.25], send, stage 1 [1.75, 4.75]. B enters at 1.25 (stage 0 free, one batch
    # in flight of two): stage 0 [1.25, 2.5], send, waits for stage 1 until 4.75, leaves at 7.75.
    # A's second batch enters at 4.75: stage 0 until 6, stage 1 from 7.75 to 10.75; B's from
    # 7.75: stage 0 until 9, stage 1 from 10.75 to 13.75.
    assert pipe.first_token_ns.tolist() == [4 * MS + 3 * h, 7 * MS + 3 * h]
    assert pipe.finish_ns.tolist() == [10 * MS + 3 * h, 13 * MS + 3 * h]


def test_pipeline_keeps_at_most_pp_batches_in_flight():
    # Stage 1 is slow: without the limit, batches would pile up in front of it.
    stages = Stages([0, 10 * MS])
    rng = np.random.default_rng(2)
    n = 40
    result = run(pipelined(stages), np.sort(rng.integers(0, 20 * MS, n)), rng.integers(1, 50, n),
                 rng.integers(1, 20, n))
    assert result.summary()["requests"]["completed"] == n
    ends = np.sort(result.finish_ns)
    # Batches leave stage 1 10 ms apart, so no two distinct completion times are closer.
    gaps = np.diff(np.unique(ends))
    assert gaps.min() >= 10 * MS
    assert result.steps <= result.simulated_ns // (10 * MS) + 1


@pytest.mark.parametrize("async_scheduling", [False, True])
def test_pipelines_complete_every_request_with_preemptions(async_scheduling):
    # A small KV cache forces preemptions while tokens are in flight in other batches.
    stages = Stages([200_000] * 3, per_token=2_000, send=10_000, host=5_000)
    rng = np.random.default_rng(9)
    n = 60
    prompts, outputs = rng.integers(1, 120, n), rng.integers(1, 80, n)
    result = run(pipelined(stages, num_kv_blocks=40, async_scheduling=async_scheduling),
                 np.sort(rng.integers(0, 30 * MS, n)), prompts, outputs)
    s = result.summary()
    assert s["requests"]["completed"] == n and s["requests"]["preemptions"] > 0
    assert list(result.output_tokens) == list(outputs)
    assert int(result.itl_counts.sum()) == int((outputs - 1).sum())


def test_pipelined_timeline_counts_mean_device_time():
    stages = Stages([MS, 3 * MS], host=0)
    result = run(pipelined(stages), [0], [1], [3])
    tl = result.timeline
    assert tl.totals()["steps"] == result.steps == 3
    busy_ns = float(tl.integrals["busy"].sum())
    assert busy_ns == 3 * 2 * MS  # each batch: (1 + 3) ms over two stages
