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

**SchedulerPopFromBackoffQ** (``pop_from_backoff=True``; kube-scheduler's feature gate, beta
and on by default since 1.33, KEP-5142). Upstream, with the gate on
(``pkg/scheduler/backend/queue/backoff_queue.go`` and ``active_queue.go``):

* a pod's backoff expiry is truncated to a whole-second ordering window
  (``alignToWindow``), and it is still backing off while that expiry is not before the
  current window (``isPodBackingoff``: ``!expiry.Before(alignToWindow(now))``), so the
  once-a-second flush moves it at the first whole second after its expiry's window;
* backoffQ is ordered by that expiry, then as activeQ (priority, then the time the pod last
  failed) (``lessBackoffCompletedWithPriority``);
* when activeQ is empty, ``Pop`` takes the head of backoffQ at once, backing off or not
  (``popBackoff``) — but never a pod backing off after an error (``podErrorBackoffQ`` keeps
  the plain expiry order and waits out its backoff).

So an idle scheduler retries a pod a cluster event moved without waiting out its backoff.
Replays turn it on by default (``ReplayConfig.pop_from_backoff``);
``replay --no-pop-from-backoff`` runs the queue as it was before 1.33. The class itself
defaults to off, the plain queue.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

from scheduler.framework.podinfo import PodInfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE = 300.0
ORDERING_WINDOW = 1.0
"""Seconds of backoffQ's ordering window with SchedulerPopFromBackoffQ
(``backoffQOrderingWindowDuration``)."""


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
        pop_from_backoff: bool = False,
    ) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.pop_from_backoff = pop_from_backoff
        """SchedulerPopFromBackoffQ (see the module docstring)."""
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, float, int, str]] = []
        """(expiry, -priority, failed_at, seq, key) of pods backing off after an
        unschedulable attempt (priority and failed_at are 0 without pop_from_backoff: expiry
        then insertion order)."""
        self._error_backoff: list[tuple[float, int, float, int, str]] = []
        """With pop_from_backoff, the same for pods backing off after an error (expiry, then
        insertion order; their place is ``error-backoff``); without, they share
        ``_backoff``."""
        self._backoff_heaps = ((self._backoff, "backoff"), (self._error_backoff, "error-backoff"))
        """Each backoff heap with the place (``_where``) of its live entries, unschedulable
        first (upstream's ``popAllBackoffCompleted`` order)."""
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
    def _to_active(self, pod: QueuedPod, now: float, *, first: bool = False) -> None:
        """Into activeQ, stamped ``now``; ``first`` puts it ahead of every pod of its
        priority already there (see :meth:`requeue_active`)."""
        pod.timestamp = now
        self._where[pod.key] = "active"
        rank = -math.inf if first else now
        heapq.heappush(self._active, (-pod.info.priority, rank, next(self._seq), pod.key))

    def _expiry(self, pod: QueuedPod) -> float:
        """When the pod's backoff expires: its backoff end, truncated to the ordering window
        with pop_from_backoff (upstream ``getBackoffTime``)."""
        until = pod.backoff_until(self.initial_backoff, self.max_backoff)
        if self.pop_from_backoff and pod.attempts:
            return math.floor(until / ORDERING_WINDOW) * ORDERING_WINDOW
        return until

    def _backing_off(self, expiry: float, now: float) -> bool:
        """Whether a pod whose backoff expires at ``expiry`` still backs off at ``now``
        (with pop_from_backoff: while the expiry is not before the current window)."""
        if self.pop_from_backoff:
            return expiry >= math.floor(now / ORDERING_WINDOW) * ORDERING_WINDOW
        return expiry > now

    def _done_at(self, expiry: float) -> float:
        """The first instant a pod whose backoff expires at ``expiry`` is no longer backing
        off (with pop_from_backoff: the start of the next window)."""
        return expiry + ORDERING_WINDOW if self.pop_from_backoff else expiry

    def _to_backoff(self, pod: QueuedPod, *, error: bool = False) -> None:
        expiry = self._expiry(pod)
        if error and self.pop_from_backoff:  # kept apart only where it changes the order
            self._where[pod.key] = "error-backoff"
            heapq.heappush(self._error_backoff, (expiry, 0, 0.0, next(self._seq), pod.key))
            return
        self._where[pod.key] = "backoff"
        rank, failed = (-pod.info.priority, pod.failed_at) if self.pop_from_backoff else (0, 0.0)
        heapq.heappush(self._backoff, (expiry, rank, failed, next(self._seq), pod.key))

    def _live_backoff(self, heap: list[tuple[float, int, float, int, str]], place: str) -> bool:
        """Drop stale entries at the top of a backoff heap; whether a live one is left."""
        while heap:
            if self._where.get(heap[0][4]) == place:
                return True
            heapq.heappop(heap)
        return False

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
        """The head of activeQ (after moving expired backoffs), removed from the queue; with
        pop_from_backoff and activeQ empty, the head of backoffQ (never an errored pod)."""
        self.flush(now)
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) != "active":
                continue  # stale heap entry
            return self._take(key)
        if self.pop_from_backoff and self._live_backoff(self._backoff, "backoff"):
            key = heapq.heappop(self._backoff)[4]
            return self._take(key)
        return None

    def _take(self, key: str) -> QueuedPod:
        pod = self._pods.pop(key)
        del self._where[key]
        return pod

    def requeue_unschedulable(self, pod: QueuedPod, now: float) -> None:
        """After a failed attempt: park the pod until a cluster event or the flush."""
        pod.attempts += 1
        pod.failed_at = now
        self._pods[pod.key] = pod
        self._where[pod.key] = "unschedulable"
        self.unschedulable[pod.key] = pod
        heapq.heappush(self._parked, (now, next(self._seq), pod.key))

    def requeue_active(self, pod: QueuedPod, now: float) -> None:
        """After a failed attempt that preempted victims: retry first among its priority.

        kube-scheduler nominates the preemptor to the node its victims free, and counts a
        nominated pod on that node when it filters any pod of equal or lower priority
        (``RunFilterPluginsWithNominatedPods``): only a higher-priority pod may take the
        room first. The replay evicts victims at once, so retrying the preemptor before
        every pod of its priority already waiting (those of higher priority still come
        first) gives it the room it nominated, as upstream.
        """
        pod.attempts += 1
        pod.failed_at = now
        self._pods[pod.key] = pod
        self._to_active(pod, now, first=True)

    def requeue_error(self, pod: QueuedPod, now: float) -> None:
        """After an error: retry after the backoff."""
        pod.attempts += 1
        pod.failed_at = now
        self._pods[pod.key] = pod
        self._to_backoff(pod, error=True)

    def move_all(self, now: float) -> int:
        """A cluster event that may help: unschedulable pods go to active or backoff."""
        moved = list(self.unschedulable.values())
        self.unschedulable.clear()
        self._parked.clear()
        for pod in moved:
            if self._backing_off(self._expiry(pod), now):
                self._to_backoff(pod)
            else:
                self._to_active(pod, now)
        return len(moved)

    def flush(self, now: float) -> None:
        """Expired backoffs to activeQ (unschedulable ones, then errored ones); pods
        unschedulable for too long back to the queues."""
        for heap, place in self._backoff_heaps:
            while self._live_backoff(heap, place) and not self._backing_off(heap[0][0], now):
                self._to_active(self._pods[heapq.heappop(heap)[4]], now)
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
        parked = self._parked
        while parked:
            failed_at, _, key = parked[0]
            pod = self.unschedulable.get(key)
            if pod is not None and pod.failed_at == failed_at:
                break
            heapq.heappop(parked)
        times = [
            self._done_at(heap[0][0])
            for heap, place in self._backoff_heaps
            if self._live_backoff(heap, place)
        ]
        if parked:
            times.append(parked[0][0] + self.max_unschedulable)
        return min(times) if times else None

    @property
    def has_active(self) -> bool:
        """Whether activeQ holds at least one live entry."""
        return any(self._where.get(key) == "active" for *_, key in self._active)
