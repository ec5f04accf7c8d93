"""`llmsim hwdb ...` through `llmsim.cli.tool.main`: exit codes, JSON shape, messages."""

from __future__ import annotations

import json

import pytest

from llmsim.cli import tool
from llmsim.hwdb import bundled_root

from .conftest import ENGINE, ENTRY, SHARED_DATA, SYSTEM_DIR, EntryCopy


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = tool.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_shape(capsys):
    code, out, err = run(capsys, "hwdb", "list", "--json")
    assert code == 0, err
    items = json.loads(out)
    item = next(i for i in items if (i["entry"], i["engine"]) == (ENTRY, ENGINE))
    assert set(item) == {"entry", "engine", "kind", "tables", "spec_name"}
    assert item["kind"] == "measured"
    assert item["spec_name"] == "nvidia/h100-sxm@vllm-0.24.0"
    assert len(item["tables"]) == 463 and "gemm_bf16" in item["tables"]


def test_list_table(capsys):
    code, out, _ = run(capsys, "hwdb", "list")
    assert code == 0
    assert "nvidia/h100-sxm" in out and "nvidia/h100-sxm@vllm-0.24.0" in out


def test_validate_bundled(capsys):
    code, out, err = run(capsys, "hwdb", "validate", "nvidia/h100-sxm@vllm@0.24.0")
    assert code == 0, err
    assert out.startswith("ok    nvidia/h100-sxm@vllm@0.24.0: 463 tables, 181210 rows")


def test_validate_broken_copy_exits_1(capsys, copy: EntryCopy):
    copy.edit("entry.yaml", "memory_bandwidth: 3.35TB/s", "memory_bandwidth: 3.35TBs")
    code, out, err = run(capsys, "hwdb", "validate", "--hwdb", str(copy.root), "nvidia/h100-sxm@vllm-0.24.0")
    assert code == 1
    assert "error: `device.memory_bandwidth`: unknown unit `TBs` in `3.35TBs`" in err
    assert f"{copy.yaml}:" in err
    assert out.startswith("FAIL  nvidia/h100-sxm@vllm@0.24.0: 1 problem")
    # a folder works as well as a name
    code, _, err = run(capsys, "hwdb", "validate", str(copy.dir))
    assert code == 1 and "`device.memory_bandwidth`" in err


def test_list_reports_a_broken_entry(capsys, copy: EntryCopy):
    (copy.dir / "tables" / "gemm_fp8.csv").unlink()
    code, out, err = run(capsys, "hwdb", "list", "--json", "--hwdb", str(copy.root))
    assert code == 1
    assert "`tables.gemm_fp8.file`: table file `tables/gemm_fp8.csv` does not exist" in err
    # the bundled entry is shadowed by the broken copy on the earlier root
    assert (ENTRY, ENGINE) not in {(i["entry"], i["engine"]) for i in json.loads(out)}


def test_show(capsys):
    code, out, err = run(capsys, "hwdb", "show", "nvidia/h100-sxm@vllm@0.24.0", "--table", "gemm_*")
    assert code == 0, err
    assert "NVIDIA H100 SXM 80GB" in out and "3.35TB/s" in out and "Apache-2.0" in out
    assert "m 1…32768 (74) × n 32…65536 (22) × k 32…65536 (22)" in out
    assert "35742" in out
    assert "tables (2 of 463)" in out


def test_unknown_entry_suggests(capsys):
    code, _, err = run(capsys, "hwdb", "show", "nvidia/h100")
    assert code == 1
    assert err == (
        "error: no hardware entry named `nvidia/h100`\n  = help: did you mean `nvidia/h100-sxm` or `nvidia/h200-sxm`?\n"
    )


def test_usage_errors_are_user_errors(capsys):
    code, _, err = run(capsys, "hwdb", "frobnicate")
    assert code == 1 and err.startswith("error: argument COMMAND: invalid choice: 'frobnicate'")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "hwdb" in out


def test_internal_errors_exit_2(capsys, monkeypatch):
    import llmsim.hwdb.cli as hcli

    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(hcli, "cmd_list", boom)
    monkeypatch.delenv("LLMSIM_DEBUG", raising=False)
    code, _, err = run(capsys, "hwdb", "list")
    assert code == 2
    assert err.splitlines()[0] == "internal error: RuntimeError: kaput"
    assert "Traceback" not in err
    monkeypatch.setenv("LLMSIM_DEBUG", "1")
    code, _, err = run(capsys, "hwdb", "list")
    assert code == 2 and "Traceback" in err


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared source data is not present")
def test_import_refuses_to_overwrite_a_different_entry(capsys, copy: EntryCopy, import_result, monkeypatch):
    from llmsim.hwdb.importers import aiconfigurator

    calls = []

    def build(system_dir, engine, **kwargs):  # the real importer is exercised in test_importer.py
        calls.append((system_dir, engine, kwargs))
        return import_result

    monkeypatch.setattr(aiconfigurator, "build", build)
    copy.edit("tables/allreduce_nccl_fp16.csv", "2,512,6.2\n", "2,512,6.3\n")
    argv = [
        "hwdb",
        "import",
        "aiconfigurator",
        str(SYSTEM_DIR),
        "--engine",
        ENGINE,
        "--out",
        str(copy.root),
        "--vendor",
        "nvidia",
        "--device-name",
        "h100-sxm",
    ]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith(f"error: {copy.dir} already exists with different content")
    code, out, err = run(capsys, *argv, "--force")
    assert code == 0, err
    assert out.startswith(f"replaced {copy.dir}: 463 tables")
    assert (copy.dir / "tables" / "allreduce_nccl_fp16.csv").read_bytes() == (
        bundled_root() / ENTRY / ENGINE / "tables" / "allreduce_nccl_fp16.csv"
    ).read_bytes()
    assert calls[0] == (
        SYSTEM_DIR,
        ENGINE,
        {"vendor": "nvidia", "device_name": "h100-sxm", "nccl_version": None, "specs_csv": None},
    )
