"""The instance plan is the runtime's cost model: cheap, deterministic, consistent with its parts."""

from pathlib import Path

import pytest

from llmsim.compiler import compile_spec
from llmsim.lang import load_spec
from llmsim.runtime.batch import BatchShape

QUICKSTART = Path(__file__).resolve().parents[2] / "specs" / "quickstart.llms"


@pytest.fixture(scope="module")
def plan():
    return compile_spec(load_spec(QUICKSTART)).plans["main"]


def test_step_time_is_the_sum_of_its_breakdown(plan):
    batch = BatchShape(528, 17, 16, 16 * 1024, 1024, ((512, 0),))
    assert plan.step_time_ns(batch) == pytest.approx(sum(plan.breakdown_us(batch).values()) * 1000, abs=1)


def test_decode_step_of_llama_8b_on_h100_reads_the_weights_once(plan):
    # One decode step streams ~16 GB of weights; at 3.35 TB/s that is 4.8 ms at full bandwidth.
    t = plan.step_time_ns(BatchShape.decode(1, 128)) / 1e6
    assert 4.8 < t < 8.0
    breakdown = plan.breakdown_us(BatchShape.decode(1, 128))
    assert max(breakdown, key=breakdown.get) == "gemm"


def test_prefill_is_compute_bound(plan):
    # 2048 tokens x 2 x 7.5 GFLOP = 30.7 TFLOP; at the 989 TFLOP/s peak that is at least 31 ms.
    t = plan.step_time_ns(BatchShape.prefill(2048)) / 1e6
    assert 31 < t < 60


def test_step_time_grows_with_batch_and_context(plan):
    assert plan.step_time_ns(BatchShape.decode(64, 1024)) > plan.step_time_ns(BatchShape.decode(8, 1024))
    assert plan.step_time_ns(BatchShape.decode(32, 8192)) > plan.step_time_ns(BatchShape.decode(32, 512))


def test_plan_pins_the_hardware_by_hash(plan):
    assert plan.hardware.entry == "nvidia/h100-sxm"
    assert plan.hardware.engine == "vllm@0.24.0"
    assert len(plan.hardware.sha256) == 64
