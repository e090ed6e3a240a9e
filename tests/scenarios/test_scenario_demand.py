"""Demand curves and the HPA-like autoscaler, with hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.scenarios.demand import autoscale, rate_at, replica_changes
from simulator.scenarios.model import Autoscaling, Burst, Demand, Diurnal, Replicas, ReplicaStep


def test_diurnal_curve_peaks_and_troughs() -> None:
    """peak at peakAt, trough half a period later, the midpoint a quarter period away."""
    demand = Demand(diurnal=Diurnal(peak=100, trough=20, period=86400, peak_at=50400))
    assert rate_at(demand, [], 50400) == pytest.approx(100)
    assert rate_at(demand, [], 50400 - 43200) == pytest.approx(20)
    assert rate_at(demand, [], 50400 + 21600) == pytest.approx(60)


def test_bursts_add_while_they_last() -> None:
    """A burst of +50 from 100 s for 60 s: 10 before, 60 during, 10 at its end."""
    demand = Demand(constant=10)
    bursts = [Burst(at=100, duration=60, extra=50)]
    assert [rate_at(demand, bursts, t) for t in (99, 100, 159, 160)] == [10, 60, 60, 10]


def test_autoscaler_stabilizes_up_and_down() -> None:
    """target 10/replica, up window 120 s, down window 300 s, every 60 s.

    Windows are (t - window, t], as HPA's "After(cutoff)". Demand 25 -> 3 replicas at 0; a
    burst to 55 (6 wanted) from 600 s: at 600 the window (480, 600] holds 540 (3) and 600 (6),
    lowest 3; at 660 it holds 600 and 660 (6 each), so 6 from 660. The burst ends at 900 (the
    last sample wanting 6 is 840); at 1140 the window (840, 1140] holds only samples wanting
    3, so 3 from 1140.
    """
    rule = Autoscaling(
        target_per_replica=10,
        min_replicas=1,
        max_replicas=10,
        scale_up_delay=120,
        scale_down_delay=300,
        interval=60,
    )
    demand = Demand(constant=25)
    bursts = [Burst(at=600, duration=300, extra=30)]
    assert autoscale(rule, demand, bursts, 0, 2000) == [(0, 3), (660, 6), (1140, 3)]


def test_autoscaler_clamps_to_min_and_max() -> None:
    """ceil(rate / target) is clamped to [min, max]."""
    rule = Autoscaling(target_per_replica=10, min_replicas=2, max_replicas=4, scale_up_delay=0)
    assert autoscale(rule, Demand(constant=1), [], 0, 600)[0] == (0, 2)
    assert autoscale(rule, Demand(constant=1000), [], 0, 600)[0] == (0, 4)
    assert math.ceil(35 / 10) == autoscale(rule, Demand(constant=35), [], 0, 600)[0][1]


def test_schedules_and_fixed_replicas() -> None:
    """A schedule gives its steps from the start (0 before the first); fixed gives one."""
    rng = np.random.default_rng(0)
    steps = (ReplicaStep(at=100, replicas=2), ReplicaStep(at=50, replicas=1))
    assert replica_changes(Replicas(schedule=steps), 0, 1000, rng) == [(0, 0), (50, 1), (100, 2)]
    assert replica_changes(Replicas(fixed=3), 10, 1000, rng) == [(10, 3)]
