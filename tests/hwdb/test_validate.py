"""`hwdb validate`: the sanity rules, and that the real data passes them."""

from __future__ import annotations

import numpy as np

from llmsim.hwdb.validate import MONOTONE_TOLERANCE, monotone_violation, validate_entry

from .conftest import EntryCopy


def test_bundled_entry_passes_every_check(bundled_ref):
    report = validate_entry(bundled_ref)
    assert [e.render() for e in report.errors] == []
    assert report.tables == 432
    assert report.rows == 130190


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
            "more than the 20% noise tolerance",
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
            "more than the 35% noise tolerance",
        ),
        (
            "gemm_bf16.csv",
            "latency_us",
            35742,
            "m=32768, n=65536, k=16384 in 8085 us is 8704 TFLOP/s, "
            "above the device's bf16 peak of 989 TFLOP/s",
        ),
    ]
