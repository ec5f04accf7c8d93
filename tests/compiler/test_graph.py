import networkx as nx
import pytest

from llmsim.compiler import catalog
from llmsim.compiler.graph import build_graph, flops_per_token, weight_params
from llmsim.compiler.models import load_model
from llmsim.compiler.ops import Attention, Gemm


def model(name):
    return load_model(catalog.config_path(name), name)


def test_llama_8b_has_every_operator_of_every_layer():
    m = model("Llama-3.1-8B")
    g = build_graph(m, "bf16")
    per_layer = ["input_norm", "qkv_proj", "rotary", "attention", "o_proj", "post_attn_norm",
                 "gate_up_proj", "act", "down_proj"]
    assert g.number_of_nodes() == 32 * len(per_layer) + 4  # embed, final_norm, lm_head, sampler
    for layer in range(32):
        for op in per_layer:
            assert f"L{layer}.{op}" in g
    assert nx.is_directed_acyclic_graph(g)
    assert next(iter(nx.topological_sort(g))) == "embed"


def test_qwen3_layers_add_qk_norm():
    g = build_graph(model("Qwen3-8B"), "bf16")
    assert "L0.qk_norm" in g and g.number_of_nodes() == 36 * 10 + 4


def test_residual_edges_skip_the_attention_block():
    g = build_graph(model("Llama-3.1-8B"), "bf16")
    assert g.edges["L0.input_norm", "L0.qkv_proj"]["bytes_per_token"] == 4096 * 2
    assert g.edges["L4.down_proj", "L5.post_attn_norm"].get("residual")


def test_gemm_shapes_of_llama_8b():
    g = build_graph(model("Llama-3.1-8B"), "bf16")
    assert g.nodes["L0.qkv_proj"]["op"] == Gemm("qkv_proj", n=(32 + 2 * 8) * 128, k=4096)
    assert g.nodes["L0.gate_up_proj"]["op"] == Gemm("gate_up_proj", n=2 * 14336, k=4096)
    assert g.nodes["L0.down_proj"]["op"] == Gemm("down_proj", n=4096, k=14336)
    assert g.nodes["lm_head"]["op"] == Gemm("lm_head", n=128256, k=4096, per="seq")
    assert g.nodes["L0.attention"]["op"] == Attention("attention", num_heads=32, num_kv_heads=8, head_dim=128)


@pytest.mark.parametrize("name", ["Llama-3.1-8B", "Llama-3.1-70B", "Qwen3-8B", "Qwen3-32B"])
def test_graph_weights_equal_the_architecture_formula(name):
    m = model(name)
    assert weight_params(build_graph(m, "bf16"), m) == m.parameter_count()


@pytest.mark.parametrize("name", ["Llama-3.1-8B", "Llama-3.1-70B", "Qwen3-8B", "Qwen3-32B"])
def test_flops_per_decoded_token_are_twice_the_matmul_parameters(name):
    # The forward pass of one token costs 2 FLOPs per parameter it multiplies by: every parameter
    # except the embedding table, which is a lookup (Kaplan et al. 2020, C_forward ~ 2N).
    m = model(name)
    matmul_params = m.parameter_count() - m.vocab_size * m.hidden_size
    flops = flops_per_token(build_graph(m, "bf16"))
    assert flops == pytest.approx(2 * matmul_params, rel=0.01)


def test_attention_flops_grow_with_context():
    g = build_graph(model("Llama-3.1-8B"), "bf16")
    extra = flops_per_token(g, context=1000) - flops_per_token(g, context=0)
    assert extra == pytest.approx(32 * 4 * 32 * 128 * 1000)
