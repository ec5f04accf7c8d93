import pytest

from llmsim.runtime.engine import PRIO_ARRIVAL, PRIO_STEP_END, PRIO_STEP_START, Engine


class Unorderable:
    """Arguments the engine must never compare."""

    def __lt__(self, other):
        raise AssertionError("events compared")

    __gt__ = __le__ = __ge__ = __lt__


def test_orders_by_time_then_priority_then_insertion():
    engine = Engine()
    seen = []

    def note(now, arg):
        seen.append((now, arg))

    engine.at(10, PRIO_STEP_START, note, "start@10")
    engine.at(10, PRIO_ARRIVAL, note, "arrival@10 a")
    engine.at(5, PRIO_STEP_START, note, "start@5")
    engine.at(10, PRIO_STEP_END, note, "end@10")
    engine.at(10, PRIO_ARRIVAL, note, "arrival@10 b")
    engine.run()
    assert seen == [
        (5, "start@5"),
        (10, "end@10"),
        (10, "arrival@10 a"),
        (10, "arrival@10 b"),
        (10, "start@10"),
    ]
    assert engine.events == 5
    assert engine.now == 10


def test_never_compares_events():
    engine = Engine()
    calls = []
    for _ in range(50):
        engine.at(7, PRIO_ARRIVAL, lambda now, arg: calls.append(arg), Unorderable())
    engine.run()
    assert len(calls) == 50


def test_callbacks_may_schedule_at_the_current_time_but_not_before():
    engine = Engine()
    seen = []

    def first(now, _):
        seen.append("first")
        engine.at(now, PRIO_STEP_START, lambda n, a: seen.append("same time"))
        with pytest.raises(AssertionError):
            engine.at(now - 1, PRIO_STEP_START, lambda n, a: None)

    engine.at(3, PRIO_ARRIVAL, first)
    engine.run()
    assert seen == ["first", "same time"]


def test_run_until_leaves_later_events_pending():
    engine = Engine()
    seen = []
    for t in (1, 2, 3, 4):
        engine.at(t, PRIO_ARRIVAL, lambda now, arg: seen.append(now))
    engine.run(until_ns=2)
    assert seen == [1, 2] and len(engine) == 2
    engine.run()
    assert seen == [1, 2, 3, 4]


def test_claim_takes_an_event_only_when_run_would_process_it_next():
    engine = Engine()
    taken = []

    def step(now, _):
        # an event of its own at now + 5 (sequence returned by `at`), run here if nothing comes first
        seq = engine.at(now + 5, PRIO_STEP_END, lambda t, a: None)
        if engine.claim(seq):
            taken.append(engine.now)

    engine.at(0, PRIO_STEP_START, step)
    engine.at(5, PRIO_ARRIVAL, lambda t, a: None)  # same time, later priority: the claim stands
    engine.at(12, PRIO_STEP_START, step)  # 17 is past the limit: left to the heap
    engine.run(until_ns=16)
    assert taken == [5]
    assert engine.events == 4  # step@0, its claimed end@5, arrival@5, step@12
    assert engine.limit == -1 and len(engine) == 1


def test_claim_refuses_an_event_with_an_earlier_one_due():
    engine = Engine()
    results = []

    def step(now, _):
        seq = engine.at(now + 5, PRIO_STEP_END, lambda t, a: None)
        results.append(engine.claim(seq))

    engine.at(0, PRIO_STEP_START, step)
    engine.at(3, PRIO_ARRIVAL, lambda t, a: None)
    engine.run()
    assert results == [False]
    assert engine.events == 3 and engine.now == 5


def test_claim_outside_run_never_takes():
    engine = Engine()
    seq = engine.at(1, PRIO_STEP_END, lambda t, a: None)
    assert not engine.claim(seq)
    assert len(engine) == 1
