"""The bench's own environment for llmsim workers (`bench/llmsim_venv.py`): built from pyproject's
dependencies, rebuilt when they change, never installed when told not to."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import llmsim_venv
from bench.runner import Runner


def _fake_venv(root: Path, requirements: list[str]) -> Path:
    python = llmsim_venv.venv_python(root)
    python.parent.mkdir(parents=True)
    python.write_text("", encoding="utf-8")
    (root / llmsim_venv.MARKER).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return root


def test_dependencies_are_pyprojects(tmp_path: Path) -> None:
    deps = llmsim_venv.dependencies()
    names = {d.split(">")[0].split("=")[0] for d in deps}
    assert {"numpy", "msgspec", "lark"} <= names
    assert deps == sorted(deps)
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "x"\ndependencies = ["b>=1", "a"]\n', encoding="utf-8")
    assert llmsim_venv.dependencies(other) == ["a", "b>=1"]


def test_a_venv_is_current_only_for_the_same_requirements(tmp_path: Path) -> None:
    reqs = llmsim_venv.dependencies()
    venv = _fake_venv(tmp_path / "v", reqs)
    assert llmsim_venv.is_current(venv, reqs)
    assert not llmsim_venv.is_current(venv, [*reqs, "newdep>=1"])
    assert not llmsim_venv.is_current(tmp_path / "missing", reqs)


def test_prepare_uses_a_current_venv_and_never_installs_when_told_not_to(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "v", llmsim_venv.dependencies())
    assert llmsim_venv.prepare(install=False, venv=venv, log=lambda s: None) == (str(venv / "bin" / "python"), None)
    python, reason = llmsim_venv.prepare(install=False, venv=tmp_path / "none", log=lambda s: None)
    assert python == sys.executable
    assert reason is not None and "--no-install" in reason
    assert not (tmp_path / "none").exists()


def test_runner_runs_workers_on_the_interpreter_given() -> None:
    assert Runner().python == sys.executable
    assert Runner(python="/opt/py/bin/python").python == "/opt/py/bin/python"
