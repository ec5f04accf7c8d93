"""Devices a pool's operators run on besides its own hardware entry: `device` blocks of the spec.

A `device` block either names a measured entry (`hardware = h200`), whose tables then price the
operators placed on it, or describes a device by its spec sheet alone (a PIM device, a CPU, a
memory expander: `memory`, `memory_bandwidth`, `compute`, `power`). The second kind is an
*analytical* device: it answers every table lookup with "none", so the lowering prices each of its
operators with the roofline of its spec sheet, and every such operator is listed as a fallback.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from llmsim.hwdb.entry import DeviceSpec
from llmsim.lang import ir

# The dtypes an analytical device's single `compute` figure stands for.
COMPUTE_DTYPES = ("bf16", "fp16", "fp8", "fp32")


class AnalyticalDevice:
    """An entry-shaped device with a spec sheet and no tables (duck-types `HardwareEntry`'s lookups)."""

    analytical = True
    engine = "analytical"
    sha256 = ""

    def __init__(self, decl: ir.DeviceDecl):
        self.decl = decl
        self.name = decl.name
        self.entry = f"{decl.kind}:{decl.name}"
        self.kind = decl.kind
        compute = float(decl.compute_flop_per_s) if decl.compute_flop_per_s is not None else 0.0
        self.device = DeviceSpec(
            name=decl.name,
            memory_bytes=decl.memory_bytes or 0,
            memory_bandwidth=float(decl.memory_bandwidth_bytes_per_s or 0),
            memory_efficiency=1.0,
            launch_latency_ns=0,
            peak_flops={dt: compute for dt in COMPUTE_DTYPES} if compute else {},
            tdp_w=float(decl.power_w) if decl.power_w is not None else None,
            idle_w=None,
            links={},
            gpus_per_node=None,
        )

    def missing(self) -> list[str]:
        """Spec-sheet keys the roofline needs and the block does not give."""
        out = []
        if self.decl.memory_bandwidth_bytes_per_s is None:
            out.append("memory_bandwidth")
        if self.decl.compute_flop_per_s is None:
            out.append("compute")
        return out

    def gemm(self, dtype: str) -> None:
        return None

    def attention_prefill(self, *args: Any) -> None:
        return None

    def attention_decode(self, *args: Any) -> None:
        return None

    def allreduce(self, *args: Any, **kwargs: Any) -> None:
        return None

    def collective(self, *args: Any, **kwargs: Any) -> None:
        return None

    def moe(self, *args: Any, **kwargs: Any) -> None:
        return None

    def moe_a2a(self, *args: Any, **kwargs: Any) -> None:
        return None

    def layerwise_models(self) -> list[tuple[str, str, int]]:
        return []


class OverriddenEntry:
    """A measured entry seen through a `device` block that overrides parts of its spec sheet: the
    tables stay as measured; capacity, bandwidth, compute and power come from the block where given
    (they feed the memory plan, roofline fallbacks and the power model)."""

    analytical = False

    def __init__(self, entry: Any, decl: ir.DeviceDecl):
        self._entry = entry
        self.decl = decl
        dev = entry.device
        changes: dict[str, Any] = {}
        if decl.memory_bytes is not None:
            changes["memory_bytes"] = decl.memory_bytes
        if decl.memory_bandwidth_bytes_per_s is not None:
            changes["memory_bandwidth"] = float(decl.memory_bandwidth_bytes_per_s)
        if decl.compute_flop_per_s is not None:
            changes["peak_flops"] = {dt: float(decl.compute_flop_per_s) for dt in dev.peak_flops or COMPUTE_DTYPES}
        if decl.power_w is not None:
            changes["tdp_w"] = float(decl.power_w)
        self.device = dataclasses.replace(dev, **changes) if changes else dev

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)


class DeviceShare:
    """What one rank of a pool gets of an attached device kind: `share` devices (2 when a node
    attaches 16 PIM devices to 8 GPUs, 0.5 when two GPUs share one). Capacity, bandwidth and
    compute scale with the share (the roofline of an analytical device is per device); measured
    tables still price one device's kernels, and power is counted per device by the power model."""

    def __init__(self, target: Any, share: float):
        self._target = target
        self.share = share
        dev = target.device
        self.device = dataclasses.replace(
            dev, memory_bytes=int(dev.memory_bytes * share), memory_bandwidth=dev.memory_bandwidth * share,
            peak_flops={dt: v * share for dt, v in dev.peak_flops.items()})
        self.power_device = dev  # one device's spec sheet, for its power

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def resolve_device(name: str, spec: ir.Spec, entries: dict[str, Any]) -> Any | None:
    """The entry-shaped object for a device name (a `device` block or a `use hardware` alias); None
    when it names a hardware entry that did not load."""
    decl = spec.devices.get(name)
    if decl is None:
        return entries.get(name)
    if decl.hardware is None:
        return AnalyticalDevice(decl)
    entry = entries.get(decl.hardware)
    if entry is None:
        return None
    overrides = (decl.memory_bytes, decl.memory_bandwidth_bytes_per_s, decl.compute_flop_per_s, decl.power_w)
    return OverriddenEntry(entry, decl) if any(v is not None for v in overrides) else entry


def same_hardware(name: str, hardware_alias: str, spec: ir.Spec) -> bool:
    """True when device `name` is the pool's own hardware: its alias, or a `device` block that names
    it without overriding anything."""
    if name == hardware_alias:
        return True
    decl = spec.devices.get(name)
    if decl is None or decl.hardware != hardware_alias:
        return False
    return all(v is None for v in (decl.memory_bytes, decl.memory_bandwidth_bytes_per_s, decl.compute_flop_per_s,
                                   decl.power_w))
