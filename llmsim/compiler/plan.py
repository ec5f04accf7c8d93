"""The instance plan: a model lowered onto one device kind, ready for the runtime.

`step_time_ns(batch)` is the runtime's cost model: one list lookup for everything that scales with
tokens, one for everything that scales with sequences, and the attention tables; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from llmsim.compiler.lower import Fallback, Lowering
from llmsim.compiler.memory import MemoryPlan
from llmsim.compiler.models import ModelConfig
from llmsim.runtime.batch import BatchShape


@dataclass(frozen=True)
class HardwareUse:
    """Which hardware entry a plan used, pinned by content hash."""

    entry: str
    engine: str
    sha256: str
    kind: str

    def to_json(self) -> dict[str, str]:
        return {"entry": self.entry, "engine": self.engine, "sha256": self.sha256, "kind": self.kind}


class InstancePlan:
    """Cost model and memory plan of one instance of a pool."""

    def __init__(self, *, pool: str, model: ModelConfig, dtype: str, kv_dtype: str, tp: int,
                 hardware: HardwareUse, graph: nx.DiGraph, lowering: Lowering, memory: MemoryPlan,
                 overhead_ns: int, max_model_len: int, prefill_overhead_ns: int = 0):
        self.pool = pool
        self.model = model
        self.dtype = dtype
        self.kv_dtype = kv_dtype
        self.tp = tp
        self.hardware = hardware
        self.graph = graph
        self.lowering = lowering
        self.memory = memory
        self.overhead_ns = overhead_ns  # every step (the spec's `step_overhead`)
        self.prefill_overhead_ns = prefill_overhead_ns  # steps with prefill work (host_overheads.py)
        self.max_model_len = max_model_len
        self._token_us: list[float] = _total(lowering.token_curves_us).tolist()
        self._seq_us: list[float] = _total(lowering.seq_curves_us).tolist()
        self._attention = lowering.attention

    @property
    def fallbacks(self) -> list[Fallback]:
        return self.lowering.fallbacks

    def step_time_ns(self, batch: BatchShape) -> int:
        us = self._token_us[batch.num_tokens] + self._seq_us[batch.num_seqs] + self._attention(batch)
        ns = int(us * 1000.0 + 0.5) + self.overhead_ns
        return ns + self.prefill_overhead_ns if batch.prefills else ns

    def breakdown_us(self, batch: BatchShape) -> dict[str, float]:
        """Step time by operator family (gemm, attention, collective, elementwise, memory)."""
        out: dict[str, float] = {}
        for family, curve in self.lowering.token_curves_us.items():
            out[family] = out.get(family, 0.0) + float(curve[batch.num_tokens])
        for family, curve in self.lowering.seq_curves_us.items():
            out[family] = out.get(family, 0.0) + float(curve[batch.num_seqs])
        out["attention"] = out.get("attention", 0.0) + self._attention(batch)
        overhead = self.overhead_ns + (self.prefill_overhead_ns if batch.prefills else 0)
        if overhead:
            out["overhead"] = overhead / 1000.0
        return out

    def to_json(self) -> dict[str, Any]:
        m = self.memory
        return {
            "pool": self.pool,
            "model": self.model.name,
            "tp": self.tp,
            "hardware": self.hardware.to_json(),
            "memory": {
                "capacity_bytes": m.capacity_bytes,
                "weight_bytes": m.weight_bytes,
                "activation_bytes": m.activation_bytes,
                "reserve_bytes": m.reserve_bytes,
                "kv_bytes_per_token": m.kv_bytes_per_token,
                "kv_blocks": m.kv_blocks,
                "block_size": m.block_size,
            },
        }


def _total(curves: dict[str, np.ndarray]) -> np.ndarray:
    total: np.ndarray | None = None
    for curve in curves.values():
        total = curve.copy() if total is None else total + curve
    return total if total is not None else np.zeros(1)
