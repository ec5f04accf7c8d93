"""Router policies: what each one picks, that every instance stays reachable, and determinism."""

import numpy as np
import pytest

from llmsim.runtime import ClusterSpec, Router, RouterSpec, Workload, register_router, simulate
from llmsim.runtime.router import ROUTERS

from .rt_helpers import AffineCost, instance

POLICIES = ["round_robin", "random", "least_loaded", "least_outstanding_tokens", "power_of_two",
            "prefix_affinity", "slo_aware"]


def cluster(n, policy, options=None, seed=0, **kw):
    specs = tuple(instance(i, AffineCost(record=False), **kw) for i in range(n))
    return ClusterSpec(specs, {"r": RouterSpec("r", policy, tuple(range(n)), options or {})}, seed=seed)


def test_every_policy_is_registered():
    assert set(POLICIES) <= set(ROUTERS.names())


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("spacing", [0, 50_000_000])
def test_every_router_keeps_every_instance_reachable(policy, spacing):
    """Idle instances between requests (spaced) or a burst at one instant: each instance is chosen."""
    n = 60
    ids = [[7, 7, 7, 7, *range(i, i + 20)] for i in range(n)]  # a short shared prefix, then distinct
    wl = Workload.from_arrays([24] * n, [4] * n, np.arange(n) * spacing, token_ids=ids)
    result = simulate(cluster(4, policy, prefix_caching=True), [(wl, "r")], debug=True)
    assert result.summary()["requests"]["completed"] == n
    assert set(result.instance.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("policy", ["random", "power_of_two"])
def test_random_policies_are_seeded(policy):
    wl = Workload.from_arrays([10] * 200, [2] * 200, np.arange(200) * 1_000)
    runs = [simulate(cluster(4, policy, seed=s), [(wl, "r")]).instance.tolist() for s in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_least_loaded_avoids_the_busy_instance():
    # A long request lands on instance 0; while it runs, short ones that finish before the next
    # arrives go to instance 1 (round robin would alternate).
    wl = Workload.from_arrays([200, 5, 5, 5], [50, 2, 2, 2], [0, 1, 10_000_000, 20_000_000])
    result = simulate(cluster(2, "least_loaded"), [(wl, "r")])
    assert result.instance.tolist() == [0, 1, 1, 1]


def test_least_outstanding_tokens_counts_tokens_not_requests():
    # Instance 0 gets one huge request, instance 1 two small ones: by requests instance 0 is less
    # loaded, by tokens it is not.
    wl = Workload.from_arrays([2000, 10, 10, 10], [500, 2, 2, 2], [0, 1, 2, 3])
    by_tokens = simulate(cluster(2, "least_outstanding_tokens", max_model_len=4096), [(wl, "r")])
    assert by_tokens.instance.tolist()[1:] == [1, 1, 1]
    by_requests = simulate(cluster(2, "least_loaded", max_model_len=4096), [(wl, "r")])
    assert by_requests.instance.tolist()[1:] == [1, 0, 1]


def test_outstanding_tokens_are_the_tokens_left_to_compute():
    seen = []

    @register_router("test_probe")
    class Probe(Router):
        def choose(self, request, instances):
            inst = instances[0]
            left = sum(r.prompt_len + r.output_len - 1 - r.num_computed for r in [*inst.waiting, *inst.running])
            seen.append((inst.outstanding_tokens, left))
            return 0

    wl = Workload.from_arrays([30, 20, 50, 10], [10, 5, 3, 8], [0, 2_500_000, 2_600_000, 9_000_000])
    simulate(cluster(1, "test_probe"), [(wl, "r")], debug=True)
    assert seen[0] == (0, 0)
    assert all(a == b for a, b in seen) and any(a > 0 for a, _ in seen)


def test_prefix_affinity_follows_the_cached_prefix():
    prefix = list(range(1000, 1064))  # 64 shared tokens of 80
    ids = [[*prefix, *range(i * 16, i * 16 + 16)] for i in range(8)]
    arrivals = np.arange(8) * 50_000_000
    wl = Workload.from_arrays([80] * 8, [2] * 8, arrivals, token_ids=ids)
    affinity = simulate(cluster(4, "prefix_affinity", prefix_caching=True), [(wl, "r")])
    assert set(affinity.instance.tolist()) == {affinity.instance[0]}  # all where the prefix is
    assert affinity.summary()["prefix_cache"]["hit_tokens"] == 7 * 64
    spread = simulate(cluster(4, "round_robin", prefix_caching=True), [(wl, "r")])
    assert spread.summary()["prefix_cache"]["hit_tokens"] == 4 * 64  # each instance computes it once


def test_prefix_affinity_gives_way_to_load_balance():
    prefix = list(range(1000, 1064))
    ids = [[*prefix, *range(i * 16, i * 16 + 16)] for i in range(40)]
    wl = Workload.from_arrays([80] * 40, [100] * 40, np.r_[0, np.full(39, 10_000_000)], token_ids=ids)
    c = cluster(2, "prefix_affinity", {"balance_abs": 4, "balance_rel": 1.5}, prefix_caching=True, max_num_seqs=64)
    result = simulate(c, [(wl, "r")])
    counts = np.bincount(result.instance, minlength=2)
    assert counts.min() >= 15  # imbalance beyond 4 requests sends the next ones to the other instance


class Stub:
    """What a router reads of an instance."""

    def __init__(self, backlog, running, cached=0, kv_tokens=0):
        self.prefill_backlog_tokens = backlog
        self.num_running = running
        self.load = running
        self.cost = AffineCost(base=1_000_000, per_token=1_000, per_kv=10, record=False)
        self.spec = instance(0, max_num_batched_tokens=1000)
        self.kv = type("KV", (), {"num_blocks": 1000, "num_free": 1000 - kv_tokens // 16, "block_size": 16})()
        self._cached = cached

    def cached_tokens(self, request):
        return self._cached


def test_slo_aware_predicts_ttft_and_keeps_decode_steps_within_the_tpot_objective():
    from llmsim.runtime.request import Request
    from llmsim.runtime.router import SLOAware

    req = Request(0, 0, 0, prompt_len=500, output_len=10)
    busy = Stub(backlog=3000, running=1)
    crowded = Stub(backlog=0, running=15, kv_tokens=16_000)
    # TTFT: 1000-token prefill steps of 1 ms + 1 us per token, then the rest: 3500 tokens -> 3 x 2 + 1.5 ms.
    assert SLOAware.predict_ttft_ns(req, busy) == 7_500_000
    assert SLOAware.predict_ttft_ns(req, crowded) == 1_500_000
    assert SLOAware.predict_ttft_ns(req, Stub(0, 0, cached=400)) == 1_100_000  # cached tokens are free
    # Decode step: 16 sequences at 1,000 tokens of context each: 1 ms + 16 us + 160 us.
    assert SLOAware.predict_decode_step_ns(crowded) == 1_176_000
    assert SLOAware.predict_decode_step_ns(busy) == 1_002_020  # two sequences, no KV yet: context 1
    stubs = [busy, crowded]
    assert SLOAware(2).choose(req, stubs) == 1  # the shortest TTFT
    assert SLOAware(2, options={"tpot_ns": 1_100_000}).choose(req, stubs) == 0  # the crowded one is too slow
    assert SLOAware(2, options={"tpot_ns": 1}).choose(req, stubs) == 1  # neither can: the shortest TTFT


def test_routers_get_their_options_and_a_seed():
    got = {}

    @register_router("test_options")
    class Opt(Router):
        def __init__(self, num_instances, seed=0, options=None):
            super().__init__(num_instances, seed, options)
            got.update(self.options, seed=seed, n=num_instances)

        def choose(self, request, instances):
            return 0

    wl = Workload.from_arrays([10], [2], [0])
    simulate(cluster(3, "test_options", {"k": 1}, seed=5), [(wl, "r")])
    assert got["k"] == 1 and got["n"] == 3 and isinstance(got["seed"], int)
