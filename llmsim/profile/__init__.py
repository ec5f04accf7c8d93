"""`llmsim profile`: measure a device with PyTorch and write a hardware_db entry of kind `profiled`.

It times, on the device it runs on, the operators llmsim's compiler emits for the given models
(`llmsim.compiler.graph`): every GEMM shape over a grid of m, prefill and decode attention (torch
SDPA) over batch and length grids for each head layout, and the elementwise kernels (RMSNorm with
its residual add, rotary, SiLU-and-mul, embedding, sampling), which enter the entry as a fitted
bandwidth and launch latency, the model the compiler prices elementwise kernels with. Warm-up,
repeated timing, median. Torch comes from the optional `profile` extra (`pip install -e ".[profile]"`).

See docs/hardware.md ("Profiling a new device") for the workflow and the proof that the path is right.
"""

from llmsim.profile.grids import GRIDS, Grid

__all__ = ["GRIDS", "Grid"]
