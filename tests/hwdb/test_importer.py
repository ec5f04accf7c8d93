"""The aiconfigurator importer: reproduces the committed entry byte for byte, deterministically."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from llmsim.diagnostics import UserError
from llmsim.hwdb import bundled_root
from llmsim.hwdb.importers import aiconfigurator
from llmsim.hwdb.writer import format_latency, format_qty, install, table_csv

from .conftest import ENGINE, ENTRY, SHARED_DATA, SYSTEM_DIR

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared source data is not present")


@pytest.fixture
def result(import_result):
    return import_result


@needs_data
def test_reproduces_the_committed_entry_byte_for_byte(result):
    committed = bundled_root() / ENTRY / ENGINE
    on_disk = {
        p.relative_to(committed).as_posix(): p.read_bytes() for p in committed.rglob("*") if p.is_file()
    }
    assert sorted(on_disk) == sorted(result.files)
    for rel, data in result.files.items():
        assert on_disk[rel] == data, f"{rel} differs from the importer's output"
    for rel, data in result.shared.items():
        assert (bundled_root() / rel).read_bytes() == data
    assert (bundled_root() / "LICENSES" / "aiconfigurator-core-0.12.0-Apache-2.0.txt").read_bytes() == (
        SYSTEM_DIR.parent / "LICENSE-APACHE"
    ).read_bytes()


@needs_data
def test_install_is_idempotent_and_refuses_to_overwrite(result, tmp_path: Path):
    assert install(tmp_path, result.entry_rel, result.files, result.shared) == "created"
    assert install(tmp_path, result.entry_rel, result.files, result.shared) == "unchanged"
    changed = dict(result.files)
    changed["tables/gemm_fp8.csv"] = b"m,n,k,latency_us\n1,32,32,1\n"
    with pytest.raises(UserError) as info:
        install(tmp_path, result.entry_rel, changed, result.shared)
    assert info.value.message == f"{tmp_path / result.entry_rel} already exists with different content"
    assert info.value.help == "pass --force to replace it (the old entry is removed)"
    (tmp_path / result.entry_rel / "tables" / "stale.csv").write_text("x")
    assert install(tmp_path, result.entry_rel, result.files, result.shared, force=True) == "replaced"
    assert not (tmp_path / result.entry_rel / "tables" / "stale.csv").exists()
    assert [p.name for p in (tmp_path / ENTRY).iterdir()] == [ENGINE]  # no scratch folders left


@needs_data
def test_units_and_message_sizes_follow_the_source(entry):
    src = SYSTEM_DIR / "comm" / "vllm" / "0.24.0" / "custom_allreduce_perf.csv.gz"
    with gzip.open(src, "rt", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["backend"] == "vllm_graph" and r["num_gpus"] == "8")
    elements, ms = int(row["message_size"]), float(row["latency"])
    t = entry.allreduce(8, "bf16", implementation="vllm_custom")
    assert t.sizes[0] == 2 * elements  # elements -> bytes
    assert t.lat[0] == float(format_latency(ms * 1000))  # ms -> us, 5 significant digits


@needs_data
def test_records_provenance(entry):
    p = entry.provenance
    assert p["source"] == {
        "package": "aiconfigurator-core",
        "version": "0.12.0",
        "path": "systems/data/h100_sxm",
        "files": {
            "system": "systems/h100_sxm.yaml",
            "gemm": "gemm/vllm/0.24.0/gemm_perf.csv.gz",
            "attention_prefill": "attention/vllm/0.24.0/context_attention_perf.csv.gz",
            "attention_decode": "attention/vllm/0.24.0/generation_attention_perf.csv.gz",
            "nccl": "comm/nccl/2.27.3/nccl_perf.csv.gz",
            "custom_allreduce": "comm/vllm/0.24.0/custom_allreduce_perf.csv.gz",
            "moe": "moe/vllm/0.24.0/moe_perf.csv.gz",
            "moe_a2a": "comm/vllm/0.24.0/moe_a2a_perf.csv.gz",
        },
    }
    # the source path is relative to the shared data root, so a re-import from any checkout matches
    assert p["converted_by"] == (
        "llmsim hwdb import aiconfigurator hw/aiconfigurator-0.12.0/h100_sxm --engine vllm@0.24.0 "
        "--vendor nvidia --device-name h100-sxm"
    )
    assert p["measured_with"]["gpu"] == "NVIDIA H100 80GB HBM3"
    assert (entry.path / p["licence"]["file"]).is_file()
    assert "mem_bw_empirical_scaling_factor" in entry.doc["device"]["sources"]["memory_efficiency"]


def test_bad_engine_and_system_dir(tmp_path: Path):
    with pytest.raises(UserError, match="is not `<engine>@<version>`"):
        aiconfigurator.build(tmp_path, "vllm-0.24.0")
    with pytest.raises(UserError, match="is not an aiconfigurator system folder"):
        aiconfigurator.build(tmp_path, "vllm@0.24.0")


@needs_data
def test_unknown_engine_version_lists_the_available_ones():
    with pytest.raises(UserError) as info:
        aiconfigurator.build(SYSTEM_DIR, "vllm@9.9.9")
    assert info.value.message == f"no vllm 9.9.9 tables in {SYSTEM_DIR}"
    assert info.value.help == (
        "engine versions there: trtllm@1.3.0rc20, vllm@0.14.0, vllm@0.19.0, vllm@0.24.0"
    )


def test_writer_formats():
    assert format_latency(4.291520118713379) == "4.2915"
    assert format_latency(80850.13156467014) == "80850"
    assert format_latency(123456.7) == "123460"
    assert format_latency(0.0012345678) == "0.0012346"
    assert format_qty(85899345920, "1B") == "80GiB"
    assert format_qty(3350 * 10**9, "1B/s") == "3.35TB/s"
    assert format_qty(1978 * 10**12, "1FLOP/s") == "1978TFLOP/s"
    assert table_csv(("m", "n"), [((2, 1), 1.5), ((1, 9), 2.0)]) == b"m,n,latency_us\n1,9,2\n2,1,1.5\n"
