"""The decode group (decoders.py) is only a faster way to the same results: runs with it and with every
running request walked one by one must agree exactly, and the group must actually be used."""

from __future__ import annotations

import pytest

from llmsim.runtime import instance as instance_module
from llmsim.runtime.decoders import DecodeGroup

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
