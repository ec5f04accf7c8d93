"""A serving instance: queues, KV cache and the step loop. Its scheduler decides; it keeps state.

The step loop is vLLM's engine loop. With synchronous scheduling, when the instance is idle and has
work, a step starts (at the current time, after every event already due at that time); the
scheduler picks the batch, the cost model prices it, and at the step's end every request the
scheduler marked as sampling gets one token (a prefill's first token, a decode's next), finished
requests free their KV and leave, and the next step is scheduled and starts at once if there is
work. Requests that arrive during a step wait for the next one.

With async scheduling (vLLM's `async_scheduling`, its batch queue of two), the step after the one
running is scheduled as soon as that one starts, before its outputs exist: when a step ends, its
outputs are applied, the step already scheduled starts at once, and the one after it is scheduled
then. So the GPU never waits for the scheduler, and a step's finished requests and freed blocks,
like requests that arrived during it, reach the scheduler one step later than in synchronous mode.

Besides `waiting` and `running`, a request may be in one of the states that wait for a transfer
(KV tiers, prefill/decode disaggregation); each holds KV blocks and is counted by `load`:

- `loading`: its cached blocks are coming back from a KV tier (it then rejoins `waiting` at the front);
- `sending` (prefill instances): its first token is out, its KV is on the way to a decode instance;
  the blocks are freed when the transfer completes;
- `incoming` / `receiving` (decode instances): handed over by a prefill instance, waiting for blocks
  to receive its KV into, then receiving it; it joins `running` when the KV has arrived.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from llmsim.runtime.batch import BatchShape
from llmsim.runtime.engine import PRIO_STEP_END, PRIO_STEP_START, Engine
from llmsim.runtime.kv_cache import make_kv_cache
from llmsim.runtime.request import Request
from llmsim.runtime.scheduler import SCHEDULERS
from llmsim.runtime.spec import InstanceSpec

if TYPE_CHECKING:
    from llmsim.runtime.disagg import KVHandoff, Sent
    from llmsim.runtime.metrics import Recorder
    from llmsim.runtime.tiers import KVTier
    from llmsim.runtime.transfer import Link


class Instance:
    __slots__ = (
        "_memo",
        "_on_done",
        "_recorder",
        "_version",
        "batch",
        "busy",
        "cost",
        "debug",
        "engine",
        "handoff",
        "incoming",
        "index",
        "kv",
        "kv_link",
        "loading",
        "name",
        "preempted_requests",
        "preemptions",
        "prefill_computed",
        "queued",
        "receiving",
        "role",
        "running",
        "samplers",
        "scheduler",
        "sending",
        "spec",
        "start_pending",
        "step_start",
        "steps",
        "swaps",
        "tiers",
        "timeline",
        "waiting",
    )

    def __init__(
        self,
        index: int,
        spec: InstanceSpec,
        engine: Engine,
        recorder: Recorder,
        on_done: Callable[[Request, int], None],
        debug: bool = False,
        tiers: Sequence[KVTier] = (),
    ) -> None:
        self.index = index
        self.spec = spec
        self.name = spec.name
        self.role = spec.role
        self.cost = spec.cost
        self.engine = engine
        self.tiers = tuple(tiers)  # KV tiers below device memory, fastest first
        self.kv = make_kv_cache(spec.num_kv_blocks, spec.block_size, spec.prefix_caching, self.tiers)
        self.scheduler = SCHEDULERS.get(spec.scheduler)(spec)
        self.loading: dict[int, Request] = {}  # rid -> request whose blocks load from a tier
        self.handoff: KVHandoff | None = None  # prefill instances: where requests go after prefill
        self.kv_link: Link | None = None  # prefill: its sending link; decode: its receiving link
        self.sending: dict[int, Sent] = {}  # prefill: rid -> KV on its way to a decode instance
        self.incoming: deque[tuple[Request, KVHandoff]] = deque()  # decode: handed over, no blocks yet
        self.receiving: dict[int, Request] = {}  # decode: rid -> request whose KV is arriving
        self.swaps = 0  # preemptions that wrote the request's blocks to a tier
        self.prefill_computed = 0  # tokens computed in prefill chunks (prompts and recomputes)
        self._version = 0  # changes whenever the requests' progress does (memo of the load views)
        self._memo = (-1, 0, 0)  # (version, outstanding tokens, prefill backlog tokens)
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.batch: list[Request] = []  # requests in the step now running
        self.samplers: list[Request] = []  # those of them that sample a token when it ends
        self.queued: tuple | None = None  # async scheduling: the step scheduled to run next
        self.busy = False
        self.start_pending = False
        self.step_start = 0  # when the step now running started
        self.steps = 0
        self.preemptions = 0  # preemption events
        self.preempted_requests = 0  # requests preempted for the first time here
        self.debug = debug
        self._recorder = recorder
        self._on_done = on_done
        self.timeline = recorder.timeline  # TimelineRecorder or None

    # -- views for routers ------------------------------------------------------------------------

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_free_blocks(self) -> int:
        return self.kv.num_free

    @property
    def load(self) -> int:
        """Requests on the instance: running, waiting, and those waiting for a transfer."""
        return len(self.running) + len(self.waiting) + len(self.loading) + len(self.incoming) + len(self.receiving)

    @property
    def outstanding_tokens(self) -> int:
        """Tokens the instance still has to compute for its requests: every prompt token not yet
        in its KV cache (cache hits excluded once found) and every output token still to come."""
        return self._work()[0]

    @property
    def prefill_backlog_tokens(self) -> int:
        """Prompt (and recompute) tokens queued or running that are not computed yet."""
        return self._work()[1]

    def cached_tokens(self, req: Request) -> int:
        """Leading prompt tokens of `req` this instance holds, in device memory or its tiers."""
        kv = self.kv
        if not kv.prefix_caching:
            return 0
        hit, hit_blocks = kv.lookup(req)
        if kv.tiers:
            hit += len(kv.tier_run(req, len(hit_blocks))) * kv.block_size
        return hit

    def _work(self) -> tuple[int, int]:
        """(outstanding, prefill backlog), computed at most once per change of the requests."""
        version, out, back = self._memo
        if version == self._version:
            return out, back
        out = back = 0
        for r in self.waiting:
            out += r.prompt_len + r.stop_len - 1
            back += r.prompt_len + r.num_output
        for r in (*self.running, *self.loading.values()):
            known = r.prompt_len + r.num_output + r.placeholders
            out += r.prompt_len + r.stop_len - 1 - r.num_computed
            if known - r.num_computed > 1 or r.num_output + r.placeholders == 0:
                back += known - r.num_computed
        for r, _ in self.incoming:
            out += r.output_len - 1
        for r in self.receiving.values():
            out += r.output_len - 1
        self._memo = (self._version, out, back)
        return out, back

    # -- admission --------------------------------------------------------------------------------

    def can_ever_run(self, req: Request) -> bool:
        """False for a request this instance could never complete: longer than max_model_len, or
        needing more KV blocks than it has (the last output token is sampled, never cached). A
        prefill instance only needs room for the prompt and its first token."""
        spec = self.spec
        total = req.prompt_len + (1 if self.role == "prefill" else req.output_len)
        return total <= spec.max_model_len and -(-(total - 1) // spec.block_size) <= spec.num_kv_blocks

    def submit(self, req: Request, now: int) -> bool:
        """Queue a request; False (and nothing queued) if it can never run here."""
        req.instance = self.index
        req.prefill_instance = self.index
        if not self.can_ever_run(req):
            return False
        if self.role == "prefill":
            req.stop_len = 1
        self.kv.attach(req)
        self.waiting.append(req)
        version, out, back = self._memo
        if version == self._version:  # keep the load views current without a recount
            self._memo = (version, out + req.prompt_len + req.stop_len - 1, back + req.prompt_len)
        self.wake(now)
        return True

    def wake(self, now: int) -> None:
        """Start a step at `now` (after the events already due) if idle with work to do."""
        if not self.busy and not self.start_pending and (self.waiting or self.running or self.queued):
            self.start_pending = True
            self.engine.at(now, PRIO_STEP_START, self._start_step)

    # -- preemption and KV tiers ------------------------------------------------------------------

    def preempt(self, r: Request) -> None:
        """Preempt a running request: its KV is freed and it waits at the front of the queue. With a
        KV tier its full blocks are first written to the tier (swapped out), so that on resuming it
        loads them back instead of recomputing them (blocks still in device memory are hit there)."""
        kv = self.kv
        if self.tiers and r.num_computed >= kv.block_size:
            keys = kv.held_keys(r)  # type: ignore[union-attr]
            kv.free(r, preempted=True)
            self.tiers[0].store(keys, self.engine.now)
            self.swaps += 1
        else:
            kv.free(r, preempted=True)
        r.num_computed = 0
        r.preemptions += 1
        r.running = False
        r.tier_state = 0
        self.waiting.appendleft(r)
        self.preemptions += 1
        if r.preemptions == 1:
            self.preempted_requests += 1
        self._version += 1

    def start_load(self, r: Request, hit_blocks: list[int], run: list[tuple[int, object]], now: int) -> bool:
        """Admit a waiting request whose prefix continues in the KV tiers: take device blocks for
        the hits and the blocks to load (`run`: (tier, key) per block), and load them. False (and
        no change) if the blocks do not fit. The caller takes it off the waiting queue."""
        kv = self.kv
        if not kv.allocate_loading(r, hit_blocks, len(run)):  # type: ignore[union-attr]
            return False
        r.num_computed = (len(hit_blocks) + len(run)) * kv.block_size
        r.tier_state = 1
        self.loading[r.rid] = r
        by_tier: dict[int, list[object]] = {}
        for t, key in run:
            by_tier.setdefault(t, []).append(key)
        r.pending = len(by_tier)
        for t in sorted(by_tier):
            self.tiers[t].load(by_tier[t], now, self._loaded, r)
        self._version += 1
        return True

    def _loaded(self, now: int, r: Request) -> None:
        r.pending -= 1
        if r.pending:
            return
        del self.loading[r.rid]
        self.kv.finish_loading(r)  # type: ignore[union-attr]
        r.num_computed = 0
        r.tier_state = 2  # its next admission hits the loaded blocks and loads nothing more
        self.waiting.appendleft(r)
        self._version += 1
        self.wake(now)

    def _offload(self, now: int) -> None:
        """Write the cached blocks evicted from device memory since the last call to the first tier."""
        evicted = self.kv.evicted
        assert evicted is not None
        self.tiers[0].store(evicted, now)
        evicted.clear()

    # -- prefill/decode disaggregation (decode side; the prefill side is disagg.KVHandoff) --------

    def offer(self, req: Request, handoff: KVHandoff, now: int) -> None:
        """A request handed over by a prefill instance after its first token: receive its KV when
        blocks and a sequence slot are free, in the order offered."""
        req.instance = self.index
        req.stop_len = req.output_len
        self.kv.attach(req)
        self.incoming.append((req, handoff))
        self._version += 1
        self._receive(now)

    def _receive(self, now: int) -> None:
        kv = self.kv
        max_seqs = self.spec.max_num_seqs
        while self.incoming and len(self.running) + len(self.receiving) < max_seqs:
            req, handoff = self.incoming[0]
            hit, hit_blocks = kv.lookup(req)  # a prefix cached here already need not be sent
            if not kv.allocate_received(req, hit_blocks, req.prompt_len):
                break
            self.incoming.popleft()
            req.num_computed = req.prompt_len
            self.receiving[req.rid] = req
            handoff.transfer(req, self, req.prompt_len - hit, now)

    def received(self, req: Request, now: int) -> None:
        """The KV of a handed-over request has arrived: it decodes from its second token on."""
        del self.receiving[req.rid]
        self.kv.register_received(req)
        req.running = True
        self.running.append(req)
        self._version += 1
        self.wake(now)

    # -- the step loop ----------------------------------------------------------------------------

    def _start_step(self, now: int, _: object = None) -> None:
        self.start_pending = False
        plan = self.queued or self._schedule(now)
        self.queued = None
        if plan is None:
            # Nothing can run until a transfer completes and frees (or brings) KV blocks.
            if (self.waiting or self.running) and not (self.loading or self.sending or self.receiving):
                raise RuntimeError(f"instance {self.name}: work queued but nothing schedulable")
            return
        shape, batch, samplers, duration = plan
        self.busy = True
        self.batch = batch
        self.samplers = samplers
        self.step_start = now
        self.steps += 1
        self.prefill_computed += shape.num_tokens - shape.n_decode
        if self.timeline is not None:
            self.timeline.step(self, now, duration, shape, len(samplers))
        self.engine.at(now + duration, PRIO_STEP_END, self._end_step)
        if self.spec.async_scheduling:
            self.queued = self._schedule(now)

    def _schedule(self, now: int) -> tuple | None:
        plan = self.scheduler.schedule(self, now)
        if plan is None:
            return None
        shape, batch, samplers = plan
        self._version += 1
        if self.kv.evicted:
            self._offload(now)
        if self.debug:
            self._check(shape)
        duration = self.cost.step_time_ns(shape)
        assert duration >= 0, f"cost model returned a negative step time {duration}"
        return shape, batch, samplers, duration

    def _end_step(self, now: int, _: object = None) -> None:
        start = self.step_start
        in_step = 0  # tokens whose previous token came at this step's start: the common gap
        gaps: dict[int, int] = {}
        done: list[Request] = []
        for r in self.samplers:
            r.placeholders -= 1
            n_out = r.num_output + 1
            r.num_output = n_out
            if n_out == 1:
                r.first_token_ns = now
            elif r.last_token_ns == start:
                in_step += 1
            else:
                gap = now - r.last_token_ns
                gaps[gap] = gaps.get(gap, 0) + 1
            r.last_token_ns = now
            if n_out == r.stop_len:  # finished, or (prefill instance) on to a decode instance
                done.append(r)
        if in_step:
            gaps[now - start] = gaps.get(now - start, 0) + in_step
        self.batch = []
        self.samplers = []
        self.busy = False
        if gaps:
            self._recorder.add_itl(gaps)
        self._version += 1
        if done:
            for r in done:
                if not r.running:  # preempted while its last token was in flight
                    self.waiting.remove(r)
                r.running = False
            self.running = [r for r in self.running if r.running]
            for r in done:
                if r.num_output < r.output_len:
                    self.handoff.send(r, self, now)  # type: ignore[union-attr]
                else:
                    self.kv.free(r)
                    self._on_done(r, now)
        if self.incoming:
            self._receive(now)
        if self.debug:
            self.kv.check_invariants(self.holders())
        if (self.waiting or self.running or self.queued) and not self.start_pending:
            self.start_pending = True
            self.engine.at(now, PRIO_STEP_START, self._start_step)

    def holders(self) -> list:
        """Everything that holds KV blocks of this instance (for the invariant checks)."""
        return [*self.running, *self.loading.values(), *self.sending.values(), *self.receiving.values()]

    def _check(self, shape: BatchShape) -> None:
        spec = self.spec
        assert shape.num_tokens <= spec.max_num_batched_tokens, f"token budget exceeded: {shape}"
        assert len(self.running) <= spec.max_num_seqs, f"{len(self.running)} running > max_num_seqs"
        for r in self.waiting:
            assert r.num_computed == 0 and self.kv.blocks_held(r) == 0, f"waiting {r} holds KV"
        self.kv.check_invariants(self.holders())
        for tier in self.tiers:
            tier.check_invariants()
