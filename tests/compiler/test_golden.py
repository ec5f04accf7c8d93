"""Compiler stages of every spec in specs/, in golden files (`pytest --update-golden` rebuilds them)."""

from pathlib import Path

import pytest

from llmsim.compiler import compile_spec
from llmsim.compiler.emit import emit_graph, emit_plan
from llmsim.lang import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").rglob("*.llms"))
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_graph_and_plan_of_every_spec(spec_path, golden):
    spec = load_spec(spec_path)
    compiled = compile_spec(spec)
    name = str(spec_path.relative_to(ROOT / "specs")).removesuffix(".llms").replace("/", "__")
    graph = "".join(emit_graph(p, plan.graph, plan.model) for p, plan in compiled.plans.items())
    plans = "".join(emit_plan(compiled.plans[p.name], p.instances) for p in spec.pools.values())
    golden.check(GOLDEN / f"{name}.graph", graph)
    golden.check(GOLDEN / f"{name}.plan", plans)
