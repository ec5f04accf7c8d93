"""Prefill/decode disaggregation: roles, KV transfer timing and contention, metric definitions,
backpressure, and random disaggregated clusters with every invariant checked."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmsim.runtime import ClusterSpec, RouterSpec, Workload, simulate
from llmsim.runtime.spec import HandoffSpec, LinkSpec, TierSpec
from llmsim.runtime.transfer import transfer_ns

from .rt_helpers import AffineCost, instance

GB = 1_000_000_000
KV_PER_TOKEN = 1000  # bytes of KV per token on one rank


def disagg(n_prefill=1, n_decode=1, link=None, decode_policy="least_loaded", prefill_kw=None, decode_kw=None,
           policy="round_robin"):
    """Prefill instances main.prefill[i] and decode instances main.decode[j], with fresh costs."""
    link = link or LinkSpec("ib", 50 * GB, latency_ns=5_000, kind="infiniband")
    specs = []
    for i in range(n_prefill):
        specs.append(instance(i, AffineCost(), role="prefill", kv_bytes_per_token=KV_PER_TOKEN,
                              **{"name": f"main.prefill[{i}]", "pool": "main.prefill", **(prefill_kw or {})}))
    for j in range(n_decode):
        specs.append(instance(j, AffineCost(), role="decode", kv_bytes_per_token=KV_PER_TOKEN,
                              **{"name": f"main.decode[{j}]", "pool": "main.decode", **(decode_kw or {})}))
    prefill = tuple(range(n_prefill))
    decode = tuple(range(n_prefill, n_prefill + n_decode))
    handoff = HandoffSpec("main", prefill, RouterSpec("main.decode_router", decode_policy, decode), link)
    return ClusterSpec(tuple(specs), {"r": RouterSpec("r", policy, prefill)}, (handoff,))


def test_prefill_instances_prefill_and_decode_instances_decode():
    wl = Workload.from_arrays([100, 40, 70], [5, 8, 1], [0, 1_000_000, 2_000_000])
    c = disagg(2, 2)
    result = simulate(c, [(wl, "r")], debug=True)
    s = result.summary()
    assert s["requests"]["completed"] == 3
    for spec in c.instances:
        for shape in spec.cost.shapes:
            if spec.role == "prefill":
                assert shape.n_decode == 0, "a prefill instance decoded"
            else:
                assert not shape.prefills, "a decode instance prefilled"
    # The one-token request finished on its prefill instance; the others on the least loaded
    # decode instance (the second found the first busy).
    assert list(result.prefill_instance) == [0, 1, 0]
    assert list(result.instance) == [2, 3, 0]
    assert result.kv_start_ns[2] == -1
    assert s["kv_transfer"]["requests"] == 2


def test_an_uncontended_transfer_takes_bytes_over_bandwidth_plus_latency():
    link = LinkSpec("ib", 50 * GB, latency_ns=5_000)
    wl = Workload.from_arrays([1000, 1000], [4, 4], [0, 1_000_000_000])
    result = simulate(disagg(link=link), [(wl, "r")], debug=True)
    expected = transfer_ns(1000 * KV_PER_TOKEN, link)
    assert expected == 5_000 + 20_000
    assert list(result.kv_done_ns - result.kv_start_ns) == [expected, expected]
    s = result.summary()
    assert s["kv_transfer"]["time_ms"]["mean"] == expected / 1e6
    assert s["kv_transfer"]["bytes_per_link"] == 2 * 1000 * KV_PER_TOKEN
    assert s["links"]["main.kv_out"]["bytes"] == s["links"]["main.kv_in"]["bytes"] == 2_000_000
    assert s["links"]["main.kv_out"]["busy_s"] == pytest.approx(2 * 20_000 / 1e9)


def test_simultaneous_handoffs_share_the_link():
    link = LinkSpec("ib", 1 * GB, latency_ns=0)  # 1 byte per ns
    # Two prompts prefilled in the same step: their transfers start together and share the link.
    wl = Workload.from_arrays([100, 100], [3, 3], [0, 0])
    result = simulate(disagg(link=link, prefill_kw={"max_num_batched_tokens": 256}), [(wl, "r")], debug=True)
    assert result.kv_start_ns[0] == result.kv_start_ns[1]
    alone = 100 * KV_PER_TOKEN  # ns at the full bandwidth
    assert list(result.kv_done_ns - result.kv_start_ns) == [2 * alone, 2 * alone]


def test_ttft_ends_at_the_prefill_and_the_transfer_lands_in_the_first_token_gap():
    link = LinkSpec("slow", GB // 10, latency_ns=1_000_000)  # 0.1 byte per ns: 100 tokens take 1 ms + 1 ms
    wl = Workload.from_arrays([100], [3], [0])
    c = disagg(link=link)
    result = simulate(c, [(wl, "r")], debug=True)
    prefill_step = 1_000_000 + 10_000 * 100  # AffineCost: base + per token
    decode_step = 1_000_000 + 10_000
    transfer = 1_000_000 + 100 * KV_PER_TOKEN * 10
    assert result.ttft_ns()[0] == prefill_step
    assert result.kv_start_ns[0] == prefill_step  # a decode slot was free at once
    assert result.kv_done_ns[0] == prefill_step + transfer
    assert result.finish_ns[0] == prefill_step + transfer + 2 * decode_step
    # TPOT includes the transfer: (last - first) / (3 - 1).
    assert result.tpot_ns()[0] == (transfer + 2 * decode_step) / 2
    assert result.queue_ns()[0] == 0


def test_requests_too_long_for_the_decode_instances_are_rejected_before_their_prefill():
    wl = Workload.from_arrays([100, 100], [2, 200], [0, 1])
    c = disagg(decode_kw={"max_model_len": 200})
    result = simulate(c, [(wl, "r")], debug=True)
    assert list(result.rejected_ids) == [1]
    assert all(s.num_tokens < 200 for s in c.instances[0].cost.shapes)  # its prompt was never computed


def test_a_full_decode_instance_holds_the_prefill_back_and_nothing_is_lost():
    # The decode instance has 10 blocks of 16 tokens, less than two 60 + 40 token requests need. The
    # prefill instance has 12: it holds at most three prompts' KV (4 blocks each) until sent.
    n = 12
    wl = Workload.from_arrays([60] * n, [40] * n, np.zeros(n))
    c = disagg(decode_kw={"num_kv_blocks": 10}, prefill_kw={"num_kv_blocks": 12})
    result = simulate(c, [(wl, "r")], debug=True)
    s = result.summary()
    assert s["requests"]["completed"] == n
    assert s["kv_transfer"]["wait_ms"]["p99"] > 0  # first tokens waited for a decode slot
    first, done = result.first_token_ns, result.kv_done_ns
    for t in first:
        assert np.count_nonzero((first <= t) & (done > t)) <= 3
    # The decode instance takes a request when its prompt fits (as vLLM's does), so two fit at once
    # and their outputs then outgrow the blocks: it preempts, and recomputes on its own.
    assert s["requests"]["preemptions"] > 0


@st.composite
def disagg_configs(draw):
    def side():
        block_size = draw(st.sampled_from([1, 4, 16]))
        tiers = ()
        if draw(st.booleans()):  # a KV tier too: offload and swap on either side
            blocks = draw(st.integers(1, 20))
            tiers = (TierSpec("t", "cpu", blocks * block_size * KV_PER_TOKEN, LinkSpec("t", GB), draw(st.booleans())),)
        return dict(num_kv_blocks=draw(st.integers(6, 30)), block_size=block_size,
                    max_num_seqs=draw(st.integers(1, 5)), max_num_batched_tokens=draw(st.integers(16, 64)),
                    max_model_len=100, prefix_caching=draw(st.booleans()), async_scheduling=draw(st.booleans()),
                    tiers=tiers)
    link = LinkSpec("l", draw(st.sampled_from([GB // 100, GB, 100 * GB])), draw(st.integers(0, 10_000)))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), link, side(), side(),
            draw(st.sampled_from(["round_robin", "least_loaded", "least_outstanding_tokens", "power_of_two",
                                  "prefix_affinity", "random"])))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disagg_configs(), st.integers(1, 20), st.integers(0, 2**16))
def test_random_disaggregated_runs_lose_no_request(config, n, seed):
    n_prefill, n_decode, link, pkw, dkw, policy = config
    rng = np.random.default_rng(seed)
    prompts, outputs = rng.integers(1, 50, n), rng.integers(1, 40, n)
    ids = [rng.integers(0, 3, p).tolist() for p in prompts]
    wl = Workload.from_arrays(prompts, outputs, np.sort(rng.integers(0, 3_000_000, n)), token_ids=ids)
    c = disagg(n_prefill, n_decode, link, decode_policy=policy, prefill_kw=pkw, decode_kw=dkw, policy=policy)
    # debug: KV invariants on both sides (prefill blocks held until sent) and, at the end, every
    # block free, no request waiting for blocks or a transfer, no transfer in flight.
    result = simulate(c, [(wl, "r")], debug=True)
    s = result.summary()
    assert s["requests"]["completed"] + s["requests"]["rejected"] == n
    moved = result.kv_start_ns >= 0
    assert np.array_equal(moved, result.output_tokens > 1)  # every multi-token request crossed the link
    assert np.all(result.kv_done_ns[moved] - result.kv_start_ns[moved] >= link.latency_ns)
    assert np.all(result.kv_start_ns[moved] >= result.first_token_ns[moved])
    assert np.all(result.finish_ns[moved] > result.kv_done_ns[moved])
