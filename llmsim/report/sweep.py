"""The report of a sweep: one row per point, the Pareto front, each key metric against each param.

A point is `{"params": {...}, "result": <results document>}`, or a results document that carries
its own `params` (and `point` index), as `llmsim.sweep` writes them. Param values may be strings
(`"8/s"`, `"h100"`); a param whose values all read as a number with one common unit is plotted on
a numeric axis, any other in the order the points give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup

from llmsim.report.svg import PALETTE, figure, to_svg

# (path in the results document, label); the first four are plotted against every swept param.
KEY_METRICS = (
    ("throughput.output_tokens_per_s", "output tokens / s"),
    ("metrics.ttft_ms.p99", "TTFT p99 (ms)"),
    ("metrics.tpot_ms.p99", "TPOT p99 (ms)"),
    ("metrics.e2e_ms.p99", "end-to-end p99 (ms)"),
    ("throughput.requests_per_s", "requests / s"),
    ("metrics.ttft_ms.p50", "TTFT p50 (ms)"),
    ("metrics.tpot_ms.p50", "TPOT p50 (ms)"),
)
PLOTTED_METRICS = KEY_METRICS[:4]
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


@dataclass
class SweepPoint:
    index: int
    params: dict[str, str]
    doc: Mapping[str, Any]
    values: dict[str, float | None] = field(default_factory=dict)
    on_front: bool = False
    meets_slo: bool | None = None


def lookup(doc: Mapping[str, Any], path: str) -> float | None:
    """The number at a dotted path of a results document (`metrics.ttft_ms.p99`), or None."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def normalise(points: Sequence[Mapping[str, Any]]) -> list[SweepPoint]:
    """Points in either accepted form, as SweepPoints (params as strings)."""
    out = []
    for i, p in enumerate(points):
        doc = p.get("result", p)
        if not isinstance(doc, Mapping) or "metrics" not in doc:
            raise ValueError(f"sweep point {i}: no results document (expected `result` or a document with `metrics`)")
        params = {str(k): str(v) for k, v in (p.get("params") or doc.get("params") or {}).items()}
        index = int(doc.get("point", i)) if "result" not in p else int(p.get("point", i))
        out.append(SweepPoint(index, params, doc))
    return out


def pareto_front(xs: Sequence[float], ys: Sequence[float], maximize_y: bool = True) -> list[bool]:
    """Which points no other point beats: x (latency) as low or lower and y as good or better,
    one of them strictly."""
    sign = 1.0 if maximize_y else -1.0
    flags = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        beaten = any(
            j != i and xs[j] <= x and sign * ys[j] >= sign * y and (xs[j] < x or sign * ys[j] > sign * y)
            for j in range(len(xs))
        )
        flags.append(not beaten)
    return flags


def numeric_axis(values: Sequence[str]) -> tuple[list[float], str] | None:
    """(numbers, unit) when every value is a number with the same unit (`8/s`, `16`), else None."""
    numbers, units = [], set()
    for v in values:
        m = _NUMBER.match(v)
        if m is None:
            return None
        numbers.append(float(m.group(1)))
        units.add(m.group(2))
    return (numbers, units.pop()) if len(units) == 1 else None


def slo_target(points: Sequence[SweepPoint], latency: str) -> float | None:
    """A bound on `latency` (`metrics.ttft_ms.p99`) that the points' `slo` blocks declare, if any."""
    parts = latency.split(".")
    if len(parts) != 3 or parts[0] != "metrics":
        return None
    metric, stat = parts[1].removesuffix("_ms"), parts[2]
    for p in points:
        for block in (p.doc.get("slo") or {}).values():
            for obj in block.get("objectives", []):
                if obj.get("metric") == metric and obj.get("stat") == stat and obj.get("unit") == "ms":
                    return float(obj["target"])
    return None


def render_sweep_html(points: Sequence[Mapping[str, Any]], *, latency: str = "metrics.ttft_ms.p99",
                      objective: str = "throughput.output_tokens_per_s", maximize: bool | None = None,
                      slo_ms: float | None = None, title: str | None = None) -> str:
    """The sweep report: `objective` (maximised, unless it is a cost or `maximize=False`) against
    `latency`, with a bound `slo_ms` (default: one the points' SLOs declare on that latency)."""
    from llmsim.report.html import render

    pts = normalise(points)
    if not pts:
        raise ValueError("a sweep report needs at least one point")
    if maximize is None:
        maximize = not objective.split(".")[-1].startswith("cost")
    if slo_ms is None:
        slo_ms = slo_target(pts, latency)
    for p in pts:
        p.values = {path: lookup(p.doc, path) for path, _ in KEY_METRICS}
        p.values[latency] = lookup(p.doc, latency)
        p.values[objective] = lookup(p.doc, objective)
    valid = [p for p in pts if p.values[latency] is not None and p.values[objective] is not None]
    for p, flag in zip(valid, pareto_front([p.values[latency] for p in valid],  # type: ignore[misc]
                                           [p.values[objective] for p in valid], maximize)):  # type: ignore[misc]
        p.on_front = flag
    best = None
    if slo_ms is not None:
        for p in valid:
            p.meets_slo = p.values[latency] <= slo_ms  # type: ignore[operator]
        meeting = [p for p in valid if p.meets_slo]
        if meeting:
            pick = max if maximize else min
            best = pick(meeting, key=lambda p: p.values[objective])  # type: ignore[arg-type, return-value]
    params = list(dict.fromkeys(k for p in pts for k in p.params))
    varying = [k for k in params if len({p.params.get(k, "") for p in pts}) > 1]
    figures = {"sweep-pareto": Markup(pareto_plot(valid, latency, objective, slo_ms, best))}
    param_plots = []
    for k in varying:
        plot_id = "sweep-param-" + re.sub(r"[^a-z0-9]+", "-", k.lower()).strip("-")
        figures[plot_id] = Markup(param_plot(pts, k, [v for v in varying if v != k], plot_id))
        param_plots.append({"param": k, "plot": plot_id})
    return render(
        "sweep.html.j2", points=pts, params=params, varying=varying, metrics=KEY_METRICS, latency=latency,
        objective=objective, latency_label=_label(latency), objective_label=_label(objective),
        maximize=maximize, slo_ms=slo_ms, best=best, figures=figures, param_plots=param_plots,
        title=title or f"llmsim sweep: {pts[0].doc.get('spec', '')}".rstrip(": "),
    )


def _label(path: str) -> str:
    return dict(KEY_METRICS).get(path, path)


def pareto_plot(points: Sequence[SweepPoint], latency: str, objective: str, slo_ms: float | None,
                best: SweepPoint | None) -> str:
    with figure(7.5, 3.6) as fig:
        ax = fig.subplots()
        xs = [p.values[latency] for p in points]
        ys = [p.values[objective] for p in points]
        ax.scatter(xs, ys, color=PALETTE[0], alpha=0.6, label="points", zorder=2)
        front = sorted((p for p in points if p.on_front), key=lambda p: p.values[latency])  # type: ignore[arg-type, return-value]
        ax.plot([p.values[latency] for p in front], [p.values[objective] for p in front], color=PALETTE[1],
                marker="o", label="Pareto front", zorder=3)
        for p in points:
            ax.annotate(str(p.index), (p.values[latency], p.values[objective]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7, color="#555")
        if slo_ms is not None:
            ax.axvline(slo_ms, color=PALETTE[3], linestyle="--", linewidth=1, label=f"SLO {slo_ms:g} ms")
        if best is not None:
            ax.scatter([best.values[latency]], [best.values[objective]], marker="*", s=180, color=PALETTE[2],
                       zorder=4, label=f"best within the SLO (#{best.index})")
        positive = [x for x in xs if x is not None and x > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(_label(latency))
        ax.set_ylabel(_label(objective))
        ax.set_title("Pareto front")
        ax.legend(loc="best")
        return to_svg(fig, "sweep-pareto")


def param_plot(points: Sequence[SweepPoint], param: str, others: Sequence[str], plot_id: str) -> str:
    """Each plotted metric against `param`, one line per combination of the other varying params."""
    values = [p.params.get(param, "") for p in points]
    numeric = numeric_axis(values)
    if numeric is not None:
        xs, unit = numeric
        xlabel = f"{param} ({unit})" if unit else param
    else:
        order = list(dict.fromkeys(values))
        xs, xlabel = [float(order.index(v)) for v in values], param
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault(", ".join(f"{o}={p.params.get(o, '')}" for o in others), []).append(i)
    with figure(7.5, 5.0) as fig:
        axes = fig.subplots(2, 2)
        for ax, (path, label) in zip(axes.flat, PLOTTED_METRICS):
            for g, (name, members) in enumerate(groups.items()):
                pairs = sorted((xs[i], points[i].values[path]) for i in members if points[i].values[path] is not None)
                if pairs:
                    ax.plot([a for a, _ in pairs], [b for _, b in pairs], marker="o", color=PALETTE[g % 10],
                            label=name or None)
            ax.set_title(label)
            ax.set_xlabel(xlabel)
            if numeric is None:
                ax.set_xticks(np.arange(len(order)), order)
        if len(groups) > 1:
            fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center",
                       ncols=min(len(groups), 4))
        return to_svg(fig, plot_id)
