"""Extender binds in flight: kube-scheduler's binding goroutines, for the simulator.

kube-scheduler runs each pod's binding cycle in its own goroutine, so an extender's bind may
take long — tessera's webhook holds gang members' binds open until the whole gang has asked —
while the scheduling loop goes on with the next pods. :class:`InFlightBinds` gives the
simulator the same shape: the replay submits the HTTP bind of a pod (after its PreBind) and
goes on scheduling; one thread per bind in flight (never a bounded pool, which could starve a
gang whose last member's bind waits behind the held ones).

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

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from scheduler.framework.status import Status

__all__ = ["DoneBind", "InFlightBinds"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DoneBind(Generic[T]):
    """A finished bind: the caller's ticket, the outcome and its wall seconds."""

    ticket: T
    status: Status
    seconds: float


class InFlightBinds(Generic[T]):
    """Binds running on their own threads until the barrier (see the module docstring)."""

    def __init__(self) -> None:
        self._flight: list[tuple[T, Future[tuple[Status, float]]]] = []
        self.submitted = 0
        self.wall_seconds = 0.0
        """Wall time the barrier spent waiting, in total."""

    def __len__(self) -> int:
        return len(self._flight)

    def submit(self, ticket: T, call: Callable[[], Status]) -> None:
        """Run ``call`` (an extender bind) on a new thread; its outcome is kept with
        ``ticket`` until :meth:`wait`. An exception from ``call`` becomes an ERROR status."""
        future: Future[tuple[Status, float]] = Future()

        def run() -> None:
            start = time.perf_counter()
            try:
                status = call()
            except Exception as exc:  # a crashed bind is a failed bind
                status = Status.error(f"extender bind: {type(exc).__name__}: {exc}")
            future.set_result((status, time.perf_counter() - start))

        thread = threading.Thread(target=run, name=f"extender-bind-{self.submitted}", daemon=True)
        self._flight.append((ticket, future))
        self.submitted += 1
        thread.start()

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
