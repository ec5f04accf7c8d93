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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmsim.runtime.batch import BatchShape
from llmsim.runtime.engine import PRIO_STEP_END, PRIO_STEP_START, Engine
from llmsim.runtime.kv_cache import make_kv_cache
from llmsim.runtime.request import Request
from llmsim.runtime.scheduler import SCHEDULERS
from llmsim.runtime.spec import InstanceSpec

if TYPE_CHECKING:
    from llmsim.runtime.metrics import Recorder


class Instance:
    __slots__ = (
        "_on_done",
        "_recorder",
        "batch",
        "queued",
        "samplers",
        "busy",
        "cost",
        "debug",
        "engine",
        "index",
        "kv",
        "name",
        "preempted_requests",
        "preemptions",
        "running",
        "scheduler",
        "spec",
        "start_pending",
        "step_start",
        "steps",
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
    ) -> None:
        self.index = index
        self.spec = spec
        self.name = spec.name
        self.cost = spec.cost
        self.engine = engine
        self.kv = make_kv_cache(spec.num_kv_blocks, spec.block_size, spec.prefix_caching)
        self.scheduler = SCHEDULERS.get(spec.scheduler)(spec)
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

    # -- admission --------------------------------------------------------------------------------

    def can_ever_run(self, req: Request) -> bool:
        """False for a request this instance could never complete: longer than max_model_len, or
        needing more KV blocks than it has (the last output token is sampled, never cached)."""
        spec = self.spec
        total = req.prompt_len + req.output_len
        return total <= spec.max_model_len and -(-(total - 1) // spec.block_size) <= spec.num_kv_blocks

    def submit(self, req: Request, now: int) -> bool:
        """Queue a request; False (and nothing queued) if it can never run here."""
        req.instance = self.index
        if not self.can_ever_run(req):
            return False
        self.kv.attach(req)
        self.waiting.append(req)
        if not self.busy and not self.start_pending:
            self.start_pending = True
            self.engine.at(now, PRIO_STEP_START, self._start_step)
        return True

    # -- the step loop ----------------------------------------------------------------------------

    def _start_step(self, now: int, _: object = None) -> None:
        self.start_pending = False
        plan = self.queued or self._schedule(now)
        self.queued = None
        if plan is None:
            if self.waiting or self.running:
                raise RuntimeError(f"instance {self.name}: work queued but nothing schedulable")
            return
        shape, batch, samplers, duration = plan
        self.busy = True
        self.batch = batch
        self.samplers = samplers
        self.step_start = now
        self.steps += 1
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
            if n_out == r.output_len:
                done.append(r)
        if in_step:
            gaps[now - start] = gaps.get(now - start, 0) + in_step
        self.batch = []
        self.samplers = []
        self.busy = False
        if gaps:
            self._recorder.add_itl(gaps)
        if done:
            for r in done:
                if not r.running:  # preempted while its last token was in flight
                    self.waiting.remove(r)
                r.running = False
            self.running = [r for r in self.running if r.running]
            for r in done:
                self.kv.free(r)
                self._on_done(r, now)
        if self.debug:
            self.kv.check_invariants(self.running)
        if (self.waiting or self.running or self.queued) and not self.start_pending:
            self.start_pending = True
            self.engine.at(now, PRIO_STEP_START, self._start_step)

    def _check(self, shape: BatchShape) -> None:
        spec = self.spec
        assert shape.num_tokens <= spec.max_num_batched_tokens, f"token budget exceeded: {shape}"
        assert len(self.running) <= spec.max_num_seqs, f"{len(self.running)} running > max_num_seqs"
        for r in self.waiting:
            assert r.num_computed == 0 and self.kv.blocks_held(r) == 0, f"waiting {r} holds KV"
        self.kv.check_invariants(self.running)
