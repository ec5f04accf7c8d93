"""Measure the operators of some models on one torch device: the data a profiled entry holds.

The shapes come from the compiler itself (`build_graph`, TP 1), so the entry covers exactly what
lowering will ask for: every GEMM (n, k), every attention head layout, every elementwise operator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmsim.compiler.graph import build_graph, ops_in_order
from llmsim.compiler.models import ModelConfig
from llmsim.compiler.ops import Attention, Elementwise, Embedding, Gemm
from llmsim.profile import kernels
from llmsim.profile.grids import Grid
from llmsim.profile.timing import Timer

TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass
class Elementwise_:
    """One elementwise operator of a model: its name, the bytes the compiler counts per item, and
    the measured (m, latency_us) points."""

    model: str
    name: str
    bytes_per_item: int
    points: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Measurements:
    """Everything one profile run measured (latencies in microseconds)."""

    gemm: dict[tuple[int, int, int], float] = field(default_factory=dict)  # (m, n, k)
    prefill: dict[tuple[int, int, int], dict[tuple[int, int], float]] = field(default_factory=dict)  # layout
    decode: dict[tuple[int, int, int], dict[tuple[int, int], float]] = field(default_factory=dict)
    elementwise: list[Elementwise_] = field(default_factory=list)
    copy_bandwidth: float = 0.0
    cache_bytes: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shapes:
    gemms: tuple[tuple[int, int], ...]
    layouts: tuple[tuple[int, int, int], ...]
    parts: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)  # (n, k) -> output split


def engine_parts(model: ModelConfig, op: Gemm) -> tuple[int, ...]:
    """How a PyTorch eager decoder computes one of the compiler's GEMM operators: the compiler fuses
    QKV and gate/up (as vLLM does), transformers' Llama runs them as separate projections, so the
    operator is timed as those separate `F.linear` calls, each output width one part."""
    if op.name == "qkv_proj":
        return (model.q_size, model.kv_size, model.kv_size)
    if op.name == "gate_up_proj":
        return (model.intermediate_size, model.intermediate_size)
    return (op.n,)


def model_shapes(models: Sequence[ModelConfig], dtype: str) -> Shapes:
    """The GEMM (n, k) and attention (heads, kv heads, head dim) the compiler emits for the models,
    with how the engine splits each GEMM (the first model's split when two models share an (n, k))."""
    parts: dict[tuple[int, int], tuple[int, ...]] = {}
    layouts: set[tuple[int, int, int]] = set()
    for model in models:
        for _, op, _ in ops_in_order(build_graph(model, dtype)):
            if isinstance(op, Gemm):
                parts.setdefault((op.n, op.k), engine_parts(model, op))
            elif isinstance(op, Attention):
                layouts.add((op.num_heads, op.num_kv_heads, op.head_dim))
    return Shapes(tuple(sorted(parts)), tuple(sorted(layouts)), parts)


def measure(
    torch: Any,
    device: str,
    dtype: str,
    models: Sequence[ModelConfig],
    grid: Grid,
    progress: Callable[[str], None] = lambda s: None,
) -> Measurements:
    """Time every operator the compiler emits for `models` over `grid` on `device`."""
    dt = getattr(torch, TORCH_DTYPES[dtype])
    timer = Timer(torch, device, grid.min_seconds, grid.max_repeats)
    out = Measurements()
    shapes = model_shapes(models, dtype)
    torch.manual_seed(0)

    progress(f"copy bandwidth on {device}")
    out.copy_bandwidth = kernels.copy_bandwidth(torch, device, timer, 256 * 2**20)

    cache = kernels.cache_bytes(torch, device)
    for n, k in shapes.gemms:
        split = shapes.parts[(n, k)]
        progress(f"GEMM n={n} k={k}" + (f" (as {' + '.join(map(str, split))})" if len(split) > 1 else "")
                 + f" over {len(grid.gemm_m)} values of m")
        for m in grid.gemm_m:
            out.gemm[(m, n, k)] = timer.median_us(kernels.gemm(torch, device, dt, m, split, k, cache))
    out.cache_bytes = cache

    for h, kv, d in shapes.layouts:
        progress(f"attention heads={h} kv_heads={kv} head_dim={d}")
        pre: dict[tuple[int, int], float] = {}
        for b in grid.prefill_batch:
            for s in grid.prefill_len:
                if b * h * s * s * d > grid.max_work:
                    out.skipped.append(f"prefill h{h} kv{kv} d{d} batch {b} isl {s}: beyond the {grid.name} work cap")
                    continue
                pre[(b, s)] = timer.median_us(kernels.attention_prefill(torch, device, dt, b, s, h, kv, d))
        dec: dict[tuple[int, int], float] = {}
        for b in grid.decode_batch:
            for s in grid.decode_len:
                if b * h * s * d * 64 > grid.max_work:
                    out.skipped.append(f"decode h{h} kv{kv} d{d} batch {b} kv_len {s}: beyond the {grid.name} work cap")
                    continue
                dec[(b, s)] = timer.median_us(kernels.attention_decode(torch, device, dt, b, s, h, kv, d))
        out.prefill[(h, kv, d)] = pre
        out.decode[(h, kv, d)] = dec

    for model in models:
        seen: set[str] = set()
        for _, op, _ in ops_in_order(build_graph(model, dtype)):
            if not isinstance(op, (Elementwise, Embedding)) or op.name in seen:
                continue
            seen.add(op.name)
            item = Elementwise_(model.name, op.name, op.bytes_per_item)
            progress(f"elementwise {model.name}.{op.name}")
            for m in grid.elementwise_m:
                fn = kernels.elementwise(
                    torch, device, dt, op.name, m, hidden=model.hidden_size, inter=model.intermediate_size,
                    heads=model.num_heads, kv=model.num_kv_heads, d=model.head_dim, vocab=model.vocab_size,
                )
                if fn is None:
                    out.skipped.append(f"elementwise {op.name}: no kernel for it in llmsim.profile.kernels")
                    break
                item.points.append((m, timer.median_us(fn)))
            if item.points:
                out.elementwise.append(item)
    return out


@dataclass(frozen=True)
class BandwidthFit:
    """latency_us = launch_us + bytes / bandwidth, fitted to every elementwise point."""

    launch_us: float
    bandwidth: float  # bytes/s
    median_error: float
    worst_error: float
    points: int


def fit_elementwise(items: Sequence[Elementwise_]) -> BandwidthFit:
    """Least squares in relative error (each point weighted by 1 / its latency), so small and large
    kernels count alike. Should the intercept come out negative, it is set to the fastest measured
    kernel (itself a measurement) and the slope refitted."""
    x = np.array([m * it.bytes_per_item for it in items for m, _ in it.points], dtype=np.float64)
    y = np.array([t for it in items for _, t in it.points], dtype=np.float64)
    if len(x) < 2:
        raise ValueError("need at least two elementwise measurements to fit a bandwidth")
    w = 1.0 / y
    A = np.stack([w, x * w], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y * w, rcond=None)
    if a <= 0 or b <= 0:
        a = float(y.min())
        b = float(np.sum(w * w * x * (y - a)) / np.sum(w * w * x * x))
    rel = np.abs((a + b * x) / y - 1)
    return BandwidthFit(float(a), float(1e6 / b), float(np.median(rel)), float(rel.max()), len(x))


def best_gemm_rate(gemm: dict[tuple[int, int, int], float]) -> tuple[float, tuple[int, int, int]]:
    """The highest FLOP/s among the measured GEMMs, and where."""
    best = max(gemm, key=lambda key: 2.0 * key[0] * key[1] * key[2] / gemm[key])
    m, n, k = best
    return 2.0 * m * n * k / (gemm[best] * 1e-6), best
