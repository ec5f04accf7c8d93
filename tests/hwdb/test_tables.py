"""Interpolation rules (docs/hardware.md): exact at measured points, monotone between them,
work-ratio scaling outside, and fast enough for the compiler and the runtime."""

from __future__ import annotations

import csv
import math
import time
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmsim.hwdb import AttentionTable, CommTable, GemmTable
from llmsim.hwdb.tables import extend_batch, fill_attention_grid


def _csv_rows(entry, name):
    with (entry.path / entry.tables_meta[name]["file"]).open(newline="") as f:
        return [(tuple(int(v) for v in r[:-1]), float(r[-1])) for r in list(csv.reader(f))[1:]]


# --------------------------------------------------------------------------------------------------
# GEMM


@pytest.fixture(scope="module")
def gemm(entry) -> GemmTable:
    return entry.gemm("bf16")


def test_gemm_exact_at_every_measured_point(entry, gemm):
    rows = _csv_rows(entry, "gemm_bf16")
    assert len(rows) == 35742
    for (m, n, k), lat in rows[::97]:
        assert gemm.latency_us(m, n, k) == lat
    # a whole measured curve at once, vectorised
    n, k = 4096, 8192
    ms = np.array([m for (m, nn, kk), _ in rows if (nn, kk) == (n, k)])
    expected = np.array([lat for (m, nn, kk), lat in rows if (nn, kk) == (n, k)])
    assert np.array_equal(gemm.latency_us(ms, n, k), expected)


def test_gemm_known_rows(gemm):
    # rows of the committed CSV, and of the source (ms x 1000, 5 significant digits)
    assert gemm.latency_us(1, 32, 32) == 2.6
    assert gemm.latency_us(32768, 65536, 16384) == 80850.0  # source: 80.85013156467014 ms


def test_gemm_vector_matches_scalar(gemm):
    m = np.array([1, 2, 17, 18, 31, 100, 1000, 4352, 4354, 8192, 9000, 40000])
    for n, k in [(4096, 4096), (28672, 4096), (4096, 14336), (100, 70000), (16, 8)]:
        vec = gemm.latency_us(m, n, k)
        assert vec == pytest.approx([gemm.latency_us(int(x), n, k) for x in m], rel=1e-12)


def test_gemm_zero_m_costs_nothing(gemm):
    assert gemm.latency_us(0, 4096, 4096) == 0.0
    assert gemm.latency_us(np.array([0, 1]), 4096, 4096)[0] == 0.0


def test_gemm_linear_in_m_between_grid_points(gemm):
    lo, hi = gemm.latency_us(4353, 4096, 4096), gemm.latency_us(8192, 4096, 4096)
    mid = gemm.latency_us((4353 + 8192) // 2, 4096, 4096)
    t = ((4353 + 8192) // 2 - 4353) / (8192 - 4353)
    assert mid == pytest.approx(lo + t * (hi - lo), rel=1e-12)


def test_gemm_bilinear_in_log_n_log_k(gemm):
    # halfway in log space between grid points is the geometric mean of the four corners
    n0, n1, k0, k1 = 4096, 5120, 8192, 10240
    n, k = math.sqrt(n0 * n1), math.sqrt(k0 * k1)
    for m in (1, 256, 4096):
        corners = [gemm.latency_us(m, a, b) for a in (n0, n1) for b in (k0, k1)]
        assert gemm.latency_us(m, n, k) == pytest.approx(math.prod(corners) ** 0.25, rel=1e-9)


def test_gemm_monotone_between_grid_points(gemm):
    ns = gemm.n_grid.tolist()
    for m in (1, 64, 1024, 8192):
        for k in (4096, 8192):
            for a, b in pairwise(ns):
                la, lb = gemm.latency_us(m, int(a), k), gemm.latency_us(m, int(b), k)
                xs = np.linspace(a, b, 9)
                vals = [gemm.latency_us(m, float(x), k) for x in xs]
                step = np.diff(vals)
                assert (step >= -1e-9).all() if lb >= la else (step <= 1e-9).all()
                assert min(la, lb) - 1e-9 <= min(vals) and max(vals) <= max(la, lb) + 1e-9


def test_gemm_work_ratio_beyond_the_grid(gemm):
    for m in (1, 512, 32768):
        assert gemm.latency_us(m, 2 * 65536, 4096) == pytest.approx(2 * gemm.latency_us(m, 65536, 4096))
        assert gemm.latency_us(m, 4096, 3 * 65536) == pytest.approx(3 * gemm.latency_us(m, 4096, 65536))
    assert gemm.latency_us(65536, 4096, 4096) == pytest.approx(2 * gemm.latency_us(32768, 4096, 4096))
    # below the smallest n or k: clamped (small GEMMs are launch-bound)
    assert gemm.latency_us(64, 8, 4096) == gemm.latency_us(64, 32, 4096)
    assert not gemm.in_grid(2 * 65536, 4096)
    assert gemm.in_grid(28672, 4096) and not gemm.on_grid(28672, 4096)
    assert gemm.on_grid(4096, 4096)


def test_gemm_missing_cells_filled_from_neighbours(gemm):
    # (n, k) = (65536, 65536) is not in the source: the larger work-scaled lower neighbour
    assert gemm.filled_cells == 74
    i, j = len(gemm.n_grid) - 1, len(gemm.k_grid) - 1
    assert not gemm.measured[:, i, j].any()
    r = 65536 / 51200
    expected = np.maximum(gemm.lat[:, i - 1, j] * r, gemm.lat[:, i, j - 1] * r)
    assert np.array_equal(gemm.lat[:, i, j], expected)
    assert not gemm.in_grid(60000, 60000)
    assert (gemm.latency_us(np.arange(1, 100), 65536, 65536) > 0).all()


def _monotone_table(seed: int) -> GemmTable:
    rng = np.random.default_rng(seed)
    ms, ns, ks = np.array([1, 2, 8, 64, 256]), np.array([32, 128, 1024, 4096]), np.array([64, 512, 2048])
    rows = []
    for m in ms:
        for n in ns:
            for k in ks:
                rows.append((m, n, k, 2.0 + 1e-6 * m * n * k * (1 + 0.2 * rng.random())))
    data = np.array(rows, dtype=float)
    # make every line non-decreasing in m, n and k (cumulative max along each axis)
    grid = data[:, 3].reshape(len(ms), len(ns), len(ks))
    for axis in range(3):
        grid = np.maximum.accumulate(grid, axis=axis)
    data[:, 3] = grid.reshape(-1)
    return GemmTable("synthetic", "bf16", data)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 5),
    m=st.integers(1, 400),
    n=st.floats(16, 8000),
    k=st.floats(32, 4000),
    dn=st.floats(0, 3000),
    dk=st.floats(0, 3000),
)
def test_gemm_monotone_on_monotone_grids(seed, m, n, k, dn, dk):
    g = _monotone_table(seed)
    base = g.latency_us(m, n, k)
    assert base > 0
    assert g.latency_us(m, n + dn, k) >= base * (1 - 1e-12)
    assert g.latency_us(m, n, k + dk) >= base * (1 - 1e-12)
    assert g.latency_us(m + 1, n, k) >= base * (1 - 1e-12)


def test_gemm_curve_of_8192_points_is_fast(gemm):
    m = np.arange(1, 8193)
    best = float("inf")
    for i in range(5):
        t = time.perf_counter()
        gemm.latency_us(m, 28672 + i, 4096 - i)  # new (n, k) each time: no cache hit
        best = min(best, time.perf_counter() - t)
    assert best < 0.05


# --------------------------------------------------------------------------------------------------
# Attention


@pytest.fixture(scope="module")
def decode(entry) -> AttentionTable:
    return entry.attention_decode(32, 8, 128, "bf16")


@pytest.fixture(scope="module")
def prefill(entry) -> AttentionTable:
    return entry.attention_prefill(32, 8, 128, "bf16")


def test_attention_exact_at_measured_points(entry, decode, prefill):
    for table, name in (
        (decode, "attention_decode_h32_kv8_d128_kvbf16"),
        (prefill, "attention_prefill_h32_kv8_d128_kvbf16"),
    ):
        rows = _csv_rows(entry, name)
        for (b, s), lat in rows:
            assert table.latency_us(b, s) == lat
        b = np.array([r[0][0] for r in rows])
        s = np.array([r[0][1] for r in rows])
        assert np.array_equal(table.latency_us(b, s), np.array([r[1] for r in rows]))


def test_decode_is_keyed_by_kv_tokens(decode):
    # source row: batch 1, isl 1, step 1 (one cached token + the new one) -> kv_len 2
    assert decode.lengths[0] == 2 and decode.lengths[-1] == 65536
    assert decode.latency_us(1, 2) == 11.797


def test_attention_inside_region_bilinear_in_logs(decode):
    b0, b1, s0, s1 = 4, 8, 1024, 2048
    corners = [decode.latency_us(b, s) for b in (b0, b1) for s in (s0, s1)]
    assert decode.in_region(math.sqrt(b0 * b1), math.sqrt(s0 * s1))
    got = decode.latency_us(math.sqrt(b0 * b1), math.sqrt(s0 * s1))
    assert got == pytest.approx(math.prod(corners) ** 0.25, rel=1e-9)


def test_decode_outside_region_grows_with_batch_from_the_boundary(decode):
    # batch 2048 was measured only up to kv 128; at kv 65536 only batches <= 8 were
    assert decode.measured_max_length(2048) == 128
    assert not decode.in_region(2048, 65536)
    l4, l8 = decode.latency_us(4, 65536), decode.latency_us(8, 65536)
    # linear in batch at the boundary's marginal cost (secant of its two largest measured batches)
    expected = min(l8 + (l8 - l4) / 4 * (2048 - 8), l8 * 2048 / 8)
    assert decode.latency_us(2048, 65536) == pytest.approx(expected)
    assert l8 < decode.latency_us(16, 65536) <= l8 * 2
    l64, l128 = decode.latency_us(64, 4096), decode.latency_us(128, 4096)
    assert decode.latency_us(256, 4096) == pytest.approx(
        min(max(l128 + (l128 - l64) / 64 * 128, l128), 2 * l128)
    )
    # beyond the largest batch: the same rule from the last two grid batches; longer KV: x kv ratio
    l1024, l2048 = decode.latency_us(1024, 65536), decode.latency_us(2048, 65536)
    beyond = min(max(l2048 + (l2048 - l1024) / 1024 * 2048, l2048), 2 * l2048)
    assert decode.latency_us(4096, 131072) == pytest.approx(beyond * 2)
    # below the first kv grid point: clamp
    assert decode.latency_us(16, 1) == decode.latency_us(16, 2)


def test_extend_batch_bounds():
    assert extend_batch(10.0, 8.0, 4, 2, 8) == 14.0  # slope 1 per sequence
    assert extend_batch(10.0, 2.0, 4, 2, 8) == 20.0  # capped at the work ratio 10 * 8 / 4
    assert extend_batch(10.0, 12.0, 4, 2, 8) == 10.0  # never below the boundary
    arr = extend_batch(np.array([10.0, 10.0]), np.array([8.0, 2.0]), 4, 2, np.array([8.0, 8.0]))
    assert arr.tolist() == [14.0, 20.0]


def test_prefill_outside_region_grows_with_work(prefill):
    assert prefill.measured_max_length(256) == 512
    l8, l16 = prefill.latency_us(8, 16384), prefill.latency_us(16, 16384)
    assert not prefill.in_region(16, 16384) and prefill.in_region(8, 16384)
    assert l8 < l16 <= 2 * l8
    assert prefill.latency_us(256, 16384) <= l8 * 256 / 8
    # longer prompts than measured: isl squared
    assert prefill.latency_us(2, 32768) == pytest.approx(prefill.latency_us(2, 16384) * 4)
    assert prefill.latency_us(0, 512) == 0.0 and prefill.latency_us(4, 0) == 0.0


def test_attention_fill_rule_on_a_synthetic_grid():
    batches, lengths = np.array([1.0, 2, 4, 8]), np.array([16.0, 32, 64])
    grid = np.array([[1.0, 2, 4], [1.5, 4, np.nan], [2.5, np.nan, np.nan], [np.nan, np.nan, np.nan]])
    filled = fill_attention_grid(grid, batches, lengths, 2)
    assert filled[1, 2] == 4 * 2  # one measured batch below at that length: work ratio
    assert filled[2, 1] == 4 + (4 - 2) / 1 * 2  # slope between batches 1 and 2 at length 32: 2 per sequence
    assert filled[3, 0] == 2.5 + (2.5 - 1.5) / 2 * 4  # from batches 2 and 4 at length 16
    assert np.array_equal(filled[~np.isnan(grid)], grid[~np.isnan(grid)])


@settings(max_examples=80, deadline=None)
@given(b=st.floats(0.5, 5000), s=st.floats(0.5, 200000))
def test_attention_vector_matches_scalar(decode, prefill, b, s):
    for t in (decode, prefill):
        v = t.latency_us(np.array([b]), np.array([s]))[0]
        assert v == pytest.approx(t.latency_us(b, s), rel=1e-9)
        assert v > 0


def test_attention_scalar_lookup_is_cheap(decode):
    calls = 20000
    pts = [(1 + i % 300, 1 + (i * 37) % 40000) for i in range(calls)]
    t = time.perf_counter()
    for b, s in pts:
        decode.latency_us(b, s)
    per_call = (time.perf_counter() - t) / calls
    assert per_call < 20e-6


# --------------------------------------------------------------------------------------------------
# All-reduce


def test_allreduce_is_the_faster_of_nccl_and_custom(entry):
    both = entry.allreduce(8, "bf16")
    nccl = entry.allreduce(8, "bf16", implementation="nccl")
    custom = entry.allreduce(8, "bf16", implementation="vllm_custom")
    assert both.implementations == ("nccl", "vllm_custom")
    sizes = np.geomspace(256, 2**31, 50)
    assert np.array_equal(
        both.latency_us(sizes), np.minimum(nccl.latency_us(sizes), custom.latency_us(sizes))
    )
    # small messages: vLLM's custom all-reduce wins by a wide margin
    assert both.crossover_bytes()[0] == (256.0, "vllm_custom")
    assert both.latency_us(4096) == custom.latency_us(4096) < nccl.latency_us(4096) / 2
    assert entry.allreduce(8, "fp16").latency_us(4096) == both.latency_us(4096)


def test_allreduce_measured_points_are_exact(entry):
    rows = _csv_rows(entry, "allreduce_vllm_custom_bf16")
    custom = {g: entry.allreduce(g, "bf16", implementation="vllm_custom") for g in (2, 4, 8)}
    for (g, size), lat in rows:
        assert custom[g].latency_us(size) == lat
    # source: 8 GPUs, 128 bfloat16 elements -> 256 bytes, 0.004713279902935028 ms
    assert custom[8].latency_us(256) == 4.7133


def test_comm_interpolation_rules():
    t = CommTable("t", 2, np.array([1000.0, 4000.0, 16000.0]), np.array([10.0, 20.0, 80.0]))
    assert t.latency_us(1000) == 10.0
    assert t.latency_us(2000) == pytest.approx(math.sqrt(10.0 * 20.0))  # log-log midpoint
    assert t.latency_us(32000) == pytest.approx(160.0)  # beyond the largest: linear in bytes
    assert t.latency_us(10) == 10.0  # below the smallest: clamp
    assert t.latency_us(0) == 0.0
    xs = np.array([0, 10, 1000, 2000, 32000])
    assert t.latency_us(xs) == pytest.approx([t.latency_us(float(x)) for x in xs])
