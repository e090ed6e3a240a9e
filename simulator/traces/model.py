"""What a replay consumes: pods with arrival times and durations, plus supporting objects.

A :class:`Trace` is reader-independent: the openb CSV reader and the Kubernetes dump reader
both produce one. Times are seconds from the trace start (the earliest arrival is not
shifted: a trace may start later than 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.api.meta import KubeObject
from scheduler.api.pod import Pod

ANNOTATION_FINISHED_AT = "tessera.io/finished-at"
ANNOTATION_DURATION = "tessera.io/duration-seconds"


@dataclass(frozen=True, slots=True)
class TraceItem:
    """One pod of the trace.

    ``duration`` is how long it runs once bound (None = until the end of the replay).
    ``after_bound_of`` delays the pod's creation until the named pod is bound (LWS workers
    of an exclusive-topology group are created only after their leader is placed);
    ``delay`` is added to the arrival (LWS workers appear a reconcile after their leader).
    ``finish_at`` (absolute seconds) ends the pod at that time instead of after ``duration``.
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
        return f"{self.pod.metadata.namespace or 'default'}/{self.pod.metadata.name or ''}"


@dataclass(slots=True)
class Trace:
    """Pods to replay (by arrival time, then trace order) and the objects they need."""

    name: str
    items: list[TraceItem]
    objects: list[KubeObject] = field(default_factory=list)
    source: str = ""

    def sorted_items(self) -> list[TraceItem]:
        """Items by arrival (stable: equal times keep trace order)."""
        return sorted(self.items, key=lambda item: item.arrival)
