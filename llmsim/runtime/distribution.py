"""Latency distributions in bounded memory: exact up to a cap, then a log-bucket histogram.

A long run's summary must not keep one number per completed request for ever. A `Distribution`
keeps its values exactly, each with a key (the request id), up to `EXACT_CAP` values: the summary
then lays them out in key order and runs the same numpy code as on the per-request columns, so its
figures are bit-identical to the columns'. Past the cap the values fold into a `LogHistogram` of
geometric buckets whose percentiles are within `REL_ERROR` (relative) of the exact ones; count,
sum, min and max stay exact throughout. `GapCounts` does the same for weighted samples (inter-token
gaps: a distinct gap and how many tokens had it), exact up to `EXACT_CAP` distinct values.

Retained memory is bounded either way: at most `EXACT_CAP` values (16 bytes each with their key),
or one histogram of `NUM_BUCKETS` int64 counts (about 2 MiB) per sign.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)
EXACT_CAP = 2**20  # values (or distinct weighted values) kept exactly per distribution
REL_ERROR = 1e-4  # past the cap: |reported percentile - exact| <= REL_ERROR * |exact|
_GAMMA = 1 + 2 * REL_ERROR  # bucket ratio: a bucket's midpoint is within (GAMMA - 1) / 2 of its values
_LN_GAMMA = math.log(_GAMMA)
TINY = 2.0**-10  # magnitudes below this (ns) count as 0: an absolute error under 0.001 ns
NUM_BUCKETS = math.ceil(math.log(2.0**64 / TINY) / _LN_GAMMA)  # covers every int64 ns count
FOLD_CELLS = 1 << 17  # buffered (value, count) cells before they are merged into sorted arrays


def weighted_percentile(sorted_values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """`np.percentile(np.repeat(sorted_values, counts), q)` (method 'linear') without the repeat.

    Follows numpy's arithmetic step by step (virtual index (n-1)*q/100, floor, lerp with the
    gamma >= 0.5 branch) so the result is bit-identical.
    """
    n = int(counts.sum())
    if n == 0:
        return math.nan
    virtual = np.float64(n - 1) * (np.float64(q) / np.float64(100))
    cum = np.cumsum(counts)
    if virtual >= n - 1:
        return float(sorted_values[-1])
    if virtual < 0:
        return float(sorted_values[0])
    prev = int(np.floor(virtual))
    a = np.float64(sorted_values[int(np.searchsorted(cum, prev, side="right"))])
    b = np.float64(sorted_values[int(np.searchsorted(cum, prev + 1, side="right"))])
    return _lerp(a, b, virtual - np.float64(prev))


def sorted_percentile(ordered: np.ndarray, q: float) -> float:
    """`np.percentile(values, q)` (method 'linear') of values already sorted, with numpy's
    arithmetic (as `weighted_percentile`): bit-identical, and without `np.percentile`, whose first
    call imports `numpy.ma` (7 ms of a short run's process)."""
    n = len(ordered)
    if n == 0:
        return math.nan
    if math.isnan(ordered[-1]):  # (sorted last) numpy's answer for a slice holding a NaN
        return math.nan
    virtual = np.float64(n - 1) * (np.float64(q) / np.float64(100))
    if virtual >= n - 1:
        return float(ordered[-1])
    if virtual < 0:
        return float(ordered[0])
    prev = int(np.floor(virtual))
    return _lerp(np.float64(ordered[prev]), np.float64(ordered[prev + 1]), virtual - np.float64(prev))


def _lerp(a: np.float64, b: np.float64, gamma: np.float64) -> float:
    """numpy's `_lerp`: from the nearer end (the gamma >= 0.5 branch counts back from b)."""
    diff = b - a
    if gamma >= 0.5:
        return float(b - diff * (np.float64(1) - gamma))
    return float(a + diff * gamma)


def empty_stats() -> dict[str, float | None]:
    return {"mean": None, **{f"p{q}": None for q in PERCENTILES}}


def plain_stats(values_ms: np.ndarray) -> dict[str, float | None]:
    """Mean and percentiles of millisecond values, as numpy computes them (the summary's figures)."""
    if len(values_ms) == 0:
        return empty_stats()
    out: dict[str, float | None] = {"mean": float(np.mean(values_ms))}
    ordered = np.sort(values_ms)
    for q in PERCENTILES:
        out[f"p{q}"] = sorted_percentile(ordered, q)
    return out


def _exact_sum(values: np.ndarray, counts: np.ndarray | None = None) -> int | float:
    """The sum of values (times counts), exact for integers (Python ints past int64's range)."""
    if values.dtype.kind == "f":
        return math.fsum((values * counts).tolist() if counts is not None else values.tolist())
    top = int(np.abs(values).max()) * (int(counts.sum()) if counts is not None else len(values))
    if top < 2**62:
        return int(np.dot(values, counts)) if counts is not None else int(values.sum())
    if counts is None:
        return sum(values.tolist())
    return sum(v * c for v, c in zip(values.tolist(), counts.tolist(), strict=True))


class LogHistogram:
    """Counts of values in geometric buckets (ratio 1 + 2 * REL_ERROR), one array per sign, made
    when a value of that sign first comes; a bucket stands for its midpoint."""

    __slots__ = ("neg", "pos", "zero")

    def __init__(self) -> None:
        self.pos: np.ndarray | None = None
        self.neg: np.ndarray | None = None
        self.zero = 0

    def add(self, values: np.ndarray, counts: np.ndarray | None = None) -> None:
        v = np.asarray(values, dtype=np.float64)
        w = np.ones(len(v), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        mag = np.abs(v)
        small = mag < TINY
        self.zero += int(w[small].sum())
        for sign in (1, -1):
            sel = ~small & ((v > 0) if sign > 0 else (v < 0))
            if not sel.any():
                continue
            idx = np.floor((np.log(mag[sel]) - math.log(TINY)) / _LN_GAMMA).astype(np.int64)
            np.clip(idx, 0, NUM_BUCKETS - 1, out=idx)
            hist = self.pos if sign > 0 else self.neg
            if hist is None:
                hist = np.zeros(NUM_BUCKETS, dtype=np.int64)
                if sign > 0:
                    self.pos = hist
                else:
                    self.neg = hist
            np.add.at(hist, idx, w[sel])

    @staticmethod
    def _mid(idx: np.ndarray) -> np.ndarray:
        low = TINY * np.exp(idx * _LN_GAMMA)
        return low * ((1 + _GAMMA) / 2)

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket midpoints (ascending, float64) and their counts, empty buckets left out."""
        parts_v, parts_c = [], []
        if self.neg is not None:
            i = np.nonzero(self.neg)[0][::-1]
            parts_v.append(-self._mid(i))
            parts_c.append(self.neg[i])
        if self.zero:
            parts_v.append(np.zeros(1))
            parts_c.append(np.array([self.zero], dtype=np.int64))
        if self.pos is not None:
            i = np.nonzero(self.pos)[0]
            parts_v.append(self._mid(i))
            parts_c.append(self.pos[i])
        if not parts_v:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return np.concatenate(parts_v), np.concatenate(parts_c)

    def nbytes(self) -> int:
        return sum(h.nbytes for h in (self.pos, self.neg) if h is not None)


def _approx_stats(count: int, total: int | float, lo: Any, hi: Any, hist: LogHistogram,
                  scale: float) -> dict[str, float | None]:
    """Exact mean; percentiles from the histogram, clamped to the exact min and max."""
    values, counts = hist.samples()
    out: dict[str, float | None] = {"mean": total / count / scale}
    for q in PERCENTILES:
        p = weighted_percentile(values / scale, counts, q)
        out[f"p{q}"] = min(max(p, lo / scale), hi / scale)
    out["percentiles_rel_error"] = REL_ERROR
    return out


class Distribution:
    """One latency over requests: exact count, sum, min and max, and the values (keyed by request
    id) exactly up to `cap`, then in a `LogHistogram` (cap None: always exact)."""

    __slots__ = ("_hist", "_keys", "_values", "cap", "count", "dtype", "held", "hi", "lo", "total")

    def __init__(self, dtype: type = np.int64, cap: int | None = EXACT_CAP) -> None:
        self.dtype = np.dtype(dtype)
        self.cap = cap
        self.count = 0
        self.total: int | float = 0
        self.lo: Any = None
        self.hi: Any = None
        self.held = 0  # values held exactly
        self._keys: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._hist: LogHistogram | None = None

    @property
    def exact(self) -> bool:
        return self._hist is None

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Values (and their keys), in any order."""
        n = len(values)
        if n == 0:
            return
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.count += n
        self.total += _exact_sum(values)
        lo, hi = values.min().item(), values.max().item()
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        if self._hist is not None:
            self._hist.add(values)
            return
        self._keys.append(np.array(keys, dtype=np.int64))
        self._values.append(values.copy())
        self.held += n
        if self.cap is not None and self.held > self.cap:
            hist = LogHistogram()
            for chunk in self._values:
                hist.add(chunk)
            self._hist, self._keys, self._values, self.held = hist, [], [], 0

    def exact_values(self) -> np.ndarray:
        """Every value, ordered by key (as the per-request columns are)."""
        if self._hist is not None:
            raise ValueError("past its cap a distribution keeps a histogram, not its values")
        if not self._values:
            return np.zeros(0, dtype=self.dtype)
        keys = np.concatenate(self._keys)
        values = np.concatenate(self._values)
        return values[np.argsort(keys, kind="stable")]

    def stats_ms(self) -> dict[str, float | None]:
        """The summary's figures in ms (values in ns); past the cap with `percentiles_rel_error`."""
        if self.count == 0:
            return empty_stats()
        if self._hist is None:
            return plain_stats(self.exact_values() / 1e6)
        return _approx_stats(self.count, self.total, self.lo, self.hi, self._hist, 1e6)

    def stat_ms(self, stat: str) -> float | None:
        """`mean` or `pNN` in ms (values in ns), None without values: as `np.mean` and
        `np.percentile` give it on the values in key order, bit for bit; past the cap the exact
        mean, and the percentile from the histogram, clamped to the exact min and max."""
        if self.count == 0:
            return None
        if self._hist is None:
            values_ms = self.exact_values() / 1e6
            if stat == "mean":
                return float(np.mean(values_ms))
            return sorted_percentile(np.sort(values_ms), int(stat[1:]))
        if stat == "mean":
            return self.total / self.count / 1e6
        values, counts = self._hist.samples()
        p = weighted_percentile(values / 1e6, counts, int(stat[1:]))
        return min(max(p, self.lo / 1e6), self.hi / 1e6)

    def grid_ms(self, percents: np.ndarray) -> np.ndarray | None:
        """Values (ms) at each of `percents`, None without values: `np.percentile` of the values,
        bit for bit; past the cap, interpolated in the histogram's weighted bucket midpoints (as
        `weighted_percentile`), clamped to the exact min and max, and exactly them at 0 and 100."""
        if self.count == 0:
            return None
        if self._hist is None:
            return np.percentile(self.exact_values() / 1e6, percents)
        values, counts = self._hist.samples()
        grid = np.array([weighted_percentile(values / 1e6, counts, q) for q in percents])
        grid = np.clip(grid, self.lo / 1e6, self.hi / 1e6)
        grid[percents <= 0] = self.lo / 1e6
        grid[percents >= 100] = self.hi / 1e6
        return grid

    def nbytes(self) -> int:
        """Bytes of values and keys (or histogram) retained."""
        held = sum(a.nbytes for a in self._keys) + sum(a.nbytes for a in self._values)
        return held + (self._hist.nbytes() if self._hist is not None else 0)


class GapCounts:
    """Weighted int samples (inter-token gaps): `buf` is a flat C array of (value, count) pairs the
    hot path appends to (two appends a step, no dict); `fold()` merges it into sorted exact arrays
    of distinct values, which past `cap` distinct values become a `LogHistogram`. Exact count, sum,
    min and max throughout."""

    __slots__ = ("_counts", "_hist", "_values", "buf", "cap", "count", "fold_at", "hi", "lo", "total")

    def __init__(self, cap: int | None = EXACT_CAP) -> None:
        self.cap = cap
        self.buf = array("q")
        # Cells to buffer before the next fold: at least as many as the distinct values held, so
        # merging (linear in what is held) costs O(1) per buffered pair, amortised.
        self.fold_at = FOLD_CELLS
        self._values = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int64)
        self._hist: LogHistogram | None = None
        self.count = 0
        self.total = 0
        self.lo: int | None = None
        self.hi: int | None = None

    @property
    def exact(self) -> bool:
        self.fold()
        return self._hist is None

    def add(self, gaps: dict[int, int]) -> None:
        buf = self.buf
        for gap, n in gaps.items():
            buf.append(gap)
            buf.append(n)

    def fold(self) -> None:
        """Merge the buffered pairs (the buffer is emptied in place: the hot path holds it)."""
        if not self.buf:
            return
        pairs = np.array(self.buf, dtype=np.int64).reshape(-1, 2)
        del self.buf[:]
        values, counts = pairs[:, 0], pairs[:, 1]
        self.count += int(counts.sum())
        self.total += _exact_sum(values, counts)
        lo, hi = int(values.min()), int(values.max())
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        if self._hist is not None:
            self._hist.add(values, counts)
            return
        # The held values are one sorted run: a stable sort (timsort) sorts the new pairs and merges
        # the two runs; then equal values add up.
        every = np.concatenate([self._values, values])
        order = np.argsort(every, kind="stable")
        every = every[order]
        weights = np.concatenate([self._counts, counts])[order]
        starts = np.flatnonzero(np.concatenate(([True], every[1:] != every[:-1])))
        merged, summed = every[starts], np.add.reduceat(weights, starts)
        if self.cap is not None and len(merged) > self.cap:
            self._hist = LogHistogram()
            self._hist.add(merged, summed)
            self._values = self._counts = np.zeros(0, dtype=np.int64)
            self.fold_at = FOLD_CELLS
        else:
            self._values, self._counts = merged, summed
            self.fold_at = max(FOLD_CELLS, 2 * len(merged))

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct values (ascending) and their counts; past the cap, bucket midpoints (float64)."""
        self.fold()
        if self._hist is not None:
            return self._hist.samples()
        return self._values.copy(), self._counts.copy()

    def stats_ms(self) -> dict[str, float | None]:
        self.fold()
        if self.count == 0:
            return empty_stats()
        if self._hist is not None:
            return _approx_stats(self.count, self.total, self.lo, self.hi, self._hist, 1e6)
        values_ms = self._values / 1e6
        out: dict[str, float | None] = {"mean": self.total / self.count / 1e6}
        for q in PERCENTILES:
            out[f"p{q}"] = weighted_percentile(values_ms, self._counts, q)
        return out

    def nbytes(self) -> int:
        """Bytes of the folded arrays (or histogram) retained; the buffer is folded by its owner
        once it holds `fold_at` cells (at most twice the values held, or `FOLD_CELLS`)."""
        return self._values.nbytes + self._counts.nbytes + (self._hist.nbytes() if self._hist else 0)
