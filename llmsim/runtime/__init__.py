"""The runtime: a discrete-event simulation of requests served by LLM engine instances.

Public surface:

- `InstanceSpec`, `RouterSpec`, `ClusterSpec`: what to simulate (built by the compiler, or by hand),
  with `TierSpec` (KV tiers), `HandoffSpec` and `LinkSpec` (prefill/decode disaggregation),
  `SpeculativeSpec` (speculative decoding) and `LockstepSpec` (data-parallel ranks in lockstep);
- `Workload`, `ClosedLoop`, `build_workload(decl)`: the requests, from a `WorkloadDecl`;
- `simulate(cluster, [(workload, router_name), ...])` -> `SimResult` (`summary()`, per-request columns);
- `BatchShape`, `CostModel` (and `StageCostModel`, `GroupCostModel` for pipelines and lockstep
  groups): the contract with the compiler's cost model;
- `Router`, `register_router`, `Scheduler`, `register_scheduler`, `EvictionPolicy`,
  `register_eviction`: to add policies (docs/plugins.md).
"""

from llmsim.runtime.batch import BatchShape, CostModel, GroupCostModel, StageCostModel
from llmsim.runtime.eviction import EvictionPolicy, register_eviction
from llmsim.runtime.metrics import SimResult
from llmsim.runtime.router import Router, register_router
from llmsim.runtime.scheduler import Scheduler, register_scheduler
from llmsim.runtime.simulator import simulate
from llmsim.runtime.spec import (
    ClusterSpec,
    HandoffSpec,
    InstanceSpec,
    LinkSpec,
    LockstepSpec,
    RouterSpec,
    SpeculativeSpec,
    TierSpec,
)
from llmsim.runtime.workload import ClosedLoop, Workload, build_workload

__all__ = [
    "BatchShape",
    "ClosedLoop",
    "ClusterSpec",
    "CostModel",
    "EvictionPolicy",
    "GroupCostModel",
    "HandoffSpec",
    "InstanceSpec",
    "LinkSpec",
    "LockstepSpec",
    "Router",
    "RouterSpec",
    "Scheduler",
    "SimResult",
    "SpeculativeSpec",
    "StageCostModel",
    "TierSpec",
    "Workload",
    "build_workload",
    "register_eviction",
    "register_router",
    "register_scheduler",
    "simulate",
]
