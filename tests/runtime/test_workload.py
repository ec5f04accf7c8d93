from fractions import Fraction

import numpy as np
import pytest

from llmsim.diagnostics import SourceFile, Span, UserError
from llmsim.lang.ir import (
    ClosedLoopArrivals,
    ConstantArrivals,
    DatasetLengths,
    FixedLength,
    LognormalLength,
    PoissonArrivals,
    TraceArrivals,
    TraceSource,
    UniformLength,
    WorkloadDecl,
)
from llmsim.runtime import ClosedLoop, build_workload, simulate
from llmsim.runtime.lengths import load_dataset
from llmsim.runtime.traces import read_trace

from .rt_helpers import FIXTURES, cluster, instance

SPAN = Span(SourceFile("test.llms", "workload w {}\n"), 1, 1, 1, 9)


def decl(arrival=None, *, requests=100, seed=7, prompt=None, output=None, lengths=None, trace=None):
    if prompt is None and output is None and lengths is None and trace is None:
        prompt, output = FixedLength(100, SPAN), FixedLength(10, SPAN)
    return WorkloadDecl(
        "w",
        requests,
        seed,
        arrival if arrival is not None else PoissonArrivals(Fraction(10), SPAN),
        prompt,
        output,
        lengths,
        trace,
        None,
        SPAN,
    )


def test_poisson_mean_rate_for_a_fixed_seed():
    wl = build_workload(decl(PoissonArrivals(Fraction(50), SPAN), requests=20_000, seed=1))
    assert wl.arrival_ns.dtype == np.int64 and wl.arrival_ns[0] == 0
    assert np.all(np.diff(wl.arrival_ns) >= 0)
    rate = (len(wl) - 1) / (wl.arrival_ns[-1] / 1e9)
    assert rate == pytest.approx(50, rel=0.02)
    gaps = np.diff(wl.arrival_ns)
    assert np.std(gaps) == pytest.approx(np.mean(gaps), rel=0.05)  # exponential: std == mean


def test_workloads_are_deterministic_in_the_seed():
    d = decl(
        prompt=UniformLength(1, 500, SPAN), output=LognormalLength(Fraction(50), Fraction(1), 1, 400, SPAN)
    )
    a, b = build_workload(d), build_workload(d)
    for name in ("arrival_ns", "prompt_tokens", "output_tokens"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    c = build_workload(decl(prompt=UniformLength(1, 500, SPAN), output=FixedLength(3, SPAN), seed=8))
    assert not np.array_equal(a.arrival_ns, c.arrival_ns)


def test_streams_are_independent():
    base = build_workload(decl(prompt=UniformLength(1, 500, SPAN), output=FixedLength(3, SPAN)))
    other = build_workload(decl(prompt=UniformLength(1, 500, SPAN), output=UniformLength(1, 9, SPAN)))
    assert np.array_equal(base.arrival_ns, other.arrival_ns)
    assert np.array_equal(base.prompt_tokens, other.prompt_tokens)


def test_constant_rate_is_exact():
    wl = build_workload(decl(ConstantArrivals(Fraction(3), SPAN), requests=4))
    assert list(wl.arrival_ns) == [0, 333_333_333, 666_666_667, 1_000_000_000]


def test_closed_loop_workload():
    wl = build_workload(decl(ClosedLoopArrivals(4, 5_000_000, SPAN), requests=12))
    assert wl.arrival_ns is None and wl.closed_loop == ClosedLoop(4, 5_000_000) and len(wl) == 12


def test_length_distributions():
    n = 5000
    wl = build_workload(
        decl(
            requests=n,
            prompt=UniformLength(10, 20, SPAN),
            output=LognormalLength(Fraction(100), Fraction(1, 2), 5, 300, SPAN),
        )
    )
    assert wl.prompt_tokens.min() == 10 and wl.prompt_tokens.max() == 20
    assert wl.output_tokens.min() >= 5 and wl.output_tokens.max() <= 300
    assert np.median(wl.output_tokens) == pytest.approx(100, rel=0.05)
    fixed = build_workload(decl(requests=3))
    assert list(fixed.prompt_tokens) == [100] * 3 and list(fixed.output_tokens) == [10] * 3


def test_dataset_pairs_are_sampled_jointly():
    prompt, output = load_dataset("sharegpt")
    assert len(prompt) == 300
    pairs = set(zip(prompt.tolist(), output.tolist()))
    wl = build_workload(decl(requests=500, lengths=DatasetLengths("sharegpt", SPAN)))
    assert set(zip(wl.prompt_tokens.tolist(), wl.output_tokens.tolist())) <= pairs
    with pytest.raises(UserError, match="unknown length dataset `sharegtp`") as e:
        build_workload(decl(lengths=DatasetLengths("sharegtp", SPAN)))
    assert e.value.help == "did you mean `sharegpt`?"


def trace_decl(fmt, path, arrival=None, requests=None, **kw):
    return decl(
        arrival or TraceArrivals(Fraction(1), SPAN),
        requests=requests,
        trace=TraceSource(path, fmt, SPAN),
        **kw,
    )


def test_trace_arrivals_are_relative_and_scaled():
    path = FIXTURES / "sharegpt_excerpt.jsonl"
    raw = read_trace(path, "sharegpt").arrival_ns
    wl = build_workload(trace_decl("sharegpt", path, TraceArrivals(Fraction(1, 2), SPAN)))
    assert len(wl) == 20
    assert list(wl.arrival_ns) == [((int(t) - int(raw[0])) + 1) // 2 for t in raw]
    assert wl.token_ids is not None and len(wl.token_ids[0]) == wl.prompt_tokens[0]


def test_trace_requests_limit_and_shortfall():
    path = FIXTURES / "mooncake_conversation_excerpt.jsonl"
    wl = build_workload(trace_decl("mooncake", path, requests=5))
    assert len(wl) == 5 and wl.hash_ids is not None and len(wl.hash_ids) == 5
    with pytest.raises(UserError, match=r"41 requests asked for, but trace .* has only 40"):
        build_workload(trace_decl("mooncake", path, requests=41))


def test_trace_lengths_with_other_arrivals_and_overrides():
    path = FIXTURES / "sharegpt_excerpt.jsonl"
    wl = build_workload(trace_decl("sharegpt", path, PoissonArrivals(Fraction(5), SPAN), requests=10))
    assert wl.token_ids is not None and wl.arrival_ns[0] == 0
    wl = build_workload(trace_decl("sharegpt", path, requests=10, prompt=FixedLength(8, SPAN)))
    assert wl.token_ids is None and list(wl.prompt_tokens) == [8] * 10  # ids no longer describe the prompt
    assert list(wl.output_tokens) == list(read_trace(path, "sharegpt", limit=10).output_tokens)


def test_errors():
    with pytest.raises(UserError, match="number of requests is not given"):
        build_workload(decl(requests=None))
    with pytest.raises(UserError, match="trace arrivals need a trace"):
        build_workload(decl(TraceArrivals(Fraction(1), SPAN)))
    path = FIXTURES / "sharegpt_excerpt.jsonl"
    with pytest.raises(UserError, match="no output lengths"):
        build_workload(decl(requests=3, prompt=FixedLength(3, SPAN)))
    assert len(build_workload(trace_decl("sharegpt", path))) == 20


def test_fixture_traces_simulate_with_prefix_sharing():
    wl = build_workload(trace_decl("mooncake", FIXTURES / "mooncake_conversation_excerpt.jsonl", requests=40))
    spec = instance(
        prefix_caching=True,
        num_kv_blocks=20_000,
        block_size=64,
        max_model_len=131_072,
        max_num_batched_tokens=8192,
    )
    result = simulate(cluster(spec), [(wl, "r")])
    s = result.summary()
    assert s["requests"]["completed"] == 40
    # Every conversation starts with hash id 0: at least 512 tokens hit for all but the first.
    assert s["prefix_cache"]["hit_tokens"] >= 39 * 512
