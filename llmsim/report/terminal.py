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
        _print_approximation_note(doc, console)
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
                      f"({100 * pc['hit_rate']:.1f} %)"
                      + (f", {pc['tier_hit_tokens']:,} of them from KV tiers" if pc.get("tier_hit_tokens") else "")
                      + (f"; {pc['saved_tokens']:,} prefill tokens saved" if "saved_tokens" in pc else ""))
    _print_serving(doc, console)

    hw = Table(title="Hardware", title_justify="left")
    for col in ("entry", "engine", "kind", "sha256"):
        hw.add_column(col)
    for h in doc["hardware"]:
        hw.add_row(h["entry"], h["engine"], h["kind"], h["sha256"][:16])
    console.print(hw)

    for pool in doc.get("pools", []):
        mem = pool["memory"]
        parallel = "".join(f" {k}={pool[k]}" for k in ("pp", "ep", "dp") if pool.get(k, 1) > 1)
        console.print(
            f"Pool [bold]{pool['pool']}[/]: {pool['model']} tp={pool['tp']}{parallel}, "
            f"weights {mem['weight_bytes'] / 1e9:.2f} GB/device, KV {mem['kv_blocks']:,} blocks of "
            f"{mem['block_size']} tokens"
        )
    _print_energy(doc, console)
    _print_approximation_note(doc, console)
    _print_fallback_warning(doc, console)
    sim = doc["sim"]
    console.print(f"[dim]{sim['events']:,} events, {sim.get('steps', 0):,} steps[/]")


def _print_serving(doc: dict[str, Any], console: Console) -> None:
    """KV transfers (disaggregation), KV tiers and links, when the run has them."""
    kt = doc.get("kv_transfer")
    if kt:
        console.print(f"KV transfer: {kt['requests']:,} requests, {kt['bytes_per_link'] / 1e9:,.2f} GB per link; "
                      f"time mean {_ms(kt['time_ms']['mean'])} ms, p99 {_ms(kt['time_ms']['p99'])} ms; "
                      f"wait for a decode slot mean {_ms(kt['wait_ms']['mean'])} ms")
    tiers = doc.get("kv_tiers") or {}
    if tiers:
        table = Table(title="KV tiers", title_justify="left")
        for col in ("tier", "medium", "capacity", "peak", "stored", "loaded", "dropped", "written GB", "read GB"):
            table.add_column(col, justify="left" if col in ("tier", "medium") else "right")
        for name, t in tiers.items():
            table.add_row(name, t["medium"] + (" (shared)" if t["shared"] else ""), f"{t['capacity_blocks']:,}",
                          f"{t['peak_blocks']:,}", f"{t['blocks_stored']:,}", f"{t['blocks_loaded']:,}",
                          f"{t['blocks_dropped']:,}", f"{t['bytes_written'] / 1e9:,.2f}",
                          f"{t['bytes_read'] / 1e9:,.2f}")
        console.print(table)
    links = doc.get("links") or {}
    if links:
        table = Table(title="Links", title_justify="left")
        for col in ("links", "kind", "count", "GB/s each", "transfers", "GB", "busy s", "utilisation"):
            table.add_column(col, justify="left" if col in ("links", "kind") else "right")
        for name, g in links.items():
            util = g["utilisation"]
            table.add_row(name, g["kind"], str(g["links"]), f"{g['bandwidth_gb_per_s']:,.1f}",
                          f"{g['transfers']:,}", f"{g['bytes'] / 1e9:,.2f}", f"{g['busy_s']:,.1f}",
                          "-" if util is None else f"{100 * util:.2f} %")
        console.print(table)


def _print_approximation_note(doc: dict[str, Any], console: Console) -> None:
    """Metrics whose percentiles came from a histogram (a long run without per-request rows)."""
    approx = {k: m["percentiles_rel_error"] for k, m in doc["metrics"].items() if "percentiles_rel_error" in m}
    if approx:
        console.print(f"note: percentiles of {', '.join(approx)} are within a relative "
                      f"{max(approx.values()):g} of exact (too many samples to keep each one)", markup=False)


def _print_fallback_warning(doc: dict[str, Any], console: Console) -> None:
    fallbacks = doc.get("fallbacks") or []
    if not fallbacks:
        return
    console.print(f"[bold yellow]warning:[/] {len(fallbacks)} operator(s) priced without a measured table:")
    for fb in fallbacks:
        console.print(f"  [yellow]{fb['pool']}.{fb['op']}[/] x{fb['count']}: {fb['reason']} "
                      f"(priced by {fb['model']})")


def _print_energy(doc: dict[str, Any], console: Console) -> None:
    """Energy of the run (present when the results carry a timeline: `--json` or `--html`)."""
    energy = doc.get("energy")
    if not energy:
        return
    parts = energy["components_j"]
    per_req = energy["per_request_j"]
    per_tok = energy["per_output_token_j"]
    console.print(
        f"Energy: {energy['total_j'] / 1e3:,.1f} kJ (devices {parts['devices'] / 1e3:,.1f}, links "
        f"{parts['links'] / 1e3:,.2f}, host {parts['host'] / 1e3:,.1f}); "
        + (f"{per_req:,.1f} J/request, " if per_req is not None else "")
        + (f"{per_tok:,.3f} J/output token, " if per_tok is not None else "")
        + (f"mean {energy['mean_power_w']:,.0f} W" if energy["mean_power_w"] is not None else ""))
    if energy.get("unknown_power"):
        console.print("[bold yellow]warning:[/] no power figure for " + ", ".join(energy["unknown_power"])
                      + ": left out of the energy")
