"""Lowering reads the hardware tables: exact at measured points, flagged where it falls back."""

import csv
from pathlib import Path

import numpy as np
import pytest
from msgspec import Struct

from llmsim.compiler import catalog
from llmsim.compiler.graph import build_graph
from llmsim.compiler.lower import lower
from llmsim.compiler.models import load_model
from llmsim.compiler.shard import shard_graph
from llmsim.hwdb import find_entries, load_entry
from llmsim.hwdb.locate import bundled_root
from llmsim.runtime.batch import BatchShape

ENTRY_DIR = bundled_root() / "nvidia" / "h100-sxm" / "vllm@0.24.0"


@pytest.fixture(scope="module")
def h100():
    (ref,) = [r for r in find_entries([bundled_root()]) if r.spec_name == "nvidia/h100-sxm@vllm-0.24.0"]
    return load_entry(ref)


def lowered(name: str, h100, tp: int = 1, max_tokens: int = 8192, max_seqs: int = 256):
    m = load_model(catalog.config_path(name), name)
    g = shard_graph(build_graph(m, "bf16"), m, tp)
    return lower(g, h100, kv_dtype="bf16", max_tokens=max_tokens, max_seqs=max_seqs)


def table_rows(name: str, n: int, k: int) -> dict[int, float]:
    with (ENTRY_DIR / "tables" / f"{name}.csv").open() as f:
        return {int(r["m"]): float(r["latency_us"]) for r in csv.DictReader(f)
                if int(r["n"]) == n and int(r["k"]) == k}


def test_gemm_at_a_profiled_point_equals_the_table(h100):
    low = lowered("Llama-3.1-8B", h100)
    (o_proj,) = [item for item in low.ops if item.op.name == "o_proj"]  # n = k = 4096: on the grid
    rows = table_rows("gemm_bf16", 4096, 4096)
    assert len(rows) > 50
    for m, latency in rows.items():
        if m <= 8192:
            assert o_proj.curve_us[m] == pytest.approx(latency, rel=1e-12)
    assert o_proj.method == "table gemm_bf16"
    assert o_proj.count == 32


def test_gemm_between_profiled_m_is_linear(h100):
    low = lowered("Llama-3.1-8B", h100)
    (o_proj,) = [item for item in low.ops if item.op.name == "o_proj"]
    rows = table_rows("gemm_bf16", 4096, 4096)
    assert o_proj.curve_us[4608 + 0] == pytest.approx(
        rows[4353] + (rows[8192] - rows[4353]) * (4608 - 4353) / (8192 - 4353), rel=1e-9)


def test_off_grid_gemm_lies_between_its_grid_neighbours(h100):
    low = lowered("Llama-3.1-8B", h100)
    (down,) = [item for item in low.ops if item.op.name == "down_proj"]  # k = 14336: between 12288 and 16384
    lo, hi = table_rows("gemm_bf16", 4096, 12288), table_rows("gemm_bf16", 4096, 16384)
    for m in (1, 64, 1024, 4096):
        assert lo[m] * 0.999 <= down.curve_us[m] <= hi[m] * 1.001


def test_every_operator_of_a_dense_model_is_lowered_from_tables(h100):
    low = lowered("Llama-3.1-70B", h100, tp=4)
    # The entry measures all-reduce (vLLM's fastest path) and NCCL's all-gather: nothing falls back.
    assert low.fallbacks == []
    methods = {item.op.name: item.method for item in low.ops}
    assert methods["o_proj_allreduce"].startswith("table allreduce")
    assert methods["lm_head_gather"].startswith("table all_gather")
    assert methods["attention"].startswith("table attention_prefill_h16_kv2_d128")
    assert methods["input_norm"] == "bandwidth model"


def test_missing_table_falls_back_to_roofline_and_says_so(h100):
    class NoGemm:
        """The H100 entry with its GEMM tables hidden."""

        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def gemm(self, dtype):
            return None

    low = lowered("Llama-3.1-8B", NoGemm(h100))
    gemm_fallbacks = [f for f in low.fallbacks if f.family == "gemm"]
    assert {f.op for f in gemm_fallbacks} == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj", "lm_head"}
    assert all("no bf16 GEMM table" in f.reason for f in gemm_fallbacks)
    (o_proj,) = [item for item in low.ops if item.op.name == "o_proj"]
    dev = h100.device
    flops = 2.0 * 4096 * 4096 * 4096
    expected = max(flops / dev.peak_flops["bf16"],
                   3 * 4096 * 4096 * 2 / (dev.memory_bandwidth * dev.memory_efficiency)) * 1e6
    assert o_proj.curve_us[4096] == pytest.approx(expected + dev.launch_latency_ns / 1000)


def test_elementwise_ops_follow_the_bandwidth_model(h100):
    low = lowered("Llama-3.1-8B", h100)
    (act,) = [item for item in low.ops if item.op.name == "act"]
    dev = h100.device
    bytes_moved = 1000 * 3 * 14336 * 2
    assert act.curve_us[1000] == pytest.approx(
        bytes_moved / (dev.memory_bandwidth * dev.memory_efficiency) * 1e6 + dev.launch_latency_ns / 1000)
    assert act.curve_us[0] == 0


def test_attention_uses_the_tables_for_decode_and_prefill(h100):
    low = lowered("Llama-3.1-8B", h100)
    attention = low.attention
    decode_table = h100.attention_decode(32, 8, 128, "bf16")
    prefill_table = h100.attention_prefill(32, 8, 128, "bf16")
    assert attention(BatchShape.decode(16, 1024)) == pytest.approx(32 * decode_table.latency_us(16, 1024))
    assert attention(BatchShape.prefill(2048)) == pytest.approx(32 * prefill_table.latency_us(1, 2048))
    # A chunk after cached context costs more than the same chunk alone, less than the whole prompt.
    chunk = attention(BatchShape.prefill(512, past=1536))
    assert attention(BatchShape.prefill(512)) < chunk < attention(BatchShape.prefill(2048))


def test_token_curves_are_monotone_where_tables_are(h100):
    low = lowered("Llama-3.1-8B", h100)
    total = sum(low.token_curves_us.values())
    assert np.all(total[1:] > 0)
    # Measured GEMM latencies are noisy, but the whole step must grow with tokens at the large scale.
    assert total[8192] > total[4096] > total[1024] > total[64]


def test_lowering_groups_identical_layers(h100):
    low = lowered("Llama-3.1-8B", h100)
    assert len(low.ops) == 13  # 9 per layer + embed, final_norm, lm_head, sampler
    assert all(isinstance(item.op, Struct) for item in low.ops)


def test_plan_entry_path_is_inside_the_repository():
    assert ENTRY_DIR.is_dir()
    assert Path(ENTRY_DIR / "entry.yaml").is_file()
