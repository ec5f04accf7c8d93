"""`python -m bench` / `llmsim bench`: run the cases, print the table, compare with the baseline.

For each case the bench writes a `.llms` spec under `.bench-cache/runs/<case>/`, runs it in a fresh
`python -m bench.worker` process (the product path: load_spec, compile_spec, build_workload,
simulate) and, for Vidur-matched cases, replays the same requests in Vidur. Wall times are of warm
runs: the OS file cache is warm (every case reads the same files) and Vidur's predictors are trained
and cached before any timed Vidur run. Only the standard library is imported at module level, so
`llmsim --help` stays instant.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cases import (
    AZURE_CONV,
    DATA_DIR,
    FIXED_512_128,
    MATCHED_DEVICE,
    REPO_ROOT,
    SEED,
    SHAREGPT,
    Case,
    all_cases,
    select,
    spec_text,
    with_hardware,
)
from bench.runner import Runner, WorkerError, export_rev

BASELINE = Path(__file__).resolve().parent / "baseline.json"
INCLUDE = (DATA_DIR, AZURE_CONV.parent)  # `-I` folders: the Llama-2 config, the Azure trace
RUNS_DIR = REPO_ROOT / ".bench-cache" / "runs"
MATCHED_RATE_PER_S = 2.0  # Vidur-matched cases; see docs/performance.md ("Matched with Vidur")
QUICK_TIMEOUT_S = 120.0
FULL_TIMEOUT_S = 900.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The bench's options (shared by `python -m bench` and `llmsim bench`)."""
    p.add_argument("--quick", action="store_true", help="a reduced set of cases (under five minutes)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", type=Path, metavar="PATH",
                   help="write the results table in Markdown (for docs/performance.md)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help=f"per-case wall-clock limit in seconds (default {QUICK_TIMEOUT_S:.0f} with --quick, "
                   f"else {FULL_TIMEOUT_S:.0f}); a case over it is reported as timed out, with its progress")
    p.add_argument("--only", action="append", metavar="TEXT", help="only cases whose name contains TEXT (repeatable)")
    p.add_argument("--max-requests", type=int, metavar="N", help="skip cases with more than N requests")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each llmsim case N times and keep the fastest (default 1)")
    p.add_argument("--load", type=float, default=0.9, metavar="F",
                   help="Poisson rate as a fraction of the calibrated saturation throughput (default 0.9)")
    p.add_argument("--no-vidur", action="store_true", help="skip Vidur (its columns are null)")
    p.add_argument("--no-install", action="store_true",
                   help="do not install Vidur or llmsim's bench environment if missing")
    p.add_argument("--no-venv", action="store_true",
                   help="run llmsim's workers on this interpreter, not in .bench-cache/llmsim-venv")
    p.add_argument("--baseline", type=Path, default=BASELINE, metavar="PATH",
                   help="figures to compare with (default bench/baseline.json)")
    p.add_argument("--update-baseline", action="store_true", help="record this run as the new baseline")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a case is slower than the baseline beyond noise")
    p.add_argument("--llmsim-src", type=Path, metavar="DIR",
                   help="measure the llmsim in DIR (a folder holding llmsim/ and hardware_db/)")
    p.add_argument("--llmsim-rev", metavar="REV",
                   help="measure llmsim as of commit REV (exported with git archive into .bench-cache/src/)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--profile", metavar="CASE",
                   help="profile one case's simulation with cProfile (and py-spy if installed) and exit")
    p.add_argument("--top", type=int, default=25, metavar="N", help="hotspots to print with --profile")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="llmsim's benchmark: speed and scale, "
                                "side by side with Vidur")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)  # stop the case running now, too (see bench/measure.py)
    args = build_parser().parse_args(argv)
    args.command_line = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def command_line(args: argparse.Namespace) -> str:
    """How this run was started, for the record."""
    return getattr(args, "command_line", None) or " ".join(["llmsim", *sys.argv[1:]])


# -- the machine ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python and llmsim versions, and the commit, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    commit = None
    try:
        proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=False)
        commit = proc.stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "llmsim"],
                               cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout.strip()
        if commit and dirty:
            commit += "+uncommitted llmsim/ changes"
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        llmsim_version = version("llmsim")
    except PackageNotFoundError:
        llmsim_version = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "llmsim": llmsim_version, "commit": commit}


# -- one case ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """Everything the bench reports about one case."""

    case: Case
    rate_per_s: float | None = None
    hardware: str = ""
    llmsim: dict[str, Any] = field(default_factory=dict)  # worker output + process measurements
    cold: dict[str, Any] = field(default_factory=dict)  # the first run: compiled-spec cache empty
    llmsim_error: str | None = None
    vidur: dict[str, Any] | None = None
    vidur_note: str | None = None  # why the Vidur column is null

    @property
    def timed_out(self) -> bool:
        return bool(self.llmsim.get("timed_out"))

    def to_json(self) -> dict[str, Any]:
        c, m = self.case, self.llmsim
        ok = not self.timed_out and self.llmsim_error is None
        wall = m.get("process_wall_s")
        sim = m.get("sim_s")
        completed = m.get("completed")
        vw = self.vidur.get("wall_s") if self.vidur else None
        ratio = vw / wall if vw and wall and ok else None
        vs = self.vidur.get("loop_s") if self.vidur else None
        sim_ratio = vs / sim if vs and sim and ok else None
        cpu = m["user_s"] + m["sys_s"] if "user_s" in m else None
        vcpu = self.vidur.get("cpu_s") if self.vidur else None
        cpu_ratio = vcpu / cpu if vcpu and cpu and ok else None
        cold = self.cold.get("process_wall_s") if not self.cold.get("timed_out") else None
        return {
            "name": c.name,
            "requests": c.requests,
            "instances": c.instances,
            "llmsim_wall_s": wall,
            "vidur_wall_s": vw,
            "ratio": ratio,
            "llmsim_cold_wall_s": cold,
            "cold_ratio": vw / cold if vw and cold and ok else None,
            "llmsim_cold_compile_s": self.cold.get("compile_s"),
            "peak_rss_mb": m.get("peak_rss_mb"),
            "llmsim_sim_s": sim,
            "vidur_sim_s": vs,
            "sim_ratio": sim_ratio,
            "llmsim_cpu_s": cpu,
            "llmsim_sim_cpu_s": m.get("sim_cpu_s"),
            "vidur_cpu_s": vcpu,
            "cpu_ratio": cpu_ratio,
            "vidur_peak_rss_mb": self.vidur.get("peak_rss_mb") if self.vidur else None,
            "requests_per_s": completed / sim if completed and sim else None,
            "events_per_s": m["events"] / sim if m.get("events") and sim else None,
            "vidur_events_per_s": self.vidur["events"] / vs if self.vidur and self.vidur.get("events") and vs else None,
            "events": m.get("events"),
            "steps": m.get("steps"),
            "completed": completed,
            "timed_out": self.timed_out,
            "error": self.llmsim_error,
            "vidur_note": self.vidur_note,
            "model": c.setup.model,
            "tp": c.setup.tp,
            "hardware": self.hardware,
            "workload": c.workload,
            "rate_per_s": self.rate_per_s,
            "phases_s": {k: m.get(k) for k in ("import_s", "compile_s", "workload_s", "sim_s", "summary_s")},
            "metrics": m.get("metrics"),
            "vidur_metrics": self.vidur.get("metrics") if self.vidur else None,
            "step_cost": m.get("step_cost"),
        }


def run_llmsim(runner: Runner, case: Case, spec: str, folder: Path, timeout_s: float,
               profile: Path | None = None, cmd_prefix: list[str] | None = None) -> dict[str, Any]:
    """One worker process on the case's spec: its report plus the process measurements.

    Raises WorkerError when the worker fails; a worker killed at its hard limit reports timed_out.
    """
    spec_path = folder / f"{case.name}.llms"
    spec_path.write_text(spec, encoding="utf-8")
    job = {"kind": "run", "spec": str(spec_path), "include": [str(p) for p in INCLUDE],
           "profile": str(profile) if profile else None}
    doc, m = runner.job(job, folder, timeout_s, cmd_prefix)
    base = {"process_wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb, "user_s": m.user_s, "sys_s": m.sys_s}
    out = {**(doc or {"timed_out": True}), **base}
    if doc and doc.get("own_peak_rss_mb"):  # the worker's own high-water mark (see bench/measure.py)
        out["peak_rss_mb"] = doc["own_peak_rss_mb"]
    return out


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest completed run (by process wall time), else the last one."""
    done = [r for r in runs if not r.get("timed_out")]
    return min(done, key=lambda r: r["process_wall_s"]) if done else runs[-1]


# -- printing ---------------------------------------------------------------------------------------


def _f(v: float | None, fmt: str, none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def _rate(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k" if v >= 1e4 else f"{v:.0f}"


HEADER = (f"{'case':<26} {'reqs':>9} {'inst':>4} {'wall s':>7} {'sim s':>7} {'cpu s':>7} {'req/s':>6} {'ev/s':>6} "
          f"{'RSS MB':>6} {'vidur s':>7} {'ratio':>5} {'cpu x':>5} {'sim x':>5}  notes")
LEGEND = ("wall s: the whole llmsim process (start, imports, compile, workload, simulate, summary); sim s: "
          "simulate() alone; cpu s: its CPU time (user + sys) for the whole process; req/s, ev/s: completed "
          "requests and engine events per second of simulate(); ratio: Vidur's wall / llmsim's wall; cpu x: the "
          "same for CPU time; sim x: Vidur's event loop / llmsim's simulate(). With --repeat N the fastest run is "
          "shown, which reads the compiled spec from llmsim's cache; the first run of each case compiles it "
          "(cache empty) and is recorded as llmsim_cold_wall_s in the JSON and as `cold` in the notes; "
          "step cost late/early (runs of 100k requests or more): wall time per engine event with 70-90 % of "
          "the requests completed over that with 10-30 % (bench/flatness.py), near 1 when a step's cost does "
          "not grow with history")


def format_row(row: Row) -> str:
    j = row.to_json()
    notes = []
    if row.timed_out:
        done = j["completed"]
        limit = j["llmsim_wall_s"]
        prog = f", {done:,} of {row.case.requests:,} completed" if done is not None else ""
        notes.append(f"timed out at {limit:.0f} s{prog}")
    if row.llmsim_error:
        notes.append(row.llmsim_error)
    if row.case.vidur and j["vidur_wall_s"] is None:
        notes.append(f"vidur: {row.vidur_note}")
    if row.rate_per_s is not None:
        notes.append(f"{row.rate_per_s:.4g} req/s")
    if j["llmsim_cold_wall_s"] is not None:
        cold_ratio = f", ratio {j['cold_ratio']:.1f}" if j["cold_ratio"] else ""
        notes.append(f"cold {j['llmsim_cold_wall_s']:.2f} s{cold_ratio}")
    if j["step_cost"]:
        notes.append(f"step cost late/early {j['step_cost']['late_over_early']:.2f}")
    return (f"{row.case.name:<26} {row.case.requests:>9,} {row.case.instances:>4} "
            f"{_f(j['llmsim_wall_s'], '7.2f'):>7} {_f(j['llmsim_sim_s'], '7.2f'):>7} "
            f"{_f(j['llmsim_cpu_s'], '7.2f'):>7} "
            f"{_rate(j['requests_per_s']):>6} {_rate(j['events_per_s']):>6} {_f(j['peak_rss_mb'], '6.0f'):>6} "
            f"{_f(j['vidur_wall_s'], '7.2f'):>7} {_f(j['ratio'], '5.1f'):>5} {_f(j['cpu_ratio'], '5.1f'):>5} "
            f"{_f(j['sim_ratio'], '5.1f'):>5}  {'; '.join(notes)}")


def markdown_table(doc: dict[str, Any]) -> str:
    """The results of a run (its JSON document) as a Markdown table."""

    def num(v: float | None, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    lines = [
        "| case | requests | inst. | wall s | sim s | CPU s | req/s | events/s | peak RSS MB | Vidur s | ratio "
        "| CPU ratio | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in doc["cases"]:
        notes = []
        if c.get("timed_out"):
            done = c.get("completed")
            notes.append(f"**timed out** at {c['llmsim_wall_s']:.0f} s"
                         + (f", {done:,} of {c['requests']:,} completed" if done is not None else ""))
        if c.get("error"):
            notes.append(f"error: {c['error']}")
        if c.get("rate_per_s"):
            notes.append(f"{c['rate_per_s']:.4g} req/s")
        if c.get("vidur_note"):
            notes.append(f"Vidur: {c['vidur_note']}")
        if c.get("llmsim_cold_wall_s") is not None:
            notes.append(f"cold (compile not cached) {c['llmsim_cold_wall_s']:.2f} s")
        if c.get("step_cost"):
            notes.append(f"step cost late/early {c['step_cost']['late_over_early']:.2f}")
        lines.append(
            f"| `{c['name']}` | {c['requests']:,} | {c['instances']} | {num(c.get('llmsim_wall_s'), '.2f')} "
            f"| {num(c.get('llmsim_sim_s'), '.2f')} | {num(c.get('llmsim_cpu_s'), '.2f')} "
            f"| {num(c.get('requests_per_s'), ',.0f')} | {num(c.get('events_per_s'), ',.0f')} "
            f"| {num(c.get('peak_rss_mb'), '.0f')} | {num(c.get('vidur_wall_s'), '.2f')} "
            f"| {num(c.get('ratio'), '.1f')} | {num(c.get('cpu_ratio'), '.1f')} | {'; '.join(notes)} |"
        )
    return "\n".join(lines) + "\n"


def print_matched(rows: list[Row], hardware: str, device_note: str, num_blocks: dict[str, int]) -> None:
    from bench.vidur import MATCHED_SETTINGS

    print("\nMatched with Vidur (what is held equal, and how):")
    for what, ours, theirs, how in MATCHED_SETTINGS:
        ours = ours.format(hardware=hardware)
        how = how.format(device_note=device_note)
        print(f"  {what:<18} llmsim: {ours}\n  {'':<18} vidur:  {theirs}\n  {'':<18} -> {how}")
    if num_blocks:
        blocks = ", ".join(f"{k}: {v} blocks" for k, v in num_blocks.items())
        print(f"  KV blocks from Vidur's memory planner: {blocks}")
    print(f"  arrival rate: {MATCHED_RATE_PER_S}/s Poisson (seed {SEED}), the same rows replayed by both")
    shown = [r for r in rows if r.case.vidur and r.vidur and r.vidur.get("metrics") and r.llmsim.get("metrics")]
    if shown:
        print("\n  Same workload, both simulators (ms; mean / p50 / p99):")
        for r in shown:
            for metric in ("ttft_ms", "tpot_ms", "e2e_ms"):
                a, b = r.llmsim["metrics"][metric], r.vidur["metrics"][metric]
                fa = " / ".join(_f(a.get(k), ".1f") for k in ("mean", "p50", "p99"))
                fb = " / ".join(_f(b.get(k), ".1f") for k in ("mean", "p50", "p99"))
                print(f"  {r.case.name:<20} {metric:<8} llmsim {fa:<28} vidur {fb}")


# -- the run ----------------------------------------------------------------------------------------


def saturation(runner: Runner, case: Case, cache: dict[str, float]) -> float | None:
    """Saturation throughput (req/s per instance) for a calibrated Poisson case, measured once per setup."""
    from bench.calibrate import calibrate_llmsim

    if case.workload != SHAREGPT:
        return None
    if case.setup.key not in cache:
        cal = calibrate_llmsim(runner, case.setup, SHAREGPT, RUNS_DIR / f"calibrate-{case.setup.key}")
        cache[case.setup.key] = cal.throughput_per_s
        print(f"calibration {case.setup.key}: saturated at {cal.throughput_per_s:.3f} req/s per instance "
              f"({cal.requests} requests, closed loop of {case.setup.max_num_seqs} clients; {cal.wall_s:.1f} s)",
              flush=True)
    return cache[case.setup.key]


def prepare(runner: Runner, case: Case, folder: Path, calibrations: dict[str, float], load: float, hardware: str,
            num_blocks: dict[str, int]) -> tuple[Case, str, float | None, Any, Path | None]:
    """A case ready to run: (the case as run, its spec text, its rate, matched arrivals, Vidur's trace).

    Vidur-matched cases get the matched hardware and Vidur's KV block count, and their requests are
    written to `folder` in both simulators' trace formats.
    """
    from bench.calibrate import poisson_rate
    from bench.vidur import poisson_arrival_ns, write_matched_trace

    if case.vidur:
        case = with_hardware(case, hardware or case.setup.hardware, num_blocks.get(case.vidur))
        arrivals = poisson_arrival_ns(case.requests, MATCHED_RATE_PER_S, SEED)
        ours, theirs = write_matched_trace(folder, "requests", arrivals, 512, 128)
        return case, spec_text(case, trace_name=ours.name), MATCHED_RATE_PER_S, arrivals, theirs
    if case.workload == SHAREGPT:
        throughput = saturation(runner, case, calibrations)
        assert throughput is not None
        rate = poisson_rate(throughput, case.instances, load)
        return case, spec_text(case, rate_per_s=rate), rate, None, None
    if not AZURE_CONV.is_file():
        raise FileNotFoundError(f"trace not found: {AZURE_CONV}")
    return case, spec_text(case), None, None, None


def pick_matched_entry(names: Sequence[str]) -> str | None:
    """The A100 entry to match Vidur with: measured in vLLM (Vidur models vLLM), newest version."""
    vllm = [n for n in names if n.startswith(MATCHED_DEVICE + "@vllm-")]

    def version(name: str) -> tuple[int, ...]:
        text = name.rsplit("@vllm-", 1)[1]
        return tuple(int(p) if p.isdigit() else -1 for p in text.split("."))

    return max(vllm, key=version) if vllm else None


def resolve_matched_hardware(runner: Runner) -> tuple[str, str]:
    """An A100 entry for the Vidur-matched cases if the database has one, else the H100 stand-in."""
    from bench.cases import DEFAULT_HARDWARE

    names = runner.entries(RUNS_DIR / "entries")
    chosen = pick_matched_entry(names)
    if chosen:
        return chosen, "equal device (A100-80GB SXM, kernels measured in vLLM)"
    return DEFAULT_HARDWARE, ("NOT EQUAL: no A100 entry in hardware_db yet, llmsim runs the closest entry it "
                              "has (H100-SXM); ratios are for the closest matched case")


def make_runner(args: argparse.Namespace) -> tuple[Runner, str]:
    """The llmsim tree to measure and the interpreter to run it on, and how to say which they are."""
    python, where = sys.executable, "this interpreter (--no-venv)"
    if not args.no_venv:
        from bench.llmsim_venv import prepare

        python, reason = prepare(install=not args.no_install, log=lambda s: print(s, flush=True))
        where = f"{python}" if reason is None else f"this interpreter: {reason}"
    if args.llmsim_rev:
        src, sha = export_rev(args.llmsim_rev)
        return Runner(src, python), f"commit {sha[:12]} ({args.llmsim_rev}), exported to {src}; on {where}"
    if args.llmsim_src:
        return Runner(args.llmsim_src, python), f"the tree in {args.llmsim_src.resolve()}; on {where}"
    return Runner(None, python), f"the working tree; on {where}"


def run(args: argparse.Namespace) -> int:
    """The bench itself: returns the exit code."""
    cases = select(all_cases(), quick=args.quick, only=args.only, max_requests=args.max_requests)
    if args.list:
        for c in cases:
            tags = f" [{', '.join(sorted(c.tags))}]" if c.tags else ""
            vid = f" (vs Vidur {c.vidur})" if c.vidur else ""
            print(f"{c.name:<28} {c.requests:>9,} requests x{c.instances:<3} {c.setup.key}{vid}{tags}")
        return 0
    runner, source = make_runner(args)
    if args.profile:
        from bench.hotspots import profile_case

        return profile_case(runner, args.profile, timeout_s=args.timeout or FULL_TIMEOUT_S, top=args.top)
    if not cases:
        print("no case selected", file=sys.stderr)
        return 1
    timeout_s = args.timeout or (QUICK_TIMEOUT_S if args.quick else FULL_TIMEOUT_S)
    machine = machine_info()
    started = _dt.datetime.now(_dt.UTC)
    machine["llmsim_source"] = source
    print(f"llmsim bench on {machine['cpu']} ({machine['cores']} cores), Python {machine['python']}; "
          f"llmsim from {source}; repository at {machine['commit']}")
    machine["loadavg_start"] = list(os.getloadavg())
    print(f"{len(cases)} case(s), per-case timeout {timeout_s:.0f} s; load average at start "
          + " ".join(f"{x:.2f}" for x in machine["loadavg_start"]))

    from bench.vidur import Vidur, poisson_arrival_ns, write_matched_trace

    # Vidur: install, plan the KV cache, warm (train or load) the predictors.
    matched = [c for c in cases if c.vidur]
    vidur: Vidur | None = None
    vidur_reason: str | None = None
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    hardware, device_note = resolve_matched_hardware(runner) if matched else ("", "")
    num_blocks: dict[str, int] = {}
    if matched:
        if args.no_vidur:
            vidur_reason = "skipped (--no-vidur)"
        else:
            vidur = Vidur(log=lambda s: print(s, flush=True))
            vidur_reason = vidur.prepare(install=not args.no_install)
            if vidur_reason is None:
                warm_dir = RUNS_DIR / "vidur-warmup"
                warm_dir.mkdir(parents=True, exist_ok=True)
                arrivals = poisson_arrival_ns(32, MATCHED_RATE_PER_S, SEED)
                _, warm_trace = write_matched_trace(warm_dir, "warmup", arrivals, 512, 128)
                for sched in sorted({c.vidur for c in matched if c.vidur}):
                    try:
                        num_blocks[sched] = int(vidur.plan(sched, warm_trace)["num_blocks"])
                    except RuntimeError as exc:
                        vidur_reason = str(exc)
                        break
                    w = vidur.run(f"warmup-{sched}", sched, warm_trace, arrivals / 1e9, timeout_s=3600)
                    if w.error:
                        vidur_reason = f"warm-up failed: {w.error}"
                        break
                    print(f"vidur {sched}: warm-up {w.measured.wall_s:.1f} s (trains the predictors on first use), "
                          f"KV {num_blocks[sched]} blocks of 16 tokens", flush=True)
        if vidur_reason:
            print(f"Vidur column is null: {vidur_reason}", flush=True)
            vidur = None

    calibrations: dict[str, float] = {}
    for c in cases:
        saturation(runner, c, calibrations)

    rows: list[Row] = []
    print("\n" + LEGEND + "\n\n" + HEADER, flush=True)
    for case in cases:
        row = Row(case)
        folder = RUNS_DIR / case.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            case, spec, row.rate_per_s, arrivals, vidur_trace = prepare(runner, case, folder, calibrations,
                                                                        args.load, hardware, num_blocks)
        except FileNotFoundError as exc:
            row.llmsim_error = str(exc)
            rows.append(row)
            print(format_row(row), flush=True)
            continue
        row.case = case
        row.hardware = case.setup.hardware
        runs = []
        for _ in range(max(1, args.repeat)):
            try:
                result = run_llmsim(runner, case, spec, folder, timeout_s)
            except WorkerError as exc:
                row.llmsim_error = str(exc)
                break
            runs.append(result)
            if result.get("timed_out"):
                break
        if runs:
            row.llmsim = best_of(runs)
            row.cold = runs[0]
        if case.vidur:
            if vidur is None:
                row.vidur_note = vidur_reason
            elif case.workload == FIXED_512_128 and vidur_trace is not None and arrivals is not None:
                v = vidur.run(case.name, case.vidur, vidur_trace, arrivals / 1e9, timeout_s)
                if v.error:
                    row.vidur_note = v.error
                else:
                    phases = v.phases or {}
                    row.vidur = {"wall_s": v.measured.wall_s,
                                 "peak_rss_mb": phases.get("own_peak_rss_mb") or v.measured.peak_rss_mb,
                                 "cpu_s": v.measured.user_s + v.measured.sys_s,
                                 "loop_s": phases.get("loop_s"), "events": phases.get("events"),
                                 "init_s": phases.get("init_s"), "import_s": phases.get("import_s"),
                                 "write_s": phases.get("write_s"), "metrics": v.metrics, "completed": v.completed}
        rows.append(row)
        print(format_row(row), flush=True)

    machine["loadavg_end"] = list(os.getloadavg())
    print("load average at end " + " ".join(f"{x:.2f}" for x in machine["loadavg_end"])
          + f" (this machine has {machine['cores']} cores; other load inflates wall times, less so CPU times)")
    if matched:
        print_matched(rows, hardware, device_note, num_blocks)
    doc = {"recorded": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine,
           "command": command_line(args),
           "timeout_s": timeout_s, "repeat": args.repeat, "load": args.load,
           "cases": [r.to_json() for r in rows]}
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    if args.markdown:
        args.markdown.write_text(markdown_table(doc), encoding="utf-8")
        print(f"wrote {args.markdown}")

    from bench.regress import load_baseline, report

    slowdowns = 0
    baseline = load_baseline(args.baseline)
    print()
    if baseline is None:
        print(f"no baseline at {args.baseline}: nothing to compare (record one with --update-baseline)")
    else:
        lines, slowdowns = report(baseline, doc)
        print("\n".join(lines))
    if args.update_baseline:
        args.baseline.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"recorded this run as the baseline: {args.baseline}")
    failed = any(r.llmsim_error for r in rows)
    return 1 if failed or (args.fail_on_regression and slowdowns) else 0
