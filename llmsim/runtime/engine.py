"""The discrete-event engine: one heap of (time_ns, priority, seq, callback, arg); nothing else.

The engine only orders events. It never compares callbacks or their arguments: `seq` is a monotonic
counter unique per engine, so ties at equal (time, priority) resolve in insertion order. Time is an
integer number of nanoseconds and never goes backwards.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

# Priorities at equal times: lower runs first. A step that ends at t emits its tokens before
# requests arriving at t are routed, and instances start their next step only after both, so every
# request present at t can join the step that starts at t.
PRIO_STEP_END = 0
PRIO_ARRIVAL = 1
PRIO_STEP_START = 2

Callback = Callable[[int, Any], None]


class Engine:
    __slots__ = ("_heap", "_seq", "events", "limit", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, Callback, Any]] = []
        self._seq = 0
        self.now = 0
        self.events = 0  # events processed
        self.limit: float = -1  # while `run` runs, the last time it processes events at (else -1)

    def at(self, time_ns: int, priority: int, callback: Callback, arg: Any = None) -> int:
        """Run `callback(time_ns, arg)` at `time_ns`; never in the past. Returns the event's `seq`."""
        assert time_ns >= self.now, f"event at {time_ns} ns scheduled in the past (now {self.now} ns)"
        seq = self._seq
        heappush(self._heap, (time_ns, priority, seq, callback, arg))
        self._seq = seq + 1
        return seq

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, until_ns: int | None = None) -> None:
        """Process events in order until none is left or the next one is after `until_ns`."""
        heap = self._heap
        limit = until_ns if until_ns is not None else float("inf")
        self.limit = limit
        events = 0
        try:
            while heap:
                if heap[0][0] > limit:
                    break
                time_ns, _, _, callback, arg = heappop(heap)
                assert time_ns >= self.now, "time went backwards"
                self.now = time_ns
                events += 1
                callback(time_ns, arg)
        finally:
            self.events += events
            self.limit = -1

    def claim_now(self) -> bool:
        """True, and one event counted, if no event is due now: an event a callback would add for now
        runs next either way, so the callback may run it at once instead of through the heap."""
        heap = self._heap
        if heap and heap[0][0] <= self.now:
            return False
        self.events += 1
        return True

    def claim(self, seq: int) -> bool:
        """True, and the event taken out and counted and `now` set to its time, if the event `seq`
        (from `at`) is the one `run` would process next; the caller then runs it itself, in a loop
        instead of one event at a time through the heap."""
        heap = self._heap
        head = heap[0]
        if head[2] != seq or head[0] > self.limit:
            return False
        heappop(heap)
        self.now = head[0]
        self.events += 1
        return True
