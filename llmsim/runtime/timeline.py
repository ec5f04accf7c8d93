"""Timelines of a simulation at a bounded resolution: counters per bucket of simulated time.

`TimelineRecorder` keeps a fixed number of buckets from time 0. When something happens past the
last bucket, neighbouring buckets are merged in pairs (the width doubles) until it fits, so memory
and output stay the same size however long the run; a bucket is always 1 ms x a power of two wide.

The hot path is `step()`, called by an instance when a step starts: while the step ends inside the
instance's current bucket it only adds a few integers to that bucket's running sums (Python ints,
exact). A step that crosses into another bucket takes the slow path: the sums are written out, the
step is split exactly across the buckets it covers, and the bucket where it ends becomes current.
Arrivals, completions and rejections are buffered and binned 4,096 at a time with numpy.

Series, all per instance except the request counts:

- request counts (`arrivals`, `completions`, `rejections`), binned by when they happen;
- per-step sums (`steps`, `step_seqs`, `step_tokens`, `step_decodes`, `step_decode_context`,
  `output_tokens` sampled, `preemptions`), binned by the step's start (preemptions to within one
  step: they are counted when the scheduler makes them, before the step they make room for);
- levels held during a step (`busy`, `running`, `waiting`, `kv_blocks_used`), integrated over time
  exactly: a level is its value when the step starts, held until it ends, and 0 while the instance
  is idle. A bucket's level is its time-weighted mean.

With `stop_ns` (the run's `max_time_ns`), a step still running then counts up to `stop_ns` and
samples nothing.

Named series (`series(kind, name)`, changed with `change(id, time, delta)`) hold levels that change
at events rather than at steps: the blocks held by a KV tier (kind `tiers`) and the throughput of a
group of links in bytes per ns (kind `links`, whose integral is the bytes moved). Changes are kept
as points and integrated per bucket at the end, so they cost nothing per step.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from msgspec import Struct, field

from llmsim.runtime.batch import BatchShape
from llmsim.runtime.spec import InstanceSpec

DEFAULT_BUCKETS = 512
INITIAL_WIDTH_NS = 1_000_000
FLUSH_POINTS = 4096

REQUEST_COUNTS = ("arrivals", "completions", "rejections")
ARRIVAL, COMPLETION, REJECTION = range(3)
STEP_SUMS = ("steps", "step_seqs", "step_tokens", "step_decodes", "step_decode_context", "output_tokens",
             "preemptions")
LEVELS = ("busy", "running", "waiting", "kv_blocks_used")
# Not modelled yet: the report says so, and the JSON lists them under `not_modelled`.
NOT_MODELLED = ("power",)
SERIES_KINDS = ("tiers", "links")

# A bucket's values, in the data lists and an instance's accumulator: STEP_SUMS, then LEVELS.
_WIDTH = len(STEP_SUMS) + len(LEVELS)
_PREEMPT_AT = STEP_SUMS.index("preemptions")
_LEVEL_AT = len(STEP_SUMS)
# An instance's accumulator (a list): the open bucket's end and index, its values (the fast path
# adds to them by position: keep `step()` in line with this layout), and the instance's preemption
# count when the bucket was opened.
_EDGE, _BUCKET, _SUM0 = 0, 1, 2
_PREEMPT_OPEN = _SUM0 + _WIDTH
_ACC_LEN = _PREEMPT_OPEN + 1
assert (_SUM0 + _PREEMPT_AT, _SUM0 + _LEVEL_AT, _ACC_LEN, len(LEVELS)) == (8, 9, 14, 4), "update TimelineRecorder.step"


class TimelineRecorder:
    """Collects a simulation's timelines while it runs; `finish()` returns the `Timeline`."""

    __slots__ = ("_acc", "_change_chunks", "_changes", "_data", "_n", "_points", "_requests", "_series", "_stop",
                 "_width", "instances")

    def __init__(self, instances: Sequence[InstanceSpec], buckets: int = DEFAULT_BUCKETS,
                 stop_ns: int | None = None, horizon_ns: int = 0) -> None:
        """`horizon_ns`: a time the run is known to reach (its last arrival). Starting as wide as it
        needs saves the doublings on the way there; the final width is the same either way."""
        if buckets < 2 or buckets % 2:
            raise ValueError(f"timeline buckets must be an even number >= 2, got {buckets}")
        self.instances = tuple(instances)
        self._n = buckets
        self._width = INITIAL_WIDTH_NS
        while horizon_ns >= buckets * self._width:
            self._width *= 2
        self._stop = stop_ns
        self._requests = np.zeros((len(REQUEST_COUNTS), buckets))
        # Per instance, a flat list of Python ints: bucket b's STEP_SUMS then LEVELS (integrals,
        # level x ns) at b * _WIDTH. The slow path writes here, the open bucket lives in _acc.
        self._data = [[0] * (buckets * _WIDTH) for _ in self.instances]
        self._acc = [_closed() for _ in self.instances]
        self._points = array("q")  # flat (kind, time) pairs, binned FLUSH_POINTS at a time
        self._series: dict[tuple[str, str], int] = {}  # (kind, name) -> id
        self._changes: list[tuple[int, int, float]] = []  # (id, time, delta), in time order
        self._change_chunks: list[np.ndarray] = []  # older changes, packed

    # -- named series -----------------------------------------------------------------------------

    def series(self, kind: str, name: str) -> int:
        """The id of series `name` of `kind` (one of SERIES_KINDS), created at level 0."""
        assert kind in SERIES_KINDS, kind
        return self._series.setdefault((kind, name), len(self._series))

    def change(self, series: int, time_ns: int, delta: float) -> None:
        """The level of `series` changes by `delta` at `time_ns`."""
        changes = self._changes
        changes.append((series, time_ns, delta))
        if len(changes) >= FLUSH_POINTS:
            self._change_chunks.append(np.array(changes, dtype=np.float64))
            changes.clear()

    # -- the hot path -----------------------------------------------------------------------------

    def step(self, inst: Any, start: int, duration: int, shape: BatchShape, sampled: int) -> None:
        """Instance `inst` starts a step of `duration` ns at `start` that will sample `sampled`
        tokens; its queues and KV cache are read as they are now."""
        end = start + duration
        acc = self._acc[inst.index]
        if end > acc[0]:  # past the open bucket's end (or no bucket open)
            self._step_across(inst, start, end, shape, sampled)
            return
        acc[2] += 1
        acc[3] += shape.num_seqs
        acc[4] += shape.num_tokens
        acc[5] += shape.n_decode
        acc[6] += shape.decode_kv_sum
        acc[7] += sampled  # acc[8], preemptions, is filled in when the bucket closes
        acc[9] += duration
        acc[10] += len(inst.running) * duration
        acc[11] += len(inst.waiting) * duration
        kv = inst.kv
        acc[12] += (kv.num_blocks - kv.num_free) * duration

    def point(self, kind: int, time_ns: int) -> None:
        """An arrival, completion or rejection (ARRIVAL, COMPLETION, REJECTION) at `time_ns`."""
        points = self._points
        points.append(kind)
        points.append(time_ns)
        if len(points) >= 2 * FLUSH_POINTS:
            self._flush_points()

    # -- the slow path ----------------------------------------------------------------------------

    def _step_across(self, inst: Any, start: int, end: int, shape: BatchShape, sampled: int) -> None:
        """A step that does not end in the instance's open bucket: write that bucket out, add the
        step bucket by bucket, and open the bucket where it ends."""
        i = inst.index
        acc = self._acc[i]
        self._close(i, acc, inst.preemptions)
        if self._stop is not None and end > self._stop:
            end, sampled = max(self._stop, start), 0
        self._grow(end)
        w = self._width
        data = self._data[i]
        add = operator.add
        base = (start // w) * _WIDTH  # the step sums before the preemptions, by slices (the same integer adds)
        data[base : base + _PREEMPT_AT] = map(add, data[base : base + _PREEMPT_AT], (
            1, shape.num_seqs, shape.num_tokens, shape.n_decode, shape.decode_kv_sum, sampled))
        kv = inst.kv
        running, waiting, used = len(inst.running), len(inst.waiting), kv.num_blocks - kv.num_free
        for b in range(start // w, (end - 1) // w + 1):
            overlap = min(end, (b + 1) * w) - max(start, b * w)
            base = b * _WIDTH + _LEVEL_AT
            data[base : base + len(LEVELS)] = map(add, data[base : base + len(LEVELS)], (
                overlap, running * overlap, waiting * overlap, used * overlap))
        self._open(acc, end // w, inst.preemptions)

    def _open(self, acc: list[int], bucket: int, preemptions: int) -> None:
        """Open `bucket` in a closed accumulator."""
        edge = (bucket + 1) * self._width
        acc[_EDGE] = edge if self._stop is None else min(edge, self._stop)
        acc[_BUCKET] = bucket
        acc[_PREEMPT_OPEN] = preemptions

    def _close(self, i: int, acc: list[int], preemptions: int) -> None:
        """Add an instance's open bucket to its data."""
        b = acc[_BUCKET]
        if b < 0:
            return
        acc[_SUM0 + _PREEMPT_AT] = preemptions - acc[_PREEMPT_OPEN]
        data = self._data[i]
        base = b * _WIDTH
        data[base : base + _WIDTH] = map(operator.add, data[base : base + _WIDTH], acc[_SUM0 : _SUM0 + _WIDTH])
        acc[:] = _closed()

    def _grow(self, time_ns: int) -> None:
        """Double the bucket width until `time_ns` falls in a bucket."""
        n = self._n
        while time_ns >= n * self._width:
            half = n // 2
            merged = self._requests.reshape(-1, half, 2).sum(axis=-1)
            self._requests = np.concatenate([merged, np.zeros_like(merged)], axis=-1)
            for i, data in enumerate(self._data):
                merged_data = [0] * (n * _WIDTH)
                for j in range(_WIDTH):  # bucket b's value j: b * _WIDTH + j
                    merged_data[j : half * _WIDTH : _WIDTH] = map(
                        operator.add, data[j :: 2 * _WIDTH], data[_WIDTH + j :: 2 * _WIDTH])
                self._data[i] = merged_data
            self._width *= 2
            for acc in self._acc:  # open buckets keep their sums: they lie inside the merged bucket
                if acc[_BUCKET] >= 0:
                    acc[_BUCKET] //= 2
                    edge = (acc[_BUCKET] + 1) * self._width
                    acc[_EDGE] = edge if self._stop is None else min(edge, self._stop)

    def _flush_points(self) -> None:
        if not self._points:
            return
        arr = np.frombuffer(self._points, dtype=np.int64).reshape(-1, 2)
        self._points = array("q")
        self._grow(int(arr[:, 1].max()))
        n = self._n
        flat = arr[:, 0] * n + arr[:, 1] // self._width
        self._requests += np.bincount(flat, minlength=len(REQUEST_COUNTS) * n).reshape(-1, n)

    # -- the end ----------------------------------------------------------------------------------

    def finish(self, end_ns: int, preemptions: Sequence[int]) -> Timeline:
        """The timeline from 0 to `end_ns`; `preemptions` are the instances' final counts."""
        for i, acc in enumerate(self._acc):
            self._close(i, acc, preemptions[i])
        self._flush_points()
        self._grow(end_ns)
        used = end_ns // self._width + 1
        table = np.array(self._data, dtype=np.float64).reshape(len(self.instances), self._n, _WIDTH)[:, :used]
        specs = self.instances
        edges = np.minimum(np.arange(used + 1, dtype=np.int64) * self._width, end_ns)
        series: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in SERIES_KINDS}
        changes = np.concatenate([*self._change_chunks, np.array(self._changes, dtype=np.float64).reshape(-1, 3)])
        for (kind, name), sid in self._series.items():
            mine = changes[changes[:, 0] == sid]
            series[kind][name] = _integrate(mine[:, 1], mine[:, 2], edges)
        return Timeline(
            bucket_ns=self._width,
            end_ns=end_ns,
            instance_names=tuple(s.name for s in specs),
            instance_pools=tuple(s.pool for s in specs),
            kv_blocks=tuple(s.num_kv_blocks for s in specs),
            requests={name: self._requests[i, :used].copy() for i, name in enumerate(REQUEST_COUNTS)},
            sums={name: table[:, :, j].copy() for j, name in enumerate(STEP_SUMS)},
            integrals={name: table[:, :, _LEVEL_AT + j].copy() for j, name in enumerate(LEVELS)},
            series=series,
        )


def _integrate(times: np.ndarray, deltas: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per bucket [edges[b], edges[b+1]), the integral of a level that starts at 0 and changes by
    `deltas` at `times` (ascending)."""
    if len(times) == 0:
        return np.zeros(len(edges) - 1)
    levels = np.cumsum(deltas)
    # F(t): the integral from 0 to t, exact at the change points, linear between them.
    f_at = np.concatenate([[0.0], np.cumsum(levels[:-1] * np.diff(times))])
    k = np.searchsorted(times, edges, side="right") - 1  # last change at or before each edge
    f_edges = np.where(k >= 0, f_at[np.maximum(k, 0)] + levels[np.maximum(k, 0)] * (edges - times[np.maximum(k, 0)]),
                       0.0)
    return np.diff(f_edges)


def _closed() -> list[int]:
    """An accumulator with no bucket: its edge is below any time, so the next step opens one."""
    acc = [0] * _ACC_LEN
    acc[_EDGE] = acc[_BUCKET] = -1
    return acc


class Timeline(Struct, frozen=True):
    """A run's timelines: `bucket_ns`-wide buckets from 0 to `end_ns` (the last may be partial).

    `requests[name]` has one value per bucket; `sums[name]` and `integrals[name]` one row per
    instance. Levels are kept as integrals (level x ns) so that merging buckets stays exact; read
    them with `level()`.
    """

    bucket_ns: int
    end_ns: int
    instance_names: tuple[str, ...]
    instance_pools: tuple[str, ...]
    kv_blocks: tuple[int, ...]
    requests: dict[str, np.ndarray]
    sums: dict[str, np.ndarray]
    integrals: dict[str, np.ndarray]
    # kind ("tiers", "links") -> series name -> integral of its level per bucket
    series: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def num_buckets(self) -> int:
        return len(next(iter(self.requests.values())))

    def starts_s(self) -> np.ndarray:
        """Start of each bucket, in seconds."""
        return np.arange(self.num_buckets) * (self.bucket_ns / 1e9)

    def covered_ns(self) -> np.ndarray:
        """Simulated time each bucket covers: its width, less for the last one."""
        covered = np.full(self.num_buckets, self.bucket_ns, dtype=np.int64)
        covered[-1] = self.end_ns - (self.num_buckets - 1) * self.bucket_ns
        return covered

    def level(self, name: str) -> np.ndarray:
        """Time-weighted mean of a level per instance and bucket (0 in a bucket of no length)."""
        covered = self.covered_ns().astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.integrals[name] / covered
        return np.where(covered > 0, out, 0.0)

    def pools(self) -> dict[str, list[int]]:
        """Pool name -> indices of its instances, in instance order."""
        out: dict[str, list[int]] = {}
        for i, pool in enumerate(self.instance_pools):
            out.setdefault(pool, []).append(i)
        return out

    def coarsen(self, max_buckets: int) -> Timeline:
        """The same timeline with buckets merged in pairs until there are at most `max_buckets`."""
        t = self
        while t.num_buckets > max_buckets:
            t = t._merge_pairs()
        return t

    def _merge_pairs(self) -> Timeline:
        def merge(a: np.ndarray) -> np.ndarray:
            if a.shape[-1] % 2:
                a = np.concatenate([a, np.zeros((*a.shape[:-1], 1))], axis=-1)
            return a.reshape(*a.shape[:-1], a.shape[-1] // 2, 2).sum(axis=-1)

        return Timeline(
            bucket_ns=self.bucket_ns * 2,
            end_ns=self.end_ns,
            instance_names=self.instance_names,
            instance_pools=self.instance_pools,
            kv_blocks=self.kv_blocks,
            requests={k: merge(v) for k, v in self.requests.items()},
            sums={k: merge(v) for k, v in self.sums.items()},
            integrals={k: merge(v) for k, v in self.integrals.items()},
            series={kind: {k: merge(v) for k, v in named.items()} for kind, named in self.series.items()},
        )

    def series_level(self, kind: str, name: str) -> np.ndarray:
        """Time-weighted mean of a named series per bucket (blocks held; bytes per ns)."""
        covered = self.covered_ns().astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.series[kind][name] / covered
        return np.where(covered > 0, out, 0.0)

    def totals(self, pool: str | None = None) -> dict[str, int]:
        """Per-step sums over the whole run, for one pool or all instances."""
        rows = self.pools()[pool] if pool is not None else list(range(len(self.instance_names)))
        return {name: round(float(v[rows].sum())) for name, v in self.sums.items()}

    def to_json(self, max_buckets: int | None = 128, instances: bool = False) -> dict[str, Any]:
        """The compact form of the results document's `timeline` key (docs/results.md)."""
        t = self.coarsen(max_buckets) if max_buckets else self
        levels = {name: t.level(name) for name in LEVELS}

        def group(rows: list[int]) -> dict[str, list]:
            out: dict[str, list] = {name: _ints(t.sums[name][rows].sum(axis=0)) for name in STEP_SUMS}
            out.update({name: _floats(levels[name][rows].sum(axis=0)) for name in LEVELS})
            return out

        doc: dict[str, Any] = {
            "bucket_s": t.bucket_ns / 1e9,
            "buckets": t.num_buckets,
            "end_s": t.end_ns / 1e9,
            "requests": {name: _ints(v) for name, v in t.requests.items()},
            "pools": {
                pool: {"instances": len(rows), "kv_blocks": sum(t.kv_blocks[i] for i in rows), **group(rows)}
                for pool, rows in t.pools().items()
            },
            "not_modelled": list(NOT_MODELLED),
        }
        tiers = t.series.get("tiers", {})
        if tiers:
            doc["tiers"] = {name: {"blocks_used": _floats(t.series_level("tiers", name))} for name in tiers}
        links = t.series.get("links", {})
        if links:
            doc["links"] = {name: {"bytes": _ints(v), "gb_per_s": _floats(t.series_level("links", name))}
                            for name, v in links.items()}
        if instances:
            doc["instances"] = {
                name: {"pool": t.instance_pools[i], "kv_blocks": t.kv_blocks[i], **group([i])}
                for i, name in enumerate(t.instance_names)
            }
        return doc


def _ints(a: np.ndarray) -> list[int]:
    return [int(x) for x in np.rint(a)]


def _floats(a: np.ndarray) -> list[float]:
    return [float(f"{x:.5g}") for x in a.tolist()]
