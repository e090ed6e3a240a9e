"""Extender binds in flight: kube-scheduler's binding goroutines, for the simulator.

kube-scheduler runs each pod's binding cycle in its own goroutine, so an extender's bind may
take long — tessera's webhook holds gang members' binds open until the whole gang has asked —
while the scheduling loop goes on with the next pods. :class:`InFlightBinds` gives the
simulator the same shape: the replay submits the HTTP bind of a pod (after its PreBind) and
goes on scheduling. Binds run on a pool of threads that are reused between binds and grows
up to :data:`MAX_BINDS_IN_FLIGHT` (a small fixed pool could starve a gang whose last
member's bind waits behind the held ones; a thread per bind costs more than a loopback
request).

**Virtual time.** A bind completes at the virtual instant it was issued: before the replay's
engine takes its next event, it waits for every bind in flight (:meth:`InFlightBinds.wait`,
the *barrier*), and the results are applied in submission order, which keeps a run with a
deterministic extender deterministic. Each call is bounded by its bind entry's
``httpTimeout`` (the HTTP client's timeout, 5 s by default; a negative one means none, as in
kube-scheduler); a bind that times out fails like any other failed bind. Consequently a bind
the extender holds until some *later* event (a pod created at a later virtual time) can only
end by the extender's own deadline or the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from scheduler.framework.status import Status

__all__ = ["MAX_BINDS_IN_FLIGHT", "DoneBind", "InFlightBinds"]

MAX_BINDS_IN_FLIGHT = 1024
"""Binds running at once; more wait for a thread (a bind hold of more pods than this would
need a larger pool)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DoneBind(Generic[T]):
    """A finished bind: the caller's ticket, the outcome and its wall seconds."""

    ticket: T
    status: Status
    seconds: float


class InFlightBinds(Generic[T]):
    """Binds running on binding threads until the barrier (see the module docstring)."""

    def __init__(self, max_in_flight: int = MAX_BINDS_IN_FLIGHT) -> None:
        self._flight: list[tuple[T, Future[tuple[Status, float]]]] = []
        self._max = max_in_flight
        self._pool: ThreadPoolExecutor | None = None
        self.submitted = 0
        self.wall_seconds = 0.0
        """Wall time the barrier spent waiting, in total."""

    def __len__(self) -> int:
        return len(self._flight)

    def submit(self, ticket: T, call: Callable[[], Status]) -> None:
        """Run ``call`` (an extender bind) on a binding thread; its outcome is kept with
        ``ticket`` until :meth:`wait`. An exception from ``call`` becomes an ERROR status."""

        def run() -> tuple[Status, float]:
            start = time.perf_counter()
            try:
                status = call()
            except Exception as exc:  # a crashed bind is a failed bind
                status = Status.error(f"extender bind: {type(exc).__name__}: {exc}")
            return status, time.perf_counter() - start

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max, thread_name_prefix="extender-bind")
        self._flight.append((ticket, self._pool.submit(run)))
        self.submitted += 1

    def close(self) -> None:
        """Let the binding threads go (binds in flight finish on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def wait(self) -> list[DoneBind[T]]:
        """The barrier: wait for every bind in flight; their outcomes in submission order."""
        if not self._flight:
            return []
        start = time.perf_counter()
        flight, self._flight = self._flight, []
        done = []
        for ticket, future in flight:
            status, seconds = future.result()
            done.append(DoneBind(ticket, status, seconds))
        self.wall_seconds += time.perf_counter() - start
        return done
