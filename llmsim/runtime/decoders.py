"""An instance's running decodes kept as one group, so that a step costs O(1), not O(batch).

At saturation almost every running request is a plain decode: each step computes its one missing
token and samples the next, and nothing else about it changes. Walking all of them twice per step
(to schedule the step, then to emit its tokens) made a step cost about 1 us per running request.
Instead, a running request that is a plain decode, and whose latest token comes at the start of the
step being planned, joins its instance's `DecodeGroup` (`join`); from then on the group stands for
it until its last token:

- its own fields keep their values of when it joined; every plan since adds one computed token and
  one placeholder, every emission one output token (`true_counts`; `settle` writes them back);
- a step's shape takes the group's count and the sum, shortest and longest of its contexts from
  aggregates: every member's context grows by one per plan, so their order never changes (a member
  is keyed by its context minus the plan index). The smallest and largest keys are kept as two
  numbers; a member that leaves holding one of them makes them stale, and the next plan finds them
  again among the members (rare: a member leaves when its output is done, whatever its context);
- a member needs a new KV block at the plans where its context is a multiple of the block size: the
  instance takes `block_need(plan)` anonymous blocks for all members at once;
- its last token is known when it joins (it generates exactly its output length), so it leaves
  through a calendar keyed by step (`finish_at`).

Exactness (results are bit-identical to walking every request): a plan keeps the group only when
vLLM's order among the running requests cannot matter, that is when the token budget does not run
out among them and every KV allocation they need fits (then each gets exactly what it asks for, and
the blocks come off the head of the free queue in the same sequence whatever the order). Otherwise
the scheduler dissolves the group (`dissolve`: every member's fields are written back) and walks the
running list as before. Every member of the group got its previous token at the start of the step
that emits its next one, so all of them share that step's inter-token gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmsim.runtime.request import Request

if TYPE_CHECKING:
    from llmsim.runtime.instance import Instance


class DecodeGroup:
    """The plain decodes of one instance, and its plan and emission counters."""

    __slots__ = ("agg", "block_size", "emit_ns", "emitted", "finish_at", "key_max", "key_min", "key_sum", "last_plan_n",
                 "members", "n", "next_gid", "others", "phase", "planned", "stale")

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self.members: dict[Request, None] = {}  # in the group until its last token is emitted
        self.others: dict[Request, None] = {}  # the running requests not in the group, in running order
        # Members scheduled by every plan from now on (a member whose last token is being sampled
        # leaves these aggregates at the next plan, and the group when the token is emitted).
        self.agg: dict[int, Request] = {}  # group id -> member
        self.n = 0
        self.key_sum = 0  # sum of keys: a member's context at plan p is key + p + 1
        self.phase = [0] * block_size  # members by key % block_size
        self.key_min = 0  # the smallest and largest keys in the aggregates, unless `stale`
        self.key_max = 0  # (with members; then still bounds on them)
        self.stale = False
        self.finish_at: dict[int, list[Request]] = {}  # step -> members whose last token it samples
        self.planned = 0  # steps planned on the instance (plans that scheduled something)
        self.emitted = 0  # of them, steps whose tokens were emitted
        self.emit_ns = -1  # when the last emission happened
        self.next_gid = 1
        self.last_plan_n = 0  # members the plan just made scheduled

    # -- membership -------------------------------------------------------------------------------

    def join(self, r: Request) -> None:
        """A plain decode joins at the plan being made (`planned`): it is scheduled by this plan and
        every later one until the one that samples its last token."""
        p = self.planned
        gid = self.next_gid
        self.next_gid = gid + 1
        key = r.num_computed - p
        r.g_id = gid
        r.g_step = p
        r.g_key = key
        last = p + r.stop_len - r.num_output - r.placeholders - 1
        r.g_last = last
        self.members[r] = None
        del self.others[r]
        self.agg[gid] = r
        if self.n:
            if key < self.key_min:
                self.key_min = key
            elif key > self.key_max:
                self.key_max = key
        else:
            self.key_min = self.key_max = key
            self.stale = False
        self.n += 1
        self.key_sum += key
        self.phase[key % self.block_size] += 1
        at = self.finish_at.get(last)
        if at is None:
            self.finish_at[last] = [r]
        else:
            at.append(r)

    def _drop(self, r: Request) -> None:
        """Take a member out of the aggregates (it is scheduled by no further plan)."""
        if self.agg.pop(r.g_id, None) is not None:
            key = r.g_key
            self.n -= 1
            self.key_sum -= key
            self.phase[key % self.block_size] -= 1
            if key == self.key_min or key == self.key_max:
                self.stale = True

    def begin_plan(self) -> None:
        """Members whose last token is in flight (async scheduling) are scheduled no more."""
        for r in self.finish_at.get(self.planned - 1, ()):
            self._drop(r)

    def true_counts(self, r: Request) -> tuple[int, int, int]:
        """A member's (num_computed, num_output, placeholders) now."""
        s0 = r.g_step
        end = r.g_last + 1
        plans = (self.planned if self.planned < end else end) - s0
        emits = (self.emitted if self.emitted < end else end) - s0
        if emits < 0:
            emits = 0
        return r.num_computed + plans, r.num_output + emits, r.placeholders + plans - emits

    def settle(self, r: Request, inst: Instance) -> None:
        """Write a member's true state back into its fields and take it out of the group."""
        computed, out, placeholders = self.true_counts(r)
        if out > r.num_output:
            r.last_token_ns = self.emit_ns
        r.num_computed = computed
        r.num_output = out
        r.placeholders = placeholders
        self._drop(r)
        del self.members[r]
        r.g_id = 0
        inst.kv.settle(r)

    def dissolve(self, inst: Instance) -> None:
        """Every member back to its own fields; all running requests are `others` again. A step in
        flight (async scheduling) samples its members' tokens explicitly instead."""
        members = list(self.members)
        for r in members:
            self.settle(r, inst)
        self.finish_at.clear()
        self.stale = False
        assert not self.agg and self.n == 0 and self.key_sum == 0
        if inst.busy and inst.group_n:
            inst.samplers = sorted([*inst.samplers, *members], key=_pos)
            inst.group_n = 0
        self.others = dict.fromkeys(inst.running)

    # -- what a plan needs ------------------------------------------------------------------------

    def block_need(self) -> int:
        """New KV blocks the members need for the plan being made."""
        return self.phase[-self.planned % self.block_size] if self.n else 0

    def contexts(self) -> tuple[int, int, int]:
        """(sum, shortest, longest) of the members' contexts in the plan being made."""
        if self.stale:
            keys = [r.g_key for r in self.agg.values()]
            self.key_min = min(keys)
            self.key_max = max(keys)
            self.stale = False
        base = self.planned + 1
        return self.key_sum + self.n * base, self.key_min + base, self.key_max + base

    # -- debug views ------------------------------------------------------------------------------

    def expose(self, inst: Instance) -> list[tuple[Request, tuple]]:
        """Write every member's true state into its fields, for the invariant checks; `hide` undoes it."""
        saved = []
        for r in self.members:
            fields = (r.num_computed, r.num_output, r.placeholders, r.blocks, r.n_anon, r.kv_capacity, r.g_id,
                      r.last_token_ns)
            saved.append((r, fields))
            computed, out, r.placeholders = self.true_counts(r)
            if out > r.num_output:
                r.last_token_ns = self.emit_ns
            r.num_computed, r.num_output = computed, out
            r.g_id = 0  # (as if it were not a member: its fields are true now)
            inst.kv.settle(r)
        return saved

    @staticmethod
    def hide(saved: list[tuple[Request, tuple]]) -> None:
        for r, fields in saved:
            (r.num_computed, r.num_output, r.placeholders, r.blocks, r.n_anon, r.kv_capacity, r.g_id,
             r.last_token_ns) = fields


def _pos(r: Request) -> int:
    return r.pos
