"""The report of `llmsim validate`: a real run (measured) against its simulation (simulated).

Each side is a dict of per-request latency samples in ms and, optionally, running and waiting
requests per second (docs/reports.md):

    {"ttft_ms": [...], "tpot_ms": [...], "itl_ms": [...], "e2e_ms": [...], "queue_ms": [...],
     "timeline": {"t_s": [...], "running": [...], "waiting": [...]}}

Every key is optional; a metric is compared when either side has it. `table` rows are
`{"metric", "stat", "measured_ms", "simulated_ms", "error_pct"}`; without one, the mean, p50, p90
and p99 of every metric are compared, error = (simulated - measured) / measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from markupsafe import Markup

from llmsim.report.distributions import PERCENTS, quantiles_ms
from llmsim.report.plots import METRIC_TITLES, cdf_axes
from llmsim.report.svg import PALETTE, figure, to_svg

METRICS = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "queue_ms")
SIDE_KEYS = (*METRICS, "timeline")
TIMELINE_KEYS = ("t_s", "running", "waiting")
TABLE_KEYS = ("metric", "stat", "measured_ms", "simulated_ms", "error_pct")
TABLE_STATS = ("mean", "p50", "p90", "p99")
# |error| above this is highlighted in the table.
ERROR_HIGHLIGHT_PCT = 10.0


def check_side(name: str, side: Mapping[str, Any]) -> None:
    """ValueError naming the first key or shape that is not as documented."""
    for key in side:
        if key not in SIDE_KEYS:
            raise ValueError(f"{name}: unknown key `{key}`; expected some of {', '.join(SIDE_KEYS)}")
    tl = side.get("timeline")
    if tl is not None:
        missing = [k for k in TIMELINE_KEYS if k not in tl]
        if missing:
            raise ValueError(f"{name}.timeline: missing {', '.join(missing)}")
        lengths = {k: len(tl[k]) for k in TIMELINE_KEYS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{name}.timeline: lists of different lengths {lengths}")


def stats_table(measured: Mapping[str, Any], simulated: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Mean, p50, p90, p99 of every metric both sides have, with the relative error."""
    rows = []
    for metric in METRICS:
        if metric not in measured or metric not in simulated:
            continue
        m, s = np.asarray(measured[metric], float), np.asarray(simulated[metric], float)
        for stat in TABLE_STATS:
            mv = _stat(m, stat)
            sv = _stat(s, stat)
            err = None if mv is None or sv is None or mv == 0 else 100.0 * (sv - mv) / mv
            rows.append({"metric": metric, "stat": stat, "measured_ms": mv, "simulated_ms": sv, "error_pct": err})
    return rows


def _stat(values: np.ndarray, stat: str) -> float | None:
    if len(values) == 0:
        return None
    return float(np.mean(values)) if stat == "mean" else float(np.percentile(values, int(stat[1:])))


def render_validation_html(measured: Mapping[str, Any], simulated: Mapping[str, Any], *,
                           table: Sequence[Mapping[str, Any]] | None = None,
                           labels: tuple[str, str] = ("measured", "simulated"),
                           title: str = "llmsim validation") -> str:
    """Measured against simulated: the table, CDFs of every metric, running and waiting over time."""
    from llmsim.report.html import render

    check_side("measured", measured)
    check_side("simulated", simulated)
    rows = [dict(r) for r in (table if table is not None else stats_table(measured, simulated))]
    for r in rows:
        missing = [k for k in TABLE_KEYS if k not in r]
        if missing:
            raise ValueError(f"table row {r}: missing {', '.join(missing)}")
        err = r["error_pct"]
        r["highlight"] = err is not None and abs(err) > ERROR_HIGHLIGHT_PCT
    metrics = [m for m in METRICS if m in measured or m in simulated]
    figures = {}
    if metrics:
        figures["validation-cdf"] = Markup(cdf_plot(measured, simulated, metrics, labels))
    has_timeline = "timeline" in measured or "timeline" in simulated
    if has_timeline:
        figures["validation-timeline"] = Markup(timeline_plot(measured, simulated, labels))
    return render("validation.html.j2", title=title, labels=labels, rows=rows, figures=figures,
                  samples={m: (len(measured.get(m, ())), len(simulated.get(m, ()))) for m in metrics},
                  metric_titles=METRIC_TITLES, threshold=ERROR_HIGHLIGHT_PCT)


def cdf_plot(measured: Mapping[str, Any], simulated: Mapping[str, Any], metrics: Sequence[str],
             labels: tuple[str, str]) -> str:
    cols = 2 if len(metrics) > 1 else 1
    rows = -(-len(metrics) // cols)
    with figure(7.5, 2.6 * rows) as fig:
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, metric in zip(axes, metrics):
            series = [(label, quantiles_ms(side.get(metric, ())), PERCENTS)
                      for label, side in zip(labels, (measured, simulated))]
            cdf_axes(ax, series, METRIC_TITLES[metric])
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        return to_svg(fig, "validation-cdf")


def timeline_plot(measured: Mapping[str, Any], simulated: Mapping[str, Any], labels: tuple[str, str]) -> str:
    with figure(7.5, 4.4) as fig:
        axes = fig.subplots(2, 1, sharex=True)
        for ax, key in zip(axes, ("running", "waiting")):
            for i, (label, side) in enumerate(zip(labels, (measured, simulated))):
                tl = side.get("timeline")
                if tl is not None:
                    ax.plot(tl["t_s"], tl[key], label=label, color=PALETTE[i], linestyle="-" if i == 0 else "--")
            ax.set_title(f"{key.capitalize()} requests")
            ax.set_ylabel("requests")
            ax.set_ylim(bottom=0)
            ax.legend(loc="upper right")
        axes[-1].set_xlabel("time since the first request (s)")
        return to_svg(fig, "validation-timeline")
