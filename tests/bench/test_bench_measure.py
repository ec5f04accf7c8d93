"""Subprocess measurement: per-child peak memory and the hard limit (no timing assertions)."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.measure import maxrss_to_mb, own_peak_rss_mb, run_measured

BIG = "b = bytearray(120_000_000); b[::4096] = b'x' * len(b[::4096])"


def test_peak_rss_of_a_child(tmp_path: Path) -> None:
    m = run_measured([sys.executable, "-c", BIG], cwd=tmp_path, stdout=tmp_path / "o", stderr=tmp_path / "e",
                     timeout_s=60)
    assert m.returncode == 0 and not m.killed
    assert m.peak_rss_mb > 100


def test_own_peak_rss_is_the_childs_own(tmp_path: Path) -> None:
    code = f"from bench.measure import own_peak_rss_mb; {BIG}; print(own_peak_rss_mb())"
    small = "from bench.measure import own_peak_rss_mb; print(own_peak_rss_mb())"
    root = str(Path(__file__).resolve().parents[2])
    values = []
    for c in (code, small):
        out = tmp_path / "o"
        m = run_measured([sys.executable, "-c", c], cwd=Path(root), stdout=out, stderr=tmp_path / "e", timeout_s=60)
        assert m.returncode == 0, (tmp_path / "e").read_text()
        values.append(float(out.read_text()))
    assert values[0] > 100
    assert values[1] < values[0] - 50  # not inherited from the parent, nor from the previous child
    assert own_peak_rss_mb() > 0


def test_hard_limit_stops_the_child(tmp_path: Path) -> None:
    m = run_measured([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, stdout=tmp_path / "o",
                     stderr=tmp_path / "e", timeout_s=0.2, grace_s=1.0)
    assert m.killed and m.returncode != 0


def test_maxrss_units() -> None:
    assert maxrss_to_mb(1000) in (1.024, 0.001)
