import pytest

from llmsim.compiler import catalog
from llmsim.compiler.graph import build_graph, flops_per_token, weight_params
from llmsim.compiler.models import load_model
from llmsim.compiler.ops import Attention, Collective, Gemm
from llmsim.compiler.shard import ShardError, shard_graph


def model(name):
    return load_model(catalog.config_path(name), name)


def test_tp1_is_the_unsharded_graph():
    m = model("Llama-3.1-8B")
    g = build_graph(m, "bf16")
    s = shard_graph(g, m, 1)
    assert list(s.nodes) == list(g.nodes)
    assert all(s.nodes[n]["op"] == g.nodes[n]["op"] for n in g)


def test_tp4_divides_heads_and_mlp_and_inserts_allreduces():
    m = model("Llama-3.1-70B")
    s = shard_graph(build_graph(m, "bf16"), m, 4)
    assert s.nodes["L0.attention"]["op"] == Attention("attention", num_heads=16, num_kv_heads=2, head_dim=128)
    assert s.nodes["L0.qkv_proj"]["op"] == Gemm("qkv_proj", n=(16 + 2 * 2) * 128, k=8192)
    assert s.nodes["L0.gate_up_proj"]["op"] == Gemm("gate_up_proj", n=2 * 28672 // 4, k=8192)
    assert s.nodes["L0.down_proj"]["op"] == Gemm("down_proj", n=8192, k=28672 // 4)
    allreduces = [n for n, d in s.nodes(data=True)
                  if isinstance(d["op"], Collective) and d["op"].kind == "all_reduce"]
    assert len(allreduces) == 2 * 80 + 1  # after o_proj and down_proj in every layer, and the embedding
    assert s.has_edge("L0.o_proj", "L0.o_proj_allreduce")
    assert s.has_edge("L0.o_proj_allreduce", "L0.post_attn_norm")
    assert s.has_edge("lm_head", "lm_head_gather") and s.has_edge("lm_head_gather", "sampler")


def test_sharded_flops_and_weights_split_across_ranks():
    m = model("Llama-3.1-70B")
    g = build_graph(m, "bf16")
    s = shard_graph(g, m, 8)
    # KV heads (8) are split one per rank, so every matmul divides exactly by 8 except the norms.
    assert flops_per_token(s) * 8 == pytest.approx(flops_per_token(g), rel=0.001)
    assert weight_params(s, m) * 8 == pytest.approx(weight_params(g, m), rel=0.001)


def test_kv_heads_are_replicated_when_tp_exceeds_them():
    m = model("Llama-3.1-8B")  # 8 KV heads
    s = shard_graph(build_graph(m, "bf16"), m, 16)
    assert s.nodes["L0.attention"]["op"].num_kv_heads == 1
    assert s.nodes["L0.attention"]["op"].num_heads == 2


def test_tp_that_does_not_divide_the_heads_is_refused():
    m = model("Llama-3.1-8B")
    with pytest.raises(ShardError, match="does not divide the 32 attention heads"):
        shard_graph(build_graph(m, "bf16"), m, 3)
