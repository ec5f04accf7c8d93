"""The standard cases and the specs they generate (harness logic only; nothing is timed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cases import (
    AZURE_CONV,
    DATA_DIR,
    FIXED_512_128,
    LLAMA_8B,
    SHAREGPT,
    VIDUR_SARATHI,
    VIDUR_VLLM,
    Setup,
    all_cases,
    calibration_spec_text,
    rate_text,
    select,
    spec_text,
    with_hardware,
)
from llmsim.lang import load_spec


def test_case_names_are_unique_and_cover_the_issue_matrix() -> None:
    cases = all_cases()
    assert len({c.name for c in cases}) == len(cases)
    assert {c.requests for c in cases} >= {1_000, 10_000, 100_000, 1_000_000}
    assert {c.instances for c in cases} >= {1, 8, 64}
    assert {c.setup.model for c in cases} >= {"Llama-3.1-8B", "Llama-3.1-70B"}
    assert {c.setup.tp for c in cases if c.setup.model == "Llama-3.1-70B"} == {4}
    assert {c.vidur for c in cases if c.vidur} == {"vllm", "sarathi"}
    million = [c for c in cases if c.requests == 1_000_000]
    assert million and all(c.instances == 64 for c in million)


def test_select_quick_only_and_size() -> None:
    cases = all_cases()
    quick = select(cases, quick=True, only=None, max_requests=None)
    assert quick and all("quick" in c.tags for c in quick)
    assert max(c.requests for c in quick) <= 10_000
    assert [c.name for c in select(cases, quick=False, only=["vidur-vllm"], max_requests=None)] == [
        "vidur-vllm-1k",
        "vidur-vllm-10k",
    ]
    assert all(c.requests <= 10_000 for c in select(cases, quick=False, only=None, max_requests=10_000))


@pytest.mark.parametrize(("rate", "text"), [(12.5, "12.5/s"), (102.23456, "102.2346/s"), (3.0, "3/s")])
def test_rate_text(rate: float, text: str) -> None:
    assert rate_text(rate) == text


def test_rate_text_small_and_invalid() -> None:
    assert rate_text(1e-6) == "1.000e-06/s"
    with pytest.raises(ValueError):
        rate_text(0)


def _check(text: str, folder: Path, include: list[Path]) -> None:
    path = folder / "case.llms"
    path.write_text(text, encoding="utf-8")
    spec = load_spec(path, search_paths=include)
    assert list(spec.pools) == ["main"]
    assert len(spec.workloads) == 1


def test_generated_specs_check(tmp_path: Path) -> None:
    by_kind = {c.workload: c for c in all_cases()}
    _check(spec_text(by_kind[SHAREGPT], rate_per_s=12.78), tmp_path, [DATA_DIR])
    azure_dir = tmp_path / "azure"
    azure_dir.mkdir()
    (azure_dir / AZURE_CONV.name).write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n", encoding="utf-8"
    )
    azure = next(c for c in all_cases() if c.name.endswith("azure-conv-5k"))
    _check(spec_text(azure).replace("requests = 5000", "requests = 1"), tmp_path, [DATA_DIR, azure_dir])
    (tmp_path / "requests.llmsim.csv").write_text(
        "arrived_at,num_prefill_tokens,num_decode_tokens\n0.000000000,512,128\n", encoding="utf-8"
    )
    matched = with_hardware(by_kind[FIXED_512_128], "nvidia/h100-sxm@vllm-0.24.0", 3328)
    text = spec_text(matched, trace_name="requests.llmsim.csv").replace("requests = 1000", "requests = 1")
    assert "num_blocks = 3328" in text
    _check(text, tmp_path, [DATA_DIR])


def test_spec_text_needs_its_inputs() -> None:
    by_kind = {c.workload: c for c in all_cases()}
    with pytest.raises(ValueError):
        spec_text(by_kind[SHAREGPT])
    with pytest.raises(ValueError):
        spec_text(by_kind[FIXED_512_128])


def test_vidur_setups_mirror_vidur_defaults() -> None:
    def sched(s: Setup) -> tuple[int, int, bool]:
        return s.max_num_seqs, s.max_num_batched_tokens, s.chunked_prefill

    assert sched(VIDUR_VLLM) == (128, 4096, False)
    assert sched(VIDUR_SARATHI) == (128, 512, True)
    assert not VIDUR_VLLM.prefix_caching and VIDUR_VLLM.tp == 2 and VIDUR_VLLM.block_size == 16
    assert (DATA_DIR / VIDUR_VLLM.model).is_file()


def test_calibration_spec_is_a_saturating_closed_loop(tmp_path: Path) -> None:
    text = calibration_spec_text(LLAMA_8B, 1536, SHAREGPT)
    assert f"closed_loop(clients = {LLAMA_8B.max_num_seqs}, think = 0s)" in text
    _check(text, tmp_path, [])
    assert "fixed(512)" in calibration_spec_text(VIDUR_VLLM, 1500, FIXED_512_128)
