"""Running a plan: the search, the what-ifs and the stranded-capacity snapshot, as data.

Who calls: ``tessera plan`` (:mod:`simulator.cli.plan`), then the report writers
(:mod:`simulator.report`). :func:`run_plan` evaluates points through a runner (a local process
pool or Ray, :mod:`simulator.plans.pool`): a point is a pool mix; evaluating it replays every
policy on every seed (one task each, :func:`simulator.plans.points.run_task`), and it *passes*
when some policy meets every target on every seed. Points are memoised by mix, so the search
(:mod:`simulator.plans.search`) may ask again for free.

After the search, at the answer (or, when no mix passes, at the top: every pool at its
maximum): the what-if cases (:mod:`simulator.plans.whatif`) with the chosen policy on every
seed, and one snapshot replay (first seed) stopped at ``stranded.at`` for stranded capacity
and the topology's use (:mod:`simulator.plans.stranded`).

The chosen policy at a passing mix: among the policies that pass there, the one with the most
batch GPU-hours per day (worst seed), then plan order.

:class:`PlanOutcome` holds the JSON-ready summary (:func:`summary_of`; every point with its
per-policy, per-seed metrics and target checks, in evaluation order) and, outside it, what only
the plots need (timelines, the snapshot's per-node state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.plans.model import TARGET_FIELDS, ResolvedPlan, accelerators_per_node
from simulator.plans.points import TARGET_METRICS, ReplayTask, run_task, target_checks
from simulator.plans.pool import Report, Runner
from simulator.plans.search import Mix, PoolBounds, PoolSearch, SearchResult
from simulator.plans.stranded import default_probes
from simulator.plans.whatif import WhatIfCase, check_what_ifs, what_if_cases

__all__ = ["SCHEMA_VERSION", "PlanOutcome", "Progress", "run_plan", "task_worker"]

SCHEMA_VERSION = 1


def task_worker(task: ReplayTask, report: Report) -> dict[str, Any]:
    """What a worker runs for one task: :func:`run_task`; bad input comes back as
    ``{"error": message}`` so that one failed what-if does not stop the plan."""
    del report
    try:
        return run_task(task)
    except ValueError as exc:
        return {"error": " ".join(str(exc).split())}


class Progress:
    """What the run tells its caller (a progress bar); the default does nothing."""

    def phase(self, text: str) -> None:
        """A new phase of the run began."""

    def add(self, replays: int) -> None:
        """``replays`` more replays were submitted."""

    def done(self) -> None:
        """One replay finished."""


@dataclass(slots=True)
class Point:
    """An evaluated point: a mix (and a variant: ``search``, or a what-if name)."""

    id: str
    variant: str
    mix: Mix
    cost: float
    policies: dict[str, dict[str, Any]]
    passed: bool
    passing: list[str]
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PlanOutcome:
    """A finished plan run: the summary (JSON-ready) and the plot-only data."""

    summary: dict[str, Any]
    timelines: dict[tuple[str, str, int], dict[str, list[float]]]
    """(point id, policy, seed) -> timeline columns."""
    snapshot: dict[str, Any] | None


class _Run:
    def __init__(self, resolved: ResolvedPlan, runner: Runner, progress: Progress) -> None:
        self.resolved = resolved
        self.runner = runner
        self.progress = progress
        plan = resolved.plan
        self.targets: dict[str, float] = {
            name: float(getattr(plan.targets, name))
            for name in TARGET_FIELDS
            if getattr(plan.targets, name) is not None
        }
        self.bounds = [
            PoolBounds(p.name, p.min, p.max, p.cost_per_hour, accelerators_per_node(spec))
            for p, spec in zip(plan.pools, resolved.pool_specs, strict=True)
        ]
        self.points: list[Point] = []
        self.by_mix: dict[Mix, Point] = {}
        self.timelines: dict[tuple[str, str, int], dict[str, list[float]]] = {}

    def cost(self, mix: Mix) -> float:
        return round(sum(n * b.cost_per_hour for n, b in zip(mix, self.bounds, strict=True)), 6)

    def pools_of(self, mix: Mix) -> dict[str, int]:
        return {b.name: n for b, n in zip(self.bounds, mix, strict=True)}

    def _run_tasks(self, tasks: Sequence[ReplayTask]) -> list[dict[str, Any]]:
        self.progress.add(len(tasks))
        return self.runner.map(task_worker, tasks, on_done=lambda _i: self.progress.done())

    def evaluate(
        self,
        variant: str,
        mix: Mix,
        scenario: Mapping[str, Any],
        cluster: Mapping[str, Any],
        policies: Sequence[str],
        faults: tuple[tuple[float, str], ...] = (),
    ) -> Point:
        seeds = self.resolved.seeds
        name = self.resolved.plan.metadata.name
        tasks = [
            ReplayTask(scenario, cluster, policy, seed, name=name, faults=faults)
            for policy in policies
            for seed in seeds
        ]
        outs = self._run_tasks(tasks)
        point_id = f"p{len(self.points) + 1:03d}"
        per_policy: dict[str, dict[str, Any]] = {}
        errors: list[str] = []
        for task, out in zip(tasks, outs, strict=True):
            entry = per_policy.setdefault(task.policy, {"ok": True, "seeds": {}})
            if "error" in out:
                errors.append(f"{task.policy} seed {task.seed}: {out['error']}")
                entry["ok"] = False
                entry["seeds"][str(task.seed)] = {"error": out["error"]}
                continue
            checks = target_checks(out["metrics"], self.targets)
            entry["ok"] = entry["ok"] and all(c["ok"] for c in checks.values())
            entry["seeds"][str(task.seed)] = {"metrics": out["metrics"], "checks": checks}
            self.timelines[(point_id, task.policy, task.seed)] = out["timeline"]
        passing = [p for p in policies if per_policy[p]["ok"]]
        point = Point(point_id, variant, mix, self.cost(mix), per_policy, bool(passing), passing)
        point.errors = errors
        self.points.append(point)
        return point

    def passes(self, mix: Mix) -> bool:
        found = self.by_mix.get(mix)
        if found is None:
            counts = ", ".join(f"{b.name} {n}" for b, n in zip(self.bounds, mix, strict=True))
            self.progress.phase(f"search: {counts}")
            resolved = self.resolved
            found = self.evaluate(
                "search",
                mix,
                resolved.scenario_data,
                resolved.cluster_data(mix),
                resolved.plan.policies,
            )
            if found.errors:
                raise ValueError(f"{resolved.source}: {found.errors[0]}")
            self.by_mix[mix] = found
        return found.passed

    def choose_policy(self, point: Point) -> str:
        """The passing policy with the most batch GPU-hours/day on its worst seed."""
        candidates = point.passing or list(point.policies)
        order = {p: i for i, p in enumerate(self.resolved.plan.policies)}

        def worst_batch(policy: str) -> float:
            seeds = point.policies[policy]["seeds"].values()
            values = [s["metrics"]["batch_gpu_hours_per_day"] for s in seeds if "metrics" in s]
            return min(values, default=-math.inf)

        return min(candidates, key=lambda p: (-worst_batch(p), order[p]))


def _closest(run: _Run, point: Point) -> tuple[str, dict[str, Any]]:
    """For an unreachable plan: the policy that meets the most (target, seed) pairs at the
    top, and per target its worst value over the seeds."""

    def met(policy: str) -> int:
        return sum(
            c["ok"]
            for s in point.policies[policy]["seeds"].values()
            for c in s.get("checks", {}).values()
        )

    order = {p: i for i, p in enumerate(run.resolved.plan.policies)}
    policy = max(point.policies, key=lambda p: (met(p), -order[p]))
    worst: dict[str, Any] = {}
    for name in run.targets:
        upper = TARGET_METRICS[name][1] == "<="
        values = [
            s["checks"][name]["value"]
            for s in point.policies[policy]["seeds"].values()
            if "checks" in s
        ]
        known = [v for v in values if v is not None]
        pick = (max(known) if upper else min(known)) if known else None
        ok = all(s["checks"][name]["ok"] for s in point.policies[policy]["seeds"].values())
        worst[name] = {"value": pick, "bound": run.targets[name], "ok": ok}
    return policy, worst


def _describe(name: str, bound: float) -> str:
    label, op, unit = TARGET_METRICS[name]
    return f"{label} {op} {bound:g}{' ' + unit if unit and unit != '%' else unit}"


def _message(run: _Run, result: SearchResult, answer: Point, policy: str) -> dict[str, Any]:
    if result.best is not None:
        pools = ", ".join(f"{n} x {name}" for name, n in run.pools_of(result.best).items() if n)
        return {
            "met": True,
            "message": (
                f"{pools or 'no candidate node'} under policy {policy} meets every target on "
                f"every seed for {answer.cost:g} per hour"
            ),
        }
    _, worst = _closest(run, answer)
    failing = [(n, w) for n, w in worst.items() if not w["ok"]]
    meets = "; ".join(_describe(n, w["bound"]) for n, w in failing)
    reaches = "; ".join(
        f"{TARGET_METRICS[n][0]} "
        + ("never measured" if w["value"] is None else format(w["value"], "g"))
        for n, w in failing
    )
    return {
        "met": False,
        "message": (
            f"no mix within the bounds meets {meets} on every seed; the best (every pool at "
            f"its maximum, policy {policy}) reaches {reaches}"
        ),
        "closest": worst,
    }


def _point_json(run: _Run, point: Point) -> dict[str, Any]:
    return {
        "id": point.id,
        "variant": point.variant,
        "pools": run.pools_of(point.mix),
        "cost_per_hour": point.cost,
        "passed": point.passed,
        "passing_policies": point.passing,
        "policies": point.policies,
    }


def run_plan(
    resolved: ResolvedPlan, runner: Runner, progress: Progress | None = None
) -> PlanOutcome:
    """Run the plan (see the module docstring)."""
    progress = progress or Progress()
    check_what_ifs(resolved)
    run = _Run(resolved, runner, progress)
    plan = resolved.plan
    search = PoolSearch(run.bounds, run.passes, max_points=plan.search.max_points)
    result = search.run()
    answer_mix = result.best if result.best is not None else tuple(b.max for b in run.bounds)
    answer = run.by_mix[answer_mix]
    policy = run.choose_policy(answer) if result.best is not None else _closest(run, answer)[0]
    verdict = _message(run, result, answer, policy)
    what_ifs = []
    for case in what_if_cases(resolved, answer_mix):
        what_ifs.append(_what_if(run, case, answer_mix, policy))
    progress.phase("stranded capacity")
    snapshot = _snapshot(run, answer_mix, policy)
    recommendation = None
    if result.best is not None:
        recommendation = {
            "pools": run.pools_of(result.best),
            "cost_per_hour": answer.cost,
            "policy": policy,
            "binding_pools": list(result.binding),
            "point": answer.id,
        }
    summary = {
        "schemaVersion": SCHEMA_VERSION,
        "kind": "PlanReport",
        "inputs": _inputs(resolved),
        "recommendation": recommendation,
        "result": verdict,
        "answer_point": answer.id,
        "answer_policy": policy,
        "search": {
            "points_evaluated": sum(p.variant == "search" for p in run.points),
            "replays": sum(len(p.policies) * len(resolved.seeds) for p in run.points)
            + (snapshot is not None),
            "truncated": result.truncated,
            "path": [
                {
                    "step": k + 1,
                    "phase": step.phase,
                    "note": step.note,
                    "pools": run.pools_of(step.mix),
                    "cost_per_hour": step.cost,
                    "passed": step.passed,
                    "point": run.by_mix[step.mix].id,
                }
                for k, step in enumerate(result.path)
            ],
        },
        "points": [_point_json(run, p) for p in run.points],
        "what_if": what_ifs,
        "stranded": _stranded_json(snapshot),
    }
    return PlanOutcome(summary, run.timelines, snapshot)


def _what_if(run: _Run, case: WhatIfCase, mix: Mix, policy: str) -> dict[str, Any]:
    row: dict[str, Any] = {"name": case.name, "title": case.title, "detail": case.detail}
    if case.left_out:
        row["left_out"] = list(case.left_out)
    if case.skipped:
        row["skipped"] = case.skipped
        return row
    run.progress.phase(f"what-if: {case.title}")
    point = run.evaluate(case.name, mix, case.scenario, case.cluster, (policy,), case.faults)
    row.update(point=point.id, policy=policy, passed=point.passed)
    if point.errors:
        row["error"] = point.errors[0]
    return row


def _snapshot(run: _Run, mix: Mix, policy: str) -> dict[str, Any] | None:
    resolved = run.resolved
    at = resolved.plan.stranded.at
    when = float(at if at is not None else round(resolved.scenario.duration / 2))
    cluster = resolved.cluster_data(mix)
    task = ReplayTask(
        resolved.scenario_data,
        cluster,
        policy,
        resolved.seeds[0],
        name=resolved.plan.metadata.name,
        snapshot_at=when,
        probes=default_probes(cluster),
    )
    (out,) = run._run_tasks([task])
    if "error" in out:
        return {"error": out["error"], "time": when, "policy": policy, "seed": task.seed}
    snapshot: dict[str, Any] = out["snapshot"]
    snapshot.update(policy=policy, seed=task.seed, pools=run.pools_of(mix))
    return snapshot


def _stranded_json(snapshot: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    keep = ("time", "policy", "seed", "pools", "free", "shapes", "error")
    out = {k: snapshot[k] for k in keep if k in snapshot}
    if "accelerators" in snapshot:
        out["accelerators"] = sum(snapshot["accelerators"])
        out["used"] = round(sum(snapshot["used"]), 3)
    return out


def _inputs(resolved: ResolvedPlan) -> dict[str, Any]:
    plan = resolved.plan
    return {
        "plan": plan.model_dump(mode="json", by_alias=True, exclude_none=True),
        "plan_file": resolved.source.name,
        "scenario": {
            "file": resolved.scenario_path.name,
            "name": resolved.scenario.metadata.name,
            "duration_seconds": resolved.scenario.duration,
        },
        "base_cluster": resolved.base.metadata.name,
        "seeds": list(resolved.seeds),
        "targets": {
            name: getattr(plan.targets, name)
            for name in TARGET_FIELDS
            if getattr(plan.targets, name) is not None
        },
    }
