"""Host-side costs of a serving engine that kernel-level measurements cannot contain.

Kernel and layer-wise tables time GPU work. A real engine also spends host time per step; with
vLLM V1's async scheduling most of it overlaps the GPU, except on steps that carry prefill work,
where preparing the new tokens' inputs and attention metadata (and caching their blocks) stays on
the critical path.

Source of the constant: fitted on the real vLLM 0.19 run on an RTX PRO 6000 (validation run
`RTXPRO6000/Llama-3.1-8B`, LLMServingSim benchmark, MIT) to minimise the mean absolute error of the
15 TTFT/TPOT/latency rows, then judged, unchanged, on the RTX 4090 run; both results are in
docs/validation.md. It applies to vLLM entries only.
"""

from __future__ import annotations

VLLM_PREFILL_STEP_NS = 3_000_000


def prefill_step_overhead_ns(engine: str) -> int:
    """Extra host time of a step with prefill work, for an engine id such as `vllm@0.19.0`."""
    return VLLM_PREFILL_STEP_NS if engine.split("@", 1)[0] == "vllm" else 0
