"""Self-contained HTML reports: a run, a sweep, a validation. One file each, no network needed.

Pages are jinja2 templates (`templates/`, autoescaped) with the plots inlined as SVG; the only
content that differs between identical runs is the wall-clock time. The signatures and the inputs
are documented in docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from llmsim.report import plots
from llmsim.report.breakdown import NOT_MODELLED_FAMILIES
from llmsim.report.breakdown import families as breakdown_families
from llmsim.report.terminal import METRIC_LABELS, STATS

HTML_TIMELINE_BUCKETS = 256  # at most, in `llmsimc --html` reports
NOT_MODELLED_TIMELINES = {
    "kv_tiers": "KV blocks per memory tier: only GPU memory is modelled (no CPU or disk offload tiers yet).",
    "link_utilisation": "Link utilisation: not modelled yet (no KV transfer or collectives over links).",
    "power": "Power and energy: not modelled yet.",
}


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("llmsim.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ms"] = format_ms
    env.filters["num"] = format_num
    env.filters["pct"] = format_pct
    env.filters["seconds"] = format_seconds
    env.globals["version"] = _version()
    return env


def _version() -> str:
    try:
        return metadata.version("llmsim")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def format_ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"


def format_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def format_seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:,.2f}"


def format_pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f} %"


def render(template: str, **context: Any) -> str:
    """Render one of the report templates."""
    return _env().get_template(template).render(**context)


def write(path: Path, html: str) -> int:
    """Write a page; returns its size in bytes."""
    data = html.encode("utf-8")
    Path(path).write_bytes(data)
    return len(data)


# -- a run ----------------------------------------------------------------------------------------


def render_report_html(doc: Mapping[str, Any], *, timeline: Mapping[str, Any] | None = None,
                       spec_source: str | None = None, compiled_listing: str | None = None) -> str:
    """The report of one run, from its results document (`results_document(..., result=...)`).

    `timeline` is a finer `timeline` than the document's (`SimResult.timeline.to_json(None, True)`);
    `spec_source` is the spec as written, `compiled_listing` the spec and plans as compiled.
    """
    tl = timeline if timeline is not None else doc.get("timeline")
    figures: dict[str, Markup] = {}
    dist = doc.get("distributions")
    if dist is not None:
        figures["latency-cdf"] = Markup(plots.latency_cdfs(dist, slo_thresholds(doc.get("slo") or {})))
    if tl is not None:
        for plot_id, draw in plots.TIMELINE_PLOTS.items():
            figures[plot_id] = Markup(draw(tl))
    energy = doc.get("energy")
    if energy and energy.get("power_w"):
        figures["timeline-power"] = Markup(plots.power(energy))
    breakdowns = []
    for entry in doc.get("step_breakdown") or []:
        if entry["batches"]:
            plot_id = "breakdown-" + _slug(entry["pool"])
            figures[plot_id] = Markup(plots.breakdown(entry, plot_id))
            breakdowns.append({"plot": plot_id, "families": breakdown_families(entry["batches"]), **entry})
    return render(
        "report.html.j2",
        doc=doc,
        timeline=tl,
        figures=figures,
        breakdowns=breakdowns,
        metric_labels=METRIC_LABELS,
        stats=STATS,
        slo=doc.get("slo") or {},
        spec_source=spec_source,
        compiled_listing=compiled_listing,
        not_modelled=[NOT_MODELLED_TIMELINES[k] for k in (tl or {}).get("not_modelled", []) if k in
                      NOT_MODELLED_TIMELINES and not (k == "power" and energy)],
        energy=energy,
        not_modelled_families=NOT_MODELLED_FAMILIES,
        # metrics whose percentiles came from a histogram (a long run without per-request rows)
        approximate={k: m["percentiles_rel_error"] for k, m in doc["metrics"].items() if "percentiles_rel_error" in m},
    )


def write_report_html(doc: Mapping[str, Any], path: Path, **kwargs: Any) -> int:
    """Write `render_report_html(doc, **kwargs)` to `path`; returns the size in bytes."""
    return write(path, render_report_html(doc, **kwargs))


def write_run_html(path: Path, doc: Mapping[str, Any], *, spec: Any, compiled: Any, result: Any) -> int:
    """The report of a run as `llmsimc --html` writes it: the spec as written and compiled, and the
    timeline at up to HTML_TIMELINE_BUCKETS buckets with every instance. Returns the size in bytes."""
    from llmsim.compiler.emit import emit_plan
    from llmsim.lang import emit_ir

    listing = emit_ir(spec) + "\n" + "\n".join(
        emit_plan(compiled.plans[pool.name], pool.instances) for pool in spec.pools.values())
    try:
        source: str | None = Path(spec.path).read_text(encoding="utf-8")
    except OSError:
        source = None
    timeline = result.timeline.to_json(HTML_TIMELINE_BUCKETS, instances=True) if result.timeline else None
    return write_report_html(doc, path, timeline=timeline, spec_source=source, compiled_listing=listing)


def slo_thresholds(slo: Mapping[str, Any]) -> dict[str, list[float]]:
    """Latency bounds of the results' `slo` key, by CDF metric (`ttft_ms`: [500.0])."""
    out: dict[str, list[float]] = {}
    for block in slo.values():
        for obj in block.get("objectives", []):
            if obj.get("unit") == "ms" and obj.get("op") in ("<", "<="):
                key = f"{obj['metric']}_ms"
                if obj["target"] not in out.setdefault(key, []):
                    out[key].append(obj["target"])
    return out


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return slug or "pool"


# -- a sweep and a validation (their data models live in sweep.py and validation.py) ---------------


def write_sweep_html(points: Sequence[Mapping[str, Any]], path: Path, **kwargs: Any) -> int:
    """Write the report of a sweep (see `llmsim.report.sweep.render_sweep_html`); returns bytes."""
    from llmsim.report.sweep import render_sweep_html

    return write(path, render_sweep_html(points, **kwargs))


def write_validation_html(measured: Mapping[str, Any], simulated: Mapping[str, Any], path: Path,
                          **kwargs: Any) -> int:
    """Write measured-against-simulated (see `llmsim.report.validation.render_validation_html`)."""
    from llmsim.report.validation import render_validation_html

    return write(path, render_validation_html(measured, simulated, **kwargs))
