"""The discrete-event engine: a heap of ``(time, kind rank, seq, event)``.

* ``time`` is virtual seconds (float);
* ``kind rank`` fixes the order of events at the same time: completions and faults first
  (they free or remove capacity), then arrivals, then queue timers, then the scheduling
  pass — so a pod finishing at t frees its GPUs before a pod arriving at t is scheduled;
* ``seq`` comes from a counter the engine instance owns (never global), so ties are broken
  by insertion order and two runs with the same inputs pop events in the same order.

Events are frozen dataclasses; the engine never inspects them beyond their ``rank``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar


class Rank(IntEnum):
    """Same-time order of event kinds (lower first)."""

    COMPLETION = 0
    FAULT = 1
    ARRIVAL = 2
    TIMER = 3
    SCHEDULE = 4
    SAMPLE = 5


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events; subclasses set ``rank``."""

    rank: ClassVar[Rank] = Rank.TIMER


@dataclass(frozen=True, slots=True)
class PodArrival(Event):
    """A pod (by trace index) is created."""

    rank: ClassVar[Rank] = Rank.ARRIVAL
    index: int


@dataclass(frozen=True, slots=True)
class PodCompletion(Event):
    """A running pod (by trace index) finishes its work; ``incarnation`` guards against a
    stale completion of a pod that was evicted and rescheduled since."""

    rank: ClassVar[Rank] = Rank.COMPLETION
    index: int
    incarnation: int


@dataclass(frozen=True, slots=True)
class PodDeletion(Event):
    """A pod (by trace index) is deleted at its ``finish_at``: its controller scaled it
    down. Running, it ends; pending, it leaves the queue; not created yet, it never is."""

    rank: ClassVar[Rank] = Rank.COMPLETION
    index: int


@dataclass(frozen=True, slots=True)
class NodeFailure(Event):
    """A node is lost: its pods are evicted and it leaves the cluster."""

    rank: ClassVar[Rank] = Rank.FAULT
    node: str


@dataclass(frozen=True, slots=True)
class DeviceTaintEvent(Event):
    """A device gets a taint; NoExecute evicts the pods using it."""

    rank: ClassVar[Rank] = Rank.FAULT
    driver: str
    pool: str
    device: str
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class NodeRepair(Event):
    """A lost node returns (with its devices), empty."""

    rank: ClassVar[Rank] = Rank.FAULT
    node: str


@dataclass(frozen=True, slots=True)
class DeviceRepair(Event):
    """A device's fault taint is removed: the device is in service again."""

    rank: ClassVar[Rank] = Rank.FAULT
    driver: str
    pool: str
    device: str
    key: str


@dataclass(frozen=True, slots=True)
class QueueTimer(Event):
    """The scheduling queue's backoff / unschedulable-flush timer."""

    rank: ClassVar[Rank] = Rank.TIMER


@dataclass(frozen=True, slots=True)
class SchedulePass(Event):
    """Run scheduling cycles until the active queue is empty."""

    rank: ClassVar[Rank] = Rank.SCHEDULE


@dataclass(frozen=True, slots=True)
class Sample(Event):
    """Record a timeline row (once per simulated minute)."""

    rank: ClassVar[Rank] = Rank.SAMPLE


class Engine:
    """The event heap and the virtual clock."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Event]] = []
        self._seq = itertools.count()
        self.now = 0.0
        self.processed = 0
        self.world_pending = 0
        """Queued events that change the world (completions, faults, arrivals)."""
        self.barrier: Callable[[], None] | None = None
        """Called before every event is taken, and once more when none is left (it may push
        events): the replay waits here for extender binds in flight, so that they complete
        at the virtual instant they were issued."""

    def push(self, time: float, event: Event) -> None:
        """Schedule ``event`` at ``time`` (never in the past)."""
        if time < self.now:
            raise ValueError(f"event {event!r} at t={time} is before now (t={self.now})")
        heapq.heappush(self._heap, (time, int(event.rank), next(self._seq), event))
        if event.rank <= Rank.ARRIVAL:
            self.world_pending += 1

    def __len__(self) -> int:
        return len(self._heap)

    def peek_time(self) -> float | None:
        """Time of the next event, or None when the heap is empty."""
        return self._heap[0][0] if self._heap else None

    def events(self, horizon: float | None = None) -> Iterator[Event]:
        """Pop events in order, advancing ``now``; stops at the horizon or when empty.

        Handlers may push new events while iterating; so may the :attr:`barrier`.
        """
        while True:
            if self.barrier is not None:
                self.barrier()
            if not self._heap:
                return
            time = self._heap[0][0]
            if horizon is not None and time > horizon:
                return
            time, rank, _, event = heapq.heappop(self._heap)
            if rank <= Rank.ARRIVAL:
                self.world_pending -= 1
            self.now = time
            self.processed += 1
            yield event
