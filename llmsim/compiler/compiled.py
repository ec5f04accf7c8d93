"""`CompiledSpec`, in a module of its own so that loading a cached compile (`llmsim.cache`) imports
the classes it holds and not the compiler's passes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msgspec import Struct

if TYPE_CHECKING:
    from llmsim.compiler.plan import HardwareUse, InstancePlan
    from llmsim.lang import ir
    from llmsim.runtime import ClusterSpec


class CompiledSpec(Struct):
    """Everything the runtime and the reports need from a spec."""

    spec: ir.Spec
    plans: dict[str, InstancePlan]  # pool name -> plan
    cluster: ClusterSpec
    workload_routers: dict[str, str]  # workload name -> router name

    @property
    def hardware(self) -> list[HardwareUse]:
        seen: dict[tuple[str, str], HardwareUse] = {}
        for plan in self.plans.values():
            seen.setdefault((plan.hardware.entry, plan.hardware.engine), plan.hardware)
        return list(seen.values())

    @property
    def fallbacks(self) -> list[dict[str, Any]]:
        return [{"pool": name, **fb.to_json()} for name, plan in self.plans.items() for fb in plan.fallbacks]
