"""Demand curves and the autoscaling rule: how many replicas a serving workload runs over time.

Who calls: :mod:`simulator.scenarios.generate`, once per serving workload.

* **Demand** (requests per second at time ``t``): a constant, or a diurnal sinusoid
  ``trough + (peak - trough) x (1 + cos(2 pi (t - peakAt) / period)) / 2``, plus bursts
  (``extra`` requests/s while a burst lasts; random bursts arrive as a Poisson process of
  ``perDay`` a day, drawn from the workload's generator).
* **Autoscaling**, after the Kubernetes HorizontalPodAutoscaler
  (kubernetes/kubernetes ``pkg/controller/podautoscaler/horizontal.go``,
  ``stabilizeRecommendationWithBehaviors``): every ``interval`` the raw recommendation is
  ``ceil(rate / targetPerReplica)`` clamped to ``[minReplicas, maxReplicas]``; the scale-up
  candidate is the *lowest* recommendation of the last ``scaleUpDelay`` seconds and the
  scale-down candidate the *highest* of the last ``scaleDownDelay`` seconds; replicas rise
  to the first when it is above them, else fall to the second when it is below them. So a
  burst shorter than ``scaleUpDelay`` never scales up, and replicas stay up for
  ``scaleDownDelay`` after demand falls. (HPA's tolerance band and rate policies are not
  modelled.)
* **Fixed** replicas and **schedules** (``at``, ``replicas`` steps) need no rule.

The result is a list of ``(time, replicas)`` changes, the first at the workload's start.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from simulator.scenarios.model import MAX_STEPS, Autoscaling, Burst, Demand, Replicas


def bursts_of(demand: Demand, start: float, end: float, rng: np.random.Generator) -> list[Burst]:
    """The demand's bursts: the given ones and, with ``randomBursts``, a Poisson draw over
    ``[start, end)`` (whole seconds)."""
    bursts = list(demand.bursts)
    random = demand.random_bursts
    if random is not None:
        t = start
        rate = random.per_day / 86400.0
        while True:
            t += float(rng.exponential(1.0 / rate))
            if t >= end:
                break
            bursts.append(Burst(at=math.floor(t), duration=random.duration, extra=random.extra))
            if len(bursts) > MAX_STEPS:
                raise ValueError(
                    f"randomBursts: more than {MAX_STEPS:,} bursts (perDay {random.per_day:g})"
                )
    return bursts


def rate_at(demand: Demand, bursts: list[Burst], t: float) -> float:
    """Requests per second at time ``t``."""
    if demand.diurnal is not None:
        d = demand.diurnal
        phase = 2.0 * math.pi * (t - d.peak_at) / d.period
        base = d.trough + (d.peak - d.trough) * (1.0 + math.cos(phase)) / 2.0
    else:
        base = demand.constant or 0.0
    return base + sum(b.extra for b in bursts if b.at <= t < b.at + b.duration)


def autoscale(
    rule: Autoscaling, demand: Demand, bursts: list[Burst], start: float, end: float
) -> list[tuple[float, int]]:
    """Replica changes under ``rule`` from ``start`` to ``end`` (see the module docstring);
    the first entry is at ``start``."""

    def raw(t: float) -> int:
        wanted = math.ceil(rate_at(demand, bursts, t) / rule.target_per_replica - 1e-9)
        return min(max(wanted, rule.min_replicas), rule.max_replicas)

    current = raw(start)
    changes = [(start, current)]
    history: deque[tuple[float, int]] = deque([(start, current)])
    keep = max(rule.scale_up_delay, rule.scale_down_delay)
    steps = math.floor((end - start) / rule.interval)
    if steps > MAX_STEPS:
        raise ValueError(
            f"autoscaling.interval: {rule.interval:g} s gives {steps:,} evaluations, at most "
            f"{MAX_STEPS:,}"
        )
    for k in range(1, steps + 1):
        t = start + k * rule.interval
        if t >= end:
            break
        history.append((t, raw(t)))
        while history and history[0][0] <= t - keep - rule.interval:
            history.popleft()
        up = min(r for when, r in history if when > t - rule.scale_up_delay or when == t)
        down = max(r for when, r in history if when > t - rule.scale_down_delay or when == t)
        wanted = current
        wanted = max(wanted, up)
        wanted = min(wanted, down)
        if wanted != current:
            current = wanted
            changes.append((t, current))
    return changes


def replica_changes(
    replicas: Replicas, start: float, end: float, rng: np.random.Generator
) -> list[tuple[float, int]]:
    """``(time, replicas)`` changes of a serving workload over ``[start, end)``."""
    if replicas.fixed is not None:
        return [(start, replicas.fixed)]
    if replicas.schedule is not None:
        changes = [(start, 0)]
        for step in sorted(replicas.schedule, key=lambda s: s.at):
            when = max(step.at, start)
            if when >= end:
                break
            if changes[-1][0] == when:
                changes[-1] = (when, step.replicas)
            elif changes[-1][1] != step.replicas:
                changes.append((when, step.replicas))
        return changes
    assert replicas.demand is not None and replicas.autoscaling is not None
    bursts = bursts_of(replicas.demand, start, end, rng)
    return autoscale(replicas.autoscaling, replicas.demand, bursts, start, end)
