"""Typed solver configuration: limits, determinism and objective weights.

Who uses it: the plugins (online, inside a scheduling cycle) and the simulator (offline,
where results must repeat bit for bit). ``solve.py`` re-exports :class:`SolverConfig`.

Online mode bounds each CP-SAT solve by wall time; offline mode bounds it by CP-SAT's
deterministic time with one worker and a fixed seed, so the same instance and config give the
same answer on any machine and under any load. Online answers repeat whenever the solve
finishes inside its limit (status OPTIMAL).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GangWeights", "PreemptionWeights", "SolverConfig"]


class GangWeights(BaseModel):
    """Weights of the placement objective (minimised; integer points per unit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fragmentation: int = Field(
        default=1, ge=0, description="per unit of NodeTable.frag_cost growth summed over nodes"
    )
    tightness: int = Field(
        default=100,
        ge=0,
        description="per pod of slack left in the chosen required-level domain (BestFit)",
    )
    subdomains: int = Field(
        default=10_000, ge=0, description="per preferred-level domain the gang uses"
    )


class PreemptionWeights(BaseModel):
    """Cost of evicting a victim unit (a lone pod or a whole gang); every unit costs >= 1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_pod: int = Field(default=1_000, ge=1, description="per evicted pod")
    per_priority_rank: int = Field(
        default=10_000,
        ge=0,
        description="per pod, times the rank of its priority among the eligible victims' "
        "distinct priorities (0 = lowest): prefer evicting the lowest priorities",
    )
    per_work: int = Field(default=1, ge=0, description="per unit of Victim.work_lost")
    per_gang: int = Field(default=5_000, ge=0, description="per victim gang evicted")
    fragmentation: int = Field(default=1, ge=0, description="per unit of Victim.frag_cost")


class SolverConfig(BaseModel):
    """Limits, determinism and weights of every solve."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["online", "offline"] = Field(
        default="online",
        description="online: wall-time limit; offline: deterministic-time limit, 1 worker",
    )
    time_limit_s: float = Field(
        default=0.040, gt=0, description="online: wall-time limit of one CP-SAT solve"
    )
    deterministic_limit: float = Field(
        default=2.0, gt=0, description="offline: CP-SAT deterministic-time limit of one solve"
    )
    num_workers: int = Field(
        default=1, ge=1, description="online CP-SAT workers (offline always uses 1)"
    )
    random_seed: int = Field(default=0, ge=0, description="CP-SAT random seed")
    light_presolve: bool = Field(
        default=True,
        description="skip CP-SAT symmetry detection and probing (small placement models solve "
        "2-3x faster without them)",
    )
    max_domains: int = Field(
        default=2,
        ge=1,
        description="gang and preemption: candidate required-level domains per model, best "
        "lower bound first; further batches are solved only while their bound can still "
        "beat the best answer (branch and bound)",
    )
    max_rounds: int = Field(
        default=4, ge=1, description="allocator-refutation rounds in solve_gang_verified"
    )
    gang: GangWeights = Field(default_factory=GangWeights)
    preemption: PreemptionWeights = Field(default_factory=PreemptionWeights)

    @property
    def workers(self) -> int:
        """CP-SAT workers actually used."""
        return 1 if self.mode == "offline" else self.num_workers
