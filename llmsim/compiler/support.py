"""What the language accepts but the compiler and runtime cannot run yet: one refusal per construct.

The language checks every construct of the roadmap and compiles it to the IR; this is the one place
that refuses, with a located "not supported yet" diagnostic, those whose compiler or runtime support
lands in a later version. When a feature lands, delete its line here.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmsim.diagnostics import DiagnosticBag, Span
from llmsim.lang import ir

_HELP = "remove it, or keep the spec for a later llmsim version"


def check_support(spec: ir.Spec, bag: DiagnosticBag) -> None:
    """Report every construct of `spec` that cannot run yet."""
    for what, span in unsupported(spec):
        bag.error(f"{what} is not supported yet", span, label="not supported yet", help=_HELP)


def unsupported(spec: ir.Spec) -> Iterator[tuple[str, Span]]:
    """(what, where) for every construct of `spec` that cannot run yet, in a stable order."""
    for fabric in spec.fabrics.values():
        if fabric.topology not in ("full", "fat_tree"):  # collectives assume full bisection bandwidth
            yield f"fabric topology `{fabric.topology}`", ir.span_of(fabric, "topology")
    for pool in spec.pools.values():
        yield from _pool(pool)
    for w in spec.workloads.values():
        if w.sessions is not None:
            yield "multi-turn sessions (`sessions`)", w.sessions.span
        if w.priority != 0:
            yield "request priorities (`priority`)", ir.span_of(w, "priority")


def _pool(pool: ir.PoolDecl) -> Iterator[tuple[str, Span]]:
    at = ir.span_of
    if pool.speculative is not None and pool.pp > 1:
        yield "speculative decoding with pipeline parallelism (`pp` > 1)", pool.speculative.span
    if pool.lora is not None:
        yield "LoRA adapters", pool.lora.span
    if pool.scheduler.policy not in _scheduler_policies():  # vllm, and plugins registered by name
        yield f"scheduler policy `{pool.scheduler.policy}`", at(pool.scheduler, "policy")
    if pool.scheduler.order != "fcfs":
        yield f"scheduling order `{pool.scheduler.order}`", at(pool.scheduler, "order")


def _scheduler_policies() -> list[str]:
    from llmsim.runtime.scheduler import SCHEDULERS

    return SCHEDULERS.names()
