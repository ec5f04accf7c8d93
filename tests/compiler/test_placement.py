"""Operator placement on other devices: transfers at the boundaries, analytical devices flagged."""

from pathlib import Path

import pytest

from llmsim.compiler import compile_spec
from llmsim.compiler.ops import Transfer
from llmsim.diagnostics import CompileError
from llmsim.lang import load_spec
from llmsim.runtime.batch import BatchShape

HEAD = """use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
use hardware "nvidia/h200-sxm@vllm-0.24.0" as h200
device aim { kind = pim  memory = 32GiB  memory_bandwidth = 16TB/s  compute = 8TFLOP/s  power = 60W }
device same { hardware = h100 }
device half { kind = pim  memory = 8GiB  memory_bandwidth = 1TB/s }
link cxl { kind = cxl  bandwidth = 64GB/s  latency = 300ns }
link nv { kind = nvlink  bandwidth = 450GB/s  latency = 1us }
node box { device = h100  count = 8  link = nv
  attach { device = aim  count = 16  link = cxl }
  attach { device = h200  count = 8  link = nv }
  attach { device = half  count = 8  link = cxl } }
model m { catalog = "Llama-3.1-8B"  max_model_len = 8192 }
workload w { requests = 10  arrival = poisson(rate = 1/s)  lengths = dataset("sharegpt") }
"""
BATCHES = [BatchShape.decode(1, 1024), BatchShape.decode(64, 2048), BatchShape.prefill(1024),
           BatchShape(528, 17, 16, 16 * 1024, 1024, ((512, 0),))]


def compile_text(tmp_path: Path, pool: str):
    path = tmp_path / "spec.llms"
    path.write_text(HEAD + f"pool main {{ model = m  hardware = h100  node = box  {pool} }}\n")
    return compile_spec(load_spec(path))


@pytest.mark.parametrize("device", ["h100", "same"])
def test_a_placement_on_the_same_device_adds_no_transfer(tmp_path, device):
    base = compile_text(tmp_path, "").plans["main"]
    placed = compile_text(tmp_path, f"place {{ attention = {device}  mlp = {device} }}").plans["main"]
    assert not any(isinstance(d["op"], Transfer) for _, d in placed.graph.nodes(data=True))
    assert placed.placement == {}
    for batch in BATCHES:
        assert placed.step_time_ns(batch) == base.step_time_ns(batch)
    assert placed.memory == base.memory


def test_attention_on_pim_gets_transfers_and_the_kv_cache(tmp_path):
    plan = compile_text(tmp_path, "place { attention = aim }").plans["main"]
    g = plan.graph
    order = [n for n in g if n.startswith("L0.")]
    i = order.index("L0.attention")
    assert order[i - 1] == "L0.attention.to_aim" and order[i + 1] == "L0.attention.from_aim"
    assert g.nodes["L0.attention"]["device"] == "aim"
    # q, k, v in: (32 + 2 x 8) heads x 128 x 2 bytes; the output back: 32 x 128 x 2 bytes.
    assert g.nodes["L0.attention.to_aim"]["op"] == Transfer("attention.to_aim", bytes_per_item=12288, link="cxl")
    assert g.nodes["L0.attention.from_aim"]["op"].bytes_per_item == 8192
    items = {item.op.name: item for item in plan.lowering.ops}
    to = items["attention.to_aim"]
    assert to.curve_us[100] == pytest.approx(0.3 + 100 * 12288 / 64e9 * 1e6)
    assert to.count == 32
    # Every operator on the analytical PIM device is flagged, and so are the transfers.
    flagged = {f.op for f in plan.fallbacks}
    assert flagged == {"attention", "attention.to_aim", "attention.from_aim"}
    (att,) = [f for f in plan.fallbacks if f.op == "attention"]
    assert "`aim` is an analytical pim device" in att.reason
    # The KV cache lives in the two PIM devices of each H100: 2 x 32 GiB x 90 %.
    assert plan.memory.kv_device == "aim"
    assert plan.memory.kv_blocks == int(2 * 32 * 2**30 * 0.9) // (131072 * 16)
    decode = BatchShape.decode(64, 2048)
    assert plan.breakdown_us(decode)["transfer"] > 0


def test_attention_on_pim_is_priced_by_its_spec_sheet(tmp_path):
    plan = compile_text(tmp_path, "place { attention = aim }").plans["main"]
    base = compile_text(tmp_path, "").plans["main"]
    decode = BatchShape.decode(64, 4096)
    # Decode attention reads 64 x 4096 tokens of K and V (8 heads x 128 x 2 x 2 bytes) per layer; on
    # two PIM devices (32 TB/s) that takes well under the H100's time, compute (16 TFLOP/s) aside.
    flops = 4.0 * 32 * 128 * 64 * 4096
    kv = 64 * 4096 * 2 * 8 * 128 * 2
    per_layer = max(flops / 16e12, kv / 32e12) * 1e6
    assert plan.breakdown_us(decode)["attention"] == pytest.approx(32 * per_layer, rel=0.01)
    assert plan.breakdown_us(decode)["gemm"] == pytest.approx(base.breakdown_us(decode)["gemm"])


def test_mlp_on_another_gpu_uses_its_tables(tmp_path):
    plan = compile_text(tmp_path, "place { mlp = h200 }").plans["main"]
    items = {item.op.name: item for item in plan.lowering.ops}
    assert items["gate_up_proj"].method == "on `h200`: table gemm_bf16"
    assert items["gate_up_proj.to_h200"].op.bytes_per_item == 4096 * 2
    assert items["down_proj.from_h200"].op.bytes_per_item == 4096 * 2
    # The MLP weights live on the H200: the H100 keeps the rest.
    base = compile_text(tmp_path, "").plans["main"]
    assert base.memory.weight_bytes - plan.memory.weight_bytes == 32 * 3 * 4096 * 14336 * 2


def test_analytical_device_without_compute_is_a_diagnostic(tmp_path):
    with pytest.raises(CompileError) as info:
        compile_text(tmp_path, "place { attention = half }")
    text = str(info.value)
    assert "device `half` has no measured entry, so it needs `compute` to price the operators placed on it" in text


def test_placement_without_a_link_is_a_diagnostic(tmp_path):
    path = tmp_path / "spec.llms"
    path.write_text(HEAD + "pool main { model = m  hardware = h100  place { attention = aim } }\n")
    with pytest.raises(CompileError) as info:
        compile_spec(load_spec(path))
    text = str(info.value)
    assert "no link is known between `h100` and `aim`" in text
    assert "attach it to the pool's node (it has none)" in text
