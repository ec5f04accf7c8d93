"""`llmsim profile`: a quick CPU profile makes a valid entry; the fit and the check work."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest

from llmsim.cli import tool
from llmsim.diagnostics import UserError
from llmsim.hwdb import find_entries, load_entry
from llmsim.hwdb.validate import validate_entry
from llmsim.profile.grids import GRIDS
from llmsim.profile.run import Elementwise_, fit_elementwise, model_shapes

TINY = {
    "model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 4096, "max_position_embeddings": 2048,
}


def test_fit_recovers_launch_and_bandwidth():
    items = [Elementwise_("m", name, bpi, [(m, 3.0 + m * bpi / 2e9 * 1e6) for m in (1, 16, 128, 512)])
             for name, bpi in (("a", 4096), ("b", 1000), ("c", 65536))]
    fit = fit_elementwise(items)
    assert fit.launch_us == pytest.approx(3.0)
    assert fit.bandwidth == pytest.approx(2e9)
    assert fit.worst_error < 1e-9 and fit.points == 12


def test_shapes_are_the_compilers():
    from llmsim.compiler.models import model_from_hf_config

    shapes = model_shapes([model_from_hf_config(TINY, "tiny")], "fp32")
    # qkv (4 heads + 2 x 2 KV heads of 64), o, gate_up, down, lm_head
    assert shapes.gemms == ((256, 256), (256, 688), (512, 256), (1376, 256), (4096, 256))
    assert shapes.layouts == ((4, 2, 64),)
    assert GRIDS["quick"].gemm_m[-1] == 1024 and GRIDS["full"].gemm_m[-1] == 4096


def test_missing_torch_is_a_clear_error(monkeypatch):
    from llmsim.profile.cli import import_torch

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(UserError) as info:
        import_torch()
    assert info.value.message == "`llmsim profile` needs PyTorch, which is not installed"
    assert info.value.help == 'install the optional extra: python -m pip install -e ".[profile]"'


def test_bad_model_and_device(capsys, tmp_path: Path):
    pytest.importorskip("torch", reason="the profile extra (torch) is not installed")
    code = tool.main(["profile", "--model", "No-Such-Model", "--out", str(tmp_path)])
    assert code == 1 and "`No-Such-Model` is neither a catalog model nor a config.json" in capsys.readouterr().err
    code = tool.main(["profile", "--device", "tpu", "--model", "Llama-3.1-8B", "--out", str(tmp_path)])
    assert code == 1 and "unknown device `tpu`" in capsys.readouterr().err


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    pytest.importorskip("torch", reason="the profile extra (torch) is not installed")
    root = tmp_path_factory.mktemp("profile")
    cfg = root / "tiny" / "config.json"
    cfg.parent.mkdir()
    cfg.write_text(json.dumps(TINY), encoding="utf-8")
    db = root / "db"
    argv = ["profile", "--device", "cpu", "--dtype", "fp32", "--model", str(cfg), "--grid", "quick",
            "--threads", "1", "--out", str(db), "--quiet"]
    assert tool.main(argv) == 0
    refs = find_entries([db])
    assert len(refs) == 1
    return refs[0]


@pytest.mark.profile
def test_quick_cpu_profile_is_a_valid_entry(profiled):
    ref = profiled
    assert ref.entry.startswith("cpu/") and ref.entry.endswith("-1t") and ref.engine.startswith("torch@")
    report = validate_entry(ref)
    assert [e.render() for e in report.errors] == []
    e = load_entry(ref)
    assert e.kind == "profiled"
    p = e.provenance
    assert p["converted_by"].startswith("llmsim profile ") and "--grid quick" in p["converted_by"]
    assert {"torch", "device", "cpu", "threads", "python"} <= set(p["measured_with"])
    assert p["measured_with"]["threads"] == "1" and len(p["date"]) == 10
    g = e.gemm("fp32")
    raw = e.raw_table("gemm_fp32")
    for m, n, k, lat in raw[:40]:
        assert g.latency_us(int(m), int(n), int(k)) == lat  # exact at profiled points
    assert set(np.unique(raw[:, 0]).astype(int)) == set(GRIDS["quick"].gemm_m)
    assert e.attention_prefill(4, 2, 64, "fp32") is not None and e.attention_decode(4, 2, 64, "fp32") is not None
    d = e.device
    assert 0 < d.memory_efficiency <= 1 and d.launch_latency_ns > 0 and d.peak_flops["fp32"] > 0
    assert d.memory_bytes > 2**30


@pytest.mark.profile
def test_check_runs_the_product_path(profiled):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers", reason="transformers (the profile extra) is not installed")
    from llmsim.profile.check import batch_shape, format_rows, lowering_for, predict_us, run_check

    entry = load_entry(profiled)
    shapes = (("prefill", 1, 64), ("decode", 2, 128))
    torch.set_num_threads(1)
    rows = run_check(torch, transformers, entry, config=TINY, shapes=shapes, min_seconds=0.02, max_repeats=5)
    assert [(r.kind, r.batch, r.tokens) for r in rows] == list(shapes)
    assert all(r.predicted_us > 0 and r.measured_us > 0 for r in rows)
    low = lowering_for(entry, TINY, "fp32", shapes)
    b = batch_shape("decode", 2, 128)
    expected = low.token_curves_us["gemm"][2] + low.seq_curves_us["gemm"][2] + low.attention(b)
    assert predict_us(low, b) > expected  # plus elementwise, embedding and the sampler
    assert "| decode | 2 | 128 (context) |" in format_rows(rows)
