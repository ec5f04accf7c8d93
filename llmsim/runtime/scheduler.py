"""Schedulers: what an instance computes in its next step. One class per policy, registered by name.

A scheduler reads and updates its instance's queues (`waiting`, a deque; `running`, a list) and KV
cache, and returns the step's `BatchShape` with the requests it scheduled. It never reads time to
decide anything and never touches other instances.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmsim.runtime.batch import BatchShape
from llmsim.runtime.decoders import DecodeGroup
from llmsim.runtime.registry import Registry
from llmsim.runtime.request import Request
from llmsim.runtime.spec import InstanceSpec

if TYPE_CHECKING:
    from llmsim.runtime.instance import Instance


class Scheduler:
    """Base class of scheduler policies."""

    __slots__ = ("drafted", "spec")

    def __init__(self, spec: InstanceSpec) -> None:
        self.spec = spec
        # Speculative decoding: positions in the last plan's samplers of the requests that verify
        # draft tokens in it (their `drafts` count is raised by the instance's proposals per step).
        self.drafted: list[int] = []

    def schedule(self, inst: Instance, now: int) -> tuple[BatchShape, list[Request], list[Request]] | None:
        """Plan the next step at `now`: its shape, its requests and those of them that sample a
        token when it ends (their `placeholders` count is raised); None when nothing can run."""
        raise NotImplementedError


SCHEDULERS: Registry[Scheduler] = Registry("scheduler", "llmsim.schedulers")
_WALK = object()  # VLLMScheduler._grouped: the plan needs the walk over every running request
register_scheduler = SCHEDULERS.register


@register_scheduler("vllm")
class VLLMScheduler(Scheduler):
    """vLLM V1's continuous batching (`vllm/v1/core/sched/scheduler.py`, FCFS policy).

    1. Running requests, in order, while token budget is left: each asks for all its uncomputed
       tokens (a decode 1, a prefill the rest of its prompt), capped by `long_prefill_token_threshold`
       and by the budget. If its KV blocks cannot be allocated, the last running request is preempted
       (recompute: its blocks are freed, it restarts from zero at the front of the waiting queue) and
       the allocation retried; if the request preempted is the one being scheduled, scheduling of
       running requests stops.
    2. Only if nothing was preempted: waiting requests in FCFS order while budget is left and fewer
       than `max_num_seqs` run. A prefix-cache lookup gives tokens already computed; the rest (the
       prompt, plus the output so far for a preempted request) is capped by the threshold and, with
       chunked prefill, by the budget (without it, a request that does not fit stops admission); a
       request whose blocks cannot be allocated stops admission, and so, with `reserve_full_isl`,
       does one whose whole current sequence would not fit in the free blocks. If its cached prefix
       goes on in a KV tier, those blocks are loaded first (`Instance.start_load`): it leaves the
       queue holding its blocks and comes back to its front when they have arrived.

    A request that will have computed every token it knows samples one token when the step ends;
    until then that token is a placeholder (vLLM's `num_output_placeholders`), so that with async
    scheduling the next step, planned while this one runs, already gives it its next decode. A
    request whose last token is being sampled is not scheduled again. On a pipelined instance
    (`stages`), a request whose token is being sampled by a batch in flight is in no other batch.

    Speculative decoding (`speculative.tokens` = k): a decode computes its last token and k draft
    tokens (1 + k tokens of the budget and KV slots for all of them); the drafts count as computed
    (`drafts`) until the step ends and tells how many were accepted. A decode that does not find
    1 + k tokens of budget waits for the next step. The step's `BatchShape` counts each decode as
    one token: the speculative cost model adds the drafts and the verification.
    """

    __slots__ = ("chunked", "full_isl", "k", "max_seqs", "max_tokens", "pipelined", "threshold")

    def __init__(self, spec: InstanceSpec) -> None:
        super().__init__(spec)
        self.max_tokens = spec.max_num_batched_tokens
        self.max_seqs = spec.max_num_seqs
        self.threshold = spec.long_prefill_token_threshold
        self.chunked = spec.chunked_prefill
        self.full_isl = spec.reserve_full_isl
        self.k = spec.speculative.tokens if spec.speculative is not None else 0
        self.pipelined = spec.stages is not None

    def schedule(self, inst: Instance, now: int) -> tuple[BatchShape, list[Request], list[Request]] | None:
        group = inst.decodes
        if group is None:
            return self._walk(inst, now)
        # With a decode group (decoders.py) the step's members are scheduled as one, when vLLM's
        # order among running requests cannot matter; otherwise the group is dissolved and every
        # running request walked in order. Both give the same plan.
        if group.finish_at.get(group.planned - 1):  # last tokens in flight (async scheduling)
            group.begin_plan()
        if len(group.others) + len(group.members) != len(inst.running):  # appended behind our back
            group.others = dict.fromkeys(r for r in inst.running if not r.g_id)
        plan = self._grouped(inst, group, now)
        if plan is _WALK:
            if group.members:
                group.dissolve(inst)
            group.last_plan_n = 0
            plan = self._walk(inst, now)
            group.others = dict.fromkeys(inst.running)
        if plan is not None:
            group.planned += 1
        return plan  # type: ignore[return-value]

    def _grouped(self, inst: Instance, group: DecodeGroup, now: int) -> object:
        """The plan with the decode group: its members (and the plain decodes joining it) are
        scheduled as one, the other running requests in order. `_WALK` (and nothing changed) when
        the token budget could run out or a KV allocation fail among the running requests."""
        budget = self.max_tokens
        threshold = self.threshold
        kv = inst.kv
        bs = kv.block_size
        # The step being planned starts when the one running ends (async scheduling), else now.
        start = inst.step_end if inst.busy else now
        joins: list[Request] = []
        chunks: list[tuple[Request, int]] = []  # running requests outside the group: tokens each asks for
        demand = group.n
        g_need = group.block_need()
        need = g_need
        for r in group.others:
            ph = r.placeholders
            out = r.num_output
            if ph and out + ph >= r.stop_len:  # its last token is already being sampled
                continue
            computed = r.num_computed
            remaining = r.prompt_len + out + ph - computed
            if remaining == 1 and out + ph:  # a decode
                demand += 1
                if computed >= r.kv_capacity:
                    need += 1
                if ph or r.last_token_ns == start:  # its previous token comes when the step starts
                    joins.append(r)
                else:
                    chunks.append((r, 0))
            else:
                n = remaining
                if 0 < threshold < n:
                    n = threshold
                demand += n
                held = r.kv_capacity // bs
                if computed + n > held * bs:
                    need += -(-(computed + n) // bs) - held
                chunks.append((r, n))
        if demand > budget or need > kv.num_free:
            return _WALK
        if joins:
            for r in joins:
                group.join(r)
            g_need = group.block_need()
        if g_need:
            kv.take(g_need)
        n_group = group.n
        budget -= n_group
        batch: list[Request] = []
        samplers: list[Request] = []
        prefills: list[tuple[int, int]] = []
        n_decode = kv_sum = kv_max = 0
        kv_min = 1 << 62
        for r, n in chunks:
            computed = r.num_computed
            known = r.prompt_len + r.num_output + r.placeholders
            if n == 0:  # a decode outside the group
                if computed >= r.kv_capacity:
                    kv.allocate(r, 1)
                n_decode += 1
                kv_sum += computed + 1
                if computed + 1 > kv_max:
                    kv_max = computed + 1
                if computed + 1 < kv_min:
                    kv_min = computed + 1
                r.num_computed = computed + 1
                budget -= 1
            else:
                kv.allocate(r, n)
                prefills.append((n, computed))
                r.num_computed = computed + n
                budget -= n
            batch.append(r)
            if r.num_computed == known:
                r.placeholders += 1
                samplers.append(r)
        if n_group:
            g_sum, g_min, g_max = group.contexts()
            n_decode += n_group
            kv_sum += g_sum
            if g_max > kv_max:
                kv_max = g_max
            if g_min < kv_min:
                kv_min = g_min
        group.last_plan_n = n_group
        if inst.waiting:
            budget, n_decode, kv_sum, kv_max, kv_min = self._admit(inst, now, budget, batch, samplers, prefills,
                                                                   n_decode, kv_sum, kv_max, kv_min, [])
        if not batch and not n_group:
            return None
        shape = BatchShape(self.max_tokens - budget, len(batch) + n_group, n_decode, kv_sum, kv_max,
                           tuple(prefills), kv_min if n_decode else 0)
        return shape, batch, samplers

    def _walk(self, inst: Instance, now: int) -> tuple[BatchShape, list[Request], list[Request]] | None:
        """The plan, walking every running request in order (preemptions included)."""
        budget = self.max_tokens
        threshold = self.threshold
        running = inst.running
        batch: list[Request] = []
        samplers: list[Request] = []  # requests that sample a token when this step ends
        prefills: list[tuple[int, int]] = []
        n_decode = kv_sum = kv_max = 0
        kv_min = 1 << 62
        preemptions_before = inst.preemptions

        k = self.k  # draft tokens per decode (speculative decoding), else 0
        drafted: list[int] = []
        self.drafted = drafted
        pipelined = self.pipelined

        # 1. Running requests.
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            computed = r.num_computed
            known = r.prompt_len + r.num_output + r.placeholders  # tokens the request will have
            if k:
                known += r.drafts
            if r.placeholders and (pipelined or r.num_output + r.placeholders >= r.stop_len):
                # Async scheduling: its last token is already being sampled; no further step.
                # Pipelined: its next token is in flight in another batch.
                i += 1
                continue
            remaining = known - computed
            if remaining == 1 and r.num_output + r.placeholders:  # a decode
                # Its blocks have room for one more token unless the last one is full. (A decode
                # never enters blocks in the prefix cache: those are all prompt blocks.)
                if k:
                    if budget <= k:  # no room for its drafts in this step
                        i += 1
                        continue
                    if computed + 1 + k > r.kv_capacity and not self._allocate(inst, r, 1 + k):
                        break
                    r.drafts += k
                    drafted.append(len(samplers))
                    budget -= k
                    known += k
                elif computed >= r.kv_capacity and not self._allocate(inst, r, 1):
                    break
                n_decode += 1
                kv_sum += computed + 1
                if computed + 1 > kv_max:
                    kv_max = computed + 1
                if computed + 1 < kv_min:
                    kv_min = computed + 1
                r.num_computed = computed + 1 + k
                budget -= 1
            else:  # a prefill chunk, or the recompute of a preempted request
                n = remaining
                if 0 < threshold < n:
                    n = threshold
                if n > budget:
                    n = budget
                # (vLLM also caps n at max_model_len - 1 - computed; never binding here because
                # requests longer than max_model_len are rejected at arrival.)
                if not self._allocate(inst, r, n):
                    break
                prefills.append((n, computed))
                r.num_computed = computed + n
                budget -= n
            batch.append(r)
            if r.num_computed == known:
                r.placeholders += 1
                samplers.append(r)
            i += 1

        # 2. Waiting requests, unless this step preempted something.
        if inst.preemptions == preemptions_before:
            budget, n_decode, kv_sum, kv_max, kv_min = self._admit(inst, now, budget, batch, samplers, prefills,
                                                                   n_decode, kv_sum, kv_max, kv_min, drafted)
        if not batch:
            return None
        shape = BatchShape(self.max_tokens - budget - k * len(drafted), len(batch), n_decode, kv_sum, kv_max,
                           tuple(prefills), kv_min if n_decode else 0)
        return shape, batch, samplers

    def _admit(self, inst: Instance, now: int, budget: int, batch: list[Request], samplers: list[Request],
               prefills: list[tuple[int, int]], n_decode: int, kv_sum: int, kv_max: int, kv_min: int,
               drafted: list[int]) -> tuple[int, int, int, int, int]:
        """Waiting requests in FCFS order, while budget and sequence slots are left (requests whose
        KV a decode instance is receiving hold sequence slots already); the budget and decode
        context figures after them."""
        kv = inst.kv
        running = inst.running
        threshold = self.threshold
        k = self.k
        waiting = inst.waiting
        max_seqs = self.max_seqs - len(inst.receiving)
        full_isl = self.full_isl
        tiers = kv.tiers
        while waiting and budget > 0 and len(running) < max_seqs:
            r = waiting[0]
            hit, hit_blocks = kv.lookup(r)
            num_tokens = r.prompt_len + r.num_output + r.placeholders
            if tiers and r.tier_state == 0:
                run = kv.tier_run(r, len(hit_blocks))  # type: ignore[union-attr]
                if run:  # the prefix goes on in a KV tier: load it, admit the request after
                    if full_isl and not kv.fits_full(r, hit_blocks, num_tokens):
                        break
                    if not inst.start_load(r, hit_blocks, run, now):
                        break
                    waiting.popleft()
                    self._record(kv, r, num_tokens, hit + len(run) * kv.block_size, len(run) * kv.block_size)
                    if r.first_scheduled_ns < 0:
                        r.first_scheduled_ns = now
                    continue
            remaining = num_tokens - hit
            decode = remaining == 1 and r.num_output + r.placeholders
            n = remaining
            if decode and k:  # a resumed request whose every token but the last was cached
                n += k
                if n > budget:
                    break
            elif 0 < threshold < n:
                n = threshold
            if n > budget:
                if not self.chunked:
                    break
                n = budget
            if full_isl and not kv.fits_full(r, hit_blocks, num_tokens):
                break
            if not kv.allocate_new(r, hit_blocks, n):
                break
            waiting.popleft()
            inst.append_running(r)
            r.tier_state = 0
            self._record(kv, r, num_tokens, hit, 0)
            if r.first_scheduled_ns < 0:
                r.first_scheduled_ns = now
            if decode:
                n_decode += 1
                kv_sum += num_tokens
                if num_tokens > kv_max:
                    kv_max = num_tokens
                if num_tokens < kv_min:
                    kv_min = num_tokens
                if k:
                    r.drafts += k
                    drafted.append(len(samplers))
                    num_tokens += k
            else:
                prefills.append((n, hit))
            r.num_computed = hit + n
            budget -= n
            batch.append(r)
            if r.num_computed == num_tokens:
                r.placeholders += 1
                samplers.append(r)
        return budget, n_decode, kv_sum, kv_max, kv_min

    @staticmethod
    def _record(kv: object, r: Request, num_tokens: int, hit: int, tier_hit: int) -> None:
        """Hit accounting, once per request (at its first admission, or when its first admission
        starts loading blocks from a tier), for requests whose content is known; a resumed request's
        own blocks are not prefix-cache hits."""
        if not r.looked_up:
            r.looked_up = True
            if r.preemptions == 0 and (r.token_ids is not None or r.hash_ids is not None):
                kv.record_lookup(num_tokens, hit, tier_hit)  # type: ignore[attr-defined]

    def _allocate(self, inst: Instance, r: Request, n: int) -> bool:
        """KV slots for `n` more tokens of running request `r`, preempting from the tail of the
        running list until they fit; False if `r` itself had to be preempted."""
        kv = inst.kv
        running = inst.running
        while not kv.allocate(r, n):
            victim = running.pop()
            self.preempt(inst, victim)
            if victim is r:
                return False
        return True

    @staticmethod
    def preempt(inst: Instance, r: Request) -> None:
        """Preemption: free the KV (swapped out to a KV tier if the instance has one, else to be
        recomputed), forget computed tokens, wait at the front (`Instance.preempt`)."""
        inst.preempt(r)
