"""Pipeline and data parallelism, nodes and links: stages, sends, replicas, intra- and inter-node."""

from pathlib import Path

import numpy as np
import pytest
from msgspec import structs

from llmsim.compiler import compile_spec
from llmsim.compiler.stages import partition_layers
from llmsim.diagnostics import CompileError
from llmsim.lang import load_spec
from llmsim.runtime.batch import BatchShape

BATCHES = [BatchShape.decode(1, 1024), BatchShape.decode(48, 3000), BatchShape.prefill(2048, past=512),
           BatchShape(528, 17, 16, 16 * 1024, 1024, ((512, 0),))]

HEAD = """use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
link nv { kind = nvlink  bandwidth = 450GB/s  latency = 1us }
link ib { kind = infiniband  bandwidth = 400Gb/s  latency = 5us }
node box[4] { device = h100  count = 4  link = nv }
fabric net { nodes = [box]  link = ib }
model m { catalog = "MODEL"  max_model_len = 8192 }
workload w { requests = 10  arrival = poisson(rate = 1/s)  lengths = dataset("sharegpt") }
"""


def compile_text(tmp_path: Path, pool: str, model: str = "Llama-3.1-8B"):
    path = tmp_path / "spec.llms"
    path.write_text(HEAD.replace("MODEL", model) + f"pool main {{ model = m  hardware = h100  {pool} }}\n")
    return compile_spec(load_spec(path))


def test_partition_follows_vllm():
    assert partition_layers(32, 1) == [(0, 32)]
    assert partition_layers(32, 4) == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert partition_layers(61, 4) == [(0, 15), (15, 30), (30, 46), (46, 61)]  # remainder before the last


def test_pp_with_one_stage_equals_no_pp(tmp_path):
    a = compile_text(tmp_path, "tp = 2").plans["main"]
    b = compile_text(tmp_path, "tp = 2  pp = 1").plans["main"]
    for batch in BATCHES:
        assert a.step_time_ns(batch) == b.step_time_ns(batch)
        assert b.stage_times_ns(batch) == [b.device_time_ns(batch)] and b.stage_transfer_ns(batch) == []
    assert a.memory == b.memory and len(b.stages) == 1


def test_pp_splits_the_model_and_sends_between_stages(tmp_path):
    one = compile_text(tmp_path, "tp = 2", model="Llama-3.1-70B").plans["main"]
    two = compile_text(tmp_path, "tp = 2  pp = 2", model="Llama-3.1-70B").plans["main"]
    assert [st.layers for st in two.stages] == [(0, 40), (40, 80)]
    for batch in BATCHES:
        stages, sends = two.stage_times_ns(batch), two.stage_transfer_ns(batch)
        # The conservative cost is the stages in turn plus the send, with the host overheads once.
        overhead = two.step_time_ns(batch) - two.device_time_ns(batch)
        assert two.step_time_ns(batch) == pytest.approx(sum(stages) + sum(sends) + overhead, abs=3)
        # The stages together compute exactly what the unsplit model does.
        assert sum(stages) == pytest.approx(one.device_time_ns(batch), abs=3)
        # Each rank sends hidden state and residual per token: 2 x 8192 x 2 bytes, over the entry's
        # NVLink (no `node`: 450 GB/s and 10 us from its spec sheet; 2 x 2 ranks fit in 8 GPUs).
        assert sends == [round((10.0 + batch.num_tokens * 2 * 8192 * 2 / 450e9 * 1e6) * 1000)]
    # Each stage holds half the layers: weights and KV per token per device halve.
    assert two.memory.kv_bytes_per_token * 2 == one.memory.kv_bytes_per_token
    assert two.stages[0].memory.weight_bytes < 0.55 * one.memory.weight_bytes
    assert two.memory.kv_blocks > one.memory.kv_blocks


def test_stage_send_crosses_the_fabric_when_stages_sit_on_different_nodes(tmp_path):
    plan = compile_text(tmp_path, "tp = 4  pp = 2  node = box", model="Llama-3.1-70B").plans["main"]
    (send,) = [st.send for st in plan.stages if st.send is not None]
    assert send.method == "alpha-beta ib" and "ib" in send.fallback.model
    assert plan.stage_transfer_ns(BatchShape.prefill(1000)) == [round((5 + 1000 * 32768 / 50e9 * 1e6) * 1000)]


def test_a_tp_group_that_spans_nodes_uses_the_slower_link(tmp_path):
    inside = compile_text(tmp_path, "tp = 4  node = box", model="Llama-3.1-70B").plans["main"]
    across = compile_text(tmp_path, "tp = 8  node = box", model="Llama-3.1-70B").plans["main"]
    methods = {item.op.name: item for item in inside.lowering.ops}
    assert methods["o_proj_allreduce"].method.startswith("table allreduce[4 gpus")
    methods = {item.op.name: item for item in across.lowering.ops}
    ar = methods["o_proj_allreduce"]
    assert ar.method == "alpha-beta ib" and "across 2 nodes" in ar.fallback.reason
    m = 64  # tokens: message m x 8192 x 2 bytes, ring all-reduce over 8 ranks on 50 GB/s
    assert ar.curve_us[m] == pytest.approx(5 + 2 * 7 / 8 * m * 8192 * 2 / 50e9 * 1e6)


def test_without_a_node_the_entry_gives_the_links(tmp_path):
    # H100 entry: 8 GPUs per node, NVLink inside, a `network` link between nodes.
    plan = compile_text(tmp_path, "tp = 16", model="Llama-3.1-70B").plans["main"]
    (ar,) = [item for item in plan.lowering.ops if item.op.name == "o_proj_allreduce"]
    assert ar.method == "alpha-beta network"


def test_dp_makes_replicas_behind_the_router(tmp_path):
    compiled = compile_text(tmp_path, "instances = 2  dp = 3")
    plan = compiled.plans["main"]
    assert plan.replicas == 3
    names = [i.name for i in compiled.cluster.instances]
    assert names == [f"main[{i}]" for i in range(6)]
    (router,) = compiled.cluster.routers.values()
    assert router.instances == tuple(range(6))
    single = compile_text(tmp_path, "").plans["main"]
    for batch in BATCHES:  # a dense model's replicas are independent: each costs what one instance does
        assert plan.step_time_ns(batch) == single.step_time_ns(batch)


def test_pool_larger_than_its_nodes_is_a_diagnostic(tmp_path):
    with pytest.raises(CompileError) as info:
        compile_text(tmp_path, "instances = 3  tp = 4  pp = 2  node = box", model="Llama-3.1-70B")
    text = str(info.value)
    assert "pool `main` needs 24 devices (3 instance(s) of tp x dp x pp = 8) but node `box` has 16" in text
    assert "help: declare more nodes: `node box[6]`" in text


def test_pp_beyond_the_layers_is_a_diagnostic(tmp_path):
    with pytest.raises(CompileError) as info:
        compile_text(tmp_path, "pp = 33")
    assert "pp = 33 exceeds the 32 layers of `Llama-3.1-8B`" in str(info.value)


def test_node_of_another_device_is_a_diagnostic(tmp_path):
    path = tmp_path / "spec.llms"
    path.write_text(HEAD.replace("MODEL", "Llama-3.1-8B").replace(
        'as h100\n', 'as h100\nuse hardware "nvidia/h200-sxm@vllm-0.24.0" as h200\n')
        + "pool main { model = m  hardware = h200  node = box }\n")
    with pytest.raises(CompileError) as info:
        compile_spec(load_spec(path))
    assert "pool `main` runs on `h200` but node `box` holds `h100`" in str(info.value)


def test_ring_fabric_is_refused_as_not_supported_yet(tmp_path):
    path = tmp_path / "spec.llms"
    path.write_text(HEAD.replace("MODEL", "Llama-3.1-8B").replace("link = ib }", "link = ib  topology = ring }")
                    + "pool main { model = m  hardware = h100 }\n")
    with pytest.raises(CompileError) as info:
        compile_spec(load_spec(path))
    assert "fabric topology `ring` is not supported yet" in str(info.value)


# -- the runtime side: replicas, lockstep groups, pipelined stages -----------------------------------


def simulate_spec(compiled, cluster=None):
    from llmsim.runtime import build_workload, simulate

    spec = compiled.spec
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    return simulate(cluster or compiled.cluster, workloads, timeline_buckets=0)


def test_the_cluster_build_makes_the_replicas_and_expand_replicas_is_retired(tmp_path):
    from llmsim.compiler.planner import expand_replicas

    compiled = compile_text(tmp_path, "instances = 2  dp = 3")
    cluster = compiled.cluster
    assert expand_replicas(cluster, compiled.plans, compiled.spec) is cluster
    assert cluster.lockstep == ()  # a dense model's replicas are independent


def test_moe_attention_dp_ranks_step_in_lockstep(tmp_path):
    compiled = compile_text(tmp_path, "instances = 2  dp = 2  ep = 2", model="Qwen3-30B-A3B")
    groups = compiled.cluster.lockstep
    assert [(g.name, g.instances) for g in groups] == [("main[0..1]", (0, 1)), ("main[2..3]", (2, 3))]
    plan = compiled.plans["main"]
    cost = groups[0].cost
    moe = plan.lowering.token_curves_us["moe"]
    for batch in BATCHES:
        # Balanced ranks: the plan's own price (its experts already see dp x its tokens).
        assert cost.group_step_time_ns([batch, batch]) == plan.step_time_ns(batch)
        # One rank alone: its experts see only its own tokens, at the curve's tokens / dp.
        alone = cost.group_step_time_ns([batch])
        at_half = np.interp(batch.num_tokens / 2, np.arange(len(moe)), moe)
        assert alone == round(plan.step_time_ns(batch) - moe[batch.num_tokens] * 1000 + at_half * 1000)
        assert alone <= plan.step_time_ns(batch)
    # Unbalanced ranks: the slowest rank's own work plus the experts at the total tokens.
    small, big = BatchShape.decode(4, 1024), BatchShape.prefill(2048)
    pair = cost.group_step_time_ns([small, big])
    assert pair >= cost.group_step_time_ns([big]) and pair >= cost.group_step_time_ns([small, small])
    result = simulate_spec(compiled)
    assert result.summary()["requests"]["completed"] == 10


def test_pp_with_one_stage_runs_as_no_pp(tmp_path):
    a = compile_text(tmp_path, "tp = 2")
    b = compile_text(tmp_path, "tp = 2  pp = 1")
    assert b.cluster.instances[0].stages is None
    assert simulate_spec(a).summary() == simulate_spec(b).summary()


def test_pp_instances_pipeline_their_batches(tmp_path):

    path = tmp_path / "spec.llms"
    path.write_text(HEAD.replace("MODEL", "Llama-3.1-70B").replace("requests = 10  arrival = poisson(rate = 1/s)",
                                                                  "requests = 120  arrival = poisson(rate = 20/s)")
                    + "pool main { model = m  hardware = h100  tp = 4  pp = 2 }\n")
    compiled = compile_spec(load_spec(path))
    inst = compiled.cluster.instances[0]
    plan = compiled.plans["main"]
    assert inst.pp == 2 and inst.stages is not None
    batch = BatchShape.prefill(512)
    assert inst.stages.stage_times_ns(batch) == plan.stage_times_ns(batch)
    assert inst.stages.host_ns(batch) == plan.step_time_ns(batch) - plan.device_time_ns(batch)
    pipelined = simulate_spec(compiled).summary()
    # The conservative runtime of before: every batch through both stages before the next starts.
    serial = structs.replace(compiled.cluster, instances=(structs.replace(inst, stages=None, pp=1),))
    in_turn = simulate_spec(compiled, serial).summary()
    assert pipelined["requests"]["completed"] == in_turn["requests"]["completed"] == 120
    assert pipelined["metrics"]["ttft_ms"]["mean"] < in_turn["metrics"]["ttft_ms"]["mean"]
    assert pipelined["sim"]["simulated_s"] <= in_turn["sim"]["simulated_s"]
