"""Timelines: exact binning of steps across bucket edges, bounded size, and agreement with the run."""

from __future__ import annotations

import numpy as np
import pytest

from llmsim.runtime import BatchShape, simulate
from llmsim.runtime.timeline import ARRIVAL, COMPLETION, INITIAL_WIDTH_NS, LEVELS, STEP_SUMS, TimelineRecorder
from llmsim.runtime.workload import Workload

from .rt_helpers import AffineCost, cluster, instance

MS = 1_000_000


class FakeKV:
    def __init__(self, used: int) -> None:
        self.num_blocks, self.num_free = 100, 100 - used


class FakeInstance:
    """What `TimelineRecorder.step` reads from an instance."""

    def __init__(self, index: int = 0, running: int = 3, waiting: int = 4, kv: int = 5, preemptions: int = 0):
        self.index = index
        self.running, self.waiting = [None] * running, [None] * waiting
        self.kv = FakeKV(kv)
        self.preemptions = preemptions


SHAPE = BatchShape(10, 2, 1, 100, 100, ((9, 0),))


def _recorder(buckets: int = 8, instances: int = 1, stop_ns: int | None = None) -> TimelineRecorder:
    return TimelineRecorder([instance(i) for i in range(instances)], buckets, stop_ns)


def test_a_step_inside_one_bucket_adds_its_levels_times_its_duration():
    rec = _recorder()
    rec.step(FakeInstance(), 100_000, 500_000, SHAPE, 2)
    tl = rec.finish(900_000, [0])
    assert tl.bucket_ns == INITIAL_WIDTH_NS and tl.num_buckets == 1
    assert tl.integrals["running"][0, 0] == 3 * 500_000
    assert tl.integrals["busy"][0, 0] == 500_000
    assert tl.level("waiting")[0, 0] == pytest.approx(4 * 500_000 / 900_000)
    assert tl.sums["steps"][0, 0] == 1 and tl.sums["step_tokens"][0, 0] == 10
    assert tl.sums["step_decode_context"][0, 0] == 100 and tl.sums["output_tokens"][0, 0] == 2


def test_steps_across_bucket_edges_are_split_exactly():
    rec = _recorder()
    inst = FakeInstance(kv=7)
    rec.step(inst, 100_000, 300_000, SHAPE, 1)  # inside bucket 0: the fast path
    rec.step(inst, MS // 2, 4 * MS, SHAPE, 3)  # 0.5 ms .. 4.5 ms
    rec.step(inst, 4 * MS + MS // 2, MS // 4, SHAPE, 1)  # inside bucket 4 again
    tl = rec.finish(5 * MS, [0])
    assert tl.num_buckets == 6
    kv = 7 * (MS // 4)
    assert tl.integrals["kv_blocks_used"][0].tolist() == [7 * 300_000 + 7 * MS / 2, 7 * MS, 7 * MS, 7 * MS,
                                                          7 * MS / 2 + kv, 0]
    assert tl.integrals["busy"][0].sum() == 300_000 + 4 * MS + MS // 4
    # Per-step sums go to the bucket where the step starts.
    assert tl.sums["steps"][0].tolist() == [2, 0, 0, 0, 1, 0]
    assert tl.sums["output_tokens"][0].tolist() == [4, 0, 0, 0, 1, 0]


def test_a_step_ending_on_an_edge_stays_out_of_the_next_bucket():
    rec = _recorder()
    rec.step(FakeInstance(), 0, MS, SHAPE, 1)
    tl = rec.finish(2 * MS, [0])
    assert tl.integrals["busy"][0].tolist() == [MS, 0, 0]


def test_buckets_double_until_the_run_fits_and_totals_survive():
    rec = _recorder(buckets=8)
    inst = FakeInstance(waiting=2)
    rec.step(inst, MS // 2, 4 * MS, SHAPE, 1)
    rec.step(inst, 4 * MS + MS // 2, MS // 4, SHAPE, 1)  # left open in bucket 4 while the width grows
    rec.point(ARRIVAL, 3 * MS)
    rec.step(inst, 100 * MS, 3 * MS, SHAPE, 1)
    rec.point(COMPLETION, 101 * MS)
    tl = rec.finish(120 * MS, [0])
    assert tl.bucket_ns == 16 * MS  # 1 ms doubled until 8 buckets hold 120 ms
    assert tl.num_buckets == 8
    assert tl.integrals["waiting"][0].sum() == 2 * (7 * MS + MS // 4)
    assert tl.requests["arrivals"].sum() == 1 and tl.requests["completions"][6] == 1
    assert tl.sums["steps"][0].tolist() == [2, 0, 0, 0, 0, 0, 1, 0]


def test_preemptions_are_counted_per_bucket_from_each_instances_total():
    rec = _recorder(instances=2)
    a, b = FakeInstance(0), FakeInstance(1)
    rec.step(a, 0, 10, SHAPE, 1)
    a.preemptions = 2
    rec.step(a, 10, 10, SHAPE, 1)
    rec.step(b, 0, 10, SHAPE, 1)
    a.preemptions = 5
    rec.step(a, 3 * MS, 10, SHAPE, 1)  # a new bucket: the first one is written out with 5
    tl = rec.finish(4 * MS, [6, 1])
    assert tl.sums["preemptions"][0].tolist()[:4] == [5, 0, 0, 1]
    assert tl.sums["preemptions"].sum(axis=1).tolist() == [6, 1]


def test_steps_running_at_the_stop_count_up_to_it_and_sample_nothing():
    rec = _recorder(stop_ns=2 * MS)
    inst = FakeInstance()
    rec.step(inst, MS // 2, MS // 2, SHAPE, 1)
    rec.step(inst, MS, 5 * MS, SHAPE, 7)
    tl = rec.finish(2 * MS, [0])
    assert tl.integrals["busy"][0].sum() == MS // 2 + MS
    assert tl.sums["output_tokens"][0].sum() == 1 and tl.sums["steps"][0].sum() == 2


def test_coarsen_merges_pairs_and_keeps_totals():
    rec = _recorder(buckets=16)
    for i in range(12):
        rec.step(FakeInstance(running=i), i * MS + 100, 800_000, SHAPE, 1)
        rec.point(ARRIVAL, i * MS + 5)
    tl = rec.finish(12 * MS, [0])
    small = tl.coarsen(4)
    assert small.num_buckets <= 4 and small.bucket_ns == 4 * tl.bucket_ns
    for name in STEP_SUMS:
        assert small.sums[name].sum() == tl.sums[name].sum()
    for name in LEVELS:
        assert small.integrals[name].sum() == tl.integrals[name].sum()
    assert small.requests["arrivals"].sum() == 12


def _run(n: int = 400, rate_per_ns: float = 50e-9, **kw):
    arrivals = (np.arange(n) / rate_per_ns).astype(np.int64)
    wl = Workload("w", np.full(n, 300, dtype=np.int64), np.full(n, 40, dtype=np.int64), arrivals)
    spec = instance(0, AffineCost(record=False), num_kv_blocks=kw.pop("num_kv_blocks", 1000))
    return simulate(cluster(spec, instance(1, AffineCost(record=False))), [(wl, "r")], **kw)


def test_the_timeline_agrees_with_the_run():
    result = _run()
    tl = result.timeline
    totals = tl.totals()
    assert totals["steps"] == result.steps
    assert totals["output_tokens"] == int(result.output_tokens.sum())
    assert int(tl.requests["arrivals"].sum()) == result.submitted
    assert int(tl.requests["completions"].sum()) == result.completed
    assert totals["preemptions"] == result.num_preemptions
    assert tl.end_ns == result.simulated_ns
    busy = tl.level("busy")
    assert (busy >= 0).all() and (busy <= 1 + 1e-9).all()


def test_preemptions_show_on_the_timeline():
    result = _run(n=200, rate_per_ns=1e-6, num_kv_blocks=40)
    assert result.num_preemptions > 0
    assert result.timeline.totals()["preemptions"] == result.num_preemptions


def test_a_long_run_keeps_the_same_number_of_buckets():
    short, long = _run(n=100, timeline_buckets=32), _run(n=3000, timeline_buckets=32)
    assert long.simulated_ns > 20 * short.simulated_ns
    assert 16 < long.timeline.num_buckets <= 32 and 16 < short.timeline.num_buckets <= 32
    assert len(long.timeline.to_json(max_buckets=None)["requests"]["arrivals"]) <= 32


def test_a_run_stopped_by_max_time_counts_its_steps_up_to_the_stop():
    result = _run(max_time_ns=3_000_000)
    tl = result.timeline
    assert tl.end_ns <= 3_000_000
    assert tl.totals()["steps"] == result.steps
    assert tl.integrals["busy"].sum() <= 2 * tl.end_ns


def test_timelines_are_deterministic_and_can_be_turned_off():
    a, b = _run().timeline, _run().timeline
    for name in STEP_SUMS:
        assert np.array_equal(a.sums[name], b.sums[name])
    for name in LEVELS:
        assert np.array_equal(a.integrals[name], b.integrals[name])
    assert _run(timeline_buckets=0).timeline is None


def test_json_form_has_pools_and_optionally_instances():
    tl = _run().timeline
    doc = tl.to_json(max_buckets=16)
    assert doc["buckets"] <= 16 and doc["bucket_s"] == tl.coarsen(16).bucket_ns / 1e9
    pool = doc["pools"]["main"]
    assert pool["instances"] == 2 and pool["kv_blocks"] == 2000
    assert all(len(pool[k]) == doc["buckets"] for k in (*STEP_SUMS, *LEVELS))
    assert sum(pool["steps"]) == tl.totals()["steps"]
    assert "instances" not in doc
    full = tl.to_json(max_buckets=None, instances=True)
    assert set(full["instances"]) == {"main[0]", "main[1]"}
    assert full["not_modelled"] == ["power"]
    assert "tiers" not in full and "links" not in full  # only runs with KV tiers or links have them


@pytest.mark.parametrize("max_time_ns", [None, 5_000_000])
def test_starting_at_the_last_arrival_gives_the_same_timeline(monkeypatch: pytest.MonkeyPatch, max_time_ns):
    fast = _run(max_time_ns=max_time_ns).timeline
    original = TimelineRecorder.__init__
    monkeypatch.setattr(TimelineRecorder, "__init__", lambda self, i, b, s, h=0: original(self, i, b, s, 0))
    slow = _run(max_time_ns=max_time_ns).timeline
    assert fast.bucket_ns == slow.bucket_ns and fast.num_buckets == slow.num_buckets
    for name in STEP_SUMS:
        assert np.array_equal(fast.sums[name], slow.sums[name])
    for name in LEVELS:
        assert np.array_equal(fast.integrals[name], slow.integrals[name])


def test_odd_bucket_counts_are_refused():
    with pytest.raises(ValueError, match="even"):
        TimelineRecorder([instance(0)], 7)
