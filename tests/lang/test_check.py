"""AST -> IR: defaults from the schema, references, rules between keys, and phase boundaries."""

from __future__ import annotations

from fractions import Fraction

import pytest

from llmsim.diagnostics import CompileError
from llmsim.lang import ir

from .helpers import SCAFFOLD


def diagnostics(compile_text, text: str) -> list[str]:
    with pytest.raises(CompileError) as info:
        compile_text(text)
    return [d.summary for d in info.value.diagnostics]


def test_defaults_fill_the_ir(compile_text):
    spec = compile_text(SCAFFOLD)
    pool = spec.pools["main"]
    assert (pool.instances, pool.tp, pool.pp, pool.role) == (1, 1, 1, "unified")
    assert pool.scheduler == ir.SchedulerConfig("vllm", 256, 8192, True, 0, 0, pool.span)
    assert pool.kv_cache == ir.KVCacheConfig(16, Fraction(9, 10), None, True, pool.span)
    model = spec.models["llama"]
    assert (model.dtype, model.kv_dtype, model.max_model_len, model.config_path) == (
        "bf16",
        "bf16",
        None,
        None,
    )
    workload = spec.workloads["chat"]
    assert (workload.seed, workload.router, workload.trace) == (0, None, None)
    assert spec.simulation == ir.SimulationConfig(seed=0, max_time_ns=None, span=None)
    assert spec.routers == {}


def test_hardware_import_in_ir(compile_text):
    spec = compile_text(SCAFFOLD)
    hw = spec.hardware["h100"]
    assert (hw.entry, hw.engine, hw.version, hw.engine_id) == (
        "nvidia/h100-sxm",
        "vllm",
        "0.24.0",
        "vllm@0.24.0",
    )


def test_values_in_simulator_units(compile_text):
    spec = compile_text(
        SCAFFOLD.replace(
            "pool main { model = llama  hardware = h100 }",
            """
pool main {
  model = llama  hardware = h100
  scheduler { step_overhead = 1.5ms }
  kv_cache { gpu_memory_utilization = 0.85 }
}
simulation { max_time = 2min  seed = 9 }
""",
        )
    )
    assert spec.pools["main"].scheduler.step_overhead_ns == 1_500_000
    assert spec.pools["main"].kv_cache.gpu_memory_utilization == Fraction(17, 20)
    assert spec.simulation == ir.SimulationConfig(9, 120 * 10**9, spec.simulation.span)
    assert spec.simulation.span is not None


def test_kv_dtype_auto_follows_dtype(compile_text):
    spec = compile_text(SCAFFOLD.replace('catalog = "Llama-3.1-8B"', 'catalog = "Llama-3.1-8B"  dtype = fp8'))
    assert spec.models["llama"].kv_dtype == "fp8"
    spec = compile_text(
        SCAFFOLD.replace('catalog = "Llama-3.1-8B"', 'catalog = "Llama-3.1-8B"  kv_dtype = fp16')
    )
    assert (spec.models["llama"].dtype, spec.models["llama"].kv_dtype) == ("bf16", "fp16")


def test_references_may_point_forward(compile_text):
    text = """
workload chat { requests = 1  arrival = poisson(rate = 1/s)  lengths = dataset("sharegpt")  router = r }
router r { targets = [main] }
pool main { model = m  hardware = h100 }
model m { catalog = "Qwen3-8B" }
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
"""
    spec = compile_text(text)
    assert spec.workloads["chat"].router == "r"
    assert spec.routers["r"].targets == ("main",)
    assert list(spec.pools) == ["main"]


def test_default_hardware_alias(compile_text):
    text = SCAFFOLD.replace(" as h100", "").replace("hardware = h100", "hardware = h100_sxm")
    spec = compile_text(text)
    assert list(spec.hardware) == ["h100_sxm"]


def test_trace_defaults(compile_text, tmp_path):
    (tmp_path / "t.jsonl").write_text("{}\n")
    spec = compile_text(SCAFFOLD + 'workload replay { trace = mooncake("t.jsonl") }\n')
    replay = spec.workloads["replay"]
    assert replay.requests is None
    assert replay.arrival == ir.TraceArrivals(Fraction(1), replay.span)
    assert replay.trace == ir.TraceSource((tmp_path / "t.jsonl").resolve(), "mooncake", replay.trace.span)


def test_several_workloads_are_kept_in_order(compile_text):
    spec = compile_text(SCAFFOLD + SCAFFOLD.splitlines()[-1].replace("chat", "other") + "\n")
    assert list(spec.workloads) == ["chat", "other"]


def test_calls_by_position_and_by_name_agree(compile_text):
    a = compile_text(
        SCAFFOLD.replace('lengths = dataset("sharegpt")', "prompt = uniform(1, 9)  output = fixed(3)")
    )
    b = compile_text(
        SCAFFOLD.replace(
            'lengths = dataset("sharegpt")', "prompt = uniform(high = 9, low = 1)  output = fixed(tokens = 3)"
        )
    )
    pa, pb = a.workloads["chat"].prompt, b.workloads["chat"].prompt
    assert (pa.low, pa.high) == (pb.low, pb.high) == (1, 9)


def test_percent_and_fraction_are_the_same_ratio(compile_text):
    specs = [
        compile_text(
            SCAFFOLD.replace(
                "hardware = h100 }", f"hardware = h100  kv_cache {{ gpu_memory_utilization = {v} }} }}"
            )
        )
        for v in ("80%", "0.8", "4 / 5")
    ]
    assert {s.pools["main"].kv_cache.gpu_memory_utilization for s in specs} == {Fraction(4, 5)}


def test_every_mistake_of_the_phase_is_reported(compile_text):
    text = SCAFFOLD.replace("hardware = h100 }", "hardware = h100  tp = 0  pp = 2.5  colour = 1 }")
    assert diagnostics(compile_text, text) == [
        "`tp` must be at least 1",
        "`pp` must be a whole number",
        "unknown key `colour` in pool `main`",
    ]


def test_syntax_errors_stop_before_checking(compile_text):
    text = SCAFFOLD + "pool broken { tp = 0\n"
    assert diagnostics(compile_text, text) == ["unclosed `{`"]


def test_a_failed_value_is_reported_once(compile_text):
    text = SCAFFOLD.replace("requests = 10", "requests = 10xyz")
    assert diagnostics(compile_text, text) == ["unknown unit `xyz`"]


def test_spec_needs_a_pool_and_a_workload(compile_text, tmp_path):
    path = tmp_path / "spec.llms"
    assert diagnostics(compile_text, "") == [f"`{path}` defines no pool", f"`{path}` defines no workload"]


def test_a_broken_pool_still_counts_as_a_pool(compile_text):
    text = SCAFFOLD.replace("pool main { model = llama  hardware = h100 }", "pool main { }")
    assert diagnostics(compile_text, text) == [
        "missing key `model` in pool `main`",
        "missing key `hardware` in pool `main`",
    ]


def test_failed_hardware_import_does_not_cascade(compile_text):
    text = SCAFFOLD.replace("vllm-0.24.0", "vllm-9.9.9")
    assert diagnostics(compile_text, text) == ["unknown hardware entry `nvidia/h100-sxm@vllm-9.9.9`"]


def test_unknown_reference_suggests_names_of_the_right_kind_only(compile_text):
    text = SCAFFOLD + "router mian { targets = [mian] }\n"
    with pytest.raises(CompileError) as info:
        compile_text(text)
    (d,) = info.value.diagnostics
    assert d.summary == "unknown pool `mian`"
    assert d.help == "did you mean `main`?"


def test_unknown_key_suggests_keys_of_that_block_only(compile_text):
    text = SCAFFOLD.replace("hardware = h100 }", "hardware = h100  max_num_seqs = 8 }")
    with pytest.raises(CompileError) as info:
        compile_text(text)
    (d,) = info.value.diagnostics
    assert d.summary == "unknown key `max_num_seqs` in pool `main`"
    assert d.help == "`max_num_seqs` goes inside `scheduler { ... }`"
    text = SCAFFOLD.replace("hardware = h100 }", "hardware = h100  colour = 8 }")
    with pytest.raises(CompileError) as info:
        compile_text(text)
    (d,) = info.value.diagnostics
    assert d.help == (
        "`pool` takes `model`, `hardware`, `instances`, `tp`, `pp`, `role`, `ep`, `dp`, `node` and `kv_link`"
    )
