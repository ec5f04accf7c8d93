"""Speculative decoding, cost side: verification and draft steps priced from the compiled plans."""

import pytest
from msgspec import structs

from llmsim.compiler import compile_spec
from llmsim.compiler.speculative import (
    SpeculativeCost,
    draft_batch,
    expected_tokens_per_step,
    memory_with_draft,
    verification_batch,
)
from llmsim.lang import load_spec
from llmsim.runtime.batch import BatchShape

SPEC = """use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
model target { catalog = "Qwen3-32B"  max_model_len = 8192 }
model draft { catalog = "Qwen3-8B"  max_model_len = 8192 }
pool big { model = target  hardware = h100  tp = 2 }
pool small { model = draft  hardware = h100  tp = 2 }
router r { targets = [big] }
workload w { requests = 10  arrival = poisson(rate = 1/s)  lengths = dataset("sharegpt") }
"""
DECODES = [BatchShape.decode(n, ctx) for n in (1, 8, 64, 200) for ctx in (128, 2048, 6000)]


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "spec.llms"
    path.write_text(SPEC)
    compiled = compile_spec(load_spec(path))
    return compiled.plans["big"], compiled.plans["small"]


def test_expected_tokens_per_step():
    assert expected_tokens_per_step(0.0, 4) == 1.0
    assert expected_tokens_per_step(1.0, 4) == 5.0
    assert expected_tokens_per_step(0.7, 4) == pytest.approx(1 + 0.7 + 0.49 + 0.343 + 0.2401)


def test_verification_batch_carries_k_plus_one_tokens_per_decode():
    b = BatchShape(528, 17, 16, 16 * 1000, 1000, ((512, 0),), decode_kv_min=1000)
    v = verification_batch(b, 3)
    assert (v.num_tokens, v.num_seqs, v.n_decode) == (528 + 48, 17 + 48, 64)
    assert v.decode_kv_sum == 4 * 16 * 1000 + 16 * 6  # contexts c, c+1, c+2, c+3
    assert (v.decode_kv_max, v.decode_kv_min, v.prefills) == (1003, 1000, ((512, 0),))
    assert draft_batch(b, 0).prefills == ((512, 0),) and draft_batch(b, 2).decode_kv_max == 1002


@pytest.mark.parametrize("k", [1, 4, 8])
def test_speculative_decoding_with_acceptance_0_is_never_faster_than_without(plans, k):
    target, draft = plans
    for proposer in (draft, None):  # a draft model, or a proposer with no device cost (n-gram)
        spec = SpeculativeCost(target, proposer, tokens=k, acceptance=0.0)
        for batch in DECODES:
            assert spec.time_per_token_ns(batch) >= target.step_time_ns(batch)


def test_high_acceptance_with_a_small_draft_is_faster_at_small_batches(plans):
    target, draft = plans
    spec = SpeculativeCost(target, draft, tokens=4, acceptance=0.9)
    batch = BatchShape.decode(1, 1024)
    assert spec.time_per_token_ns(batch) < target.step_time_ns(batch)
    assert spec.step_ns(batch) == spec.draft_ns(batch) + spec.verify_ns(batch) + target.overhead_ns


def test_the_draft_shares_the_kv_budget(plans):
    target, draft = plans
    both = memory_with_draft(target.memory, draft.memory)
    assert both.kv_bytes_per_token == target.memory.kv_bytes_per_token + draft.memory.kv_bytes_per_token
    assert both.weight_bytes == target.memory.weight_bytes + draft.memory.weight_bytes
    assert both.kv_blocks < target.memory.kv_blocks


def compile_speculative(tmp_path, block: str = "speculative { draft = draft  tokens = 4 }", pool: str = "tp = 2"):
    path = tmp_path / "spec.llms"
    path.write_text(SPEC.replace("tp = 2 }\npool small", f"{pool}  {block} }}\npool small"))
    return compile_spec(load_spec(path))


def test_speculative_pools_compile_with_their_draft(tmp_path, plans):
    target, draft = plans
    compiled = compile_speculative(tmp_path)
    plan = compiled.plans["big"]
    cost = plan.speculative
    assert isinstance(cost, SpeculativeCost) and (cost.k, cost.acceptance) == (4, 0.7)
    assert cost.draft.model.name == "Qwen3-8B" and cost.draft.tp == 2
    assert plan.memory == memory_with_draft(target.memory, draft.memory)  # the draft shares the KV budget
    inst = compiled.cluster.instances[0]
    assert inst.cost is cost and (inst.speculative.tokens, inst.speculative.acceptance) == (4, 0.7)
    assert inst.num_kv_blocks == plan.memory.kv_blocks < target.memory.kv_blocks
    for batch in DECODES:
        assert cost.step_time_ns(batch) == cost.step_ns(batch)


def test_speculative_decoding_with_pp_or_moe_attention_dp_is_refused(tmp_path):
    from llmsim.diagnostics import CompileError

    with pytest.raises(CompileError) as info:
        compile_speculative(tmp_path, pool="tp = 2  pp = 2")
    assert "speculative decoding with pipeline parallelism (`pp` > 1) is not supported yet" in str(info.value)
    path = tmp_path / "moe.llms"
    path.write_text(SPEC.replace('catalog = "Qwen3-32B"', 'catalog = "Qwen3-30B-A3B"').replace(
        "tp = 2 }\npool small", "tp = 1  dp = 2  ep = 2  speculative { draft = draft } }\npool small"))
    with pytest.raises(CompileError) as info:
        compile_spec(load_spec(path))
    assert "speculative decoding with attention data parallelism (`dp` > 1 on a MoE model) is not supported yet" \
        in str(info.value)


def test_more_speculative_tokens_than_the_budget_is_a_located_error(tmp_path):
    from llmsim.diagnostics import CompileError

    with pytest.raises(CompileError) as info:
        compile_speculative(tmp_path, "speculative { draft = draft  tokens = 64 }",
                            pool="tp = 2  scheduler { max_num_batched_tokens = 64 }")
    assert "64 speculative tokens per decode leave no room in max_num_batched_tokens = 64" in str(info.value)


def simulate_pool(compiled, instance=None):

    from llmsim.runtime import build_workload, simulate

    cluster = compiled.cluster
    if instance is not None:
        cluster = structs.replace(cluster, instances=(instance, *cluster.instances[1:]))
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in compiled.spec.workloads.values()]
    return simulate(cluster, workloads, timeline_buckets=0, debug=True)


@pytest.mark.parametrize("k", [1, 4])
def test_at_run_time_acceptance_0_is_never_faster_and_a_cheap_draft_lowers_tpot(tmp_path, k):

    from llmsim.runtime import SpeculativeSpec

    without = simulate_pool(compile_spec(load_spec(_write(tmp_path, SPEC))))
    compiled = compile_speculative(tmp_path, f"speculative {{ draft = draft  tokens = {k}  acceptance = 80% }}")
    inst = compiled.cluster.instances[0]
    cost = inst.cost
    # The language takes acceptances in (0%, 100%]: acceptance 0 is set on the runtime's spec.
    zero = structs.replace(inst, cost=SpeculativeCost(cost.target, cost.draft, k, 0.0),
                               speculative=SpeculativeSpec(k, 0.0))
    rejected = simulate_pool(compiled, zero)
    assert (rejected.finish_ns >= without.finish_ns).all()
    assert rejected.tpot_ns().mean() >= without.tpot_ns().mean()
    assert rejected.summary()["speculative"]["accepted_tokens"] == 0
    accepted = simulate_pool(compiled)
    assert accepted.tpot_ns().mean() < without.tpot_ns().mean()
    s = accepted.summary()["speculative"]
    assert s["mean_tokens_per_step"] == pytest.approx(expected_tokens_per_step(0.8, k), rel=0.05)
    assert accepted.output_tokens.tolist() == without.output_tokens.tolist()


def _write(tmp_path, text):
    path = tmp_path / "plain.llms"
    path.write_text(text)
    return path
