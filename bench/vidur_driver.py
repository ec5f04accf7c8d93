"""Run Vidur's own simulator with phase timings; executed by the Vidur virtual environment's Python.

    VENV/bin/python bench/vidur_driver.py OUT.json [--plan] -- <vidur.main arguments>

Without `--plan` this does exactly what `python -m vidur.main` does (parse the arguments into a
`SimulationConfig`, seed, build the `Simulator`, `run()` it, which also writes the metrics) and
records how long each part took and how many events the simulator processed. With `--plan` it only
asks Vidur's memory planner how many KV blocks and how large a batch the configuration gets, so that
llmsim can be given the same KV capacity.

Standalone on purpose: it imports neither llmsim nor the bench (only Vidur and the standard library).
"""

from __future__ import annotations

import json
import os
import sys
import time

# Run as a script, this file's folder (bench/) is first on sys.path; keep its modules out of Vidur's way.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


def _own_peak_rss_mb() -> float | None:
    """VmHWM: this process's own peak resident memory, in MB (None where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return None


def _plan(out_path: str) -> None:
    from vidur.config import SimulationConfig
    from vidur.utils.memory_planner import MemoryPlanner

    config = SimulationConfig.create_from_cli_args()
    cluster = config.cluster_config
    cache = cluster.cache_config
    max_tokens = config.request_generator_config.max_tokens
    kv_tokens = int(MemoryPlanner(cluster.replica_config, cache).get_max_kv_cache_size_in_tokens())
    # As vidur.scheduler.replica_scheduler.base_replica_scheduler sizes the cache when num_blocks is unset.
    num_blocks = cache.num_blocks or (max_tokens // cache.block_size) * (kv_tokens // max_tokens)
    doc = {
        "kv_tokens": kv_tokens,
        "num_blocks": int(num_blocks),
        "block_size": cache.block_size,
        "watermark_blocks": int(cache.watermark_blocks_fraction * num_blocks),
        "max_tokens_per_request": max_tokens,
        "batch_size_cap": cluster.replica_scheduler_config.batch_size_cap,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def _run(out_path: str) -> None:
    t0 = time.perf_counter()
    from vidur.config import SimulationConfig
    from vidur.simulator import Simulator
    from vidur.utils.random import set_seeds

    t1 = time.perf_counter()
    config = SimulationConfig.create_from_cli_args()
    set_seeds(config.seed)
    simulator = Simulator(config)  # trains or loads the predictors, generates the requests
    t2 = time.perf_counter()

    counts = {"events": len(simulator._event_queue)}  # the arrivals queued so far
    add_event = simulator._add_event

    def counting_add_event(event: object) -> None:
        counts["events"] += 1
        add_event(event)

    simulator._add_event = counting_add_event  # type: ignore[method-assign]
    marks: dict[str, float] = {}
    write_output = simulator._write_output

    def timed_write_output() -> None:
        marks["loop_end"] = time.perf_counter()
        write_output()

    simulator._write_output = timed_write_output  # type: ignore[method-assign]
    simulator.run()
    t3 = time.perf_counter()
    loop_end = marks.get("loop_end", t3)
    doc = {
        "import_s": t1 - t0,
        "init_s": t2 - t1,
        "loop_s": loop_end - t2,
        "write_s": t3 - loop_end,
        "events": counts["events"],
        "simulated_s": float(simulator._time),
        "output_dir": config.metrics_config.output_dir,
        "own_peak_rss_mb": _own_peak_rss_mb(),
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def main() -> None:
    argv = sys.argv[1:]
    if len(argv) < 2 or "--" not in argv:
        sys.exit("usage: vidur_driver.py OUT.json [--plan] -- <vidur.main arguments>")
    split = argv.index("--")
    own, vidur_args = argv[:split], argv[split + 1 :]
    out_path = own[0]
    sys.argv = ["vidur.main", *vidur_args]
    if "--plan" in own[1:]:
        _plan(out_path)
    else:
        _run(out_path)


if __name__ == "__main__":
    main()
