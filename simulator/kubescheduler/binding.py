"""Extender binds in flight: kube-scheduler's binding goroutines, for the simulator.

kube-scheduler runs each pod's binding cycle in its own goroutine, so an extender's bind may
take long — tessera's webhook holds gang members' binds open until the whole gang has asked —
while the scheduling loop goes on with the next pods. :class:`InFlightBinds` gives the
simulator the same shape: the replay submits the HTTP bind of a pod (after its PreBind) and
goes on scheduling. Binds run on a pool of threads that are reused between binds and grows
up to :data:`MAX_BINDS_IN_FLIGHT` (a small fixed pool could starve a gang whose last
member's bind waits behind the held ones; a thread per bind costs more than a loopback
request).

**Virtual time.** Before the replay's engine takes its next event it runs the *barrier*
(:meth:`InFlightBinds.wait`): each bind submitted since the last barrier gets a settle window
of :data:`BIND_SETTLE_SECONDS` wall seconds to finish, and every bind finished by then
completes at the current virtual instant — results applied in submission order, so a run
whose extender answers every bind promptly is deterministic. A bind still in flight after
its window is *held* (tessera's webhook holds a gang member's bind until its whole gang has
asked): the engine goes on with later events while it runs, as kube-scheduler's scheduling
loop does while a binding goroutine waits — the gang's other members may only be retried
after a backoff, which takes virtual time. A held bind completes at the first barrier that
finds it finished, but never later than its *due* time, its issue plus the bind entry's
``httpTimeout`` (the HTTP client's timeout, 5 s by default; a negative one means none, as in
kube-scheduler): before the engine passes that instant the barrier waits for the bind, which
ends by the extender's own deadline or the timeout (a timed-out bind fails like any other).
When no event is left the barrier waits for every bind.

**Stragglers.** A held bind usually ends because of a new one: the gang's last member asks,
and the webhook answers every held member at once. Their replies reach the binding threads
within milliseconds of each other but in no set order, so the barrier that waited for the
last member's (new) bind could find the others not quite finished and leave them to the
next barrier — which, when no event follows for a while, comes many virtual seconds later,
although kube-scheduler's binding goroutines would all have returned at that instant. So
once a barrier has seen a new bind finish, it also gives the held binds
:data:`BIND_STRAGGLER_SECONDS` wall seconds to finish, again after each one that does, and
completes those that did at the current instant. How long a held bind lasts in
virtual time depends on wall-clock timing, so a replay with held binds is reproducible only
up to that timing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Generic, TypeVar

from scheduler.framework.status import Status

__all__ = [
    "BIND_SETTLE_SECONDS",
    "BIND_STRAGGLER_SECONDS",
    "MAX_BINDS_IN_FLIGHT",
    "DoneBind",
    "InFlightBinds",
]

MAX_BINDS_IN_FLIGHT = 1024
"""Binds running at once; more wait for a thread (a bind hold of more pods than this would
need a larger pool)."""

BIND_SETTLE_SECONDS = 2.0
"""Wall seconds a new bind may take and still complete at the virtual instant it was issued
(a bind that the extender answers at once takes milliseconds; a held one takes until its
gang is complete)."""

BIND_STRAGGLER_SECONDS = 0.1
"""Wall seconds a barrier that saw a new bind finish waits for held binds to finish too (the
other members of a gang the new bind completed: see the module docstring)."""

T = TypeVar("T")


@dataclass(slots=True)
class _Flight(Generic[T]):
    """A bind in flight: its ticket, its future, its due virtual time, and whether a barrier
    has given it its settle window yet."""

    ticket: T
    future: Future[tuple[Status, float]]
    due: float
    settled: bool = False


@dataclass(frozen=True, slots=True)
class DoneBind(Generic[T]):
    """A finished bind: the caller's ticket, the outcome and its wall seconds."""

    ticket: T
    status: Status
    seconds: float


class InFlightBinds(Generic[T]):
    """Binds running on binding threads until the barrier (see the module docstring)."""

    def __init__(
        self,
        max_in_flight: int = MAX_BINDS_IN_FLIGHT,
        settle: float = BIND_SETTLE_SECONDS,
        straggle: float | None = None,
    ) -> None:
        self._flight: list[_Flight[T]] = []
        self._max = max_in_flight
        self._settle = settle
        self._straggle = BIND_STRAGGLER_SECONDS if straggle is None else straggle
        self._pool: ThreadPoolExecutor | None = None
        self.submitted = 0
        self.wall_seconds = 0.0
        """Wall time the barrier spent waiting, in total."""

    def __len__(self) -> int:
        return len(self._flight)

    def submit(self, ticket: T, call: Callable[[], Status], due: float = math.inf) -> None:
        """Run ``call`` (an extender bind) on a binding thread; its outcome is kept with
        ``ticket`` until :meth:`wait`. ``due`` is the virtual time the engine may not pass
        before the bind has finished (its issue plus its timeout; infinite without one). An
        exception from ``call`` becomes an ERROR status."""

        def run() -> tuple[Status, float]:
            start = time.perf_counter()
            try:
                status = call()
            except Exception as exc:  # a crashed bind is a failed bind
                status = Status.error(f"extender bind: {type(exc).__name__}: {exc}")
            return status, time.perf_counter() - start

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max, thread_name_prefix="extender-bind")
        self._flight.append(_Flight(ticket, self._pool.submit(run), due))
        self.submitted += 1

    def close(self) -> None:
        """Let the binding threads go (binds in flight finish on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def wait(self, next_time: float | None = None) -> list[DoneBind[T]]:
        """The barrier, before the engine moves on to an event at virtual ``next_time`` (None:
        no event is left). New binds get their settle window, and once one has finished the
        held ones get the straggler window (see the module docstring); a bind due at or
        before ``next_time`` is waited for; without a next event every bind is. Returns the
        binds that have finished, in submission order; the others stay in flight."""
        if not self._flight:
            return []
        start = time.perf_counter()
        fresh = [flight.future for flight in self._flight if not flight.settled]
        if fresh:
            wait_futures(fresh, timeout=self._settle)
            if any(future.done() for future in fresh):
                self._stragglers()
        done: list[DoneBind[T]] = []
        held: list[_Flight[T]] = []
        for flight in self._flight:
            flight.settled = True
            if next_time is None or flight.due <= next_time or flight.future.done():
                status, seconds = flight.future.result()
                done.append(DoneBind(flight.ticket, status, seconds))
            else:
                held.append(flight)
        self._flight = held
        self.wall_seconds += time.perf_counter() - start
        return done

    def _stragglers(self) -> None:
        """Wait for held binds while they keep finishing, each within the straggler window."""
        pending = {f.future for f in self._flight if f.settled and not f.future.done()}
        while pending:
            finished, pending = wait_futures(
                pending, timeout=self._straggle, return_when=FIRST_COMPLETED
            )
            if not finished:
                return
