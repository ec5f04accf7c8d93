"""`simulate()`: wire workloads, routers and instances to one engine, run it, collect results.

Arrivals are generated lazily: each open-loop workload keeps exactly one pending arrival in the
heap (the next row of its arrays), and a closed-loop workload one per client that is waiting to
send. Requests are numbered in the order they arrive.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from llmsim.diagnostics import UserError, did_you_mean, suggestion_text
from llmsim.runtime.decoders import DecodeGroup
from llmsim.runtime.disagg import KVHandoff
from llmsim.runtime.engine import PRIO_ARRIVAL, Engine
from llmsim.runtime.instance import Instance
from llmsim.runtime.lockstep import LockstepGroup
from llmsim.runtime.metrics import Recorder, SimResult, links_summary, speculative_summary, tiers_summary
from llmsim.runtime.request import Request
from llmsim.runtime.router import ROUTERS, Router, router_seed
from llmsim.runtime.slo_tally import SLOBounds
from llmsim.runtime.spec import ClusterSpec, InstanceSpec, RouterSpec, TierSpec
from llmsim.runtime.tiers import KVTier
from llmsim.runtime.timeline import DEFAULT_BUCKETS, TimelineRecorder
from llmsim.runtime.transfer import TransferNetwork
from llmsim.runtime.workload import Workload


class Progress(NamedTuple):
    """Where a running simulation stands, handed to `simulate(..., progress=callback)`."""

    simulated_ns: int  # simulated time of the last event processed
    events: int  # events processed so far
    submitted: int  # requests arrived so far
    completed: int  # requests completed so far
    rejected: int  # requests rejected so far
    total_requests: int | None  # requests the workloads will send (None if unknown)
    max_time_ns: int | None  # where simulated time stops, if it does
    done: bool  # the last call, after the run


# A progress callback is called about every PROGRESS_WALL_S seconds of wall-clock time.
PROGRESS_WALL_S = 0.1


def _choose_exposed(router: Router, req: Request, instances: list[Instance]) -> int:
    """`router.choose` with every decode group member's fields written out for the call."""
    saved = [inst.decodes.expose(inst) for inst in instances if inst.decodes is not None and inst.decodes.members]
    try:
        return router.choose(req, instances)
    finally:
        for fields in saved:
            DecodeGroup.hide(fields)


class _Source:
    """Feeds one workload's rows to its router, one pending arrival at a time (per client)."""

    __slots__ = ("index", "instances", "next_row", "opaque", "router", "sim", "workload")

    def __init__(
        self, sim: _Simulation, index: int, workload: Workload, router: Router, instances: list[Instance]
    ):
        self.sim = sim
        self.index = index
        self.workload = workload
        self.router = router
        self.instances = instances
        self.next_row = 0
        # A router from outside llmsim may read the running requests' own fields, which a decode
        # group (decoders.py) keeps as of when they joined: it is shown them as they are.
        self.opaque = type(router).__module__ != Router.__module__

    def start(self) -> None:
        wl = self.workload
        if len(wl) == 0:
            return
        if wl.closed_loop is None:
            self.sim.engine.at(int(wl.arrival_ns[0]), PRIO_ARRIVAL, self._open_arrival)  # type: ignore[index]
        else:
            for client in range(min(wl.closed_loop.clients, len(wl))):
                self.sim.engine.at(0, PRIO_ARRIVAL, self._closed_arrival, client)

    def _make(self, now: int, client: int) -> Request:
        i = self.next_row
        self.next_row = i + 1
        wl = self.workload
        sim = self.sim
        req = Request(
            sim.next_rid,
            self.index,
            now,
            int(wl.prompt_tokens[i]),
            int(wl.output_tokens[i]),
            wl.token_ids[i] if wl.token_ids is not None else None,
            wl.hash_ids[i] if wl.hash_ids is not None else None,
            client,
        )
        sim.next_rid += 1
        return req

    def _open_arrival(self, now: int, _: object = None) -> None:
        req = self._make(now, -1)
        i = self.next_row
        if i < len(self.workload):
            self.sim.engine.at(int(self.workload.arrival_ns[i]), PRIO_ARRIVAL, self._open_arrival)  # type: ignore[index]
        self.sim.route(self, req, now)

    def _closed_arrival(self, now: int, client: int) -> None:
        self.sim.route(self, self._make(now, client), now)

    def request_done(self, req: Request, now: int) -> None:
        """A closed-loop client's request completed (or was rejected): it thinks, then sends again."""
        cl = self.workload.closed_loop
        if cl is not None and self.sim.closed_pending[self.index] < len(self.workload):
            self.sim.closed_pending[self.index] += 1
            self.sim.engine.at(now + cl.think_ns, PRIO_ARRIVAL, self._closed_arrival, req.client)


class _Simulation:
    def __init__(
        self,
        cluster: ClusterSpec,
        workloads: Sequence[tuple[Workload, str]],
        csv_file,
        debug: bool,
        seed: int,
        timeline_buckets: int = DEFAULT_BUCKETS,
        max_time_ns: int | None = None,
        keep_requests: bool = True,
        slo_bounds: dict[str, SLOBounds] | None = None,
    ) -> None:
        self.engine = Engine()
        self.debug = debug
        self.next_rid = 0
        # The run reaches its last arrival, unless max_time_ns stops it first.
        last_arrival = max((int(w.arrival_ns[-1]) for w, _ in workloads if w.arrival_ns is not None and len(w)),
                           default=0)
        if max_time_ns is not None:
            last_arrival = min(last_arrival, max_time_ns)
        self.timeline = (TimelineRecorder(cluster.instances, timeline_buckets, max_time_ns, last_arrival)
                         if timeline_buckets else None)
        self.recorder = Recorder(csv_file, tuple(s.name for s in cluster.instances), self.timeline, keep_requests,
                                 slos=slo_bounds)
        self.network = TransferNetwork(self.engine, self.timeline)
        self.tiers: list[KVTier] = []
        shared: dict[str, KVTier] = {}
        self.instances = [
            Instance(i, spec, self.engine, self.recorder, self._done, debug, self._tiers(spec, shared), seed)
            for i, spec in enumerate(cluster.instances)
        ]
        self.groups = [LockstepGroup(g.name, [self.instances[i] for i in g.instances], g.cost, self.engine)
                       for g in cluster.lockstep]
        routers: dict[str, tuple[Router, list[Instance]]] = {}
        for name, rspec in cluster.routers.items():
            routers[name] = (self._router(rspec, seed), [self.instances[i] for i in rspec.instances])
        self.handoffs = [
            KVHandoff(h, self._router(h.decode_router, seed), [self.instances[i] for i in h.prefill],
                      [self.instances[i] for i in h.decode_router.instances], self.network)
            for h in cluster.handoffs
        ]
        self.sources: list[_Source] = []
        for index, (workload, router_name) in enumerate(workloads):
            if router_name not in routers:
                raise UserError(
                    f"workload {workload.name}: no router named `{router_name}`",
                    help=suggestion_text(did_you_mean(router_name, routers)),
                )
            router, members = routers[router_name]
            self.sources.append(_Source(self, index, workload, router, members))
        # Closed loops: requests handed out so far (the first `clients` are sent at time 0).
        self.closed_pending = [
            min(w.closed_loop.clients, len(w)) if w.closed_loop is not None else 0 for w, _ in workloads
        ]

    @staticmethod
    def _router(rspec: RouterSpec, seed: int) -> Router:
        policy = ROUTERS.get(rspec.policy)
        return policy(len(rspec.instances), router_seed(seed, rspec.name), rspec.options)

    def _tiers(self, spec: InstanceSpec, shared: dict[str, KVTier]) -> list[KVTier]:
        """The instance's KV tiers, fastest first: its own copies, or the pool's shared ones."""
        out: list[KVTier] = []
        for tspec in reversed(spec.tiers):  # build the lowest first: each tier knows the one below
            lower = out[0] if out else None
            tier = shared.get(tspec.name) if tspec.shared else None
            if tier is None:
                tier = self._tier(tspec, spec, lower)
                if tspec.shared:
                    shared[tspec.name] = tier
            out.insert(0, tier)
        return out

    def _tier(self, tspec: TierSpec, spec: InstanceSpec, lower: KVTier | None) -> KVTier:
        name = tspec.name if tspec.shared else f"{spec.name}.{tspec.name.rsplit('.', 1)[-1]}"
        tier = KVTier(name, tspec, spec.block_bytes, self.network, self.timeline, lower)
        self.tiers.append(tier)
        return tier

    def route(self, source: _Source, req: Request, now: int) -> None:
        self.recorder.arrival(req)
        members = source.instances
        if source.opaque:
            choice = _choose_exposed(source.router, req, members)
        else:
            choice = source.router.choose(req, members)
        if not 0 <= choice < len(members):
            raise RuntimeError(
                f"router {type(source.router).__name__} chose {choice} of {len(members)} instances"
            )
        inst = members[choice]
        # A request that some decode instance could not complete is refused before its prefill.
        if (inst.handoff is not None and not inst.handoff.can_decode(req)) or not inst.submit(req, now):
            self.recorder.reject(req)
            source.request_done(req, now)

    def _done(self, req: Request, now: int) -> None:
        self.recorder.complete(req, now)
        source = self.sources[req.workload]
        if source.workload.closed_loop is not None:
            source.request_done(req, now)

    def run(self, max_time_ns: int | None, progress: Callable[[Progress], None] | None = None) -> None:
        for source in self.sources:
            source.start()
        if progress is None:
            self.engine.run(max_time_ns)
        else:
            self._run_reporting(max_time_ns, progress)
        if self.debug and len(self.engine) == 0:
            for inst in self.instances:
                assert not inst.waiting and not inst.running, f"{inst.name}: requests left"
                assert not (inst.loading or inst.sending or inst.incoming or inst.receiving), f"{inst.name}: lost"
                inst.kv.check_invariants(())
                assert inst.kv.num_free == inst.kv.num_blocks, f"{inst.name}: KV blocks leaked"
            for tier in self.tiers:
                tier.check_invariants()
            assert self.network.in_flight == 0 and all(h.in_flight == 0 for h in self.handoffs)

    def _run_reporting(self, max_time_ns: int | None, progress: Callable[[Progress], None]) -> None:
        """Run in slices of simulated time, calling `progress` between them. Events run in the
        same order as in one `engine.run`, so the results do not depend on where slices end; a
        slice's length adapts so that each takes about PROGRESS_WALL_S of wall-clock time."""
        engine = self.engine
        total = sum(len(s.workload) for s in self.sources)
        until, span = 0, 1_000_000  # simulated ns
        while len(engine):
            until += span
            if max_time_ns is not None and until >= max_time_ns:
                until = max_time_ns
            t0 = time.perf_counter()
            engine.run(until)
            wall = time.perf_counter() - t0
            if wall < PROGRESS_WALL_S / 2:
                span *= 2
            elif wall > 2 * PROGRESS_WALL_S:
                span = max(span // 2, 1)
            if until == max_time_ns:
                break
            progress(self._progress(total, max_time_ns, done=False))
        progress(self._progress(total, max_time_ns, done=True))

    def _progress(self, total: int, max_time_ns: int | None, done: bool) -> Progress:
        rec = self.recorder
        return Progress(self.engine.now, self.engine.events, rec.submitted, rec.completed,
                        rec.rejected, total, max_time_ns, done)


def simulate(
    cluster: ClusterSpec,
    workloads: Sequence[tuple[Workload, str]],
    *,
    max_time_ns: int | None = None,
    csv_path: Path | None = None,
    debug: bool = False,
    seed: int | None = None,
    timeline_buckets: int = DEFAULT_BUCKETS,
    progress: Callable[[Progress], None] | None = None,
    keep_requests: bool = True,
    slo_bounds: Mapping[str, SLOBounds] | None = None,
) -> SimResult:
    """Run the workloads (each bound to a router name) on the cluster.

    `max_time_ns` stops simulated time there (requests still in flight are not completed);
    `csv_path` receives one row per completed request, written as requests finish; `debug` checks
    the KV cache invariants and scheduling limits after every step; `seed` (default: the cluster's)
    seeds the routers that draw random numbers and the acceptance of speculative drafts;
    `timeline_buckets` bounds the resolution of `SimResult.timeline`
    (0: no timeline); `progress` is called with a `Progress` about every 0.1 s of wall-clock time
    and once at the end (it does not change the results). `keep_requests` keeps one row per
    completed request (`SimResult.columns`, the per-request methods); False keeps none, so memory
    does not grow with completed requests: the summary then comes from streamed aggregates (exact
    up to `distribution.EXACT_CAP` requests, then percentiles within `distribution.REL_ERROR`)
    and the CSV file is written as usual. `slo_bounds` (by `slo` block name, from
    `llmsim.slo.bounds`) are tallied as requests complete when rows are not kept, so that
    `llmsim.slo.evaluate` needs no rows (`SimResult.slo_tally`).
    """
    wall0 = time.perf_counter()
    csv_file = None
    if csv_path is not None:
        try:
            csv_file = open(csv_path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
        except OSError as e:
            raise UserError(f"cannot write {csv_path}: {e.strerror or e}") from None
    # The run makes no reference cycles (its objects die by reference counting), but the cyclic
    # collector's passes over its large integer lists (timeline buckets, metric buffers) and live
    # requests took about a sixth of a long run's time: it is paused while the engine runs.
    collecting = gc.isenabled()
    try:
        sim = _Simulation(cluster, workloads, csv_file, debug, cluster.seed if seed is None else seed,
                          timeline_buckets, max_time_ns, keep_requests, dict(slo_bounds or {}))
        gc.disable()
        sim.run(max_time_ns, progress)
    finally:
        if collecting:
            gc.enable()
        if csv_file is not None:
            csv_file.close()
    recorder = sim.recorder
    recorder.flush()
    itl_values, itl_counts = recorder.itl_samples()
    instances = sim.instances
    sim.network.finish(sim.engine.now)
    timeline = None
    if sim.timeline is not None:  # steps still running at max_time_ns were counted up to it
        cut = max_time_ns is not None and any(i.busy or i.inflight for i in instances)
        timeline = sim.timeline.finish(max_time_ns if cut else sim.engine.now,  # type: ignore[arg-type]
                                       [i.preemptions for i in instances])
    return SimResult(
        recorder.columns() if keep_requests else None,
        itl_values,
        itl_counts,
        aggregates=recorder.aggregates,
        itl=recorder.itl,
        instance_names=tuple(i.name for i in instances),
        submitted=sim.recorder.submitted,
        rejected_ids=None if recorder.rejected_ids is None else np.array(recorder.rejected_ids, dtype=np.int64),
        num_rejected=recorder.rejected,
        num_preempted=sum(i.preempted_requests for i in instances),
        num_preemptions=sum(i.preemptions for i in instances),
        first_arrival_ns=sim.recorder.first_arrival_ns,
        queried_tokens=sum(i.kv.queried_tokens for i in instances),
        hit_tokens=sum(i.kv.hit_tokens for i in instances),
        tier_hit_tokens=sum(i.kv.tier_hit_tokens for i in instances),
        saved_tokens=sum(i.kv.reused_tokens for i in instances),
        prefill_tokens_computed=sum(i.prefill_computed for i in instances),
        num_swapped=sum(i.swaps for i in instances),
        disaggregated=bool(sim.handoffs),
        kv_transfer_bytes=sum(h.bytes for h in sim.handoffs),
        kv_tiers=tiers_summary(sim.tiers),
        links=links_summary(sim.network.links, sim.engine.now),
        speculative=speculative_summary(instances),
        events=sim.engine.events,
        steps=sum(i.steps for i in instances),
        simulated_ns=sim.engine.now,
        wall_s=time.perf_counter() - wall0,
        timeline=timeline,
    )
