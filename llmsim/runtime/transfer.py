"""Data transfers over links with bandwidth, latency and contention (KV handoff, KV tiers).

A `Link` is one physical link of a `LinkSpec` kind. A transfer crosses one or more links (a sender's
and a receiver's); at any moment each link splits its bandwidth equally among the transfers on it,
and a transfer moves at the smallest share it gets on the links it crosses. Rates change only when a
transfer starts or finishes, so `TransferNetwork` re-times every transfer in flight at those moments
(exact `Fraction` arithmetic on bytes) and keeps one pending engine event: the next moment a transfer's
last byte leaves. The transfer is delivered `latency_ns` later. Hence an uncontended transfer of `n`
bytes takes exactly `latency_ns + ceil(n * 1e9 / bandwidth)` ns.

The share is equal per link, not max-min fair: bandwidth a transfer cannot use because another link
limits it is not handed to the others. With one link per transfer (tiers) the two are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from llmsim.runtime.engine import PRIO_STEP_END, Engine
from llmsim.runtime.spec import LinkSpec

if TYPE_CHECKING:
    from llmsim.runtime.timeline import TimelineRecorder

NS_PER_S = 1_000_000_000


class Link:
    """One link: its bandwidth in bytes per ns (exact), latency, and what crossed it."""

    __slots__ = ("_busy_since", "_throughput", "active", "bandwidth", "busy_ns", "bytes", "group", "kind",
                 "latency_ns", "name", "series", "transfers")

    def __init__(self, name: str, spec: LinkSpec, group: str) -> None:
        self.name = name
        self.group = group  # links reported together (one per instance of a pool, say)
        self.kind = spec.kind
        self.bandwidth = Fraction(spec.bandwidth_bytes_per_s) / NS_PER_S  # bytes per ns
        self.latency_ns = spec.latency_ns
        self.active = 0  # transfers on the link now
        self.bytes = 0  # bytes that crossed it (counted when a transfer starts)
        self.transfers = 0
        self.busy_ns = 0  # time with at least one transfer on it
        self._busy_since = -1
        self._throughput = 0.0  # bytes per ns now, for the timeline
        self.series = -1  # timeline series of its group, -1: none


class Transfer:
    __slots__ = ("arg", "callback", "links", "nbytes", "rate", "remaining", "start_ns")

    def __init__(self, links: tuple[Link, ...], nbytes: int, start_ns: int,
                 callback: Callable[[int, Any], None], arg: Any) -> None:
        self.links = links
        self.nbytes = nbytes
        self.remaining = Fraction(nbytes)
        self.rate = Fraction(0)
        self.start_ns = start_ns
        self.callback = callback
        self.arg = arg


class TransferNetwork:
    """Every transfer in flight in one simulation, re-timed whenever one starts or finishes."""

    __slots__ = ("_active", "_engine", "_last", "_version", "links", "timeline")

    def __init__(self, engine: Engine, timeline: TimelineRecorder | None = None) -> None:
        self._engine = engine
        self._active: list[Transfer] = []
        self._last = 0  # when the transfers in flight were last advanced
        self._version = 0  # identifies the one pending completion event; older ones are stale
        self.links: list[Link] = []
        self.timeline = timeline

    def link(self, name: str, spec: LinkSpec, group: str) -> Link:
        """A new link of kind `spec`, reported under `group`."""
        link = Link(name, spec, group)
        if self.timeline is not None:
            link.series = self.timeline.series("links", group)
        self.links.append(link)
        return link

    @property
    def in_flight(self) -> int:
        return len(self._active)

    def start(self, now: int, links: Sequence[Link], nbytes: int, callback: Callable[[int, Any], None],
              arg: Any = None) -> None:
        """Move `nbytes` over `links`; `callback(time, arg)` runs when the last byte has arrived."""
        assert links and nbytes >= 0
        self._advance(now)
        t = Transfer(tuple(links), nbytes, now, callback, arg)
        for link in t.links:
            link.bytes += nbytes
            link.transfers += 1
            if link.active == 0:
                link._busy_since = now
            link.active += 1
        self._active.append(t)
        self._retime(now)

    def _advance(self, now: int) -> None:
        elapsed = now - self._last
        if elapsed:
            for t in self._active:
                t.remaining -= t.rate * elapsed
        self._last = now

    def _retime(self, now: int) -> None:
        """Finish the transfers whose bytes have all left, share the links among the others, and
        schedule the next finish."""
        active = self._active
        done = [t for t in active if t.remaining <= 0]
        if done:
            active[:] = [t for t in active if t.remaining > 0]
            for t in done:
                latency = 0
                for link in t.links:
                    link.active -= 1
                    if link.active == 0:
                        link.busy_ns += now - link._busy_since
                    latency = max(latency, link.latency_ns)
                self._engine.at(now + latency, PRIO_STEP_END, t.callback, t.arg)
        changed: set[Link] = set()
        for t in active:
            t.rate = min(link.bandwidth / link.active for link in t.links)
            changed.update(t.links)
        for t in done:
            changed.update(t.links)
        if self.timeline is not None:
            self._record(now, changed)
        self._version += 1
        if active:
            finish = min(now + -(-t.remaining // t.rate) for t in active)
            self._engine.at(int(finish), PRIO_STEP_END, self._on_finish, self._version)

    def _on_finish(self, now: int, version: int) -> None:
        if version != self._version:  # re-timed since: a later event stands for this one
            return
        self._advance(now)
        self._retime(now)

    def _record(self, now: int, links: set[Link]) -> None:
        """Throughput of each link whose transfers changed, for the timeline (bytes per ns)."""
        timeline = self.timeline
        assert timeline is not None
        rates: dict[Link, Fraction] = {}
        for t in self._active:
            for link in t.links:
                if link in links:
                    rates[link] = rates.get(link, Fraction(0)) + t.rate
        for link in sorted(links, key=lambda lk: lk.name):
            new = float(rates.get(link, 0))
            if new != link._throughput:
                timeline.change(link.series, now, new - link._throughput)
                link._throughput = new

    def finish(self, now: int) -> None:
        """Close the busy time of links still busy at the end of the run."""
        for link in self.links:
            if link.active:
                link.busy_ns += now - link._busy_since
                link._busy_since = now


def transfer_ns(nbytes: int, spec: LinkSpec) -> int:
    """How long `nbytes` take over an idle link of kind `spec`: latency + bytes / bandwidth, in ns
    rounded up (what the network gives an uncontended transfer)."""
    return spec.latency_ns + -(-(nbytes * NS_PER_S) // Fraction(spec.bandwidth_bytes_per_s))
