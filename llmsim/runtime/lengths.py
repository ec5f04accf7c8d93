"""Request lengths: the IR's length distributions, and bundled (prompt, output) datasets."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from llmsim.diagnostics import UserError, did_you_mean, suggestion_text
from llmsim.lang.ir import FixedLength, LengthDist, LognormalLength, UniformLength

DATASETS = ("sharegpt",)


def sample_lengths(dist: LengthDist, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` token counts (int64, >= 1) drawn from `dist`."""
    if isinstance(dist, FixedLength):
        return np.full(n, max(1, dist.tokens), dtype=np.int64)
    if isinstance(dist, UniformLength):
        low, high = max(1, dist.low), max(1, dist.high)
        if high < low:
            raise ValueError(f"uniform length: high {dist.high} < low {dist.low}")
        return rng.integers(low, high, size=n, endpoint=True, dtype=np.int64)
    if isinstance(dist, LognormalLength):
        # Lognormal with median m has mu = ln(m); clip to [low, high], round, at least one token.
        x = rng.lognormal(mean=math.log(float(dist.median)), sigma=float(dist.sigma), size=n)
        x = np.rint(np.clip(x, dist.low, dist.high)).astype(np.int64)
        return np.maximum(x, 1)
    raise TypeError(f"unknown length distribution {dist!r}")


@cache
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(prompt_tokens, output_tokens) of a bundled dataset (see datasets/README.md)."""
    if name not in DATASETS:
        raise UserError(
            f"unknown length dataset `{name}`",
            help=suggestion_text(did_you_mean(name, DATASETS)) or f"known datasets: {', '.join(DATASETS)}",
        )
    from importlib import resources  # here: importing it costs ~8 ms that runs without datasets need not pay

    text = resources.files("llmsim.runtime").joinpath("datasets", f"{name}.csv").read_text(encoding="utf-8")
    table = np.loadtxt(text.splitlines(), delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    prompt, output = np.ascontiguousarray(table[:, 0]), np.ascontiguousarray(table[:, 1])
    prompt.setflags(write=False)
    output.setflags(write=False)
    return prompt, output


def sample_dataset(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` (prompt, output) pairs drawn jointly, with replacement."""
    prompt, output = load_dataset(name)
    idx = rng.integers(0, len(prompt), size=n)
    return prompt[idx], output[idx]
