"""Turning plans (pod id -> node id, chosen victims) into solution models.

Who calls: ``solve.py``, once it has decided what to answer. These functions only describe a
plan: the domain it uses, its objective terms (recomputed in plain Python), its victims, and
the reasons for what is left out. They decide nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.solver.candidates import GangCandidates, gang_terms
from scheduler.solver.config import SolverConfig
from scheduler.solver.instance import (
    GangSolution,
    NodeTable,
    PreemptionSolution,
    SolveStatus,
    level_label,
)
from scheduler.solver.preemption import PreemptionCandidates, plan_objective

__all__ = ["gang_solution", "not_together", "preemption_solution"]


def not_together(cands: GangCandidates) -> str:
    gang = cands.gang
    cuts = f" with {len(gang.cuts)} allocator cut(s)" if gang.cuts else ""
    if cands.level is None:
        return f"the cluster cannot take the gang: its {gang.size} pods do not fit together{cuts}"
    lvl = level_label(cands.table.levels[cands.level])
    return (
        f"no {lvl} can take the gang: {len(cands.domains)} {lvl}(s) pass the capacity check, "
        f"but in none do all {gang.size} pods fit together{cuts}"
    )


def _placed_domain(
    table: NodeTable, level: int | None, assignment: dict[int, int]
) -> dict[str, object]:
    """``level``, ``domain`` and ``domain_name`` of a solution: the domain at ``level`` of the
    node the first assigned pod is on (None without a required level or for an unknown node)."""
    domain = None
    if level is not None:
        row = table.row(next(iter(assignment.values())))
        domain = None if row is None else int(table.domain[row, level])
    name = None if domain is None or level is None else table.domain_name(level, domain)
    return {"level": level, "domain": domain, "domain_name": name}


def gang_solution(
    cands: GangCandidates,
    config: SolverConfig,
    status: SolveStatus,
    assignment: dict[int, int],
    **extra: object,
) -> GangSolution:
    table, level = cands.table, cands.level
    terms = gang_terms(cands, assignment, config.gang)
    return GangSolution.model_validate(
        {
            "key": cands.gang.key,
            "status": status,
            "assignment": assignment,
            **_placed_domain(table, level, assignment),
            "objective": sum(terms.values()),
            "terms": terms,
            "candidates": len(cands.domains),
            **extra,
        }
    )


def preemption_solution(
    pc: PreemptionCandidates,
    status: SolveStatus,
    assignment: dict[int, int],
    chosen: Sequence[int],
    **extra: object,
) -> PreemptionSolution:
    instance = pc.instance
    table, level = instance.table, instance.gang.required_level
    objective, cost = plan_objective(pc, assignment, chosen)
    victims = sorted(instance.victims[i].key for u in chosen for i in pc.units[u].members)
    return PreemptionSolution.model_validate(
        {
            "key": instance.gang.key,
            "status": status,
            "victims": tuple(victims),
            "assignment": assignment,
            **_placed_domain(table, level, assignment),
            "victim_cost": cost,
            "objective": objective,
            "candidates": len(pc.gang.domains),
            **extra,
        }
    )
