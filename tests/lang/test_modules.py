"""`import`: modules, the standard library, what is kept, and where errors point."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmsim.diagnostics import CompileError
from llmsim.lang.modules import STDLIB, stdlib_names

TAIL = """\
pool main { model = llama  hardware = h100 }
workload chat { requests = 10  arrival = poisson(rate = 4/s)  lengths = dataset("sharegpt") }
"""


def test_standard_library_modules_check(compile_text):
    assert stdlib_names() == ["std/models", "std/nodes"]
    text = 'import "std/models"\nimport "std/nodes"\n' + TAIL.replace("llama", "llama_3_1_8b")
    spec = compile_text(text)
    # only what the spec uses is built: one model, the hardware it needs, no topology
    assert list(spec.models) == ["llama_3_1_8b"]
    assert list(spec.hardware) == ["h100"]
    assert spec.nodes == {} and spec.links == {}
    assert [i.path for i in spec.imports] == [STDLIB / "models.llms", STDLIB / "nodes.llms"]


def test_used_blocks_pull_in_what_they_use(compile_text):
    text = 'import "std/nodes"\nimport "std/models"\n' + TAIL.replace("llama", "llama_3_1_8b").replace(
        "hardware = h100", "hardware = h100  node = dgx_h100"
    )
    spec = compile_text(text)
    assert list(spec.nodes) == ["dgx_h100"]
    assert list(spec.links) == ["nvlink4"]


def test_modules_resolve_relative_to_the_importer_and_search_paths(compile_text, tmp_path: Path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.llms").write_text('import "b"\n')
    (tmp_path / "lib" / "b.llms").write_text('use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100\n')
    elsewhere = tmp_path.parent / (tmp_path.name + "-shared")
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "models.llms").write_text('model llama { catalog = "Llama-3.1-8B" }\n')
    text = 'import "lib/a.llms"\nimport "models"\nimport "lib/b"\n' + TAIL
    spec = compile_text(text, search_paths=[elsewhere])
    assert list(spec.models) == ["llama"] and list(spec.hardware) == ["h100"]
    assert len(spec.imports) == 3  # b is read once although imported twice


def test_errors_in_modules_point_into_them(compile_text, tmp_path: Path):
    (tmp_path / "m.llms").write_text('model llama { catalog = "Lama-3.1-8B" }\n')
    text = 'use hardware "nvidia/h100-sxm@vllm-0.24.0" as h100\nimport "m"\n' + TAIL
    with pytest.raises(CompileError) as info:
        compile_text(text)
    (d,) = info.value.diagnostics
    assert d.span is not None and d.span.path.endswith("m.llms")
    assert d.help.startswith("did you mean `Llama-3.1-8B`")
