"""Solution models of the solver: what ``solve.py`` answers (and ``greedy.kueue_best_fit``).

Who reads them: the gang, preemption and queue plugins (which turn them into framework
``Status`` values and bindings) and the simulator. ``validate.py`` checks every one against
its instance. Re-exported by ``instance.py``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GangSolution",
    "PreemptionSolution",
    "SolveStatus",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SolveStatus(StrEnum):
    """Outcome of a solve.

    OPTIMAL: CP-SAT proved its answer optimal over the candidates it was given (see
    ``proven_optimal`` for the whole instance). FEASIBLE: CP-SAT found an answer and hit its
    limit. INFEASIBLE: proven that nothing fits (by capacity pruning or by CP-SAT); the reason
    names the level and the shortfall. FALLBACK: the greedy path answered (the solver gave
    nothing usable in time, or a greedy routine was asked directly). TIMEOUT: the solver gave
    nothing usable and the greedy found nothing, without a proof that nothing fits. UNPLACED:
    a greedy routine asked directly found nothing (no proof).
    """

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    FALLBACK = "FALLBACK"
    TIMEOUT = "TIMEOUT"
    UNPLACED = "UNPLACED"


class GangSolution(BaseModel):
    """Where a gang goes: ``assignment`` maps every pod id to a node id, or is empty."""

    model_config = _FROZEN

    key: str
    status: SolveStatus
    assignment: dict[int, int] = Field(default_factory=dict)
    level: int | None = Field(default=None, description="required level, if any")
    domain: int | None = Field(default=None, description="chosen domain at that level")
    domain_name: str | None = None
    objective: int | None = Field(default=None, description="weighted objective, if placed")
    terms: dict[str, int] = Field(default_factory=dict, description="weighted objective terms")
    proven_optimal: bool = False
    solver_status: str = Field(default="", description="CP-SAT status name; '' = no solve")
    candidates: int = Field(default=0, description="required-level domains left by pruning")
    rounds: int = Field(default=1, description="solves run (allocator refutation rounds)")
    wall_s: float = 0.0
    reason: str = ""

    @property
    def placed(self) -> bool:
        """True when every pod has a node."""
        return bool(self.assignment)


class PreemptionSolution(BaseModel):
    """Victims to evict and where the preemptor's pods go once they are gone."""

    model_config = _FROZEN

    key: str
    status: SolveStatus
    victims: tuple[str, ...] = Field(default=(), description="victim keys, sorted")
    assignment: dict[int, int] = Field(default_factory=dict)
    level: int | None = None
    domain: int | None = None
    domain_name: str | None = None
    victim_cost: int | None = Field(default=None, description="summed victim-unit costs")
    objective: int | None = None
    proven_optimal: bool = False
    solver_status: str = ""
    candidates: int = 0
    wall_s: float = 0.0
    reason: str = ""

    @property
    def placed(self) -> bool:
        """True when the preemptor's pods all have a node."""
        return bool(self.assignment)
