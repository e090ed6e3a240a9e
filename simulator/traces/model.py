"""What a replay consumes: pods with arrival times and durations, supporting objects, faults.

A :class:`Trace` is reader-independent: the openb CSV reader, the Kubernetes dump reader and
the scenario generator all produce one. Times are seconds from the trace start (the earliest
arrival is not shifted: a trace may start later than 0).

Items are any ``Sequence[TraceItem]``. A big trace may hand the replay a :class:`LazyItems`
sequence that builds each item's Pod when it is asked for (the openb reader does), so that
100,000 pods are never all in memory at once.
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from scheduler.api.meta import KubeObject
from scheduler.api.pod import Pod, pod_key

ANNOTATION_FINISHED_AT = "tessera.io/finished-at"
ANNOTATION_DURATION = "tessera.io/duration-seconds"
ANNOTATION_CHECKPOINT = "tessera.io/checkpoint-seconds"
"""A batch pod's checkpoint interval: a preempted pod loses only the work since its last
checkpoint (see :mod:`simulator.experiments.replay`)."""


@dataclass(frozen=True, slots=True)
class TraceItem:
    """One pod of the trace.

    ``duration`` is how long it runs once bound (None = until the end of the replay).
    ``after_bound_of`` delays the pod's creation until the named pod is bound (LWS workers
    of an exclusive-topology group are created only after their leader is placed);
    ``delay`` is added to the arrival (LWS workers appear a reconcile after their leader).
    ``finish_at`` (absolute seconds) is when the pod is deleted (its controller scaled it
    down, or it finished): a running pod ends then, a pending one leaves the queue; with a
    ``duration`` too, whichever comes first ends it.
    ``waits_slot``: the pod is created only when a pod whose ``completes_slot`` is the same
    name completes, one pod per completion, in trace order (a Job's later pods).
    ``follow_topology``: on creation the pod gets ``nodeSelector {key: value}`` with the
    value of that node label on the node of ``after_bound_of`` (LWS workers of an
    exclusive-topology group follow their leader).
    """

    pod: Pod
    arrival: float
    duration: float | None = None
    finish_at: float | None = None
    after_bound_of: str | None = None
    delay: float = 0.0
    waits_slot: str | None = None
    completes_slot: str | None = None
    follow_topology: str | None = None

    @property
    def key(self) -> str:
        """``namespace/name`` of the pod."""
        return pod_key(self.pod)


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected fault: ``node`` lost at ``time``, or a device taint (``device`` set).

    ``repair_after``: seconds after ``time`` at which the node returns (with its devices) or
    the taint is removed; None = never.
    """

    time: float
    node: str | None = None
    device: tuple[str, str, str] | None = None
    key: str = "tessera.io/fault"
    value: str = ""
    effect: str = "NoExecute"
    repair_after: float | None = None


class LazyItems(Sequence[TraceItem]):
    """A trace's items built on demand: ``self[i]`` makes item ``i`` (its Pod included)
    afresh on every access. Subclasses give the count, the build, and each item's arrival
    without building it (for sorting)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def build(self, index: int) -> TraceItem:
        """Item ``index`` (a new object on every call)."""

    @abstractmethod
    def arrival(self, index: int) -> float:
        """Item ``index``'s arrival, without building it."""

    @overload
    def __getitem__(self, index: int) -> TraceItem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TraceItem]: ...

    def __getitem__(self, index: int | slice) -> TraceItem | Sequence[TraceItem]:
        if isinstance(index, slice):
            return [self.build(i) for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.build(index)

    def __iter__(self) -> Iterator[TraceItem]:
        for i in range(len(self)):
            yield self.build(i)


class ReorderedItems(LazyItems):
    """A lazy sequence seen in another order, or a subset of it (``order[i]`` = index in
    ``base``)."""

    def __init__(self, base: LazyItems, order: Sequence[int]) -> None:
        self.base = base
        self.order = order

    def __len__(self) -> int:
        return len(self.order)

    def build(self, index: int) -> TraceItem:
        return self.base.build(self.order[index])

    def arrival(self, index: int) -> float:
        return self.base.arrival(self.order[index])


@dataclass(slots=True)
class Trace:
    """Pods to replay (by arrival time, then trace order), the objects they need, and the
    faults the trace itself carries (a scenario's failures; a dump's DeviceTaintRules and
    unreachable Nodes)."""

    name: str
    items: Sequence[TraceItem]
    objects: list[KubeObject] = field(default_factory=list)
    source: str = ""
    faults: list[Fault] = field(default_factory=list)

    def sorted_items(self) -> Sequence[TraceItem]:
        """Items by arrival (stable: equal times keep trace order). A lazy sequence stays
        lazy (reordered without building its items)."""
        items = self.items
        if isinstance(items, LazyItems):
            times = [items.arrival(i) for i in range(len(items))]
            if all(a <= b for a, b in itertools.pairwise(times)):
                return items
            return ReorderedItems(items, sorted(range(len(items)), key=times.__getitem__))
        return sorted(items, key=lambda item: item.arrival)
