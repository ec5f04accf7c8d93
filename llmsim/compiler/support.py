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
    for kind, table in (("device", spec.devices), ("link", spec.links), ("node", spec.nodes),
                        ("fabric", spec.fabrics)):
        for decl in table.values():
            yield f"a `{kind}` block (devices, links and fabrics of a cluster)", decl.span
    for pool in spec.pools.values():
        yield from _pool(pool)
    for router in spec.routers.values():
        if router.policy != "round_robin":
            yield f"router policy `{router.policy}`", ir.span_of(router, "policy")
    for w in spec.workloads.values():
        if w.sessions is not None:
            yield "multi-turn sessions (`sessions`)", w.sessions.span
        if w.priority != 0:
            yield "request priorities (`priority`)", ir.span_of(w, "priority")


def _pool(pool: ir.PoolDecl) -> Iterator[tuple[str, Span]]:
    at = ir.span_of
    if pool.pp > 1:
        yield "pipeline parallelism (`pp` > 1)", at(pool, "pp")
    if pool.ep > 1:
        yield "expert parallelism (`ep` > 1)", at(pool, "ep")
    if pool.dp > 1:
        yield "data parallelism (`dp` > 1)", at(pool, "dp")
    if pool.role != "unified":
        yield f"`role = {pool.role}` (prefill/decode disaggregation)", at(pool, "role")
    if pool.node is not None:
        yield "placing a pool on nodes (`node`)", at(pool, "node")
    if pool.kv_link is not None:
        yield "KV transfer over a link (`kv_link`)", at(pool, "kv_link")
    if pool.placement is not None:
        yield "operator placement (`place`)", pool.placement.span
    if pool.speculative is not None:
        yield "speculative decoding", pool.speculative.span
    if pool.lora is not None:
        yield "LoRA adapters", pool.lora.span
    if pool.scheduler.policy != "vllm":
        yield f"scheduler policy `{pool.scheduler.policy}`", at(pool.scheduler, "policy")
    if pool.scheduler.order != "fcfs":
        yield f"scheduling order `{pool.scheduler.order}`", at(pool.scheduler, "order")
    for tier in pool.kv_cache.tiers:
        yield "KV offload tiers (`tier`)", tier.span
