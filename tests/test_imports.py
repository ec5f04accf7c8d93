"""What the run path imports: a cached compile and the runtime load neither the compiler's graph
library nor the parser, the YAML reader or the report libraries (each costs start-up time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("networkx", "lark", "yaml", "rich", "jinja2", "matplotlib", "scipy")
SPEC = ROOT / "specs" / "quickstart.llms"


def imported_after(code: str, cache_dir: Path) -> set[str]:
    """Top-level packages of the modules loaded once `code` has run in a fresh interpreter."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {**os.environ, "LLMSIM_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    env.pop("LLMSIM_NO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_runtime_and_cache_import_light(tmp_path: Path):
    loaded = imported_after("import llmsim.runtime, llmsim.cache, llmsim.lang, llmsim.hwdb, llmsim.compiler", tmp_path)
    assert not loaded & set(HEAVY)


def test_a_cached_compile_loads_no_compiler_libraries(tmp_path: Path):
    run = (f"from pathlib import Path\nfrom llmsim.cache import compile_file\n"
           f"spec, compiled = compile_file(Path({str(SPEC)!r}))\n"
           "from llmsim.runtime import build_workload, simulate\n")
    cold = imported_after(run, tmp_path)
    assert "lark" in cold and "networkx" in cold  # the miss compiled the spec
    warm = imported_after(run, tmp_path)
    assert not warm & set(HEAVY), sorted(warm & set(HEAVY))
    graph = imported_after(run + "compiled.plans['main'].graph.number_of_nodes()\n", tmp_path)
    assert "networkx" in graph  # the graph is still there, loaded when asked for


def test_llmsimc_on_a_cached_spec_loads_no_compiler_libraries(tmp_path: Path):
    run = f"from llmsim.cli.llmsimc import main\nmain([{str(SPEC)!r}, '-q'])\n"
    imported_after(run, tmp_path)  # compiles and fills the cache
    warm = imported_after(run, tmp_path)
    assert not warm & {"networkx", "lark", "yaml", "jinja2", "matplotlib"}, sorted(warm)
