"""compile(): checked spec -> graph -> shard -> lower -> plan -> cluster, one named pass at a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmsim.compiler import catalog
from llmsim.compiler.cluster import IMPLICIT_ROUTER, build_cluster  # noqa: F401 (IMPLICIT_ROUTER: re-exported)
from llmsim.compiler.compiled import CompiledSpec
from llmsim.compiler.models import ModelConfig, ModelConfigError, load_model, model_from_hf_config
from llmsim.compiler.plan import InstancePlan
from llmsim.compiler.planner import expand_replicas, plan_pool
from llmsim.compiler.support import check_support
from llmsim.diagnostics import DiagnosticBag, UserError
from llmsim.hwdb import load_entry
from llmsim.hwdb.locate import EntryRef, find_entries
from llmsim.lang import ir
from llmsim.runtime import ClusterSpec


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
        plan = _plan_pool(pool, spec.models[pool.model], model, entry, bag, spec=spec, entries=entries)
        if plan is not None:
            plans[pool.name] = plan
    bag.check()
    cluster, workload_routers = _build_cluster(spec, plans, bag, entries)
    cluster = expand_replicas(cluster, plans, spec)
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
                      help="supported today: dense Llama, Qwen2 and Qwen3 decoders, and the Mixtral, Qwen3-MoE "
                      "and DeepSeek-V3 mixtures of experts" if exc.unsupported else "")
    return models


def _plan_pool(pool: ir.PoolDecl, decl: ir.ModelDecl, model: ModelConfig, entry: Any,
               bag: DiagnosticBag, *, spec: ir.Spec | None = None,
               entries: dict[str, Any] | None = None) -> InstancePlan | None:
    return plan_pool(pool, decl, model, entry, bag, spec=spec, entries=entries)


def _build_cluster(spec: ir.Spec, plans: dict[str, InstancePlan], bag: DiagnosticBag,
                   entries: dict[str, Any] | None = None) -> tuple[ClusterSpec, dict[str, str]]:
    """Instances, KV tiers, routers and prefill/decode handoffs (llmsim/compiler/cluster.py)."""
    return build_cluster(spec, plans, bag, entries)
