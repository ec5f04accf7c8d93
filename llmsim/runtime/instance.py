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

Pipeline parallelism (`spec.stages`, vLLM's batch queue of `pp` batches): a batch is scheduled when
the first stage is free and fewer than `pp` batches are in flight; it passes the stages in order
(`stages.stage_times_ns`), waiting for each to be free, with the send of its activations between
them, and its tokens are sampled when it leaves the last stage. The first stage also holds the
host time. A request whose token is in flight is in no other batch (its placeholder says so); a
prefill's next chunk may follow its previous one down the pipeline. Async scheduling changes
nothing on a pipelined instance.

Speculative decoding (`spec.speculative`): each decode verifies k drafts; when the step is planned
the instance draws how many each sequence will have accepted (truncated geometric, from its own
seeded PCG64), and when it ends the sequence gains the accepted drafts plus one token (capped at
its length), the rejected drafts are taken off `num_computed` and their KV slots freed.

A data-parallel rank in a lockstep group (`group`, lockstep.py) leaves starting steps to its group.

An instance that steps alone, without stages or speculative decoding, keeps its running plain
decodes as one `DecodeGroup` (`decodes`, decoders.py): the scheduler plans them as one and a step's
end emits their tokens as one (`group_n` of them, sharing the step's gap), so a step costs O(1) in
them. Their own fields stay as of when they joined until they leave (their last token, or a plan
that must walk the running list); routers from outside llmsim and the debug checks see them
written out (`DecodeGroup.expose`).

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

import numpy as np

from llmsim.runtime.batch import BatchShape
from llmsim.runtime.decoders import DecodeGroup
from llmsim.runtime.engine import PRIO_STEP_END, PRIO_STEP_START, Engine
from llmsim.runtime.kv_cache import make_kv_cache
from llmsim.runtime.request import Request
from llmsim.runtime.scheduler import SCHEDULERS, VLLMScheduler
from llmsim.runtime.spec import InstanceSpec

if TYPE_CHECKING:
    from llmsim.runtime.disagg import KVHandoff, Sent
    from llmsim.runtime.lockstep import LockstepGroup
    from llmsim.runtime.metrics import Recorder
    from llmsim.runtime.tiers import KVTier
    from llmsim.runtime.transfer import Link


class Instance:
    __slots__ = (
        "_memo",
        "_itl",
        "_on_done",
        "_recorder",
        "_version",
        "accepted",
        "batch",
        "busy",
        "cost",
        "debug",
        "decodes",
        "engine",
        "group",
        "group_n",
        "handoff",
        "incoming",
        "index",
        "inflight",
        "kv",
        "kv_link",
        "loading",
        "name",
        "next_pos",
        "preempted_requests",
        "preemptions",
        "prefill_computed",
        "queued",
        "receiving",
        "rng",
        "role",
        "running",
        "samplers",
        "scheduler",
        "sending",
        "spec",
        "spec_accepted",
        "spec_k",
        "spec_p",
        "spec_verified",
        "stage_free",
        "stages",
        "start_pending",
        "step_end",
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
        seed: int = 0,
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
        self.accepted: list[int] | None = None  # speculative: drafts each sampler accepted (-1: none)
        self.group: LockstepGroup | None = None  # the lockstep group of a data-parallel rank
        # Pipeline parallelism: batches in flight (start, samplers, accepted), oldest first, and
        # when each stage is free.
        self.stages = spec.stages
        self.inflight: deque[tuple[int, list[Request], list[int] | None]] = deque()
        self.stage_free = [0] * spec.pp
        # Speculative decoding: k drafts per decode, each accepted with probability a; the draws
        # come from PCG64 seeded by the run's seed and the instance's index.
        sd = spec.speculative
        self.spec_k = sd.tokens if sd is not None else 0
        self.spec_p = 1.0 - sd.acceptance if sd is not None else 1.0
        self.rng = (np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 5, index])))
                    if sd is not None else None)
        self.spec_verified = 0  # drafting sequences whose drafts were verified, over steps
        self.spec_accepted = 0  # drafts accepted
        self.queued: tuple | None = None  # async scheduling: the step scheduled to run next
        self.busy = False
        self.start_pending = False
        self.step_start = 0  # when the step now running started
        self.step_end = 0  # ... and when it ends (an instance that steps alone)
        self.next_pos = 0  # the next running-order position (`Request.pos`)
        # The running plain decodes as one group (decoders.py), for an instance that steps alone
        # with vLLM's scheduler and neither pipeline stages nor speculative decoding; None elsewhere
        # (a lockstep group clears it). `group_n`: its members sampled by the step now running.
        self.decodes: DecodeGroup | None = None
        if type(self.scheduler) is VLLMScheduler and spec.stages is None and spec.speculative is None:
            self.decodes = DecodeGroup(spec.block_size)
        self.group_n = 0
        self.steps = 0
        self.preemptions = 0  # preemption events
        self.preempted_requests = 0  # requests preempted for the first time here
        self.debug = debug
        self._recorder = recorder
        self._itl = recorder.itl.buf  # flat (gap ns, tokens) pairs, folded by the recorder
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
        group = self.decodes
        for r in (*self.running, *self.loading.values()):
            if r.g_id:  # a decode group member: its fields are as of when it joined
                computed, n_out, ph = group.true_counts(r)  # type: ignore[union-attr]
            else:
                computed, n_out, ph = r.num_computed - r.drafts, r.num_output, r.placeholders
            known = r.prompt_len + n_out + ph
            out += r.prompt_len + r.stop_len - 1 - computed
            if known - computed > 1 or n_out + ph == 0:
                back += known - computed
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
        if self.role == "prefill":
            total, slots = req.prompt_len + 1, req.prompt_len
        else:
            total = req.prompt_len + req.output_len
            slots = total - 1 + self.spec_k  # the last step verifies k drafts past the last token
        return total <= spec.max_model_len and -(-slots // spec.block_size) <= spec.num_kv_blocks

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
        if self.group is not None:  # a data-parallel rank in lockstep: its group starts steps
            self.group.wake(now)
            return
        if self.stages is not None:
            self._pp_wake(now)
            return
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
        r.drafts = 0
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
        self.append_running(req)
        self._version += 1
        self.wake(now)

    def append_running(self, r: Request) -> None:
        """`r` joins the tail of the running list (its position keeps the order the group loses)."""
        r.running = True
        r.pos = self.next_pos
        self.next_pos += 1
        self.running.append(r)
        if self.decodes is not None:
            self.decodes.others[r] = None

    # -- the step loop ----------------------------------------------------------------------------

    def _start_step(self, now: int, _: object = None) -> None:
        self.start_pending = False
        plan = self.queued or self._schedule(now)
        self.queued = None
        if plan is None:
            self._stalled()
            return
        shape, batch, samplers, accepted, sampled, duration = plan
        # (`_launch`, inlined: the hot path)
        self.busy = True
        self.batch = batch
        self.samplers = samplers
        self.accepted = accepted
        self.step_start = now
        self.step_end = now + duration
        self.group_n = shape.num_seqs - len(batch)
        self.steps += 1
        self.prefill_computed += shape.num_tokens - shape.n_decode
        if self.timeline is not None:
            self.timeline.step(self, now, duration, shape, sampled)
        self.engine.at(now + duration, PRIO_STEP_END, self._end_step)
        if self.spec.async_scheduling:
            self.queued = self._schedule(now)

    def _stalled(self) -> None:
        """Nothing could be scheduled: fine while a transfer will free (or bring) KV blocks."""
        if (self.waiting or self.running) and not (self.loading or self.sending or self.receiving):
            raise RuntimeError(f"instance {self.name}: work queued but nothing schedulable")

    def _plan(self, now: int) -> tuple | None:
        """The scheduler's next step: (shape, requests, samplers, accepted drafts per sampler or
        None, tokens it samples), or None when nothing can run."""
        plan = self.scheduler.schedule(self, now)
        if plan is None:
            return None
        shape, batch, samplers = plan
        self._version += 1
        if self.kv.evicted:
            self._offload(now)
        if self.debug:
            self._check(shape)
        if self.spec_k:
            accepted, sampled = self._draw(samplers)
            return shape, batch, samplers, accepted, sampled
        return shape, batch, samplers, None, len(samplers)

    def _schedule(self, now: int) -> tuple | None:
        """`_plan` and the step's duration (an instance that steps alone; `_plan` inlined)."""
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
        if self.spec_k:
            accepted, sampled = self._draw(samplers)
            return shape, batch, samplers, accepted, sampled, duration
        # (the decode group's members, shape.num_seqs - len(batch), each sample a token too)
        return shape, batch, samplers, None, len(samplers) + shape.num_seqs - len(batch), duration

    def _launch(self, now: int, shape: BatchShape, batch: list[Request], samplers: list[Request],
                accepted: list[int] | None, sampled: int, duration: int) -> None:
        """A step starts now and lasts `duration` (it is priced; `_finish` applies its outputs)."""
        self.busy = True
        self.batch = batch
        self.samplers = samplers
        self.accepted = accepted
        self.step_start = now
        self.step_end = now + duration
        self.group_n = shape.num_seqs - len(batch)
        self.steps += 1
        self.prefill_computed += shape.num_tokens - shape.n_decode
        if self.timeline is not None:
            self.timeline.step(self, now, duration, shape, sampled)

    def _draw(self, samplers: list[Request]) -> tuple[list[int], int]:
        """Speculative decoding: how many drafts each verifying sampler will have accepted
        (truncated geometric: each accepted with probability `acceptance` until the first
        rejection, at most k), -1 for the samplers without drafts; and the tokens the step will
        sample, each request's capped at what it has left after its steps already in flight."""
        k = self.spec_k
        drafted = getattr(self.scheduler, "drafted", None)  # (a plugin scheduler may give no drafts)
        accepted = [-1] * len(samplers)
        if drafted:
            rng = self.rng
            if self.spec_p > 0.0 and rng is not None:
                draws = np.minimum(rng.geometric(self.spec_p, len(drafted)) - 1, k).tolist()
            else:  # acceptance 1: every draft is accepted
                draws = [k] * len(drafted)
            for pos, j in zip(drafted, draws, strict=True):
                accepted[pos] = j
        sampled = 0
        for r, j in zip(samplers, accepted, strict=True):
            gain = min((j if j > 0 else 0) + 1, r.stop_len - r.num_output - r.promised)
            r.promised += gain
            sampled += gain
        return accepted, sampled

    def _end_step(self, now: int, _: object = None) -> None:
        samplers, accepted = self.samplers, self.accepted  # (`_finish`, inlined)
        group_n = self.group_n
        self.batch = []
        self.samplers = []
        self.accepted = None
        self.busy = False
        self.group_n = 0
        self._emit(now, self.step_start, samplers, accepted, group_n)
        if (self.waiting or self.running or self.queued) and not self.start_pending:
            self.start_pending = True
            if not self.engine.claim_now():
                self.engine.at(now, PRIO_STEP_START, self._start_step)
            elif self.decodes is not None and self.spec.async_scheduling and not self.debug:
                self._coast(now)
            else:  # nothing else happens now: start the next step at once
                self._start_step(now)

    def _coast(self, now: int) -> None:
        """`_start_step(now)`, and while the steps are decode-group steps that nothing else can
        happen during, their ends and the next starts in one loop, without an event each.

        Async scheduling only: a step's successor was planned when it started (`queued`). Each
        pass does what `_start_step`, `_schedule` (with `VLLMScheduler._grouped`, the group alone)
        and `_end_step` (`_emit` with the group alone) would do, in the same order, with the same
        events counted; the step's end is an event pushed as always and taken back out only when it
        is the one the engine would run next (`Engine.claim`), so the order of events is unchanged.
        Anything else (a request waiting or outside the group, a plan that must walk the running
        list, members finishing) goes the general way from where it arises."""
        group = self.decodes
        assert group is not None
        engine = self.engine
        kv = self.kv
        running = self.running
        finish_at = group.finish_at
        max_tokens = self.scheduler.max_tokens  # type: ignore[attr-defined]
        step_time_ns = self.cost.step_time_ns
        end_step = self._end_step
        while True:
            queued = self.queued
            if queued is None or queued[1]:  # nothing planned, or not the group alone
                self._start_step(now)
                return
            # -- `_start_step`, the group's plan
            shape, _, _, _, sampled, duration = queued
            self.start_pending = False
            self.queued = None
            self.busy = True
            self.batch = []
            self.samplers = []
            self.accepted = None
            self.step_start = now
            end = now + duration
            self.step_end = end
            group_n = shape.num_seqs
            self.group_n = group_n
            self.steps += 1
            self.prefill_computed += shape.num_tokens - shape.n_decode
            if self.timeline is not None:
                self.timeline.step(self, now, duration, shape, sampled)
            seq = engine.at(end, PRIO_STEP_END, end_step)
            # -- the next plan (`_schedule`), now: the group alone if nothing else is running or waiting
            if self.waiting or group.others or len(group.members) != len(running):
                self.queued = self._schedule(now)
                return
            if finish_at.get(group.planned - 1):
                group.begin_plan()
            n = group.n
            need = group.block_need()
            if n > max_tokens or need > kv.num_free:  # the scheduler walks the running list
                self.queued = self._schedule(now)
                return
            group.last_plan_n = n
            if n:
                if need:
                    kv.take(need)
                g_sum, g_min, g_max = group.contexts()
                plan_shape = BatchShape(n, n, n, g_sum, g_max, (), g_min)
                group.planned += 1
                self._version += 1
                if kv.evicted:
                    self._offload(now)
                d = step_time_ns(plan_shape)
                assert d >= 0, f"cost model returned a negative step time {d}"
                self.queued = (plan_shape, [], [], None, n, d)
            if not engine.claim(seq):  # something else happens first: the engine runs the end
                return
            # -- `_end_step` at `end`
            start, now = now, end
            self.busy = False
            self.group_n = 0
            if finish_at.get(group.emitted):  # members finish: the general emission
                self._emit(now, start, [], None, group_n)
            else:
                itl = self._itl
                itl.append(now - start)
                itl.append(group_n)
                self._version += 1
                group.emitted += 1
                group.emit_ns = now
                if self.incoming:
                    self._receive(now)
            if not (self.waiting or running or self.queued) or self.start_pending:
                return
            self.start_pending = True
            if not engine.claim_now():
                engine.at(now, PRIO_STEP_START, self._start_step)
                return

    def _finish(self, now: int) -> None:
        """The step now running ends: apply its outputs."""
        samplers, accepted = self.samplers, self.accepted
        group_n = self.group_n
        self.batch = []
        self.samplers = []
        self.accepted = None
        self.busy = False
        self.group_n = 0
        self._emit(now, self.step_start, samplers, accepted, group_n)

    def _emit(self, now: int, start: int, samplers: list[Request], accepted: list[int] | None,
              group_n: int = 0) -> None:
        """Tokens of a step that started at `start` and ends now: one per sampler (with speculative
        decoding, one plus the drafts it accepted, capped at its length) and one per decode group
        member it scheduled (`group_n`; each got its previous token at the step's start); finished
        requests leave, in running order."""
        in_step = group_n  # tokens whose previous token came at this step's start: the common gap
        gaps: dict[int, int] = {}
        done: list[Request] = []
        group = self.decodes
        if accepted is None:
            for r in samplers:
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
        else:
            k = self.spec_k
            kv = self.kv
            for r, j in zip(samplers, accepted, strict=True):
                if r.num_output >= r.stop_len:  # finished early, by an earlier step's drafts
                    continue
                r.placeholders -= 1
                gain = 1
                if j >= 0:
                    self.spec_verified += 1
                    self.spec_accepted += j
                    if r.running:  # (a preempted request's drafts were dropped with its KV)
                        r.drafts -= k
                        r.num_computed -= k - j  # the rejected drafts' KV is discarded
                        kv.trim(r)
                    gain = min(j + 1, r.stop_len - r.num_output)
                r.promised -= gain
                n_out = r.num_output + gain
                if r.num_output == 0:
                    r.first_token_ns = now
                elif r.last_token_ns == start:
                    in_step += 1
                else:
                    gap = now - r.last_token_ns
                    gaps[gap] = gaps.get(gap, 0) + 1
                r.num_output = n_out
                r.last_token_ns = now
                if n_out == r.stop_len:
                    done.append(r)
        if gaps:
            self._recorder.add_itl(gaps)
        if in_step:
            itl = self._itl
            itl.append(now - start)
            itl.append(in_step)
        self._version += 1
        if group is not None:
            step = group.emitted  # the plan whose step this is (every plan is emitted, in order)
            group.emitted = step + 1
            if group_n:
                group.emit_ns = now
            last = group.finish_at.pop(step, None)  # members whose last token this step sampled
            if last:
                for r in last:
                    group.settle(r, self)
                done = sorted([*done, *last], key=_pos) if done else sorted(last, key=_pos)
        if done:
            running = self.running  # (in place, as the scheduler changes it: no copy of ~200 per step)
            for r in done:
                if r.running:
                    running.remove(r)  # a few removals in C beat a Python pass over ~200 running
                else:  # preempted while its last token was in flight
                    self.waiting.remove(r)
                r.running = False
            if group is not None:
                others = group.others
                for r in done:
                    others.pop(r, None)
            for r in done:
                if r.num_output < r.output_len:
                    self.handoff.send(r, self, now)  # type: ignore[union-attr]
                else:
                    self.kv.free(r)
                    self._on_done(r, now)
        if self.incoming:
            self._receive(now)
        if self.debug:
            saved = group.expose(self) if group is not None else None
            self.kv.check_invariants(self.holders())
            if saved:
                group.hide(saved)  # type: ignore[union-attr]

    # -- pipeline parallelism ---------------------------------------------------------------------

    def _pp_wake(self, now: int) -> None:
        if not self.start_pending and len(self.inflight) < self.spec.pp and (self.waiting or self.running):
            self.start_pending = True
            self.engine.at(max(now, self.stage_free[0]), PRIO_STEP_START, self._pp_start)

    def _pp_start(self, now: int, _: object = None) -> None:
        """The first stage is free and fewer than pp batches are in flight: schedule a batch and
        send it down the pipeline. It holds the first stage for the host time and that stage's
        compute; at each later stage it waits for the stage to be free, and it reaches the next
        stage after the send of its activations. Its tokens are sampled when it leaves the last."""
        self.start_pending = False
        plan = self._plan(now)
        if plan is None:
            if not self.inflight:
                self._stalled()
            return
        shape, batch, samplers, accepted, sampled = plan
        stages = self.stages
        assert stages is not None
        times = stages.stage_times_ns(shape)
        sends = stages.stage_transfer_ns(shape)
        host = stages.host_ns(shape)
        free = self.stage_free
        assert len(times) == len(free) and len(sends) == len(free) - 1, "stage cost model and pp disagree"
        t = now + host
        for s, d in enumerate(times):
            t = (t if t > free[s] else free[s]) + d
            free[s] = t
            if s < len(sends):
                t += sends[s]
        # The timeline's busy time is the batch's mean device time over the stages (energy).
        self._launch(now, shape, batch, samplers, accepted, sampled, (host + sum(times)) // len(times))
        self.inflight.append((now, samplers, accepted))
        self.engine.at(t, PRIO_STEP_END, self._pp_exit)
        if len(self.inflight) < self.spec.pp:
            self.start_pending = True
            self.engine.at(free[0], PRIO_STEP_START, self._pp_start)

    def _pp_exit(self, now: int, _: object = None) -> None:
        """The oldest batch in flight leaves the last stage: its tokens are sampled."""
        start, samplers, accepted = self.inflight.popleft()
        self.busy = bool(self.inflight)
        self._emit(now, start, samplers, accepted)
        self._pp_wake(now)

    def holders(self) -> list:
        """Everything that holds KV blocks of this instance (for the invariant checks)."""
        return [*self.running, *self.loading.values(), *self.sending.values(), *self.receiving.values()]

    def _check(self, shape: BatchShape) -> None:
        group = self.decodes
        saved = group.expose(self) if group is not None else None
        try:
            self._check_exposed(shape)
        finally:
            if saved:
                group.hide(saved)  # type: ignore[union-attr]

    def _check_exposed(self, shape: BatchShape) -> None:
        spec = self.spec
        assert shape.num_tokens <= spec.max_num_batched_tokens, f"token budget exceeded: {shape}"
        assert len(self.running) <= spec.max_num_seqs, f"{len(self.running)} running > max_num_seqs"
        for r in self.waiting:
            assert r.num_computed == 0 and self.kv.blocks_held(r) == 0, f"waiting {r} holds KV"
        self.kv.check_invariants(self.holders())
        for tier in self.tiers:
            tier.check_invariants()


def _pos(r: Request) -> int:
    return r.pos
