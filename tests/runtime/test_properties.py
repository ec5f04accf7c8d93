"""Property tests: random small clusters and workloads, simulated with every invariant checked."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmsim.runtime import ClosedLoop, Workload, simulate

from .rt_helpers import AffineCost, cluster, instance


@st.composite
def configs(draw):
    max_model_len = draw(st.integers(4, 96))
    chunked = draw(st.booleans())
    budget = draw(st.integers(1, 64)) if chunked else draw(st.integers(max_model_len, 2 * max_model_len))
    return dict(
        num_kv_blocks=draw(st.integers(1, 40)),
        block_size=draw(st.sampled_from([1, 2, 4, 8, 16])),
        max_num_seqs=draw(st.integers(1, 6)),
        max_num_batched_tokens=budget,
        chunked_prefill=chunked,
        long_prefill_token_threshold=draw(st.sampled_from([0, 0, 1, 3, 16])),
        max_model_len=max_model_len,
        prefix_caching=draw(st.booleans()),
    )


@st.composite
def workloads(draw):
    n = draw(st.integers(1, 25))
    prompts = draw(st.lists(st.integers(1, 60), min_size=n, max_size=n))
    outputs = draw(st.lists(st.integers(1, 30), min_size=n, max_size=n))
    ids = None
    if draw(st.booleans()):  # token ids from a tiny vocabulary: lots of shared prefixes
        vocab = draw(st.integers(1, 3))
        seed = draw(st.integers(0, 2**16))
        rng = np.random.default_rng(seed)
        ids = [rng.integers(0, vocab, p).tolist() for p in prompts]
    if draw(st.booleans()):
        clients = draw(st.integers(1, 4))
        think = draw(st.integers(0, 3_000_000))
        return Workload.from_arrays(prompts, outputs, closed_loop=ClosedLoop(clients, think), token_ids=ids)
    arrivals = sorted(draw(st.lists(st.integers(0, 20_000_000), min_size=n, max_size=n)))
    return Workload.from_arrays(prompts, outputs, arrivals, token_ids=ids)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), workloads(), st.integers(1, 3), st.integers(0, 3))
def test_random_runs_keep_every_invariant(config, wl, n_instances, per_kv):
    costs = [AffineCost(base=100_000, per_token=1_000, per_kv=per_kv) for _ in range(n_instances)]
    specs = [instance(i, costs[i], **config) for i in range(n_instances)]
    # debug=True checks the KV invariants and scheduling limits after every step and that no block
    # is left in use at the end; the engine asserts that time never goes backwards.
    result = simulate(cluster(*specs), [(wl, "r")], debug=True)
    s = result.summary()
    n = len(wl)

    # Every request accounted for: completed or rejected, and rejected exactly when it can never run.
    total = wl.prompt_tokens + wl.output_tokens
    never = (total > config["max_model_len"]) | (
        -(-(total - 1) // config["block_size"]) > config["num_kv_blocks"]
    )
    assert s["requests"]["submitted"] == n
    assert s["requests"]["completed"] + s["requests"]["rejected"] == n
    if wl.closed_loop is None:  # ids follow the rows
        assert sorted(result.rejected_ids.tolist()) == np.flatnonzero(never).tolist()
    else:
        assert s["requests"]["rejected"] == int(never.sum())

    # Limits of every step.
    for cost in costs:
        for shape in cost.shapes:
            assert 0 < shape.num_tokens <= config["max_num_batched_tokens"]
            assert shape.num_seqs <= config["max_num_seqs"]
            assert shape.n_decode + len(shape.prefills) == shape.num_seqs
            assert shape.num_tokens == shape.n_decode + sum(c for c, _ in shape.prefills)
            if config["long_prefill_token_threshold"]:
                assert all(c <= config["long_prefill_token_threshold"] for c, _ in shape.prefills)

    # Per-request times are ordered; every output token was produced once.
    assert np.all(result.first_scheduled_ns >= result.arrival_ns)
    assert np.all(result.first_token_ns > result.first_scheduled_ns)
    assert np.all(result.finish_ns >= result.first_token_ns)
    assert int(result.itl_counts.sum()) == int((result.output_tokens - 1).sum())
    assert s["requests"]["preempted"] <= s["requests"]["preemptions"]
    if s["prefix_cache"]["queried_tokens"]:
        assert s["prefix_cache"]["queried_tokens"] == int(result.prompt_tokens.sum())
        assert (
            s["prefix_cache"]["hit_tokens"]
            <= s["prefix_cache"]["queried_tokens"] - s["requests"]["completed"]
        )
    if wl.closed_loop is not None:
        for t in result.arrival_ns:
            in_flight = np.count_nonzero((result.arrival_ns <= t) & (result.finish_ns > t))
            assert in_flight <= wl.closed_loop.clients


class _Stages:
    """A fake StageCostModel over an affine cost split evenly between `pp` stages."""

    def __init__(self, pp: int, send: int, host: int):
        self.pp, self.send, self.host = pp, send, host

    def stage_times_ns(self, batch):
        return [100_000 + 1_000 * batch.num_tokens] * self.pp

    def stage_transfer_ns(self, batch):
        return [self.send] * (self.pp - 1)

    def host_ns(self, batch):
        return self.host

    def step_time_ns(self, batch):
        return self.host + sum(self.stage_times_ns(batch)) + self.send * (self.pp - 1)


class _Group:
    def group_step_time_ns(self, batches):
        return max(100_000 + 1_000 * b.num_tokens for b in batches) + 10 * sum(b.num_tokens for b in batches)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), workloads(), st.sampled_from(["pp", "speculative", "lockstep"]), st.integers(1, 3),
       st.sampled_from([0.0, 0.5, 1.0]), st.booleans())
def test_parallel_runtimes_keep_every_invariant(config, wl, kind, degree, acceptance, async_scheduling):
    from llmsim.runtime import ClusterSpec, LockstepSpec, RouterSpec, SpeculativeSpec

    config = dict(config, async_scheduling=async_scheduling)
    k = 0
    if kind == "pp":
        stages = _Stages(degree, send=5_000, host=1_000)
        specs = [instance(0, stages, stages=stages, pp=degree, **config)]
    elif kind == "speculative":
        k = min(degree, config["max_num_batched_tokens"] - 1)
        spec = SpeculativeSpec(k, acceptance) if k else None
        specs = [instance(0, AffineCost(base=100_000, per_token=1_000), speculative=spec, **config)]
    else:
        specs = [instance(i, AffineCost(record=False), **config) for i in range(degree + 1)]
    lockstep = (LockstepSpec("g", tuple(range(len(specs))), _Group()),) if kind == "lockstep" else ()
    cl = ClusterSpec(tuple(specs), {"r": RouterSpec("r", "round_robin", tuple(range(len(specs))))},
                     lockstep=lockstep)
    result = simulate(cl, [(wl, "r")], debug=True)
    s = result.summary()
    n = len(wl)
    total = wl.prompt_tokens + wl.output_tokens
    never = (total > config["max_model_len"]) | (
        -(-(total - 1 + k) // config["block_size"]) > config["num_kv_blocks"]
    )
    assert s["requests"]["completed"] + s["requests"]["rejected"] == n
    assert s["requests"]["rejected"] == int(never.sum())
    done = ~np.isin(np.arange(n), result.rejected_ids) if wl.closed_loop is None else None
    if done is not None:
        assert result.output_tokens.tolist() == wl.output_tokens[done].tolist()
    assert np.all(result.first_token_ns > result.first_scheduled_ns)
    assert np.all(result.finish_ns >= result.first_token_ns)
    if k:  # tokens accepted together arrive together: one gap per delivery
        assert int(result.itl_counts.sum()) <= int((result.output_tokens - 1).sum())
    else:
        assert int(result.itl_counts.sum()) == int((result.output_tokens - 1).sum())
    assert result.timeline.totals()["output_tokens"] == int(result.output_tokens.sum())
    if kind == "lockstep":
        steps = result.timeline.sums["steps"].sum(axis=1)
        assert len(set(steps.tolist())) == 1
