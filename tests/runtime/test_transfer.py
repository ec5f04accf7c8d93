"""Transfers over links: exact uncontended time, equal sharing, re-timing as transfers come and go."""

from fractions import Fraction

import pytest

from llmsim.runtime.engine import Engine
from llmsim.runtime.spec import LinkSpec
from llmsim.runtime.transfer import TransferNetwork, transfer_ns

GB = 1_000_000_000


def run(spec: LinkSpec, starts: list[tuple[int, int, int]], links: int = 1):
    """Transfers (start_ns, bytes, link index) on `links` links of kind `spec`; their done times."""
    engine = Engine()
    net = TransferNetwork(engine)
    ls = [net.link(f"l{i}", spec, "g") for i in range(links)]
    done: dict[int, int] = {}
    for k, (t0, nbytes, li) in enumerate(starts):
        engine.at(t0, 1, lambda now, a: net.start(now, (ls[a[1]],), a[2], lambda t, kk: done.__setitem__(kk, t), a[0]),
                  (k, li, nbytes))
    engine.run()
    net.finish(engine.now)
    return done, ls


def test_an_uncontended_transfer_takes_bytes_over_bandwidth_plus_latency():
    spec = LinkSpec("ib", 50 * GB, latency_ns=5_000)
    done, (link,) = run(spec, [(1_000, 131_072_000, 0)])
    assert done[0] - 1_000 == 5_000 + 2_621_440 == transfer_ns(131_072_000, spec)
    assert link.bytes == 131_072_000 and link.transfers == 1 and link.busy_ns == 2_621_440


def test_time_rounds_up_to_whole_nanoseconds():
    spec = LinkSpec("slow", 3, latency_ns=0)  # 3 bytes per second
    done, _ = run(spec, [(0, 1, 0)])
    assert done[0] == 333_333_334 == transfer_ns(1, spec)
    assert transfer_ns(7, LinkSpec("f", Fraction(7, 2))) == 2 * GB


def test_transfers_on_one_link_share_its_bandwidth_equally():
    spec = LinkSpec("l", GB, latency_ns=100)  # 1 byte per ns
    done, _ = run(spec, [(0, 1000, 0), (0, 1000, 0)])
    assert done == {0: 2100, 1: 2100}  # each at half speed, then the latency


def test_a_later_transfer_slows_the_first_and_speeds_up_when_it_leaves():
    spec = LinkSpec("l", GB)  # 1 byte per ns
    # A: 1000 bytes from 0; B: 200 bytes from 400. A moves alone until 400 (600 bytes left); then
    # both at half speed: B is done at 800, A has 400 bytes left, which it moves alone by 1200.
    done, (link,) = run(spec, [(0, 1000, 0), (400, 200, 0)])
    assert done[1] == 800
    assert done[0] == 1200  # 400 + 200 bytes by 800, then 400 bytes alone
    assert link.busy_ns == 1200 and link.bytes == 1200


def test_transfers_on_different_links_do_not_contend():
    spec = LinkSpec("l", GB)
    done, _ = run(spec, [(0, 1000, 0), (0, 1000, 1)], links=2)
    assert done == {0: 1000, 1: 1000}


def test_a_transfer_moves_at_its_smallest_share():
    engine = Engine()
    net = TransferNetwork(engine)
    a, b = net.link("a", LinkSpec("a", GB), "g"), net.link("b", LinkSpec("b", GB, latency_ns=7), "g")
    done: dict[str, int] = {}
    net.start(0, (a, b), 1000, lambda t, k: done.__setitem__(k, t), "ab")  # shares a with x
    net.start(0, (a,), 1000, lambda t, k: done.__setitem__(k, t), "x")
    engine.run()
    # Both get half of `a` until 2000; `ab` also waits for b's latency (the largest on its path).
    assert done == {"x": 2000, "ab": 2007}


def test_zero_bytes_cost_only_the_latency():
    done, _ = run(LinkSpec("l", GB, latency_ns=42), [(10, 0, 0)])
    assert done[0] == 52


def test_link_specs_refuse_nonsense():
    with pytest.raises(ValueError):
        LinkSpec("l", 0)
    with pytest.raises(ValueError):
        LinkSpec("l", 1, latency_ns=-1)
