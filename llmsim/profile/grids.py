"""The measurement grids of `llmsim profile --grid quick|full`.

Quick is sized to finish in a couple of minutes on a 2-core CPU for a small model (CI runs it);
full covers the batch sizes a serving engine reaches. Values are powers of two plus a few in between,
so linear interpolation in m (GEMM) and log-log interpolation in batch and length (attention) have
short spans.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grid:
    """Sizes to measure and how long to measure each point."""

    name: str
    gemm_m: tuple[int, ...]
    prefill_batch: tuple[int, ...]
    prefill_len: tuple[int, ...]
    decode_batch: tuple[int, ...]
    decode_len: tuple[int, ...]
    elementwise_m: tuple[int, ...]
    min_seconds: float  # time each point for at least this long (then take the median)
    max_repeats: int
    max_work: float  # skip attention points beyond this many token pairs x heads x head_dim (too slow)


GRIDS: dict[str, Grid] = {
    "quick": Grid(
        name="quick",
        gemm_m=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        prefill_batch=(1, 2, 4),
        prefill_len=(16, 64, 128, 256, 512),
        decode_batch=(1, 4, 16),
        decode_len=(16, 128, 512, 1024),
        elementwise_m=(1, 16, 128, 512),
        min_seconds=0.02,
        max_repeats=5,
        max_work=2e11,
    ),
    "full": Grid(
        name="full",
        gemm_m=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
                3072, 4096),
        prefill_batch=(1, 2, 4, 8, 16),
        prefill_len=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        decode_batch=(1, 2, 4, 8, 16, 32, 64, 128),
        decode_len=(16, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
        elementwise_m=(1, 4, 16, 64, 256, 1024, 4096),
        min_seconds=0.2,
        max_repeats=21,
        max_work=2e11,
    ),
}
