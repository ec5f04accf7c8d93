"""`llmsimc SPEC` on a spec with a `sweep` block: run every point, print one table, write one JSON."""

from __future__ import annotations

import argparse
from typing import Any

from msgspec import structs
from rich.console import Console

from llmsim.diagnostics import CompileError, Diagnostic, UserError
from llmsim.lang import ir


def run_sweep_command(args: argparse.Namespace, spec: ir.Spec, out: Console) -> int:
    from llmsim.report.results import write_json
    from llmsim.sweep import SweepJob, run_sweep
    from llmsim.sweep.table import print_table, sweep_document

    assert spec.sweep is not None
    if args.csv is not None:
        raise UserError("`--csv` writes the requests of one run, and this spec sweeps",
                        help="leave out `--csv`, or run one point with `-D` after removing the param from the sweep")
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"`--jobs {args.jobs}` must be at least 1")
    job = SweepJob(args.spec, tuple(args.include), tuple(args.hwdb), tuple(args.define))
    points = range(len(spec.sweep.points()))
    labels = [", ".join(f"{k} = {v}" for k, v in p.items()) for p in spec.sweep.points()]
    if args.check:
        outcomes = _check_points(job, points)
    else:
        outcomes = run_sweep(job, points, backend=args.backend, jobs=args.jobs, ray_address=args.ray_address)
    failed = [o for o in outcomes if o.doc is None and (o.diagnostics or o.error)]
    if failed:
        _raise_failures(failed, labels)
    if args.check:
        if not args.quiet:
            out.print(f"ok: {args.spec.name} compiles at all {len(outcomes)} sweep points", markup=False)
        return 0
    params = list(spec.sweep.params)
    if args.json is not None:
        write_json(sweep_document(args.spec.name, params, outcomes), args.json)
    _html(args, outcomes)
    if not args.quiet:
        print_table(f"{args.spec.name}: {len(outcomes)} sweep points", params, outcomes, out)
    return 0


def _check_points(job: Any, points: range) -> list[Any]:
    """Check and compile every point without simulating it."""
    from llmsim.compiler import compile_spec
    from llmsim.hwdb.locate import default_paths
    from llmsim.lang import load_spec
    from llmsim.sweep.point import PointOutcome

    hwdb = default_paths(list(job.hwdb))
    outcomes = []
    for i in points:
        try:
            spec = load_spec(job.spec, search_paths=job.include, hwdb_paths=hwdb, defines=job.defines, point=i)
            compile_spec(spec, hwdb_paths=hwdb)
        except CompileError as exc:
            outcomes.append(PointOutcome(i, {}, diagnostics=list(exc.diagnostics)))
            continue
        outcomes.append(PointOutcome(i, {}, doc={}))
    return outcomes


def _raise_failures(failed: list[Any], labels: list[str]) -> None:
    """Every failing point's diagnostics, each once, noting the points it happened at."""
    seen: dict[str, tuple[Diagnostic, list[int]]] = {}
    errors: list[str] = []
    for o in failed:
        if o.error:
            errors.append(f"sweep point {o.index} ({labels[o.index]}):\n{o.error}")
        for d in o.diagnostics:
            seen.setdefault(d.render(), (d, []))[1].append(o.index)
    if errors and not seen:
        raise UserError("\n".join(errors))
    diags = []
    for d, indices in seen.values():
        where = "; ".join(f"{i} ({labels[i]})" for i in indices[:4]) + ("; ..." if len(indices) > 4 else "")
        noun = "point" if len(indices) == 1 else "points"
        diags.append(structs.replace(d, notes=(*d.notes, f"at sweep {noun} {where}")))
    raise CompileError(diags)


def _html(args: argparse.Namespace, outcomes: list[Any]) -> None:
    """The sweep's HTML report next to its JSON, when the report package can write one."""
    path = getattr(args, "html", None)
    if path is None:
        return
    try:
        from llmsim.report.html import write_sweep_html  # type: ignore[attr-defined]
    except ImportError:
        return
    write_sweep_html([o.doc for o in outcomes if o.doc is not None], path)
