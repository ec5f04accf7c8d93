"""The sweep's terminal table and its JSON document (docs/results.md, "Sweeps")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from llmsim.sweep.point import PointOutcome

SCHEMA_VERSION = 1


def sweep_document(spec_name: str, params: Sequence[str], outcomes: Sequence[PointOutcome]) -> dict[str, Any]:
    """Every point's results document, each with its `params` and `point` index."""
    return {
        "schema_version": SCHEMA_VERSION,
        "spec": spec_name,
        "sweep": {"params": list(params), "points": len(outcomes)},
        "points": [o.doc for o in outcomes if o.doc is not None],
    }


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 100 else f"{value:,.2f}"


def print_table(title: str, params: Sequence[str], outcomes: Sequence[PointOutcome], console: Console) -> None:
    """One row per point: its params, the key metrics and SLO attainment."""
    table = Table()
    table.add_column("#", justify="right")
    for name in params:
        table.add_column(name, justify="right")
    for head in ("done", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "req/s", "out tok/s", "SLO"):
        table.add_column(head, justify="right")
    for o in outcomes:
        row = [str(o.index), *(o.params.get(name, "") for name in params)]
        if o.doc is None:
            table.add_row(*row, "error", *[""] * 7)
            continue
        m, t, r = o.doc["metrics"], o.doc["throughput"], o.doc["requests"]
        rps, tok = t["requests_per_s"], t["output_tokens_per_s"]
        table.add_row(
            *row,
            f"{r['completed']}/{r['submitted']}",
            _ms(m["ttft_ms"]["p50"]),
            _ms(m["ttft_ms"]["p99"]),
            _ms(m["tpot_ms"]["p50"]),
            _ms(m["tpot_ms"]["p99"]),
            "-" if rps is None else f"{rps:.2f}",
            "-" if tok is None else f"{tok:,.0f}",
            slo_cell(o.doc.get("slo", {})),
        )
    if not console.is_terminal:  # a table printed to a file or pipe should not wrap at 80 columns
        console = Console(file=console.file, width=200, highlight=False)
    console.print(title, markup=False)
    console.print(table)


def slo_cell(slo: dict[str, Any]) -> str:
    """`96.0% met` / `80.1% missed` per SLO block; `-` without SLOs."""
    cells = []
    for s in slo.values():
        att = "-" if s["attainment"] is None else f"{s['attainment'] * 100:.1f}%"
        cells.append(f"{att} {'met' if s['met'] else 'missed'}")
    return ", ".join(cells) or "-"
