"""Nested interpolation on scattered grids: exact at points, multilinear on full grids, bounded."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from llmsim.hwdb.treegrid import TreeGrid, secant_base


def test_exact_at_every_point_of_a_scattered_grid():
    rng = np.random.default_rng(0)
    keys = {(int(a), int(b), int(c)) for a, b, c in rng.integers(0, 50, size=(300, 3))}
    keys = sorted(keys)
    values = rng.uniform(1, 100, len(keys)).tolist()
    g = TreeGrid(keys, values)
    for k, v in zip(keys, values):
        assert g(*k) == v


def test_multilinear_on_a_full_grid():
    xs, ys = [0, 16, 32, 64], [1, 2, 4, 8, 16]
    keys = list(itertools.product(xs, ys))

    def f(x, y):
        return 3.0 + 0.5 * x + 2.0 * y + 0.25 * x * y

    g = TreeGrid(keys, [f(*k) for k in keys])
    for x, y in [(5, 3), (20, 7.5), (63, 1.5), (0, 10)]:
        assert g(x, y) == pytest.approx(f(x, y))


def test_between_points_stays_within_the_neighbours():
    keys = [(0, 0), (0, 10), (10, 0), (10, 10), (20, 5)]
    vals = [1.0, 2.0, 3.0, 9.0, 4.0]
    g = TreeGrid(keys, vals)
    for x in np.linspace(0, 10, 11):
        for y in np.linspace(0, 10, 11):
            assert 1.0 <= g(x, y) <= 9.0
    # monotone where the measurements are
    line = [g(5, y) for y in np.linspace(0, 10, 21)]
    assert all(b >= a for a, b in itertools.pairwise(line))


def test_beyond_and_below_the_grid():
    keys = [(x,) for x in (16, 32, 64, 128, 192, 256)]
    vals = [10.0, 11.0, 13.0, 17.0, 19.0, 25.0]
    g = TreeGrid(keys, vals)
    # the secant runs from the largest value at most half the edge (128) to the edge (256)
    assert secant_base([16, 32, 64, 128, 192, 256]) == 3
    assert g(512) == pytest.approx(25.0 + (25.0 - 17.0) / 128 * 256)
    assert g(1) == 10.0  # clamped below
    falling = TreeGrid(keys, [10.0, 11.0, 13.0, 17.0, 19.0, 15.0])
    assert falling(1000) == 15.0  # never below the edge value


def test_coordinates_and_errors():
    keys = [(0,), (10,), (20,)]
    g = TreeGrid(keys, [0.0, 100.0, 400.0], coords=[lambda x, q: x * x])
    assert g(15) == pytest.approx(225.0)  # linear in x^2 reproduces a quadratic
    with pytest.raises(TypeError, match="expected 1 coordinates, got 2"):
        g(1, 2)
    with pytest.raises(ValueError, match="duplicate keys"):
        TreeGrid([(1,), (1,)], [1.0, 2.0])
