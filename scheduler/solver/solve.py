"""Entry points of the solver: gang placement and preemption planning.

Who calls: the GangTopology and Preemption plugins (online: the webhook; offline: the
simulator).
Each entry point (a one-pod gang skips steps 2-4: numpy picks the best candidate node
exactly):

1. prunes first (``candidates.py``, numpy): no model is built when nothing can fit — the
   answer is then INFEASIBLE with a reason naming the level and the shortfall;
2. builds the CP-SAT model over a batch of at most ``max_domains`` candidate domains (best
   lower bound first), hinted with the greedy answer, and moves on to the next batch only
   while its bound can beat the best answer so far (``search.py``);
3. solves with ``num_workers``, ``random_seed`` and one limit (wall time online, spread over
   the batches; deterministic time offline, per batch);
4. branches on every CP-SAT status: OPTIMAL and FEASIBLE are decoded; INFEASIBLE closes the
   batch (after the last, with nothing found, the answer is INFEASIBLE); MODEL_INVALID (a
   builder bug: logged as an error) and UNKNOWN (nothing within the limit) fall back to the
   greedy answer — FALLBACK — or, without one, TIMEOUT;
5. validates the answer with ``validate.py`` and raises :class:`InvalidSolutionError` on any
   violation (a bug, never an outcome).

Determinism: candidates, variables and constraints are built in sorted orders; offline mode
uses one worker, a fixed seed and a deterministic-time limit, so the same instance and config
give the same answer. ``proven_optimal`` is true when every batch tried was solved to
optimality or infeasibility and no untried domain has a lower bound below the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from time import perf_counter
from typing import TypeVar

import numpy as np
from ortools.sat.python import cp_model

from scheduler.solver.answers import (
    gang_solution,
    not_together,
    preemption_solution,
)
from scheduler.solver.candidates import GangCandidates, gang_terms, group_kinds, prune_gang
from scheduler.solver.config import SolverConfig
from scheduler.solver.gang import build_gang, decode_gang, hint_gang
from scheduler.solver.greedy import greedy_gang
from scheduler.solver.instance import (
    Cut,
    GangInstance,
    GangSolution,
    PreemptionInstance,
    PreemptionSolution,
    SolveStatus,
)
from scheduler.solver.preemption import (
    build_preemption,
    drop_unneeded,
    hint_preemption,
    plan_objective,
    prune_preemption,
)
from scheduler.solver.preemption_greedy import greedy_preemption
from scheduler.solver.search import Found, Outcome, new_solver, remaining, search
from scheduler.solver.validate import (
    InvalidSolutionError,
    Violation,
    validate_gang,
    validate_preemption,
)

__all__ = [
    "InvalidSolutionError",
    "SolverConfig",
    "solve_gang",
    "solve_gang_verified",
    "solve_preemption",
]

log = logging.getLogger(__name__)

Plan = dict[int, int]
_Instance = TypeVar("_Instance", GangInstance, PreemptionInstance)
_Solution = TypeVar("_Solution", GangSolution, PreemptionSolution)
Verify = Callable[[int, tuple[int, ...]], bool]
"""``verify(node_id, pod_ids)``: True when the exact device allocator can place those pods
together on that node."""


def _solve_gang(instance: GangInstance, config: SolverConfig, start: float) -> GangSolution:
    gang, weights = instance.gang, config.gang
    pruned = prune_gang(instance.table, gang, weights)
    if isinstance(pruned, str):
        return GangSolution(
            key=gang.key, status=SolveStatus.INFEASIBLE, level=gang.required_level, reason=pruned
        )
    if gang.size == 1:
        return gang_solution(
            pruned, config, SolveStatus.OPTIMAL, _best_single(pruned, config), proven_optimal=True
        )

    def attempt(batch: tuple[int, ...], greedy_only: bool) -> tuple[Outcome, Found[Plan] | None]:
        cands = pruned.subset(batch)
        greedy = greedy_gang(cands, weights)
        fallback = None if greedy is None else Found(SolveStatus.FALLBACK, greedy[1], greedy[0])
        if greedy_only:
            note = "out of time: greedy answer"
            return Outcome.UNUSABLE, fallback and replace(fallback, note=note)
        model, v = build_gang(cands, weights)
        if greedy is not None:
            hint_gang(model, cands, v, greedy[0])
        solver = new_solver(config, remaining(config, start))
        status = solver.solve(model)
        name = solver.status_name(status)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            assignment = decode_gang(cands, v, solver)
            objective = round(solver.objective_value)
            mirror = sum(gang_terms(cands, assignment, weights).values())
            if mirror != objective:
                msg = f"CP-SAT objective {objective} != recomputed {mirror}"
                raise InvalidSolutionError(f"gang {gang.key}", [Violation("objective", msg)])
            optimal = status == cp_model.OPTIMAL
            return (
                Outcome.OPTIMAL if optimal else Outcome.FEASIBLE,
                Found(
                    SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
                    objective,
                    assignment,
                    name,
                ),
            )
        if status == cp_model.INFEASIBLE:
            return Outcome.INFEASIBLE, None
        note = _unusable(f"gang {gang.key}", model, status)
        return Outcome.UNUSABLE, fallback and replace(fallback, solver_status=name, note=note)

    found = search(pruned.domains, pruned.lower_bound, config, start, attempt)
    if found.best is None:
        return GangSolution(
            key=gang.key,
            status=SolveStatus.INFEASIBLE if found.closed else SolveStatus.TIMEOUT,
            level=gang.required_level,
            candidates=len(pruned.domains),
            reason=not_together(pruned)
            if found.closed
            else "; ".join([*found.notes, "the greedy found nothing either"]),
            solver_status="INFEASIBLE" if found.closed else "",
        )
    best = found.best
    return gang_solution(
        pruned,
        config,
        best.status,
        best.plan,
        proven_optimal=best.status is SolveStatus.OPTIMAL and found.closed,
        solver_status=best.solver_status,
        reason=best.note,
    )


def _best_single(cands: GangCandidates, config: SolverConfig) -> Plan:
    """A one-pod gang, exactly and without CP-SAT: every candidate row can host the pod, so
    take the row with the least objective (tightness of its domain + one sub-domain +
    fragmentation growth for one pod); ties go to the lowest row."""
    w = config.gang
    cost = np.zeros(len(cands.rows), dtype=np.int64)
    if cands.frag is not None:
        cost += w.fragmentation * cands.frag[:, 1]
    if cands.level is not None:
        slack = np.array([cands.slack[int(d)] for d in cands.domain], dtype=np.int64)
        cost += w.tightness * slack
    row = int(np.argmin(cost))
    return {cands.gang.pods[0].id: int(cands.table.ids[cands.rows[row]])}


def _unusable(what: str, model: cp_model.CpModel, status: cp_model.CpSolverStatus) -> str:
    """Log and describe a CP-SAT answer with nothing to decode (MODEL_INVALID, UNKNOWN)."""
    if status == cp_model.MODEL_INVALID:
        log.error("%s: CP-SAT model invalid: %s", what, model.validate())
        return "CP-SAT model invalid"
    return "CP-SAT found nothing within its limit"


def _raise_if_invalid(what: str, violations: list[Violation]) -> None:
    if violations:
        raise InvalidSolutionError(what, violations)


def _timed_and_checked(
    what: str,
    instance: _Instance,
    config: SolverConfig | None,
    solve: Callable[[_Instance, SolverConfig, float], _Solution],
    validate: Callable[[_Instance, _Solution], list[Violation]],
) -> _Solution:
    """``solve(instance, config, start)`` with its wall time set in ``wall_s``; raises
    :class:`InvalidSolutionError` (naming ``what``) when ``validate`` finds violations."""
    config = config or SolverConfig()
    start = perf_counter()
    sol = solve(instance, config, start)
    sol = sol.model_copy(update={"wall_s": perf_counter() - start})
    _raise_if_invalid(what, validate(instance, sol))
    return sol


def solve_gang(instance: GangInstance, config: SolverConfig | None = None) -> GangSolution:
    """Place the whole gang (every pod, or none) — see the module overview."""
    what = f"gang {instance.gang.key}"
    return _timed_and_checked(what, instance, config, _solve_gang, validate_gang)


def _refutation_cut(instance: GangInstance, node: int, pods: tuple[int, ...]) -> Cut:
    """The cut for a refuted (node, pods): when the pods are all of one kind, at most
    len-1 pods of that whole kind (its pods are interchangeable); otherwise of those pods."""
    kinds = group_kinds(instance.gang)
    of = {p: k for k, members in enumerate(kinds.pods) for p in members}
    used = {of[p] for p in pods}
    scope = kinds.pods[used.pop()] if len(used) == 1 else pods
    return Cut(node=node, max_pods=len(pods) - 1, pods=tuple(sorted(scope)))


def solve_gang_verified(
    instance: GangInstance, verify: Verify, config: SolverConfig | None = None
) -> GangSolution:
    """Place the gang, then let the exact device allocator check every chosen node; each
    refuted node becomes a cut and the model is solved again, up to ``max_rounds`` rounds.

    Pods with equal demand vectors are taken as interchangeable for the allocator too (give
    pods whose claims differ a dimension that tells them apart). Outcomes: a placement the
    allocator accepted on every node; INFEASIBLE when the cuts leave no placement; TIMEOUT
    when the allocator still refuted a node in the last round.
    """
    config = config or SolverConfig()
    start = perf_counter()
    current = instance
    sol = solve_gang(current, config)
    for rounds in range(1, config.max_rounds + 1):
        if not sol.placed:
            return sol.model_copy(update={"rounds": rounds, "wall_s": perf_counter() - start})
        by_node: dict[int, list[int]] = {}
        for pod, node in sorted(sol.assignment.items()):
            by_node.setdefault(node, []).append(pod)
        refuted = [
            _refutation_cut(current, node, tuple(pods))
            for node, pods in sorted(by_node.items())
            if not verify(node, tuple(pods))
        ]
        if not refuted:
            return sol.model_copy(update={"rounds": rounds, "wall_s": perf_counter() - start})
        if rounds == config.max_rounds:
            nodes = ", ".join(str(c.node) for c in refuted)
            return GangSolution(
                key=instance.gang.key,
                status=SolveStatus.TIMEOUT,
                level=instance.gang.required_level,
                rounds=rounds,
                wall_s=perf_counter() - start,
                reason=f"the device allocator still refuted node(s) {nodes} after "
                f"{rounds} round(s)",
            )
        gang = current.gang.model_copy(update={"cuts": (*current.gang.cuts, *refuted)})
        current = GangInstance(table=current.table, gang=gang)
        sol = solve_gang(current, config)
    raise AssertionError("unreachable: the loop returns by its last round")


def _solve_preemption(
    instance: PreemptionInstance, config: SolverConfig, start: float
) -> PreemptionSolution:
    gang = instance.gang
    pruned = prune_preemption(instance, config)
    if isinstance(pruned, str):
        return PreemptionSolution(
            key=gang.key, status=SolveStatus.INFEASIBLE, level=gang.required_level, reason=pruned
        )

    def attempt(
        batch: tuple[int, ...], greedy_only: bool
    ) -> tuple[Outcome, Found[tuple[Plan, list[int]]] | None]:
        pc = pruned.subset(batch)
        greedy = greedy_preemption(pc)
        fallback = None
        if greedy is not None:
            fallback = Found(SolveStatus.FALLBACK, greedy[2], (greedy[0], greedy[1]))
        if greedy_only:
            note = "out of time: greedy answer"
            return Outcome.UNUSABLE, fallback and replace(fallback, note=note)
        model, v = build_preemption(pc)
        if greedy is not None:
            hint_preemption(model, pc, v, greedy[0], greedy[1])
        solver = new_solver(config, remaining(config, start))
        status = solver.solve(model)
        name = solver.status_name(status)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            assignment = decode_gang(pc.gang, v.gang, solver)
            chosen = sorted(u for u, var in v.evict.items() if solver.value(var))
            optimal = status == cp_model.OPTIMAL
            if not optimal:
                chosen = drop_unneeded(pc, assignment, chosen)
            objective, _ = plan_objective(pc, assignment, chosen)
            if optimal and objective != round(solver.objective_value):
                msg = f"CP-SAT objective {round(solver.objective_value)} != recomputed {objective}"
                raise InvalidSolutionError(f"preemption {gang.key}", [Violation("objective", msg)])
            return (
                Outcome.OPTIMAL if optimal else Outcome.FEASIBLE,
                Found(
                    SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
                    objective,
                    (assignment, chosen),
                    name,
                ),
            )
        if status == cp_model.INFEASIBLE:
            return Outcome.INFEASIBLE, None
        note = _unusable(f"preemption {gang.key}", model, status)
        return Outcome.UNUSABLE, fallback and replace(fallback, solver_status=name, note=note)

    found = search(pruned.gang.domains, pruned.gang.lower_bound, config, start, attempt)
    if found.best is None:
        closed = found.closed
        return PreemptionSolution(
            key=gang.key,
            status=SolveStatus.INFEASIBLE if closed else SolveStatus.TIMEOUT,
            level=gang.required_level,
            candidates=len(pruned.gang.domains),
            solver_status="INFEASIBLE" if closed else "",
            reason=not_together(pruned.gang) + " even after evicting every lower-priority pod"
            if closed
            else "; ".join([*found.notes, "the greedy found nothing either"]),
        )
    best = found.best
    return preemption_solution(
        pruned,
        best.status,
        best.plan[0],
        best.plan[1],
        proven_optimal=best.status is SolveStatus.OPTIMAL and found.closed,
        solver_status=best.solver_status,
        reason=best.note,
    )


def solve_preemption(
    instance: PreemptionInstance, config: SolverConfig | None = None
) -> PreemptionSolution:
    """Pick the victims of least cost that let the preemptor fit, and where it goes."""
    what = f"preemption {instance.gang.key}"
    return _timed_and_checked(what, instance, config, _solve_preemption, validate_preemption)
