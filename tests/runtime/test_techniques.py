"""The technique specs end to end (specs/techniques/), and how the compiler builds their clusters.

The two checks issue 6 requires: on the Mooncake conversation trace, prefix caching lowers mean
TTFT and its hit rate is within a few points of the block reuse in the trace itself; and a
disaggregated spec reports KV transfer time equal to bytes / bandwidth + latency on an
uncontended link.
"""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from msgspec import structs

from llmsim.compiler import compile_spec
from llmsim.diagnostics import CompileError
from llmsim.lang import load_spec
from llmsim.runtime import build_workload, simulate

ROOT = Path(__file__).resolve().parents[2]
TECHNIQUES = ROOT / "specs" / "techniques"
MOONCAKE = TECHNIQUES / "traces" / "mooncake_conversation_1000.jsonl.gz"


def run(path: Path, *defines: str, point: int | None = None):
    spec = load_spec(path, defines=defines, point=point)
    compiled = compile_spec(spec)
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    return compiled, simulate(compiled.cluster, workloads, timeline_buckets=0, debug=False)


def trace_block_reuse(path: Path) -> float:
    """Share of prompt tokens in leading 512-token blocks an earlier request of the trace had (at most
    all but the last token of a prompt, which is always recomputed): what a prefix cache that never
    forgets could hit."""
    seen: set[int] = set()
    reused = total = 0
    with gzip.open(path, "rt") as f:
        for line in f:
            row = json.loads(line)
            k = 0
            for h in row["hash_ids"]:
                if h not in seen:
                    break
                k += 1
            reused += min(k * 512, row["input_length"] - 1)
            total += row["input_length"]
            seen.update(row["hash_ids"])
    return reused / total


def test_prefix_caching_on_the_mooncake_trace():
    spec = TECHNIQUES / "prefix-caching-mooncake.llms"
    _, on = run(spec)
    _, off = run(spec, "caching=false")
    s_on, s_off = on.summary(), off.summary()
    assert s_on["requests"]["completed"] == s_off["requests"]["completed"] == 1000
    assert s_on["metrics"]["ttft_ms"]["mean"] < 0.9 * s_off["metrics"]["ttft_ms"]["mean"]
    reuse = trace_block_reuse(MOONCAKE)
    assert reuse == pytest.approx(0.216, abs=0.001)
    pc = s_on["prefix_cache"]
    assert abs(pc["hit_rate"] - reuse) < 0.03
    assert pc["queried_tokens"] == int(on.prompt_tokens.sum())  # every prompt looked up once
    # No preemption here: the tokens saved are the hits, and the rest of every prompt was computed.
    assert pc["saved_tokens"] == pc["hit_tokens"]
    assert pc["saved_tokens"] + pc["prefill_tokens_computed"] == pc["queried_tokens"]
    assert s_off["prefix_cache"]["prefill_tokens_computed"] == pc["queried_tokens"]
    assert 0 < pc["tier_hit_tokens"] < pc["hit_tokens"]  # most hits came back from the CPU tier


def test_a_cache_that_never_evicts_hits_exactly_the_reuse_in_the_trace():
    from llmsim.runtime import Workload
    from llmsim.runtime.traces import read_mooncake

    from .rt_helpers import AffineCost, cluster, instance

    trace = read_mooncake(MOONCAKE)
    n = len(trace.prompt_tokens)
    wl = Workload.from_arrays(trace.prompt_tokens, np.ones(n, dtype=np.int64), trace.arrival_ns,
                              hash_ids=trace.hash_ids)
    spec = instance(0, AffineCost(record=False), num_kv_blocks=1_000_000, max_model_len=200_000,
                    max_num_batched_tokens=8192, prefix_caching=True)
    pc = simulate(cluster(spec), [(wl, "r")], timeline_buckets=0).summary()["prefix_cache"]
    reuse = trace_block_reuse(MOONCAKE)
    # The cache hits whole 16-token blocks: a prompt hit up to its last token leaves up to 15 more.
    assert pc["queried_tokens"] * reuse - pc["hit_tokens"] == pytest.approx(77, abs=0.5)


def test_disaggregated_spec_reports_uncontended_transfer_time():
    compiled, result = run(TECHNIQUES / "disaggregation.llms", "rate=1/s", "requests=30")
    (handoff,) = compiled.cluster.handoffs
    assert handoff.link.bandwidth_bytes_per_s == 50_000_000_000 and handoff.link.latency_ns == 5_000  # ib_ndr
    per_token = compiled.plans["main.prefill"].memory.kv_bytes_per_token
    assert per_token == 131_072  # Llama-3.1-8B, bf16, one rank: 2 x 32 layers x 8 heads x 128 x 2 bytes
    start, done = result.kv_start_ns, result.kv_done_ns
    moved = np.flatnonzero(start >= 0)
    alone = [i for i in moved if not np.any((start[moved] < done[i]) & (done[moved] > start[i]) & (moved != i))]
    assert len(alone) >= 25  # requests whose transfer overlapped no other
    for i in alone:
        nbytes = int(result.prompt_tokens[i]) * per_token
        assert done[i] - start[i] == 5_000 + -(-nbytes * 10**9 // 50_000_000_000)
    s = result.summary()
    assert s["kv_transfer"]["requests"] == len(moved)
    assert s["kv_transfer"]["bytes_per_link"] == int(result.prompt_tokens[moved].sum()) * per_token
    assert s["links"]["main.kv_out"]["links"] == 2 and s["links"]["main.kv_in"]["links"] == 6


def test_disaggregation_beats_unified_serving_on_inter_token_latency():
    _, split = run(TECHNIQUES / "disaggregation.llms", "requests=400", point=3)  # prefill = 4
    _, unified = run(TECHNIQUES / "disaggregation-unified.llms", "requests=400")
    assert split.summary()["metrics"]["itl_ms"]["p99"] < 0.5 * unified.summary()["metrics"]["itl_ms"]["p99"]


# -- cluster building -------------------------------------------------------------------------------

BASE = """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
model llama { catalog = "Llama-3.1-8B" }
"""
WORKLOAD = "workload chat { requests = 4  arrival = poisson(rate = 1/s)  prompt = fixed(100)  output = fixed(4) }\n"


def compile_text(tmp_path: Path, body: str):
    path = tmp_path / "spec.llms"
    path.write_text(BASE + textwrap.dedent(body) + WORKLOAD)
    return compile_spec(load_spec(path))


def errors(tmp_path: Path, body: str) -> str:
    with pytest.raises(CompileError) as info:
        compile_text(tmp_path, body)
    return "\n".join(d.summary for d in info.value.diagnostics)


def test_default_kv_link_is_nvlink_inside_a_node_and_the_network_across_nodes(tmp_path):
    small = compile_text(tmp_path, "pool main { model = llama  hardware = h100  prefill { } decode { instances = 3 } }")
    (h,) = small.cluster.handoffs
    # The H100 entry's spec sheet (aiconfigurator): NVLink 450 GB/s per direction, 10 us.
    assert (h.link.kind, h.link.bandwidth_bytes_per_s, h.link.latency_ns) == ("nvlink", 450_000_000_000, 10_000)
    big = compile_text(tmp_path, "pool main { model = llama  hardware = h100  prefill { instances = 4 } "
                                 "decode { instances = 6 } }")
    (h,) = big.cluster.handoffs
    assert (h.link.kind, h.link.bandwidth_bytes_per_s) == ("network", 50_000_000_000)  # 10 GPUs > 8 per node
    assert [small.cluster.instances[i].role for i in range(4)] == ["prefill", "decode", "decode", "decode"]


def test_a_router_over_the_decode_pool_picks_decode_instances(tmp_path):
    c = compile_text(tmp_path, """\
        pool main { model = llama  hardware = h100  prefill { instances = 2 } decode { instances = 2 } }
        router front { policy = least_outstanding_tokens  targets = [main] }
        router decode { policy = round_robin  targets = [main.decode] }
        """)
    (h,) = c.cluster.handoffs
    assert h.decode_router.policy == "round_robin" and h.decode_router.instances == (2, 3)
    assert set(c.cluster.routers) == {"front"} and c.cluster.routers["front"].instances == (0, 1)
    assert c.workload_routers == {"chat": "front"}


def test_pools_with_roles_pair_by_model(tmp_path):
    c = compile_text(tmp_path, """\
        pool p { model = llama  hardware = h100  role = prefill }
        pool d { model = llama  hardware = h100  role = decode  instances = 2 }
        """)
    (h,) = c.cluster.handoffs
    assert h.prefill == (0,) and h.decode_router.instances == (1, 2) and h.decode_router.policy == "least_loaded"
    assert c.workload_routers == {"chat": "default"}


def test_disaggregation_mistakes_are_located_errors(tmp_path):
    assert "prefill pool `p` has no decode pool to hand its requests to" in errors(
        tmp_path, "pool p { model = llama  hardware = h100  role = prefill }")
    assert "decode pool `d` receives no requests" in errors(tmp_path, """\
        pool u { model = llama  hardware = h100 }
        pool d { model = llama  hardware = h100  role = decode }
        """)
    assert "router `front` sends new requests to decode pool `main.decode`" in errors(tmp_path, """\
        pool main { model = llama  hardware = h100  prefill { } decode { } }
        router front { targets = [main, main.decode] }
        """)


def test_tiers_and_slo_aware_options_reach_the_runtime(tmp_path):
    c = compile_text(tmp_path, """\
        pool main {
          model = llama  hardware = h100  instances = 2
          kv_cache {
            tier { medium = cpu  capacity = 64GiB  bandwidth = 64GB/s }
            tier { medium = ssd  capacity = 1TB  bandwidth = 7GB/s  latency = 100us  shared = true }
          }
        }
        router front { policy = slo_aware  targets = [main] }
        slo fast { ttft.p99 < 1s  tpot < 40ms }
        slo faster { tpot.p50 < 30ms }
        """)
    a, b = c.cluster.instances
    assert [t.name for t in a.tiers] == ["main.cpu", "main.ssd"]
    assert a.tiers[1] is b.tiers[1] and a.tiers[1].shared and not a.tiers[0].shared
    assert a.block_bytes == 131_072 * 16 and a.tiers[0].link.latency_ns == 0
    assert c.cluster.routers["front"].options == {"tpot_ns": 30_000_000}
    assert "holds no whole KV block" in errors(tmp_path, """\
        pool main {
          model = llama  hardware = h100
          kv_cache { tier { medium = cpu  capacity = 1MiB  bandwidth = 1GB/s } }
        }
        """)


# -- issue 7: pipeline parallelism, attention-DP lockstep, speculative decoding ----------------------


def test_pipeline_spec_pipelines_its_two_stages():

    compiled, result = run(TECHNIQUES / "pp-llama-70b-two-nodes.llms")
    (inst,) = compiled.cluster.instances
    assert inst.pp == 2 and inst.stages is not None
    s = result.summary()
    assert s["requests"]["completed"] == 300
    # Against one batch at a time through both stages (the conservative cost of before).
    spec = load_spec(TECHNIQUES / "pp-llama-70b-two-nodes.llms")
    serial = structs.replace(compiled.cluster, instances=(structs.replace(inst, stages=None, pp=1),))
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    in_turn = simulate(serial, workloads, timeline_buckets=0).summary()
    assert s["metrics"]["ttft_ms"]["mean"] < in_turn["metrics"]["ttft_ms"]["mean"]
    assert s["metrics"]["tpot_ms"]["mean"] < in_turn["metrics"]["tpot_ms"]["mean"]
    assert s["sim"]["steps"] > in_turn["sim"]["steps"]  # smaller batches, two at a time


def test_deepseek_dp_ranks_run_in_one_lockstep_group():
    compiled, result = run(TECHNIQUES / "ep-dp-deepseek-v3.llms")
    (group,) = compiled.cluster.lockstep
    assert group.instances == tuple(range(8)) and group.name == "main[0..7]"
    s = result.summary()
    assert s["requests"]["completed"] == 400
    assert s["sim"]["steps"] % 8 == 0  # every rank steps (or runs a dummy step) in every group step


def test_speculative_spec_reports_its_acceptance():
    _, result = run(TECHNIQUES / "speculative.llms")
    s = result.summary()["speculative"]
    assert s["mean_tokens_per_step"] == pytest.approx((1 - 0.7**5) / 0.3, rel=0.03)
    _, again = run(TECHNIQUES / "speculative.llms")
    assert again.summary() == result.summary()  # seeded: the same draws every run
    _, high = run(TECHNIQUES / "speculative.llms", "acceptance=95%")
    assert high.summary()["metrics"]["tpot_ms"]["mean"] < result.summary()["metrics"]["tpot_ms"]["mean"]
