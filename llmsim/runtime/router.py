"""Routers: which instance an arriving request goes to. Small policy classes, registered by name.

A router has one decision method, `choose(request, instances) -> int`, returning a position in
`instances` (the router's own instances, in the order its spec lists them). It may read the public
views of an instance (`num_waiting`, `num_running`, `num_free_blocks`, ...) but changes nothing.
Add a policy with `@register_router("name")` or through the `llmsim.routers` entry-point group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmsim.runtime.registry import Registry
from llmsim.runtime.request import Request

if TYPE_CHECKING:
    from llmsim.runtime.instance import Instance


class Router:
    """Base class of router policies. `seed` is for policies that draw random numbers."""

    __slots__ = ("num_instances", "seed")

    def __init__(self, num_instances: int, seed: int = 0) -> None:
        self.num_instances = num_instances
        self.seed = seed

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        raise NotImplementedError


ROUTERS: Registry[Router] = Registry("router", "llmsim.routers")
register_router = ROUTERS.register


@register_router("round_robin")
class RoundRobin(Router):
    """Instances in turn, in the order the router lists them."""

    __slots__ = ("_next",)

    def __init__(self, num_instances: int, seed: int = 0) -> None:
        super().__init__(num_instances, seed)
        self._next = 0

    def choose(self, request: Request, instances: Sequence[Instance]) -> int:
        i = self._next
        self._next = i + 1 if i + 1 < len(instances) else 0
        return i
