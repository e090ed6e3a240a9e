"""Solver-free checks of solutions against their instances (plain Python, no CP-SAT).

Who calls: ``solve.py`` runs the matching validator on every answer it returns — CP-SAT's or
the greedy's — and raises :class:`InvalidSolutionError` on any violation (a violation is a bug
in a model builder or a greedy routine, never a scheduling outcome); the tests run them on
every solution they see. An empty list means the solution is valid.

What is checked: every pod placed exactly once, or the whole gang unplaced; known nodes and
each pod's allowed nodes; capacity per dimension on every node (after the chosen victims are
removed); one domain of the required level, not a blocked one; the allocator cuts; victims
only of lower priority than the preemptor, and victim gangs evicted whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scheduler.solver.instance import (
    GangInstance,
    GangSolution,
    GangSpec,
    IntArray,
    NodeTable,
    PreemptionInstance,
    PreemptionSolution,
    SolveStatus,
)

__all__ = [
    "InvalidSolutionError",
    "Violation",
    "validate_gang",
    "validate_preemption",
]

PLACED = frozenset({SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.FALLBACK})


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a stable ``code`` (for tests) and a message naming what broke."""

    code: str
    message: str


class InvalidSolutionError(RuntimeError):
    """A solver or greedy answer broke the instance's rules: a bug, never an outcome."""

    def __init__(self, what: str, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "; ".join(f"{v.code}: {v.message}" for v in violations[:5])
        super().__init__(f"invalid solution for {what}: {lines}")


def _placement(
    table: NodeTable, gang: GangSpec, assignment: Mapping[int, int], domain: int | None
) -> list[Violation]:
    """Rules of one gang's placement that do not involve capacity."""
    out: list[Violation] = []
    key = gang.key
    pods = {p.id: p for p in gang.pods}
    missing = sorted(set(pods) - set(assignment))
    extra = sorted(set(assignment) - set(pods))
    if missing:
        out.append(Violation("pod-unplaced", f"{key}: pods {missing} have no node"))
    if extra:
        out.append(Violation("pod-unknown", f"{key}: unknown pod ids {extra} assigned"))
    rows: dict[int, int] = {}
    for pod_id, node in assignment.items():
        row = table.row(node)
        if row is None:
            out.append(Violation("node-unknown", f"{key}: pod {pod_id} on unknown node {node}"))
            continue
        rows[pod_id] = row
        allowed = pods[pod_id].allowed if pod_id in pods else None
        if allowed is not None and node not in allowed:
            out.append(Violation("node-not-allowed", f"{key}: pod {pod_id} on node {node}"))
    level = gang.required_level
    if level is not None and rows:
        doms = sorted({int(table.domain[r, level]) for r in rows.values()})
        name = table.levels[level]
        if len(doms) > 1 or doms[0] < 0:
            out.append(Violation("domain-split", f"{key}: pods span {name} domains {doms}"))
        elif domain is not None and doms[0] != domain:
            out.append(Violation("domain-mismatch", f"{key}: reports {domain}, uses {doms[0]}"))
        elif doms[0] in gang.blocked_domains:
            out.append(Violation("domain-blocked", f"{key}: uses blocked {name} {doms[0]}"))
    for cut in gang.cuts:
        scope = set(cut.pods) if cut.pods is not None else set(pods)
        on_node = sum(1 for p, n in assignment.items() if n == cut.node and p in scope)
        if on_node > cut.max_pods:
            out.append(
                Violation(
                    "cut-violated",
                    f"{key}: {on_node} pods on node {cut.node}, a cut allows {cut.max_pods}",
                )
            )
    return out


def _add_load(
    table: NodeTable, gang: GangSpec, assignment: Mapping[int, int], load: dict[int, IntArray]
) -> None:
    demand = {p.id: p.demand for p in gang.pods}
    for pod_id, node in assignment.items():
        row = table.row(node)
        if row is None or pod_id not in demand:
            continue
        if row not in load:
            load[row] = np.zeros(len(table.dims), dtype=np.int64)
        load[row] += np.asarray(demand[pod_id], dtype=np.int64)


def _capacity(
    table: NodeTable, load: Mapping[int, IntArray], freed: Mapping[int, IntArray]
) -> list[Violation]:
    out: list[Violation] = []
    for row in sorted(load):
        room = table.free[row] + freed.get(row, 0)
        for d in np.flatnonzero(load[row] > room):
            if load[row][d] > 0:
                out.append(
                    Violation(
                        "capacity",
                        f"node {table.names[row]}: {table.dims[d]} demand {int(load[row][d])} "
                        f"> free {int(room[d])}",
                    )
                )
    return out


def _status_shape(status: SolveStatus, placed: bool, reason: str, key: str) -> list[Violation]:
    if status in PLACED and not placed:
        return [Violation("status-empty", f"{key}: status {status} with no placement")]
    if status not in PLACED and placed:
        return [Violation("status-placed", f"{key}: status {status} with a placement")]
    if status not in PLACED and not reason:
        return [Violation("no-reason", f"{key}: status {status} without a reason")]
    return []


def validate_gang(instance: GangInstance, solution: GangSolution) -> list[Violation]:
    """Check a whole-gang placement: all pods or none, and every rule of the instance."""
    gang, table = instance.gang, instance.table
    out = _status_shape(solution.status, solution.placed, solution.reason, gang.key)
    if not solution.placed:
        return out
    out += _placement(table, gang, solution.assignment, solution.domain)
    load: dict[int, IntArray] = {}
    _add_load(table, gang, solution.assignment, load)
    return out + _capacity(table, load, {})


def validate_preemption(
    instance: PreemptionInstance, solution: PreemptionSolution
) -> list[Violation]:
    """Check a preemption plan: eligible victims only, victim gangs whole, and the preemptor
    placed within the supply left after the victims are gone."""
    gang, table = instance.gang, instance.table
    out = _status_shape(solution.status, solution.placed, solution.reason, gang.key)
    if not solution.placed and solution.victims:
        out.append(Violation("victims-without-placement", f"{gang.key}: evicts for nothing"))
    by_key = {v.key: v for v in instance.victims}
    chosen = set(solution.victims)
    if len(chosen) != len(solution.victims):
        out.append(Violation("victim-duplicate", f"{gang.key}: a victim is listed twice"))
    members: dict[str, list[str]] = defaultdict(list)
    for v in instance.victims:
        if v.gang is not None:
            members[v.gang].append(v.key)
    freed: dict[int, IntArray] = {}
    for key in sorted(chosen):
        victim = by_key.get(key)
        if victim is None:
            out.append(Violation("victim-unknown", f"{gang.key}: unknown victim {key}"))
            continue
        if victim.priority >= gang.priority:
            out.append(
                Violation(
                    "victim-priority",
                    f"{gang.key}: victim {key} has priority {victim.priority} >= {gang.priority}",
                )
            )
        if victim.gang is not None:
            left = sorted(set(members[victim.gang]) - chosen)
            if left:
                out.append(
                    Violation("victim-gang-split", f"{gang.key}: gang {victim.gang} keeps {left}")
                )
        row = table.row(victim.node)
        if row is not None:
            freed[row] = freed.get(row, 0) + np.asarray(victim.freed, dtype=np.int64)
    if solution.placed:
        out += _placement(table, gang, solution.assignment, solution.domain)
        load: dict[int, IntArray] = {}
        _add_load(table, gang, solution.assignment, load)
        out += _capacity(table, load, freed)
    return out
