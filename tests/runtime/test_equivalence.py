"""Results of a fixed set of runs, pinned as digests, so that performance work cannot move them.

Each case (see `equivalence.FAST`) reduces a run to a canonical text (summary, every per-request
column, inter-token gaps, timeline, CSV rows and a digest of every batch the cost model priced);
its sha256 is compared with `golden/equivalence.txt`. A change meant to change results rewrites it
with `pytest --update-golden`; `python -m tests.runtime.equivalence compare DIR` finds the first
differing field of a case.
"""

from __future__ import annotations

from pathlib import Path

from .equivalence import FAST, all_cases, digest

GOLDEN = Path(__file__).parent / "golden" / "equivalence.txt"


def test_fast_cases_give_the_pinned_results(golden):
    cases = all_cases()
    lines = [f"{name} {digest(cases[name]())}\n" for name in FAST]
    golden.check(GOLDEN, "".join(lines))


def test_the_canonical_text_changes_when_a_result_does():
    cases = all_cases()
    text = cases["basic-sync-pc"]()
    assert text == cases["basic-sync-pc"]()  # deterministic
    assert text != cases["closed-sync-pc"]()
