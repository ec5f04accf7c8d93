"""compile(): checked spec -> graph -> shard -> lower -> plan -> cluster, one named pass at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmsim.compiler import catalog
from llmsim.compiler.graph import build_graph
from llmsim.compiler.host_overheads import prefill_step_overhead_ns
from llmsim.compiler.lower import lower
from llmsim.compiler.memory import plan_memory
from llmsim.compiler.models import ModelConfig, ModelConfigError, load_model, model_from_hf_config
from llmsim.compiler.plan import HardwareUse, InstancePlan
from llmsim.compiler.shard import ShardError, shard_graph
from llmsim.compiler.support import check_support
from llmsim.diagnostics import DiagnosticBag, UserError
from llmsim.hwdb import load_entry
from llmsim.hwdb.locate import EntryRef, find_entries
from llmsim.lang import ir
from llmsim.runtime import ClusterSpec, InstanceSpec, RouterSpec

IMPLICIT_ROUTER = "default"


@dataclass
class CompiledSpec:
    """Everything the runtime and the reports need from a spec."""

    spec: ir.Spec
    plans: dict[str, InstancePlan]  # pool name -> plan
    cluster: ClusterSpec
    workload_routers: dict[str, str]  # workload name -> router name

    @property
    def hardware(self) -> list[HardwareUse]:
        seen: dict[tuple[str, str], HardwareUse] = {}
        for plan in self.plans.values():
            seen.setdefault((plan.hardware.entry, plan.hardware.engine), plan.hardware)
        return list(seen.values())

    @property
    def fallbacks(self) -> list[dict[str, Any]]:
        return [{"pool": name, **fb.to_json()} for name, plan in self.plans.items() for fb in plan.fallbacks]


def compile_spec(spec: ir.Spec, *, hwdb_paths: Sequence[Path] | None = None) -> CompiledSpec:
    """Lower every pool of a checked spec; raises CompileError with every problem found."""
    bag = DiagnosticBag()
    check_support(spec, bag)
    bag.check()
    entries = _load_hardware(spec, hwdb_paths, bag)
    models = _load_models(spec, bag)
    plans: dict[str, InstancePlan] = {}
    for pool in spec.pools.values():
        model = models.get(pool.model)
        entry = entries.get(pool.hardware)
        if model is None or entry is None:
            continue
        plan = _plan_pool(pool, spec.models[pool.model], model, entry, bag)
        if plan is not None:
            plans[pool.name] = plan
    bag.check()
    cluster, workload_routers = _build_cluster(spec, plans, bag)
    bag.check()
    return CompiledSpec(spec, plans, cluster, workload_routers)


def _load_hardware(spec: ir.Spec, hwdb_paths: Sequence[Path] | None, bag: DiagnosticBag) -> dict[str, Any]:
    refs = {(r.entry, r.engine): r for r in find_entries(hwdb_paths)}
    entries: dict[str, Any] = {}
    for alias, imp in spec.hardware.items():
        ref: EntryRef | None = refs.get((imp.entry, imp.engine_id))
        if ref is None:
            bag.error(f"no hardware entry `{imp.entry}@{imp.engine}-{imp.version}`", imp.span,
                      label="not in the hardware database")
            continue
        try:
            entries[alias] = load_entry(ref)
        except UserError as exc:
            bag.error(f"hardware entry `{ref.spec_name}` is malformed: {exc.message}", imp.span,
                      help="run `llmsim hwdb validate` for details")
    return entries


def _load_models(spec: ir.Spec, bag: DiagnosticBag) -> dict[str, ModelConfig]:
    models: dict[str, ModelConfig] = {}
    for decl in spec.models.values():
        key = "catalog" if decl.catalog else "config" if decl.config_path else "architecture"
        try:
            if decl.architecture is not None:
                models[decl.name] = model_from_hf_config(decl.architecture.to_hf_config(), decl.name)
            else:
                path = catalog.config_path(decl.catalog) if decl.catalog else decl.config_path
                assert path is not None, "the checker guarantees a model source"
                models[decl.name] = load_model(path, decl.catalog or path.stem)
        except ModelConfigError as exc:
            span = decl.architecture.span if key == "architecture" and decl.architecture else ir.span_of(decl, key)
            bag.error(str(exc), span,
                      label="not supported yet" if exc.unsupported else "cannot build this model",
                      help="supported today: dense Llama and Qwen3 decoders" if exc.unsupported else "")
    return models


def _plan_pool(pool: ir.PoolDecl, decl: ir.ModelDecl, model: ModelConfig, entry: Any,
               bag: DiagnosticBag) -> InstancePlan | None:
    try:
        graph = shard_graph(build_graph(model, decl.dtype), model, pool.tp)
    except ShardError as exc:
        divisors = [d for d in range(1, model.num_heads + 1)
                    if model.num_heads % d == 0 and model.intermediate_size % d == 0
                    and (model.num_kv_heads % d == 0 or d % model.num_kv_heads == 0)]
        bag.error(str(exc), ir.span_of(pool, "tp"), label="does not divide the model",
                  help="choose `tp` among " + ", ".join(str(d) for d in divisors))
        return None
    sched, kv = pool.scheduler, pool.kv_cache
    lowering = lower(graph, entry, kv_dtype=decl.kv_dtype, max_tokens=sched.max_num_batched_tokens,
                     max_seqs=sched.max_num_seqs, model=model)
    memory = plan_memory(graph, model, tp=pool.tp, kv_dtype=decl.kv_dtype,
                         capacity_bytes=entry.device.memory_bytes, utilization=kv.gpu_memory_utilization,
                         block_size=kv.block_size, max_tokens=sched.max_num_batched_tokens,
                         max_seqs=sched.max_num_seqs, num_blocks=kv.num_blocks)
    max_len = decl.max_model_len or model.max_position_embeddings
    if memory.kv_blocks == 0:
        gib = (memory.weight_bytes + memory.activation_bytes + memory.reserve_bytes) / 2**30
        bag.error(f"`{model.name}` does not fit on `{entry.entry}` at tp = {pool.tp}", ir.span_of(pool, "tp"),
                  label="no memory left for the KV cache",
                  notes=[f"weights, activations and runtime reserve take {gib:.1f} GiB per device of "
                         f"{memory.usable_bytes / 2**30:.1f} GiB usable"],
                  help="raise `tp`, use a device with more memory, or a smaller model")
        return None
    if memory.kv_tokens < max_len:
        bag.error(f"the KV cache of pool `{pool.name}` holds {memory.kv_tokens} tokens, fewer than "
                  f"max_model_len = {max_len}", ir.span_of(decl, "max_model_len"),
                  label="one request of the maximum length would not fit",
                  help=f"set `max_model_len = {memory.kv_tokens}` (or less) in model `{decl.name}`, "
                  "or give the KV cache more memory")
        return None
    if not sched.chunked_prefill and sched.max_num_batched_tokens < max_len:
        bag.error(f"without chunked prefill, `max_num_batched_tokens` ({sched.max_num_batched_tokens}) must be "
                  f"at least max_model_len ({max_len})", ir.span_of(sched, "max_num_batched_tokens"),
                  label="a long prompt could never be scheduled",
                  help=f"set `max_num_batched_tokens = {max_len}`, enable `chunked_prefill`, or lower "
                  f"`max_model_len` in model `{decl.name}`")
        return None
    hardware = HardwareUse(entry.entry, entry.engine, entry.sha256, entry.kind)
    return InstancePlan(pool=pool.name, model=model, dtype=decl.dtype, kv_dtype=decl.kv_dtype, tp=pool.tp,
                        hardware=hardware, graph=graph, lowering=lowering, memory=memory,
                        overhead_ns=sched.step_overhead_ns, max_model_len=max_len,
                        prefill_overhead_ns=prefill_step_overhead_ns(entry.engine))


def _build_cluster(spec: ir.Spec, plans: dict[str, InstancePlan],
                   bag: DiagnosticBag) -> tuple[ClusterSpec, dict[str, str]]:
    instances: list[InstanceSpec] = []
    pool_instances: dict[str, tuple[int, ...]] = {}
    for pool in spec.pools.values():
        plan = plans[pool.name]
        first = len(instances)
        for i in range(pool.instances):
            instances.append(InstanceSpec(
                name=f"{pool.name}[{i}]", pool=pool.name, cost=plan, num_kv_blocks=plan.memory.kv_blocks,
                block_size=pool.kv_cache.block_size, max_num_seqs=pool.scheduler.max_num_seqs,
                max_num_batched_tokens=pool.scheduler.max_num_batched_tokens,
                chunked_prefill=pool.scheduler.chunked_prefill,
                long_prefill_token_threshold=pool.scheduler.long_prefill_token_threshold,
                max_model_len=plan.max_model_len, prefix_caching=pool.kv_cache.prefix_caching,
                scheduler=pool.scheduler.policy, async_scheduling=pool.scheduler.async_scheduling,
                reserve_full_isl=pool.scheduler.reserve_full_isl))
        pool_instances[pool.name] = tuple(range(first, len(instances)))
    routers = {
        r.name: RouterSpec(r.name, r.policy, tuple(i for t in r.targets for i in pool_instances[t]))
        for r in spec.routers.values()
    }
    workload_routers: dict[str, str] = {}
    for w in spec.workloads.values():
        if w.router is not None:
            workload_routers[w.name] = w.router
        elif len(routers) == 1:
            workload_routers[w.name] = next(iter(routers))
        elif not routers and len(spec.pools) == 1:
            routers[IMPLICIT_ROUTER] = RouterSpec(IMPLICIT_ROUTER, "round_robin", tuple(range(len(instances))))
            workload_routers[w.name] = IMPLICIT_ROUTER
        else:
            bag.error(f"workload `{w.name}` does not say which router receives its requests", w.span,
                      help="add `router = <name>` naming one of: " + ", ".join(sorted(routers)) if routers
                      else "add a `router` block whose `targets` lists the pools")
    return ClusterSpec(tuple(instances), routers), workload_routers
