"""The decode group (decoders.py) is only a faster way to the same results: runs with it and with every
running request walked one by one must agree exactly, and the group must actually be used."""

from __future__ import annotations

import pytest

from llmsim.runtime import instance as instance_module
from llmsim.runtime.decoders import DecodeGroup
from llmsim.runtime.engine import Engine

from .equivalence import MS, _basic

CASES = {
    "sync": {},
    "async": {"async_scheduling": True},
    "prefix-tiny-kv": {"prefix_caching": True, "num_kv_blocks": 40, "gap": MS},
    "async-prefix-tiny-kv": {"prefix_caching": True, "num_kv_blocks": 40, "gap": MS, "async_scheduling": True},
    "debug": {"sim": {"debug": True}, "prefix_caching": True, "num_kv_blocks": 60, "async_scheduling": True},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_group_gives_the_results_of_the_walk(name: str, monkeypatch: pytest.MonkeyPatch):
    joined = []
    join = DecodeGroup.join

    def counting_join(self: DecodeGroup, r) -> None:
        joined.append(r.rid)
        join(self, r)

    with monkeypatch.context() as m:
        m.setattr(DecodeGroup, "join", counting_join)
        grouped = _basic(31, **CASES[name])
    assert joined, "no request ever joined a decode group"
    with monkeypatch.context() as m:
        m.setattr(instance_module, "DecodeGroup", lambda block_size: None)  # every plan walks
        walked = _basic(31, **CASES[name])
    assert grouped == walked


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.get("async_scheduling") and "sim" not in c))
def test_coasting_gives_the_results_of_an_event_per_step(name: str, monkeypatch: pytest.MonkeyPatch):
    """`Instance._coast` runs group steps back to back without an event each; refusing every claim
    makes every step end through the engine instead, and nothing may change."""
    claimed = []
    claim = Engine.claim

    def counting_claim(self: Engine, seq: int) -> bool:
        ok = claim(self, seq)
        claimed.append(ok)
        return ok

    with monkeypatch.context() as m:
        m.setattr(Engine, "claim", counting_claim)
        coasted = _basic(31, **CASES[name])
    assert any(claimed), "no step ended inside the coasting loop"
    with monkeypatch.context() as m:
        m.setattr(Engine, "claim", lambda self, seq: False)
        stepped = _basic(31, **CASES[name])
    assert coasted == stepped
