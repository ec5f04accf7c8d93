"""Where a step's time goes: the compiled plan's `breakdown_us` at reference and run-mean batches.

Reference batches are those of `--emit plan`. The run-mean batches come from the timeline's
per-step sums for the pool: the mean step (decodes and prefill chunks together), the mean
decode-only step (the mean number of decodes of steps that decoded, at the mean context), and the
mean prefill chunk alone.
"""

from __future__ import annotations

from typing import Any

from llmsim.runtime.batch import BatchShape

# Families in the order the report stacks them; a plan may add others (they follow, sorted).
FAMILIES = ("gemm", "attention", "collective", "elementwise", "memory", "overhead")
# Issue-level families llmsim does not price yet: listed so the report can say so.
NOT_MODELLED_FAMILIES = ("transfers",)


def mean_batches(totals: dict[str, int]) -> list[tuple[str, BatchShape]]:
    """The run's mean batches from per-step sums (`Timeline.totals()`); empty if no step ran.

    Decode: the mean decodes per step, at the mean context. Prefill: one chunk of the mean chunk
    length. Mixed: both in one step (steps that carry a chunk usually decode too).
    """
    out: list[tuple[str, BatchShape]] = []
    decodes, steps = totals.get("step_decodes", 0), totals.get("steps", 0)
    chunks = totals.get("step_seqs", 0) - decodes
    n = ctx = chunk = 0
    if decodes and steps:
        n = max(1, round(decodes / steps))
        ctx = max(1, round(totals["step_decode_context"] / decodes))
        out.append((f"run mean decode step: {n} seqs x {ctx} ctx", BatchShape.decode(n, ctx)))
    if chunks > 0:
        chunk = max(1, round((totals["step_tokens"] - decodes) / chunks))
        out.append((f"run mean prefill chunk: {chunk} tokens", BatchShape.prefill(chunk)))
    if n and chunk:
        out.append((f"run mean mixed step: {n} decodes + a {chunk}-token chunk",
                    BatchShape(n + chunk, n + 1, n, n * ctx, ctx, ((chunk, 0),))))
    return out


def step_breakdown(compiled: Any, timeline: Any = None) -> list[dict[str, Any]]:
    """The results document's `step_breakdown` key: per pool, step time by operator family."""
    from llmsim.compiler.emit import REFERENCE_BATCHES

    out: list[dict[str, Any]] = []
    for name, plan in compiled.plans.items():
        sched = compiled.spec.pools[name].scheduler
        batches = [("reference", label, shape) for label, shape in REFERENCE_BATCHES]
        if timeline is not None and name in timeline.pools():
            batches += [("run", label, shape) for label, shape in mean_batches(timeline.totals(name))]
        rows = []
        for kind, label, shape in batches:
            if shape.num_tokens > sched.max_num_batched_tokens or shape.num_seqs > sched.max_num_seqs:
                continue
            us = plan.breakdown_us(shape)
            rows.append({
                "kind": kind,
                "label": label,
                "batch": {"tokens": shape.num_tokens, "seqs": shape.num_seqs, "decodes": shape.n_decode,
                          "decode_context": shape.decode_kv_max, "prefill_chunks": [c for c, _ in shape.prefills]},
                "us": {f: round(us[f], 3) for f in _ordered(us)},
                "total_us": round(sum(us.values()), 3),
            })
        out.append({"pool": name, "batches": rows})
    return out


def _ordered(us: dict[str, float]) -> list[str]:
    return [f for f in FAMILIES if f in us] + sorted(f for f in us if f not in FAMILIES)


def families(batches: list[dict[str, Any]]) -> list[str]:
    """Every family that appears in a pool's batches, in the report's order."""
    return _ordered({f: 0.0 for b in batches for f in b["us"]})
