"""Layer-wise tables (LLMServingSim, vLLM 0.19.0): lookup API, exactness, monotonicity, extrapolation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from llmsim.hwdb import bundled_root, find_entries, load_entry
from llmsim.hwdb.layerwise import LayerwiseTables


def _entry(name: str):
    refs = [r for r in find_entries([bundled_root()]) if (r.entry, r.engine) == (name, "vllm@0.19.0")]
    assert refs, f"{name} vllm@0.19.0 is missing from hardware_db/"
    return load_entry(refs[0])


@pytest.fixture(scope="module")
def pro6000():
    return _entry("nvidia/rtx-pro-6000")


@pytest.fixture(scope="module")
def llama(pro6000) -> LayerwiseTables:
    t = pro6000.layerwise("meta-llama/Llama-3.1-8B", "bf16", 1)
    assert t is not None
    return t


def test_models_and_metadata(pro6000):
    assert pro6000.layerwise_models() == [
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", "bf16", 1),
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", "bf16", 2),
        ("Qwen/Qwen3-32B", "bf16", 1),
        ("Qwen/Qwen3-32B", "bf16", 2),
        ("meta-llama/Llama-3.1-8B", "bf16", 1),
        ("meta-llama/Llama-3.1-8B", "bf16", 2),
    ]
    assert _entry("nvidia/rtx-4090").layerwise_models() == [("meta-llama/Llama-3.1-8B", "bf16", 1)]
    assert pro6000.layerwise("meta-llama/Llama-3.1-8B", "bf16", 4) is None
    assert pro6000.layerwise("meta-llama/Llama-3.1-8B", "bfloat16", 1) is not None  # dtype spellings
    t = pro6000.layerwise("Qwen/Qwen3-32B", "bf16", 2)
    assert t.meta["vllm_version"] == "0.19.0"
    assert t.meta["engine_effective"]["enforce_eager"] is True
    assert t.meta["engine_effective"]["load_format"] == "dummy"
    assert t.meta["engine_effective"]["hf_overrides"]["num_hidden_layers"] == 1
    assert pro6000.device.memory_bytes == 96 * 2**30
    assert _entry("nvidia/rtx-4090").device.memory_bytes == 25250627584
    assert _entry("nvidia/rtx-4090").device.peak_flops["bf16"] == 165.2e12


def test_ops(llama):
    assert set(llama.ops_per_token()) == {
        "embedding", "layernorm", "qkv_proj", "rotary_emb", "o_proj", "gate_up_proj", "act_fn", "down_proj",
        "final_layernorm",
    }
    assert llama.ops_per_sequence() == ["lm_head", "sampler"]
    with pytest.raises(KeyError, match=r"no `qk_norm` in dense\.csv"):
        llama.token_latency_us("qk_norm", 4)


def test_exact_at_every_measured_point(pro6000):
    for model, dtype, tp in pro6000.layerwise_models():
        t = pro6000.layerwise(model, dtype, tp)
        for op, tokens, lat in t.raw("dense"):
            assert t.token_latency_us(op, tokens) == lat
        for op, seqs, lat in t.raw("per_sequence"):
            assert t.sequence_latency_us(op, seqs) == lat
        if "moe" in t.tables():
            for tokens, experts, lat in t.raw("moe"):
                assert t.moe_us(tokens, experts) == lat
    t = pro6000.layerwise("Qwen/Qwen3-32B", "bf16", 1)
    for pc, kp, nd, kd, lat in t.raw("attention"):
        assert t.attention_us(pc, kp, nd, kd) == lat


def test_linear_between_and_monotone(llama):
    x = np.array([tokens for op, tokens, _ in llama.raw("dense") if op == "gate_up_proj"])
    y = np.array([lat for op, _, lat in llama.raw("dense") if op == "gate_up_proj"])
    for i in range(len(x) - 1):
        if x[i + 1] - x[i] > 1:
            mid = (x[i] + x[i + 1]) // 2
            t = (mid - x[i]) / (x[i + 1] - x[i])
            assert llama.token_latency_us("gate_up_proj", int(mid)) == pytest.approx(y[i] + t * (y[i + 1] - y[i]))
    curve = llama.token_latency_us("gate_up_proj", np.arange(0, 4097))
    assert curve[0] == 0.0
    lo, hi = np.minimum(y[:-1], y[1:]), np.maximum(y[:-1], y[1:])
    for i in range(len(x) - 1):
        seg = curve[int(x[i]) : int(x[i + 1]) + 1]
        assert (seg >= lo[i] - 1e-9).all() and (seg <= hi[i] + 1e-9).all()
    assert (np.diff(curve[2048:]) >= 0).all()  # beyond the grid: grows with tokens


def test_attention_between_and_beyond_the_grid(llama):
    # between measured kv_decode 1152 and 1728 at 32 decodes: linear in kv_decode
    a, b = llama.attention_us(0, 0, 32, 1152), llama.attention_us(0, 0, 32, 1728)
    assert llama.attention_us(0, 0, 32, 1440) == pytest.approx((a + b) / 2)
    assert llama.attention_us(0, 0, 0, 0) == 0.0
    # beyond the grid: never falls, grows with the work
    kd = [llama.attention_us(0, 0, 64, k) for k in (16384, 24576, 32768, 65536)]
    assert all(q >= p for p, q in itertools.pairwise(kd)) and kd[-1] > kd[0]
    nd = [llama.attention_us(0, 0, n, 4096) for n in (256, 384, 512)]
    assert all(q > p for p, q in itertools.pairwise(nd))
    pc = [llama.attention_us(c, 0, 0, 0) for c in (2048, 4096, 8192)]
    assert all(q > p for p, q in itertools.pairwise(pc))
    # prefill extrapolates in attention work (quadratic in the chunk): 4x the work of 2048 at 4096
    assert pc[2] - pc[1] > 2 * (pc[1] - pc[0])


def test_moe_and_skew(pro6000, llama):
    q = pro6000.layerwise("Qwen/Qwen3-30B-A3B-Instruct-2507", "bf16", 1)
    assert q.moe_us(2048, 128) == 1066.6
    assert q.moe_us(0, 8) == 0.0
    assert q.moe_us(4096, 128) > 1066.6
    assert llama.moe_us(16, 8) is None
    assert pro6000.layerwise("Qwen/Qwen3-30B-A3B-Instruct-2507", "bf16", 2).moe_us(16, 8) is None
    skew = llama.skew()
    assert len(skew) == 13009 and llama.columns("skew")[0] == "regime" and skew[0][0] in ("pure", "mixed")
    assert llama.skew_fit()[0][1].startswith("n<=")
    assert len(_entry("nvidia/rtx-4090").layerwise("meta-llama/Llama-3.1-8B", "bf16", 1).skew()) > 0
