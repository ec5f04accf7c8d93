"""The standard benchmark cases and the `.llms` specs they run.

A `Setup` is one pool configuration (model, TP, scheduler, KV cache); a `Case` puts a workload on
some instances of it. Every case becomes a generated `.llms` file compiled by llmsim itself, so the
bench measures the product path, not a hand-built cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"  # passed to llmsim with -I: models/Llama-2-70b-hf.json
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
AZURE_CONV = SHARED_DATA / "traces" / "azure2023" / "AzureLLMInferenceTrace_conv.csv"
AZURE_CONV_REQUESTS = 19_366  # rows of the conversation trace

DEFAULT_HARDWARE = "nvidia/h100-sxm@vllm-0.24.0"
MATCHED_DEVICE = "nvidia/a100-sxm"  # the device Vidur's bundled profiles were measured on
SEED = 42

# Workload kinds.
SHAREGPT = "sharegpt"  # Poisson arrivals, lengths = dataset("sharegpt")
AZURE_CONV_TRACE = "azure-conv"  # the Azure 2023 conversation trace, replayed (arrivals and lengths)
FIXED_512_128 = "fixed-512-128"  # a generated Poisson trace, 512 prompt and 128 output tokens each


@dataclass(frozen=True)
class Setup:
    """One pool configuration: what an instance runs and how it schedules."""

    key: str
    model: str  # a catalog name, or a config path relative to bench/data
    tp: int
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    chunked_prefill: bool = True
    prefix_caching: bool = True
    block_size: int = 16
    num_blocks: int | None = None  # fixed KV blocks (set to Vidur's for matched cases)
    gpu_memory_utilization: str = "90%"
    hardware: str = DEFAULT_HARDWARE  # hardware_db spec name "<vendor>/<device>@<engine>-<version>"
    dtype: str = "bf16"

    @property
    def from_config(self) -> bool:
        return self.model.endswith(".json")


@dataclass(frozen=True)
class Case:
    """A workload on `instances` instances of a setup."""

    name: str
    setup: Setup
    requests: int
    instances: int
    workload: str  # SHAREGPT, AZURE_CONV_TRACE or FIXED_512_128
    load: float = 0.9  # Poisson rate as a fraction of the calibrated saturation throughput
    vidur: str | None = None  # Vidur scheduler to run side by side: "vllm" or "sarathi"
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def calibrated(self) -> bool:
        """Whether its arrival rate comes from a saturation calibration (not from a trace)."""
        return self.workload != AZURE_CONV_TRACE


LLAMA_8B = Setup("llama3.1-8b-tp1", "Llama-3.1-8B", tp=1)
LLAMA_70B = Setup("llama3.1-70b-tp4", "Llama-3.1-70B", tp=4)

# Vidur's defaults (see /work/shared/data/peers/vidur/README.md), as llmsim settings. `num_blocks` and
# `hardware` are filled in at run time (Vidur's memory planner; an A100 entry when there is one).
LLAMA2_70B_CONFIG = "models/Llama-2-70b-hf.json"
VIDUR_VLLM = Setup("llama2-70b-tp2-vllm", LLAMA2_70B_CONFIG, tp=2, max_num_seqs=128,
                   max_num_batched_tokens=4096, chunked_prefill=False, prefix_caching=False)
VIDUR_SARATHI = Setup("llama2-70b-tp2-sarathi", LLAMA2_70B_CONFIG, tp=2, max_num_seqs=128,
                      max_num_batched_tokens=512, chunked_prefill=True, prefix_caching=False)

QUICK = frozenset({"quick"})


def _k(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def _scale_case(setup: Setup, short: str, requests: int, instances: int, quick: bool = False) -> Case:
    return Case(f"{short}-x{instances}-sharegpt-{_k(requests)}", setup, requests, instances, SHAREGPT,
                tags=QUICK if quick else frozenset())


def all_cases() -> list[Case]:
    """Every standard case, in the order the bench runs them."""
    cases = [
        _scale_case(LLAMA_8B, "8b", 1_000, 1, quick=True),
        _scale_case(LLAMA_8B, "8b", 10_000, 1),
        _scale_case(LLAMA_8B, "8b", 10_000, 8, quick=True),
        _scale_case(LLAMA_8B, "8b", 100_000, 8),
        _scale_case(LLAMA_8B, "8b", 100_000, 64),
        _scale_case(LLAMA_8B, "8b", 1_000_000, 64),
        _scale_case(LLAMA_70B, "70b-tp4", 1_000, 1, quick=True),
        _scale_case(LLAMA_70B, "70b-tp4", 10_000, 1),
        _scale_case(LLAMA_70B, "70b-tp4", 10_000, 8),
        _scale_case(LLAMA_70B, "70b-tp4", 100_000, 64),
        _scale_case(LLAMA_70B, "70b-tp4", 1_000_000, 64),
        Case("8b-x1-azure-conv", LLAMA_8B, AZURE_CONV_REQUESTS, 1, AZURE_CONV_TRACE),
        Case("8b-x1-azure-conv-5k", LLAMA_8B, 5_000, 1, AZURE_CONV_TRACE, tags=QUICK),
        Case("70b-tp4-x1-azure-conv", LLAMA_70B, AZURE_CONV_REQUESTS, 1, AZURE_CONV_TRACE),
        Case("vidur-vllm-1k", VIDUR_VLLM, 1_000, 1, FIXED_512_128, vidur="vllm", tags=QUICK),
        Case("vidur-sarathi-1k", VIDUR_SARATHI, 1_000, 1, FIXED_512_128, vidur="sarathi", tags=QUICK),
        Case("vidur-vllm-10k", VIDUR_VLLM, 10_000, 1, FIXED_512_128, vidur="vllm"),
        Case("vidur-sarathi-10k", VIDUR_SARATHI, 10_000, 1, FIXED_512_128, vidur="sarathi"),
    ]
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    return cases


def select(cases: list[Case], *, quick: bool, only: list[str] | None, max_requests: int | None) -> list[Case]:
    """The cases to run: the quick subset or all, filtered by name substrings and size."""
    out = [c for c in cases if not quick or "quick" in c.tags]
    if only:
        out = [c for c in out if any(pat in c.name for pat in only)]
    if max_requests is not None:
        out = [c for c in out if c.requests <= max_requests]
    return out


def with_hardware(case: Case, hardware: str, num_blocks: int | None) -> Case:
    """The case on another hardware entry, with a fixed KV block count (None keeps the memory plan)."""
    return replace(case, setup=replace(case.setup, hardware=hardware, num_blocks=num_blocks))


# -- spec text --------------------------------------------------------------------------------------


def _bool(v: bool) -> str:
    return "true" if v else "false"


def pool_text(setup: Setup, instances: int) -> str:
    """`use hardware`, `model`, `pool` and `router` blocks for `instances` instances of a setup."""
    s = setup
    model_key = f'config = "{s.model}"' if s.from_config else f'catalog = "{s.model}"'
    blocks = f"  num_blocks = {s.num_blocks}\n" if s.num_blocks is not None else ""
    return (
        f'use hardware "{s.hardware}" as gpu\n\n'
        f"model m {{\n  {model_key}\n  dtype = {s.dtype}\n}}\n\n"
        f"pool main {{\n  model = m\n  hardware = gpu\n  instances = {instances}\n  tp = {s.tp}\n"
        f"  scheduler {{\n    max_num_seqs = {s.max_num_seqs}\n"
        f"    max_num_batched_tokens = {s.max_num_batched_tokens}\n"
        f"    chunked_prefill = {_bool(s.chunked_prefill)}\n  }}\n"
        f"  kv_cache {{\n    block_size = {s.block_size}\n"
        f"    gpu_memory_utilization = {s.gpu_memory_utilization}\n"
        f"    prefix_caching = {_bool(s.prefix_caching)}\n{blocks}  }}\n}}\n\n"
        "router front {\n  policy = round_robin\n  targets = [main]\n}\n"
    )


def rate_text(rate_per_s: float) -> str:
    """A rate literal the language accepts (`12.345/s`), positive and exact to the printed digits."""
    if rate_per_s <= 0:
        raise ValueError(f"rate must be positive, got {rate_per_s}")
    text = f"{rate_per_s:.4f}".rstrip("0").rstrip(".")
    return f"{text if float(text) > 0 else f'{rate_per_s:.3e}'}/s"


def spec_text(case: Case, *, rate_per_s: float | None = None, trace_name: str | None = None) -> str:
    """The `.llms` spec of a case.

    SHAREGPT needs `rate_per_s`; FIXED_512_128 needs `trace_name`, a Vidur-format CSV next to the
    spec; AZURE_CONV_TRACE names the Azure file, found through the `-I` search path.
    """
    head = f"# llmsim bench case {case.name} (generated by bench/cases.py)\n"
    if case.workload == SHAREGPT:
        if rate_per_s is None:
            raise ValueError(f"{case.name}: a Poisson workload needs a rate")
        body = (f"  requests = {case.requests}\n  arrival = poisson(rate = {rate_text(rate_per_s)})\n"
                f'  lengths = dataset("sharegpt")\n  seed = {SEED}\n')
    elif case.workload == AZURE_CONV_TRACE:
        body = f'  requests = {case.requests}\n  trace = azure("{AZURE_CONV.name}")\n  arrival = trace()\n'
    elif case.workload == FIXED_512_128:
        if trace_name is None:
            raise ValueError(f"{case.name}: a matched workload needs its generated trace")
        body = f'  requests = {case.requests}\n  trace = vidur("{trace_name}")\n  arrival = trace()\n'
    else:
        raise ValueError(f"unknown workload kind {case.workload!r}")
    return head + pool_text(case.setup, case.instances) + f"\nworkload w {{\n{body}}}\n"


def calibration_spec_text(setup: Setup, requests: int, lengths: str) -> str:
    """A closed loop that keeps one instance saturated: `max_num_seqs` clients with no think time."""
    if lengths == SHAREGPT:
        length_text = '  lengths = dataset("sharegpt")\n'
    elif lengths == FIXED_512_128:
        length_text = "  prompt = fixed(512)\n  output = fixed(128)\n"
    else:
        raise ValueError(f"no calibration for lengths {lengths!r}")
    return (
        f"# llmsim bench calibration of {setup.key} (generated by bench/cases.py)\n"
        + pool_text(setup, 1)
        + f"\nworkload w {{\n  requests = {requests}\n"
        f"  arrival = closed_loop(clients = {setup.max_num_seqs}, think = 0s)\n{length_text}  seed = {SEED}\n}}\n"
    )
