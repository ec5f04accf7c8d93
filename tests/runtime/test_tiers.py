"""KV tiers: the store itself (capacity, eviction, demotion, conservation), offloading evicted prefix
blocks and loading them back, swapping preempted requests out, and random runs with every invariant."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmsim.runtime import ClosedLoop, Workload, simulate
from llmsim.runtime.engine import Engine
from llmsim.runtime.eviction import EVICTIONS, EvictionPolicy, register_eviction
from llmsim.runtime.spec import LinkSpec, TierSpec
from llmsim.runtime.tiers import KVTier
from llmsim.runtime.transfer import TransferNetwork

from .rt_helpers import AffineCost, cluster, instance

GB = 1_000_000_000


def tier_spec(name="main.cpu", blocks=4, block_bytes=100, bandwidth=GB, latency=0, shared=False, eviction="lru"):
    return TierSpec(name, "cpu", blocks * block_bytes, LinkSpec(name, bandwidth, latency), shared, eviction)


def make_tiers(*specs, block_bytes=100):
    engine = Engine()
    net = TransferNetwork(engine)
    tiers: list[KVTier] = []
    for spec in reversed(specs):
        tiers.insert(0, KVTier(spec.name, spec, block_bytes, net, lower=tiers[0] if tiers else None))
    return engine, tiers


def test_a_tier_holds_whole_blocks_and_evicts_the_least_recently_used():
    engine, (t,) = make_tiers(tier_spec(blocks=3))
    assert t.capacity == 3
    assert t.store(["a", "b", "c"], 0) == 3
    assert not t.has("a")  # still being written
    engine.run()
    assert all(t.has(k) for k in "abc")
    t.store(["a"], engine.now)  # a hit: "a" is young again
    t.store(["d"], engine.now)
    assert list(t.entries) == ["c", "a", "d"] and t.evicted == 1 and t.dropped == 1  # "b" had nowhere to go
    t.check_invariants()


def test_fifo_ignores_hits():
    engine, (t,) = make_tiers(tier_spec(blocks=2, eviction="fifo"))
    t.store(["a", "b"], 0)
    engine.run()
    t.store(["a", "c"], engine.now)
    assert list(t.entries) == ["b", "c"]


def test_victims_move_down_to_the_next_tier_and_blocks_are_conserved():
    engine, (top, low) = make_tiers(tier_spec("p.cpu", blocks=2), tier_spec("p.ssd", blocks=3))
    for k in range(6):
        top.store([k], engine.now)
        engine.run()
    # top keeps the two youngest; the rest went down; the lowest dropped its oldest.
    assert list(top.entries) == [4, 5] and list(low.entries) == [1, 2, 3]
    assert top.evicted == 4 and low.offered == 4 and low.stored == 4 and low.dropped == 1
    for t in (top, low):
        t.check_invariants()
    assert top.stored + 0 == len(top) + top.evicted  # nothing created or lost
    assert low.stored == len(low) + low.evicted


def test_writes_and_loads_share_the_tier_link():
    engine, (t,) = make_tiers(tier_spec(blocks=10, bandwidth=100 * GB, latency=1_000))  # 100 bytes per ns
    t.store(["a", "b"], 0)  # 200 bytes: 2 ns + 1 us
    engine.run()
    assert t.has("a") and engine.now == 1_002
    done = []
    t.load(["a"], engine.now, lambda now, arg: done.append((now, arg)), "r")
    t.store(["c"], engine.now)  # contends with the load: each at half speed
    engine.run()
    assert done == [(1_002 + 2 + 1_000, "r")]
    assert t.loaded == 1


def test_eviction_policies_are_plugins():
    @register_eviction("test_mru")
    class MRU(EvictionPolicy):
        def victim(self, entries):
            return next(reversed(entries))

    engine, (t,) = make_tiers(tier_spec(blocks=2, eviction="test_mru"))
    t.store(["a", "b"], 0)
    engine.run()
    t.store(["c"], engine.now)
    assert list(t.entries) == ["a", "c"]
    assert "test_mru" in EVICTIONS.names()


def test_unknown_eviction_policy_is_a_user_error():
    from llmsim.diagnostics import UserError

    with pytest.raises(UserError, match="unknown eviction policy `lruu`"):
        make_tiers(tier_spec(eviction="lruu"))


# -- tiers in a simulation ---------------------------------------------------------------------


def tiered(i=0, cost=None, blocks=6, tier_blocks=64, shared=False, bandwidth=GB, latency=0, **kw):
    """An instance with 4-token blocks of 100 bytes (25 bytes per token) and a CPU tier."""
    fields = dict(num_kv_blocks=blocks, block_size=4, max_num_seqs=4, max_num_batched_tokens=64, prefix_caching=True,
                  kv_bytes_per_token=25, tiers=(tier_spec("main.cpu", tier_blocks, 100, bandwidth, latency, shared),))
    fields.update(kw)
    return instance(i, cost, **fields)


def test_an_evicted_prefix_is_offloaded_and_loaded_back_from_the_tier():
    shared = list(range(100, 116))  # four blocks of 4 tokens
    other = list(range(200, 220))  # five blocks
    ids = [[*shared, 1], other, [*shared, 2]]
    cost = AffineCost(base=1_000_000, per_token=0)
    wl = Workload.from_arrays([17, 20, 17], [1, 1, 1], [0, 10_000_000, 20_000_000], token_ids=ids)
    spec = tiered(cost=cost, blocks=6, latency=1_000)
    result = simulate(cluster(spec), [(wl, "r")], debug=True)
    s = result.summary()
    pc = s["prefix_cache"]
    # The first request's blocks were freed tail first; the second took the free block and four of
    # them, evicting shared blocks 1-3 to the tier (block 4 is partial, uncached). The third hits
    # block 0 in device memory and loads blocks 1-3 back.
    assert pc["hit_tokens"] == 16 and pc["tier_hit_tokens"] == 12
    assert pc["saved_tokens"] == 16 and pc["prefill_tokens_computed"] == 17 + 20 + 1
    tiers = s["kv_tiers"]["main.cpu"]
    assert tiers["blocks_stored"] >= 3 and tiers["bytes_written"] == 100 * tiers["blocks_stored"]
    assert tiers["blocks_loaded"] == 3 and tiers["bytes_read"] == 300
    # The load (300 bytes at 1 byte/ns, then 1 us of latency) delays the third request's only step.
    assert [sh.prefills for sh in cost.shapes][-1] == ((1, 16),)
    assert result.first_token_ns[2] - result.arrival_ns[2] == 300 + 1_000 + 1_000_000
    assert result.first_scheduled_ns[2] == result.arrival_ns[2]  # admitted at once, to load
    assert s["links"]["main.cpu"]["bytes"] == tiers["bytes_written"] + tiers["bytes_read"]


def test_a_shared_tier_serves_every_instance_of_the_pool():
    shared = list(range(100, 116))
    # Round robin: instance 0 computes the prefix, then a 24-token prompt pushes all of it out of
    # its 6 blocks into the tier; instance 1, which never had it, then finds it there.
    ids = [[*shared, 1], list(range(200, 220)), list(range(300, 324)), [*shared, 2]]
    wl = Workload.from_arrays([17, 20, 24, 17], [1] * 4, np.arange(4) * 10_000_000, token_ids=ids)
    shared_run = simulate(cluster(tiered(0, shared=True), tiered(1, shared=True)), [(wl, "r")], debug=True)
    s = shared_run.summary()
    assert list(shared_run.instance) == [0, 1, 0, 1]
    assert s["kv_tiers"]["main.cpu"]["copies"] == 1
    assert s["prefix_cache"]["tier_hit_tokens"] == 16
    own = simulate(cluster(tiered(0), tiered(1)), [(wl, "r")], debug=True).summary()
    assert own["kv_tiers"]["main.cpu"]["copies"] == 2
    assert own["prefix_cache"]["tier_hit_tokens"] == 0  # instance 1's own tier never saw it


def test_preempted_requests_swap_out_and_resume_without_recomputing():
    n = 6
    wl = Workload.from_arrays([12] * n, [30] * n, np.zeros(n))
    kw = dict(num_kv_blocks=14, block_size=4, max_num_seqs=4, max_num_batched_tokens=64)
    swap = simulate(cluster(tiered(prefix_caching=False, **kw)), [(wl, "r")], debug=True).summary()
    plain = simulate(cluster(instance(**kw)), [(wl, "r")], debug=True).summary()
    assert plain["requests"]["preemptions"] > 0 and swap["requests"]["preemptions"] > 0
    assert 0 < swap["requests"]["swapped"] <= swap["requests"]["preemptions"]
    assert swap["kv_tiers"]["main.cpu"]["blocks_loaded"] > 0  # resumed requests loaded their own blocks
    assert swap["prefix_cache"]["saved_tokens"] > 0
    assert swap["prefix_cache"]["prefill_tokens_computed"] < plain["prefix_cache"]["prefill_tokens_computed"]
    assert swap["prefix_cache"]["queried_tokens"] == 0  # no prefix caching: no hit accounting
    assert swap["requests"]["completed"] == plain["requests"]["completed"] == n


def test_tier_occupancy_is_on_the_timeline():
    shared = list(range(100, 116))
    ids = [[*shared, 1], list(range(200, 220)), [*shared, 2]]
    wl = Workload.from_arrays([17, 20, 17], [1, 1, 1], [0, 10_000_000, 20_000_000], token_ids=ids)
    result = simulate(cluster(tiered(blocks=6)), [(wl, "r")])
    tl = result.timeline
    held = tl.series_level("tiers", "main.cpu")
    assert held.max() > 0 and held[0] == 0  # nothing in the tier in the first millisecond
    doc = tl.to_json(max_buckets=None)
    assert set(doc["tiers"]) == {"main.cpu"} and len(doc["tiers"]["main.cpu"]["blocks_used"]) == doc["buckets"]
    # The link's bytes per bucket add up to what crossed it.
    assert sum(doc["links"]["main.cpu"]["bytes"]) == result.links["main.cpu"]["bytes"]


@st.composite
def tier_configs(draw):
    block_size = draw(st.sampled_from([1, 2, 4]))
    tiers = []
    for k in range(draw(st.integers(1, 2))):
        blocks = draw(st.integers(1, 30))
        tiers.append(TierSpec(f"main.t{k}", "cpu", blocks * 10 * block_size,
                              LinkSpec(f"main.t{k}", draw(st.sampled_from([GB, 10 * GB])), draw(st.integers(0, 5000))),
                              draw(st.booleans()), draw(st.sampled_from(["lru", "fifo"]))))
    return dict(num_kv_blocks=draw(st.integers(3, 30)), block_size=block_size, max_num_seqs=draw(st.integers(1, 5)),
                max_num_batched_tokens=draw(st.integers(8, 48)), max_model_len=96,
                prefix_caching=draw(st.booleans()), kv_bytes_per_token=10, tiers=tuple(tiers),
                async_scheduling=draw(st.booleans()), reserve_full_isl=draw(st.booleans()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tier_configs(), st.integers(1, 20), st.integers(0, 2**16), st.integers(1, 3), st.booleans())
def test_random_runs_with_tiers_keep_every_invariant(config, n, seed, n_instances, closed):
    rng = np.random.default_rng(seed)
    prompts = rng.integers(1, 40, n)
    outputs = rng.integers(1, 20, n)
    ids = [rng.integers(0, 2, p).tolist() for p in prompts]  # two-token vocabulary: much sharing
    if closed:
        wl = Workload.from_arrays(prompts, outputs, closed_loop=ClosedLoop(2, 1000), token_ids=ids)
    else:
        wl = Workload.from_arrays(prompts, outputs, np.sort(rng.integers(0, 5_000_000, n)), token_ids=ids)
    specs = [instance(i, AffineCost(base=100_000, per_token=1_000, record=False), **config)
             for i in range(n_instances)]
    # debug: KV invariants (holders include loading requests) and tier conservation after every step
    # and at the end; every block free again, nothing in flight.
    result = simulate(cluster(*specs), [(wl, "r")], debug=True)
    s = result.summary()
    assert s["requests"]["completed"] + s["requests"]["rejected"] == n
    pc = s["prefix_cache"]
    assert pc["tier_hit_tokens"] <= pc["hit_tokens"] <= pc["queried_tokens"]
    # A cached prefix is never counted twice: hits at first admission are at most the prompts.
    assert pc["hit_tokens"] <= int(result.prompt_tokens.sum()) + sum(
        int(p) for i, p in enumerate(prompts) if i in set(result.rejected_ids.tolist()))
    for t in s["kv_tiers"].values():
        assert t["blocks_held"] <= t["capacity_blocks"]
        assert t["blocks_stored"] - t["blocks_evicted"] == t["blocks_held"]
