"""Speculative decoding in the runtime: drafts per decode, seeded acceptance, tokens per step, KV slots."""

from __future__ import annotations

import numpy as np
import pytest
from msgspec import structs

from llmsim.runtime import BatchShape, SpeculativeSpec, Workload, simulate

from .rt_helpers import AffineCost, cluster, instance

MS = 1_000_000


class SpecCost:
    """A fake speculative cost: `base` per step, `per_token` per verified token (each decode's k
    drafts included), `draft` per draft pass when the step has decodes."""

    def __init__(self, k: int, base: int = MS, per_token: int = 0, draft: int = 0):
        self.k = k
        self.base = base
        self.per_token = per_token
        self.draft = draft
        self.shapes: list[BatchShape] = []

    def step_time_ns(self, batch: BatchShape) -> int:
        self.shapes.append(batch)
        verified = batch.num_tokens + self.k * batch.n_decode
        return self.base + self.per_token * verified + (self.draft * self.k if batch.n_decode else 0)


def spec_instance(k: int, acceptance: float, cost=None, **overrides):
    cost = cost if cost is not None else SpecCost(k)
    return instance(0, cost=cost, speculative=SpeculativeSpec(k, acceptance), **overrides)


def run(spec, arrivals, prompts, outputs, seed=None, **kw):
    wl = Workload.from_arrays(prompts, outputs, arrivals)
    return simulate(cluster(spec), [(wl, "r")], debug=True, seed=seed, **kw)


def workload(n=80, seed=4, spacing=3 * MS):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(0, spacing, n)), rng.integers(1, 300, n), rng.integers(1, 120, n)


def test_every_draft_accepted_gives_k_plus_one_tokens_per_step():
    cost = SpecCost(4)
    result = run(spec_instance(4, 1.0, cost), [0], [10], [12])
    # prefill (token 1), then 5 + 5 tokens, then 1 (the last step's 5 capped at the output length)
    assert result.output_tokens.tolist() == [12]
    assert len(cost.shapes) == 4 and result.finish_ns.tolist() == [4 * MS]
    assert [s.n_decode for s in cost.shapes] == [0, 1, 1, 1]
    s = result.summary()["speculative"]
    assert (s["verifications"], s["proposed_tokens"], s["accepted_tokens"]) == (3, 12, 12)
    assert s["mean_tokens_per_step"] == 5.0 and s["acceptance_rate"] == 1.0
    # Tokens that arrive together are one gap each (as a stream delivers them): 3 gaps of 1 ms.
    assert result.itl_values_ns.tolist() == [MS] and result.itl_counts.tolist() == [3]


def test_no_draft_accepted_gives_one_token_per_step():
    cost = SpecCost(4)
    result = run(spec_instance(4, 0.0, cost), [0], [10], [12])
    assert len(cost.shapes) == 12 and result.finish_ns.tolist() == [12 * MS]
    s = result.summary()["speculative"]
    assert (s["verifications"], s["accepted_tokens"], s["mean_tokens_per_step"]) == (11, 0, 1.0)


@pytest.mark.parametrize("async_scheduling", [False, True])
def test_mean_tokens_per_step_follows_the_truncated_geometric(async_scheduling):
    arrivals, prompts, outputs = workload(200, spacing=MS)
    result = run(spec_instance(4, 0.7, async_scheduling=async_scheduling), arrivals, prompts, outputs)
    s = result.summary()["speculative"]
    expected = (1 - 0.7**5) / (1 - 0.7)  # 2.77 tokens per step
    assert s["mean_tokens_per_step"] == pytest.approx(expected, rel=0.03)
    assert s["acceptance_rate"] == pytest.approx(s["accepted_tokens"] / (4 * s["verifications"]))
    assert result.output_tokens.tolist() == outputs.tolist()  # never more than the output length
    assert result.summary()["requests"]["completed"] == len(outputs)
    # The timeline counts each step's tokens when it starts: exactly the tokens the steps give.
    assert result.timeline.totals()["output_tokens"] == int(outputs.sum())


def test_acceptance_draws_are_seeded():
    arrivals, prompts, outputs = workload()
    a = run(spec_instance(3, 0.6), arrivals, prompts, outputs, seed=1).summary()
    b = run(spec_instance(3, 0.6), arrivals, prompts, outputs, seed=1).summary()
    c = run(spec_instance(3, 0.6), arrivals, prompts, outputs, seed=2).summary()
    assert a == b
    assert a["speculative"]["accepted_tokens"] != c["speculative"]["accepted_tokens"]


def test_acceptance_0_is_never_faster_than_no_speculation():
    arrivals, prompts, outputs = workload()
    plain = run(instance(0, cost=AffineCost(base=MS, per_token=5_000, record=False)), arrivals, prompts, outputs)
    spec = run(spec_instance(4, 0.0, SpecCost(4, base=MS, per_token=5_000, draft=50_000)), arrivals, prompts,
               outputs)
    assert (spec.finish_ns >= plain.finish_ns).all()
    assert spec.tpot_ns().mean() >= plain.tpot_ns().mean()


def test_acceptance_with_a_cheap_draft_lowers_tpot():
    arrivals, prompts, outputs = workload()
    plain = run(instance(0, cost=AffineCost(base=MS, per_token=5_000, record=False)), arrivals, prompts, outputs)
    spec = run(spec_instance(4, 0.8, SpecCost(4, base=MS, per_token=5_000, draft=50_000)), arrivals, prompts,
               outputs)
    assert spec.tpot_ns().mean() < 0.6 * plain.tpot_ns().mean()


def test_each_decode_counts_its_drafts_against_the_token_budget():
    cost = SpecCost(4)
    result = run(spec_instance(4, 0.5, cost, max_num_batched_tokens=12, max_model_len=12), [0, 0, 0], [1, 1, 1],
                 [6, 6, 6])
    assert result.summary()["requests"]["completed"] == 3
    assert max(s.n_decode for s in cost.shapes) == 2  # 2 x 5 tokens; a third decode would need 15
    assert all(s.num_tokens + 4 * s.n_decode <= 12 for s in cost.shapes)


def test_kv_slots_for_the_drafts_of_the_last_step():
    # 2 blocks of 16 tokens: 20 + 12 - 1 = 31 tokens fit, with 4 drafts past the last one (35) not.
    base = dict(num_kv_blocks=2, block_size=16)
    plain = run(instance(0, **base), [0], [20], [12])
    spec = run(spec_instance(4, 0.5, **base), [0], [20], [12])
    assert plain.summary()["requests"]["completed"] == 1
    assert spec.summary()["requests"]["rejected"] == 1


@pytest.mark.parametrize("prefix_caching", [False, True])
def test_preemptions_with_drafts_in_flight(prefix_caching):
    arrivals, prompts, outputs = workload(60, spacing=MS // 2)
    result = run(spec_instance(3, 0.6, num_kv_blocks=40, async_scheduling=True, prefix_caching=prefix_caching),
                 arrivals, prompts, outputs)
    s = result.summary()
    assert s["requests"]["completed"] == 60 and s["requests"]["preemptions"] > 0
    assert result.output_tokens.tolist() == outputs.tolist()


def test_the_speculative_key_is_only_there_with_speculative_decoding():
    result = run(instance(0), [0], [5], [5])
    assert "speculative" not in result.summary()


def test_speculative_spec_validates():
    with pytest.raises(ValueError, match="tokens >= 1"):
        SpeculativeSpec(0, 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        SpeculativeSpec(2, 1.5)
    assert SpeculativeSpec(4, 0.7).tokens_per_step == pytest.approx((1 - 0.7**5) / 0.3)
    assert structs.replace(SpeculativeSpec(4, 0.7), acceptance=1.0).tokens_per_step == 5.0
