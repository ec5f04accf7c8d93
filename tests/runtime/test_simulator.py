import numpy as np
import pytest

from llmsim.diagnostics import UserError
from llmsim.runtime import (
    ClosedLoop,
    ClusterSpec,
    Router,
    RouterSpec,
    Workload,
    register_router,
    simulate,
)
from llmsim.runtime.engine import Engine

from .rt_helpers import AffineCost, cluster, instance


def poissonish(n, seed=0, mean_gap_ns=2_000_000, prompt=(1, 300), output=(1, 60)):
    rng = np.random.default_rng(seed)
    return Workload.from_arrays(
        rng.integers(*prompt, n), rng.integers(*output, n), np.cumsum(rng.integers(0, 2 * mean_gap_ns, n))
    )


def test_every_request_completes_and_round_robin_alternates():
    wl = poissonish(200)
    result = simulate(cluster(instance(0), instance(1)), [(wl, "r")], debug=True)
    s = result.summary()
    assert s["requests"]["submitted"] == s["requests"]["completed"] == 200
    assert list(result.instance) == [i % 2 for i in range(200)]
    assert list(result.prompt_tokens) == list(wl.prompt_tokens)
    assert list(result.output_tokens) == list(wl.output_tokens)
    assert np.all(result.first_scheduled_ns >= result.arrival_ns)
    assert np.all(result.first_token_ns > result.first_scheduled_ns)
    assert np.all(result.finish_ns >= result.first_token_ns)
    assert int(result.itl_counts.sum()) == int((wl.output_tokens - 1).sum())


def test_rejected_requests_are_counted_not_dropped():
    spec = instance(0, num_kv_blocks=5, block_size=4, max_model_len=100)
    # (10, 5): 14 tokens cached at most, 4 blocks; (18, 3): 20 tokens, 5 blocks;
    # (18, 4): 21 tokens, 6 blocks > 5; (95, 10): longer than max_model_len.
    wl = Workload.from_arrays([10, 18, 18, 95], [5, 3, 4, 10], [0, 1, 2, 3])
    result = simulate(cluster(spec), [(wl, "r")], debug=True)
    assert result.summary()["requests"] == {
        "submitted": 4,
        "completed": 2,
        "preempted": 0,
        "preemptions": 0,
        "rejected": 2,
        "swapped": 0,
    }
    assert list(result.rejected_ids) == [2, 3]
    assert list(result.id) == [0, 1]
    without_rows = simulate(cluster(spec), [(wl, "r")], debug=True, keep_requests=False)
    assert without_rows.summary() == result.summary()  # the count is kept, the ids are not


def test_closed_loop_keeps_at_most_n_requests_in_flight():
    n, clients, think = 20, 3, 2_000_000
    wl = Workload.from_arrays([50] * n, [5] * n, closed_loop=ClosedLoop(clients, think))
    result = simulate(cluster(instance()), [(wl, "r")], debug=True)
    arrivals, finishes = np.sort(result.arrival_ns), np.sort(result.finish_ns)
    assert len(arrivals) == n
    assert list(arrivals[:clients]) == [0] * clients
    # Each later request is sent `think` after a completion, one per completion, in order.
    assert list(arrivals[clients:]) == list(finishes[: n - clients] + think)
    for t in result.arrival_ns:
        in_flight = np.count_nonzero((result.arrival_ns <= t) & (result.finish_ns > t))
        assert in_flight <= clients


def test_closed_loop_continues_after_a_rejection():
    wl = Workload.from_arrays([10, 5000, 10, 10], [3, 3, 3, 3], closed_loop=ClosedLoop(1, 0))
    result = simulate(cluster(instance()), [(wl, "r")])
    s = result.summary()["requests"]
    assert (s["submitted"], s["completed"], s["rejected"]) == (4, 3, 1)


def test_max_time_stops_the_clock():
    wl = Workload.from_arrays([100] * 100, [20] * 100, np.arange(100) * 10_000_000)
    result = simulate(cluster(instance()), [(wl, "r")], max_time_ns=200_000_000)
    s = result.summary()
    assert s["sim"]["simulated_s"] <= 0.2
    assert 0 < s["requests"]["completed"] < s["requests"]["submitted"] <= 21


def test_prefix_caching_hits_shared_prefixes_exactly():
    shared = list(range(1000, 1064))  # four 16-token blocks
    p0 = [*shared, *range(16)]
    p1 = [*shared, *range(100, 116)]
    ids = [p0, p1, p0, [*p0, 7]]
    wl = Workload.from_arrays(
        [len(p) for p in ids], [2] * 4, [0, 100_000_000, 200_000_000, 300_000_000], token_ids=ids
    )
    result = simulate(cluster(instance(prefix_caching=True)), [(wl, "r")], debug=True)
    pc = result.summary()["prefix_cache"]
    # r1 hits the shared 64; r2 (= r0) hits 64, not 80: its last token is recomputed;
    # r3 (r0 + 1 token) hits all five of r0's blocks.
    assert pc["queried_tokens"] == 80 + 80 + 80 + 81
    assert pc["hit_tokens"] == 0 + 64 + 64 + 80
    assert pc["hit_rate"] == pytest.approx(208 / 321)


def test_prefix_hits_shorten_the_prefill():
    shared = list(range(64))
    ids = [[*shared, 1, 2], [*shared, 3, 4]]
    cost = AffineCost()
    wl = Workload.from_arrays([66, 66], [1, 1], [0, 50_000_000], token_ids=ids)
    simulate(cluster(instance(0, cost, prefix_caching=True)), [(wl, "r")])
    assert [s.prefills for s in cost.shapes] == [((66, 0),), ((2, 64),)]


def test_preemptions_under_prefix_caching_never_count_a_prefix_twice():
    rng = np.random.default_rng(3)
    n = 30
    ids = [list(rng.integers(0, 3, rng.integers(8, 25))) for _ in range(n)]
    wl = Workload.from_arrays([len(p) for p in ids], rng.integers(5, 21, n), np.zeros(n), token_ids=ids)
    spec = instance(prefix_caching=True, num_kv_blocks=12, block_size=4, max_num_seqs=8)
    result = simulate(cluster(spec), [(wl, "r")], debug=True)
    s = result.summary()
    assert s["requests"]["preemptions"] > 0
    assert s["requests"]["completed"] == n
    # Each request is looked up once for the statistics, on its first admission, with its prompt.
    assert s["prefix_cache"]["queried_tokens"] == sum(len(p) for p in ids)
    assert 0 < s["prefix_cache"]["hit_tokens"] < s["prefix_cache"]["queried_tokens"]


def test_same_inputs_give_identical_results():
    def once():
        ids = [[i % 5] * 40 for i in range(80)]
        wl = Workload.from_arrays(
            [40] * 80, [1 + i % 7 for i in range(80)], np.arange(80) * 300_000, token_ids=ids
        )
        specs = [
            instance(i, AffineCost(per_kv=3), prefix_caching=True, num_kv_blocks=30, block_size=4)
            for i in (0, 1)
        ]
        return simulate(cluster(*specs), [(wl, "r"), (poissonish(50, seed=9), "r")])

    a, b = once(), once()
    assert a.summary() == b.summary()
    for name in a.columns:
        assert np.array_equal(a.columns[name], b.columns[name])
    assert np.array_equal(a.itl_values_ns, b.itl_values_ns) and np.array_equal(a.itl_counts, b.itl_counts)


def test_arrivals_are_generated_lazily(monkeypatch):
    peak = [0]
    original = Engine.at

    def at(self, *args):
        original(self, *args)
        peak[0] = max(peak[0], len(self))

    monkeypatch.setattr(Engine, "at", at)
    simulate(cluster(instance(0), instance(1)), [(poissonish(300), "r"), (poissonish(300, seed=1), "r")])
    # One pending arrival per workload, plus at most one step event per instance.
    assert peak[0] <= 2 + 2


def test_workloads_bind_to_their_own_routers():
    specs = (instance(0), instance(1), instance(2))
    cl = ClusterSpec(
        specs, {"a": RouterSpec("a", "round_robin", (0,)), "b": RouterSpec("b", "round_robin", (1, 2))}
    )
    result = simulate(cl, [(poissonish(10), "a"), (poissonish(10, seed=2), "b")])
    by_workload = {w: set(result.instance[result.workload == w].tolist()) for w in (0, 1)}
    assert by_workload == {0: {0}, 1: {1, 2}}


def test_unknown_router_and_policy_are_user_errors():
    with pytest.raises(UserError, match="no router named `rr`"):
        simulate(cluster(instance()), [(poissonish(3), "rr")])
    with pytest.raises(UserError, match="unknown router policy `round_robbin`") as e:
        simulate(cluster(instance(), policy="round_robbin"), [(poissonish(3), "r")])
    assert "round_robin" in e.value.help


def test_third_party_router_policies_plug_in():
    @register_router("always_last_for_test")
    class AlwaysLast(Router):
        def choose(self, request, instances):
            return len(instances) - 1

    result = simulate(
        cluster(instance(0), instance(1), policy="always_last_for_test"), [(poissonish(10), "r")]
    )
    assert set(result.instance.tolist()) == {1}


def test_csv_is_written_as_requests_finish(tmp_path):
    path = tmp_path / "out.csv"
    result = simulate(cluster(instance()), [(poissonish(25), "r")], csv_path=path)
    lines = path.read_text().splitlines()
    assert (
        lines[0]
        == "id,instance,arrival_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms,e2e_ms,queue_ms,preemptions"
    )
    assert len(lines) == 26
    finished_order = np.argsort(result.finish_ns, kind="stable")
    assert sorted(int(line.split(",")[0]) for line in lines[1:]) == sorted(result.id[finished_order].tolist())


def test_mooncake_style_hash_ids_share_512_token_blocks():
    # Two conversations sharing their first 512-token block, one sharing nothing.
    wl = Workload.from_arrays(
        [1100, 1100, 1100],
        [2, 2, 2],
        [0, 100_000_000, 200_000_000],
        hash_ids=[[1, 2, 3], [1, 4, 5], [6, 7, 8]],
    )
    spec = instance(prefix_caching=True, block_size=64, max_num_batched_tokens=2048)
    result = simulate(cluster(spec), [(wl, "r")], debug=True)
    assert result.summary()["prefix_cache"]["hit_tokens"] == 512


def test_instance_spec_refuses_impossible_configurations():
    with pytest.raises(ValueError, match="num_kv_blocks must be a positive integer"):
        instance(num_kv_blocks=0)
    with pytest.raises(ValueError, match="without chunked prefill"):
        instance(chunked_prefill=False, max_num_batched_tokens=512, max_model_len=4096)
    with pytest.raises(ValueError, match="out of range"):
        ClusterSpec((instance(),), {"r": RouterSpec("r", "round_robin", (1,))})
