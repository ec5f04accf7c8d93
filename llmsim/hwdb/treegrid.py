"""Interpolation on a scattered "tree" grid: nested one-dimensional interpolation, axis by axis.

The layer-wise tables of LLMServingSim are not rectangular: the attention table is the union of a
powers-of-two grid and a factor-1.5 grid, and which `kv_prefill` values were measured depends on the
`prefill_chunk`, which `kv_decode` values on both. A tensor-product interpolation needs a full grid,
so the points are held as a tree instead (axis 1 -> axis 2 -> ... -> value) and a query is answered
recursively: on the first axis find the two measured values around the query, answer the rest of the
query under each of them, and interpolate the two answers; the last axis interpolates the values.
On a complete grid this is exactly multilinear interpolation; on any grid it is

- exact at every measured point (a query on a measured key returns the stored value unchanged);
- a convex combination of measured values between grid points (never below the smaller or above the
  larger neighbour, so monotone wherever the measurements are);
- beyond the last value of an axis: extended along the secant over the last factor of two of that
  axis (from the largest value at most half the edge to the edge), never below the edge value;
- below the first value of an axis: clamped to it (an axis with one value is a constant).

Each axis interpolates in a coordinate given by an optional `coord(x, query)` function (identity by
default): the attention table interpolates its prefill axis in attention work, not in tokens (see
`llmsim.hwdb.layerwise`). Coordinates must increase with x.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence

Coord = Callable[[float, Sequence[float]], float]
__safepickle__ = ("_identity",)  # held by grids in compiled plans (llmsim.safepickle)


def _identity(x: float, _query: Sequence[float]) -> float:
    return x


class _Node:
    """One level of the tree: sorted axis values and, per value, a child node or a leaf value."""

    __slots__ = ("children", "xs")

    def __init__(self, xs: list[float], children: list):
        self.xs = xs
        self.children = children


def _build(rows: list[tuple[tuple[float, ...], float]], depth: int, ndim: int):
    if depth == ndim:
        return rows[0][1]
    groups: dict[float, list] = {}
    for key, value in rows:
        groups.setdefault(key[depth], []).append((key, value))
    xs = sorted(groups)
    return _Node(xs, [_build(groups[x], depth + 1, ndim) for x in xs])


def secant_base(xs: Sequence[float]) -> int:
    """Index of the point the edge secant starts from: the largest value at most half the last one
    (the first value when there is none), so the slope spans about a factor of two, not one noisy step."""
    last = xs[-1]
    i = bisect_left(xs, last / 2 + 1e-9) - 1
    return max(0, min(i, len(xs) - 2))


class TreeGrid:
    """Values at scattered integer keys of `ndim` axes, interpolated as described in the module doc."""

    def __init__(
        self,
        keys: Sequence[Sequence[float]],
        values: Sequence[float],
        coords: Sequence[Coord | None] | None = None,
    ):
        if not keys:
            raise ValueError("a TreeGrid needs at least one point")
        self.ndim = len(keys[0])
        rows = [(tuple(float(v) for v in k), float(val)) for k, val in zip(keys, values)]
        seen = {k for k, _ in rows}
        if len(seen) != len(rows):
            raise ValueError("duplicate keys")
        self._root = _build(rows, 0, self.ndim)
        cs = list(coords) if coords is not None else [None] * self.ndim
        self._coords: list[Coord] = [c or _identity for c in cs]

    def __call__(self, *query: float) -> float:
        if len(query) != self.ndim:
            raise TypeError(f"expected {self.ndim} coordinates, got {len(query)}")
        q = tuple(float(x) for x in query)
        return self._eval(self._root, 0, q)

    def _eval(self, node, depth: int, q: tuple[float, ...]) -> float:
        if depth == self.ndim:
            return node
        xs: list[float] = node.xs
        x = q[depth]
        n = len(xs)
        if n == 1 or x <= xs[0]:
            return self._eval(node.children[0], depth + 1, q)
        i = bisect_left(xs, x)
        if i < n and xs[i] == x:
            return self._eval(node.children[i], depth + 1, q)
        coord = self._coords[depth]
        if i == n:  # beyond the last value: secant over the last factor of two, never below the edge
            j = secant_base(xs)
            v1 = self._eval(node.children[-1], depth + 1, q)
            v0 = self._eval(node.children[j], depth + 1, q)
            c1, c0, cx = coord(xs[-1], q), coord(xs[j], q), coord(x, q)
            slope = (v1 - v0) / (c1 - c0) if c1 > c0 else 0.0
            return v1 + max(slope, 0.0) * (cx - c1)
        v0 = self._eval(node.children[i - 1], depth + 1, q)
        v1 = self._eval(node.children[i], depth + 1, q)
        c0, c1, cx = coord(xs[i - 1], q), coord(xs[i], q), coord(x, q)
        t = (cx - c0) / (c1 - c0) if c1 > c0 else 0.0
        return v0 + t * (v1 - v0)

    def axis_values(self, *prefix: float) -> list[float]:
        """The measured values of the next axis under a key prefix (the first axis for no prefix)."""
        node = self._root
        for x in prefix:
            node = node.children[node.xs.index(float(x))]
        return list(node.xs)
