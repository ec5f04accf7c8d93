"""KV tiers below device memory: stores of KV blocks, by prefix-cache key, behind a link.

A tier holds whole KV blocks of an instance (all its tensor-parallel ranks: `block_bytes` each) under
the same keys as the device prefix cache, so a block found there can be loaded back instead of
recomputed. Blocks arrive in two ways (the instance decides, see instance.py):

- offload: a cached block evicted from device memory is written to the tier instead of dropped;
- swap: the blocks of a preempted request are written to the tier at once.

Writes and loads are transfers over the tier's link and contend with each other (and, for a shared
tier, with every instance that shares it). A block being written cannot be hit until its write
completes. When a tier is full, its eviction policy picks a victim, which moves to the next tier down
(another transfer, over that tier's link) or, from the last tier, is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmsim.runtime.eviction import EVICTIONS
from llmsim.runtime.spec import TierSpec
from llmsim.runtime.transfer import TransferNetwork

if TYPE_CHECKING:
    from llmsim.runtime.timeline import TimelineRecorder


class KVTier:
    """One KV store behind one link, with a block capacity and an eviction policy."""

    __slots__ = ("_touch", "block_bytes", "capacity", "entries", "evicted", "group", "link", "loaded", "lower",
                 "medium", "name", "network", "offered", "peak", "policy", "series", "shared", "stored",
                 "timeline", "dropped")

    def __init__(self, name: str, spec: TierSpec, block_bytes: int, network: TransferNetwork,
                 timeline: TimelineRecorder | None = None, lower: KVTier | None = None) -> None:
        self.name = name
        self.group = spec.name  # copies of one pool tier are reported together
        self.medium = spec.medium
        self.shared = spec.shared
        self.block_bytes = block_bytes
        self.capacity = spec.capacity_bytes // block_bytes  # whole blocks
        self.network = network
        self.link = network.link(f"{name}.link", spec.link, spec.name)
        self.policy = EVICTIONS.get(spec.eviction)()
        self._touch = self.policy.touch_on_hit
        self.lower = lower  # the next tier down, or None
        self.entries: OrderedDict[object, bool] = OrderedDict()  # key -> written; oldest first
        self.offered = 0  # blocks offered (from device memory or the tier above)
        self.stored = 0  # blocks written in (offered blocks it did not have)
        self.evicted = 0  # blocks that left it, to the tier below or dropped
        self.dropped = 0  # of those, blocks lost (last tier, or still being written)
        self.loaded = 0  # blocks loaded back into device memory
        self.peak = 0
        self.timeline = timeline
        self.series = timeline.series("tiers", spec.name) if timeline is not None else -1

    def __len__(self) -> int:
        return len(self.entries)

    def has(self, key: object) -> bool:
        """Whether the tier holds the block, written and ready to load."""
        return self.entries.get(key, False)

    def store(self, keys: Sequence[object], now: int) -> int:
        """Write the blocks `keys` (oldest first); those already held are touched. Returns the
        blocks written."""
        entries = self.entries
        self.offered += len(keys)
        new = []
        for k in dict.fromkeys(keys):  # a key may come twice (identical blocks computed at once)
            if k in entries:
                if self._touch:
                    entries.move_to_end(k)
            else:
                new.append(k)
        if not new:
            return 0
        if len(new) > self.capacity:  # more than it can hold: the youngest stay
            self.dropped += len(new) - self.capacity
            self.offered -= len(new) - self.capacity
            new = new[len(new) - self.capacity:]
        victims = []
        before = len(entries)
        while len(entries) + len(new) > self.capacity:
            key = self.policy.victim(entries)
            if entries.pop(key):
                victims.append(key)
            else:
                self.dropped += 1
            self.evicted += 1
        for k in new:
            entries[k] = False
        self.stored += len(new)
        if len(entries) > self.peak:
            self.peak = len(entries)
        self._level(now, len(entries) - before)
        self.network.start(now, (self.link,), len(new) * self.block_bytes, self._written, tuple(new))
        if victims:
            if self.lower is not None:
                self.lower.store(victims, now)
            else:
                self.dropped += len(victims)
        return len(new)

    def _written(self, now: int, keys: tuple[object, ...]) -> None:
        entries = self.entries
        for k in keys:
            if k in entries:
                entries[k] = True

    def load(self, keys: Sequence[object], now: int, callback: Callable[[int, Any], None], arg: Any) -> None:
        """Copy the blocks `keys` back to device memory; `callback(time, arg)` when they are there."""
        if self._touch:
            for k in keys:
                self.entries.move_to_end(k)
        self.loaded += len(keys)
        self.network.start(now, (self.link,), len(keys) * self.block_bytes, callback, arg)

    def _level(self, now: int, delta: int) -> None:
        if self.timeline is not None and delta:
            self.timeline.change(self.series, now, delta)

    def check_invariants(self) -> None:
        """Blocks are conserved: what came in and did not leave is what it holds, within capacity."""
        assert len(self.entries) <= self.capacity, f"tier {self.name}: {len(self.entries)} > {self.capacity}"
        assert self.stored - self.evicted == len(self.entries), (
            f"tier {self.name}: {self.stored} stored - {self.evicted} evicted != {len(self.entries)} held"
        )
