"""Collectives, MoE and spec-sheet entries: lookups, conventions, and the roofline fallback."""

from __future__ import annotations

import csv
import gzip
from statistics import median

import pytest

from llmsim.hwdb import bundled_root, find_entries, load_entry
from llmsim.hwdb.writer import format_latency

from .conftest import SHARED_DATA, SYSTEM_DIR

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared source data is not present")


def _load(entry: str, engine: str):
    ref = next(r for r in find_entries([bundled_root()]) if (r.entry, r.engine) == (entry, engine))
    return load_entry(ref)


@needs_data
def test_collectives_use_whole_buffer_bytes(entry):
    src = SYSTEM_DIR / "comm" / "nccl" / "2.27.3" / "nccl_perf.csv.gz"
    with gzip.open(src, "rt", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["nccl_dtype"] == "half" and r["num_gpus"] == "4"]
    for kind in ("all_reduce", "all_gather", "reduce_scatter", "alltoall"):
        t = entry.collective(kind, 4, "fp16", implementation="nccl")
        assert t is not None
        size = next(r["message_size"] for r in rows if r["op_name"] == kind)
        same = [float(r["latency"]) for r in rows if r["op_name"] == kind and r["message_size"] == size]
        # message_size counts elements of the whole buffer: 2 bytes each for half; repeats -> median
        assert t.latency_us(2 * int(size)) == float(format_latency(median(same) * 1000))
    assert entry.collective("all_gather", 8, "int8").dtype == "int8"
    assert entry.collective("all_gather", 3, "bf16") is None
    with pytest.raises(ValueError, match="unknown collective 'broadcast'"):
        entry.collective("broadcast", 2, "bf16")


def test_eager_custom_allreduce_is_not_in_the_default_path(entry):
    assert entry.allreduce_implementations("bf16") == ["nccl", "vllm_custom"]
    eager = entry.allreduce(8, "bf16", implementation="vllm_custom_eager")
    graph = entry.allreduce(8, "bf16", implementation="vllm_custom")
    best = entry.allreduce(8, "bf16")
    assert eager is not None and graph is not None
    assert best.implementations == ("nccl", "vllm_custom")
    assert best.latency_us(4096) == min(graph.latency_us(4096), entry.allreduce(8, "bf16", "nccl").latency_us(4096))


@needs_data
def test_moe_tables_are_exact_per_layout(entry):
    src = SYSTEM_DIR / "moe" / "vllm" / "0.24.0" / "moe_perf.csv.gz"
    with gzip.open(src, "rt", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["moe_dtype"] == "bfloat16" and r["distribution"] == "balanced")
    lay = [int(row[k]) for k in ("hidden_size", "inter_size", "topk", "num_experts")]
    t = entry.moe("bf16", *lay, moe_tp=int(row["moe_tp_size"]), moe_ep=int(row["moe_ep_size"]))
    assert t is not None
    assert t.latency_us(int(row["num_tokens"])) == float(format_latency(float(row["latency"]) * 1000))
    assert tuple([*lay, int(row["moe_tp_size"]), int(row["moe_ep_size"])]) in entry.moe_layouts("bf16")
    assert entry.moe("bf16", 1, 1, 1, 1) is None
    assert entry.moe("fp8_block", *lay, distribution="no_such") is None
    a2a = entry.moe_a2a("deepep_ll", "dispatch", ep_size=8, node_num=1, hidden_size=7168, topk=8, num_experts=256)
    assert a2a is not None and a2a.latency_us(128) > 0


def test_partial_engine_versions_say_what_they_lack():
    e = _load("nvidia/h100-sxm", "vllm@0.19.0")
    assert e.gemm("bf16") is None and e.attention_decode(32, 8, 128, "bf16") is None
    assert e.allreduce(8, "bf16") is not None
    notes = " ".join(e.provenance["notes"])
    assert "no vllm 0.19.0 GEMM table in the source" in notes


def test_noisy_entries_record_their_own_tolerance():
    e = _load("nvidia/b200-sxm", "vllm@0.24.0")
    tol = e.doc["validation"]["monotone_tolerance"]
    assert tol["gemm"] > 0.35
    assert any(n.startswith("validation: gemm falls by up to") for n in e.provenance["notes"])


@pytest.mark.parametrize(
    "entry_name", ["amd/mi300x", "google/tpu-v5e", "google/tpu-v5p", "google/tpu-v6e", "intel/gaudi-3"]
)
def test_spec_sheet_entries_run_on_the_roofline(entry_name: str):
    from llmsim.compiler.catalog import config_path
    from llmsim.compiler.graph import build_graph
    from llmsim.compiler.lower import lower
    from llmsim.compiler.models import load_model
    from llmsim.compiler.shard import shard_graph

    e = _load(entry_name, "roofline@1")
    assert e.kind == "spec-sheet" and e.table_names() == []
    assert e.device.peak_flops["bf16"] > 0 and e.device.memory_bandwidth > 0
    model = load_model(config_path("Llama-3.1-8B"), "Llama-3.1-8B")
    g = shard_graph(build_graph(model, "bf16"), model, 1)
    low = lower(g, e, kv_dtype="bf16", max_tokens=256, max_seqs=16)
    families = {f.family for f in low.fallbacks}
    assert families == {"gemm", "attention"}  # every table-priced operator says it fell back
    assert all("roofline" in f.model for f in low.fallbacks)
    assert low.token_curves_us["gemm"][128] > 0
