"""Metrics: per-request columns (when kept), streamed aggregates, inter-token gaps, the summary.

Nothing per completed request stays in Python objects: a finished request's figures go into a row
buffer of int64 cells (and, if asked, into a CSV line at once). With `keep_rows` the buffer is the
per-request table (`SimResult.columns`); without, it is folded every `CHUNK` rows into
`RequestAggregates` (exact counts and sums, and one `Distribution` per latency: exact up to
`distribution.EXACT_CAP` values, then a histogram with bounded relative error) and dropped, so
memory grows with the requests in flight, not with the run. Inter-token latency is kept as
distinct gaps and their counts (`GapCounts`; without rows, exact up to `EXACT_CAP` distinct gaps);
its percentiles are computed as `np.percentile` would compute them on the expanded array.
"""

from __future__ import annotations

import io
import sys
from array import array
from typing import Any

import numpy as np

from llmsim.runtime.distribution import (
    EXACT_CAP,
    PERCENTILES,
    Distribution,
    GapCounts,
    empty_stats,
    weighted_percentile,
)
from llmsim.runtime.request import Request
from llmsim.runtime.slo_tally import SLOBounds, SLOTally, per_request_ns
from llmsim.runtime.timeline import ARRIVAL, COMPLETION, REJECTION, Timeline, TimelineRecorder

__all__ = ["COLUMNS", "PERCENTILES", "Recorder", "RequestAggregates", "RowsNotKept", "SimResult",
           "weighted_percentile"]

COLUMNS = (
    "id",
    "workload",
    "instance",
    "arrival_ns",
    "prompt_tokens",
    "output_tokens",
    "first_scheduled_ns",
    "first_token_ns",
    "finish_ns",
    "preemptions",
    "prefill_instance",
    "kv_start_ns",
    "kv_done_ns",
)
_COL = {name: i for i, name in enumerate(COLUMNS)}
CSV_HEADER = "id,instance,arrival_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms,e2e_ms,queue_ms,preemptions\n"
CHUNK = 4096  # rows buffered before they are folded into the aggregates (rows not kept)
assert array("q").itemsize == 8, "metric rows are int64"


class RowsNotKept(RuntimeError):
    """Per-request rows were asked for from a run that did not keep them."""

    def __init__(self) -> None:
        super().__init__("per-request rows were not kept: run simulate(..., keep_requests=True) to have "
                         "SimResult.columns (the summary and the CSV file need no rows)")


class _Rows:
    """Append-only int64 table: its cells in a flat C array, each row converted as it comes (no list
    of Python ints to keep and pack later)."""

    __slots__ = ("_buf", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self._buf = array("q")

    def append(self, row: tuple[int, ...]) -> None:
        self._buf.extend(row)

    def count(self) -> int:
        return len(self._buf) // self.width

    def array(self) -> np.ndarray:
        return np.frombuffer(self._buf, dtype=np.int64).reshape(-1, self.width).copy()

    def clear(self) -> None:
        self._buf = array("q")


class RequestAggregates:
    """What the summary needs of the completed requests, added a table of rows (`COLUMNS`) at a
    time: exact counts and token sums, the last finish, and one `Distribution` per latency; and,
    given `slos`, one `SLOTally` per `slo` block (by name)."""

    def __init__(self, cap: int | None = EXACT_CAP, slos: dict[str, SLOBounds] | None = None) -> None:
        self.completed = 0
        self.prompt_tokens = 0
        self.output_tokens = 0
        self.last_finish_ns = -1
        self.kv_moved = 0
        self.ttft = Distribution(np.int64, cap)
        self.tpot = Distribution(np.float64, cap)
        self.e2e = Distribution(np.int64, cap)
        self.queue = Distribution(np.int64, cap)
        self.kv_transfer = Distribution(np.int64, cap)
        self.kv_wait = Distribution(np.int64, cap)
        self.slos = {name: SLOTally(b, cap) for name, b in (slos or {}).items()}

    @classmethod
    def of_columns(cls, columns: dict[str, np.ndarray]) -> RequestAggregates:
        """Every request of a kept table, exactly (no cap)."""
        agg = cls(cap=None)
        agg.add_columns(columns)
        return agg

    def add(self, table: np.ndarray) -> None:
        self.add_columns({name: table[:, i] for name, i in _COL.items()})

    def add_columns(self, c: dict[str, np.ndarray]) -> None:
        n = len(c["id"])
        if n == 0:
            return
        rid = c["id"]
        self.completed += n
        self.prompt_tokens += int(c["prompt_tokens"].sum())
        self.output_tokens += int(c["output_tokens"].sum())
        self.last_finish_ns = max(self.last_finish_ns, int(c["finish_ns"].max()))
        # The same array expressions as SimResult's per-request methods: the same values, bit for bit.
        self.ttft.add(rid, c["first_token_ns"] - c["arrival_ns"])
        self.e2e.add(rid, c["finish_ns"] - c["arrival_ns"])
        self.queue.add(rid, c["first_scheduled_ns"] - c["arrival_ns"])
        multi = c["output_tokens"] > 1
        self.tpot.add(rid[multi], (c["finish_ns"][multi] - c["first_token_ns"][multi])
                      / (c["output_tokens"][multi] - 1))
        moved = c["kv_start_ns"] >= 0
        if moved.any():
            self.kv_moved += int(moved.sum())
            self.kv_transfer.add(rid[moved], c["kv_done_ns"][moved] - c["kv_start_ns"][moved])
            self.kv_wait.add(rid[moved], c["kv_start_ns"][moved] - c["first_token_ns"][moved])
        if self.slos:
            values = per_request_ns(c)
            for tally in self.slos.values():
                tally.add_columns(c, values)

    @property
    def exact(self) -> bool:
        """Are all percentiles exact (no distribution past its cap)?"""
        return (all(d.exact for d in (self.ttft, self.tpot, self.e2e, self.queue, self.kv_transfer, self.kv_wait))
                and all(t.exact for t in self.slos.values()))

    def nbytes(self) -> int:
        return (sum(d.nbytes() for d in (self.ttft, self.tpot, self.e2e, self.queue, self.kv_transfer, self.kv_wait))
                + sum(t.nbytes() for t in self.slos.values()))


def _fmt_ns(ns: int, unit_digits: int) -> str:
    """An integer ns count in a unit of 10**unit_digits ns, written exactly."""
    sign = "-" if ns < 0 else ""
    q, r = divmod(abs(ns), 10**unit_digits)
    return f"{sign}{q}.{r:0{unit_digits}d}"


class Recorder:
    """Collects what a simulation measures, while it runs.

    `keep_rows`: keep every completed request's row (`columns()`) and every distinct inter-token
    gap: everything exact, memory growing with the run. Without, rows are folded into `aggregates`
    every `CHUNK` completions, and each distribution (inter-token gaps too) keeps `cap` values
    exactly, then a histogram: memory bounded. `slos` (rows not kept): the `slo` blocks to tally
    as rows are folded (`RequestAggregates.slos`).
    """

    __slots__ = ("_csv", "_csv_instances", "_flush_cells", "_rows", "aggregates", "first_arrival_ns", "itl",
                 "keep_rows", "rejected", "rejected_ids", "submitted", "timeline")

    def __init__(
        self,
        csv_file: io.TextIOBase | None = None,
        instance_names: tuple[str, ...] = (),
        timeline: TimelineRecorder | None = None,
        keep_rows: bool = True,
        cap: int | None = EXACT_CAP,
        slos: dict[str, SLOBounds] | None = None,
    ) -> None:
        self._rows = _Rows(len(COLUMNS))
        self.keep_rows = keep_rows
        self.aggregates = None if keep_rows else RequestAggregates(cap, slos)
        self._flush_cells = sys.maxsize if keep_rows else CHUNK * len(COLUMNS)
        # Inter-token gaps: a step's end appends (gap ns, tokens) pairs to `itl.buf` directly (the
        # hot path); completions fold the buffer into sorted distinct gaps once it is large.
        self.itl = GapCounts(None if keep_rows else cap)
        self._csv = csv_file
        self._csv_instances = instance_names
        self.submitted = 0
        self.first_arrival_ns = -1
        self.rejected = 0
        self.rejected_ids = array("q") if keep_rows else None  # (ids are per-request rows too)
        self.timeline = timeline
        if csv_file is not None:
            csv_file.write(CSV_HEADER)

    def arrival(self, req: Request) -> None:
        if self.submitted == 0:
            self.first_arrival_ns = req.arrival_ns
        self.submitted += 1
        if self.timeline is not None:
            self.timeline.point(ARRIVAL, req.arrival_ns)

    def reject(self, req: Request) -> None:
        self.rejected += 1
        if self.rejected_ids is not None:
            self.rejected_ids.append(req.rid)
        if self.timeline is not None:  # rejected when it arrives
            self.timeline.point(REJECTION, req.arrival_ns)

    def add_itl(self, gaps: dict[int, int]) -> None:
        """A step's inter-token gaps other than its common one ({gap ns: tokens})."""
        self.itl.add(gaps)
        if len(self.itl.buf) >= self.itl.fold_at:
            self.itl.fold()

    @property
    def completed(self) -> int:
        """Requests completed so far."""
        folded = self.aggregates.completed if self.aggregates is not None else 0
        return folded + self._rows.count()

    def complete(self, r: Request, now: int) -> None:
        rows = self._rows
        rows.append(
            (
                r.rid,
                r.workload,
                r.instance,
                r.arrival_ns,
                r.prompt_len,
                r.output_len,
                r.first_scheduled_ns,
                r.first_token_ns,
                now,
                r.preemptions,
                r.prefill_instance,
                r.kv_start_ns,
                r.kv_done_ns,
            )
        )
        if len(rows._buf) >= self._flush_cells:
            self.flush()
        if len(self.itl.buf) >= self.itl.fold_at:
            self.itl.fold()
        if self.timeline is not None:
            self.timeline.point(COMPLETION, now)
        if self._csv is not None:
            a = r.arrival_ns
            tpot = ""
            if r.output_len > 1:
                tpot = repr((now - r.first_token_ns) / (r.output_len - 1) / 1e6)
            self._csv.write(
                f"{r.rid},{self._csv_instances[r.instance]},{_fmt_ns(a, 9)},{r.prompt_len},{r.output_len},"
                f"{_fmt_ns(r.first_token_ns - a, 6)},{tpot},{_fmt_ns(now - a, 6)},"
                f"{_fmt_ns(r.first_scheduled_ns - a, 6)},{r.preemptions}\n"
            )

    def flush(self) -> None:
        """Fold the buffered rows into the aggregates (rows not kept; no-op otherwise)."""
        if self.aggregates is not None and self._rows.count():
            self.aggregates.add(self._rows.array())
            self._rows.clear()

    def columns(self) -> dict[str, np.ndarray]:
        if not self.keep_rows:
            raise RowsNotKept()
        table = self._rows.array()
        order = np.argsort(table[:, 0], kind="stable")  # by request id
        table = table[order]
        return {name: np.ascontiguousarray(table[:, i]) for i, name in enumerate(COLUMNS)}

    def itl_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct inter-token gaps (ns, ascending) and how many times each occurred (past the
        cap: histogram bucket midpoints, float64)."""
        return self.itl.samples()


# -- the summary's figures (distribution.py) --------------------------------------------------------



def _weighted_stats(values_ns: np.ndarray, counts: np.ndarray) -> dict[str, float | None]:
    n = int(counts.sum())
    if n == 0:
        return empty_stats()
    if int(values_ns.max()) * n < 2**62:
        total_ns = int(np.dot(values_ns, counts))
    else:  # exact in Python integers
        total_ns = sum(v * c for v, c in zip(values_ns.tolist(), counts.tolist()))
    values_ms = values_ns / 1e6
    out: dict[str, float | None] = {"mean": total_ns / n / 1e6}
    for q in PERCENTILES:
        out[f"p{q}"] = weighted_percentile(values_ms, counts, q)
    return out


class SimResult:
    """What a simulation measured: the summary and, if kept, per-request columns.

    `columns` None (the run did not keep rows): the summary comes from `aggregates`, and reading
    `columns` (or a column, or a per-request method) raises `RowsNotKept`. `itl`, when given, is
    the run's `GapCounts` (the summary's `itl_ms` comes from it); `itl_values_ns` and `itl_counts`
    are its samples.
    """

    def __init__(
        self,
        columns: dict[str, np.ndarray] | None,
        itl_values_ns: np.ndarray,
        itl_counts: np.ndarray,
        *,
        instance_names: tuple[str, ...],
        submitted: int,
        rejected_ids: np.ndarray | None,
        num_preempted: int,
        num_preemptions: int,
        first_arrival_ns: int,
        queried_tokens: int,
        hit_tokens: int,
        events: int,
        steps: int,
        simulated_ns: int,
        wall_s: float,
        timeline: Timeline | None = None,
        tier_hit_tokens: int = 0,
        saved_tokens: int = 0,
        prefill_tokens_computed: int = 0,
        num_swapped: int = 0,
        disaggregated: bool = False,
        kv_transfer_bytes: int = 0,
        kv_tiers: dict[str, Any] | None = None,
        links: dict[str, Any] | None = None,
        speculative: dict[str, Any] | None = None,
        aggregates: RequestAggregates | None = None,
        itl: GapCounts | None = None,
        num_rejected: int | None = None,
    ) -> None:
        if columns is None and aggregates is None:
            raise ValueError("a SimResult needs its per-request columns or its aggregates")
        self._columns = columns
        self._aggregates = aggregates
        self._itl = itl
        self.itl_values_ns = itl_values_ns
        self.itl_counts = itl_counts
        self.instance_names = instance_names
        self.submitted = submitted
        self._rejected_ids = rejected_ids
        if num_rejected is None:
            num_rejected = len(rejected_ids) if rejected_ids is not None else 0
        self.num_rejected = num_rejected
        self.num_preempted = num_preempted  # requests preempted at least once
        self.num_preemptions = num_preemptions  # preemption events
        self.first_arrival_ns = first_arrival_ns
        self.queried_tokens = queried_tokens
        self.hit_tokens = hit_tokens
        self.events = events
        self.steps = steps
        self.simulated_ns = simulated_ns
        self.wall_s = wall_s  # wall-clock seconds the simulation took; not part of summary()
        self.timeline = timeline  # counters over simulated time (llmsim/runtime/timeline.py), or None
        self.tier_hit_tokens = tier_hit_tokens  # of hit_tokens, loaded back from KV tiers
        self.saved_tokens = saved_tokens  # tokens admitted as computed, every admission (resumes too)
        self.prefill_tokens_computed = prefill_tokens_computed
        self.num_swapped = num_swapped  # preemptions that swapped the request's KV out to a tier
        self.disaggregated = disaggregated
        self.kv_transfer_bytes = kv_transfer_bytes  # per link: one rank's share of each request's KV
        self.kv_tiers = kv_tiers or {}
        self.links = links or {}
        self.speculative = speculative  # speculative decoding counts (speculative_summary), or None

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Per-request columns (`COLUMNS`), ordered by request id; `RowsNotKept` if not kept."""
        if self._columns is None:
            raise RowsNotKept()
        return self._columns

    @property
    def rejected_ids(self) -> np.ndarray:
        """Ids of the rejected requests; `RowsNotKept` if the run kept no per-request rows."""
        if self._rejected_ids is None:
            raise RowsNotKept()
        return self._rejected_ids

    @property
    def keeps_requests(self) -> bool:
        return self._columns is not None

    @property
    def itl_exact(self) -> bool:
        """Are `itl_values_ns` and `itl_counts` the exact gaps (not a histogram's buckets)?"""
        return self._itl is None or self._itl.exact

    def slo_tally(self, name: str, bounds: SLOBounds) -> SLOTally:
        """The figures of `slo` block `name` with these bounds: tallied as the run went (rows not
        kept, `simulate(..., slo_bounds=...)`), or from the rows, exactly."""
        streamed = self._aggregates.slos.get(name) if self._aggregates is not None else None
        if streamed is not None and streamed.bounds == bounds:
            return streamed
        return SLOTally.of_columns(bounds, self.columns)

    @property
    def aggregates(self) -> RequestAggregates:
        """The summary's inputs: the run's streamed aggregates, or (rows kept) all rows, exactly."""
        if self._aggregates is None:
            self._aggregates = RequestAggregates.of_columns(self.columns)
        return self._aggregates

    def __getattr__(self, name: str) -> np.ndarray:
        # result.arrival_ns, result.finish_ns, ...: the per-request columns, ordered by request id.
        if name in _COL and not name.startswith("_"):
            return self.columns[name]
        raise AttributeError(name)

    @property
    def completed(self) -> int:
        if self._columns is not None:
            return len(self._columns["id"])
        return self.aggregates.completed

    # -- derived per-request metrics (ns, int64 or float64), one entry per completed request -------

    def ttft_ns(self) -> np.ndarray:
        c = self.columns
        return c["first_token_ns"] - c["arrival_ns"]

    def e2e_ns(self) -> np.ndarray:
        c = self.columns
        return c["finish_ns"] - c["arrival_ns"]

    def queue_ns(self) -> np.ndarray:
        c = self.columns
        return c["first_scheduled_ns"] - c["arrival_ns"]

    def kv_transfer_ns(self) -> np.ndarray:
        """Disaggregated requests: KV transfer time, from its start to its arrival (link time)."""
        c = self.columns
        moved = c["kv_start_ns"] >= 0
        return c["kv_done_ns"][moved] - c["kv_start_ns"][moved]

    def kv_wait_ns(self) -> np.ndarray:
        """Disaggregated requests: first token to the start of the KV transfer (waiting for a
        decode instance's blocks and sequence slot)."""
        c = self.columns
        moved = c["kv_start_ns"] >= 0
        return c["kv_start_ns"][moved] - c["first_token_ns"][moved]

    def tpot_ns(self) -> np.ndarray:
        """(last token - first token) / (output tokens - 1), for requests with more than one."""
        c = self.columns
        multi = c["output_tokens"] > 1
        return (c["finish_ns"][multi] - c["first_token_ns"][multi]) / (c["output_tokens"][multi] - 1)

    def summary(self) -> dict[str, Any]:
        """Metrics, throughput and counts. Percentiles are exact when the rows were kept, or when
        a distribution stayed within its cap (`distribution.EXACT_CAP` values; distinct gaps for
        ITL); past it the metric's percentiles come from a histogram and the metric carries
        `percentiles_rel_error`, their relative error bound (`distribution.REL_ERROR`)."""
        agg = self.aggregates
        completed = agg.completed
        span_ns = agg.last_finish_ns - self.first_arrival_ns if completed else 0
        if not completed:
            throughput = {"requests_per_s": 0.0, "input_tokens_per_s": 0.0, "output_tokens_per_s": 0.0}
        elif span_ns > 0:
            span_s = span_ns / 1e9
            throughput = {
                "requests_per_s": completed / span_s,
                "input_tokens_per_s": agg.prompt_tokens / span_s,
                "output_tokens_per_s": agg.output_tokens / span_s,
            }
        else:  # everything completed at the instant it arrived (zero-time steps): no rate
            throughput = {"requests_per_s": None, "input_tokens_per_s": None, "output_tokens_per_s": None}
        itl = (self._itl.stats_ms() if self._itl is not None
               else _weighted_stats(self.itl_values_ns, self.itl_counts))
        return {
            "metrics": {
                "ttft_ms": agg.ttft.stats_ms(),
                "tpot_ms": agg.tpot.stats_ms(),
                "itl_ms": itl,
                "e2e_ms": agg.e2e.stats_ms(),
                "queue_ms": agg.queue.stats_ms(),
            },
            "throughput": throughput,
            "requests": {
                "submitted": self.submitted,
                "completed": completed,
                "preempted": self.num_preempted,
                "preemptions": self.num_preemptions,
                "rejected": self.num_rejected,
                "swapped": self.num_swapped,
            },
            "prefix_cache": {
                "queried_tokens": self.queried_tokens,
                "hit_tokens": self.hit_tokens,
                "hit_rate": self.hit_tokens / self.queried_tokens if self.queried_tokens else None,
                "tier_hit_tokens": self.tier_hit_tokens,
                "saved_tokens": self.saved_tokens,
                "prefill_tokens_computed": self.prefill_tokens_computed,
            },
            **self._disaggregation(),
            "sim": {"events": self.events, "steps": self.steps, "simulated_s": self.simulated_ns / 1e9},
        }

    def _disaggregation(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.disaggregated:
            agg = self.aggregates
            out["kv_transfer"] = {
                "requests": agg.kv_moved,
                "bytes_per_link": self.kv_transfer_bytes,
                "time_ms": agg.kv_transfer.stats_ms(),
                "wait_ms": agg.kv_wait.stats_ms(),
            }
        if self.kv_tiers:
            out["kv_tiers"] = self.kv_tiers
        if self.links:
            out["links"] = self.links
        if self.speculative is not None:
            out["speculative"] = self.speculative
        return out


def tiers_summary(tiers: Any) -> dict[str, Any]:
    """Per pool tier (copies of a per-instance tier added up): capacity, traffic and occupancy."""
    out: dict[str, dict[str, Any]] = {}
    for t in tiers:
        g = out.setdefault(t.group, {"medium": t.medium, "shared": t.shared, "copies": 0, "block_bytes": t.block_bytes,
                                     "capacity_blocks": 0, "blocks_held": 0, "peak_blocks": 0, "blocks_stored": 0,
                                     "blocks_loaded": 0, "blocks_evicted": 0, "blocks_dropped": 0,
                                     "bytes_written": 0, "bytes_read": 0})
        g["copies"] += 1
        g["capacity_blocks"] += t.capacity
        g["blocks_held"] += len(t)
        g["peak_blocks"] += t.peak
        g["blocks_stored"] += t.stored
        g["blocks_loaded"] += t.loaded
        g["blocks_evicted"] += t.evicted
        g["blocks_dropped"] += t.dropped
        g["bytes_written"] += t.stored * t.block_bytes
        g["bytes_read"] += t.loaded * t.block_bytes
    return out


def links_summary(links: Any, end_ns: int) -> dict[str, Any]:
    """Per group of links of one kind (a pool's KV links, a tier's links): traffic and use.
    `utilisation`: bytes moved / (bandwidth x links x simulated time)."""
    out: dict[str, dict[str, Any]] = {}
    for link in links:
        g = out.setdefault(link.group, {"kind": link.kind, "links": 0,
                                        "bandwidth_gb_per_s": float(link.bandwidth),  # bytes/ns = GB/s
                                        "latency_us": link.latency_ns / 1e3, "transfers": 0, "bytes": 0,
                                        "busy_s": 0.0, "utilisation": None})
        g["links"] += 1
        g["transfers"] += link.transfers
        g["bytes"] += link.bytes
        g["busy_s"] += link.busy_ns / 1e9
    for g in out.values():
        capacity = g["bandwidth_gb_per_s"] * g["links"] * end_ns  # bytes the links could move
        g["utilisation"] = g["bytes"] / capacity if capacity else None
    return out


def speculative_summary(instances: Any) -> dict[str, Any] | None:
    """Speculative decoding over the instances that speculate (None if none does): `verifications`
    (sequence-steps whose drafts were verified), `proposed_tokens`, `accepted_tokens`,
    `acceptance_rate` (accepted / proposed), `mean_accepted_tokens` (accepted drafts per
    verification) and `mean_tokens_per_step` (tokens a sequence gains per step: accepted + 1, before
    the cap at its output length; vLLM's mean acceptance length)."""
    spec = [i for i in instances if i.spec_k]
    if not spec:
        return None
    verified = sum(i.spec_verified for i in spec)
    proposed = sum(i.spec_verified * i.spec_k for i in spec)
    accepted = sum(i.spec_accepted for i in spec)
    return {
        "verifications": verified,
        "proposed_tokens": proposed,
        "accepted_tokens": accepted,
        "acceptance_rate": accepted / proposed if proposed else None,
        "mean_accepted_tokens": accepted / verified if verified else None,
        "mean_tokens_per_step": 1 + accepted / verified if verified else None,
    }
