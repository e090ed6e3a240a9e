"""The event engine: the same-time order of event kinds, insertion-order ties, the clock,
the horizon, and refusing events in the past."""

from __future__ import annotations

import pytest

from simulator.engine import (
    DeviceTaintEvent,
    Engine,
    Event,
    NodeFailure,
    PodArrival,
    PodCompletion,
    QueueTimer,
    Rank,
    Sample,
    SchedulePass,
)


def drain(engine: Engine, horizon: float | None = None) -> list[tuple[float, Event]]:
    """Pop everything (up to ``horizon``) as ``(time, event)``."""
    return [(engine.now, event) for event in engine.events(horizon)]


def test_same_time_order_is_completion_fault_arrival_timer_schedule_sample() -> None:
    """At one time: completions < faults < arrivals < timers < schedule < sample."""
    engine = Engine()
    pushed: list[Event] = [
        Sample(),
        SchedulePass(),
        QueueTimer(),
        PodArrival(0),
        DeviceTaintEvent("gpu.nvidia.com", "n0", "gpu-0", "k", "v", "NoExecute"),
        NodeFailure("n0"),
        PodCompletion(0, 0),
    ]
    for event in pushed:
        engine.push(5.0, event)
    popped = [event for _, event in drain(engine)]
    assert [type(e).__name__ for e in popped] == [
        "PodCompletion",
        "DeviceTaintEvent",
        "NodeFailure",
        "PodArrival",
        "QueueTimer",
        "SchedulePass",
        "Sample",
    ]
    # the two faults tie on rank; they keep their insertion order (taint pushed first)
    assert [int(e.rank) for e in popped] == [0, 1, 1, 2, 3, 4, 5]
    assert [r.name for r in Rank] == [
        "COMPLETION",
        "FAULT",
        "ARRIVAL",
        "TIMER",
        "SCHEDULE",
        "SAMPLE",
    ]


def test_time_first_then_rank_then_insertion_order() -> None:
    """An earlier time always wins; equal time and kind pop in insertion order."""
    engine = Engine()
    engine.push(2.0, PodCompletion(7, 0))
    engine.push(1.0, Sample())
    for index in (3, 1, 2):
        engine.push(1.0, PodArrival(index))
    popped = drain(engine)
    assert popped == [
        (1.0, PodArrival(3)),
        (1.0, PodArrival(1)),
        (1.0, PodArrival(2)),
        (1.0, Sample()),
        (2.0, PodCompletion(7, 0)),
    ]
    assert engine.processed == 5 and len(engine) == 0 and engine.peek_time() is None


def test_handlers_may_push_while_iterating_and_the_clock_advances() -> None:
    """Events pushed while iterating are popped in order; now follows the events."""
    engine = Engine()
    engine.push(0.0, PodArrival(0))
    seen = []
    for event in engine.events():
        seen.append((engine.now, type(event).__name__))
        if isinstance(event, PodArrival):
            engine.push(engine.now, SchedulePass())
            engine.push(engine.now + 60.0, Sample())
    assert seen == [(0.0, "PodArrival"), (0.0, "SchedulePass"), (60.0, "Sample")]
    assert engine.now == 60.0


def test_pushing_into_the_past_raises_naming_the_event() -> None:
    """After the clock reached t=10, an event at t=9 is refused with both times named."""
    engine = Engine()
    engine.push(10.0, QueueTimer())
    drain(engine)
    with pytest.raises(
        ValueError, match=r"PodArrival\(index=4\) at t=9.0 is before now \(t=10.0\)"
    ):
        engine.push(9.0, PodArrival(4))
    engine.push(10.0, PodArrival(4))  # the present is fine
    assert engine.peek_time() == 10.0


def test_horizon_stops_before_later_events_and_keeps_them() -> None:
    """events(horizon) pops events at or before the horizon and leaves the rest queued."""
    engine = Engine()
    for t in (1.0, 5.0, 5.0, 9.0):
        engine.push(t, Sample())
    assert [t for t, _ in drain(engine, horizon=5.0)] == [1.0, 5.0, 5.0]
    assert len(engine) == 1 and engine.peek_time() == 9.0


def test_two_engines_do_not_share_sequence_counters() -> None:
    """Each engine owns its tie-break counter (no state leaks between runs)."""
    first, second = Engine(), Engine()
    for index in range(3):
        first.push(0.0, PodArrival(index))
    second.push(0.0, PodArrival(7))
    second.push(0.0, PodArrival(8))
    assert [e for _, e in drain(second)] == [PodArrival(7), PodArrival(8)]
    assert [e for _, e in drain(first)] == [PodArrival(0), PodArrival(1), PodArrival(2)]


def test_events_are_frozen() -> None:
    """Events are immutable values."""
    event = PodCompletion(0, 1)
    with pytest.raises(AttributeError):
        event.incarnation = 2  # type: ignore[misc]
