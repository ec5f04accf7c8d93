"""Routers: which instance an arriving request goes to. Small policy classes, registered by name.

A router has one decision method, `choose(request, instances) -> int`, returning a position in
`instances` (the router's own instances, in the order its spec lists them). It may read the public
views of an instance (`load`, `num_running`, `num_waiting`, `outstanding_tokens`,
`prefill_backlog_tokens`, `cached_tokens(request)`, `num_free_blocks`, `spec`, `cost`) but changes
nothing. Add a policy with `@register_router("name")` or through the `llmsim.routers` entry-point
group (docs/plugins.md).

Policies that break ties do so in turn, starting after the instance they chose last, so that every
instance stays reachable however the load is spread; random ones draw from a PCG64 stream seeded by
the simulation's seed and the router's name.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from llmsim.runtime.batch import BatchShape
from llmsim.runtime.registry import Registry
from llmsim.runtime.request import Request

if TYPE_CHECKING:
    from llmsim.runtime.instance import Instance


class Router:
    """Base class of router policies. `seed` is for policies that draw random numbers; `options`
    are the policy's settings from the spec (`RouterSpec.options`)."""

    __slots__ = ("num_instances", "options", "seed")

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        self.num_instances = num_instances
        self.seed = seed
        self.options = dict(options or {})

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        raise NotImplementedError


ROUTERS: Registry[Router] = Registry("router", "llmsim.routers")
register_router = ROUTERS.register


def router_seed(seed: int, name: str) -> int:
    """The seed of router `name` in a simulation seeded with `seed` (the simulator passes it)."""
    return int(np.random.SeedSequence([seed, 4, zlib.crc32(name.encode())]).generate_state(1)[0])


@register_router("round_robin")
class RoundRobin(Router):
    """Instances in turn, in the order the router lists them."""

    __slots__ = ("_next",)

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(num_instances, seed, options)
        self._next = 0

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        i = self._next
        self._next = i + 1 if i + 1 < len(instances) else 0
        return i


@register_router("random")
class Random(Router):
    """A uniformly random instance, from a seeded stream."""

    __slots__ = ("_draws", "_rng")

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(num_instances, seed, options)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._draws: list[int] = []

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        if not self._draws:  # draw in batches: one numpy call per 1,024 requests
            self._draws = self._rng.integers(0, len(instances), 1024).tolist()[::-1]
        return self._draws.pop()


class _Balancing(Router):
    """Lowest score wins; ties go to the first tied instance after the one chosen last."""

    __slots__ = ("_last",)

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(num_instances, seed, options)
        self._last = -1

    def pick(self, n: int, score: Callable[[int], Any]) -> int:
        """The position (of `n`) with the lowest `score(position)`."""
        best_i, best = -1, None
        for k in range(1, n + 1):
            i = (self._last + k) % n
            s = score(i)
            if best is None or s < best:
                best_i, best = i, s
        self._last = best_i
        return best_i


@register_router("least_loaded")
class LeastLoaded(_Balancing):
    """The instance with the fewest requests, running or waiting (including those waiting for a
    transfer)."""

    __slots__ = ()

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        return self.pick(len(instances), lambda i: instances[i].load)


@register_router("least_outstanding_tokens")
class LeastOutstandingTokens(_Balancing):
    """The instance with the fewest tokens still to compute (`Instance.outstanding_tokens`)."""

    __slots__ = ()

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        return self.pick(len(instances), lambda i: instances[i].outstanding_tokens)


@register_router("power_of_two")
class PowerOfTwo(Router):
    """Two distinct instances drawn at random; the less loaded of them (the first on a tie).
    Mitzenmacher's "power of two choices"."""

    __slots__ = ("_rng",)

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(num_instances, seed, options)
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        n = len(instances)
        if n == 1:
            return 0
        a = int(self._rng.integers(0, n))
        b = int(self._rng.integers(0, n - 1))
        b += b >= a  # uniform over the others
        return b if instances[b].load < instances[a].load else a


# SGLang's cache-aware router (sgl-router), its documented defaults: route by prefix match when
# the best match covers more than `cache_threshold` of the prompt, unless the load is imbalanced
# (max - min > `balance_abs` and max > `balance_rel` x min), in which case the least loaded wins.
PREFIX_CACHE_THRESHOLD = 0.5
PREFIX_BALANCE_ABS = 32
PREFIX_BALANCE_REL = 1.0001


@register_router("prefix_affinity")
class PrefixAffinity(_Balancing):
    """The instance holding the longest cached prefix of the request (device memory and KV tiers),
    when it covers more than `cache_threshold` (0.5) of the prompt and the load is balanced;
    otherwise the least loaded instance. Load is imbalanced when the most and least loaded
    instances differ by more than `balance_abs` (32) requests and by a factor over `balance_rel`
    (1.0001). The thresholds are SGLang's cache-aware router's defaults; options override them."""

    __slots__ = ("abs", "rel", "threshold")

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(num_instances, seed, options)
        self.threshold = float(self.options.get("cache_threshold", PREFIX_CACHE_THRESHOLD))
        self.abs = int(self.options.get("balance_abs", PREFIX_BALANCE_ABS))  # type: ignore[arg-type]
        self.rel = float(self.options.get("balance_rel", PREFIX_BALANCE_REL))

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        loads = [inst.load for inst in instances]
        lo, hi = min(loads), max(loads)
        if not (hi - lo > self.abs and hi > lo * self.rel):
            cached = [inst.cached_tokens(request) for inst in instances]
            best = max(cached)
            if best > self.threshold * request.prompt_len:
                return self.pick(len(instances), lambda i: (-cached[i], loads[i]))
        return self.pick(len(instances), lambda i: loads[i])


@register_router("slo_aware")
class SLOAware(_Balancing):
    """The instance where the request's TTFT is predicted to be shortest, among those where adding it
    keeps the predicted decode step within the TPOT objective (when any does).

    Both predictions use the instance's own cost model:

    - TTFT: the prompt tokens queued or running ahead of the request that are not computed yet
      (`prefill_backlog_tokens`) plus its own prompt less the prefix the instance has cached
      (`cached_tokens`), as full-budget prefill steps (`max_num_batched_tokens` tokens each);
    - decode step: the running requests and this one decoding at the instance's mean context (KV
      tokens held / requests); with speculative decoding, divided by the expected tokens per step.

    The TPOT objective (`tpot_ns`) comes from the spec's `slo` blocks (their tightest `tpot` bound
    over the router's requests). Any TTFT bound is best met by the shortest predicted TTFT, so it
    does not change the choice.
    """

    __slots__ = ("tpot_ns",)

    def __init__(self, num_instances: int, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(num_instances, seed, options)
        tpot = self.options.get("tpot_ns")
        self.tpot_ns = int(tpot) if tpot is not None else None  # type: ignore[arg-type]

    @staticmethod
    def predict_ttft_ns(request: Request, inst: Instance) -> int:
        tokens = inst.prefill_backlog_tokens + request.prompt_len - inst.cached_tokens(request)
        budget = inst.spec.max_num_batched_tokens
        full, rest = divmod(max(tokens, 1), budget)
        t = full * inst.cost.step_time_ns(BatchShape.prefill(budget)) if full else 0
        if rest:
            t += inst.cost.step_time_ns(BatchShape.prefill(rest))
        return t

    @staticmethod
    def predict_decode_step_ns(inst: Instance) -> int:
        """Time per output token of a decode step (a speculative step over its expected tokens)."""
        n = inst.num_running + 1
        kv = inst.kv
        ctx = max(1, (kv.num_blocks - kv.num_free) * kv.block_size // n)
        t = inst.cost.step_time_ns(BatchShape.decode(n, ctx))
        sd = inst.spec.speculative
        return t if sd is None else int(t / sd.tokens_per_step)

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        ttft = [self.predict_ttft_ns(request, inst) for inst in instances]
        n = len(instances)
        if self.tpot_ns is None:
            return self.pick(n, lambda i: ttft[i])
        step = [self.predict_decode_step_ns(inst) for inst in instances]
        limit = self.tpot_ns
        return self.pick(n, lambda i: (step[i] > limit, ttft[i], step[i]))
