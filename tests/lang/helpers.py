"""Helpers shared by the language tests."""

from __future__ import annotations

from pathlib import Path

HWDB_ENTRIES = (
    "nvidia/h100-sxm/vllm@0.24.0",
    "nvidia/h100-sxm/sglang@0.4.1",
    "nvidia/a100-sxm/vllm@0.24.0",
    "amd/mi300x/vllm@0.24.0",
)

GOLDEN = Path(__file__).parent / "golden"


def make_hwdb(root: Path) -> Path:
    """`<root>/<vendor>/<device>/<engine>@<version>/entry.yaml` for each of HWDB_ENTRIES."""
    for entry in HWDB_ENTRIES:
        folder = root / entry
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "entry.yaml").write_text("# test entry\n", encoding="utf-8")
    return root


def rendered(diagnostics) -> str:
    """Diagnostics as the CLI prints them, ending with a newline."""
    return "\n\n".join(d.render() for d in diagnostics) + "\n"


SCAFFOLD = """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
model llama { catalog = "Llama-3.1-8B" }
pool main { model = llama  hardware = h100 }
workload chat { requests = 10  arrival = poisson(rate = 4/s)  lengths = dataset("sharegpt") }
"""
