"""Property: damaged specs never crash `llmsimc`.

Hypothesis mutates valid specs (characters, tokens and lines deleted, duplicated or swapped;
truncation) and runs `llmsimc SPEC --check` on each: the outcome is success, or exit 1 with every
error located (`--> file:line:col`); never exit 2, never a traceback, never a hang.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmsim.cli.llmsimc import main
from llmsim.diagnostics import CompileError
from llmsim.lang.fmt import format_text

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "tests" / "lang" / "golden" / "valid"
SOURCES = [
    (ROOT / "specs" / "quickstart.llms").read_text(encoding="utf-8"),
    (VALID / "roadmap.llms").read_text(encoding="utf-8"),
    """\
use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100
import "std/models"
param tp   = 1
param rate = 4/s
pool main { model = llama_3_1_8b  hardware = h100  tp = tp  instances = 2 / tp }
router front { targets = [main] }
workload chat { requests = 10  arrival = poisson(rate = rate)  lengths = dataset("sharegpt") }
slo fast { ttft.p99 < 500ms  attainment >= 95% }
sweep { tp = [1, 2] }
""",
]
TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9_.]*[A-Za-z%/]*|\S')
HANG_S = 30
MAX_EXAMPLES = int(os.environ.get("LLMSIM_MUTATIONS", "300"))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        kind = draw(st.sampled_from(["char", "token", "line", "truncate"]))
        if kind == "truncate":
            text = text[: draw(st.integers(0, len(text) - 1))]
            continue
        if kind == "line":
            units = text.split("\n")
        elif kind == "token":
            units = [m.group(0) for m in TOKEN.finditer(text)]
        else:
            units = list(text)
        if not units:
            continue
        i = draw(st.integers(0, len(units) - 1))
        j = draw(st.integers(0, len(units) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap"]))
        if op == "delete":
            del units[i]
        elif op == "duplicate":
            units.insert(i, units[i])
        else:
            units[i], units[j] = units[j], units[i]
        text = "\n".join(units) if kind == "line" else (" ".join(units) if kind == "token" else "".join(units))
    return text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the modules the valid specs import."""
    root = tmp_path_factory.mktemp("mutations")
    shutil.copytree(VALID / "lib", root / "lib")
    return root


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise TimeoutError(f"llmsimc ran for more than {HANG_S} s")


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_mutated_specs_fail_cleanly(text: str, workdir: Path, capsys):
    path = workdir / "mutated.llms"
    path.write_text(text, encoding="utf-8")
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        code = main([str(path), "--check", "-q"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        path.unlink()
    err = capsys.readouterr().err
    assert code in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err
    if code == 1:
        errors = [block for block in err.split("\n\n") if block.startswith("error:")]
        assert errors, err
        for block in errors:
            assert "\n" in block and " --> " in block.split("\n")[1], block
    try:  # whatever parses formats, and formatting is idempotent
        once = format_text(text)
    except CompileError:
        return
    assert format_text(once) == once
