"""One replay of a plan, as a task a worker process or a Ray task runs, and its metrics.

Who calls: :mod:`simulator.plans.run` builds a :class:`ReplayTask` per (pool mix, policy,
seed) and hands them to a runner (:mod:`simulator.plans.pool` or
:mod:`simulator.plans.ray_backend`); the worker calls :func:`run_task`, which builds the
cluster spec, generates the scenario's trace for the seed on it
(:func:`simulator.scenarios.generate.generate`), replays it with the policy through
:class:`simulator.experiments.replay.Replay` (the same code as ``tessera replay``) and returns
plain JSON data: the metrics (:func:`metrics_of`), a compact timeline, and — for a task with
``snapshot_at`` — the cluster state at that time (:mod:`simulator.plans.stranded`).

Everything a task returns is a deterministic function of the task (no wall-clock times), so
the same task gives the same bytes on any worker, local or Ray.

Serving pending time: ``tessera replay`` reports percentiles over the pods that were bound;
a serving pod that was never placed (deleted by its controller while still pending) is only
counted in ``pods_unschedulable``. A plan must not call a cluster that starves serving "fast",
so :func:`serving_pending` adds each such pod with the time it waited until its deletion (a
lower bound of its true wait).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scheduler.framework.podinfo import pod_info
from simulator.clusters import cluster_from_spec
from simulator.drivers.spec import parse_cluster_spec
from simulator.experiments.accounting import percentiles
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import Fault, Replay, ReplayConfig
from simulator.scenarios.generate import generate
from simulator.scenarios.model import parse_scenario

__all__ = [
    "TIMELINE_POINTS",
    "ReplayTask",
    "metrics_of",
    "run_task",
    "serving_pending",
    "target_checks",
]

TIMELINE_POINTS = 240
"""At most this many timeline rows are returned (evenly spaced; plots only)."""
TIMELINE_KEYS = ("minute", "alloc_pct", "frag_pct", "gpus_capacity", "gpus_serving", "gpus_batch")
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ReplayTask:
    """One replay: the scenario (validated data, overrides applied), the cluster spec data,
    the policy and the seed; ``faults`` are (time, node) losses added to the trace's own;
    ``snapshot_at`` stops the replay there and measures the cluster
    (:func:`simulator.plans.stranded.measure`) instead of the metrics' usual end."""

    scenario: Mapping[str, Any]
    cluster: Mapping[str, Any]
    policy: str
    seed: int
    name: str = "plan"
    faults: tuple[tuple[float, str], ...] = ()
    snapshot_at: float | None = None
    probes: tuple[str, ...] = field(default=())


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def serving_pending(
    replay: Replay, placements: Sequence[Mapping[str, Any]]
) -> tuple[list[float], int, int]:
    """Every serving pod's pending time (bound pods as measured by the replay, plus each
    serving pod deleted while pending with its wait until the deletion), the number of those
    never-placed pods, and the number of serving pod creations."""
    cache = replay.cache
    threshold = replay.framework.profile.batch_threshold
    serving: set[str] = set()
    arrivals: dict[str, list[float]] = {}
    for item in replay.trace.items:
        info = pod_info(
            item.pod,
            priority_classes=cache.priority_classes,
            pod_groups=cache.pod_groups,
            batch_threshold=threshold,
        )
        if not info.batch:
            serving.add(item.key)
            arrivals.setdefault(item.key, []).append(item.arrival)
    waits = [float(v) for v in replay.samples.get("pending.serving")]
    evicted: dict[str, float] = {}
    never = 0
    for entry in placements:
        key = entry["pod"]
        if key not in serving:
            continue
        if entry["event"] == "evict":
            evicted[key] = float(entry["t"])
        elif entry["event"] == "delete":
            t = float(entry["t"])
            created = max((a for a in arrivals[key] if a <= t), default=t)
            since = max(created, evicted.get(key, created))
            waits.append(t - since)
            never += 1
    total = sum(len(v) for v in arrivals.values())
    return waits, never, total


def metrics_of(
    summary: Mapping[str, Any], waits: Sequence[float], never: int, serving_pods: int, frag: float
) -> dict[str, Any]:
    """The metrics of one replay the plan reads (all deterministic; see the module doc)."""
    hours = summary["gpu_hours"]
    end = float(summary["end_seconds"])
    per_day = hours["batch"] * DAY / end if end > 0 else 0.0
    serving_p = percentiles(waits, (50, 95, 99))
    lost = summary["lost_gpu_hours"]
    return {
        "serving_pending_seconds": serving_p,
        "serving_never_placed": never,
        "serving_pods": serving_pods,
        "batch_pending_seconds": summary["pending_seconds"]["batch"],
        "gang_wait_seconds": summary["gang_wait_seconds"],
        "serving_scaleup_seconds": summary["serving_scaleup_seconds"],
        "batch_gpu_hours": hours["batch"],
        "batch_gpu_hours_per_day": _round(per_day),
        "batch_lost_gpu_hours": round(lost["preemption"]["batch"] + lost["failure"]["batch"], 4),
        "serving_lost_gpu_hours": round(
            lost["preemption"]["serving"] + lost["failure"]["serving"], 4
        ),
        "batch_fill_pct": summary["batch_fill_pct"],
        "gpu_hours": dict(hours),
        "gpu_alloc_mean_pct": summary["gpu_alloc_mean_pct"],
        "gpu_frag_mean_pct": _round(frag, 4),
        "preemptions": summary["preemptions"],
        "gangs_total": summary["gangs_total"],
        "gangs_placed": summary["gangs_placed"],
        "gangs_partial": summary["gangs_partial"],
        "pods_total": summary["pods_total"],
        "pods_scheduled": summary["pods_scheduled"],
        "failures": dict(summary["failures"]),
        "end_seconds": summary["end_seconds"],
        "events": summary["events"],
    }


def _timeline(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """At most :data:`TIMELINE_POINTS` rows, evenly spaced, as columns."""
    if not rows:
        return {k: [] for k in TIMELINE_KEYS}
    picks = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), TIMELINE_POINTS)).astype(int))
    return {k: [float(rows[int(i)][k]) for i in picks] for k in TIMELINE_KEYS}


def run_task(task: ReplayTask) -> dict[str, Any]:
    """Run one task (see the module docstring); ValueError for a spec or scenario the
    replay rejects."""
    scenario = parse_scenario(dict(task.scenario), f"scenario of plan {task.name}")
    spec = parse_cluster_spec(dict(task.cluster), f"cluster of plan {task.name}")
    loaded = cluster_from_spec(spec)
    trace = generate(scenario, task.seed, loaded, name=scenario.metadata.name)
    profile = replay_profile(task.policy, seed=task.seed, levels=loaded.levels)
    faults = tuple(Fault(time=t, node=node) for t, node in task.faults)
    config = ReplayConfig(seed=task.seed, faults=faults, horizon=task.snapshot_at)
    replay = Replay(loaded, trace, profile, config)
    result = replay.run(None)
    if task.snapshot_at is not None:
        from simulator.plans.stranded import measure  # noqa: PLC0415 - snapshot tasks only

        return {"snapshot": measure(replay, task.probes)}
    timeline = result.timeline
    frag = float(np.mean([r["frag_pct"] for r in timeline])) if timeline else 0.0
    waits, never, serving_pods = serving_pending(replay, result.placements)
    return {
        "metrics": metrics_of(result.summary, waits, never, serving_pods, frag),
        "timeline": _timeline(timeline),
    }


TARGET_METRICS: dict[str, tuple[str, str, str]] = {
    "serving_pending_p99": ("serving pending p99", "<=", "s"),
    "gang_wait_p99": ("gang wait p99", "<=", "s"),
    "batch_gpu_hours_per_day": ("batch GPU-hours/day", ">=", ""),
    "batch_fill_pct": ("batch fill", ">=", "%"),
}
"""Target field -> (label, comparison, unit)."""


def target_value(metrics: Mapping[str, Any], target: str) -> float | None:
    """The value of one replay's metric a target reads (None: not measured — no gang was
    placed, no serving pod ran, no spare capacity)."""
    if target == "serving_pending_p99":
        value = metrics["serving_pending_seconds"]["p99"]
    elif target == "gang_wait_p99":
        value = metrics["gang_wait_seconds"]["p99"]
        if value is None and metrics["gangs_total"] > 0:
            return math.inf  # gangs arrived and none was ever placed
    elif target == "batch_gpu_hours_per_day":
        value = metrics["batch_gpu_hours_per_day"]
    else:
        value = metrics["batch_fill_pct"]
    return None if value is None else float(value)


def _holds(value: float | None, bound: float, upper: bool) -> bool:
    if value is None:
        return upper
    return value <= bound + 1e-9 if upper else value >= bound - 1e-9


def target_checks(
    metrics: Mapping[str, Any], targets: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """Per target: the value, the bound and whether it holds (an unmeasured upper-bounded
    metric holds — nothing waited; an unmeasured lower-bounded one fails)."""
    out: dict[str, dict[str, Any]] = {}
    for name, bound in targets.items():
        value = target_value(metrics, name)
        upper = TARGET_METRICS[name][1] == "<="
        ok = _holds(value, bound, upper)
        shown = None if value is None or math.isinf(value) else round(value, 3)
        out[name] = {"value": shown, "bound": bound, "ok": ok}
    return out
