"""Run a subprocess with a wall-clock limit and measure its CPU time and peak memory.

`os.wait4` returns the resource usage of exactly the child it reaps (unlike
`getrusage(RUSAGE_CHILDREN)`, which keeps the maximum over every child so far). Its `ru_maxrss` is
not quite the child's own, though: Linux carries the high-water mark of the memory the child had
before `exec` (the parent's, when spawned with vfork or fork) into it. Processes the bench controls
therefore also report `own_peak_rss_mb()` (`VmHWM` of the process's own address space), which the
bench prefers; `ru_maxrss` is the fallback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    """What one subprocess run cost."""

    returncode: int  # negative: killed by that signal
    wall_s: float  # from spawn to exit, as the parent saw it
    peak_rss_mb: float  # the child's own maximum resident set size
    user_s: float
    sys_s: float
    killed: bool  # the parent killed it at the hard limit


def maxrss_to_mb(ru_maxrss: int) -> float:
    """`ru_maxrss` in MB (10**6 bytes): Linux reports KiB, macOS bytes."""
    scale = 1 if sys.platform == "darwin" else 1024
    return ru_maxrss * scale / 1e6


def own_peak_rss_mb() -> float:
    """This process's peak resident memory since its `exec`, in MB (VmHWM; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6  # kB
    except OSError:
        pass
    import resource

    return maxrss_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path,
    stdout: Path,
    stderr: Path,
    timeout_s: float | None,
    env: Mapping[str, str] | None = None,
    grace_s: float = 10.0,
) -> Measured:
    """Run `cmd` with output to files; SIGTERM at `timeout_s`, SIGKILL `grace_s` later."""
    killed = threading.Event()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=out, stderr=err, env=dict(env) if env else None)

        exited = threading.Event()
        lock = threading.Lock()  # no signal once the child is reaped (its pid could be reused)

        def stop() -> None:
            for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
                with lock:
                    if exited.is_set():
                        return
                    killed.set()
                    os.kill(proc.pid, sig)
                if exited.wait(wait_s):
                    return

        timer = threading.Timer(timeout_s, stop) if timeout_s is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): never leave the child running
            with lock:
                exited.set()
                proc.kill()
            proc.wait()
            raise
        with lock:
            exited.set()
        if timer is not None:
            timer.cancel()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    return Measured(proc.returncode, wall, maxrss_to_mb(usage.ru_maxrss), usage.ru_utime, usage.ru_stime,
                    killed.is_set())

