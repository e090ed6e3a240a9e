"""Solver parameters and the search over batches of candidate domains.

Who calls: ``solve.py``. :func:`new_solver` is the only place CP-SAT parameters are set (one
worker count, one seed, one limit). :func:`search` runs one attempt per batch of candidate
domains, best lower bound first, as a branch and bound: it stops as soon as the next batch's
lowest bound cannot beat the best answer found, and reports whether that answer is proven
optimal for the whole instance (every batch tried was solved to optimality or proven
infeasible, and no untried batch can do better).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from time import perf_counter
from typing import Generic, TypeVar

from ortools.sat.python import cp_model

from scheduler.solver.config import SolverConfig
from scheduler.solver.instance import SolveStatus

__all__ = ["Found", "Outcome", "Search", "new_solver", "remaining", "search"]

T = TypeVar("T")


def new_solver(config: SolverConfig, remaining_s: float) -> cp_model.CpSolver:
    """A CP-SAT solver with the config's workers and seed and exactly one limit: wall time
    online (what is left of the budget), deterministic time offline.

    CP-SAT's own SIGINT handler is off: with it on, OR-Tools resets SIGINT to the C default
    after every solve, so a later Ctrl-C killed the process instead of raising
    KeyboardInterrupt (no cleanup of partial output, no ``--linger`` exit)."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.catch_sigint_signal = False
    params.num_workers = config.workers
    params.random_seed = config.random_seed
    if config.light_presolve:
        params.symmetry_level = 0
        params.cp_model_probing_level = 0
    if config.mode == "offline":
        params.max_deterministic_time = config.deterministic_limit
    else:
        params.max_time_in_seconds = max(remaining_s, 0.001)
    return solver


def remaining(config: SolverConfig, start: float) -> float:
    """Online wall-time budget left (seconds) for a solve that began at ``start``."""
    return config.time_limit_s - (perf_counter() - start)


class Outcome(Enum):
    """How one batch ended: closed (OPTIMAL, INFEASIBLE) or not (FEASIBLE, UNUSABLE)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNUSABLE = "unusable"


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """An answer from one batch: CP-SAT's (OPTIMAL/FEASIBLE) or the greedy's (FALLBACK)."""

    status: SolveStatus
    objective: int
    plan: T
    solver_status: str = ""
    note: str = ""


@dataclass
class Search(Generic[T]):
    """Result of :func:`search`."""

    best: Found[T] | None = None
    closed: bool = True
    """every batch that could hold a better answer was solved to optimality or infeasibility."""
    notes: list[str] = field(default_factory=list)


def search(
    domains: Sequence[int],
    bound: Mapping[int, int],
    config: SolverConfig,
    start: float,
    attempt: Callable[[tuple[int, ...], bool], tuple[Outcome, Found[T] | None]],
) -> Search[T]:
    """Branch and bound over batches of ``max_domains`` domains in the given (bound) order.

    ``attempt(batch, greedy_only)`` solves one batch; ``greedy_only`` is set when the online
    budget is spent and nothing has been found yet (the greedy may still answer)."""
    result: Search[T] = Search()
    batches = [
        tuple(domains[i : i + config.max_domains])
        for i in range(0, len(domains), config.max_domains)
    ]
    for n, batch in enumerate(batches):
        if result.best is not None and bound[batch[0]] >= result.best.objective:
            break
        late = config.mode == "online" and n > 0 and remaining(config, start) <= 0
        if late and result.best is not None:
            result.closed = False
            result.notes.append("out of time before every promising domain was tried")
            break
        outcome, found = attempt(batch, late)
        if outcome in (Outcome.FEASIBLE, Outcome.UNUSABLE):
            result.closed = False
            if found is None or found.note:
                result.notes.append(found.note if found else "no answer within the limit")
        if found is not None and (result.best is None or found.objective < result.best.objective):
            result.best = found
    return result
