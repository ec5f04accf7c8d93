"""The runtime: a discrete-event simulation of requests served by LLM engine instances.

Public surface:

- `InstanceSpec`, `RouterSpec`, `ClusterSpec`: what to simulate (built by the compiler, or by hand);
- `Workload`, `ClosedLoop`, `build_workload(decl)`: the requests, from a `WorkloadDecl`;
- `simulate(cluster, [(workload, router_name), ...])` -> `SimResult` (`summary()`, per-request columns);
- `BatchShape`, `CostModel`: the contract with the compiler's cost model;
- `Router`, `register_router`, `Scheduler`, `register_scheduler`: to add policies.
"""

from llmsim.runtime.batch import BatchShape, CostModel
from llmsim.runtime.metrics import SimResult
from llmsim.runtime.router import Router, register_router
from llmsim.runtime.scheduler import Scheduler, register_scheduler
from llmsim.runtime.simulator import simulate
from llmsim.runtime.spec import ClusterSpec, InstanceSpec, RouterSpec
from llmsim.runtime.workload import ClosedLoop, Workload, build_workload

__all__ = [
    "BatchShape",
    "ClosedLoop",
    "ClusterSpec",
    "CostModel",
    "InstanceSpec",
    "Router",
    "RouterSpec",
    "Scheduler",
    "SimResult",
    "Workload",
    "build_workload",
    "register_router",
    "register_scheduler",
    "simulate",
]
