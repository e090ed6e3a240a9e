"""The served cluster's clock: what its timestamps say, and what a webhook is told is "now".

A cluster served on its own (``tessera cluster serve``) stamps objects with the wall clock. A
replay served over the API (:func:`simulator.apiserver.live.serve_replay`) runs in virtual
time, usually far faster than the wall clock: its objects are stamped with
:class:`ReplayClock` — the wall-clock second the replay started plus the virtual time — so
that a pod's ``status.startTime``, its conditions' ``lastTransitionTime``, ``creationTimestamp``
and ``deletionTimestamp`` and the Events' ``eventTime`` say when they happened in the replay.
With ``--realtime 1`` that is close to the wall clock. A client reading durations from them
(the preemption planner of ``tessera serve`` weighs a victim's lost work by
``now - status.startTime``) needs the replay's "now" too: the extender sync probe sends it
(:mod:`simulator.kubescheduler.sync`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["Clock", "ReplayClock", "wall_clock"]

Clock = Callable[[], float]
"""Seconds since the epoch, now."""


def wall_clock() -> float:
    """The wall clock (:func:`time.time`)."""
    return time.time()


class ReplayClock:
    """A replay's virtual time as a date: ``epoch + virtual()`` (see the module docstring).
    ``epoch`` defaults to the current wall-clock second."""

    def __init__(self, virtual: Callable[[], float], epoch: float | None = None) -> None:
        self.virtual = virtual
        self.epoch = float(math.floor(time.time())) if epoch is None else epoch

    def __call__(self) -> float:
        """The replay's current time, in seconds since the epoch."""
        return self.epoch + self.virtual()
