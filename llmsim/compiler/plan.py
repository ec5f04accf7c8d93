"""The instance plan: a model lowered onto one device kind, ready for the runtime.

`step_time_ns(batch)` is the runtime's cost model: one list lookup for everything that scales with
tokens, one for everything that scales with sequences, and the attention tables; nothing else.

Pipeline parallelism. A plan with `pp` stages keeps each stage's lowering and memory plan
(`stages`); `stage_times_ns(batch)` and `stage_transfer_ns(batch)` give what the runtime needs to
pipeline batches (each stage's compute, and the send from each stage to the next).
`step_time_ns` stays the conservative cost of one batch going through every stage in turn, with
nothing overlapped (what routers' predictions read): the sum of the stages' compute and the sends
between them. For pp = 1 that is exactly the unsplit model's step time.

Data parallelism. `replicas` (= dp) is how many runtime instances one declared instance is: the
attention data-parallel ranks of a MoE model (each with its own scheduler and KV cache, as vLLM's
DP engine cores), or plain replicas of a dense model. The MoE layers of such a rank are priced as if
every rank ran as many tokens as it does (the experts see `dp` times its tokens); the runtime steps
the ranks in lockstep and prices the experts at their true total (`cluster.MoELockstepCost`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from msgspec import Struct

from llmsim.compiler.lower import Fallback, LoweredOp, Lowering, SumAttention, merge_fallbacks
from llmsim.compiler.memory import MemoryPlan
from llmsim.compiler.models import ModelConfig
from llmsim.runtime.batch import BatchShape

if TYPE_CHECKING:
    import networkx as nx


class StagePlan(Struct):
    """One pipeline stage: its layers [start, end), its lowering and memory plan per device, and the
    send of its activations to the next stage (None for the last)."""

    index: int
    layers: tuple[int, int]
    lowering: Lowering
    memory: MemoryPlan
    send: LoweredOp | None = None


def combine_stages(stages: list[StagePlan]) -> Lowering:
    """One lowering whose curves are the sum of every stage's and every send's: a batch that goes
    through all stages in turn. A single stage is returned as it is (the same floats)."""
    if len(stages) == 1:
        return stages[0].lowering
    ops: list[LoweredOp] = []
    token: dict[str, np.ndarray] = {}
    seq: dict[str, np.ndarray] = {}
    fallbacks: list[Fallback] = []
    for stage in stages:
        low = stage.lowering
        ops.extend(low.ops)
        fallbacks.extend(low.fallbacks)
        for target, curves in ((token, low.token_curves_us), (seq, low.seq_curves_us)):
            for family, curve in curves.items():
                target[family] = target[family] + curve if family in target else curve.copy()
        if stage.send is not None:
            ops.append(stage.send)
            if stage.send.fallback is not None:
                fallbacks.append(stage.send.fallback)
            token["transfer"] = token["transfer"] + stage.send.curve_us if "transfer" in token \
                else stage.send.curve_us.copy()
    attention = SumAttention([stage.lowering.attention for stage in stages])
    return Lowering(ops, token, seq, attention, merge_fallbacks(fallbacks))


class HardwareUse(Struct, frozen=True):
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
                 overhead_ns: int, max_model_len: int, prefill_overhead_ns: int = 0, pp: int = 1, ep: int = 1,
                 dp: int = 1, stages: list[StagePlan] | None = None, power: Any = None,
                 placement: dict[str, str] | None = None):
        self.pp = pp
        self.ep = ep
        self.dp = dp
        self.stages = stages or [StagePlan(0, (0, model.num_layers), lowering, memory)]
        self.power = power  # power.PowerModel, or None
        self.placement = placement or {}  # `place` key -> device, for the families moved off the pool's devices
        self.speculative: Any = None  # speculative.SpeculativeCost when the pool speculates (planner.py)
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
    def graph(self) -> nx.DiGraph:
        """The sharded operator graph. A plan loaded from the compiled-spec cache keeps it pickled
        until asked for, so that running a cached spec never imports networkx."""
        g = self._graph
        if isinstance(g, bytes):
            from llmsim import safepickle

            g = self._graph = safepickle.loads(g, packages=("llmsim", "networkx"))
        return g

    @graph.setter
    def graph(self, value: nx.DiGraph) -> None:
        self._graph = value

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if not isinstance(state["_graph"], bytes):
            from llmsim import safepickle

            state["_graph"] = safepickle.dumps(state["_graph"])
        return state

    @property
    def fallbacks(self) -> list[Fallback]:
        return self.lowering.fallbacks

    @property
    def replicas(self) -> int:
        """Runtime instances per declared instance: the data-parallel ranks (`dp`)."""
        return self.dp

    @property
    def devices_per_instance(self) -> int:
        """Devices of the pool's kind one runtime instance (one DP rank) occupies: tp x pp."""
        return self.tp * self.pp

    def step_time_ns(self, batch: BatchShape) -> int:
        us = self._token_us[batch.num_tokens] + self._seq_us[batch.num_seqs] + self._attention(batch)
        ns = int(us * 1000.0 + 0.5) + self.overhead_ns
        return ns + self.prefill_overhead_ns if batch.prefills else ns

    def device_time_ns(self, batch: BatchShape) -> int:
        """The step's time on the devices alone: `step_time_ns` without the host overheads."""
        us = self._token_us[batch.num_tokens] + self._seq_us[batch.num_seqs] + self._attention(batch)
        return int(us * 1000.0 + 0.5)

    def work_ns(self, batch: BatchShape) -> int:
        """Device time of any batch, also one larger than the scheduler's limits (a speculative
        verification's extra rows): beyond the end of a curve its last segment is extended."""
        us = _at(self._token_us, batch.num_tokens) + _at(self._seq_us, batch.num_seqs) + self._attention(batch)
        return int(us * 1000.0 + 0.5)

    def stage_times_ns(self, batch: BatchShape) -> list[int]:
        """Each pipeline stage's compute for the batch (one entry for pp = 1), without sends and host
        overheads: what a runtime that pipelines micro-batches schedules on each stage."""
        out = []
        for stage in self.stages:
            low = stage.lowering
            us = sum(float(c[batch.num_tokens]) for c in low.token_curves_us.values())
            us += sum(float(c[batch.num_seqs]) for c in low.seq_curves_us.values())
            out.append(int((us + low.attention(batch)) * 1000.0 + 0.5))
        return out

    def stage_transfer_ns(self, batch: BatchShape) -> list[int]:
        """The send of the batch's activations from each stage to the next (pp - 1 entries)."""
        return [int(float(stage.send.curve_us[batch.num_tokens]) * 1000.0 + 0.5)  # type: ignore[index]
                for stage in self.stages if stage.send is not None]

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
        doc: dict[str, Any] = {
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
            "pp": self.pp,
            "ep": self.ep,
            "dp": self.dp,
            "replicas": self.replicas,
        }
        if m.kv_device is not None:
            doc["memory"]["kv_device"] = m.kv_device
        if self.placement:
            doc["placement"] = dict(self.placement)
        if self.pp > 1:
            doc["stages"] = [{"stage": st.index, "layers": list(st.layers), "weight_bytes": st.memory.weight_bytes,
                              "activation_bytes": st.memory.activation_bytes,
                              "kv_bytes_per_token": st.memory.kv_bytes_per_token,
                              "kv_blocks": st.memory.kv_blocks_derived} for st in self.stages]
        if self.power is not None:
            doc["power"] = self.power.to_json()
        return doc


def _at(curve: list[float], m: int) -> float:
    """A precomputed curve at m, extended linearly past its end."""
    last = len(curve) - 1
    if m <= last:
        return curve[m]
    slope = curve[last] - curve[last - 1] if last >= 1 else 0.0
    return curve[last] + slope * (m - last)


def _total(curves: dict[str, np.ndarray]) -> np.ndarray:
    total: np.ndarray | None = None
    for curve in curves.values():
        total = curve.copy() if total is None else total + curve
    return total if total is not None else np.zeros(1)
