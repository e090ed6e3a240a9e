"""Whole-gang placement: one tiny feasible and infeasible instance per constraint family, the
reason texts, every CP-SAT status branch, hints, batches and allocator refutation rounds."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import pytest
from ortools.sat.python import cp_model

from scheduler.solver import solve as solve_mod
from scheduler.solver.candidates import prune_gang
from scheduler.solver.config import SolverConfig
from scheduler.solver.gang import build_gang, hint_gang
from scheduler.solver.greedy import greedy_gang
from scheduler.solver.instance import (
    Cut,
    GangInstance,
    GangSpec,
    NodeSupply,
    NodeTable,
    PodDemand,
    SolveStatus,
)
from scheduler.solver.solve import solve_gang, solve_gang_verified
from scheduler.solver.validate import validate_gang

BLOCK, RACK = "topology.tessera.io/block", "topology.tessera.io/rack"
OFFLINE = SolverConfig(mode="offline")


def table(
    rows: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
    frag: Sequence[Sequence[int]] | None = None,
    names: Sequence[Sequence[str]] = (),
) -> NodeTable:
    """Nodes n0, n1, ... with (free gpu, free cpu) and (block, rack) ids."""
    return NodeTable.from_nodes(
        [
            NodeSupply(
                id=i,
                name=f"n{i}",
                free=free,
                domain=dom,
                frag_cost=None if frag is None else tuple(frag[i]),
            )
            for i, (free, dom) in enumerate(rows)
        ],
        dims=("gpu", "cpu"),
        levels=(BLOCK, RACK),
        domain_names=names,
    )


def gang(*demands: tuple[int, int], **kw: object) -> GangSpec:
    """A gang with one pod per demand, ids 0, 1, ..."""
    pods = tuple(PodDemand(id=i, demand=d) for i, d in enumerate(demands))
    return GangSpec.model_validate({"key": "g", "pods": pods, **kw})


def solve(t: NodeTable, g: GangSpec, config: SolverConfig = OFFLINE) -> object:
    inst = GangInstance(table=t, gang=g)
    sol = solve_gang(inst, config)
    assert validate_gang(inst, sol) == []
    return sol


TWO_RACKS = table(
    [((8, 64), (0, 0)), ((8, 64), (0, 0)), ((4, 64), (0, 1)), ((4, 64), (0, 1))],
    names=[("b0",), ("r0", "r1")],
)


def test_capacity_feasible_packs_pods_onto_nodes() -> None:
    """3 pods of 4 GPUs fit on two 8-GPU nodes (2 + 1)."""
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0))])
    sol = solve(t, gang(*[(4, 1)] * 3))
    assert sol.status is SolveStatus.OPTIMAL
    assert sorted(Counter(sol.assignment.values()).values()) == [1, 2]


def test_capacity_infeasible_names_the_shortfall() -> None:
    """5 x 4 GPUs = 20 > 16 free: unplaced, short by 20 - 16 = 4 GPUs."""
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0))])
    sol = solve(t, gang(*[(4, 1)] * 5))
    assert sol.status is SolveStatus.INFEASIBLE and not sol.assignment
    assert sol.reason == (
        "the cluster cannot take the gang: its nodes have room for 4 of 5 pods (gpu short by 4)"
    )


def test_required_level_keeps_the_gang_in_one_rack() -> None:
    """r0 holds 2 x 2 = 4 pods of 4 GPUs, r1 holds 1 + 1 = 2: 3 pods go to r0 only."""
    sol = solve(TWO_RACKS, gang(*[(4, 1)] * 3, required_level=1))
    assert sol.domain == 0 and sol.domain_name == "r0"
    assert set(sol.assignment.values()) <= {0, 1}


def test_required_level_infeasible_reason_names_level_room_and_shortfall() -> None:
    """5 pods x 4 GPUs = 20; best rack r0 has 16 free (room for 4 pods): short by 4."""
    sol = solve(TWO_RACKS, gang(*[(4, 1)] * 5, required_level=1))
    assert sol.status is SolveStatus.INFEASIBLE
    assert (
        sol.reason
        == "no rack can take the gang: best rack r0 has room for 4 of 5 pods (gpu short by 4)"
    )


def test_tightness_prefers_the_best_fitting_rack() -> None:
    """2 pods of 4 GPUs: r0 slack 4 - 2 = 2 pods, r1 slack 2 - 2 = 0: BestFit picks r1."""
    sol = solve(TWO_RACKS, gang((4, 1), (4, 1), required_level=1))
    assert sol.domain == 1
    assert sol.terms["tightness"] == 0 and sol.proven_optimal


def test_exclusive_gang_avoids_blocked_domains() -> None:
    """r1 is blocked by another exclusive gang, so the 2-pod gang takes r0 (slack 2)."""
    sol = solve(
        TWO_RACKS, gang((4, 1), (4, 1), required_level=1, exclusive=True, blocked_domains=(1,))
    )
    assert sol.domain == 0
    assert sol.terms["tightness"] == 100 * 2


def test_exclusive_infeasible_reason_mentions_blocked_domains() -> None:
    """3 pods: r0 (room 4) is blocked, r1 has room for 2 (short 12 - 8 = 4 GPUs)."""
    sol = solve(
        TWO_RACKS, gang(*[(4, 1)] * 3, required_level=1, exclusive=True, blocked_domains=(0,))
    )
    assert sol.status is SolveStatus.INFEASIBLE
    assert sol.reason == (
        "no rack can take the gang: best rack r1 has room for 2 of 3 pods (gpu short by 4); "
        "1 rack(s) with room are used by other exclusive gangs"
    )


def test_preferred_level_minimises_the_racks_used() -> None:
    """Block b0 = racks r0, r1 with 2 free 8-GPU nodes each: 4 pods of 4 GPUs fit in one
    rack (1 sub-domain); 6 pods need both racks (2)."""
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0)), ((8, 64), (0, 1)), ((8, 64), (0, 1))])
    four = solve(t, gang(*[(4, 1)] * 4, required_level=0, preferred_level=1))
    assert len({t.domain[t.row(n), 1] for n in four.assignment.values()}) == 1
    assert four.terms["subdomains"] == 10_000
    six = solve(t, gang(*[(4, 1)] * 6, required_level=0, preferred_level=1))
    assert six.terms["subdomains"] == 20_000


def test_allowed_nodes_are_respected_and_can_make_a_gang_infeasible() -> None:
    """Pod 0 may only use n1: it lands there; if n1 is full it cannot land at all."""
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0))])
    g = GangSpec(
        key="g", pods=(PodDemand(id=0, demand=(4, 1), allowed=(1,)), PodDemand(id=1, demand=(4, 1)))
    )
    assert solve(t, g).assignment[0] == 1
    full = table([((8, 64), (0, 0)), ((0, 64), (0, 0))])
    assert solve(full, g).status is SolveStatus.INFEASIBLE


def test_cuts_limit_pods_per_node() -> None:
    """A cut "n0 hosts at most 1 of these pods" (n1 has room for one 4-GPU pod) puts one pod
    on each; with n1 full the gang (2 pods, n0 alone) is infeasible."""
    t = table([((8, 64), (0, 0)), ((4, 64), (0, 0))])
    g = gang((4, 1), (4, 1), cuts=(Cut(node=0, max_pods=1),))
    assert sorted(solve(t, g).assignment.values()) == [0, 1]
    alone = table([((8, 64), (0, 0)), ((0, 64), (0, 0))])
    sol = solve(alone, g)
    assert sol.status is SolveStatus.INFEASIBLE


def test_fragmentation_growth_picks_the_cheaper_node() -> None:
    """One pod: growth 50 on n0, 10 on n1 -> n1, objective 10."""
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0))], frag=[(0, 50), (0, 10)])
    sol = solve(t, gang((4, 1)))
    assert sol.assignment == {0: 1}
    assert sol.objective == 10 == sol.terms["fragmentation"]


def test_kinds_share_node_capacity() -> None:
    """Workers (8 GPU, 60 CPU) fill both nodes; the leader (0 GPU, 4 CPU) fits only beside
    the worker on n0 (64 - 60 = 4 CPU left; n1 has 62 - 60 = 2)."""
    t = table([((8, 64), (0, 0)), ((8, 62), (0, 0))])
    g = GangSpec(
        key="lws",
        pods=(
            PodDemand(id=0, demand=(0, 4)),
            PodDemand(id=1, demand=(8, 60)),
            PodDemand(id=2, demand=(8, 60)),
        ),
    )
    assert solve(t, g).assignment[0] == 0


# Bins of 10 GPUs, pods 4, 4, 3, 3, 3, 3 (sum 20): first-fit-decreasing puts 4 + 4 on n0 and
# strands 2 GPUs there, then 3 + 3 + 3 on n1 and has no room for the last 3; the only
# packing is {4, 3, 3} on each node.
FFD_TRAP = table([((10, 64), (0, 0)), ((10, 64), (0, 0))])
FFD_GANG = gang((4, 1), (4, 1), (3, 1), (3, 1), (3, 1), (3, 1))


def test_solver_finds_the_packing_first_fit_misses() -> None:
    """CP-SAT packs {4, 3, 3} twice where the greedy first fit fails."""
    cands = prune_gang(FFD_TRAP, FFD_GANG, OFFLINE.gang)
    assert not isinstance(cands, str)
    assert greedy_gang(cands, OFFLINE.gang) is None
    sol = solve(FFD_TRAP, FFD_GANG)
    assert sol.status is SolveStatus.OPTIMAL
    assert sorted(Counter(sol.assignment.values()).values()) == [3, 3]


def test_greedy_hint_is_feasible_for_the_model() -> None:
    """Fixing every variable to the greedy hint leaves the model feasible."""
    cands = prune_gang(TWO_RACKS, gang(*[(4, 1)] * 3, required_level=1), OFFLINE.gang)
    assert not isinstance(cands, str)
    hint = greedy_gang(cands, OFFLINE.gang)
    assert hint is not None
    model, v = build_gang(cands, OFFLINE.gang)
    hint_gang(model, cands, v, hint[0])
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 5
    assert solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assert round(solver.objective_value) == hint[1]


def test_next_batch_is_tried_when_the_best_bound_domain_is_jointly_infeasible() -> None:
    """Rack r0 (5 + 15 GPUs) passes the per-kind checks (4-GPU pods: 1 + 3 >= 2, 3-GPU pods:
    1 + 5 >= 4, 20 >= 20 GPUs) but cannot split {4, 4, 3, 3, 3, 3}; rack r1 (3 x 10) can.
    With one domain per batch, r0 (slack 6 - 4 = 2) is tried first, then r1 (slack 9 - 4 = 5);
    proven optimal because r0 was proven infeasible."""
    t = table(
        [
            ((5, 64), (0, 0)),
            ((15, 64), (0, 0)),
            ((10, 64), (0, 1)),
            ((10, 64), (0, 1)),
            ((10, 64), (0, 1)),
        ]
    )
    g = gang((4, 1), (4, 1), (3, 1), (3, 1), (3, 1), (3, 1), required_level=1)
    sol = solve(t, g, SolverConfig(mode="offline", max_domains=1))
    assert sol.domain == 1 and sol.candidates == 2 and sol.proven_optimal
    only_r0 = table([((5, 64), (0, 0)), ((15, 64), (0, 0))])
    bad = solve(only_r0, g)
    assert bad.status is SolveStatus.INFEASIBLE and bad.solver_status == "INFEASIBLE"
    assert bad.reason == (
        "no rack can take the gang: 1 rack(s) pass the capacity check, but in none do all 6 "
        "pods fit together"
    )


def test_same_instance_and_config_give_the_same_solution() -> None:
    """Two offline solves of one instance agree on everything but the wall time."""
    g = gang(*[(4, 1)] * 4, required_level=0, preferred_level=1)
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0)), ((8, 64), (0, 1)), ((8, 64), (0, 1))])
    a, b = solve(t, g), solve(t, g)
    assert a.model_dump(exclude={"wall_s"}) == b.model_dump(exclude={"wall_s"})


class _FakeSolver:
    """Stands in for CpSolver and answers a fixed status."""

    def __init__(self, status: int) -> None:
        self.status = status

    def solve(self, model: cp_model.CpModel) -> int:
        return self.status

    def status_name(self, status: int) -> str:
        return cp_model.CpSolver().status_name(status)


@pytest.mark.parametrize(
    ("status", "expected", "note"),
    [
        (cp_model.UNKNOWN, SolveStatus.FALLBACK, "CP-SAT found nothing within its limit"),
        (cp_model.MODEL_INVALID, SolveStatus.FALLBACK, "CP-SAT model invalid"),
    ],
)
def test_unusable_solver_answers_fall_back_to_the_greedy(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    status: int,
    expected: SolveStatus,
    note: str,
) -> None:
    """UNKNOWN and MODEL_INVALID return the greedy placement, status FALLBACK."""
    monkeypatch.setattr(solve_mod, "new_solver", lambda config, remaining: _FakeSolver(status))
    with caplog.at_level(logging.ERROR):
        sol = solve(TWO_RACKS, gang(*[(4, 1)] * 3, required_level=1))
    assert sol.status is expected and sol.reason == note and sol.placed
    assert (status == cp_model.MODEL_INVALID) == any(
        "model invalid" in r.message for r in caplog.records
    )


def test_unknown_without_greedy_answer_is_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """UNKNOWN where the greedy also fails (the first-fit trap): TIMEOUT, nothing placed."""
    monkeypatch.setattr(
        solve_mod, "new_solver", lambda config, remaining: _FakeSolver(cp_model.UNKNOWN)
    )
    sol = solve(FFD_TRAP, FFD_GANG)
    assert sol.status is SolveStatus.TIMEOUT and not sol.placed
    assert "greedy found nothing" in sol.reason


def test_verified_solve_turns_refuted_nodes_into_cuts() -> None:
    """Growth -10 per pod on n0 draws 2 pods there (-20); the allocator refuses 2 pods on n0,
    so round 2 keeps 1 there (-10) and 2 on n1, which it accepts."""
    t = table([((8, 64), (0, 0)), ((16, 64), (0, 0))], frag=[(0, -10, -20, -30), (0, 0, 0, 0)])
    inst = GangInstance(table=t, gang=gang((4, 1), (4, 1), (4, 1)))
    seen: list[tuple[int, tuple[int, ...]]] = []

    def verify(node: int, pods: tuple[int, ...]) -> bool:
        seen.append((node, pods))
        return not (node == 0 and len(pods) >= 2)

    sol = solve_gang_verified(inst, verify, OFFLINE)
    assert sol.rounds == 2 and sol.objective == -10
    assert Counter(sol.assignment.values()) == {0: 1, 1: 2}
    assert (0, (0, 1)) in seen


def test_verified_solve_gives_up_after_max_rounds() -> None:
    """An allocator that refuses everything: INFEASIBLE once the cuts exclude every node."""
    t = table([((8, 64), (0, 0)), ((8, 64), (0, 0))])
    inst = GangInstance(table=t, gang=gang((4, 1)))
    sol = solve_gang_verified(
        inst, lambda node, pods: False, SolverConfig(mode="offline", max_rounds=4)
    )
    assert not sol.placed and sol.status is SolveStatus.INFEASIBLE and sol.rounds == 3
