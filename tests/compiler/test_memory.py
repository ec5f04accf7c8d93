from fractions import Fraction

import pytest

from llmsim.compiler import catalog
from llmsim.compiler.graph import build_graph
from llmsim.compiler.memory import RUNTIME_RESERVE_BYTES, kv_bytes_per_token, plan_memory, weight_bytes
from llmsim.compiler.models import load_model
from llmsim.compiler.shard import shard_graph


def model(name):
    return load_model(catalog.config_path(name), name)


def test_kv_bytes_per_token_of_llama_8b():
    # 32 layers x (K and V) x 8 KV heads x 128 x 2 bytes = 128 KiB per token.
    assert kv_bytes_per_token(model("Llama-3.1-8B"), 1, "bf16") == 131072
    assert kv_bytes_per_token(model("Llama-3.1-8B"), 1, "fp8") == 65536
    assert kv_bytes_per_token(model("Llama-3.1-70B"), 4, "bf16") == 2 * 80 * 2 * 128 * 2


def test_weights_split_across_tp_ranks():
    m = model("Llama-3.1-70B")
    g1 = build_graph(m, "bf16")
    assert weight_bytes(g1, m) == 2 * m.parameter_count()
    assert weight_bytes(shard_graph(g1, m, 4), m) == pytest.approx(2 * m.parameter_count() / 4, rel=0.001)


def test_fp8_halves_the_matmul_weights_only():
    m = model("Llama-3.1-8B")
    bf16, fp8 = weight_bytes(build_graph(m, "bf16"), m), weight_bytes(build_graph(m, "fp8"), m)
    embedding_and_head = 2 * m.vocab_size * m.hidden_size * 2
    assert fp8 == pytest.approx((bf16 - embedding_and_head) / 2 + embedding_and_head, rel=0.001)


def test_kv_blocks_fill_what_weights_activations_and_reserve_leave():
    m = model("Llama-3.1-8B")
    g = build_graph(m, "bf16")
    plan = plan_memory(g, m, tp=1, kv_dtype="bf16", capacity_bytes=80 * 2**30, utilization=Fraction(9, 10),
                       block_size=16, max_tokens=8192, max_seqs=256, num_blocks=None)
    left = plan.usable_bytes - plan.weight_bytes - plan.activation_bytes - RUNTIME_RESERVE_BYTES
    assert plan.kv_blocks == left // (16 * 131072)
    assert 0 <= left - plan.kv_blocks * 16 * 131072 < 16 * 131072
    assert plan.kv_tokens == plan.kv_blocks * 16


def test_num_blocks_overrides_the_derived_count():
    m = model("Llama-3.1-8B")
    plan = plan_memory(build_graph(m, "bf16"), m, tp=1, kv_dtype="bf16", capacity_bytes=80 * 2**30,
                       utilization=Fraction(9, 10), block_size=16, max_tokens=2048, max_seqs=256, num_blocks=100)
    assert plan.kv_blocks == 100 and plan.kv_blocks_derived > 100


def test_reserve_reproduces_the_kv_capacity_of_the_real_rtx4090_run():
    # shared/data/validation/llmservingsim-bench/RTX4090: vLLM 0.19 gave 2,588 blocks of 16 tokens on a
    # 25,250,627,584-byte GPU at gpu_memory_utilization 0.9, max_num_batched_tokens 2048, max_num_seqs 256.
    m = model("Llama-3.1-8B")
    plan = plan_memory(build_graph(m, "bf16"), m, tp=1, kv_dtype="bf16", capacity_bytes=25_250_627_584,
                       utilization=Fraction(9, 10), block_size=16, max_tokens=2048, max_seqs=256, num_blocks=None)
    assert plan.kv_blocks == pytest.approx(2588, rel=0.01)
