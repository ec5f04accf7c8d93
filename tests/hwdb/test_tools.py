"""`llmsim hwdb diff`, `accuracy` and `list --json`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from llmsim.cli import tool
from llmsim.hwdb import EntryRef, bundled_root, load_entry
from llmsim.hwdb.accuracy import _lines, _size_lines, entry_accuracy
from llmsim.hwdb.diff import diff_entries, summary_by_family
from llmsim.hwdb.tables import CommTable

from .conftest import EntryCopy


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = tool.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_is_exactly_the_documented_shape(capsys):
    code, out, err = run(capsys, "hwdb", "list", "--json")
    assert code == 0, err
    items = json.loads(out)
    assert all(set(i) == {"entry", "engine", "kind", "tables", "spec_name"} for i in items)
    kinds = {(i["entry"], i["engine"]): i["kind"] for i in items}
    assert kinds[("nvidia/h100-sxm", "vllm@0.24.0")] == "measured"
    assert kinds[("amd/mi300x", "roofline@1")] == "spec-sheet"
    assert any(k == "profiled" for k in kinds.values())
    rtx = next(i for i in items if i["entry"] == "nvidia/rtx-4090")
    assert rtx["tables"][:3] == [
        "layerwise/meta-llama/Llama-3.1-8B/bf16/tp1/dense",
        "layerwise/meta-llama/Llama-3.1-8B/bf16/tp1/per_sequence",
        "layerwise/meta-llama/Llama-3.1-8B/bf16/tp1/attention",
    ]


def test_diff_of_an_entry_with_itself_is_zero(entry):
    d = diff_entries(entry, entry)
    assert d.device == [] and d.only_a == [] and d.only_b == []
    assert all(t.median == 0 and t.low == 0 and t.high == 0 for t in d.tables)
    assert {f.family for f in summary_by_family(d)} >= {"gemm", "attention_decode", "allreduce", "moe"}


def test_diff_sees_a_slower_table_and_a_missing_one(copy: EntryCopy, entry):
    csv = copy.dir / "tables" / "allreduce_nccl_fp16.csv"
    lines = csv.read_text(encoding="utf-8").rstrip("\n").split("\n")
    scaled = [lines[0]] + [",".join([*ln.split(",")[:-1], f"{float(ln.split(',')[-1]) * 1.1:.6g}"]) for ln in lines[1:]]
    csv.unlink()
    csv.write_text("\n".join(scaled) + "\n", encoding="utf-8")
    text = copy.yaml.read_text(encoding="utf-8")
    start = text.index("  gemm_fp8: {")
    copy.yaml.unlink()
    copy.yaml.write_text(text[:start] + text[text.index("\n", start) + 1 :], encoding="utf-8")
    d = diff_entries(entry, load_entry(copy.ref))
    ar = next(t for t in d.tables if t.what == "allreduce nccl fp16")
    assert ar.median == pytest.approx(0.1, abs=1e-4) and ar.points == 63
    assert d.only_a == ["gemm fp8"] and d.only_b == []


def test_diff_layerwise_and_spec_sheet(capsys):
    code, out, err = run(capsys, "hwdb", "diff", "nvidia/rtx-4090@vllm@0.19.0", "nvidia/rtx-pro-6000@vllm@0.19.0",
                         "--json")
    assert code == 0, err
    d = json.loads(out)
    fams = {t["family"] for t in d["tables"]}
    assert fams == {"layer_dense", "layer_per_sequence", "layer_attention"}
    assert {"field": "memory_bandwidth", "a": "1008GB/s", "b": "1792GB/s"} in d["device"]
    assert "layerwise Qwen/Qwen3-32B bf16 tp1" in d["only_b"]
    code, _, err = run(capsys, "hwdb", "diff", "nvidia/h100-sxm", "nvidia/h200-sxm")
    assert code == 1 and "names 5 entries" in err


def test_leave_one_out_is_exact_where_the_model_is():
    x = np.array([1, 2, 4, 8, 16, 32], float)
    linear = _size_lines(iter([(x, 3 + 2 * x)]))
    assert len(linear) == 4 and np.allclose(linear, 0)
    power = _size_lines(iter([(x * 1024, (x * 1024) ** 0.7)]), CommTable)
    assert np.allclose(power, 0)
    keys = np.array([[1], [1], [1], [2], [2], [2]])
    lines = list(_lines(keys, np.array([3, 1, 2, 1, 2, 3], float), np.arange(6.0)))
    assert [list(a) for a, _ in lines] == [[1, 2, 3], [1, 2, 3]]


def test_accuracy_of_a_layerwise_entry(tmp_path: Path):
    src = bundled_root() / "nvidia" / "rtx-4090" / "vllm@0.19.0"
    dst = tmp_path / "nvidia" / "rtx-4090" / "vllm@0.19.0"
    shutil.copytree(src, dst)
    shutil.copytree(bundled_root() / "LICENSES", tmp_path / "LICENSES")
    rows = entry_accuracy(load_entry(EntryRef("nvidia/rtx-4090", "vllm@0.19.0", dst)), layerwise_attention=False)
    by = {r.family: r for r in rows}
    assert set(by) == {"layer_dense", "layer_per_sequence"}
    assert 0 <= by["layer_dense"].median < 0.05 and by["layer_dense"].p90 < 0.2
    assert by["layer_dense"].points == 9 * (152 - 2)  # nine ops, interior token counts


def test_accuracy_command(capsys):
    code, out, err = run(capsys, "hwdb", "accuracy", "nvidia/h100-sxm@vllm@0.14.0", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["entry"] == "nvidia/h100-sxm@vllm@0.14.0" and len(d["sha256"]) == 64
    t = {r["table"]: r for r in d["tables"]}
    assert set(t) >= {"allreduce_nccl_fp16", "all_gather_nccl_fp16", "allreduce_vllm_custom_bf16"}
    assert all(0 <= r["median"] <= r["p90"] for r in d["tables"])
