"""The runtime cluster of a checked spec: instances, KV tiers, routers and prefill/decode handoffs.

`build_cluster` turns pools into `InstanceSpec`s (with their KV tiers), routers into `RouterSpec`s,
and disaggregated pools into `HandoffSpec`s: each prefill pool hands its requests to its decode
pool(s) over a KV link. Which link, in order:

1. the pool's `kv_link` (a `link` block);
2. otherwise the hardware's own links (`topology.py`): the link inside a node (the node block's, or
   the entry's `nvlink`, else `pcie`) when the prefill and decode instances of the pair fit in one
   node (no `node` block: the entry's `gpus_per_node` devices; with one: the node's `count`), and
   the link between nodes otherwise (the fabric's, or the entry's `network`, the RDMA NIC of each
   GPU); with different hardware on the two sides, the slower of the two entries' network links.

A decode stage receives requests from its prefill stage only; the decode instance of each request
is picked by a router whose `targets` are exactly the decode pools (`router d { policy =
least_loaded  targets = [main.decode] }`, bound to no workload), else by `least_loaded`.

Parallelism and speculative decoding, as the runtime runs them:

- each declared instance is `plan.replicas` (= dp) runtime instances, `main[0]`, `main[1]`, ...
  in order, all behind the pool's routers; the dp ranks of a MoE instance (attention data
  parallelism) form a `LockstepSpec` group priced by `MoELockstepCost`;
- an instance with `pp > 1` gets its plan's stages (`PlanStages`): the runtime pipelines batches;
- a pool with `speculative` prices its steps with the plan's `SpeculativeCost` and draws
  acceptances in the runtime (`SpeculativeSpec`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmsim.compiler.plan import InstancePlan
from llmsim.compiler.topology import Topology, TopologyError, pool_topology
from llmsim.diagnostics import DiagnosticBag
from llmsim.lang import ir
from llmsim.runtime import BatchShape, ClusterSpec, InstanceSpec, RouterSpec
from llmsim.runtime.spec import HandoffSpec, LinkSpec, LockstepSpec, SpeculativeSpec, TierSpec

IMPLICIT_ROUTER = "default"
DEFAULT_DECODE_POLICY = "least_loaded"
# The link kind a tier's transfers cross, by medium (for reports; the tier gives the bandwidth).
TIER_LINK_KIND = {"cpu": "pcie", "cxl": "cxl", "ssd": "pcie", "remote": "network"}


def build_cluster(spec: ir.Spec, plans: dict[str, InstancePlan], bag: DiagnosticBag,
                  entries: dict[str, Any] | None = None) -> tuple[ClusterSpec, dict[str, str]]:
    instances: list[InstanceSpec] = []
    pool_instances: dict[str, tuple[int, ...]] = {}
    lockstep: list[LockstepSpec] = []
    for pool in spec.pools.values():
        plan = plans[pool.name]
        tiers = _tiers(pool, plan, bag)
        first = len(instances)
        cost: Any = plan
        speculative = None
        sc = plan.speculative
        if sc is not None:  # planner.py: the SpeculativeCost of the pool and its draft
            cost = sc
            speculative = SpeculativeSpec(sc.k, float(sc.acceptance))
        stages = PlanStages(plan) if plan.pp > 1 else None
        group_cost = MoELockstepCost(plan) if lockstep_ranks(plan) else None
        for _ in range(pool.instances):
            ranks = []
            for _ in range(plan.replicas):
                ranks.append(len(instances))
                instances.append(InstanceSpec(
                    name=f"{pool.name}[{len(instances) - first}]", pool=pool.name, cost=cost,
                    num_kv_blocks=plan.memory.kv_blocks, block_size=pool.kv_cache.block_size,
                    max_num_seqs=pool.scheduler.max_num_seqs,
                    max_num_batched_tokens=pool.scheduler.max_num_batched_tokens,
                    chunked_prefill=pool.scheduler.chunked_prefill,
                    long_prefill_token_threshold=pool.scheduler.long_prefill_token_threshold,
                    max_model_len=plan.max_model_len, prefix_caching=pool.kv_cache.prefix_caching,
                    scheduler=pool.scheduler.policy, async_scheduling=pool.scheduler.async_scheduling,
                    reserve_full_isl=pool.scheduler.reserve_full_isl, role=pool.role,
                    tp=plan.tp * plan.pp, kv_bytes_per_token=plan.memory.kv_bytes_per_token, tiers=tiers,
                    pp=plan.pp, stages=stages, speculative=speculative))
            if group_cost is not None:
                lo, hi = ranks[0] - first, ranks[-1] - first
                lockstep.append(LockstepSpec(f"{pool.name}[{lo}..{hi}]", tuple(ranks), group_cost))
        pool_instances[pool.name] = tuple(range(first, len(instances)))

    decode_pools = {p.name for p in spec.pools.values() if p.role == "decode"}
    bound = {w.router for w in spec.workloads.values() if w.router is not None}
    routers: dict[str, RouterSpec] = {}
    decode_routers: dict[frozenset[str], RouterSpec] = {}
    for r in spec.routers.values():
        rspec = RouterSpec(r.name, r.policy, tuple(i for t in r.targets for i in pool_instances[t]),
                           _router_options(r, spec))
        to_decode = [t for t in r.targets if t in decode_pools]
        if to_decode and len(to_decode) == len(r.targets) and r.name not in bound:
            decode_routers[frozenset(r.targets)] = rspec
        elif to_decode:
            bag.error(f"router `{r.name}` sends new requests to decode pool `{to_decode[0]}`",
                      ir.span_of(r, "targets"), label="decode pools only receive requests from prefill pools",
                      help=f"remove `{to_decode[0]}` from `targets` (a disaggregated pool's name sends to its "
                      "prefill stage), or give the decode pools a router of their own, bound to no workload")
        else:
            routers[r.name] = rspec

    handoffs = _handoffs(spec, plans, pool_instances, decode_routers, bag, entries or {})
    workload_routers: dict[str, str] = {}
    entry_pools = [p for p in spec.pools.values() if p.role != "decode"]
    for w in spec.workloads.values():
        if w.router is not None:
            if w.router in routers:
                workload_routers[w.name] = w.router
        elif len(routers) == 1:
            workload_routers[w.name] = next(iter(routers))
        elif not routers and len(entry_pools) == 1:
            routers[IMPLICIT_ROUTER] = RouterSpec(IMPLICIT_ROUTER, "round_robin", pool_instances[entry_pools[0].name])
            workload_routers[w.name] = IMPLICIT_ROUTER
        else:
            bag.error(f"workload `{w.name}` does not say which router receives its requests", w.span,
                      help="add `router = <name>` naming one of: " + ", ".join(sorted(routers)) if routers
                      else "add a `router` block whose `targets` lists the pools")
    if bag.has_errors:  # the driver stops here; the cluster is never run
        return ClusterSpec((), {}), workload_routers
    seed = spec.simulation.seed if spec.simulation is not None else 0
    return ClusterSpec(tuple(instances), routers, tuple(handoffs), seed, tuple(lockstep)), workload_routers


def lockstep_ranks(plan: InstancePlan) -> bool:
    """Whether the plan's data-parallel ranks step in lockstep: attention data parallelism of a MoE
    model (its expert layers exchange every rank's tokens). Pipelined ranks are not grouped (each
    pipelines alone, priced as if the ranks were balanced); dense replicas are independent."""
    return plan.dp > 1 and plan.model.is_moe and plan.pp == 1


class PlanStages:
    """The runtime's `StageCostModel` of a pipelined plan: each stage's compute and send, and the
    host overheads (the pool's `step_overhead` and the engine's prefill-step overhead) once per batch."""

    __slots__ = ("plan",)

    def __init__(self, plan: InstancePlan) -> None:
        self.plan = plan

    def stage_times_ns(self, batch: BatchShape) -> list[int]:
        return self.plan.stage_times_ns(batch)

    def stage_transfer_ns(self, batch: BatchShape) -> list[int]:
        return self.plan.stage_transfer_ns(batch)

    def host_ns(self, batch: BatchShape) -> int:
        plan = self.plan
        return plan.overhead_ns + (plan.prefill_overhead_ns if batch.prefills else 0)


class MoELockstepCost:
    """The runtime's `GroupCostModel` of the attention data-parallel ranks of a MoE plan.

    The plan prices one rank's step with its expert layers (`moe`) at dp times the rank's tokens:
    every rank assumed to run as many tokens (exact when load is balanced). A lockstep step of ranks
    with batches b_1 ... b_n is priced instead as the slowest rank's own work (its step without the
    expert layers: attention, dense layers, the all-to-all dispatch and combine at its own tokens,
    host overheads) plus the expert layers once, at the ranks' total tokens T: the `moe` curve at
    T / dp (linear between integer points). With n = dp equal batches this is the plan's step time."""

    __slots__ = ("_moe", "dp", "plan")

    def __init__(self, plan: InstancePlan) -> None:
        self.plan = plan
        self.dp = plan.dp
        moe = plan.lowering.token_curves_us.get("moe")
        self._moe: list[float] = moe.tolist() if moe is not None else [0.0]

    def _moe_us(self, tokens: float) -> float:
        curve = self._moe
        lo = int(tokens)
        if lo == tokens and lo < len(curve):
            return curve[lo]
        lo = min(lo, len(curve) - 2)
        return curve[lo] + (curve[lo + 1] - curve[lo]) * (tokens - lo)

    def group_step_time_ns(self, batches: Sequence[BatchShape]) -> int:
        plan = self.plan
        own = max(plan.step_time_ns(b) - self._moe_us(b.num_tokens) * 1000.0 for b in batches)
        experts = self._moe_us(sum(b.num_tokens for b in batches) / self.dp) * 1000.0
        return max(0, int(own + experts + 0.5))


def _tiers(pool: ir.PoolDecl, plan: InstancePlan, bag: DiagnosticBag) -> tuple[TierSpec, ...]:
    """The pool's KV tiers, fastest first; a shared tier is one object for all its instances."""
    out: list[TierSpec] = []
    block_bytes = plan.memory.kv_bytes_per_token * plan.tp * plan.pp * pool.kv_cache.block_size
    mediums = [t.medium for t in pool.kv_cache.tiers]
    for k, t in enumerate(pool.kv_cache.tiers):
        name = f"{pool.name}.{t.medium}" + (str(k) if mediums.count(t.medium) > 1 else "")
        if t.capacity_bytes < block_bytes:
            bag.error(f"tier `{t.medium}` of pool `{pool.name}` holds no whole KV block", ir.span_of(t, "capacity"),
                      label=f"less than one block of {block_bytes:,} bytes",
                      help="give the tier more capacity (a block is block_size tokens of KV over all ranks)")
            continue
        link = LinkSpec(name, t.bandwidth_bytes_per_s, t.latency_ns, TIER_LINK_KIND.get(t.medium, "network"))
        out.append(TierSpec(name, t.medium, t.capacity_bytes, link, t.shared))
    return tuple(out)


def _router_options(r: ir.RouterDecl, spec: ir.Spec) -> dict[str, object]:
    """`slo_aware`: the tightest `tpot` bound of the SLOs over the router's requests."""
    if r.policy != "slo_aware":
        return {}
    bounds = []
    for slo in spec.slos.values():
        w = spec.workloads.get(slo.workload) if slo.workload is not None else None
        if w is not None and w.router not in (None, r.name):
            continue
        bounds += [int(o.value * 1_000_000_000) for o in slo.objectives if o.metric == "tpot" and o.op in ("<", "<=")]
    return {"tpot_ns": min(bounds)} if bounds else {}


def _handoffs(spec: ir.Spec, plans: dict[str, InstancePlan], pool_instances: dict[str, tuple[int, ...]],
              decode_routers: dict[frozenset[str], RouterSpec], bag: DiagnosticBag,
              entries: dict[str, Any]) -> list[HandoffSpec]:
    pools = spec.pools
    pairs: list[tuple[ir.PoolDecl, list[ir.PoolDecl]]] = []
    fed: set[str] = set()
    for p in pools.values():
        if p.role != "prefill":
            continue
        if p.group is not None:
            targets = [q for q in pools.values() if q.group == p.group and q.role == "decode"]
        else:
            targets = [q for q in pools.values() if q.group is None and q.role == "decode" and q.model == p.model]
        if not targets:
            bag.error(f"prefill pool `{p.name}` has no decode pool to hand its requests to", ir.span_of(p, "role"),
                      label="no decode pool serves its model",
                      help=f"add a pool with `role = decode` and `model = {p.model}`")
            continue
        fed.update(q.name for q in targets)
        pairs.append((p, targets))
    for q in pools.values():
        if q.role == "decode" and q.name not in fed:
            bag.error(f"decode pool `{q.name}` receives no requests", ir.span_of(q, "role"),
                      label="no prefill pool hands requests to it",
                      help=f"add a pool with `role = prefill` and `model = {q.model}`")
    used: set[frozenset[str]] = set()
    out: list[HandoffSpec] = []
    for p, targets in pairs:
        names = frozenset(q.name for q in targets)
        decode = tuple(i for q in targets for i in pool_instances[q.name])
        router = decode_routers.get(names)
        if router is None:
            router = RouterSpec(f"{p.group or p.name}.decode_router", DEFAULT_DECODE_POLICY, decode)
        else:
            used.add(names)
        link = _kv_link(p, targets, plans, spec, entries, bag)
        if link is not None:
            out.append(HandoffSpec(p.group or p.name, pool_instances[p.name], router, link))
    for names, router in decode_routers.items():
        if names not in used:
            decl = spec.routers[router.name]
            bag.error(f"router `{router.name}` targets decode pools that no prefill pool hands requests to "
                      "as a whole", ir.span_of(decl, "targets"), label="not the decode pools of one prefill pool",
                      help="list exactly the decode pools of one disaggregated pool")
    return out


def _kv_link(p: ir.PoolDecl, targets: list[ir.PoolDecl], plans: dict[str, InstancePlan], spec: ir.Spec,
             entries: dict[str, Any], bag: DiagnosticBag) -> LinkSpec | None:
    name = p.kv_link or next((q.kv_link for q in targets if q.kv_link is not None), None)
    if name is not None:
        decl = spec.links[name]
        return LinkSpec(name, decl.bandwidth_bytes_per_s, decl.latency_ns, decl.kind)
    sides = [p, *targets]
    topologies = []
    for pool in sides:
        entry = entries.get(pool.hardware)
        if entry is None:
            return None
        try:
            topologies.append(pool_topology(pool, spec, entry) if pool.node is not None
                              else Topology.from_entry(entry))
        except TopologyError:
            return None  # reported where the pool was planned
    devices = sum(pool.instances * plans[pool.name].devices_per_instance * plans[pool.name].replicas
                  for pool in sides)
    same = len({(pool.hardware, pool.node) for pool in sides}) == 1
    top = topologies[0]
    per_node = top.devices_per_node
    if same and top.intra is not None and (per_node is None or devices <= per_node):
        chosen = top.intra
    else:
        inter = [t.inter for t in topologies]
        if any(link is None for link in inter):
            bag.error(f"no link is known between the prefill and decode instances of `{p.group or p.name}`",
                      ir.span_of(p, "kv_link"), label="set `kv_link`",
                      help="declare a `link` block (e.g. `link ib { kind = infiniband  bandwidth = 50GB/s  "
                      "latency = 5us }`) and set `kv_link = ib` on the pool")
            return None
        chosen = min(inter, key=lambda link: (link.bandwidth, -link.latency_ns))  # type: ignore[union-attr]
    assert chosen is not None
    return LinkSpec(f"{p.group or p.name}.kv:{chosen.name}", int(chosen.bandwidth), chosen.latency_ns, chosen.kind)
