"""Latency tables: reading their CSV files and interpolating between measured points.

Every rule here is documented in docs/hardware.md ("Interpolation"); the tests in
tests/hwdb/test_tables.py pin each one. In short:

- exact at every measured point (the value in the CSV is returned unchanged);
- GEMM: bilinear in (log n, log k) of log latency per measured m, linear in m between measured m,
  work-ratio scaling beyond the largest m, n or k, clamping below the smallest n or k;
- attention: bilinear in (log batch, log length) of log latency on a dense grid whose unmeasured cells
  were filled from the measured boundary, growing along batch at the boundary's marginal cost (at
  most the work ratio); the same beyond the largest batch, and the work ratio beyond the longest
  length (isl^2 for prefill, kv_len for decode);
- all-reduce: log-log linear in message bytes, linear scaling beyond the largest message.

Latencies are microseconds (floats). A query with no work (m, batch, length or bytes <= 0) costs 0.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmsim.hwdb.errors import HwdbError

# The last column of every table file. Defined here, not in `schema` (which re-exports it), so that
# loading a cached compile, which unpickles tables, does not build the entry.yaml schema.
LATENCY_COLUMN = "latency_us"

# ---------------------------------------------------------------------------------------------------
# Reading


def read_table(path: Path, keys: Sequence[str], rows: int | None = None) -> np.ndarray:
    """A table file as a float64 array of shape (rows, len(keys) + 1): key columns, then latency_us.

    Checks what a loader must not get wrong: the header is exactly `keys,latency_us`; every cell is
    a number; keys are positive integers; latencies are finite and positive; no key appears twice;
    the row count matches the entry's `rows` when given. Errors name the file, column and line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HwdbError(path, "file", f"cannot read the table file ({exc.strerror or exc})") from None
    nl = text.find("\n")
    first = text if nl < 0 else text[:nl]
    header = first.rstrip("\r").split(",") if first else []
    expected = [*keys, LATENCY_COLUMN]
    if header != expected:
        raise HwdbError(
            path,
            "header",
            f"columns are `{','.join(header)}`, expected `{','.join(expected)}`",
            "the header is the table's keys, as declared in entry.yaml, then latency_us",
            line=1,
            col=1,
            width=max(1, len(first)),
        )
    body_text = "" if nl < 0 else text[nl + 1 :].rstrip("\r\n\t ")
    ncol = len(expected)
    data = _parse_fast(body_text, ncol)
    if data is None:
        _raise_first_bad_cell(path, _lines(body_text), expected)
        raise AssertionError("unreachable")  # pragma: no cover
    if rows is not None and data.shape[0] != rows:
        raise HwdbError(
            path,
            "rows",
            f"has {data.shape[0]} data rows, entry.yaml declares {rows}",
            "re-run the importer, or fix `rows` in entry.yaml",
        )
    if data.shape[0] == 0:
        raise HwdbError(path, "rows", "has no data rows", line=1, col=1)
    keyv = data[:, :-1]
    bad = ~np.isfinite(keyv) | (keyv < 1) | (keyv != np.floor(keyv))
    if bad.any():
        r, c = map(int, np.argwhere(bad)[0])
        _raise_cell(
            path,
            _lines(body_text),
            expected,
            r,
            c,
            f"key `{expected[c]}` must be a positive integer on line {r + 2}",
        )
    lat = data[:, -1]
    bad_lat = ~np.isfinite(lat) | (lat <= 0)
    if bad_lat.any():
        r = int(np.argmax(bad_lat))
        what = (
            "NaN"
            if math.isnan(lat[r])
            else ("negative" if lat[r] < 0 else ("zero" if lat[r] == 0 else "infinite"))
        )
        _raise_cell(
            path,
            _lines(body_text),
            expected,
            r,
            ncol - 1,
            f"{what} latency on line {r + 2}",
            "every latency is a positive, finite number of microseconds",
        )
    order = np.lexsort(keyv.T[::-1])
    sk = keyv[order]
    dup = np.all(sk[1:] == sk[:-1], axis=1)
    if dup.any():
        r = int(order[int(np.argmax(dup)) + 1])
        _raise_cell(
            path,
            _lines(body_text),
            expected,
            r,
            0,
            f"duplicate row for key ({', '.join(str(int(v)) for v in keyv[r])})",
            "collapse repeated measurements to one row (the importer takes their median)",
        )
    return data


def _lines(body_text: str) -> list[str]:
    return body_text.replace("\r\n", "\n").split("\n") if body_text else []


def _parse_fast(body_text: str, ncol: int) -> np.ndarray | None:
    """All cells as floats, or None if any row is ragged or any cell is not a number."""
    if not body_text:
        return np.zeros((0, ncol))
    if "\r" in body_text:
        body_text = body_text.replace("\r\n", "\n")
    nrows = body_text.count("\n") + 1
    flat = body_text.replace("\n", ",").split(",")
    if len(flat) != nrows * ncol or "" in flat:
        return None
    try:
        return np.array(flat, dtype=np.float64).reshape(nrows, ncol)
    except ValueError:
        return None


def _raise_first_bad_cell(path: Path, body: list[str], columns: list[str]) -> None:
    for r, line in enumerate(body):
        cells = line.split(",")
        if len(cells) != len(columns):
            raise HwdbError(
                path,
                f"line {r + 2}",
                f"has {len(cells)} cells, expected {len(columns)} ({','.join(columns)})",
                line=r + 2,
                col=1,
                width=max(1, len(line)),
            )
        for c, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                noun = "latency" if c == len(columns) - 1 else "value"
                what = f"missing {noun}" if not cell.strip() else f"`{cell}` is not a number"
                _raise_cell(path, body, columns, r, c, f"{what} on line {r + 2}")
    raise AssertionError("no bad cell found")  # pragma: no cover


def _raise_cell(
    path: Path, body: list[str], columns: list[str], r: int, c: int, problem: str, help: str = ""
) -> None:
    cells = body[r].split(",")
    col = sum(len(x) + 1 for x in cells[:c]) + 1
    raise HwdbError(
        path,
        columns[c],
        problem,
        help,
        line=r + 2,
        col=col,
        width=max(1, len(cells[c]) if c < len(cells) else 1),
    )


# ---------------------------------------------------------------------------------------------------
# Axis helpers


def _axis(grid: list[float], logs: list[float], x: float) -> tuple[int, int, float, float]:
    """Locate x on a sorted grid: (i0, i1, t, scale) with t the log-space weight of i1.

    Below the grid: clamp (i0 = i1 = 0, scale 1). Above: the edge with scale x / edge (work ratio).
    """
    if x <= grid[0]:
        return 0, 0, 0.0, 1.0
    last = len(grid) - 1
    if x >= grid[last]:
        return last, last, 0.0, x / grid[last]
    i = bisect_right(grid, x) - 1
    if grid[i] == x:
        return i, i, 0.0, 1.0
    return i, i + 1, (math.log(x) - logs[i]) / (logs[i + 1] - logs[i]), 1.0


def _axis_vec(
    grid: np.ndarray, logs: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised `_axis` (x already > 0)."""
    last = len(grid) - 1
    xc = np.clip(x, grid[0], grid[last])
    i0 = np.clip(np.searchsorted(grid, xc, side="right") - 1, 0, last)
    i1 = np.minimum(i0 + 1, last)
    span = logs[i1] - logs[i0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(span > 0, (np.log(xc) - logs[i0]) / np.where(span > 0, span, 1.0), 0.0)
    scale = np.where(x > grid[last], x / grid[last], 1.0)
    return i0, i1, t, scale


_BATCH_MEMO = 4096  # batch sizes an attention table remembers the grid location of


def _is_scalar(x: object) -> bool:
    # Plain numbers first: this runs twice per priced step, and np.ndim costs a microsecond.
    return type(x) is int or type(x) is float or np.ndim(x) == 0


# ---------------------------------------------------------------------------------------------------
# GEMM


class GemmTable:
    """Latency of `[m, k] x [k, n]` for one dtype, from a sparse (m, n, k) grid.

    `latency_us(m, n, k)` takes m as an int or an integer ndarray (a whole curve at once).
    """

    def __init__(self, name: str, dtype: str, data: np.ndarray, *, kernel: str = ""):
        self.name = name
        self.dtype = dtype
        self.kernel = kernel
        m, n, k, lat = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
        self.m_grid = np.unique(m)
        self.n_grid = np.unique(n)
        self.k_grid = np.unique(k)
        mi = np.searchsorted(self.m_grid, m)
        ni = np.searchsorted(self.n_grid, n)
        ki = np.searchsorted(self.k_grid, k)
        grid = np.full((len(self.m_grid), len(self.n_grid), len(self.k_grid)), np.nan)
        grid[mi, ni, ki] = lat
        self.measured = ~np.isnan(grid)
        self.rows = int(data.shape[0])
        self.lat = fill_gemm_grid(grid, self.n_grid, self.k_grid, self.m_grid)
        self._loglat = np.log(self.lat)
        self._m = self.m_grid.tolist()
        self._n = self.n_grid.tolist()
        self._k = self.k_grid.tolist()
        self._logn = np.log(self.n_grid).tolist()
        self._logk = np.log(self.k_grid).tolist()
        self._curves: dict[tuple[int, int], np.ndarray] = {}

    @property
    def filled_cells(self) -> int:
        """How many (m, n, k) grid cells had no measurement and were filled (see `fill_gemm_grid`)."""
        return int((~self.measured).sum())

    def in_grid(self, n: int, k: int) -> bool:
        """True when (n, k) lies inside the measured n and k ranges and every grid cell its value is
        interpolated from was measured (not filled), i.e. no extrapolation is involved."""
        if not (self._n[0] <= n <= self._n[-1] and self._k[0] <= k <= self._k[-1]):
            return False
        i0, i1, _, _ = _axis(self._n, self._logn, n)
        j0, j1, _, _ = _axis(self._k, self._logk, k)
        return bool(self.measured[:, [i0, i1]][:, :, [j0, j1]].all())

    def on_grid(self, n: int, k: int) -> bool:
        """True when n and k are both grid values, so the curve over m is measured data."""
        return n in self._n and k in self._k

    def curve(self, n: int, k: int) -> np.ndarray:
        """Latency (us) at every grid m for this (n, k); cached."""
        key = (int(n), int(k))
        c = self._curves.get(key)
        if c is not None:
            return c
        if n <= 0 or k <= 0:
            c = np.zeros(len(self._m))
        else:
            i0, i1, tn, sn = _axis(self._n, self._logn, n)
            j0, j1, tk, sk = _axis(self._k, self._logk, k)
            if tn == 0.0 and tk == 0.0:
                c = self.lat[:, i0, j0].copy()
            else:
                L = self._loglat
                ll = (
                    ((1 - tn) * (1 - tk)) * L[:, i0, j0]
                    + (tn * (1 - tk)) * L[:, i1, j0]
                    + ((1 - tn) * tk) * L[:, i0, j1]
                    + (tn * tk) * L[:, i1, j1]
                )
                c = np.exp(ll)
            if sn != 1.0 or sk != 1.0:
                c = c * (sn * sk)
        if len(self._curves) > 4096:
            self._curves.clear()
        self._curves[key] = c
        return c

    def latency_us(self, m, n: int, k: int):
        """Latency in microseconds; m an int (returns float) or ndarray of ints (returns ndarray)."""
        c = self.curve(n, k)
        mg = self._m
        if _is_scalar(m):
            m = float(m)
            if m <= 0:
                return 0.0
            if m >= mg[-1]:
                return float(c[-1]) * (m / mg[-1])
            if m <= mg[0]:
                return float(c[0])
            j = bisect_right(mg, m) - 1
            if mg[j] == m:
                return float(c[j])
            t = (m - mg[j]) / (mg[j + 1] - mg[j])
            return float(c[j] + t * (c[j + 1] - c[j]))
        ma = np.asarray(m, dtype=np.float64)
        out = np.interp(ma, self.m_grid, c)
        big = ma > mg[-1]
        if big.any():
            out[big] = c[-1] * (ma[big] / mg[-1])
        out[ma <= 0] = 0.0
        return out

    def __repr__(self) -> str:
        return f"GemmTable({self.name!r}, dtype={self.dtype!r}, {len(self._m)}x{len(self._n)}x{len(self._k)})"


def fill_gemm_grid(
    grid: np.ndarray, n_grid: np.ndarray, k_grid: np.ndarray, m_grid: np.ndarray
) -> np.ndarray:
    """Fill unmeasured (m, n, k) cells; measured cells are returned unchanged.

    Rule (docs/hardware.md): visiting (n, k) in increasing order, a missing cell takes the larger of
    its work-scaled lower neighbours, L(n_prev, k) * n / n_prev and L(n, k_prev) * k / k_prev, at the
    same m. Taking the larger keeps the grid non-decreasing in n and k wherever its neighbours are.
    Cells with no lower neighbour take the smaller of the work-scaled upper neighbours (a second pass
    in decreasing order); anything still missing is interpolated linearly in m along its (n, k) line.
    """
    g = grid.copy()
    holes = np.isnan(g).any(axis=0)
    if not holes.any():
        return g
    N, K = len(n_grid), len(k_grid)
    cells = [(int(i), int(j)) for i, j in np.argwhere(holes)]  # row-major: increasing (n, k)

    def fill(i: int, j: int, neighbours: list[tuple[int, int]], pick) -> None:
        miss = np.isnan(g[:, i, j])
        if not miss.any():
            return
        cands = [
            g[:, a, b] * (n_grid[i] / n_grid[a]) * (k_grid[j] / k_grid[b])
            for a, b in neighbours
            if 0 <= a < N and 0 <= b < K
        ]
        if cands:
            est = pick.reduce(cands) if len(cands) > 1 else cands[0]
            g[miss, i, j] = est[miss]

    for i, j in cells:
        fill(i, j, [(i - 1, j), (i, j - 1)], np.fmax)
    for i, j in reversed(cells):
        fill(i, j, [(i + 1, j), (i, j + 1)], np.fmin)
    for i, j in cells:
        line = g[:, i, j]
        miss = np.isnan(line)
        if miss.any() and (~miss).any():
            line[miss] = np.interp(m_grid[miss], m_grid[~miss], line[~miss])
    return g


# ---------------------------------------------------------------------------------------------------
# Attention


class AttentionTable:
    """Attention latency for one head layout and KV dtype over (batch, length).

    Prefill: length is the prompt length (isl), work grows as batch * isl^2. Decode: length is the
    number of KV tokens the new token attends to, work grows as batch * kv_len.
    """

    def __init__(
        self,
        name: str,
        op: str,
        data: np.ndarray,
        *,
        num_heads: int = 0,
        num_kv_heads: int = 0,
        head_dim: int = 0,
        kv_dtype: str = "",
        kernel: str = "",
    ):
        self.name = name
        self.op = op
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.kv_dtype = kv_dtype
        self.kernel = kernel
        self.length_exponent = 2 if op == "attention_prefill" else 1
        b, s, lat = data[:, 0], data[:, 1], data[:, 2]
        self.batches = np.unique(b)
        self.lengths = np.unique(s)
        grid = np.full((len(self.batches), len(self.lengths)), np.nan)
        grid[np.searchsorted(self.batches, b), np.searchsorted(self.lengths, s)] = lat
        self.measured = ~np.isnan(grid)
        self.rows = int(data.shape[0])
        self.lat = fill_attention_grid(grid, self.batches, self.lengths, self.length_exponent)
        self._loglat = np.log(self.lat)
        self._b = self.batches.tolist()
        self._s = self.lengths.tolist()
        self._logb = np.log(self.batches).tolist()
        self._logs = np.log(self.lengths).tolist()
        self._latl = self.lat.tolist()
        self._logl = self._loglat.tolist()
        # batch -> its `_axis` on the batch grid: a step's batch is a small integer, looked up every step
        self._batch_at: dict[float, tuple[int, int, float, float]] = {}

    def measured_max_length(self, batch: int) -> int | None:
        """The longest measured length at a grid batch (the edge of the measured region)."""
        if batch not in self._b:
            return None
        row = self.measured[self._b.index(batch)]
        return int(self.lengths[row][-1]) if row.any() else None

    def in_region(self, batch: float, length: float) -> bool:
        """True when (batch, length) is interpolated only from measured cells (no extrapolation)."""
        if not (self._b[0] <= batch <= self._b[-1] and self._s[0] <= length <= self._s[-1]):
            return False
        i0, i1, _, _ = _axis(self._b, self._logb, batch)
        j0, j1, _, _ = _axis(self._s, self._logs, length)
        return bool(
            self.measured[i0, j0]
            and self.measured[i0, j1]
            and self.measured[i1, j0]
            and self.measured[i1, j1]
        )

    def latency_us(self, batch, length):
        """Latency in microseconds; scalars give a float, arrays (broadcast together) an ndarray."""
        if _is_scalar(batch) and _is_scalar(length):
            return self.scalar_us(batch, length)
        return self._vector(np.asarray(batch, dtype=np.float64), np.asarray(length, dtype=np.float64))

    def _row(self, i: int, j0: int, j1: int, ts: float) -> float:
        """The latency at grid batch row i, interpolated in log length."""
        if ts == 0.0:
            return self._latl[i][j0]
        r = self._logl[i]
        return math.exp((1 - ts) * r[j0] + ts * r[j1])

    def scalar_us(self, batch: float, length: float) -> float:
        """`latency_us` of two plain numbers, without its type dispatch (a cost model's call per step)."""
        b = float(batch)
        s = float(length)
        if b <= 0 or s <= 0:
            return 0.0
        j0, j1, ts, ss = _axis(self._s, self._logs, s)
        last = len(self._b) - 1
        if b > self._b[last]:
            v = self._row(last, j0, j1, ts)
            if last > 0:
                v = extend_batch(v, self._row(last - 1, j0, j1, ts), self._b[last], self._b[last - 1], b)
            else:
                v *= b / self._b[last]
        else:
            at = self._batch_at.get(b)
            if at is None:
                at = _axis(self._b, self._logb, b)
                if len(self._batch_at) < _BATCH_MEMO:
                    self._batch_at[b] = at
            i0, i1, tb, _ = at
            if tb == 0.0:
                v = self._row(i0, j0, j1, ts)
            else:
                r0, r1 = self._logl[i0], self._logl[i1]
                v = math.exp(
                    (1 - tb) * ((1 - ts) * r0[j0] + ts * r0[j1]) + tb * ((1 - ts) * r1[j0] + ts * r1[j1])
                )
        if ss != 1.0:
            v *= ss**self.length_exponent
        return v

    def _vector(self, b: np.ndarray, s: np.ndarray) -> np.ndarray:
        b, s = np.broadcast_arrays(b, s)
        out = np.zeros(b.shape)
        ok = (b > 0) & (s > 0)
        if not ok.any():
            return out
        bb, sv = b[ok], s[ok]
        i0, i1, tb, _ = _axis_vec(self.batches, np.asarray(self._logb), bb)
        j0, j1, ts, ss = _axis_vec(self.lengths, np.asarray(self._logs), sv)
        L = self._loglat
        ll = (1 - tb) * ((1 - ts) * L[i0, j0] + ts * L[i0, j1]) + tb * ((1 - ts) * L[i1, j0] + ts * L[i1, j1])
        v = np.where((tb == 0) & (ts == 0), self.lat[i0, j0], np.exp(ll))
        last = len(self._b) - 1
        big = bb > self._b[last]
        if big.any():
            tsb, j0b, j1b = ts[big], j0[big], j1[big]

            def row(i: int) -> np.ndarray:
                return np.where(tsb == 0, self.lat[i, j0b], np.exp((1 - tsb) * L[i, j0b] + tsb * L[i, j1b]))

            v1 = row(last)
            if last > 0:
                v[big] = extend_batch(v1, row(last - 1), self._b[last], self._b[last - 1], bb[big])
            else:
                v[big] = v1 * bb[big] / self._b[last]
        out[ok] = v * ss**self.length_exponent
        return out

    def __repr__(self) -> str:
        return (
            f"AttentionTable({self.name!r}, {self.op}, h={self.num_heads} kv={self.num_kv_heads} "
            f"d={self.head_dim} {self.kv_dtype}, {len(self._b)}x{len(self._s)})"
        )


def extend_batch(v1, v0, b1: float, b0: float, b):
    """Latency at batch b > b1 from the measured latencies v1 at b1 and v0 at b0 < b1 (same length).

    Linear in batch at the boundary's own marginal cost, the secant slope (v1 - v0) / (b1 - b0):
    the fixed part of a call (launch, setup) does not grow with the batch, the per-sequence work
    does. Bounded below by v1 (never faster than a smaller batch) and above by plain work-ratio
    scaling v1 * b / b1. Works on floats and on ndarrays.
    """
    est = v1 + (v1 - v0) / (b1 - b0) * (b - b1)
    return (
        np.minimum(np.maximum(est, v1), v1 * (b / b1))
        if isinstance(est, np.ndarray)
        else min(max(est, v1), v1 * (b / b1))
    )


def fill_attention_grid(
    grid: np.ndarray, batches: np.ndarray, lengths: np.ndarray, length_exponent: int
) -> np.ndarray:
    """Fill the unmeasured (large batch x long length) part of an attention grid; measured cells stay.

    Rule (docs/hardware.md): an unmeasured cell (b, s) grows from the nearest measured boundary
    point in the batch direction, (b1, s) with b1 the largest measured batch below b at the same
    length, by `extend_batch` (linear in batch at the slope between the two largest measured batches
    at that length, at most the work ratio b / b1; the work ratio alone when only one batch below was
    measured). Leave-out tests on the H100 tables show growing along batch is several times more
    accurate than along length from (b, s_max(b)), and the marginal slope more accurate than the
    plain work ratio (see docs). A cell with no smaller measured batch at its length scales from the
    smallest measured batch above it by the work ratio; a length measured at no batch at all scales
    from the longest measured length below it by (s / s')^exponent (or is clamped to the next
    measured length above it when there is none below).
    """
    g = grid.copy()
    meas = ~np.isnan(grid)
    if meas.all():
        return g
    B, S = g.shape
    for j in range(S):
        col = meas[:, j]
        if not col.any():
            continue
        for i in range(B):
            if meas[i, j]:
                continue
            below = np.flatnonzero(col[:i])
            if below.size >= 2:
                b1, b0 = below[-1], below[-2]
                g[i, j] = extend_batch(grid[b1, j], grid[b0, j], batches[b1], batches[b0], batches[i])
            else:
                src = below[-1] if below.size else np.flatnonzero(col)[0]
                g[i, j] = grid[src, j] * (batches[i] / batches[src])
    for j in range(S):
        if meas[:, j].any():
            continue
        cols = np.flatnonzero(meas.any(axis=0))
        lower = cols[cols < j]
        if lower.size:
            src = lower[-1]
            g[:, j] = g[:, src] * (lengths[j] / lengths[src]) ** length_exponent
        else:
            g[:, j] = g[:, cols[cols > j][0]]
    return g


# ---------------------------------------------------------------------------------------------------
# All-reduce


class CommTable:
    """All-reduce latency vs message size in bytes for one group size (num_gpus).

    Built from one measured implementation, or (`fastest`) from several: then every query returns
    the minimum over the implementations, each interpolated by its own measured points (vLLM picks
    its custom all-reduce for small messages and NCCL for large ones). `sizes`/`lat`/`winner` then
    list that minimum at the union of the measured sizes, for display.
    """

    def __init__(
        self,
        name: str,
        num_gpus: int,
        sizes: np.ndarray,
        lat: np.ndarray,
        *,
        dtype: str = "",
        implementations: tuple[str, ...] = (),
        winner: tuple[str, ...] = (),
    ):
        order = np.argsort(sizes)
        self.name = name
        self.num_gpus = num_gpus
        self.dtype = dtype
        self.implementations = implementations
        self.sizes = np.asarray(sizes, dtype=np.float64)[order]
        self.lat = np.asarray(lat, dtype=np.float64)[order]
        self.winner = tuple(winner[i] for i in order) if winner else ()
        self._x = self.sizes.tolist()
        self._logx = np.log(self.sizes).tolist()
        self._y = self.lat.tolist()
        self._logy = np.log(self.lat).tolist()
        self.parts: tuple[CommTable, ...] = ()

    @classmethod
    def fastest(
        cls, name: str, num_gpus: int, parts: list[tuple[str, CommTable]], dtype: str = ""
    ) -> CommTable:
        """The per-size minimum of several implementations, on the union of their measured sizes."""
        sizes = np.unique(np.concatenate([t.sizes for _, t in parts]))
        curves = np.array([t.latency_us(sizes) for _, t in parts])
        best = np.argmin(curves, axis=0)
        table = cls(
            name,
            num_gpus,
            sizes,
            curves.min(axis=0),
            dtype=dtype,
            implementations=tuple(p for p, _ in parts),
            winner=tuple(parts[i][0] for i in best),
        )
        table.parts = tuple(t for _, t in parts)
        return table

    def crossover_bytes(self) -> list[tuple[float, str]]:
        """Where the fastest implementation changes: [(first size, implementation), ...]."""
        out: list[tuple[float, str]] = []
        for x, w in zip(self._x, self.winner):
            if not out or out[-1][1] != w:
                out.append((x, w))
        return out

    def latency_us(self, message_bytes):
        """Latency in microseconds of one all-reduce of `message_bytes` (int/float or ndarray)."""
        if self.parts:
            if _is_scalar(message_bytes):
                return min(t.latency_us(message_bytes) for t in self.parts)
            return np.minimum.reduce([t.latency_us(message_bytes) for t in self.parts])
        if _is_scalar(message_bytes):
            x = float(message_bytes)
            if x <= 0:
                return 0.0
            xs = self._x
            if x <= xs[0]:
                return self._y[0]
            if x >= xs[-1]:
                return self._y[-1] * (x / xs[-1])
            i = bisect_right(xs, x) - 1
            if xs[i] == x:
                return self._y[i]
            t = (math.log(x) - self._logx[i]) / (self._logx[i + 1] - self._logx[i])
            return math.exp(self._logy[i] + t * (self._logy[i + 1] - self._logy[i]))
        x = np.asarray(message_bytes, dtype=np.float64)
        out = np.zeros(x.shape)
        ok = x > 0
        xv = x[ok]
        xc = np.clip(xv, self._x[0], self._x[-1])
        v = np.exp(np.interp(np.log(xc), np.asarray(self._logx), np.asarray(self._logy)))
        exact = np.isin(xc, self.sizes)
        if exact.any():
            v[exact] = self.lat[np.searchsorted(self.sizes, xc[exact])]
        big = xv > self._x[-1]
        v[big] = self._y[-1] * (xv[big] / self._x[-1])
        out[ok] = v
        return out

    def __repr__(self) -> str:
        return f"CommTable({self.name!r}, num_gpus={self.num_gpus}, {len(self._x)} sizes)"


# ---------------------------------------------------------------------------------------------------
# One size axis: layer-wise ops, MoE blocks


class SizeCurve:
    """Latency against one integer size (tokens, sequences) from measured points.

    Exact at measured sizes, linear between, the first value below the smallest, 0 for size <= 0;
    beyond the largest, the secant over the last factor of two (from the largest measured size at
    most half the edge), never below the edge value and with a slope at most the edge's own latency
    per unit of size (the work ratio): a fixed cost does not grow with the batch, work does.
    """

    def __init__(self, name: str, sizes, lat):
        order = np.argsort(np.asarray(sizes, dtype=np.float64))
        self.name = name
        self.sizes = np.asarray(sizes, dtype=np.float64)[order]
        self.lat = np.asarray(lat, dtype=np.float64)[order]
        x, y = self.sizes, self.lat
        if len(x) > 1:
            from llmsim.hwdb.treegrid import secant_base

            j = secant_base(x.tolist())
            slope = (y[-1] - y[j]) / (x[-1] - x[j])
        else:
            slope = 0.0
        self.edge_slope = float(min(max(slope, 0.0), y[-1] / x[-1]))

    def latency_us(self, size):
        """int/float -> float, ndarray -> ndarray."""
        x, y = self.sizes, self.lat
        if np.ndim(size) == 0:
            s = float(size)
            if s <= 0:
                return 0.0
            if s > x[-1]:
                return float(y[-1] + self.edge_slope * (s - x[-1]))
            return float(np.interp(s, x, y))
        s = np.asarray(size, dtype=np.float64)
        out = np.interp(s, x, y)
        big = s > x[-1]
        out[big] = y[-1] + self.edge_slope * (s[big] - x[-1])
        out[s <= 0] = 0.0
        return out

    __call__ = latency_us

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self.sizes)} sizes)"


class MoeTable(SizeCurve):
    """One MoE layout (or MoE all-to-all layout): latency against the number of tokens."""
