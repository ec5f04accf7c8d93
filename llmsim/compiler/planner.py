"""One pool's instance plan: build, shard, place, split into stages, lower, plan memory and power.

`plan_pool` is the body of the compiler's per-pool pass (`pipeline._plan_pool`). Every problem it
finds is a located diagnostic at the key to change (`tp`, `ep`, `dp`, `pp`, `node`, a `place` key),
never an exception.
"""

from __future__ import annotations

from typing import Any

from msgspec import structs

from llmsim.compiler import catalog
from llmsim.compiler.devices import AnalyticalDevice, DeviceShare, resolve_device, same_hardware
from llmsim.compiler.graph import build_graph, ops_in_order
from llmsim.compiler.host_overheads import prefill_step_overhead_ns
from llmsim.compiler.lower import DEFAULT_MOE_DISTRIBUTION, LinkError, lower, lower_transfer
from llmsim.compiler.memory import MemoryPlan, attention_layers, plan_memory
from llmsim.compiler.models import DTYPE_BYTES, ModelConfig, ModelConfigError, load_model, model_from_hf_config
from llmsim.compiler.placement import place_operators
from llmsim.compiler.plan import HardwareUse, InstancePlan, StagePlan, combine_stages
from llmsim.compiler.power import PowerModel, device_power, host_power, link_bytes
from llmsim.compiler.shard import ShardError, check_parallel, shard_graph
from llmsim.compiler.speculative import SpeculativeCost, memory_with_draft
from llmsim.compiler.stages import split_stages, stage_send
from llmsim.compiler.topology import Topology, TopologyError, pool_topology
from llmsim.diagnostics import DiagnosticBag
from llmsim.lang import ir


def plan_pool(pool: ir.PoolDecl, decl: ir.ModelDecl, model: ModelConfig, entry: Any, bag: DiagnosticBag, *,
              spec: ir.Spec | None = None, entries: dict[str, Any] | None = None,
              moe_distribution: str = DEFAULT_MOE_DISTRIBUTION) -> InstancePlan | None:
    """The plan of one instance of `pool`, or None after reporting why there is none."""
    entries = entries or {}
    tp, pp, ep, dp = pool.tp, pool.pp, pool.ep, pool.dp
    try:
        topology = pool_topology(pool, spec, entry) if spec is not None else Topology.from_entry(entry)
        if spec is not None:
            _check_node(pool, spec)
    except TopologyError as exc:
        bag.error(str(exc), ir.span_of(pool, exc.key), label="does not fit the node", help=exc.help)
        return None
    try:
        graph = shard_graph(build_graph(model, decl.dtype), model, tp, ep=ep, dp=dp)
    except ShardError as exc:
        bag.error(str(exc), ir.span_of(pool, exc.key), label="does not divide the model",
                  help=_parallel_help(model, exc.key, tp, ep, dp))
        return None
    if pp > model.num_layers:
        bag.error(f"pp = {pp} exceeds the {model.num_layers} layers of `{model.name}`", ir.span_of(pool, "pp"),
                  label="a stage would have no layer", help=f"choose `pp` between 1 and {model.num_layers}")
        return None
    placed, targets = _placement(pool, spec, entries, topology, bag)
    if placed is None:
        return None
    graph = place_operators(graph, placed, {dev: topology.attached[dev][0].name for dev in placed.values()})
    sched, kv = pool.scheduler, pool.kv_cache
    stage_graphs = split_stages(graph, model.num_layers, pp)
    stages: list[StagePlan] = []
    kv_device = placed.get("attention")
    for index, sg in enumerate(stage_graphs):
        try:
            lowering = lower(sg, entry, kv_dtype=decl.kv_dtype, max_tokens=sched.max_num_batched_tokens,
                             max_seqs=sched.max_num_seqs, model=model, topology=topology, targets=targets,
                             moe_distribution=moe_distribution)
        except LinkError as exc:
            key = "node" if pool.node is not None else "tp"
            bag.error(str(exc), ir.span_of(pool, key), label="no link to price this",
                      help="give the pool a `node` whose `link` joins its devices, and a `fabric` between nodes")
            return None
        for family, device in placed.items():
            weights = _placed_weights(sg, device)
            room = targets[device].device.memory_bytes * kv.gpu_memory_utilization
            if weights > room:
                bag.error(f"the weights placed on `{device}` ({weights / 1e9:.1f} GB per rank) do not fit in its "
                          f"{room / 1e9:.1f} GB", ir.span_of(pool.placement, family),
                          label="no room on the placed device", help="attach more of it per node, or place less")
                return None
        kv_capacity = None
        if kv_device is not None:
            kv_capacity = _placed_capacity(sg, targets[kv_device], kv_device)
        memory = plan_memory(_home_part(sg), model, tp=tp, kv_dtype=decl.kv_dtype,
                             capacity_bytes=entry.device.memory_bytes, utilization=kv.gpu_memory_utilization,
                             block_size=kv.block_size, max_tokens=sched.max_num_batched_tokens,
                             max_seqs=sched.max_num_seqs, num_blocks=kv.num_blocks, layers=attention_layers(sg),
                             kv_device=kv_device, kv_capacity_bytes=kv_capacity)
        send = None
        if index < pp - 1:
            link = topology.stage_link(tp * dp, index)
            if link is None:
                bag.error(f"no link is known between the pipeline stages of pool `{pool.name}` on `{entry.entry}`",
                          ir.span_of(pool, "pp"), label="stages cannot exchange activations",
                          help="give the pool a `node` with a `link` (and a `fabric` if stages span nodes)")
                return None
            send = lower_transfer(stage_send(model, decl.dtype, link.name), [f"stage{index}.pp_send"],
                                  sched.max_num_batched_tokens, topology)
        stages.append(StagePlan(index, sg.graph.get("layers", (0, model.num_layers)), lowering, memory, send))
    # the runtime's KV cache spans every stage: the stage with the fewest blocks sets the instance's
    memory = stages[0].memory if pp == 1 else min((st.memory for st in stages), key=lambda m: m.kv_blocks_derived)
    max_len = decl.max_model_len or model.max_position_embeddings
    if not _check_memory(pool, decl, model, entry, memory, max_len, bag):
        return None
    lowering = combine_stages(stages)
    hardware = HardwareUse(entry.entry, entry.engine, entry.sha256, entry.kind)
    power = _power_model(pool, spec, entries, entry, lowering, placed, targets, topology)
    plan = InstancePlan(pool=pool.name, model=model, dtype=decl.dtype, kv_dtype=decl.kv_dtype, tp=tp,
                        hardware=hardware, graph=graph, lowering=lowering, memory=memory,
                        overhead_ns=sched.step_overhead_ns, max_model_len=max_len,
                        prefill_overhead_ns=prefill_step_overhead_ns(entry.engine), pp=pp, ep=ep, dp=dp,
                        stages=stages, power=power, placement=placed)
    if pool.speculative is not None and spec is not None:
        return _with_draft(plan, pool, model, entry, bag, spec, entries, moe_distribution)
    return plan


def _with_draft(plan: InstancePlan, pool: ir.PoolDecl, model: ModelConfig, entry: Any, bag: DiagnosticBag,
                spec: ir.Spec, entries: dict[str, Any], moe_distribution: str) -> InstancePlan | None:
    """The plan of a speculating pool: its draft model is planned on the same devices at the same TP
    degree, its weights and KV come out of the target's KV budget (`memory_with_draft`), and the
    runtime prices steps with `plan.speculative` (a `SpeculativeCost`)."""
    sd = pool.speculative
    assert sd is not None
    if model.is_moe and pool.dp > 1:
        bag.error("speculative decoding with attention data parallelism (`dp` > 1 on a MoE model) is not supported "
                  "yet", sd.span, label="not supported yet", help="remove `speculative`, or set `dp = 1`")
        return None
    budget = pool.scheduler.max_num_batched_tokens
    if sd.tokens >= budget:
        bag.error(f"{sd.tokens} speculative tokens per decode leave no room in max_num_batched_tokens = {budget}",
                  ir.span_of(sd, "tokens"), label="each decode verifies tokens + 1 tokens",
                  help=f"set `tokens` below {budget}, or raise `max_num_batched_tokens`")
        return None
    draft_decl = spec.models[sd.draft]
    try:
        draft_model = _load_model(draft_decl)
    except ModelConfigError:
        return None  # reported where the model is declared
    draft_pool = structs.replace(pool, model=sd.draft, pp=1, dp=1, ep=1, placement=None, speculative=None,
                                     lora=None)
    draft = plan_pool(draft_pool, draft_decl, draft_model, entry, bag, spec=spec, entries=entries,
                      moe_distribution=moe_distribution)
    if draft is None:
        return None
    memory = memory_with_draft(plan.memory, draft.memory)
    if memory.kv_blocks == 0 or memory.kv_tokens < plan.max_model_len:
        bag.error(f"with its draft `{sd.draft}`, the KV cache of pool `{pool.name}` holds {memory.kv_tokens} tokens, "
                  f"fewer than max_model_len = {plan.max_model_len}", ir.span_of(sd, "draft"),
                  label="the draft's weights and KV leave too little room",
                  help="use a smaller draft, raise `tp`, or lower `max_model_len`")
        return None
    plan.memory = memory
    plan.speculative = SpeculativeCost(plan, draft, tokens=sd.tokens, acceptance=float(sd.acceptance))
    return plan


def _load_model(decl: ir.ModelDecl) -> ModelConfig:
    """The model config of a declaration (as the compiler's model pass loads it)."""
    if decl.architecture is not None:
        return model_from_hf_config(decl.architecture.to_hf_config(), decl.name)
    path = catalog.config_path(decl.catalog) if decl.catalog else decl.config_path
    assert path is not None, "the checker guarantees a model source"
    return load_model(path, decl.catalog or path.stem)


def _check_memory(pool: ir.PoolDecl, decl: ir.ModelDecl, model: ModelConfig, entry: Any, memory: MemoryPlan,
                  max_len: int, bag: DiagnosticBag) -> bool:
    sched = pool.scheduler
    if memory.kv_blocks == 0:
        gib = (memory.weight_bytes + memory.activation_bytes + memory.reserve_bytes) / 2**30
        at = f"tp = {pool.tp}" + (f", pp = {pool.pp}" if pool.pp > 1 else "") + (
            f", ep = {pool.ep}" if pool.ep > 1 else "")
        bag.error(f"`{model.name}` does not fit on `{entry.entry}` at {at}", ir.span_of(pool, "tp"),
                  label="no memory left for the KV cache",
                  notes=[f"weights, activations and runtime reserve take {gib:.1f} GiB per device of "
                         f"{memory.usable_bytes / 2**30:.1f} GiB usable"],
                  help="raise `tp`" + (", `pp` or `ep`" if model.is_moe else " or `pp`")
                  + ", use a device with more memory, or a smaller model")
        return False
    if memory.kv_tokens < max_len:
        bag.error(f"the KV cache of pool `{pool.name}` holds {memory.kv_tokens} tokens, fewer than "
                  f"max_model_len = {max_len}", ir.span_of(decl, "max_model_len"),
                  label="one request of the maximum length would not fit",
                  help=f"set `max_model_len = {memory.kv_tokens}` (or less) in model `{decl.name}`, "
                  "or give the KV cache more memory")
        return False
    if not sched.chunked_prefill and sched.max_num_batched_tokens < max_len:
        bag.error(f"without chunked prefill, `max_num_batched_tokens` ({sched.max_num_batched_tokens}) must be "
                  f"at least max_model_len ({max_len})", ir.span_of(sched, "max_num_batched_tokens"),
                  label="a long prompt could never be scheduled",
                  help=f"set `max_num_batched_tokens = {max_len}`, enable `chunked_prefill`, or lower "
                  f"`max_model_len` in model `{decl.name}`")
        return False
    return True


def _parallel_help(model: ModelConfig, key: str, tp: int, ep: int, dp: int) -> str:
    def ok(t: int, e: int, d: int) -> bool:
        try:
            check_parallel(model, t, e, d)
        except ShardError:
            return False
        return True

    if key == "tp":
        choices = [t for t in range(1, model.num_heads + 1) if ok(t, 1, 1)]
    elif key == "ep":
        choices = [e for e in range(1, tp * dp + 1) if ok(tp, e, dp)]
    else:
        choices = [d for d in range(1, 65) if ok(tp, ep, d)]
    if not choices:
        return ""
    return f"choose `{key}` among " + ", ".join(str(c) for c in choices)


def _check_node(pool: ir.PoolDecl, spec: ir.Spec) -> None:
    """The pool's node holds the pool's hardware, and enough of it for every instance."""
    if pool.node is None:
        return
    node = spec.nodes[pool.node]
    decl = spec.devices.get(node.device)
    holds = decl.hardware if decl is not None else node.device
    if holds != pool.hardware:
        raise TopologyError(f"pool `{pool.name}` runs on `{pool.hardware}` but node `{node.name}` holds "
                            f"`{node.device}`", "node",
                            help="the node's device must be the pool's `hardware` (or a `device` block naming it)")
    per_instance = pool.tp * pool.dp * pool.pp
    need, have = pool.instances * per_instance, node.replicas * node.count
    if need > have:
        raise TopologyError(f"pool `{pool.name}` needs {need} devices ({pool.instances} instance(s) of "
                            f"tp x dp x pp = {per_instance}) but node `{node.name}` has {have}", "node",
                            help=f"declare more nodes: `node {node.name}[{-(-need // node.count)}]`")


def _placement(pool: ir.PoolDecl, spec: ir.Spec | None, entries: dict[str, Any], topology: Topology,
               bag: DiagnosticBag) -> tuple[dict[str, str] | None, dict[str, Any]]:
    """({place key: device} for the families that move off the pool's devices, {device: entry-like})."""
    if pool.placement is None or spec is None:
        return {}, {}
    placed: dict[str, str] = {}
    targets: dict[str, Any] = {}
    ok = True
    for family, device in pool.placement.placed().items():
        at = ir.span_of(pool.placement, family)
        if same_hardware(device, pool.hardware, spec):
            continue  # the pool's own device: nothing moves, nothing is transferred
        target = resolve_device(device, spec, entries)
        if target is None:
            ok = False
            continue
        if isinstance(target, AnalyticalDevice) and target.missing():
            bag.error(f"device `{device}` has no measured entry, so it needs "
                      + " and ".join(f"`{k}`" for k in target.missing()) + " to price the operators placed on it",
                      at, label="an analytical device without a spec sheet",
                      help=f"add them to `device {device} {{ ... }}`, or give it `hardware = <an entry>`")
            ok = False
            continue
        if device not in topology.attached:
            where = f"node `{pool.node}`" if pool.node else "the pool's node (it has none)"
            bag.error(f"no link is known between `{pool.hardware}` and `{device}`", at,
                      label="the placed operators' inputs and outputs could not travel",
                      help=f"attach it to {where}: `attach {{ device = {device}  count = ...  link = ... }}`")
            ok = False
            continue
        if family == "moe" and (pool.ep > 1 or pool.dp > 1):
            bag.error("placing the experts (`moe`) on another device with `ep` or `dp` > 1 is not supported yet",
                      at, label="not supported yet", help="remove `moe` from `place`, or set `ep = 1` and `dp = 1`")
            ok = False
            continue
        placed[family] = device
        share = topology.attached[device][1]
        targets[device] = DeviceShare(target, share) if share != 1 else target
    return (placed if ok else None), targets


def _home_part(g: Any) -> Any:
    """The graph without the operators placed on other devices (their weights live there)."""
    placed = [n for n, d in g.nodes(data=True) if d.get("device") is not None]
    if not placed:
        return g
    sub = g.copy()
    sub.remove_nodes_from(placed)
    return sub


def _placed_weights(g: Any, device: str) -> int:
    """Bytes of the weights a rank keeps on a placed device."""
    a = DTYPE_BYTES[g.graph["dtype"]]
    return sum(op.weight_params() * a for n, op, _ in ops_in_order(g) if g.nodes[n].get("device") == device)


def _placed_capacity(g: Any, target: Any, device: str) -> int:
    """Memory a rank has on the device holding its KV cache (its share of the attached devices), less
    the weights placed there."""
    return max(0, target.device.memory_bytes - _placed_weights(g, device))


def _power_model(pool: ir.PoolDecl, spec: ir.Spec | None, entries: dict[str, Any], entry: Any, lowering: Any,
                 placed: dict[str, str], targets: dict[str, Any], topology: Topology) -> PowerModel:
    home, source = entry, f"TDP of {entry.entry}'s spec sheet"
    if spec is not None and pool.node is not None:
        name = spec.nodes[pool.node].device
        decl = spec.devices.get(name)
        if decl is not None and decl.power_w is not None:
            home, source = resolve_device(name, spec, entries), f"`power` of device `{name}`"
    count = pool.tp * pool.pp
    devices = [device_power(entry.entry, home.device, count, source)]
    for device in dict.fromkeys(placed.values()):
        share = topology.attached[device][1]
        decl = spec.devices.get(device) if spec is not None else None
        label = f"`power` of device `{device}`" if decl is not None and decl.power_w is not None else \
            f"TDP of {targets[device].entry}'s spec sheet"
        one = getattr(targets[device], "power_device", targets[device].device)
        devices.append(device_power(device, one, count * share, label))
    per_token, per_seq = link_bytes(lowering.ops, pool.tp)
    return PowerModel(tuple(devices), per_token, per_seq, host_power(count, topology.devices_per_node))


def expand_replicas(cluster: Any, plans: dict[str, InstancePlan], spec: ir.Spec) -> Any:
    """Retired: the cluster build (`cluster.build_cluster`) makes each declared instance its
    `plan.replicas` runtime instances. Kept, returning the cluster unchanged, for callers of the
    pass it was."""
    return cluster
