"""Energy from the runtime's timeline and the plans' power figures."""

from pathlib import Path

import numpy as np
import pytest

from llmsim.compiler import compile_spec
from llmsim.compiler.power import (
    HOST_W_PER_NODE,
    IDLE_FRACTION,
    LINK_PJ_PER_BIT,
    DevicePower,
    PowerModel,
    energy_report,
)
from llmsim.lang import load_spec
from llmsim.report.results import results_document
from llmsim.runtime import build_workload, simulate
from llmsim.runtime.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]


class Plan:
    def __init__(self, power):
        self.power = power


def timeline(busy_ns: list[list[int]], bucket_ns: int = 1_000_000_000, tokens: int = 0) -> Timeline:
    """A hand-made timeline: instances x buckets of busy time, every bucket full width."""
    busy = np.array(busy_ns, dtype=np.float64)
    n, b = busy.shape
    zeros = np.zeros((n, b))
    sums = {k: zeros.copy() for k in ("steps", "step_seqs", "step_tokens", "step_decodes", "step_decode_context",
                                      "output_tokens", "preemptions")}
    sums["output_tokens"][0, 0] = tokens
    sums["step_tokens"][0, 0] = tokens
    return Timeline(bucket_ns=bucket_ns, end_ns=b * bucket_ns, instance_names=tuple(f"p[{i}]" for i in range(n)),
                    instance_pools=("p",) * n, kv_blocks=(1,) * n,
                    requests={k: np.zeros(b) for k in ("arrivals", "completions", "rejections")}, sums=sums,
                    integrals={"busy": busy, "running": zeros.copy(), "waiting": zeros.copy(),
                               "kv_blocks_used": zeros.copy()})


def test_energy_equals_power_times_time_for_a_constant_power_device():
    # A device that draws 300 W busy or idle: energy is 300 W x its count x the run's length.
    power = PowerModel((DevicePower("dev", 2, 300.0, 300.0, "test"),), 0.0, 0.0, 0.0)
    tl = timeline([[0, 400_000_000, 1_000_000_000], [1_000_000_000, 0, 250_000_000]])
    e = energy_report({"p": Plan(power)}, tl, completed=4)
    assert e["total_j"] == pytest.approx(300 * 2 * 2 * 3.0)  # W x devices x instances x s
    assert e["per_request_j"] == pytest.approx(e["total_j"] / 4)
    assert e["power_w"] == pytest.approx([1200.0, 1200.0, 1200.0])
    assert e["complete"] and e["unknown_power"] == []


def test_active_and_idle_power_split_by_busy_time():
    power = PowerModel((DevicePower("dev", 1, 700.0, 70.0, "test"),), 1000.0, 0.0, 50.0)
    tl = timeline([[500_000_000, 0]], tokens=2000)
    e = energy_report({"p": Plan(power)}, tl, completed=1)
    devices = 700 * 0.5 + 70 * 1.5
    links = 2000 * 1000 * 8 * LINK_PJ_PER_BIT * 1e-12
    assert e["components_j"] == pytest.approx({"devices": devices, "links": links, "host": 50 * 2.0})
    assert e["per_output_token_j"] == pytest.approx((devices + links + 100) / 2000)
    assert e["power_w"] == pytest.approx([70 + 630 * 0.5 + links / 1.0 + 50, 70 + 50])
    assert sum(w * 1.0 for w in e["power_w"]) == pytest.approx(e["total_j"])  # power integrates to energy


def test_unknown_power_is_reported_not_counted_as_zero():
    power = PowerModel((DevicePower("tpu", 1, None, None, "no TDP"),), 0.0, 0.0, 0.0)
    e = energy_report({"p": Plan(power)}, timeline([[10, 10]]), completed=1)
    assert e["unknown_power"] == ["p: tpu"] and not e["complete"]


def test_plan_power_comes_from_the_entry_and_device_blocks():
    compiled = compile_spec(load_spec(ROOT / "specs" / "techniques" / "hetero-pools-h100-h200.llms"))
    (h100,) = compiled.plans["older"].power.devices
    assert (h100.active_w, h100.idle_w) == (700.0, pytest.approx(700.0 * IDLE_FRACTION))
    assert "TDP of nvidia/h100-sxm" in h100.source and "LLMServingSim" in h100.source
    (h200,) = compiled.plans["newer"].power.devices
    assert h200.active_w == 600.0 and "`power` of device `h200_capped`" in h200.source
    # Host: 98.5 W per node (LLMServingSim's example), shared by the node's 8 GPUs.
    assert compiled.plans["newer"].power.host_w == pytest.approx(HOST_W_PER_NODE / 8)


def test_pim_devices_count_per_rank_and_links_carry_the_transfers():
    compiled = compile_spec(load_spec(ROOT / "specs" / "techniques" / "hetero-pim-attention.llms"))
    power = compiled.plans["main"].power
    gpu, pim = power.devices
    assert gpu.count == 1
    assert (pim.device, pim.count, pim.active_w) == ("aim", 2.0, 60.0)
    # q, k, v out and the attention output back, per token and layer: 12288 + 8192 bytes x 32 layers.
    assert power.link_bytes_per_token == (12288 + 8192) * 32


def test_a_run_reports_energy_per_request_and_token(tmp_path):
    spec = load_spec(ROOT / "specs" / "quickstart.llms")
    compiled = compile_spec(spec)
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    result = simulate(compiled.cluster, workloads)
    doc = results_document(compiled, result.summary(), 0.0, result=result)
    e = doc["energy"]
    busy = float(result.timeline.integrals["busy"].sum()) / 1e9
    end = result.timeline.end_ns / 1e9
    expected_devices = 700 * busy + 700 * IDLE_FRACTION * (end - busy)
    assert e["components_j"]["devices"] == pytest.approx(expected_devices)
    assert e["per_request_j"] == pytest.approx(e["total_j"] / doc["requests"]["completed"])
    assert "power" not in doc["timeline"]["not_modelled"]
    assert len(e["power_w"]) == doc["timeline"]["buckets"]
