"""Equivalence harness: canonical dumps of simulation results, to keep performance work exact.

A performance change to the runtime or the cost model must not move any result. This module runs a
broad set of cases (every shipped spec through the product path, and seeded random workloads
through `simulate()` covering each runtime feature) and reduces each run to a canonical JSON text:
the summary, every per-request column, the inter-token-gap samples, the full-resolution timeline,
the CSV rows, the results document of spec runs (without its wall-clock key) and a digest of every
`BatchShape` the cost models were asked to price with the duration they returned.

    python -m tests.runtime.equivalence record DIR      # every case, one file each, into DIR
    python -m tests.runtime.equivalence compare DIR     # run again and compare with DIR, exactly
    python -m tests.runtime.equivalence digests         # sha256 of the FAST cases (the test's table)

`tests/runtime/test_equivalence.py` checks the digests of the fast cases against its table; the
table is regenerated only deliberately (a change that is meant to change results).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from msgspec import structs

from llmsim.runtime import (
    ClosedLoop,
    ClusterSpec,
    LockstepSpec,
    RouterSpec,
    SpeculativeSpec,
    Workload,
    simulate,
)
from llmsim.runtime.spec import HandoffSpec, LinkSpec, TierSpec

from .rt_helpers import FIXTURES, AffineCost, instance

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
GB = 1_000_000_000
MS = 1_000_000


# -- recording cost models ------------------------------------------------------------------------


class _Log:
    """A running sha256 of every priced shape and its duration, in call order."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.calls = 0

    def add(self, kind: str, batch: Any, out: Any) -> None:
        self.calls += 1
        self.h.update(repr((kind, batch.num_tokens, batch.num_seqs, batch.n_decode, batch.decode_kv_sum,
                            batch.decode_kv_max, batch.decode_kv_min, tuple(batch.prefills), out)).encode())


class _Recording:
    """Forwards to a cost model, logging every call that prices a batch."""

    def __init__(self, inner: Any, log: _Log) -> None:
        self._inner = inner
        self._log = log

    def step_time_ns(self, batch: Any) -> int:
        out = self._inner.step_time_ns(batch)
        self._log.add("step", batch, out)
        return out

    def stage_times_ns(self, batch: Any) -> list[int]:
        out = self._inner.stage_times_ns(batch)
        self._log.add("stages", batch, tuple(out))
        return out

    def group_step_time_ns(self, batches: Any) -> int:
        out = self._inner.group_step_time_ns(batches)
        for b in batches:
            self._log.add("group", b, out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def recording(cluster: ClusterSpec, log: _Log) -> ClusterSpec:
    """The cluster with every cost model wrapped in a `_Recording` (shared models stay shared)."""
    wrapped: dict[int, _Recording] = {}

    def wrap(model: Any) -> Any:
        if model is None:
            return None
        if id(model) not in wrapped:
            wrapped[id(model)] = _Recording(model, log)
        return wrapped[id(model)]

    instances = tuple(structs.replace(s, cost=wrap(s.cost), stages=wrap(s.stages)) for s in cluster.instances)
    lockstep = tuple(structs.replace(g, cost=wrap(g.cost)) for g in cluster.lockstep)
    return structs.replace(cluster, instances=instances, lockstep=lockstep)


# -- canonical form -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical(result: Any, *, csv_text: str | None = None, log: _Log | None = None,
              document: dict[str, Any] | None = None) -> str:
    """Everything a run measured, as deterministic JSON text (floats by repr: exact)."""
    doc: dict[str, Any] = {
        "summary": result.summary(),
        "columns": result.columns,
        "itl": [result.itl_values_ns, result.itl_counts],
        "rejected": result.rejected_ids,
        "completed": result.completed,
    }
    t = result.timeline
    if t is not None:
        doc["timeline"] = {"bucket_ns": t.bucket_ns, "end_ns": t.end_ns, "requests": t.requests, "sums": t.sums,
                           "integrals": t.integrals, "series": t.series}
    if csv_text is not None:
        doc["csv_sha256"] = hashlib.sha256(csv_text.encode()).hexdigest()
    if log is not None:
        doc["priced"] = [log.calls, log.h.hexdigest()]
    if document is not None:
        doc["document"] = document
    return json.dumps(_plain(doc), sort_keys=True, indent=0)


def run_cluster(cluster: ClusterSpec, workloads: list[tuple[Workload, str]], **kw: Any) -> str:
    """`simulate()` with recording cost models and a CSV file; the canonical text."""
    log = _Log()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "requests.csv"
        result = simulate(recording(cluster, log), workloads, csv_path=csv, **kw)
        text = csv.read_text(encoding="utf-8")
    return canonical(result, csv_text=text, log=log)


def run_spec(path: Path, *defines: str, include: tuple[Path, ...] = ()) -> str:
    """A spec through the product path (`llmsimc SPEC --json`), results document included.

    The spec compiles through the compiled-spec cache as llmsimc does (run `compare` twice against
    the same LLMSIM_CACHE_DIR to check that a cache hit changes nothing); a spec with a sweep runs
    its params' own values."""
    from llmsim import slo
    from llmsim.cache import compile_file
    from llmsim.compiler import compile_spec
    from llmsim.hwdb.locate import default_paths
    from llmsim.report.results import results_document
    from llmsim.runtime import build_workload

    hwdb = default_paths([])
    spec, compiled = compile_file(path, search_paths=list(include), hwdb_paths=hwdb, defines=list(defines))
    if compiled is None:
        compiled = compile_spec(spec, hwdb_paths=hwdb)
    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    sim = spec.simulation
    log = _Log()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "requests.csv"
        result = simulate(recording(compiled.cluster, log), workloads, max_time_ns=sim.max_time_ns if sim else None,
                          csv_path=csv)
        text = csv.read_text(encoding="utf-8")
    document = results_document(compiled, result.summary(), 0.0, result=result)
    document["sim"].pop("wall_s")
    document["slo"] = slo.evaluate(spec.slos, result, list(spec.workloads))
    return canonical(result, csv_text=text, log=log, document=document)


# -- random workloads -----------------------------------------------------------------------------


def _lengths(rng: np.random.Generator, n: int, prompt: tuple[int, int], output: tuple[int, int]):
    return rng.integers(prompt[0], prompt[1] + 1, n), rng.integers(output[0], output[1] + 1, n)


def _arrivals(rng: np.random.Generator, n: int, mean_gap_ns: int) -> np.ndarray:
    return np.cumsum(rng.exponential(mean_gap_ns, n).astype(np.int64)) - 0


def _ids(rng: np.random.Generator, prompts: np.ndarray, vocab: int, shared: int = 0) -> list[list[int]]:
    """Token ids from a small vocabulary (shared prefixes), optionally after a common system prompt."""
    system = rng.integers(0, 50, shared).tolist()
    return [system + rng.integers(0, vocab, max(int(p) - shared, 0)).tolist() for p in prompts]


def _workload(seed: int, n: int, gap: int, prompt=(1, 300), output=(1, 120), *, ids: int = 0, shared: int = 0,
              closed: tuple[int, int] | None = None, hash_ids: bool = False) -> Workload:
    rng = np.random.default_rng(seed)
    prompts, outputs = _lengths(rng, n, prompt, output)
    token_ids = _ids(rng, prompts, ids, shared) if ids else None
    hids = [rng.integers(0, 6, -(-int(p) // 512) + 1).tolist() for p in prompts] if hash_ids else None
    if closed is not None:
        return Workload.from_arrays(prompts, outputs, closed_loop=ClosedLoop(*closed), token_ids=token_ids,
                                    hash_ids=hids)
    return Workload.from_arrays(prompts, outputs, _arrivals(rng, n, gap), token_ids=token_ids, hash_ids=hids)


def _cluster(n: int, policy: str = "round_robin", cost: Callable[[], Any] | None = None, **kw: Any) -> ClusterSpec:
    specs = tuple(instance(i, cost() if cost else AffineCost(record=False, per_kv=3), **kw) for i in range(n))
    return ClusterSpec(specs, {"r": RouterSpec("r", policy, tuple(range(n)))})


BASE = dict(num_kv_blocks=400, block_size=16, max_num_seqs=32, max_num_batched_tokens=512, max_model_len=4096)


def _basic(seed: int, *, n_inst: int = 2, n: int = 400, gap: int = 2 * MS, policy: str = "round_robin",
           wl: dict[str, Any] | None = None, sim: dict[str, Any] | None = None, **kw: Any) -> str:
    cfg = {**BASE, **kw}
    return run_cluster(_cluster(n_inst, policy, **cfg), [(_workload(seed, n, gap, **(wl or {})), "r")], **(sim or {}))


class _Stages:
    """A fake StageCostModel (tests/runtime/test_pipeline.py's)."""

    def __init__(self, per_stage: list[int], per_token: int = 0, send: int = 0, host: int = 0) -> None:
        self.per_stage, self.per_token, self.send, self.host = per_stage, per_token, send, host

    def stage_times_ns(self, batch: Any) -> list[int]:
        return [t + self.per_token * batch.num_tokens for t in self.per_stage]

    def stage_transfer_ns(self, batch: Any) -> list[int]:
        return [self.send] * (len(self.per_stage) - 1)

    def host_ns(self, batch: Any) -> int:
        return self.host

    def step_time_ns(self, batch: Any) -> int:
        return self.host + sum(self.stage_times_ns(batch)) + self.send * (len(self.per_stage) - 1)


class _GroupCost:
    def __init__(self, base: int = MS, per_token: int = 10_000, shared: int = 1_000) -> None:
        self.base, self.per_token, self.shared = base, per_token, shared

    def group_step_time_ns(self, batches: Any) -> int:
        own = max(self.base + self.per_token * b.num_tokens for b in batches)
        return own + self.shared * sum(b.num_tokens for b in batches)


class _SpecCost:
    def __init__(self, k: int, base: int = MS, per_token: int = 2_000, draft: int = 50_000) -> None:
        self.k, self.base, self.per_token, self.draft = k, base, per_token, draft

    def step_time_ns(self, batch: Any) -> int:
        verified = batch.num_tokens + self.k * batch.n_decode
        return self.base + self.per_token * verified + (self.draft * self.k if batch.n_decode else 0)


def _pipeline(seed: int, async_scheduling: bool, small_kv: bool) -> str:
    stages = _Stages([MS, 2 * MS, MS], per_token=1_000, send=50_000, host=100_000)
    spec = instance(0, cost=stages, stages=stages, pp=3, **{**BASE, "async_scheduling": async_scheduling,
                                                              "num_kv_blocks": 60 if small_kv else 400})
    cl = ClusterSpec((spec,), {"r": RouterSpec("r", "round_robin", (0,))})
    return run_cluster(cl, [(_workload(seed, 300, 3 * MS), "r")])


def _lockstep(seed: int, async_scheduling: bool, n: int = 3) -> str:
    specs = tuple(instance(i, cost=AffineCost(record=False), **{**BASE, "async_scheduling": async_scheduling,
                                                                 "num_kv_blocks": 120}) for i in range(n))
    cl = ClusterSpec(specs, {"r": RouterSpec("r", "least_loaded", tuple(range(n)))},
                     lockstep=(LockstepSpec("g", tuple(range(n)), _GroupCost()),))
    return run_cluster(cl, [(_workload(seed, 400, 2 * MS), "r")])


def _speculative(seed: int, k: int, acceptance: float, async_scheduling: bool, prefix: bool, small_kv: bool) -> str:
    spec = instance(0, cost=_SpecCost(k), speculative=SpeculativeSpec(k, acceptance),
                    **{**BASE, "async_scheduling": async_scheduling, "prefix_caching": prefix,
                       "num_kv_blocks": 80 if small_kv else 400})
    cl = ClusterSpec((spec,), {"r": RouterSpec("r", "round_robin", (0,))})
    return run_cluster(cl, [(_workload(seed, 300, 2 * MS), "r")], seed=seed)


def _tiers(seed: int, shared: bool, eviction: str, prefix: bool) -> str:
    block_bytes_per_token = 1000
    tier = TierSpec("main.cpu", "cpu", 60 * 16 * block_bytes_per_token, LinkSpec("main.cpu", GB // 10, 2_000),
                    shared, eviction)
    specs = tuple(instance(i, AffineCost(record=False), tiers=(tier,), kv_bytes_per_token=block_bytes_per_token,
                           **{**BASE, "num_kv_blocks": 90, "prefix_caching": prefix}) for i in range(2))
    cl = ClusterSpec(specs, {"r": RouterSpec("r", "prefix_affinity", (0, 1))})
    wl = _workload(seed, 300, 2 * MS, prompt=(20, 400), ids=3, shared=64)
    return run_cluster(cl, [(wl, "r")])


def _disagg(seed: int, async_scheduling: bool, prefix: bool, n_prefill: int = 2, n_decode: int = 2) -> str:
    kv = 1000
    side = {**BASE, "async_scheduling": async_scheduling, "prefix_caching": prefix, "kv_bytes_per_token": kv}
    specs = []
    for i in range(n_prefill):
        specs.append(instance(i, AffineCost(record=False), role="prefill",
                              **{**side, "name": f"p[{i}]", "pool": "p", "num_kv_blocks": 120}))
    for j in range(n_decode):
        specs.append(instance(j, AffineCost(record=False, per_kv=5), role="decode",
                              **{**side, "name": f"d[{j}]", "pool": "d", "num_kv_blocks": 150}))
    prefill = tuple(range(n_prefill))
    decode = tuple(range(n_prefill, n_prefill + n_decode))
    handoff = HandoffSpec("main", prefill, RouterSpec("main.decode_router", "least_loaded", decode),
                          LinkSpec("ib", 5 * GB, latency_ns=5_000, kind="infiniband"))
    cl = ClusterSpec(tuple(specs), {"r": RouterSpec("r", "round_robin", prefill)}, (handoff,))
    return run_cluster(cl, [(_workload(seed, 300, MS, ids=4 if prefix else 0), "r")])


def _trace_specs() -> dict[str, Callable[[], str]]:
    """Generated specs over the fixture traces (replayed as recorded) and a saturated synthetic run."""
    cases: dict[str, Callable[[], str]] = {}
    traces = {
        "azure": 'azure("azure_conv_excerpt.csv")',
        "sharegpt": 'sharegpt("sharegpt_excerpt.jsonl")',
        "mooncake": 'mooncake("mooncake_conversation_excerpt.jsonl")',
        "vidur": 'vidur("vidur_splitwise_conv_excerpt.csv")',
    }
    for name, trace in traces.items():
        cases[f"spec-trace-{name}"] = lambda trace=trace: _spec_text(
            f'workload w {{\n  trace = {trace}\n  arrival = trace(time_scale = 1/4)\n}}\n', instances=2)
    cases["spec-sharegpt-saturated-x3"] = lambda: _spec_text(
        'workload w {\n  requests = 1500\n  arrival = poisson(rate = 45/s)\n  lengths = dataset("sharegpt")\n'
        '  seed = 7\n}\n', instances=3, extra_kv="    num_blocks = 4000\n")
    cases["spec-sharegpt-async-x2"] = lambda: _spec_text(
        'workload w {\n  requests = 1200\n  arrival = poisson(rate = 25/s)\n  lengths = dataset("sharegpt")\n'
        '  seed = 3\n}\n', instances=2, sched="    async_scheduling = true\n    reserve_full_isl = true\n",
        extra_kv="    num_blocks = 3000\n")
    cases["spec-sharegpt-bench-like-x2"] = lambda: _spec_text(
        'workload w {\n  requests = 3000\n  arrival = poisson(rate = 24.7/s)\n  lengths = dataset("sharegpt")\n'
        '  seed = 42\n}\n', instances=2, sched="    max_num_seqs = 256\n    max_num_batched_tokens = 8192\n")
    cases["spec-vidur-like-vllm"] = lambda: _spec_text(
        'workload w {\n  requests = 800\n  arrival = poisson(rate = 6/s)\n  prompt = fixed(512)\n'
        '  output = fixed(128)\n  seed = 42\n}\n', instances=1,
        sched="    max_num_seqs = 128\n    max_num_batched_tokens = 4096\n    chunked_prefill = false\n",
        extra_kv="    prefix_caching = false\n    num_blocks = 3328\n", hardware="nvidia/a100-sxm@vllm-0.14.0",
        tp=2, model='catalog = "Llama-3.1-70B"\n  max_model_len = 4096')
    cases["spec-vidur-like-sarathi"] = lambda: _spec_text(
        'workload w {\n  requests = 800\n  arrival = poisson(rate = 6/s)\n  prompt = fixed(512)\n'
        '  output = fixed(128)\n  seed = 42\n}\n', instances=1,
        sched="    max_num_seqs = 128\n    max_num_batched_tokens = 512\n    chunked_prefill = true\n",
        extra_kv="    prefix_caching = false\n    num_blocks = 3328\n", hardware="nvidia/a100-sxm@vllm-0.14.0",
        tp=2, model='catalog = "Llama-3.1-70B"\n  max_model_len = 4096')
    return cases


def _spec_text(workload: str, *, instances: int, sched: str = "", extra_kv: str = "",
               hardware: str = "nvidia/h100-sxm@vllm-0.24.0", tp: int = 1,
               model: str = 'catalog = "Llama-3.1-8B"\n  max_model_len = 16384') -> str:
    text = (f'use hardware "{hardware}" as gpu\n\nmodel m {{\n  {model}\n  dtype = bf16\n}}\n\n'
            f'pool main {{\n  model = m\n  hardware = gpu\n  instances = {instances}\n  tp = {tp}\n'
            f'  scheduler {{\n{sched}  }}\n  kv_cache {{\n    block_size = 16\n{extra_kv}  }}\n}}\n\n'
            f'router front {{\n  policy = round_robin\n  targets = [main]\n}}\n\n{workload}')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.llms"
        path.write_text(text, encoding="utf-8")
        return run_spec(path, include=(FIXTURES,))


def random_cases() -> dict[str, Callable[[], str]]:
    """Seeded `simulate()` runs, each covering a feature (or a combination) of the runtime."""
    c: dict[str, Callable[[], str]] = {}
    for sync in (False, True):
        mode = "async" if sync else "sync"
        a = {"async_scheduling": sync}
        for prefix in (False, True):
            p = "pc" if prefix else "nopc"
            c[f"basic-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(1, prefix_caching=prefix, **a)
            c[f"tiny-kv-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                2, num_kv_blocks=40, prefix_caching=prefix, gap=MS, **a)
            c[f"shared-ids-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                3, prefix_caching=prefix, num_kv_blocks=120, wl={"ids": 2, "shared": 48}, **a)
            c[f"closed-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                4, prefix_caching=prefix, num_kv_blocks=100, wl={"closed": (12, 300_000), "ids": 5}, **a)
            c[f"unchunked-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                5, prefix_caching=prefix, chunked_prefill=False, max_num_batched_tokens=640, max_model_len=640, **a)
            c[f"threshold-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                6, prefix_caching=prefix, long_prefill_token_threshold=48, num_kv_blocks=90, **a)
            c[f"full-isl-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                7, prefix_caching=prefix, reserve_full_isl=True, num_kv_blocks=70, **a)
            c[f"hash-ids-{mode}-{p}"] = lambda a=a, prefix=prefix: _basic(
                8, prefix_caching=prefix, block_size=32, wl={"hash_ids": True, "prompt": (100, 1500)},
                max_num_batched_tokens=2048, num_kv_blocks=200, **a)
            c[f"spec-{mode}-{p}"] = lambda sync=sync, prefix=prefix: _speculative(9, 3, 0.7, sync, prefix, False)
            c[f"spec-tiny-kv-{mode}-{p}"] = lambda sync=sync, prefix=prefix: _speculative(10, 2, 0.5, sync, prefix,
                                                                                           True)
            c[f"disagg-{mode}-{p}"] = lambda sync=sync, prefix=prefix: _disagg(11, sync, prefix)
        c[f"pp-{mode}"] = lambda sync=sync: _pipeline(12, sync, False)
        c[f"pp-tiny-kv-{mode}"] = lambda sync=sync: _pipeline(13, sync, True)
        c[f"lockstep-{mode}"] = lambda sync=sync: _lockstep(14, sync)
        c[f"max-time-{mode}"] = lambda a=a: _basic(15, sim={"max_time_ns": 300 * MS}, num_kv_blocks=60, **a)
        c[f"block1-{mode}"] = lambda a=a: _basic(16, block_size=1, num_kv_blocks=3000, prefix_caching=True,
                                                 wl={"ids": 3}, **a)
        c[f"block7-{mode}"] = lambda a=a: _basic(17, block_size=7, num_kv_blocks=300, prefix_caching=True, **a)
    for policy in ("random", "least_loaded", "least_outstanding_tokens", "power_of_two", "prefix_affinity",
                   "slo_aware"):
        c[f"router-{policy}"] = lambda policy=policy: _basic(18, n_inst=3, policy=policy, prefix_caching=True,
                                                             num_kv_blocks=120, wl={"ids": 4, "shared": 32})
    for shared in (False, True):
        for eviction in ("lru", "fifo"):
            for prefix in (False, True):
                c[f"tiers-{'shared' if shared else 'own'}-{eviction}-{'pc' if prefix else 'nopc'}"] = (
                    lambda shared=shared, eviction=eviction, prefix=prefix: _tiers(19, shared, eviction, prefix))
    c["spec-accept-all"] = lambda: _speculative(20, 2, 1.0, False, False, False)
    c["spec-accept-none"] = lambda: _speculative(21, 2, 0.0, True, True, False)
    c["two-workloads"] = lambda: run_cluster(
        _cluster(2, "least_outstanding_tokens", **{**BASE, "prefix_caching": True, "num_kv_blocks": 150}),
        [(_workload(22, 200, 3 * MS), "r"), (_workload(23, 100, 2 * MS, closed=(5, 0)), "r")])
    c["no-timeline"] = lambda: _basic(24, sim={"timeline_buckets": 0}, num_kv_blocks=80, prefix_caching=True)
    c["debug"] = lambda: _basic(25, sim={"debug": True}, num_kv_blocks=60, prefix_caching=True,
                                wl={"ids": 3}, async_scheduling=True)
    c["many-instances"] = lambda: _basic(26, n_inst=12, n=1500, gap=MS // 4, num_kv_blocks=150,
                                         prefix_caching=True)
    c["zero-cost"] = lambda: run_cluster(
        _cluster(1, cost=lambda: AffineCost(base=0, per_token=0, record=False), **BASE),
        [(_workload(27, 50, 0), "r")])
    return c


def spec_cases() -> dict[str, Callable[[], str]]:
    c: dict[str, Callable[[], str]] = {"spec-quickstart": lambda: run_spec(SPECS / "quickstart.llms")}
    for path in sorted((SPECS / "validation").glob("*/run.llms")):
        c[f"spec-validation-{path.parent.name}"] = lambda path=path: run_spec(path)
    for path in sorted((SPECS / "techniques").glob("*.llms")):
        c[f"spec-techniques-{path.stem}"] = lambda path=path: run_spec(path)
    c.update(_trace_specs())
    return c


def all_cases() -> dict[str, Callable[[], str]]:
    return {**random_cases(), **spec_cases()}


# The cases whose digests tests/runtime/test_equivalence.py pins: fast (well under a second each) and
# together covering sync/async, prefix caching, preemption, tiers, disaggregation, pipelines,
# lockstep, speculative decoding and the product path.
FAST = (
    "basic-sync-pc",
    "tiny-kv-async-pc",
    "tiny-kv-sync-nopc",
    "shared-ids-async-pc",
    "closed-sync-pc",
    "threshold-async-nopc",
    "full-isl-async-pc",
    "spec-tiny-kv-async-pc",
    "disagg-sync-pc",
    "pp-tiny-kv-async",
    "lockstep-async",
    "tiers-own-lru-pc",
    "max-time-async",
    "router-least_outstanding_tokens",
    "spec-validation-rtx4090-llama-3.1-8b",
)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}: missing on one side"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}/{k}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {str(a)[:200]} != {str(b)[:200]}"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("record", "compare", "digests"):
        print(__doc__)
        return 2
    cmd = argv[0]
    cases = all_cases()
    only = [a for a in argv[2:]] if cmd != "digests" else argv[1:]
    if cmd == "digests":
        for name in only or FAST:
            print(f'    "{name}": "{digest(cases[name]())}",')
        return 0
    folder = Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    bad = 0
    total = 0.0
    for name, fn in cases.items():
        if only and not any(o in name for o in only):
            continue
        t0 = time.perf_counter()
        text = fn()
        dt = time.perf_counter() - t0
        total += dt
        path = folder / f"{name}.json"
        if cmd == "record":
            path.write_text(text, encoding="utf-8")
            print(f"{name:45s} {dt:7.2f} s  recorded", flush=True)
            continue
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            print(f"{name:45s} {dt:7.2f} s  same", flush=True)
        else:
            bad += 1
            why = "no recording" if old is None else _first_difference(json.loads(old), json.loads(text))
            print(f"{name:45s} {dt:7.2f} s  DIFFERENT: {why}", flush=True)
    print(f"{'total':45s} {total:7.2f} s  {bad} different")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
