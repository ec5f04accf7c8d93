"""Eviction policies of KV tiers: which block a full tier gives up. Registered by name.

A tier keeps its blocks in an ordered dict, oldest first. A policy has one decision method,
`victim(entries)`, returning the key of the block to move to the next tier down (or drop); and a
class attribute, `touch_on_hit`, saying whether a hit moves a block to the young end (LRU) or leaves
it where it was inserted (FIFO). Add one with `@register_eviction("name")` or through the
`llmsim.eviction` entry-point group; `TierSpec.eviction` names it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from llmsim.runtime.registry import Registry


class EvictionPolicy:
    """Base class of tier eviction policies."""

    touch_on_hit: ClassVar[bool] = True

    def victim(self, entries: OrderedDict[object, bool]) -> object:
        """The key to evict from a full tier. `entries` maps key -> written (False while the write
        into the tier is still in flight), oldest first; it is never empty."""
        raise NotImplementedError


EVICTIONS: Registry[EvictionPolicy] = Registry("eviction", "llmsim.eviction")
register_eviction = EVICTIONS.register


@register_eviction("lru")
class LRU(EvictionPolicy):
    """Least recently used first: a hit makes a block young again."""

    def victim(self, entries: OrderedDict[object, bool]) -> object:
        return next(iter(entries))


@register_eviction("fifo")
class FIFO(EvictionPolicy):
    """First in, first out: blocks leave in the order they were stored, hits or not."""

    touch_on_hit = False

    def victim(self, entries: OrderedDict[object, bool]) -> object:
        return next(iter(entries))
