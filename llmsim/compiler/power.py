"""Power and energy: what each device of an instance draws, and the energy of a run from what the
runtime records.

The model (per runtime instance):

- **Devices.** Each device draws its *active* power while the instance runs a step and its *idle*
  power otherwise. Active power is the device's TDP from its hardware entry's spec sheet (or the
  `power` of its `device` block): an upper bound, since a memory-bound decode step draws less.
  Idle power is the entry's `idle_power` where the entry gives one; no bundled entry does, so the
  default is 25/300 of the active power, the ratio of LLMServingSim's example power configuration
  (`cluster_config/single_node_power_instance.json`, MIT: an RTX A6000 at 25 W idle, 300 W active).
  A device with no power figure at all (some spec-sheet entries, a `device` block without `power`)
  is reported as unknown, never counted as zero.
- **Links.** Every byte a collective or transfer moves over a link costs 4 pJ per bit (the link
  `energy_per_bit` of the same LLMServingSim configuration). The bytes follow from the plan: each
  rank sends its share of every collective (ring all-reduce 2 (g-1)/g of the buffer, all-gather and
  all-to-all (g-1)/g) and every transfer, per token (or sequence) of the step.
- **Host.** The node's base power and CPU, shared by the node's devices: 60 W base, CPU 10 W idle
  and 200 W active at 15 % utilisation (the same configuration's `base_node_power` and `cpu`),
  98.5 W per node, split evenly over the node's devices (one device per node when neither the
  pool's `node` nor the entry says how many a node holds).

Energy of a run is computed from the runtime's timeline (busy time, tokens and sequences of every
instance per bucket), so no runtime change is needed: device energy = sum over devices of active
power x busy time + idle power x idle time; power over time uses each bucket's busy fraction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from msgspec import Struct

from llmsim.compiler.ops import Collective, Transfer

# LLMServingSim example power configuration (cluster_config/single_node_power_instance.json, MIT).
IDLE_FRACTION = 25.0 / 300.0  # RTX A6000: idle_power 25 W, active_power 300 W
LINK_PJ_PER_BIT = 4.0  # link energy_per_bit
HOST_BASE_W = 60.0  # base_node_power
CPU_IDLE_W, CPU_ACTIVE_W, CPU_UTIL = 10.0, 200.0, 0.15
HOST_W_PER_NODE = HOST_BASE_W + CPU_IDLE_W + CPU_UTIL * (CPU_ACTIVE_W - CPU_IDLE_W)
SOURCE = "LLMServingSim example power config (cluster_config/single_node_power_instance.json)"


class DevicePower(Struct, frozen=True):
    """`count` devices of one kind in a runtime instance and what each draws (None: unknown)."""

    device: str
    count: float
    active_w: float | None
    idle_w: float | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "count": self.count, "active_w": self.active_w, "idle_w": self.idle_w,
                "source": self.source}


class PowerModel(Struct, frozen=True):
    """The power figures of one runtime instance of a pool."""

    devices: tuple[DevicePower, ...]
    link_bytes_per_token: float  # bytes all ranks of the instance send over links per new token
    link_bytes_per_seq: float  # ... per sequence of the step (logit gathers, sampler transfers)
    host_w: float  # the instance's share of its nodes' host power
    link_pj_per_bit: float = LINK_PJ_PER_BIT

    def unknown(self) -> list[str]:
        return [d.device for d in self.devices if d.active_w is None or d.idle_w is None]

    def to_json(self) -> dict[str, Any]:
        return {"devices": [d.to_json() for d in self.devices], "link_bytes_per_token": self.link_bytes_per_token,
                "link_bytes_per_seq": self.link_bytes_per_seq, "link_pj_per_bit": self.link_pj_per_bit,
                "host_w": self.host_w}


def device_power(name: str, device: Any, count: float, active_source: str = "TDP") -> DevicePower:
    """Active and idle power of one device kind from its spec sheet (`DeviceSpec`); `active_source`
    says where its `tdp_w` comes from."""
    active = device.tdp_w
    if active is None:
        return DevicePower(name, count, None, None, "no TDP or `power` known: energy not computed")
    source = f"active: {active_source}"
    idle = getattr(device, "idle_w", None)
    if idle is None:
        idle = active * IDLE_FRACTION
        source += f"; idle: 25/300 of it, the ratio of {SOURCE}"
    else:
        source += "; idle: the entry's idle_power"
    return DevicePower(name, count, float(active), float(idle), source)


def link_bytes(ops: list[Any], ranks: int) -> tuple[float, float]:
    """(per token, per sequence) bytes the `ranks` ranks of an instance send over links."""
    per_token = per_seq = 0.0
    for item in ops:
        op = item.op
        if isinstance(op, Collective):
            g = op.group
            factor = 2.0 * (g - 1) / g if op.kind == "all_reduce" else (g - 1) / g
            sent = factor * op.elements * op.dtype_bytes * item.count * ranks
        elif isinstance(op, Transfer):
            sent = op.bytes_per_item * item.count * ranks
        else:
            continue
        if getattr(op, "per", "token") == "seq":
            per_seq += sent
        else:
            per_token += sent
    return per_token, per_seq


def host_power(devices: int, devices_per_node: int | None) -> float:
    return HOST_W_PER_NODE * devices / (devices_per_node or 1)


# -- energy of a run --------------------------------------------------------------------------------


def energy_report(plans: dict[str, Any], timeline: Any, completed: int, max_buckets: int | None = None
                  ) -> dict[str, Any] | None:
    """The results document's `energy` key from the runtime's timeline; None without plans' power.

    `timeline` is a `llmsim.runtime.timeline.Timeline`; `max_buckets` coarsens `power_w` like the
    document's timeline."""
    if timeline is None or not plans:
        return None
    t = timeline.coarsen(max_buckets) if max_buckets else timeline
    end_s = t.end_ns / 1e9
    covered_s = t.covered_ns().astype(np.float64) / 1e9
    busy_level = t.level("busy")  # instance x bucket, 0..1
    busy_s = t.integrals["busy"].sum(axis=1) / 1e9  # per instance
    pools_rows = t.pools()
    pools: dict[str, Any] = {}
    power_w = np.zeros(t.num_buckets)
    totals = {"devices": 0.0, "links": 0.0, "host": 0.0}
    unknown: list[str] = []
    for pool, rows in pools_rows.items():
        plan = plans.get(pool)
        model = getattr(plan, "power", None)
        if model is None:
            continue
        active_j = idle_j = link_j = host_j = 0.0
        for d in model.devices:
            if d.active_w is None or d.idle_w is None:
                unknown.append(f"{pool}: {d.device}")
                continue
            b = busy_s[rows].sum()
            active_j += d.count * d.active_w * b
            idle_j += d.count * d.idle_w * (len(rows) * end_s - b)
            power_w += d.count * (d.idle_w * len(rows) + (d.active_w - d.idle_w) * busy_level[rows].sum(axis=0))
        joules_per_byte = model.link_pj_per_bit * 8e-12
        moved = (t.sums["step_tokens"][rows] * model.link_bytes_per_token
                 + t.sums["step_seqs"][rows] * model.link_bytes_per_seq).sum(axis=0)
        link_j = float(moved.sum() * joules_per_byte)
        with np.errstate(invalid="ignore", divide="ignore"):
            power_w += np.where(covered_s > 0, moved * joules_per_byte / covered_s, 0.0)
        host_j = model.host_w * len(rows) * end_s
        power_w += model.host_w * len(rows)
        pools[pool] = {"instances": len(rows), "devices_j": active_j + idle_j, "active_j": active_j, "idle_j": idle_j,
                       "links_j": link_j, "host_j": host_j, "busy_s": float(busy_s[rows].sum()),
                       "devices": [d.to_json() for d in model.devices], "host_w": model.host_w}
        totals["devices"] += active_j + idle_j
        totals["links"] += link_j
        totals["host"] += host_j
    if not pools:
        return None
    # Links the runtime moves bytes over itself (KV handoffs between instances, KV tiers): its timeline
    # integrates their throughput, so each bucket holds the bytes moved.
    runtime_links = getattr(t, "series", {}).get("links", {})
    if runtime_links:
        moved_kv = np.sum([np.asarray(v, dtype=np.float64) for v in runtime_links.values()], axis=0)
        kv_j = float(moved_kv.sum() * LINK_PJ_PER_BIT * 8e-12)
        totals["links"] += kv_j
        with np.errstate(invalid="ignore", divide="ignore"):
            power_w += np.where(covered_s > 0, moved_kv * LINK_PJ_PER_BIT * 8e-12 / covered_s, 0.0)
    total = sum(totals.values())
    tokens = float(t.sums["output_tokens"].sum())
    return {
        "total_j": total,
        "per_request_j": total / completed if completed else None,
        "per_output_token_j": total / tokens if tokens else None,
        "mean_power_w": total / end_s if end_s > 0 else None,
        "components_j": totals,
        "pools": pools,
        "bucket_s": t.bucket_ns / 1e9,
        "power_w": [float(f"{x:.5g}") for x in power_w.tolist()],
        "unknown_power": unknown,
        "complete": not unknown,
        "model": ("devices: active power (TDP) while a step runs, idle power otherwise; links: "
                  f"{LINK_PJ_PER_BIT:g} pJ/bit; host: {HOST_W_PER_NODE:g} W per node (docs/techniques.md)"),
    }
