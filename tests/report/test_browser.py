"""The reports in a real browser: headless Chromium loads each page without a console error or a
request for anything but the page itself, and draws every plot. Screenshots go to test-artifacts/;
with `--update-golden`, the screenshots of docs/reports.md (docs/img/) are rebuilt too.

Without Chromium the test skips, unless LLMSIM_REQUIRE_BROWSER=1 (as in CI), where it fails.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from .cdp import PageResult, find_chromium, load_page
from .conftest import ROOT
from .test_html import RUN_PLOTS, SECTIONS

ARTIFACTS = ROOT / "test-artifacts"
DOC_IMAGES = ROOT / "docs" / "img"
REQUIRE_ENV = "LLMSIM_REQUIRE_BROWSER"


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        reason = "headless Chromium is not installed (Debian: apt-get install -y chromium)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the browser test to run")
        pytest.skip(reason)
    return binary


def _check(page: PageResult, path: Path, plots: tuple[str, ...], title: str) -> None:
    assert page.console_errors == []
    assert page.requests == [path.resolve().as_uri()]  # nothing from the network, nothing else on disk
    assert page.title == title
    assert [p["id"] for p in page.plots] == list(plots)
    for p in page.plots:
        assert p["svg"] and p["width"] > 300 and p["height"] > 100 and p["paths"] >= 10, p


def _save(name: str, png: bytes) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(png)


def _save_doc_image(name: str, png: bytes) -> None:
    """A docs screenshot, reduced to 32 colours to stay small."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=32, method=Image.Quantize.MEDIANCUT).save(DOC_IMAGES / f"{name}.png", optimize=True)


def test_quickstart_report_in_chromium(chromium: str, quickstart: dict[str, Any], request: pytest.FixtureRequest):
    update = request.config.getoption("--update-golden")
    page = load_page(chromium, quickstart["html_path"], sections=update)
    _check(page, quickstart["html_path"], RUN_PLOTS, "llmsim report: quickstart.llms")
    assert [s["id"] for s in page.sections] == list(SECTIONS)
    _save("report-quickstart", page.screenshot)
    for section, png in page.section_shots.items():
        _save_doc_image(f"report-{section}", png)


def test_sweep_report_in_chromium(chromium: str, sweep_html: Path, request: pytest.FixtureRequest):
    update = request.config.getoption("--update-golden")
    page = load_page(chromium, sweep_html, sections=update)
    _check(page, sweep_html, ("sweep-pareto", "sweep-param-tp", "sweep-param-rate"), "llmsim sweep: quickstart.llms")
    _save("report-sweep", page.screenshot)
    for section, png in page.section_shots.items():
        _save_doc_image(f"sweep-{section}", png)


def test_validation_report_in_chromium(chromium: str, validation_html: Path, request: pytest.FixtureRequest):
    update = request.config.getoption("--update-golden")
    page = load_page(chromium, validation_html, sections=update)
    _check(page, validation_html, ("validation-cdf", "validation-timeline"), "llmsim validation")
    _save("report-validation", page.screenshot)
    for section, png in page.section_shots.items():
        _save_doc_image(f"validation-{section}", png)


def test_the_harness_sees_console_errors_and_requests(chromium: str, tmp_path: Path):
    page_path = tmp_path / "bad.html"
    page_path.write_text('<!doctype html><title>bad</title><img src="http://127.0.0.1:9/x.png">'
                         '<script>console.error("boom"); undefinedFunction();</script>')
    page = load_page(chromium, page_path)
    assert "boom" in page.console_errors
    assert any("undefinedFunction" in e or "Uncaught" in e for e in page.console_errors)
    assert "http://127.0.0.1:9/x.png" in page.requests
    assert page.screenshot.startswith(b"\x89PNG")
