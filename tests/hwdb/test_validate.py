"""`hwdb validate`: the sanity rules, and that the real data passes them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from llmsim.hwdb import EntryRef, bundled_root
from llmsim.hwdb.validate import MONOTONE_TOLERANCE, monotone_violation, validate_entry

from .conftest import EntryCopy


def test_bundled_entry_passes_every_check(bundled_ref):
    report = validate_entry(bundled_ref)
    assert [e.render() for e in report.errors] == []
    assert report.tables == 463
    assert report.rows == 181210


def test_monotone_rule():
    x = np.array([1, 2, 4, 8, 16])
    assert monotone_violation(x, np.array([1.0, 1.1, 1.0, 1.2, 1.5]), 0.2) is None
    # the reference is the minimum over [x/4, x): here min(1.0, 1.1) at x = 4
    assert monotone_violation(x, np.array([1.0, 1.1, 0.7, 1.2, 1.5]), 0.2) == (2, 0)
    # an isolated upward spike does not condemn the point after it
    assert monotone_violation(x, np.array([1.0, 9.0, 1.0, 1.2, 1.5]), 0.2) is None
    # but a falling trend is caught, even through a spike
    assert monotone_violation(x, np.array([4.0, 9.0, 3.0, 1.2, 1.0]), 0.2) == (2, 0)
    # when [x/4, x) holds no earlier point, the previous point is the reference
    assert monotone_violation(np.array([1, 16]), np.array([2.0, 1.0]), 0.2) == (1, 0)
    assert MONOTONE_TOLERANCE == {
        "gemm": 0.35,
        "attention_prefill": 0.2,
        "attention_decode": 0.2,
        "allreduce": 0.15,
        "all_gather": 0.15,
        "reduce_scatter": 0.15,
        "alltoall": 0.15,
        "moe": 0.35,
        "moe_a2a": 0.35,
        "layer_dense": 0.35,
        "layer_per_sequence": 0.15,
        "layer_moe": 0.2,
        "layer_attention_prefill_chunk": 0.2,
        "layer_attention_kv_prefill": 0.2,
        "layer_attention_n_decode": 0.2,
        "layer_attention_kv_decode": 0.2,
    }


def test_schema_problems_are_all_reported_and_stop_deeper_checks(copy: EntryCopy):
    copy.edit("entry.yaml", "  tdp: 700W\n", "  tdp: 700Wats\n")
    copy.edit("entry.yaml", "kind: measured\n", "kind: guessed\n")
    report = validate_entry(copy.ref)
    assert [(e.field, e.problem) for e in report.errors] == [
        ("kind", "`guessed` is not one of `measured`, `profiled`, `spec-sheet`"),
        ("device.tdp", "unknown unit `Wats` in `700Wats`"),
    ]
    assert report.tables == 0


def test_sanity_problems_name_file_and_line(copy: EntryCopy):
    copy.edit("tables/attention_decode_h32_kv8_d128_kvbf16.csv", "1,4096,16.875\n", "1,4096,5.1\n")
    copy.edit("tables/gemm_bf16.csv", "32768,65536,16384,80850\n", "32768,65536,16384,8085\n")
    copy.edit_line("entry.yaml", "  attention_prefill_h10_kv2_d128_kvbf16:", "rows: 119", "rows: 118")
    report = validate_entry(copy.ref)
    got = [(e.file.name, e.field, e.line, e.problem) for e in report.errors]
    assert got == [
        (
            "attention_decode_h32_kv8_d128_kvbf16.csv",
            "latency_us",
            13,
            "latency falls from 13.579 us at kv_len=1024 to 5.1 us at kv_len=4096 (batch=1), "
            "more than the 20% noise tolerance of attention_decode",
        ),
        (
            "entry.yaml",
            "tables.attention_prefill_h10_kv2_d128_kvbf16.rows",
            None,
            "tables/attention_prefill_h10_kv2_d128_kvbf16.csv has 119 data rows, entry.yaml declares 118",
        ),
        (
            "gemm_bf16.csv",
            "latency_us",
            35742,
            "latency falls from 20401 us at m=8192 to 8085 us at m=32768 (n=65536, k=16384), "
            "more than the 35% noise tolerance of gemm",
        ),
        (
            "gemm_bf16.csv",
            "latency_us",
            35742,
            "m=32768, n=65536, k=16384 in 8085 us is 8704 TFLOP/s, "
            "above the device's bf16 peak of 989 TFLOP/s",
        ),
    ]


def _rtx_copy(tmp_path: Path) -> tuple[Path, EntryRef]:
    src = bundled_root() / "nvidia" / "rtx-4090" / "vllm@0.19.0"
    root = tmp_path / "db"
    dst = root / "nvidia" / "rtx-4090" / "vllm@0.19.0"
    shutil.copytree(src, dst)
    shutil.copytree(bundled_root() / "LICENSES", root / "LICENSES")
    return dst, EntryRef("nvidia/rtx-4090", "vllm@0.19.0", dst)


def test_layerwise_entry_passes_and_malformed_tables_are_named(tmp_path: Path):
    dst, ref = _rtx_copy(tmp_path)
    assert validate_entry(ref).ok
    dense = dst / "layerwise" / "meta-llama" / "Llama-3.1-8B" / "bf16" / "tp1" / "dense.csv"
    lines = dense.read_text(encoding="utf-8").split("\n")
    lines[3] = lines[3].rsplit(",", 1)[0] + ",-2.5"
    dense.write_text("\n".join(lines), encoding="utf-8")
    errors = validate_entry(ref).errors
    assert len(errors) == 1
    assert (errors[0].file, errors[0].field, errors[0].line) == (dense, "latency_us", 4)
    assert errors[0].problem == "`-2.5` is not a positive latency on line 4"


def test_layerwise_schema_problems_name_the_field(tmp_path: Path):
    dst, ref = _rtx_copy(tmp_path)
    text = (dst / "entry.yaml").read_text(encoding="utf-8")
    start = text.index("    dense: {")
    (dst / "entry.yaml").write_text(text[:start] + text[text.index("\n", start) + 1 :], encoding="utf-8")
    errors = validate_entry(ref).errors
    assert [(e.field, e.problem) for e in errors] == [("layerwise[0].tables.dense", "required field is missing")]


def test_layerwise_falling_latency_is_caught(tmp_path: Path):
    dst, ref = _rtx_copy(tmp_path)
    att = dst / "layerwise" / "meta-llama" / "Llama-3.1-8B" / "bf16" / "tp1" / "attention.csv"
    lines = att.read_text(encoding="utf-8").rstrip("\n").split("\n")
    # the longest decode context at one decode: make it far faster than the shorter ones
    i = next(n for n, line in enumerate(lines) if line.startswith("0,0,1,16384,"))
    lines[i] = "0,0,1,16384,1"
    att.write_text("\n".join(lines) + "\n", encoding="utf-8")
    errors = validate_entry(ref).errors
    assert len(errors) == 1 and errors[0].file == att and errors[0].line == i + 1
    assert errors[0].problem.endswith("more than the 20% noise tolerance of layer_attention_kv_decode")
