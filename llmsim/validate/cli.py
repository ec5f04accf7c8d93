"""`llmsim validate RUN_DIR [--json PATH] [--emit-spec DIR]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from llmsim.cli.common import guard_output_path
from llmsim.hwdb.locate import default_paths

LABELS = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "latency": "Latency"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate", help="replay a real serving run and compare simulated with measured latencies",
        description="Replay a real vLLM run (vllm/meta.json, vllm/requests.jsonl, dataset.jsonl, "
        "vllm/timeseries.csv) through llmsim and print measured against simulated TTFT, TPOT, ITL and latency.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the comparison as JSON")
    p.add_argument("--html", type=Path, metavar="PATH",
                   help="write an HTML report: measured against simulated distributions and timelines")
    p.add_argument("--emit-spec", type=Path, metavar="DIR",
                   help="write the equivalent .llms spec (run.llms) and its trace into DIR")
    p.add_argument("--hwdb", type=Path, action="append", default=[], metavar="DIR",
                   help="an extra hardware_db root, searched before the bundled one")
    p.set_defaults(func=run)


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.1f}"


def run(args: argparse.Namespace) -> int:
    from llmsim.validate import validate

    for path in (args.json, args.html):
        if path is not None:
            guard_output_path(path, protected=[])
    report = validate(args.run_dir, hwdb_paths=default_paths(args.hwdb), spec_dir=args.emit_spec)
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    hw = report.compiled.hardware[0]
    out.print(f"[bold]{report.run.hardware_hint}/{report.run.path.name}[/]: {len(report.run.requests)} requests, "
              f"simulated on {hw.entry} {hw.engine} in {report.wall_s:.2f} s")
    table = Table(show_edge=False)
    table.add_column("Metric")
    table.add_column("measured", justify="right")
    table.add_column("simulated", justify="right")
    table.add_column("error", justify="right")
    for i, row in enumerate(report.rows):
        if i and row.stat == "mean":
            table.add_section()
        err = row.error_pct
        table.add_row(f"{LABELS[row.metric]} {row.stat}", _ms(row.measured_ms), _ms(row.simulated_ms),
                      "-" if err is None else f"{err:+.1f}%")
    out.print(table)
    mae = report.mae
    out.print("Mean |error|: " + ", ".join(f"{LABELS[k]} {v:.2f}%" for k, v in mae.items() if v is not None)
              + f"; all rows {report.overall_mae:.2f}%")
    if report.run.timeseries is None:
        out.print("Timeline: the run has no vllm/timeseries.csv")
    elif report.timeline is not None:
        tl = report.timeline
        out.print(f"Timeline ({tl['seconds']} s): running off by {tl['running']['mean_abs']:.1f} requests on average "
                  f"({tl['running']['error_pct']:.1f}%), waiting by {tl['waiting']['mean_abs']:.1f} "
                  f"({tl['waiting']['error_pct']:.1f}%)")
    out.print("ITL: the run records only first and last token times, so measured ITL percentiles are unknown")
    for fb in report.compiled.fallbacks:
        out.print(f"[yellow]fallback[/] {fb['pool']}.{fb['op']}: {fb['reason']}")
    if args.emit_spec is not None:
        out.print(f"Spec written to {args.emit_spec / 'run.llms'}")
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    if args.html is not None:
        from llmsim.report.html import write_validation_html

        measured, simulated = report.samples()
        title = f"llmsim validation: {report.run.hardware_hint}/{report.run.path.name}"
        write_validation_html(measured, simulated, args.html, table=[r.to_json() for r in report.rows], title=title)
        out.print(f"HTML report written to {args.html}")
    return 0
