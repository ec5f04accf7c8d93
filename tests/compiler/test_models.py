import json

import pytest

from llmsim.compiler import catalog
from llmsim.compiler.models import ModelConfigError, load_model, model_from_hf_config


def test_catalog_holds_the_models_the_quickstart_and_docs_name():
    for name in ("Llama-3.1-8B", "Llama-3.1-70B", "Qwen3-8B", "Qwen3-32B"):
        assert name in catalog.names()


def test_llama_8b_dimensions_come_from_its_config():
    m = load_model(catalog.config_path("Llama-3.1-8B"), "Llama-3.1-8B")
    assert (m.hidden_size, m.intermediate_size, m.num_layers) == (4096, 14336, 32)
    assert (m.num_heads, m.num_kv_heads, m.head_dim, m.vocab_size) == (32, 8, 128, 128256)
    assert not m.qk_norm and not m.tie_word_embeddings


def test_qwen3_reads_explicit_head_dim_and_has_qk_norm():
    m = load_model(catalog.config_path("Qwen3-32B"), "Qwen3-32B")
    assert m.head_dim == 128 and m.hidden_size == 5120 and m.num_heads == 64
    assert m.qk_norm


def test_parameter_count_matches_published_size():
    # Llama-3.1-8B has 8,030,261,248 parameters (Hugging Face model card: 8.03B).
    m = load_model(catalog.config_path("Llama-3.1-8B"), "Llama-3.1-8B")
    assert m.parameter_count() == 8_030_261_248


def test_moe_family_without_a_graph_is_refused_as_not_supported_yet():
    cfg = {**catalog.load_config("Qwen3-30B-A3B"), "model_type": "gpt_oss"}
    with pytest.raises(ModelConfigError) as info:
        model_from_hf_config(cfg, "gpt-oss")
    assert info.value.unsupported
    assert str(info.value) == ("`gpt-oss` is a mixture-of-experts model of type `gpt_oss`, which is not "
                               "supported yet; supported MoE types: `deepseek_v3`, `mixtral`, `qwen3_moe`")


# Published totals (Hugging Face model cards): Qwen3-30B-A3B 30.5B total / 3.3B activated,
# Qwen3-235B-A22B 235B / 22B, Mixtral-8x7B 46.7B / 12.9B, Mixtral-8x22B 141B / 39B, DeepSeek-V3 671B
# main-model weights (685B with its 14B multi-token-prediction module) / 37B activated.
@pytest.mark.parametrize(("name", "total", "active"), [
    ("Qwen3-30B-A3B", 30.5e9, 3.3e9), ("Qwen3-235B-A22B", 235e9, 22e9), ("Mixtral-8x7B", 46.7e9, 12.9e9),
    ("Mixtral-8x22B", 141e9, 39e9), ("DeepSeek-V3", 671e9, 37e9)])
def test_moe_parameter_counts_match_the_model_cards(name, total, active):
    m = load_model(catalog.config_path(name), name)
    assert m.parameter_count() == pytest.approx(total, rel=0.01)
    assert m.active_parameter_count() == pytest.approx(active, rel=0.03)


def test_moe_fields_follow_each_familys_config_names():
    q = load_model(catalog.config_path("Qwen3-30B-A3B"), "q")
    assert (q.num_experts, q.experts_per_token, q.moe_intermediate_size, q.shared_expert_intermediate_size) == (
        128, 8, 768, 0)
    assert q.moe_layers == tuple(range(48)) and q.qk_norm and not q.has_dense_mlp
    mx = load_model(catalog.config_path("Mixtral-8x7B"), "m")
    assert (mx.num_experts, mx.experts_per_token, mx.moe_intermediate_size) == (8, 2, 14336)
    ds = load_model(catalog.config_path("DeepSeek-V3"), "d")
    assert ds.moe_layers == tuple(range(3, 61)) and ds.has_dense_mlp  # first_k_dense_replace = 3
    assert (ds.num_experts, ds.shared_expert_intermediate_size) == (256, 2048)
    assert (ds.kv_lora_rank, ds.qk_rope_head_dim, ds.q_lora_rank, ds.v_head_dim) == (512, 64, 1536, 128)
    assert ds.is_mla and ds.fp8_block and ds.mtp_layers == 1


def test_missing_field_names_the_key(tmp_path):
    cfg = catalog.load_config("Llama-3.1-8B")
    del cfg["hidden_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ModelConfigError) as info:
        load_model(path, "custom")
    assert info.value.key == "hidden_size"


def test_unreadable_json_is_a_model_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ModelConfigError):
        load_model(path, "broken")


def test_a_written_out_model_compiles_like_its_config(tmp_path):
    from llmsim.compiler import compile_spec
    from llmsim.lang import load_spec

    spec = tmp_path / "arch.llms"
    spec.write_text(
        'use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100\n'
        "model tiny { architecture { type = llama  hidden_size = 2048  intermediate_size = 8192\n"
        "  layers = 16  heads = 16  kv_heads = 8  vocab_size = 32000 } }\n"
        "pool main { model = tiny  hardware = h100 }\n"
        "workload w { requests = 5  arrival = poisson(rate = 5/s)  prompt = fixed(8)  output = fixed(4) }\n"
    )
    plan = compile_spec(load_spec(spec)).plans["main"]
    m = plan.model
    assert (m.hidden_size, m.num_layers, m.num_heads, m.num_kv_heads, m.head_dim) == (2048, 16, 16, 8, 128)
    assert m.parameter_count() == 16 * (2048 * (2048 + 2 * 1024) + 2048 * 2048 + 3 * 2048 * 8192 + 2 * 2048) \
        + 2 * 32000 * 2048 + 2048
