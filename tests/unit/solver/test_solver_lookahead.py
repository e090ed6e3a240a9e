"""Look-ahead over the head of the queue: joint placement beats one-at-a-time, priority
first, exclusive items apart, unplaceable items keep their reason."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from ortools.sat.python import cp_model

from scheduler.solver import solve as solve_mod
from scheduler.solver.config import SolverConfig
from scheduler.solver.greedy import greedy_lookahead
from scheduler.solver.instance import (
    GangSpec,
    LookaheadInstance,
    LookaheadSolution,
    NodeTable,
    PodDemand,
    SolveStatus,
)
from scheduler.solver.lookahead import item_weights, prune_lookahead
from scheduler.solver.solve import solve_lookahead
from scheduler.solver.validate import validate_lookahead
from tests.builders import rack_table

RACK = "topology.tessera.io/rack"
OFFLINE = SolverConfig(mode="offline")


table = rack_table


def item(key: str, pods: int, gpu: int = 8, priority: int = 0, **kw: object) -> GangSpec:
    return GangSpec.model_validate(
        {
            "key": key,
            "priority": priority,
            "pods": tuple(PodDemand(id=i, demand=(gpu, 1)) for i in range(pods)),
            **kw,
        }
    )


def run(t: NodeTable, items: Sequence[GangSpec]) -> LookaheadSolution:
    inst = LookaheadInstance(table=t, items=tuple(items))
    sol = solve_lookahead(inst, OFFLINE)
    assert validate_lookahead(inst, sol) == []
    return sol


# r0 = n0, n1 (8 GPUs each), r1 = n2 (8 GPUs). Queue: a lone 8-GPU pod, then a 2 x 8-GPU
# rack-required gang. One at a time, the pod takes n0 and no rack is left for the gang;
# jointly, the pod takes n2 and the gang r0.
JOINT = table([(8, 0), (8, 0), (8, 1)])
QUEUE = [item("pod", 1), item("gang", 2, required_level=0)]


def test_joint_placement_fits_what_one_at_a_time_does_not() -> None:
    """Both items placed jointly; the greedy one-at-a-time places only the first."""
    lc = prune_lookahead(LookaheadInstance(table=JOINT, items=tuple(QUEUE)), OFFLINE)
    placed, unplaced = greedy_lookahead(lc)
    assert list(placed) == [0] and list(unplaced) == [1]
    sol = run(JOINT, QUEUE)
    assert sol.status is SolveStatus.OPTIMAL and sol.proven_optimal
    assert [p.key for p in sol.placed] == ["pod", "gang"] and sol.unplaced == {}
    assert sol.placed[0].assignment == {0: 2}


def test_priority_outweighs_count() -> None:
    """Three 1-pod items at priority 0 vs one 3-pod gang at priority 5 on 3 x 8 GPUs: the gang."""
    items = [item("a", 1), item("b", 1), item("c", 1), item("big", 3, priority=5)]
    sol = run(table([(8, 0), (8, 0), (8, 0)]), items)
    assert [p.key for p in sol.placed] == ["big"]
    assert set(sol.unplaced) == {"a", "b", "c"}


def test_item_weights_rank_priority_then_count_then_queue_order() -> None:
    """n = 3, step = 3^2 + 1 = 10. Priorities (0, 0, 7): rank weights 1 and 1 + 2 x 1 = 3;
    weights 1 x 10 + 3 = 13, 1 x 10 + 2 = 12, 3 x 10 + 1 = 31 (> 13 + 12)."""
    inst = LookaheadInstance(
        table=JOINT, items=(item("a", 1), item("b", 1), item("c", 1, priority=7))
    )
    assert item_weights(inst) == (13, 12, 31)


def test_exclusive_items_never_share_a_domain() -> None:
    """Two exclusive 1-pod gangs and one 16-GPU rack: the rack could hold both, exclusivity
    lets only the first (earlier in the queue) in."""
    items = [
        item("x", 1, required_level=0, exclusive=True),
        item("y", 1, required_level=0, exclusive=True),
    ]
    sol = run(table([(16, 0)]), items)
    assert [p.key for p in sol.placed] == ["x"] and "y" in sol.unplaced


def test_item_that_fits_nowhere_alone_keeps_its_reason() -> None:
    """A 3 x 8-GPU rack gang on racks of 2 nodes: unplaced with the pruning reason."""
    sol = run(JOINT, [item("pod", 1), item("huge", 3, required_level=0)])
    assert sol.unplaced["huge"].startswith(
        "no rack can take the gang: best rack rack-0 has room for 2 of 3"
    )
    assert [p.key for p in sol.placed] == ["pod"]


def test_nothing_fits_is_infeasible() -> None:
    """No item fits alone: INFEASIBLE, every item with a reason."""
    sol = run(table([(4, 0)]), [item("a", 1), item("b", 2)])
    assert sol.status is SolveStatus.INFEASIBLE and set(sol.unplaced) == {"a", "b"}


@pytest.mark.parametrize(
    ("status", "note"),
    [
        (cp_model.UNKNOWN, "CP-SAT found nothing within its limit"),
        (cp_model.MODEL_INVALID, "CP-SAT model invalid"),
        (cp_model.INFEASIBLE, "CP-SAT answered INFEASIBLE"),
    ],
)
def test_unusable_solver_answers_fall_back_to_the_greedy(
    monkeypatch: pytest.MonkeyPatch, status: cp_model.CpSolverStatus, note: str
) -> None:
    """UNKNOWN, MODEL_INVALID and (impossible here) INFEASIBLE give the greedy's one-at-a-time
    answer, status FALLBACK: the pod placed, the gang left out with a reason."""

    class Fake:
        def solve(self, model: cp_model.CpModel) -> cp_model.CpSolverStatus:
            return status

        def status_name(self, status: cp_model.CpSolverStatus) -> str:
            return cp_model.CpSolver().status_name(status)

    monkeypatch.setattr(solve_mod, "new_solver", lambda config, remaining: Fake())
    sol = run(JOINT, QUEUE)
    assert sol.status is SolveStatus.FALLBACK and sol.reason == note
    assert [p.key for p in sol.placed] == ["pod"] and sol.unplaced["gang"]
