"""A progress bar for long simulations: simulated time, requests done, events per second.

It appears only on a terminal and only once a run has taken `delay_s` of wall-clock time, so short
runs, pipes, files and `--quiet` print nothing. The bar is transient: it is erased when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

DELAY_S = 1.0


class ProgressBar:
    """A `simulate(progress=...)` callback that draws a rich progress bar on `console`."""

    def __init__(self, console: Console, *, delay_s: float = DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.delay_s = delay_s
        self.clock = clock
        self.enabled = console.is_terminal
        self._start = clock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.updates = 0  # progress reports drawn (for tests)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, p: Any) -> None:
        """Take a `llmsim.runtime.simulator.Progress`."""
        if not self.enabled:
            return
        elapsed = self.clock() - self._start
        if self._progress is None:
            if p.done or elapsed < self.delay_s:
                return
            self._progress = Progress(
                TextColumn("[bold]simulating[/]"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("sim", total=None, status="")
        assert self._task is not None
        fraction = _fraction(p)
        rate = p.events / elapsed if elapsed > 0 else 0.0
        status = (f"{p.simulated_ns / 1e9:,.1f} s simulated, {p.completed:,}"
                  f"{'' if p.total_requests is None else f'/{p.total_requests:,}'} requests done, "
                  f"{rate:,.0f} events/s")
        self._progress.update(self._task, total=None if fraction is None else 1.0, completed=fraction or 0.0,
                              status=status)
        self.updates += 1
        if p.done:
            self.close()


def _fraction(p: Any) -> float | None:
    """How far the run is: requests finished (completed or rejected) of those to come, or simulated
    time of `max_time_ns`, whichever is further; None when neither is known."""
    shares = []
    if p.total_requests:
        shares.append((p.completed + p.rejected) / p.total_requests)
    if p.max_time_ns:
        shares.append(p.simulated_ns / p.max_time_ns)
    return min(max(shares), 1.0) if shares else None
