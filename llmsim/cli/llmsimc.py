"""`llmsimc SPEC`: compile a spec and run it. Exit codes: 0 ok, 1 user error, 2 internal error."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from llmsim.cli.common import ArgumentParser, guard_output_path, run_guarded
from llmsim.diagnostics import UserError

EMIT_STAGES = ("ast", "graph", "plan")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="llmsimc",
        description="Compile an llmsim spec (.llms) and simulate it.",
    )
    p.add_argument("spec", type=Path, help="the .llms file")
    p.add_argument("--check", action="store_true", help="compile without running; exit 0 or 1")
    p.add_argument("--emit", choices=EMIT_STAGES, help="print a compiler stage in its text form and stop")
    p.add_argument("--report", action="store_true", help="print the full terminal report")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write one row per request as CSV")
    p.add_argument("-I", "--include", type=Path, action="append", default=[], metavar="DIR",
                   help="also resolve files the spec names in DIR")
    p.add_argument("--hwdb", type=Path, action="append", default=[], metavar="DIR",
                   help="an extra hardware_db root, searched before the bundled one")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run_guarded(lambda: _run(build_parser().parse_args(argv)))


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and argument errors stay instant.
    from llmsim.compiler import compile_spec
    from llmsim.compiler.emit import emit_graph, emit_plan
    from llmsim.hwdb.locate import default_paths
    from llmsim.lang import emit_ast, load_spec, parse
    from llmsim.report.results import results_document, write_json
    from llmsim.report.terminal import print_summary
    from llmsim.runtime import build_workload, simulate

    spec_path: Path = args.spec
    if not spec_path.is_file():
        raise UserError(f"no such spec file `{spec_path}`", help="give the path of a .llms file")
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    for path in (args.json, args.csv):
        if path is not None:
            guard_output_path(path, protected=[spec_path])

    if args.emit == "ast":
        from llmsim.diagnostics import SourceFile

        out.print(emit_ast(parse(SourceFile.read(spec_path, spec_path.name))), end="", markup=False)
        return 0
    hwdb_paths = default_paths(args.hwdb)
    spec = load_spec(spec_path, search_paths=args.include, hwdb_paths=hwdb_paths)
    compiled = compile_spec(spec, hwdb_paths=hwdb_paths)
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
    result = simulate(compiled.cluster, workloads, max_time_ns=sim.max_time_ns if sim else None,
                      csv_path=args.csv)
    wall_s = time.perf_counter() - start
    doc = results_document(compiled, result.summary(), wall_s)
    if args.json is not None:
        write_json(doc, args.json)
    if not args.quiet:
        print_summary(doc, out, full=args.report)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
