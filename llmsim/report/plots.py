"""The plots of a run's report, each a function from results data to an inline SVG string.

Inputs are the JSON forms (docs/results.md): `distributions`, `timeline` (its full-resolution form,
optionally with `instances`), `step_breakdown` entries, so a report can be rebuilt from a results
file alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from llmsim.report.breakdown import families as breakdown_families
from llmsim.report.svg import PALETTE, figure, to_svg

WIDTH_IN = 7.5  # figure width; the page scales it to the column
METRIC_TITLES = {
    "ttft_ms": "Time to first token",
    "tpot_ms": "Time per output token",
    "itl_ms": "Inter-token latency",
    "e2e_ms": "End-to-end latency",
    "queue_ms": "Queueing time",
}
CDF_METRICS = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms")
# Up to this many instances, KV usage is drawn per instance; above it, per pool (mean and range).
MAX_INSTANCE_LINES = 8


def cdf_axes(ax: Any, series: Sequence[tuple[str, Sequence[float] | None, Sequence[float]]],
             title: str, thresholds: Sequence[float] = ()) -> None:
    """Draw CDFs on `ax`: `series` is (label, values at percents, percents); dashed thresholds."""
    drawn = False
    top = 0.0
    for i, (label, values, percents) in enumerate(series):
        if values is None:
            continue
        ax.plot(values, np.asarray(percents) / 100.0, color=PALETTE[i % len(PALETTE)], label=label,
                drawstyle="steps-post" if len(values) < 3 else "default")
        top = max(top, float(values[-1]))
        drawn = True
    for t in thresholds:
        ax.axvline(t, color="#d62728", linestyle="--", linewidth=1)
    if not drawn:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes, color="#777")
    lows = [float(v[1]) for _, v, _ in series if v is not None and len(v) > 1 and v[1] > 0]
    if drawn and lows and top / min(lows) > 50:
        ax.set_xscale("log")
    ax.set_title(title)
    ax.set_xlabel("ms")
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, 1.02)
    if len([s for s in series if s[1] is not None]) > 1:
        ax.legend(loc="lower right")


def latency_cdfs(dist: Mapping[str, Any], thresholds: Mapping[str, Sequence[float]] | None = None) -> str:
    """TTFT, TPOT, ITL and end-to-end CDFs in a 2 x 2 grid; SLO bounds as dashed lines."""
    thresholds = thresholds or {}
    with figure(WIDTH_IN, 5.2) as fig:
        axes = fig.subplots(2, 2)
        for ax, metric in zip(axes.flat, CDF_METRICS):
            cdf_axes(ax, [("simulated", dist["ms"].get(metric), dist["percent"])], METRIC_TITLES[metric],
                     thresholds.get(metric, ()))
        return to_svg(fig, "latency-cdf")


# -- timelines ------------------------------------------------------------------------------------


def _times(tl: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Bucket centres (s) and the seconds each bucket covers (the last may be shorter)."""
    n, w = tl["buckets"], tl["bucket_s"]
    covered = np.full(n, w)
    covered[-1] = max(tl["end_s"] - (n - 1) * w, 0.0)
    starts = np.arange(n) * w
    return starts + covered / 2, covered


def _rate(values: Sequence[float], covered: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(covered > 0, np.asarray(values, dtype=np.float64) / covered, np.nan)


def _total(tl: Mapping[str, Any], key: str) -> np.ndarray:
    return np.sum([np.asarray(p[key], dtype=np.float64) for p in tl["pools"].values()], axis=0)


def _per_step(num: np.ndarray, steps: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(steps > 0, num / steps, np.nan)


def _finish(ax: Any, title: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(loc="upper right")


def timeline_requests(tl: Mapping[str, Any]) -> str:
    """Arrivals, completions and rejections per second."""
    t, covered = _times(tl)
    with figure(WIDTH_IN, 2.6) as fig:
        ax = fig.subplots()
        req = tl["requests"]
        ax.plot(t, _rate(req["arrivals"], covered), label="arrivals", color=PALETTE[0])
        ax.plot(t, _rate(req["completions"], covered), label="completions", color=PALETTE[2])
        if any(req["rejections"]):
            ax.plot(t, _rate(req["rejections"], covered), label="rejections", color=PALETTE[3])
        _finish(ax, "Requests", "requests / s")
        return to_svg(fig, "timeline-requests")


def timeline_throughput(tl: Mapping[str, Any]) -> str:
    """Output tokens sampled and prompt (prefill) tokens computed per second."""
    t, covered = _times(tl)
    with figure(WIDTH_IN, 2.6) as fig:
        ax = fig.subplots()
        ax.plot(t, _rate(_total(tl, "output_tokens"), covered), label="output tokens", color=PALETTE[1])
        prefill = _total(tl, "step_tokens") - _total(tl, "step_decodes")
        ax.plot(t, _rate(prefill, covered), label="prefill tokens computed", color=PALETTE[4], alpha=0.8)
        _finish(ax, "Throughput", "tokens / s")
        return to_svg(fig, "timeline-throughput")


def timeline_queues(tl: Mapping[str, Any]) -> str:
    """Running and waiting requests (time-weighted means), per pool when there are several."""
    t, _ = _times(tl)
    pools = tl["pools"]
    with figure(WIDTH_IN, 2.6) as fig:
        ax = fig.subplots()
        for i, (name, p) in enumerate(pools.items()):
            suffix = f" ({name})" if len(pools) > 1 else ""
            ax.plot(t, p["running"], label="running" + suffix, color=PALETTE[(2 * i) % 10])
            ax.plot(t, p["waiting"], label="waiting" + suffix, color=PALETTE[(2 * i + 1) % 10], linestyle="--")
        _finish(ax, "Running and waiting requests", "requests")
        return to_svg(fig, "timeline-queues")


def timeline_batches(tl: Mapping[str, Any]) -> str:
    """Mean sequences per step, and mean tokens per step split into decode and prefill."""
    t, _ = _times(tl)
    steps = _total(tl, "steps")
    tokens = _total(tl, "step_tokens")
    decodes = _total(tl, "step_decodes")
    with figure(WIDTH_IN, 4.4) as fig:
        top, bottom = fig.subplots(2, 1, sharex=True)
        top.plot(t, _per_step(_total(tl, "step_seqs"), steps), color=PALETTE[0], label="sequences")
        top.set_title("Batch size per step (mean)")
        top.set_ylabel("sequences")
        top.set_ylim(bottom=0)
        dec = np.nan_to_num(_per_step(decodes, steps))
        pre = np.nan_to_num(_per_step(tokens - decodes, steps))
        bottom.stackplot(t, dec, pre, labels=["decode tokens", "prefill tokens"],
                         colors=[PALETTE[0], PALETTE[1]], alpha=0.8)
        _finish(bottom, "Tokens per step (mean)", "tokens")
        return to_svg(fig, "timeline-batches")


def timeline_kv(tl: Mapping[str, Any]) -> str:
    """KV blocks in use as a share of the KV cache: per instance, or per pool (mean and range)."""
    t, _ = _times(tl)
    instances = tl.get("instances") or {}
    with figure(WIDTH_IN, 2.6) as fig:
        ax = fig.subplots()
        if instances and len(instances) <= MAX_INSTANCE_LINES:
            for i, (name, inst) in enumerate(instances.items()):
                used = np.asarray(inst["kv_blocks_used"]) / max(inst["kv_blocks"], 1)
                ax.plot(t, 100 * used, label=name, color=PALETTE[i % 10])
        else:
            for i, (name, pool) in enumerate(tl["pools"].items()):
                used = np.asarray(pool["kv_blocks_used"]) / max(pool["kv_blocks"], 1)
                ax.plot(t, 100 * used, label=f"{name} (mean of {pool['instances']})", color=PALETTE[i % 10])
                members = [v for v in instances.values() if v["pool"] == name]
                if members:
                    shares = np.array([np.asarray(v["kv_blocks_used"]) / max(v["kv_blocks"], 1) for v in members])
                    ax.fill_between(t, 100 * shares.min(axis=0), 100 * shares.max(axis=0),
                                    color=PALETTE[i % 10], alpha=0.2, linewidth=0)
        _finish(ax, "KV cache in use (GPU memory tier)", "% of KV blocks")
        ax.set_ylim(0, 105)
        return to_svg(fig, "timeline-kv")


def timeline_preemptions(tl: Mapping[str, Any]) -> str:
    """Preemption events per bucket."""
    t, _ = _times(tl)
    with figure(WIDTH_IN, 2.2) as fig:
        ax = fig.subplots()
        edges = np.append(t - tl["bucket_s"] / 2, t[-1] + tl["bucket_s"] / 2)
        counts = _total(tl, "preemptions")
        ax.stairs(counts, edges, fill=True, color=PALETTE[3])
        _finish(ax, f"Preemptions per {tl['bucket_s']:g} s", "preemptions", legend=False)
        if not counts.any():
            ax.set_ylim(0, 1)
            ax.text(0.5, 0.5, "no preemptions", ha="center", va="center", transform=ax.transAxes, color="#777")
        return to_svg(fig, "timeline-preemptions")


def power(energy: Mapping[str, Any]) -> str:
    """Power drawn over time (the results' `energy.power_w`), devices, links and host together."""
    watts = np.asarray(energy["power_w"], dtype=np.float64)
    w = energy["bucket_s"]
    t = np.arange(len(watts)) * w + w / 2
    with figure(WIDTH_IN, 2.4) as fig:
        ax = fig.subplots()
        ax.plot(t, watts / 1000.0, color=PALETTE[5], label="power")
        _finish(ax, "Power (devices, links and host)", "kW", legend=False)
        return to_svg(fig, "timeline-power")


TIMELINE_PLOTS = {
    "timeline-requests": timeline_requests,
    "timeline-throughput": timeline_throughput,
    "timeline-queues": timeline_queues,
    "timeline-batches": timeline_batches,
    "timeline-kv": timeline_kv,
    "timeline-preemptions": timeline_preemptions,
}


# -- step-time breakdown --------------------------------------------------------------------------


def breakdown(entry: Mapping[str, Any], plot_id: str) -> str:
    """One horizontal bar per batch, stacked by operator family (µs)."""
    batches = entry["batches"]
    families = breakdown_families(batches)
    with figure(WIDTH_IN, 0.45 * len(batches) + 1.3) as fig:
        ax = fig.subplots()
        y = np.arange(len(batches))[::-1]
        left = np.zeros(len(batches))
        for i, fam in enumerate(families):
            widths = np.array([b["us"].get(fam, 0.0) for b in batches]) / 1000.0
            ax.barh(y, widths, left=left, color=PALETTE[i % 10], label=fam, height=0.7)
            left += widths
        ax.set_yticks(y, [b["label"] for b in batches])
        ax.set_xlabel("step time (ms)")
        ax.set_title(f"Step time by operator family: pool {entry['pool']}")
        ax.grid(axis="y", visible=False)
        fig.legend(loc="outside lower center", ncols=len(families))
        return to_svg(fig, plot_id)
