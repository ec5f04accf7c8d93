"""Shared helpers for the runtime tests: a fake cost model and small cluster builders.

Imported relatively (`from .rt_helpers import ...`): tests/runtime is a package, as tests/lang is."""

from __future__ import annotations

from pathlib import Path

from llmsim.runtime import BatchShape, ClusterSpec, InstanceSpec, RouterSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "traces"


class AffineCost:
    """Step time = base + per_token * tokens + per_kv * decode context; records every shape."""

    def __init__(self, base: int = 1_000_000, per_token: int = 10_000, per_kv: int = 0, record: bool = True):
        self.base = base
        self.per_token = per_token
        self.per_kv = per_kv
        self.record = record
        self.shapes: list[BatchShape] = []

    def step_time_ns(self, batch: BatchShape) -> int:
        if self.record:
            self.shapes.append(batch)
        return self.base + self.per_token * batch.num_tokens + self.per_kv * batch.decode_kv_sum


def instance(i: int = 0, cost=None, **overrides) -> InstanceSpec:
    fields = dict(
        name=f"main[{i}]",
        pool="main",
        cost=cost if cost is not None else AffineCost(),
        num_kv_blocks=1000,
        block_size=16,
        max_num_seqs=16,
        max_num_batched_tokens=256,
        chunked_prefill=True,
        long_prefill_token_threshold=0,
        max_model_len=4096,
        prefix_caching=False,
    )
    fields.update(overrides)
    return InstanceSpec(**fields)


def cluster(*specs: InstanceSpec, policy: str = "round_robin") -> ClusterSpec:
    return ClusterSpec(tuple(specs), {"r": RouterSpec("r", policy, tuple(range(len(specs))))})
