"""`llmsimc SPEC`: compile a spec and run it. Exit codes: 0 ok, 1 user error, 2 internal error."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from llmsim.cli.common import ArgumentParser, guard_output_path, limit_blas_threads, run_guarded
from llmsim.diagnostics import UserError
from llmsim.sweep.runner import BACKENDS

EMIT_STAGES = ("ast", "ir", "graph", "plan")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="llmsimc",
        description="Compile an llmsim spec (.llms) and simulate it.",
    )
    p.add_argument("spec", type=Path, help="the .llms file")
    p.add_argument("--check", action="store_true", help="compile without running; exit 0 or 1")
    p.add_argument("--emit", choices=EMIT_STAGES, help="print a compiler stage in its text form and stop")
    p.add_argument("--report", nargs="?", const="terminal", choices=("terminal", "html"),
                   help="print the full terminal report; `--report html` also writes SPEC-NAME.html")
    p.add_argument("--html", type=Path, metavar="PATH",
                   help="write a self-contained HTML report with plots (needs the `report` extra)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write one row per request as CSV")
    p.add_argument("-I", "--include", type=Path, action="append", default=[], metavar="DIR",
                   help="also resolve files the spec names in DIR")
    p.add_argument("--hwdb", type=Path, action="append", default=[], metavar="DIR",
                   help="an extra hardware_db root, searched before the bundled one")
    p.add_argument("--no-cache", action="store_true",
                   help="compile the spec even if llmsim's compiled-spec cache holds it (also: LLMSIM_NO_CACHE=1)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("-D", "--define", action="append", default=[], metavar="NAME=VALUE",
                   help="set a param of the spec, e.g. `-D tp=2 -D rate=8/s`")
    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="where sweep points run: local processes (default) or Ray tasks")
    p.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster (default: start a local one)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="sweep points run at once (default: the CPUs)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    limit_blas_threads()  # before anything imports numpy
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "fmt":
        from llmsim.cli.fmt_cmd import fmt_main

        return run_guarded(lambda: fmt_main(args[1:]))
    return run_guarded(lambda: _run(build_parser().parse_args(args)))


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and argument errors stay instant.
    from llmsim import slo
    from llmsim.cache import compile_file
    from llmsim.hwdb.locate import default_paths
    from llmsim.report.progress import ProgressBar
    from llmsim.report.results import results_document, write_json
    from llmsim.report.terminal import print_summary
    from llmsim.runtime import build_workload, simulate
    from llmsim.runtime.timeline import DEFAULT_BUCKETS

    spec_path: Path = args.spec
    if not spec_path.is_file():
        raise UserError(f"no such spec file `{spec_path}`", help="give the path of a .llms file")
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    if args.report == "html" and args.html is None:
        args.html = Path(f"{spec_path.stem}.html")
    for path in (args.json, args.csv, args.html):
        if path is not None:
            guard_output_path(path, protected=[spec_path])

    if args.emit == "ast":
        from llmsim.diagnostics import SourceFile
        from llmsim.lang import emit_ast, parse

        out.print(emit_ast(parse(SourceFile.read(spec_path, spec_path.name))), end="", markup=False)
        return 0
    hwdb_paths = default_paths(args.hwdb)
    if args.emit == "ir":
        from llmsim.lang import emit_ir, load_spec

        spec = load_spec(spec_path, search_paths=args.include, hwdb_paths=hwdb_paths, defines=args.define)
        out.print(emit_ir(spec), end="", markup=False)
        return 0
    spec, compiled = compile_file(spec_path, search_paths=args.include, hwdb_paths=hwdb_paths,
                                  defines=args.define, use_cache=not args.no_cache)
    if spec.sweep is not None and args.emit is None:
        from llmsim.cli.sweep_cmd import run_sweep_command

        return run_sweep_command(args, spec, out)
    if compiled is None:  # `--emit graph|plan` of a spec with a sweep: its params' own values
        from llmsim.compiler import compile_spec

        compiled = compile_spec(spec, hwdb_paths=hwdb_paths)
    if args.emit in ("graph", "plan"):
        from llmsim.compiler.emit import emit_graph, emit_plan
    if args.emit == "graph":
        for name, plan in compiled.plans.items():
            out.print(emit_graph(name, plan.graph, plan.model), end="", markup=False)
        return 0
    if args.emit == "plan":
        for pool in spec.pools.values():
            out.print(emit_plan(compiled.plans[pool.name], pool.instances), end="", markup=False)
        return 0
    if args.check:
        if not args.quiet:
            pools = ", ".join(f"{p.name} ({p.instances} x tp{p.tp})" for p in spec.pools.values())
            out.print(f"ok: {spec_path.name} compiles; pools: {pools}", markup=False)
        return 0

    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    sim = spec.simulation
    start = time.perf_counter()
    reports = bool(args.json or args.html)
    with ProgressBar(out) as bar:  # shown on a terminal once the run passes a second
        result = simulate(compiled.cluster, workloads, max_time_ns=sim.max_time_ns if sim else None,
                          csv_path=args.csv, progress=bar if bar.enabled and not args.quiet else None,
                          # timelines only feed the JSON and HTML: a run that writes neither skips them
                          timeline_buckets=DEFAULT_BUCKETS if reports else 0,
                          # no per-request rows: the summary, the latency distributions and the SLOs
                          # come from aggregates streamed as requests complete; the CSV is written as
                          # they complete
                          keep_requests=False, slo_bounds=slo.bounds(spec.slos, list(spec.workloads)))
    wall_s = time.perf_counter() - start
    doc = results_document(compiled, result.summary(), wall_s, result=result)
    doc["slo"] = slo.evaluate(spec.slos, result, list(spec.workloads))
    if args.json is not None:
        write_json(doc, args.json)
    if args.html is not None:
        from llmsim.report.html import write_run_html

        size = write_run_html(args.html, doc, spec=spec, compiled=compiled, result=result)
        if not args.quiet:
            out.print(f"wrote {args.html} ({size / 1024:,.0f} KiB)", markup=False)
    if not args.quiet:
        print_summary(doc, out, full=args.report)
        if doc["slo"]:
            out.print(slo.summary_line(doc["slo"]), markup=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
