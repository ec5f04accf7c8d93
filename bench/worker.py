"""Run one llmsim job in this process and write its result as JSON.

    python -m bench.worker JOB.json

JOB.json: `{"kind": "run" | "calibrate" | "entries", "out": PATH, "timeout_s": S or null, ...}`.

- `run` (`spec`, `include`, optional `profile`: a .prof path): one case through the product path,
  `llmsim.cache.compile_file` (`load_spec` and `compile_spec`, or their result from llmsim's
  compiled-spec cache), `build_workload` and `simulate`, each phase timed on its own. At
  `timeout_s` (or on SIGTERM) the simulation is interrupted and the progress it had made is
  reported, read from the runtime's live engine and recorder objects, so that measuring needs no
  hook in the runtime (a progress callback would cost time inside the measured loop).
- `calibrate` (`spec`, `include`): simulate a saturation run; report its steady throughput.
- `entries`: the spec names of the hardware entries this llmsim finds.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

T_START = time.perf_counter()


class Interrupted(BaseException):
    """Raised inside the simulation when its time is up."""


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _progress() -> dict[str, Any]:
    """What the interrupted simulation had done, read from its live objects."""
    import gc

    from llmsim.runtime.engine import Engine
    from llmsim.runtime.instance import Instance
    from llmsim.runtime.metrics import Recorder

    out: dict[str, Any] = {"events": None, "simulated_s": None, "completed": None, "submitted": None,
                           "steps": None}
    objs = gc.get_objects()
    engines = [o for o in objs if type(o) is Engine]
    recorders = [o for o in objs if type(o) is Recorder]
    instances = [o for o in objs if type(o) is Instance]
    try:  # best effort: these are the runtime's internals, and they change
        if len(engines) == 1:
            out["events"] = engines[0].events
            out["simulated_s"] = engines[0].now / 1e9
        # No recorder yet, or one half built (a field not set yet): the simulation was being set up,
        # and requests arrive only once it runs, so none has arrived or completed.
        if not recorders:
            out["submitted"] = out["completed"] = 0
        elif len(recorders) == 1:
            try:
                out["submitted"] = recorders[0].submitted
                out["completed"] = recorders[0].completed
            except AttributeError:
                out["submitted"] = out["completed"] = 0
        if instances and all(hasattr(i, "steps") for i in instances):
            out["steps"] = sum(i.steps for i in instances)
    except Exception as exc:  # never lose the timing because of the progress report
        out["progress_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _compile_file() -> Any:
    """`llmsim.cache.compile_file`, or for an llmsim from before the cache (`--llmsim-rev`) the same
    two steps uncached."""
    try:
        from llmsim.cache import compile_file
    except ImportError:
        from llmsim.compiler import compile_spec
        from llmsim.hwdb.locate import default_paths
        from llmsim.lang import load_spec

        def compile_file(path: Path, *, search_paths: list[Path]) -> tuple[Any, Any]:
            hwdb = default_paths([])
            spec = load_spec(path, search_paths=search_paths, hwdb_paths=hwdb)
            return spec, compile_spec(spec, hwdb_paths=hwdb)

    return compile_file


PROBE_MIN_REQUESTS = 100_000  # runs long enough (seconds) for the per-step cost probe to tell


def _simulate_options(simulate: Any, requests: int) -> tuple[dict[str, Any], Any]:
    """`simulate`'s options for the product's plain run (`llmsimc spec.llms`, no report files),
    where the measured llmsim has them: no per-request rows (only the summary is read) and no
    timeline (it feeds only JSON and HTML reports); and, on long runs, the per-step cost probe as
    its progress callback (bench/flatness.py)."""
    known = simulate.__kwdefaults__ or {}
    options: dict[str, Any] = {}
    if "keep_requests" in known:
        options["keep_requests"] = False
    if "timeline_buckets" in known:
        options["timeline_buckets"] = 0
    probe = None
    if "progress" in known and requests >= PROBE_MIN_REQUESTS:
        from bench.flatness import StepCostProbe

        probe = StepCostProbe()
        options["progress"] = probe
    return options, probe


def _as_llmsimc() -> None:
    """What `llmsimc` sets up before it imports numpy (one OpenBLAS thread), where this llmsim has it."""
    try:
        from llmsim.cli.common import limit_blas_threads
    except ImportError:  # an llmsim from before it (`--llmsim-rev`)
        return
    limit_blas_threads()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Compile and simulate the job's spec; the measurements as a JSON-able dict."""
    t0 = time.perf_counter()
    compile_file = _compile_file()
    from llmsim.runtime import build_workload, simulate

    t1 = time.perf_counter()
    # the product's path (`llmsimc`): from llmsim's compiled-spec cache when it holds this spec
    spec, compiled = compile_file(Path(job["spec"]), search_paths=[Path(p) for p in job.get("include", [])])
    assert compiled is not None, "bench cases have no sweep"
    t2 = time.perf_counter()
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    t3 = time.perf_counter()
    timeout_s = job.get("timeout_s")
    deadline = None if timeout_s is None else max(0.001, timeout_s - (t3 - T_START))
    out: dict[str, Any] = {
        "import_s": t1 - t0,
        "compile_s": t2 - t1,
        "workload_s": t3 - t2,
        "requests": int(sum(len(w) for w, _ in workloads)),
        "kv_blocks": {name: plan.memory.kv_blocks for name, plan in compiled.plans.items()},
        "timed_out": False,
    }
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    if deadline is not None:
        signal.setitimer(signal.ITIMER_REAL, deadline)
    profiler = None
    if job.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    sim_max = spec.simulation.max_time_ns if spec.simulation else None
    options, probe = _simulate_options(simulate, out["requests"])
    t4 = time.perf_counter()
    c4 = time.process_time()
    try:
        if profiler is not None:
            profiler.enable()
        try:
            result = simulate(compiled.cluster, workloads, max_time_ns=sim_max, **options)
        finally:
            if profiler is not None:
                profiler.disable()
        t5 = time.perf_counter()
        c5 = time.process_time()
        signal.setitimer(signal.ITIMER_REAL, 0)
    except Interrupted as exc:
        t5 = time.perf_counter()
        c5 = time.process_time()
        signal.setitimer(signal.ITIMER_REAL, 0)
        out.update(timed_out=True, interrupted_by=str(exc), sim_s=t5 - t4, sim_cpu_s=c5 - c4, **_progress())
    else:
        summary = result.summary()
        t6 = time.perf_counter()
        metrics = summary["metrics"]
        out.update(
            sim_s=t5 - t4,
            sim_cpu_s=c5 - c4,
            summary_s=t6 - t5,
            events=summary["sim"]["events"],
            steps=summary["sim"]["steps"],
            simulated_s=summary["sim"]["simulated_s"],
            submitted=summary["requests"]["submitted"],
            completed=summary["requests"]["completed"],
            rejected=summary["requests"]["rejected"],
            preemptions=summary["requests"]["preemptions"],
            metrics={k: metrics[k] for k in ("ttft_ms", "tpot_ms", "e2e_ms")},
            step_cost=probe.summary(out["requests"]) if probe is not None else None,
        )
    if profiler is not None:
        profiler.dump_stats(job["profile"])
    from bench.measure import own_peak_rss_mb  # here: the harness's imports are not llmsim's start-up

    out["own_peak_rss_mb"] = own_peak_rss_mb()
    out["process_s"] = time.perf_counter() - T_START
    return out


def calibrate_job(job: dict[str, Any]) -> dict[str, Any]:
    """Simulate the job's saturation spec; its steady throughput (requests/s)."""
    from bench.calibrate import steady_throughput
    from llmsim.compiler import compile_spec
    from llmsim.hwdb.locate import default_paths
    from llmsim.lang import load_spec
    from llmsim.runtime import build_workload, simulate

    t0 = time.perf_counter()
    hwdb = default_paths([])
    spec = load_spec(Path(job["spec"]), search_paths=[Path(p) for p in job.get("include", [])], hwdb_paths=hwdb)
    compiled = compile_spec(spec, hwdb_paths=hwdb)
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    result = simulate(compiled.cluster, workloads)
    finish_s = result.columns["finish_ns"] / 1e9
    return {"throughput_per_s": steady_throughput(finish_s), "completed": len(finish_s),
            "wall_s": time.perf_counter() - t0}


def entries_job(_job: dict[str, Any]) -> dict[str, Any]:
    from llmsim.hwdb.locate import find_entries

    return {"entries": sorted(r.spec_name for r in find_entries(None))}


JOBS = {"run": run_job, "calibrate": calibrate_job, "entries": entries_job}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.worker JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    _as_llmsimc()
    result = JOBS[job.get("kind", "run")](job)
    Path(job["out"]).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
