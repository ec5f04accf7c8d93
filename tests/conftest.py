"""Shared test helpers: golden files, and a compiled-spec cache of the session's own.

`golden.check(path, actual)` compares `actual` with the file at `path`, exactly. A missing file
fails; `pytest --update-golden` writes or rewrites the files instead of comparing, so a change in
output is reviewed as a diff of the golden files.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # llmsimc and the bench worker cache compiled specs; the suite (and the subprocesses it starts)
    # uses a folder of its own, never the user's ~/.cache/llmsim
    folder = tempfile.mkdtemp(prefix="llmsim-test-cache-")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    os.environ["LLMSIM_CACHE_DIR"] = folder


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files from the actual output instead of comparing with them",
    )


class Golden:
    """Compares text with golden files; with `update`, writes them instead."""

    def __init__(self, update: bool):
        self.update = update

    def check(self, expected_path: Path | str, actual: str) -> None:
        path = Path(expected_path)
        if self.update:
            if not path.exists() or path.read_bytes().decode("utf-8") != actual:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(actual.encode("utf-8"))
            return
        if not path.exists():
            pytest.fail(
                f"golden file {path} is missing; run pytest with --update-golden to create it", pytrace=False
            )
        expected = path.read_bytes().decode("utf-8")
        if expected != actual:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    actual.splitlines(keepends=True),
                    fromfile=str(path),
                    tofile="actual",
                )
            )
            pytest.fail(
                f"output differs from golden file {path}; if the change is intended, run pytest "
                f"with --update-golden\n{diff}",
                pytrace=False,
            )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """Compare output with golden files: `golden.check(path, text)`."""
    return Golden(bool(request.config.getoption("--update-golden")))
