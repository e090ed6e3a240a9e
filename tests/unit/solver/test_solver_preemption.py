"""Preemption planning: eligible victims only, gangs whole, least cost, fill-back, reasons and
the fallback path."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from ortools.sat.python import cp_model

from scheduler.solver import solve as solve_mod
from scheduler.solver.config import SolverConfig
from scheduler.solver.instance import (
    GangSpec,
    NodeTable,
    PodDemand,
    PreemptionInstance,
    PreemptionSolution,
    SolveStatus,
    Victim,
)
from scheduler.solver.preemption import drop_unneeded, prune_preemption
from scheduler.solver.solve import solve_preemption
from scheduler.solver.validate import validate_preemption
from tests.builders import rack_table

RACK = "topology.tessera.io/rack"
OFFLINE = SolverConfig(mode="offline")


table = rack_table


def victim(
    key: str, node: int, gpu: int, priority: int = -1, work: int = 0, gang: str | None = None
) -> Victim:
    return Victim(key=key, node=node, priority=priority, work_lost=work, gang=gang, freed=(gpu, 0))


def preemptor(pods: int, gpu: int = 8, priority: int = 0, **kw: object) -> GangSpec:
    return GangSpec.model_validate(
        {
            "key": "serve",
            "priority": priority,
            "pods": tuple(PodDemand(id=i, demand=(gpu, 1)) for i in range(pods)),
            **kw,
        }
    )


def plan(
    t: NodeTable, g: GangSpec, victims: Sequence[Victim], config: SolverConfig = OFFLINE
) -> PreemptionSolution:
    inst = PreemptionInstance(table=t, gang=g, victims=tuple(victims))
    sol = solve_preemption(inst, config)
    assert validate_preemption(inst, sol) == []
    return sol


def test_only_lower_priority_victims_are_eligible() -> None:
    """n0's victim has priority -1 < 0, n1's has 0 (not below the preemptor's 0): evict n0's."""
    sol = plan(
        table([(0, 0), (0, 0)]),
        preemptor(1),
        [victim("low", 0, 8), victim("peer", 1, 8, priority=0)],
    )
    assert sol.victims == ("low",) and sol.assignment == {0: 0}
    # cost: per_pod 1000 + rank 0 x 10000 + work 0 = 1000
    assert sol.victim_cost == 1000 and sol.status is SolveStatus.OPTIMAL


def test_cheapest_victim_is_chosen() -> None:
    """Same priority; work lost 100 on n0 vs 5 on n1: evict n1's (1000 + 5 = 1005)."""
    sol = plan(
        table([(0, 0), (0, 0)]),
        preemptor(1),
        [victim("a", 0, 8, work=100), victim("b", 1, 8, work=5)],
    )
    assert sol.victims == ("b",) and sol.victim_cost == 1005


def test_lower_priority_victims_go_first() -> None:
    """Priorities -10 (rank 0) and -5 (rank 1): 1000 vs 1000 + 10000: evict the -10 pod."""
    sol = plan(
        table([(0, 0), (0, 0)]),
        preemptor(1),
        [victim("p10", 0, 8, priority=-10), victim("p5", 1, 8, priority=-5)],
    )
    assert sol.victims == ("p10",)


@pytest.mark.parametrize(
    ("d_work", "expected"),
    [
        # gang bg = 2 pods x 1000 + per_gang 5000 = 7000; lone d = 1000 + 4000 = 5000 -> d
        (4000, ("d",)),
        # d = 1000 + 8000 = 9000 > 7000 -> the whole gang bg, both members
        (8000, ("m1", "m2")),
    ],
)
def test_victim_gangs_are_evicted_whole(d_work: int, expected: tuple[str, ...]) -> None:
    """An 8-GPU pod: n1 frees 8 by evicting gang bg (whole: m1 on n0 too), n2 by evicting d."""
    victims = [
        victim("m1", 0, 4, gang="bg"),
        victim("m2", 1, 8, gang="bg"),
        victim("c", 0, 4, work=3000),
        victim("d", 2, 8, work=d_work),
    ]
    sol = plan(table([(0, 0), (0, 0), (0, 0)]), preemptor(1), victims)
    assert sol.victims == expected


def test_a_gang_with_an_ineligible_member_is_not_a_victim() -> None:
    """Gang bg has a member at priority 0 (not below 0): only the lone pod can go."""
    victims = [
        victim("m1", 0, 8, gang="bg"),
        victim("m2", 1, 8, priority=0, gang="bg"),
        victim("x", 1, 8, work=50_000),
    ]
    sol = plan(table([(0, 0), (0, 0)]), preemptor(1), victims)
    assert sol.victims == ("x",)


def test_no_victims_when_the_preemptor_already_fits() -> None:
    """n1 has 8 free GPUs: place there, evict nobody, cost 0."""
    sol = plan(table([(0, 0), (8, 0)]), preemptor(1), [victim("a", 0, 8)])
    assert sol.victims == () and sol.assignment == {0: 1} and sol.victim_cost == 0


def test_rack_required_gang_takes_the_cheapest_rack() -> None:
    """2 pods x 8 GPUs in one rack: r0 costs 2 x (1000 + 10) = 2020, r1 2 x (1000 + 1) = 2002."""
    victims = [
        victim("a", 0, 8, work=10),
        victim("b", 1, 8, work=10),
        victim("c", 2, 8, work=1),
        victim("d", 3, 8, work=1),
    ]
    sol = plan(table([(0, 0), (0, 0), (0, 1), (0, 1)]), preemptor(2, required_level=0), victims)
    assert sol.domain == 1 and sol.victims == ("c", "d") and sol.victim_cost == 2002


def test_infeasible_even_after_evicting_everything_names_the_level() -> None:
    """3 pods x 8 GPUs; each rack has 2 nodes of 8 evictable GPUs: room for 2 of 3, short 8."""
    victims = [victim(f"v{i}", i, 8) for i in range(4)]
    sol = plan(table([(0, 0), (0, 0), (0, 1), (0, 1)]), preemptor(3, required_level=0), victims)
    assert sol.status is SolveStatus.INFEASIBLE and sol.victims == ()
    assert sol.reason == (
        "no rack can take the gang even after evicting every lower-priority pod: best rack "
        "rack-0 has room for 2 of 3 pods (gpu short by 8)"
    )


def test_fill_back_spares_units_the_placement_does_not_need() -> None:
    """With the pod fixed on n0, evicting n1's victim too is unneeded and is dropped."""
    inst = PreemptionInstance(
        table=table([(0, 0), (0, 0)]),
        gang=preemptor(1),
        victims=(victim("a", 0, 8), victim("b", 1, 8)),
    )
    pc = prune_preemption(inst, OFFLINE)
    assert not isinstance(pc, str)
    assert [pc.units[u].key for u in drop_unneeded(pc, {0: 0}, [0, 1])] == ["pod:a"]


def test_unknown_falls_back_to_the_greedy_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solver that answers UNKNOWN: the greedy plan, status FALLBACK, still valid."""

    class Fake:
        def solve(self, model: cp_model.CpModel) -> int:
            return cp_model.UNKNOWN

        def status_name(self, status: int) -> str:
            return "UNKNOWN"

    monkeypatch.setattr(solve_mod, "new_solver", lambda config, remaining: Fake())
    sol = plan(
        table([(0, 0), (0, 0)]),
        preemptor(1),
        [victim("a", 0, 8, work=100), victim("b", 1, 8, work=5)],
    )
    assert sol.status is SolveStatus.FALLBACK and sol.victims == ("b",)
