"""The scheduling queue, with kube-scheduler's behaviour.

Four sub-queues, as in ``pkg/scheduler/backend/queue``:

* **activeQ** — pods ready to be tried, ordered like PrioritySort: higher priority first,
  then the earlier enqueue time (ties by insertion order);
* **backoffQ** — pods that failed and wait out their backoff: ``initial x 2^(attempts-1)``
  seconds, capped (defaults 1 s and 10 s, ``podInitialBackoffSeconds`` /
  ``podMaxBackoffSeconds``);
* **gated** — pods a PreEnqueue plugin held back (scheduling gates); they never reach
  activeQ here, since nothing updates a replayed pod (upstream: until an update lifts the
  gates);
* **unschedulable** — pods no node could take. A cluster event that may free room (a pod
  deleted or finished, a node added, a claim deallocated) moves them back: to activeQ if
  their backoff has passed, else to backoffQ. A pod left there longer than
  ``podMaxInUnschedulablePodsDuration`` (5 min) is moved back by the periodic flush.

What waits for what (kube-scheduler's queueing hints, which move only the pods an event
may help, are not modelled per plugin: every event that frees room moves every unschedulable
pod, as with hints disabled). The replay (:mod:`simulator.experiments.replay`) adds two
things on top, so that a pod is never retried when nothing could have changed:

* a pod whose failure is *final* (a status no cluster event can change: a claim needing a
  DRA feature gate the cluster has off, :mod:`scheduler.dra.feature_check`) is not
  requeued at all — it fails once and is counted per reason (``pods_unplaceable``);
* once no world event is queued and every pending pod has failed since the last change
  (the scheduler is deterministic), the queue's timers stop: the rest stays pending.

Errors (``Status.ERROR``) go to backoffQ and are retried after the backoff, as upstream.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from scheduler.framework.podinfo import PodInfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE = 300.0


@dataclass(slots=True)
class QueuedPod:
    """A pod in the queue with its bookkeeping (kube-scheduler's QueuedPodInfo)."""

    info: PodInfo
    timestamp: float
    first_enqueued: float
    attempts: int = 0
    failed_at: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``namespace/name`` of the pod."""
        return self.info.key

    def backoff_until(self, initial: float, cap: float) -> float:
        """When this pod's backoff after its last failure ends.

        The backoff doubles per failed attempt from ``initial`` up to ``cap`` (upstream
        calculateBackoffDuration); the exponent is bounded so a long-starving pod cannot
        overflow.
        """
        if self.attempts == 0:
            return self.failed_at
        doublings = min(self.attempts - 1, 64)
        return self.failed_at + min(initial * 2.0**doublings, cap)


class SchedulingQueue:
    """activeQ / backoffQ / unschedulable pods (see the module docstring)."""

    def __init__(
        self,
        *,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        max_unschedulable: float = MAX_UNSCHEDULABLE,
    ) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._parked: list[tuple[float, int, str]] = []
        """(failed_at, seq, key) of unschedulable pods; entries go stale when the pod leaves
        ``unschedulable`` (checked against its ``failed_at``)."""
        self._pods: dict[str, QueuedPod] = {}
        self._where: dict[str, str] = {}
        self.unschedulable: dict[str, QueuedPod] = {}
        self.gated: dict[str, QueuedPod] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def __contains__(self, key: str) -> bool:
        return key in self._pods

    def get(self, key: str) -> QueuedPod | None:
        """A queued pod by key (in any sub-queue)."""
        return self._pods.get(key)

    def pending(self) -> list[QueuedPod]:
        """Every pod waiting in any sub-queue (insertion order of the pods dict)."""
        return list(self._pods.values())

    # -- adding and moving -------------------------------------------------------------------------
    def _to_active(self, pod: QueuedPod, now: float) -> None:
        pod.timestamp = now
        self._where[pod.key] = "active"
        heapq.heappush(self._active, (-pod.info.priority, now, next(self._seq), pod.key))

    def _to_backoff(self, pod: QueuedPod) -> None:
        self._where[pod.key] = "backoff"
        until = pod.backoff_until(self.initial_backoff, self.max_backoff)
        heapq.heappush(self._backoff, (until, next(self._seq), pod.key))

    def add(self, info: PodInfo, now: float) -> QueuedPod:
        """A new pending pod goes to activeQ."""
        pod = QueuedPod(info, now, now)
        self._pods[info.key] = pod
        self._to_active(pod, now)
        return pod

    def add_gated(self, info: PodInfo, now: float) -> QueuedPod:
        """A new pending pod that PreEnqueue rejected: kept (pending) but never tried."""
        pod = QueuedPod(info, now, now)
        self._pods[info.key] = pod
        self._where[info.key] = "gated"
        self.gated[info.key] = pod
        return pod

    def pop(self, now: float) -> QueuedPod | None:
        """The head of activeQ (after moving expired backoffs), removed from the queue."""
        self.flush(now)
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) != "active":
                continue  # stale heap entry
            pod = self._pods.pop(key)
            del self._where[key]
            return pod
        return None

    def requeue_unschedulable(self, pod: QueuedPod, now: float) -> None:
        """After a failed attempt: park the pod until a cluster event or the flush."""
        pod.attempts += 1
        pod.failed_at = now
        self._pods[pod.key] = pod
        self._where[pod.key] = "unschedulable"
        self.unschedulable[pod.key] = pod
        heapq.heappush(self._parked, (now, next(self._seq), pod.key))

    def requeue_active(self, pod: QueuedPod, now: float) -> None:
        """After a failed attempt that preempted victims: retry right away.

        kube-scheduler nominates the preemptor to the node its victims free, and lower
        priority pods may not use it meanwhile; retrying the preemptor at once, ahead of the
        victims' replacements (it has the higher priority), has the same effect here.
        """
        pod.attempts += 1
        pod.failed_at = now
        self._pods[pod.key] = pod
        self._to_active(pod, now)

    def requeue_error(self, pod: QueuedPod, now: float) -> None:
        """After an error: retry after the backoff."""
        pod.attempts += 1
        pod.failed_at = now
        self._pods[pod.key] = pod
        self._to_backoff(pod)

    def move_all(self, now: float) -> int:
        """A cluster event that may help: unschedulable pods go to active or backoff."""
        moved = list(self.unschedulable.values())
        self.unschedulable.clear()
        self._parked.clear()
        for pod in moved:
            if pod.backoff_until(self.initial_backoff, self.max_backoff) <= now:
                self._to_active(pod, now)
            else:
                self._to_backoff(pod)
        return len(moved)

    def flush(self, now: float) -> None:
        """Expired backoffs to activeQ; pods unschedulable for too long back to the queues."""
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            pod = self._pods.get(key)
            if pod is not None and self._where.get(key) == "backoff":
                self._to_active(pod, now)
        while self._parked and now - self._parked[0][0] >= self.max_unschedulable:
            failed_at, _, key = heapq.heappop(self._parked)
            pod = self.unschedulable.get(key)
            if pod is not None and pod.failed_at == failed_at:
                del self.unschedulable[key]
                self._to_active(pod, now)

    def remove(self, key: str) -> QueuedPod | None:
        """Drop a pod from whichever sub-queue holds it (it was deleted)."""
        pod = self._pods.pop(key, None)
        self._where.pop(key, None)
        self.unschedulable.pop(key, None)
        self.gated.pop(key, None)
        return pod

    def next_timer(self) -> float | None:
        """When the queue next needs :meth:`flush` (a backoff ends or a pod goes stale).

        Stale heap entries at the top are dropped here, so the answer costs O(log n)
        amortised rather than a scan of every waiting pod.
        """
        backoff = self._backoff
        while backoff and self._where.get(backoff[0][2]) != "backoff":
            heapq.heappop(backoff)
        parked = self._parked
        while parked:
            failed_at, _, key = parked[0]
            pod = self.unschedulable.get(key)
            if pod is not None and pod.failed_at == failed_at:
                break
            heapq.heappop(parked)
        times = []
        if backoff:
            times.append(backoff[0][0])
        if parked:
            times.append(parked[0][0] + self.max_unschedulable)
        return min(times) if times else None

    @property
    def has_active(self) -> bool:
        """Whether activeQ holds at least one live entry."""
        return any(self._where.get(key) == "active" for *_, key in self._active)
