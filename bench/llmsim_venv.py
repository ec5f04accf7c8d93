"""The interpreter the bench's llmsim workers run on: a virtual environment of llmsim's own, as Vidur
has its own (`bench/vidur.py`).

A worker is timed from interpreter start. On the developer's interpreter that start also pays for
whatever its site-packages runs at start-up (here an editable install's import finder and the
machine's `.pth` hooks: about 25 ms, a tenth of a cached 1,000-request run), which neither a user's
`pip install llmsim` into a clean environment nor Vidur's environment has. So
`.bench-cache/llmsim-venv` holds llmsim's dependencies, read from this checkout's pyproject.toml and
installed with pip once (again when they change), and not llmsim itself: the tree measured comes
first on the workers' PYTHONPATH, as before (`--llmsim-src`, `--llmsim-rev`).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from bench.cases import REPO_ROOT

VENV_DIR = REPO_ROOT / ".bench-cache" / "llmsim-venv"
MARKER = "llmsim-dependencies.txt"  # in the venv: the requirements it was built with
INSTALL_TIMEOUT_S = 600


def dependencies(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """llmsim's runtime requirements, as pyproject.toml declares them."""
    with open(pyproject, "rb") as f:
        return sorted(tomllib.load(f)["project"]["dependencies"])


def venv_python(venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / "python"


def is_current(venv: Path, requirements: list[str]) -> bool:
    """Was `venv` built with exactly these requirements?"""
    marker = venv / MARKER
    if not (venv_python(venv).exists() and marker.is_file()):
        return False
    return marker.read_text(encoding="utf-8").splitlines() == requirements


def prepare(install: bool = True, venv: Path = VENV_DIR, log: Callable[[str], None] = print
            ) -> tuple[str, str | None]:
    """(the interpreter for workers, None) when the environment is ready; otherwise this interpreter
    and why the environment could not be used."""
    requirements = dependencies()
    if is_current(venv, requirements):
        return str(venv_python(venv)), None
    if not install:
        return sys.executable, f"{venv} is missing or out of date (run without --no-install)"
    log(f"installing llmsim's dependencies into {venv} (once; about 15 s) ...")
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv.parent / "llmsim-venv-install.log"
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(venv_python(venv)), "-m", "pip", "install", "-q", *requirements]]
    with open(log_path, "w", encoding="utf-8") as out:
        for cmd in steps:
            try:
                proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                return sys.executable, f"installing llmsim's dependencies timed out (see {log_path})"
            if proc.returncode != 0:
                return sys.executable, f"`{' '.join(cmd[:4])} ...` exited {proc.returncode} (see {log_path})"
    (venv / MARKER).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return str(venv_python(venv)), None
