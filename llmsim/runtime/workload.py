"""Workloads: the requests a simulation replays, built deterministically from a `WorkloadDecl`.

A `Workload` is columns (numpy arrays), not request objects: request i has prompt_tokens[i] and
output_tokens[i], and arrives at arrival_ns[i] (open loop) or when a closed-loop client sends it.
The simulator turns rows into `Request`s one at a time as they arrive.

Randomness comes only from `numpy.random.Generator(PCG64(...))` seeded by the declaration's seed,
one independent stream per purpose, so changing the output distribution does not move arrivals:
arrivals `PCG64(seed)`; prompt lengths `PCG64([seed, 1])`; output lengths `PCG64([seed, 2])`;
dataset pairs `PCG64([seed, 3])`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from msgspec import Struct

from llmsim.diagnostics import UserError
from llmsim.lang.ir import (
    ClosedLoopArrivals,
    ConstantArrivals,
    PoissonArrivals,
    TraceArrivals,
    WorkloadDecl,
)
from llmsim.runtime.lengths import sample_dataset, sample_lengths
from llmsim.runtime.traces import Ragged, TraceData, read_trace

NS_PER_S = 1_000_000_000


class ClosedLoop(Struct, frozen=True):
    """`clients` users; each sends its next request `think_ns` after its previous one completes."""

    clients: int
    think_ns: int


class Workload(Struct, frozen=True, eq=False):
    name: str
    prompt_tokens: np.ndarray  # int64, >= 1
    output_tokens: np.ndarray  # int64, >= 1
    arrival_ns: np.ndarray | None  # int64, non-decreasing; None for a closed loop
    closed_loop: ClosedLoop | None = None
    token_ids: Ragged | None = None  # prompt token ids per request (exact prefix sharing)
    hash_ids: Ragged | None = None  # or 512-token content ids per request (Mooncake)

    def __post_init__(self) -> None:
        n = len(self.prompt_tokens)
        if len(self.output_tokens) != n:
            raise ValueError("prompt_tokens and output_tokens differ in length")
        if n and (int(self.prompt_tokens.min()) < 1 or int(self.output_tokens.min()) < 1):
            raise ValueError("every request needs at least one prompt and one output token")
        if (self.arrival_ns is None) == (self.closed_loop is None):
            raise ValueError("a workload has either arrival times or a closed loop")
        if self.arrival_ns is not None:
            if len(self.arrival_ns) != n:
                raise ValueError("arrival_ns differs in length from prompt_tokens")
            if n and (int(self.arrival_ns[0]) < 0 or np.any(np.diff(self.arrival_ns) < 0)):
                raise ValueError("arrival times must be non-negative and non-decreasing")
        if self.closed_loop is not None and (self.closed_loop.clients < 1 or self.closed_loop.think_ns < 0):
            raise ValueError("a closed loop needs at least one client and a non-negative think time")
        for ids in (self.token_ids, self.hash_ids):
            if ids is not None and len(ids) != n:
                raise ValueError("token_ids / hash_ids must have one row per request")

    def __len__(self) -> int:
        return len(self.prompt_tokens)

    @classmethod
    def from_arrays(
        cls,
        prompt_tokens,
        output_tokens,
        arrival_ns=None,
        *,
        closed_loop: ClosedLoop | None = None,
        token_ids=None,
        hash_ids=None,
        name: str = "workload",
    ) -> Workload:
        """A workload from plain sequences (tests, scripts).

        `token_ids`: one list of prompt token ids per request; `hash_ids`: one list of 512-token
        content ids per request (Mooncake style). Give at most one of them.
        """
        if token_ids is not None and hash_ids is not None:
            raise ValueError("give token_ids or hash_ids, not both")
        return cls(
            name,
            np.asarray(prompt_tokens, dtype=np.int64),
            np.asarray(output_tokens, dtype=np.int64),
            None if arrival_ns is None else np.asarray(arrival_ns, dtype=np.int64),
            closed_loop,
            None if token_ids is None else Ragged.from_rows(token_ids),
            None if hash_ids is None else Ragged.from_rows(hash_ids),
        )


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed if stream == 0 else [seed, stream]))


def _scale_round(values: np.ndarray, factor: Fraction) -> np.ndarray:
    """round(values * factor) for non-negative int64 values, exactly (half up)."""
    num, den = factor.numerator, factor.denominator
    if len(values) == 0:
        return values.astype(np.int64)
    if int(values.max()) * 2 * num + den < 2**63:
        return (values * (2 * num) + den) // (2 * den)
    return np.array([(int(v) * 2 * num + den) // (2 * den) for v in values.tolist()], dtype=np.int64)


def poisson_arrivals(n: int, rate_per_s: Fraction, rng: np.random.Generator) -> np.ndarray:
    """First request at 0, then exponential gaps of mean 1/rate, each rounded to integer ns."""
    if rate_per_s <= 0:
        raise UserError(f"arrival rate must be positive, got {rate_per_s}/s")
    gaps = np.rint(rng.exponential(scale=NS_PER_S / float(rate_per_s), size=max(n - 1, 0))).astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    np.cumsum(gaps, out=out[1:])
    return out


def constant_arrivals(n: int, rate_per_s: Fraction) -> np.ndarray:
    """Request i at round(i / rate) seconds, exactly in ns."""
    if rate_per_s <= 0:
        raise UserError(f"arrival rate must be positive, got {rate_per_s}/s")
    return _scale_round(np.arange(n, dtype=np.int64), Fraction(NS_PER_S) / Fraction(rate_per_s))


def build_workload(decl: WorkloadDecl) -> Workload:
    """The requests of a workload declaration: deterministic from `decl.seed`."""
    trace: TraceData | None = None
    if decl.trace is not None:
        trace = read_trace(decl.trace.path, decl.trace.format, limit=decl.requests)
        if decl.requests is not None and len(trace) < decl.requests:
            raise UserError(
                f"workload {decl.name}: {decl.requests} requests asked for, but trace "
                f"{decl.trace.path} has only {len(trace)}"
            )
    if decl.requests is not None:
        n = decl.requests
    elif trace is not None:
        n = len(trace)
    else:
        raise UserError(f"workload {decl.name}: the number of requests is not given")
    if n < 0:
        raise UserError(f"workload {decl.name}: negative number of requests")

    # Lengths: explicit distributions first, then a dataset, then the trace's own.
    prompt = output = None
    if decl.lengths is not None:
        prompt, output = sample_dataset(decl.lengths.dataset, n, _rng(decl.seed, 3))
    if decl.prompt is not None:
        prompt = sample_lengths(decl.prompt, n, _rng(decl.seed, 1))
    if decl.output is not None:
        output = sample_lengths(decl.output, n, _rng(decl.seed, 2))
    prompt_from_trace = prompt is None and trace is not None
    if trace is not None:
        prompt = trace.prompt_tokens[:n] if prompt is None else prompt
        output = trace.output_tokens[:n] if output is None else output
    if prompt is None or output is None:
        missing = "prompt" if prompt is None else "output"
        raise UserError(
            f"workload {decl.name}: no {missing} lengths (give a distribution, a dataset or a trace)"
        )
    token_ids = trace.token_ids if prompt_from_trace and trace is not None else None
    hash_ids = trace.hash_ids if prompt_from_trace and trace is not None else None

    arrival = decl.arrival
    closed = None
    arrivals: np.ndarray | None = None
    if isinstance(arrival, PoissonArrivals):
        arrivals = poisson_arrivals(n, arrival.rate_per_s, _rng(decl.seed, 0))
    elif isinstance(arrival, ConstantArrivals):
        arrivals = constant_arrivals(n, arrival.rate_per_s)
    elif isinstance(arrival, ClosedLoopArrivals):
        closed = ClosedLoop(arrival.clients, arrival.think_ns)
    elif isinstance(arrival, TraceArrivals):
        if trace is None or trace.arrival_ns is None:
            raise UserError(f"workload {decl.name}: trace arrivals need a trace with arrival times")
        raw = trace.arrival_ns[:n]
        order = np.argsort(raw, kind="stable")  # replay in time order; ties keep file order
        if np.any(order != np.arange(n)):
            raw = raw[order]
            prompt, output = prompt[order], output[order]
            token_ids = token_ids.take(order) if token_ids is not None else None
            hash_ids = hash_ids.take(order) if hash_ids is not None else None
        arrivals = _scale_round(raw - raw[0], Fraction(arrival.time_scale)) if n else raw
    else:
        raise TypeError(f"unknown arrival process {arrival!r}")

    return Workload(
        decl.name,
        np.ascontiguousarray(prompt, dtype=np.int64),
        np.ascontiguousarray(output, dtype=np.int64),
        arrivals,
        closed,
        token_ids,
        hash_ids,
    )
