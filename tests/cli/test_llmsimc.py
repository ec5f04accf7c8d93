"""`llmsimc` end to end: exit codes, outputs, determinism, and diagnostics users see."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmsim.cli.llmsimc import main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "specs" / "quickstart.llms"

SMALL = """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
model llama { catalog = "Llama-3.1-8B" }
pool main { model = llama  hardware = h100  instances = 2 }
router front { targets = [main] }
workload chat {
  requests = 200
  arrival  = poisson(rate = 20/s)
  lengths  = dataset("sharegpt")
  seed     = 7
}
"""


@pytest.fixture
def small_spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.llms"
    path.write_text(SMALL)
    return path


def run(*args: str | Path) -> int:
    return main([str(a) for a in args])


def test_quickstart_runs_and_prints_the_key_metrics(capsys):
    assert run(QUICKSTART, "--report") == 0
    out = capsys.readouterr().out
    assert "1000/1000 requests completed" in out
    for word in ("TTFT", "TPOT", "ITL", "Throughput", "nvidia/h100-sxm"):
        assert word in out


def test_json_schema_and_determinism(small_spec: Path, tmp_path: Path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(small_spec, "--json", a, "-q") == 0
    assert run(small_spec, "--json", b, "-q") == 0
    doc_a, doc_b = json.loads(a.read_text()), json.loads(b.read_text())
    for key in ("metrics", "throughput", "requests", "hardware", "fallbacks", "sim"):
        assert key in doc_a
    for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        assert set(doc_a["metrics"][metric]) >= {"mean", "p50", "p90", "p95", "p99"}
    assert set(doc_a["throughput"]) == {"requests_per_s", "input_tokens_per_s", "output_tokens_per_s"}
    assert doc_a["requests"]["submitted"] == doc_a["requests"]["completed"] == 200
    assert doc_a["hardware"][0]["entry"] == "nvidia/h100-sxm"
    assert len(doc_a["hardware"][0]["sha256"]) == 64
    assert doc_a["sim"]["events"] > 0 and doc_a["sim"]["simulated_s"] > 0
    doc_a["sim"].pop("wall_s")
    doc_b["sim"].pop("wall_s")
    assert doc_a == doc_b


def test_csv_has_one_row_per_request(small_spec: Path, tmp_path: Path):
    out = tmp_path / "requests.csv"
    assert run(small_spec, "--csv", out, "-q") == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,instance,arrival_s")
    assert len(lines) == 1 + 200
    # Two instances behind a round-robin router share the requests evenly.
    instances = [line.split(",")[1] for line in lines[1:]]
    assert instances.count("main[0]") == instances.count("main[1]") == 100


def test_check_compiles_without_running(small_spec: Path, capsys):
    assert run(small_spec, "--check") == 0
    assert "ok: small.llms compiles" in capsys.readouterr().out


def test_emit_stages(small_spec: Path, capsys):
    for stage, marker in (("ast", "use hardware"), ("graph", "L0-31.qkv_proj"), ("plan", "kv cache:")):
        assert run(small_spec, "--emit", stage) == 0
        assert marker in capsys.readouterr().out


def test_missing_hardware_entry_gets_a_diagnostic(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.llms").write_text(SMALL.replace("vllm-0.24.0", "vllm-0.9.0"))
    assert run("bad.llms", "--check") == 1
    err = capsys.readouterr().err
    assert err == (
        "error: unknown hardware entry `nvidia/h100-sxm@vllm-0.9.0`\n"
        " --> bad.llms:1:14\n"
        "  |\n"
        '1 | use hardware "nvidia/h100-sxm@vllm-0.9.0" as h100\n'
        "  |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^ not in the hardware database\n"
        "  = note: `nvidia/h100-sxm` is available as `roofline-1`, `trtllm-1.3.0rc20`, `vllm-0.14.0`, "
        "`vllm-0.19.0` or `vllm-0.24.0`\n"
        "  = help: did you mean `nvidia/h100-sxm@vllm-0.19.0` or `nvidia/h100-sxm@vllm-0.24.0`?\n"
        "\n"
        "1 error\n"
    )


def test_tp_that_does_not_divide_the_model_points_at_tp(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("tp.llms").write_text(SMALL.replace("instances = 2", "tp = 3"))
    assert run("tp.llms", "--check") == 1
    err = capsys.readouterr().err
    assert err == (
        "error: tp = 3 does not divide the 32 attention heads of `Llama-3.1-8B`\n"
        " --> tp.llms:3:50\n"
        "  |\n"
        "3 | pool main { model = llama  hardware = h100  tp = 3 }\n"
        "  |                                                  ^ does not divide the model\n"
        "  = help: choose `tp` among 1, 2, 4, 8, 16, 32\n"
        "\n"
        "1 error\n"
    )


def test_moe_model_compiles(tmp_path: Path, capsys):
    spec = tmp_path / "moe.llms"
    spec.write_text(SMALL.replace("Llama-3.1-8B", "Qwen3-30B-A3B"))
    assert run(spec, "--check") == 0
    assert "ok: moe.llms compiles" in capsys.readouterr().out


def test_model_too_large_for_the_device(tmp_path: Path, capsys):
    spec = tmp_path / "big.llms"
    spec.write_text(SMALL.replace("Llama-3.1-8B", "Llama-3.1-405B"))
    assert run(spec, "--check") == 1
    err = capsys.readouterr().err
    assert "error: `Llama-3.1-405B` does not fit on `nvidia/h100-sxm` at tp = 1" in err


def test_outputs_never_overwrite_the_spec(small_spec: Path, capsys):
    before = small_spec.read_text()
    assert run(small_spec, "--json", small_spec) == 1
    assert "refusing to write output over the input file" in capsys.readouterr().err
    assert run(small_spec, "--csv", small_spec.with_name("other.llms")) == 1
    assert small_spec.read_text() == before


def test_missing_spec_and_bad_arguments_are_user_errors(tmp_path: Path, capsys):
    assert run(tmp_path / "nope.llms") == 1
    assert "no such spec file" in capsys.readouterr().err
    assert run("--no-such-flag") == 1


def test_console_script_exit_codes(small_spec: Path, tmp_path: Path):
    exe = shutil.which("llmsimc") or f"{sys.executable} -m llmsim.cli.llmsimc"
    ok = subprocess.run([*exe.split(), str(small_spec), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.llms"
    bad.write_text("pool main {\n  tp = \n}\n")
    fail = subprocess.run([*exe.split(), str(bad)], capture_output=True, text=True)
    assert fail.returncode == 1
    assert "Traceback" not in fail.stderr and "bad.llms:3:1" in fail.stderr


def test_one_blas_thread_unless_the_user_set_a_number(small_spec: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert main([str(small_spec), "--check", "-q"]) == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert main([str(small_spec), "--check", "-q"]) == 0
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"


def test_a_fresh_llmsimc_process_loads_openblas_with_one_thread(small_spec: Path):
    """The variable is set before numpy loads OpenBLAS, which reads it only then."""
    code = ("import sys; sys.argv = ['llmsimc', sys.argv[1], '--check', '-q']\n"
            "from llmsim.cli.llmsimc import main\n"
            "rc = main()\n"
            "import numpy, os\n"
            "print(rc, os.environ['OPENBLAS_NUM_THREADS'], os.listdir('/proc/self/task').__len__())\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code, str(small_spec)], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    assert out[:2] == ["0", "1"]
    assert int(out[2]) == 1  # no OpenBLAS worker threads beside the main thread
