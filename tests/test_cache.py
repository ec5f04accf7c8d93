"""The compiled-spec cache (`llmsim/cache.py`): hits, misses on any input change, corrupted entries,
switching it off, and warnings replayed on a hit."""

from __future__ import annotations

import os
import pickle
import shutil
import stat
import warnings
from pathlib import Path

import pytest

from llmsim import cache
from llmsim.cli.llmsimc import main
from llmsim.compiler.emit import emit_graph, emit_plan
from llmsim.lang import emit_ir

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "hardware_db" / "nvidia" / "a100-sxm" / "vllm@0.14.0"
MODEL = ROOT / "bench" / "data" / "models" / "Llama-2-70b-hf.json"

MAIN = """\
import "hw"

model m { config = "models/m.json" }

pool main {
  model = m
  hardware = gpu
  instances = 1
  tp = 2
}

router front { targets = [main] }

workload w {
  requests = 50
  arrival = poisson(rate = 2/s)
  prompt = fixed(512)
  output = fixed(16)
  seed = 1
}
"""
HW = 'use hardware "nvidia/a100-sxm@vllm-0.14.0" as gpu\n'


class Project:
    """A spec with an import and a model config, a one-entry hardware_db and a cache folder."""

    def __init__(self, root: Path) -> None:
        self.spec = root / "proj" / "main.llms"
        self.imported = root / "proj" / "hw.llms"
        self.model = root / "proj" / "models" / "m.json"
        self.hwdb = root / "hwdb"
        self.entry = self.hwdb / "nvidia" / "a100-sxm" / "vllm@0.14.0"
        self.cache = root / "cache"
        self.model.parent.mkdir(parents=True)
        self.spec.write_text(MAIN, encoding="utf-8")
        self.imported.write_text(HW, encoding="utf-8")
        shutil.copy(MODEL, self.model)
        shutil.copytree(ENTRY, self.entry)
        shutil.copytree(ROOT / "hardware_db" / "LICENSES", self.hwdb / "LICENSES")
        self.compiles = 0

    def compile(self, **kwargs):
        return cache.compile_file(self.spec, hwdb_paths=[self.hwdb], **kwargs)

    def entries(self) -> list[Path]:
        folder = self.cache / "compiled"
        return sorted(folder.glob("*.pickle")) if folder.exists() else []


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    p = Project(tmp_path)
    monkeypatch.setenv("LLMSIM_CACHE_DIR", str(p.cache))
    monkeypatch.delenv("LLMSIM_NO_CACHE", raising=False)
    real = cache._compile

    def counting(*args, **kwargs):
        p.compiles += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "_compile", counting)
    return p


def dump(spec, compiled) -> str:
    """Everything a run depends on, as text: the IR, the plans and the sharded graphs."""
    plan = compiled.plans["main"]
    from llmsim.runtime import build_workload, simulate

    workloads = [(build_workload(w), compiled.workload_routers[w.name]) for w in spec.workloads.values()]
    summary = simulate(compiled.cluster, workloads).summary()
    summary["sim"].pop("wall_s", None)
    return (emit_ir(spec) + emit_plan(plan, 1) + emit_graph("main", plan.graph, plan.model)
            + repr(summary["requests"]) + repr(summary["metrics"]))


def test_second_compile_is_a_hit_with_the_same_result(project: Project):
    first = dump(*project.compile())
    assert project.compiles == 1
    assert len(project.entries()) == 1
    second = dump(*project.compile())
    assert project.compiles == 1
    assert second == first


def test_hit_prices_batches_as_the_miss_does(project: Project):
    from llmsim.runtime import BatchShape

    _, miss = project.compile()
    _, hit = project.compile()
    assert project.compiles == 1
    for shape in (BatchShape(1, 1, 1, 700, 700, ()), BatchShape(600, 2, 1, 300, 300, ((512, 0),))):
        assert hit.plans["main"].step_time_ns(shape) == miss.plans["main"].step_time_ns(shape)


def test_cache_folder_is_private(project: Project):
    project.compile()
    for folder in (project.cache, project.cache / "compiled"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not list(project.spec.parent.glob("*.pickle"))


@pytest.mark.parametrize("changed", ["spec", "imported", "model", "entry.yaml", "table"])
def test_any_input_change_is_a_miss(project: Project, changed: str):
    project.compile()
    if changed == "table":
        table = sorted((project.entry / "tables").glob("gemm*.csv"))[0]
        lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
        table.write_text(lines[0] + "".join(reversed(lines[1:])), encoding="utf-8")  # same rows, new bytes
    else:
        path = {"spec": project.spec, "imported": project.imported, "model": project.model,
                "entry.yaml": project.entry / "entry.yaml"}[changed]
        path.write_text(path.read_text(encoding="utf-8") + ("\n" if changed == "model" else "\n# edited\n"),
                        encoding="utf-8")
    project.compile()
    assert project.compiles == 2
    project.compile()
    assert project.compiles == 2


def _age(root: Path, seconds: float = 60.0) -> None:
    """Date every file under `root` `seconds` back, past the cache's racy window."""
    when = os.stat(root).st_mtime - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (when, when))


def _manifest(project: Project) -> dict:
    (entry,) = project.entries()
    return pickle.loads(entry.read_bytes())[1]


def test_inputs_unchanged_since_the_entry_was_written_are_not_read_again(project: Project):
    _age(project.spec.parents[1])
    project.compile()
    manifest = _manifest(project)
    assert set(manifest["signatures"]) == set(manifest["read"])  # every input is old enough to trust
    # New bytes, but the size, time and inode recorded: trusted without reading (as make does) ...
    table = sorted((project.entry / "tables").glob("gemm*.csv"))[0]
    st = table.stat()
    lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
    with open(table, "r+", encoding="utf-8") as f:  # in place: the inode stays
        f.write(lines[0] + "".join(reversed(lines[1:])))
    os.utime(table, ns=(st.st_atime_ns, st.st_mtime_ns))
    project.compile()
    assert project.compiles == 1
    # ... while any other time is read and hashed: the same bytes hit, other bytes miss
    os.utime(project.spec)
    project.compile()
    assert project.compiles == 1
    os.utime(table)
    project.compile()
    assert project.compiles == 2


def test_an_input_changed_just_before_the_compile_is_always_hashed(project: Project):
    _age(project.spec.parents[1])
    project.spec.write_text(MAIN + "\n", encoding="utf-8")  # now: inside the racy window
    project.compile()
    manifest = _manifest(project)
    spec = str(project.spec.absolute())
    assert spec in manifest["read"] and spec not in manifest["signatures"]
    assert len(manifest["signatures"]) == len(manifest["read"]) - 1


def test_a_new_hardware_entry_on_the_path_is_a_miss(project: Project):
    project.compile()
    shutil.copytree(ENTRY.parent / "roofline@1", project.entry.parent / "roofline@1")
    project.compile()
    assert project.compiles == 2


def test_defines_and_search_paths_are_part_of_the_key(project: Project, tmp_path: Path):
    project.compile()
    project.compile(search_paths=[tmp_path])
    assert project.compiles == 2


@pytest.mark.parametrize("garbage", [b"", b"not a pickle", b"\x80\x05garbage", None])
def test_corrupted_entry_is_rebuilt(project: Project, garbage: bytes | None):
    expected = dump(*project.compile())
    (entry,) = project.entries()
    if garbage is None:  # a valid pickle that is not an entry
        garbage = pickle.dumps({"not": "an entry"})
    entry.write_bytes(garbage)
    assert dump(*project.compile()) == expected
    assert project.compiles == 2
    project.compile()
    assert project.compiles == 2  # rewritten


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_entry_naming_a_disallowed_global_is_refused_and_rebuilt(project: Project, monkeypatch):
    project.compile()
    (entry,) = project.entries()
    entry.write_bytes(pickle.dumps(_Boom()))
    called = []
    monkeypatch.setattr(os, "system", lambda cmd: called.append(cmd))
    project.compile()
    assert called == []
    assert project.compiles == 2


def test_no_cache_argument_and_environment(project: Project, monkeypatch: pytest.MonkeyPatch):
    project.compile(use_cache=False)
    assert project.entries() == []
    monkeypatch.setenv("LLMSIM_NO_CACHE", "1")
    project.compile()
    project.compile()
    assert project.entries() == []
    assert project.compiles == 3
    monkeypatch.setenv("LLMSIM_NO_CACHE", "0")
    project.compile()
    assert len(project.entries()) == 1


def test_llmsimc_no_cache_flag(project: Project, capsys: pytest.CaptureFixture[str]):
    args = [str(project.spec), "--check", "--hwdb", str(project.hwdb)]
    assert main([*args, "--no-cache"]) == 0
    assert project.entries() == []
    assert main(args) == 0
    assert len(project.entries()) == 1
    assert main(args) == 0
    assert project.compiles == 2
    assert capsys.readouterr().out.count("ok: main.llms compiles") == 3


def test_unwritable_cache_folder_still_runs(project: Project):
    project.cache.write_text("a file where the folder should be", encoding="utf-8")
    _, compiled = project.compile()
    assert compiled is not None and project.compiles == 1


def test_errors_are_not_cached(project: Project):
    from llmsim.diagnostics import CompileError

    project.imported.write_text('use hardware "nvidia/a100-sxm@vllm-9.9.9" as gpu\n', encoding="utf-8")
    for _ in range(2):
        with pytest.raises(CompileError):
            project.compile()
    assert project.entries() == []


def test_warnings_are_the_same_on_a_hit(project: Project, monkeypatch: pytest.MonkeyPatch):
    import llmsim.compiler.pipeline as pipeline

    real = pipeline.check_support

    def warning_check(spec, bag):
        warnings.warn("this spec is odd", RuntimeWarning, stacklevel=1)
        return real(spec, bag)

    monkeypatch.setattr(pipeline, "check_support", warning_check)
    seen = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            project.compile()
        seen.append([(w.category, str(w.message), w.filename, w.lineno) for w in caught])
    assert project.compiles == 1
    assert seen[0] == seen[1]
    assert [(c, m) for c, m, _, _ in seen[0]] == [(RuntimeWarning, "this spec is odd")]


def test_a_sweep_spec_is_loaded_not_compiled(project: Project):
    project.spec.write_text("param tp = 2\nsweep { tp = [1, 2] }\n" + MAIN.replace("tp = 2", "tp = tp"),
                            encoding="utf-8")
    spec, compiled = project.compile()
    assert spec.sweep is not None and compiled is None
    spec2, compiled2 = project.compile()
    assert compiled2 is None and emit_ir(spec2) == emit_ir(spec)


def test_source_fingerprint_changes_with_an_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(cache, "_PACKAGE", pkg)
    cache.source_fingerprint.cache_clear()
    try:
        before = cache.source_fingerprint()
        cache.source_fingerprint.cache_clear()
        (pkg / "a.py").write_text("x = 22\n", encoding="utf-8")
        assert cache.source_fingerprint() != before
    finally:
        cache.source_fingerprint.cache_clear()


def test_the_folder_keeps_the_most_recently_used_entries(tmp_path: Path):
    folder = tmp_path / "compiled"
    folder.mkdir()
    for i in range(5):
        f = folder / f"{i}.pickle"
        f.write_bytes(b"x")
        os.utime(f, ns=(i * 10**9, i * 10**9))
    cache._trim(folder, 3)
    assert sorted(f.name for f in folder.iterdir()) == ["2.pickle", "3.pickle", "4.pickle"]


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").rglob("*.llms")), ids=lambda p: p.stem)
def test_every_shipped_spec_round_trips_through_the_cache_pickle(spec: Path):
    """A compiled object the restricted unpickler refuses (a closure, a function it does not list)
    would silently make every run of that spec a miss."""
    from llmsim import safepickle
    from llmsim.hwdb.locate import default_paths

    result = cache._compile(spec, [], default_paths([]), (), None)
    loaded_spec, loaded = safepickle.loads(safepickle.dumps(result))
    assert emit_ir(loaded_spec) == emit_ir(result[0])
    if loaded is not None:
        for name, plan in loaded.plans.items():
            assert emit_plan(plan, 1) == emit_plan(result[1].plans[name], 1)
