"""Lowering onto layer-wise tables (RTX entries, vLLM 0.19): exact at measured points, skew where fitted."""

import pytest

from llmsim.compiler import catalog
from llmsim.compiler.graph import build_graph
from llmsim.compiler.host_overheads import VLLM_PREFILL_STEP_NS, prefill_step_overhead_ns
from llmsim.compiler.layerwise import SkewFit, find_tables
from llmsim.compiler.lower import lower
from llmsim.compiler.models import load_model
from llmsim.compiler.shard import shard_graph
from llmsim.hwdb import find_entries, load_entry
from llmsim.hwdb.locate import bundled_root
from llmsim.runtime.batch import BatchShape


def entry(name, engine="vllm@0.19.0"):
    (ref,) = [r for r in find_entries([bundled_root()]) if r.entry == name and r.engine == engine]
    return load_entry(ref)


@pytest.fixture(scope="module")
def llama():
    return load_model(catalog.config_path("Llama-3.1-8B"), "Llama-3.1-8B")


def lowered(hw, model, tp=1):
    g = shard_graph(build_graph(model, "bf16"), model, tp)
    return lower(g, hw, kv_dtype="bf16", max_tokens=2048, max_seqs=256, model=model)


def test_finds_the_tables_of_the_same_model_dtype_and_tp(llama):
    pro = entry("nvidia/rtx-pro-6000")
    assert find_tables(pro, llama, "bf16", 1).model == "meta-llama/Llama-3.1-8B"
    assert find_tables(pro, llama, "bf16", 2).tp == 2
    assert find_tables(pro, llama, "fp16", 1) is None
    assert find_tables(entry("nvidia/h100-sxm", "vllm@0.24.0"), llama, "bf16", 1) is None


def test_every_operator_of_llama_is_priced_by_the_layerwise_tables(llama):
    low = lowered(entry("nvidia/rtx-4090"), llama)
    assert low.fallbacks == []
    assert all(item.method.startswith("layer-wise") for item in low.ops)


def test_per_token_ops_equal_the_table_at_measured_points(llama):
    hw = entry("nvidia/rtx-4090")
    tables = find_tables(hw, llama, "bf16", 1)
    low = lowered(hw, llama)
    (qkv,) = [item for item in low.ops if item.op.name == "qkv_proj"]
    rows = {tokens: lat for op, tokens, lat in tables.raw("dense") if op == "qkv_proj"}
    for tokens, lat in rows.items():
        assert qkv.curve_us[tokens] == pytest.approx(lat, rel=1e-12)
    (norm,) = [item for item in low.ops if item.op.name == "input_norm"]
    assert norm.count == 32  # and post_attn_norm reads the same `layernorm` row


def test_attention_reads_the_mixed_table(llama):
    hw = entry("nvidia/rtx-4090")
    tables = find_tables(hw, llama, "bf16", 1)
    low = lowered(hw, llama)
    batch = BatchShape(512 + 32, 33, 32, 32 * 1024, 1024, ((512, 0),), 1024)
    assert low.attention(batch) == pytest.approx(32 * tables.attention_us(512, 0, 32, 1024))


def test_skew_correction_only_where_the_profile_fitted_it(llama):
    assert SkewFit.from_tables(find_tables(entry("nvidia/rtx-4090"), llama, "bf16", 1)) is None
    pro_tables = find_tables(entry("nvidia/rtx-pro-6000"), llama, "bf16", 1)
    fit = SkewFit.from_tables(pro_tables)
    assert fit is not None
    low = lowered(entry("nvidia/rtx-pro-6000"), llama)
    uniform = BatchShape(64, 64, 64, 64 * 1200, 1200, (), 1200)
    uneven = BatchShape(64, 64, 64, 64 * 1200, 4000, (), 300)
    t_mean = 32 * pro_tables.attention_us(0, 0, 64, 1200)
    t_max = 32 * pro_tables.attention_us(0, 0, 64, 4000)
    assert low.attention(uniform) == pytest.approx(t_mean)
    alpha = fit(0, 64, (1200 - 300) / (4000 - 300), 4000, 0)
    assert alpha > 0
    assert low.attention(uneven) == pytest.approx(t_mean + alpha * (t_max - t_mean))


def test_host_overhead_applies_to_vllm_steps_with_prefill_only():
    assert prefill_step_overhead_ns("vllm@0.19.0") == VLLM_PREFILL_STEP_NS > 0
    assert prefill_step_overhead_ns("trtllm@1.3.0rc20") == 0
