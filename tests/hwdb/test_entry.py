"""Loading entries: the bundled one is accepted; broken copies are rejected naming file and field."""

from __future__ import annotations

import pytest

from llmsim.diagnostics import UserError
from llmsim.hwdb import SCHEMA_VERSION, DeviceSpec, HwdbError, LinkSpec, load_entry
from llmsim.hwdb.entry import content_sha256
from llmsim.hwdb.errors import display_path
from llmsim.hwdb.schema import check_document

from .conftest import ENGINE, ENTRY, EntryCopy


def test_bundled_entry_loads(entry):
    assert entry.entry == ENTRY
    assert entry.engine == ENGINE
    assert entry.kind == "measured"
    assert entry.ref.spec_name == "nvidia/h100-sxm@vllm-0.24.0"
    assert len(entry.sha256) == 64
    assert entry.provenance["licence"]["spdx"] == "Apache-2.0"
    assert len(entry.table_names()) == 463
    assert {"gemm_bf16", "gemm_fp8", "allreduce_nccl_fp16", "allreduce_vllm_custom_bf16"} <= set(
        entry.table_names()
    )
    assert check_document(entry.doc) == []
    assert entry.doc["schema_version"] == SCHEMA_VERSION


def test_device_spec_in_simulator_units(entry):
    d = entry.device
    assert isinstance(d, DeviceSpec)
    assert d.name == "NVIDIA H100 SXM 80GB"
    assert d.memory_bytes == 80 * 2**30
    assert d.memory_bandwidth == 3.35e12
    assert d.memory_efficiency == 0.8
    assert d.launch_latency_ns == 3000
    assert d.peak_flops == {"bf16": 989e12, "fp8": 1978e12}
    assert d.tdp_w == 700.0
    assert d.idle_w is None
    assert d.links["nvlink"] == LinkSpec(450e9, 10_000)
    assert d.links["pcie"] == LinkSpec(64e9, 10_000)
    assert d.links["network"] == LinkSpec(50e9, 10_000)
    assert d.gpus_per_node == 8


def test_tables_load_lazily_and_are_cached(copy: EntryCopy):
    e = load_entry(copy.ref)
    assert e._raw == {}
    g = e.gemm("bf16")
    assert e.gemm("bfloat16") is g
    assert list(e._raw) == ["gemm_bf16"]


def test_sha256_covers_entry_and_tables(copy: EntryCopy, entry):
    assert load_entry(copy.ref).sha256 == entry.sha256  # content, not location
    copy.edit("tables/allreduce_nccl_fp16.csv", "2,512,6.2\n", "2,512,6.3\n")
    changed = load_entry(copy.ref).sha256
    assert changed != entry.sha256
    files = ["entry.yaml", *(t["file"] for t in entry.tables_meta.values())]
    assert content_sha256(copy.dir, files) == changed


def test_lookups_return_none_for_missing_tables(entry):
    assert entry.gemm("fp16") is None
    assert entry.attention_prefill(7, 7, 128, "bf16") is None
    assert entry.attention_decode(32, 8, 512, "bf16") is None  # head_dim 512 was only measured with FA4
    assert entry.allreduce(3, "bf16") is None
    assert entry.allreduce(8, "fp32") is None
    with pytest.raises(ValueError, match="unknown dtype"):
        entry.gemm("bf61")


def _error(copy: EntryCopy) -> HwdbError:
    with pytest.raises(HwdbError) as info:
        load_entry(copy.ref)
    assert isinstance(info.value, UserError)
    return info.value


def test_missing_field(copy: EntryCopy):
    copy.edit("entry.yaml", "  memory_bandwidth: 3.35TB/s\n", "")
    err = _error(copy)
    assert str(err) == f"{display_path(copy.yaml)}: `device.memory_bandwidth`: required field is missing"
    assert err.help == "add `memory_bandwidth: 3.35TB/s` (a bandwidth)"
    line = copy.line_of("entry.yaml", "device:")
    assert err.render() == "\n".join(
        [
            "error: `device.memory_bandwidth`: required field is missing",
            f"{' ' * len(str(line))}--> {display_path(copy.yaml)}:{line}:1",
            f"{' ' * len(str(line))} |",
            f"{line} | device:",
            f"{' ' * len(str(line))} | ^^^^^^",
            f"{' ' * len(str(line))} = help: add `memory_bandwidth: 3.35TB/s` (a bandwidth)",
        ]
    )


def test_bad_unit(copy: EntryCopy):
    copy.edit("entry.yaml", "memory_bandwidth: 3.35TB/s", "memory_bandwidth: 3.35TBs")
    err = _error(copy)
    assert (
        str(err) == f"{display_path(copy.yaml)}: `device.memory_bandwidth`: unknown unit `TBs` in `3.35TBs`"
    )
    assert err.help == "did you mean `TB/s`?"
    line = copy.line_of("entry.yaml", "memory_bandwidth:")
    assert err.render().splitlines()[1:5] == [
        f"  --> {display_path(copy.yaml)}:{line}:21",
        "   |",
        f"{line} |   memory_bandwidth: 3.35TBs",
        "   |                     ^^^^^^^",
    ]


def test_bare_number_and_wrong_dimension(copy: EntryCopy):
    copy.edit("entry.yaml", "  tdp: 700W\n", "  tdp: 700\n")
    err = _error(copy)
    assert err.field == "device.tdp"
    assert err.problem == "a power needs a unit, found the bare number 700"
    assert err.help == "write it with its unit, like `700W`"
    copy.edit("entry.yaml", "  tdp: 700\n", "  tdp: 700W\n")
    copy.edit("entry.yaml", "memory_capacity: 80GiB", "memory_capacity: 80GiB/s")
    err = _error(copy)
    assert (err.field, err.problem) == (
        "device.memory_capacity",
        "expected a data size, found a bandwidth (`80GiB/s`)",
    )


def test_unknown_field_suggests_legal_keys(copy: EntryCopy):
    copy.edit("entry.yaml", "  memory_bandwidth: 3.35TB/s\n", "  memory_bandwith: 3.35TB/s\n")
    err = _error(copy)
    # problems are reported in document order: the unknown key first
    assert (err.field, err.problem, err.help) == (
        "device.memory_bandwith",
        "unknown field",
        "did you mean `memory_bandwidth` or `memory_capacity`?",
    )


def test_schema_version_and_kind(copy: EntryCopy):
    copy.edit("entry.yaml", "schema_version: 2\n", "schema_version: 1\n")
    err = _error(copy)
    assert err.field == "schema_version"
    assert err.problem == "schema version 1 is not supported (this llmsim reads 2)"
    copy.edit("entry.yaml", "schema_version: 1\n", "schema_version: 2\n")
    copy.edit("entry.yaml", "kind: measured\n", "kind: measure\n")
    err = _error(copy)
    assert err.field == "kind"
    assert err.problem == "`measure` is not one of `measured`, `profiled`, `spec-sheet`"
    assert err.help == "did you mean `measured`?"


def test_identity_must_match_folder(copy: EntryCopy):
    copy.edit("entry.yaml", "entry: nvidia/h100-sxm\n", "entry: nvidia/h200-sxm\n")
    err = _error(copy)
    assert (err.field, err.problem) == (
        "entry",
        "says `nvidia/h200-sxm` but the entry lives in `nvidia/h100-sxm/`",
    )


def test_missing_table_file(copy: EntryCopy):
    (copy.dir / "tables" / "gemm_fp8.csv").unlink()
    err = _error(copy)
    assert str(err) == (
        f"{display_path(copy.yaml)}: `tables.gemm_fp8.file`: table file `tables/gemm_fp8.csv` does not exist"
    )


def test_table_keys_must_match_op(copy: EntryCopy):
    copy.edit("entry.yaml", "op: gemm, dtype: fp8, keys: [m, n, k]", "op: gemm, dtype: fp8, keys: [m, k, n]")
    err = _error(copy)
    assert err.field == "tables.gemm_fp8.keys"
    assert err.problem == "must be [m, n, k] for this op, found ['m', 'k', 'n']"


TABLE = "tables/attention_decode_h32_kv8_d128_kvbf16.csv"


def _table_error(copy: EntryCopy) -> HwdbError:
    e = load_entry(copy.ref)  # table files are read lazily: the entry itself loads
    with pytest.raises(HwdbError) as info:
        e.attention_decode(32, 8, 128, "bf16")
    return info.value


def test_negative_latency(copy: EntryCopy):
    copy.edit(TABLE, "1,4,11.856\n", "1,4,-11.856\n")
    err = _table_error(copy)
    assert str(err) == f"{display_path(copy.dir / TABLE)}: `latency_us`: negative latency on line 3"
    assert err.render().splitlines()[1:5] == [
        f" --> {display_path(copy.dir / TABLE)}:3:5",
        "  |",
        "3 | 1,4,-11.856",
        "  |     ^^^^^^^",
    ]


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("1,4,11.856\n", "1,4,\n", "latency_us", "missing latency on line 3"),
        ("1,4,11.856\n", "1,4,nan\n", "latency_us", "NaN latency on line 3"),
        ("1,4,11.856\n", "1,4,0\n", "latency_us", "zero latency on line 3"),
        ("1,4,11.856\n", "1,4,fast\n", "latency_us", "`fast` is not a number on line 3"),
        ("1,4,11.856\n", "1,0,11.856\n", "kv_len", "key `kv_len` must be a positive integer on line 3"),
        ("1,4,11.856\n", "1,2,11.856\n", "batch", "duplicate row for key (1, 2)"),
        (
            "batch,kv_len,latency_us\n",
            "batch,length,latency_us\n",
            "header",
            "columns are `batch,length,latency_us`, expected `batch,kv_len,latency_us`",
        ),
        ("1,4,11.856\n", "", "rows", "has 151 data rows, entry.yaml declares 152"),
    ],
)
def test_malformed_table_file(copy: EntryCopy, old, new, field, problem):
    copy.edit(TABLE, old, new)
    err = _table_error(copy)
    assert (err.field, err.problem) == (field, problem)
    assert err.file == copy.dir / TABLE


def test_yaml_syntax_error_points_at_line(copy: EntryCopy):
    copy.edit("entry.yaml", "  tdp: 700W\n", "  tdp: [700W\n")
    err = _error(copy)
    assert err.field == "entry.yaml"
    assert err.problem.startswith("not valid YAML")
    assert err.line is not None
