"""Terminal summary of a run (rich tables): latency percentiles, throughput, hardware, fallbacks."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

METRIC_LABELS = [
    ("ttft_ms", "TTFT"),
    ("tpot_ms", "TPOT"),
    ("itl_ms", "ITL"),
    ("e2e_ms", "End-to-end"),
    ("queue_ms", "Queueing"),
]
STATS = ["mean", "p50", "p90", "p95", "p99"]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 100 else f"{value:,.2f}"


def print_summary(doc: dict[str, Any], console: Console, *, full: bool) -> None:
    """The short form is a few lines; `full` (`--report`) adds every table."""
    thr, req = doc["throughput"], doc["requests"]
    metrics = doc["metrics"]
    console.print(
        f"[bold]{doc['spec']}[/]: {req['completed']}/{req['submitted']} requests completed in "
        f"{doc['sim']['simulated_s']:.1f} s simulated ({doc['sim']['wall_s']:.2f} s wall)"
    )
    if not full:
        console.print(
            f"TTFT mean {_ms(metrics['ttft_ms']['mean'])} ms, p99 {_ms(metrics['ttft_ms']['p99'])} ms; "
            f"TPOT mean {_ms(metrics['tpot_ms']['mean'])} ms; "
            f"throughput {thr['requests_per_s']:.2f} req/s, {thr['output_tokens_per_s']:,.0f} output tok/s"
        )
        _print_fallback_warning(doc, console)
        return

    table = Table(title="Latency (ms)", title_justify="left")
    table.add_column("metric")
    for stat in STATS:
        table.add_column(stat, justify="right")
    for key, label in METRIC_LABELS:
        row = metrics.get(key)
        if row is None:
            continue
        table.add_row(label, *(_ms(row.get(stat)) for stat in STATS))
    console.print(table)

    tput = Table(title="Throughput", title_justify="left")
    tput.add_column("requests/s", justify="right")
    tput.add_column("input tokens/s", justify="right")
    tput.add_column("output tokens/s", justify="right")
    tput.add_row(f"{thr['requests_per_s']:.3f}", f"{thr['input_tokens_per_s']:,.0f}",
                 f"{thr['output_tokens_per_s']:,.0f}")
    console.print(tput)

    reqs = Table(title="Requests", title_justify="left")
    for col in ("submitted", "completed", "rejected", "preempted", "preemptions"):
        reqs.add_column(col, justify="right")
    reqs.add_row(*(str(req.get(col, 0)) for col in ("submitted", "completed", "rejected", "preempted",
                                                      "preemptions")))
    console.print(reqs)

    pc = doc.get("prefix_cache") or {}
    if pc.get("queried_tokens"):
        console.print(f"Prefix cache: {pc['hit_tokens']:,} of {pc['queried_tokens']:,} prompt tokens hit "
                      f"({100 * pc['hit_rate']:.1f} %)")

    hw = Table(title="Hardware", title_justify="left")
    for col in ("entry", "engine", "kind", "sha256"):
        hw.add_column(col)
    for h in doc["hardware"]:
        hw.add_row(h["entry"], h["engine"], h["kind"], h["sha256"][:16])
    console.print(hw)

    for pool in doc.get("pools", []):
        mem = pool["memory"]
        console.print(
            f"Pool [bold]{pool['pool']}[/]: {pool['model']} tp={pool['tp']}, "
            f"weights {mem['weight_bytes'] / 1e9:.2f} GB/device, KV {mem['kv_blocks']:,} blocks of "
            f"{mem['block_size']} tokens"
        )
    _print_fallback_warning(doc, console)
    sim = doc["sim"]
    console.print(f"[dim]{sim['events']:,} events, {sim.get('steps', 0):,} steps[/]")


def _print_fallback_warning(doc: dict[str, Any], console: Console) -> None:
    fallbacks = doc.get("fallbacks") or []
    if not fallbacks:
        return
    console.print(f"[bold yellow]warning:[/] {len(fallbacks)} operator(s) priced without a measured table:")
    for fb in fallbacks:
        console.print(f"  [yellow]{fb['pool']}.{fb['op']}[/] x{fb['count']}: {fb['reason']} "
                      f"(priced by {fb['model']})")
