"""MoE models: router, routed and shared experts, MLA attention, expert and attention-data parallelism."""

from pathlib import Path

import numpy as np
import pytest

from llmsim.compiler import catalog, compile_spec
from llmsim.compiler.graph import build_graph, flops_per_token, weight_params
from llmsim.compiler.lower import lower
from llmsim.compiler.memory import kv_bytes_per_token, weight_bytes
from llmsim.compiler.models import load_model
from llmsim.compiler.ops import Collective, Gemm, MLAttention, MoE, MoEAllToAll
from llmsim.compiler.shard import ShardError, shard_graph
from llmsim.diagnostics import CompileError
from llmsim.hwdb import find_entries, load_entry
from llmsim.lang import load_spec
from llmsim.runtime.batch import BatchShape

MOE_MODELS = ["Qwen3-30B-A3B", "Qwen3-235B-A22B", "Mixtral-8x7B", "Mixtral-8x22B", "DeepSeek-V3"]


def model(name):
    return load_model(catalog.config_path(name), name)


def entry(spec_name):
    (ref,) = [r for r in find_entries() if r.spec_name == spec_name]
    return load_entry(ref)


@pytest.fixture(scope="module")
def h100():
    return entry("nvidia/h100-sxm@vllm-0.24.0")


def compile_text(tmp_path: Path, text: str):
    path = tmp_path / "spec.llms"
    path.write_text(text)
    return compile_spec(load_spec(path))


SPEC = """use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
model m {{ catalog = "{model}"  max_model_len = 8192 }}
pool main {{ model = m  hardware = h100 {pool} }}
workload w {{ requests = 10  arrival = poisson(rate = 1/s)  lengths = dataset("sharegpt") }}
"""


@pytest.mark.parametrize("name", MOE_MODELS)
def test_graph_weights_equal_the_moe_architecture_formula(name):
    m = model(name)
    assert weight_params(build_graph(m, "bf16"), m) == m.parameter_count()


@pytest.mark.parametrize("name", MOE_MODELS)
def test_flops_per_token_follow_the_active_parameters(name):
    # A token multiplies by the router, its top-k experts, the shared experts and the dense parts.
    m = model(name)
    active = m.active_parameter_count() - m.vocab_size * m.hidden_size
    assert flops_per_token(build_graph(m, "bf16")) == pytest.approx(2 * active, rel=0.001)


def test_a_moe_layer_is_router_experts_and_shared_experts():
    g = build_graph(model("DeepSeek-V3"), "bf16")
    assert "L0.gate_up_proj" in g and "L0.router" not in g  # first_k_dense_replace = 3
    assert g.nodes["L3.router"]["op"] == Gemm("router", n=256, k=7168)
    assert g.nodes["L3.moe"]["op"] == MoE("moe", hidden=7168, inter=2048, experts=256, local_experts=256, topk=8)
    assert g.nodes["L3.shared_gate_up_proj"]["op"] == Gemm("shared_gate_up_proj", n=2 * 2048, k=7168)
    order = [n for n in g if n.startswith("L3.")]
    assert order.index("L3.router") < order.index("L3.moe") < order.index("L3.shared_down_proj")
    assert "L0.shared_gate_up_proj" not in build_graph(model("Qwen3-30B-A3B"), "bf16")  # no shared experts


def test_mla_attention_and_its_latent_kv_cache():
    m = model("DeepSeek-V3")
    g = build_graph(m, "bf16")
    att = g.nodes["L0.attention"]["op"]
    assert isinstance(att, MLAttention) and att.latent_dim == 512 + 64 and att.num_heads == 128
    assert g.nodes["L0.qkv_a_proj"]["op"] == Gemm("qkv_a_proj", n=1536 + 512 + 64, k=7168)
    # The latent (kv_lora_rank + qk_rope_head_dim) per layer, not K and V per head, and the same on
    # every TP rank: 61 x 576 x 1 byte in fp8.
    assert kv_bytes_per_token(m, 1, "fp8") == 61 * 576
    assert kv_bytes_per_token(m, 8, "bf16") == 61 * 576 * 2
    s = shard_graph(g, m, 8)
    assert s.nodes["L0.attention"]["op"].num_heads == 16
    assert s.nodes["L0.qkv_a_proj"]["op"] == g.nodes["L0.qkv_a_proj"]["op"]  # replicated


def test_expected_active_experts_under_uniform_routing():
    op = build_graph(model("Qwen3-30B-A3B"), "bf16").nodes["L0.moe"]["op"]
    assert op.active_experts(1) == pytest.approx(8)
    assert op.active_experts(2) == pytest.approx(128 * (1 - (1 - 8 / 128) ** 2))
    assert op.active_experts(10_000) == pytest.approx(128)
    # Monte Carlo check of E (1 - (1 - k/E)^m): m tokens, each picking k distinct experts uniformly.
    rng = np.random.default_rng(0)
    touched = [len({e for _ in range(16) for e in rng.choice(128, 8, replace=False)}) for _ in range(2000)]
    assert np.mean(touched) == pytest.approx(op.active_experts(16), rel=0.01)


def test_ep_splits_whole_experts_and_keeps_the_tp_allreduce():
    m = model("Mixtral-8x7B")
    ep2 = shard_graph(build_graph(m, "bf16"), m, 2, ep=2)
    tp2 = shard_graph(build_graph(m, "bf16"), m, 2, ep=1)
    assert ep2.nodes["L0.moe"]["op"].local_experts == 4 and ep2.nodes["L0.moe"]["op"].inter == 14336
    assert tp2.nodes["L0.moe"]["op"].local_experts == 8 and tp2.nodes["L0.moe"]["op"].inter == 7168
    assert weight_params(ep2, m) == weight_params(tp2, m)
    # Every rank has the step's tokens (dp = 1): no all-to-all, one all-reduce after the experts.
    assert not any(isinstance(d["op"], MoEAllToAll) for _, d in ep2.nodes(data=True))
    assert ep2.nodes["L0.moe_allreduce"]["op"] == Collective("moe_allreduce", elements=4096, dtype_bytes=2, group=2)


def test_attention_dp_brackets_the_experts_with_all_to_all():
    m = model("Qwen3-30B-A3B")
    s = shard_graph(build_graph(m, "bf16"), m, 1, ep=4, dp=4)
    order = [n for n in s if n.startswith("L0.")]
    assert order[order.index("L0.moe") - 1] == "L0.moe_dispatch"
    assert order[order.index("L0.moe") + 1] == "L0.moe_combine"
    moe = s.nodes["L0.moe"]["op"]
    assert (moe.local_experts, moe.moe_ep, moe.moe_tp, moe.token_scale) == (32, 4, 1, 4)
    dispatch = s.nodes["L0.moe_dispatch"]["op"]
    assert (dispatch.group, dispatch.elements) == (4, 8 * 2048)


def test_parallel_degrees_that_do_not_divide_are_refused():
    m = model("Mixtral-8x7B")
    with pytest.raises(ShardError) as info:
        shard_graph(build_graph(m, "bf16"), m, 2, ep=4)
    assert info.value.key == "ep" and "does not divide the 2 ranks" in str(info.value)
    with pytest.raises(ShardError):
        shard_graph(build_graph(model("Llama-3.1-8B"), "bf16"), model("Llama-3.1-8B"), 2, ep=2)


def test_ep_on_one_device_equals_no_ep(tmp_path):
    a = compile_text(tmp_path, SPEC.format(model="Qwen3-30B-A3B", pool="")).plans["main"]
    b = compile_text(tmp_path, SPEC.format(model="Qwen3-30B-A3B", pool="ep = 1  dp = 1  tp = 1")).plans["main"]
    for batch in (BatchShape.decode(1, 512), BatchShape.decode(64, 2048), BatchShape.prefill(4096)):
        assert a.step_time_ns(batch) == b.step_time_ns(batch)
    assert a.memory == b.memory and a.replicas == b.replicas == 1


def test_moe_is_priced_from_the_moe_table_of_its_layout(h100):
    m = model("Qwen3-30B-A3B")
    low = lower(build_graph(m, "bf16"), h100, kv_dtype="bf16", max_tokens=1024, max_seqs=64, model=m)
    (moe,) = [item for item in low.ops if item.op.name == "moe"]
    table = h100.moe("bf16", 2048, 768, 8, 128, distribution="power_law_1.01")
    assert moe.method == f"table {table.name}" and moe.fallback is None
    assert moe.curve_us[512] == pytest.approx(table.latency_us(512))
    balanced = lower(build_graph(m, "bf16"), h100, kv_dtype="bf16", max_tokens=1024, max_seqs=64, model=m,
                     moe_distribution="balanced")
    (moe_b,) = [item for item in balanced.ops if item.op.name == "moe"]
    assert moe_b.curve_us[512] == pytest.approx(h100.moe("bf16", 2048, 768, 8, 128).latency_us(512))


def test_attention_dp_prices_the_experts_at_every_ranks_tokens(h100):
    m = model("Qwen3-30B-A3B")
    g = shard_graph(build_graph(m, "bf16"), m, 1, ep=4, dp=4)
    low = lower(g, h100, kv_dtype="bf16", max_tokens=256, max_seqs=64, model=m)
    (moe,) = [item for item in low.ops if item.op.name == "moe"]
    table = h100.moe("bf16", 2048, 768, 8, 128, moe_ep=4, distribution="power_law_1.01")
    assert moe.curve_us[100] == pytest.approx(table.latency_us(400))
    (dispatch,) = [item for item in low.ops if item.op.name == "moe_dispatch"]
    assert dispatch.method.startswith("table alltoall") and dispatch.fallback is None


def test_unmeasured_layout_falls_back_to_the_roofline_of_the_experts_touched(h100):
    m = model("Qwen3-30B-A3B")
    g = shard_graph(build_graph(m, "bf16"), m, 2, ep=2, dp=2)  # moe_tp = moe_ep = 2: not measured
    low = lower(g, h100, kv_dtype="bf16", max_tokens=256, max_seqs=64, model=m)
    (moe,) = [item for item in low.ops if item.op.name == "moe"]
    assert moe.fallback is not None and "no bf16 MoE table" in moe.fallback.reason
    op, dev = moe.op, h100.device
    tokens = 1 * op.token_scale
    weights = op.local_experts * (1 - (1 - 8 / 128) ** tokens) * 3 * op.hidden * op.inter * 2
    acts = tokens * 8 / op.moe_ep * (2 * op.hidden + 3 * op.inter) * 2
    expected = (weights + acts) / (dev.memory_bandwidth * dev.memory_efficiency) * 1e6 + dev.launch_latency_ns / 1e3
    assert moe.curve_us[1] == pytest.approx(expected)
    assert moe.curve_us[200] > moe.curve_us[2]


def test_layerwise_moe_table_prices_the_block_with_its_router():
    pro = entry("nvidia/rtx-pro-6000@vllm-0.19.0")
    m = model("Qwen3-30B-A3B")
    low = lower(build_graph(m, "bf16"), pro, kv_dtype="bf16", max_tokens=512, max_seqs=32, model=m)
    methods = {item.op.name: item for item in low.ops}
    assert methods["moe"].method.startswith("layer-wise moe")
    assert methods["router"].method == "included in the layer-wise moe block" and not methods["router"].curve_us.any()
    t = pro.layerwise("Qwen/Qwen3-30B-A3B-Instruct-2507", "bf16", 1)
    active = 128 * (1 - (1 - 8 / 128) ** 64)
    assert methods["moe"].curve_us[64] == pytest.approx(t.moe_us(64, active))
    assert low.fallbacks == []


def test_fp8_experts_and_router_bytes():
    m = model("DeepSeek-V3")
    g = build_graph(m, "fp8")
    # Routed and shared experts and projections in FP8; embedding, LM head, routers and norms in bf16.
    router = 58 * 256 * 7168
    bf16_params = 2 * 129280 * 7168 + router + sum(op.weight_params() for n, d in g.nodes(data=True)
                                                  if (op := d["op"]).family == "elementwise")
    assert weight_bytes(g, m) == (m.parameter_count() - bf16_params) + 2 * bf16_params


def test_deepseek_on_an_h200_node_with_dp_and_ep_compiles_and_runs(tmp_path):
    spec = Path(__file__).resolve().parents[2] / "specs" / "techniques" / "ep-dp-deepseek-v3.llms"
    compiled = compile_spec(load_spec(spec))
    plan = compiled.plans["main"]
    assert plan.replicas == 8 and len(compiled.cluster.instances) == 8
    assert [i.name for i in compiled.cluster.instances] == [f"main[{i}]" for i in range(8)]
    methods = {item.op.name: item.method for item in plan.lowering.ops}
    assert methods["moe"].startswith("table moe_fp8_block_power_law_1_01[7168, 2048, 8, 256, 1, 8]")
    assert "deepep" in methods["moe_dispatch"]
    assert [f.op for f in plan.fallbacks] == ["attention"]  # MLA has no table: flagged
    assert plan.step_time_ns(BatchShape.decode(32, 2048)) > plan.step_time_ns(BatchShape.decode(1, 2048))


def test_unsupported_parallel_degrees_are_located_diagnostics(tmp_path):
    with pytest.raises(CompileError) as info:
        compile_text(tmp_path, SPEC.format(model="Mixtral-8x7B", pool="tp = 2  ep = 4"))
    text = str(info.value)
    assert "error: ep = 4 does not divide the 2 ranks (tp x dp) the experts of `Mixtral-8x7B`" in text
    assert "spec.llms:3:53" in text and "= help: choose `ep` among 1, 2" in text
