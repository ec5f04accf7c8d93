"""Where llmsim runs: worker processes on a chosen llmsim source tree.

Everything that imports llmsim (cases, calibrations, the hardware lookup) runs in a `bench.worker`
subprocess, so the bench can measure another tree than the one installed: `--llmsim-src DIR` (a
folder holding `llmsim/` and `hardware_db/`) or `--llmsim-rev REV` (that commit, exported with
`git archive` into `.bench-cache/src/`), for example to compare a runtime change with HEAD. Workers
start in their case folder, not the repository root, so the chosen tree comes first on their path.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench.cases import REPO_ROOT
from bench.measure import Measured, run_measured

SRC_CACHE = REPO_ROOT / ".bench-cache" / "src"
PYCACHE = REPO_ROOT / ".bench-cache" / "pycache"
WORKER_GRACE_S = 60.0  # after its own deadline, a worker has this long to report before it is killed


class WorkerError(RuntimeError):
    """A worker failed: its exit status and the end of its stderr."""


def export_rev(rev: str) -> tuple[Path, str]:
    """`llmsim/` and `hardware_db/` of a commit, exported once into `.bench-cache/src/<sha>`."""
    proc = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ValueError(f"not a commit: {rev!r} ({proc.stderr.strip()})")
    sha = proc.stdout.strip()
    dest = SRC_CACHE / sha[:12]
    if not (dest / "llmsim" / "__init__.py").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile() as tar:
            subprocess.run(["git", "archive", "--format=tar", sha, "llmsim", "hardware_db"], cwd=REPO_ROOT,
                           stdout=tar, check=True)
            tar.seek(0)
            with tarfile.open(fileobj=tar) as tf:
                tf.extractall(dest, filter="data")
    return dest, sha


def summarize_stderr(lines: list[str]) -> str:
    """The first diagnostic line of a failed worker (`error: ...`), else its last line."""
    for line in lines:
        if line.startswith(("error:", "internal error:")) or "Error:" in line:
            return line.strip()
    return lines[-1].strip() if lines else "no output"


class Runner:
    """Runs worker jobs with `src` (None: the llmsim found from the repository root) first on the path,
    on the interpreter `python` (default: this one; the bench passes its llmsim environment's,
    `bench/llmsim_venv.py`)."""

    def __init__(self, src: Path | None = None, python: str | None = None) -> None:
        self.src = src.resolve() if src is not None else None
        self.python = python or sys.executable
        if self.src is not None and not (self.src / "llmsim" / "__init__.py").is_file():
            raise ValueError(f"{src} holds no llmsim package (expected {src}/llmsim/__init__.py)")
        self.cache_dir = Path(tempfile.mkdtemp(prefix="llmsim-bench-cache-"))
        atexit.register(shutil.rmtree, self.cache_dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        paths = [str(p) for p in (self.src, REPO_ROOT) if p is not None]
        env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
        env.setdefault("PYTHONHASHSEED", "0")
        # Warm runs include Python's bytecode cache (an installed package has one); keep it out of the tree.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        # llmsim's compiled-spec cache: a folder of this bench run's own, empty at its start, so that the
        # first run of each case compiles (reported as its cold time) and repeats read the cache
        env["LLMSIM_CACHE_DIR"] = str(self.cache_dir)
        env.pop("LLMSIM_NO_CACHE", None)
        return env

    def job(self, job: dict[str, Any], folder: Path, timeout_s: float | None, cmd_prefix: list[str] | None = None
            ) -> tuple[dict[str, Any] | None, Measured]:
        """Run one worker job in `folder`; (its JSON result or None if it was killed, its measurements)."""
        folder.mkdir(parents=True, exist_ok=True)
        out_path = folder / "result.json"
        out_path.unlink(missing_ok=True)
        job_path = folder / "job.json"
        job_path.write_text(json.dumps({**job, "out": str(out_path), "timeout_s": timeout_s}), encoding="utf-8")
        cmd = [*(cmd_prefix or []), self.python, "-m", "bench.worker", str(job_path)]
        hard = None if timeout_s is None else timeout_s + WORKER_GRACE_S
        m = run_measured(cmd, cwd=folder, stdout=folder / "worker.stdout", stderr=folder / "worker.stderr",
                         timeout_s=hard, env=self.env())
        if m.killed and not out_path.exists():
            return None, m
        if m.returncode != 0 or not out_path.exists():
            lines = (folder / "worker.stderr").read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise WorkerError(f"worker exited {m.returncode}: {summarize_stderr(lines)} (see {folder}/worker.stderr)")
        return json.loads(out_path.read_text(encoding="utf-8")), m

    def entries(self, folder: Path) -> list[str]:
        """Spec names of the hardware entries this llmsim finds."""
        doc, _ = self.job({"kind": "entries"}, folder, timeout_s=120)
        return list(doc["entries"]) if doc else []
