"""The webhook's clock: the cluster's "now", against which the API's timestamps are read.

The preemption planner weighs the work each victim would lose by how long it has run: now
minus its ``status.startTime`` (:func:`scheduler.plugins.helper.starttime.started_at`). In a
cluster that is the wall clock. A replay served over the API (``tessera replay --api-port``)
runs in virtual time and stamps its objects with it (``simulator.apiserver.clock``), far
faster than the wall clock: the simulator's sync probe therefore tells the webhook the
replay's time with each probe (``GET /sync?resourceVersion=N&time=T``, docs/extender.md,
"Playing kube-scheduler in the simulator"), and from the first such probe on the webhook's
clock is the last time it was told — virtual time does not pass between two events of a
replay.
"""

from __future__ import annotations

import threading
import time

__all__ = ["Clock"]


class Clock:
    """Seconds since the epoch: the wall clock until :meth:`tell` is called, then the time
    last told (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._told: float | None = None

    def now(self) -> float:
        """The cluster's current time."""
        with self._lock:
            told = self._told
        return time.time() if told is None else told

    def tell(self, seconds: float) -> None:
        """The cluster's time is ``seconds`` (a replay's virtual clock) from now on."""
        with self._lock:
            self._told = seconds

    @property
    def told(self) -> bool:
        """Whether the clock follows a time it was told (a replay), not the wall clock."""
        with self._lock:
            return self._told is not None
