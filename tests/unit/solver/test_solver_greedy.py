"""The Kueue-style BestFit baseline: tightest sufficient domain, climbing for preferred
levels, most-free-first then best-fit descent, and required-level failure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from scheduler.solver.greedy import kueue_best_fit
from scheduler.solver.instance import (
    GangInstance,
    GangSpec,
    NodeSupply,
    NodeTable,
    PodDemand,
    SolveStatus,
)
from scheduler.solver.validate import validate_gang

BLOCK, RACK = "topology.tessera.io/block", "topology.tessera.io/rack"


def table(rows: Sequence[tuple[int, int, int]]) -> NodeTable:
    """Nodes n0, n1, ... with (free gpu, block id, rack id)."""
    return NodeTable.from_nodes(
        [
            NodeSupply(id=i, name=f"n{i}", free=(g, 64), domain=(b, r))
            for i, (g, b, r) in enumerate(rows)
        ],
        dims=("gpu", "cpu"),
        levels=(BLOCK, RACK),
    )


def gang(pods: int, **kw: object) -> GangSpec:
    return GangSpec.model_validate(
        {"key": "g", "pods": tuple(PodDemand(id=i, demand=(8, 1)) for i in range(pods)), **kw}
    )


def place(t: NodeTable, g: GangSpec) -> tuple[Counter[int], object]:
    inst = GangInstance(table=t, gang=g)
    sol = kueue_best_fit(inst)
    assert validate_gang(inst, sol) == []
    return Counter(sol.assignment.values()), sol


def test_best_fit_takes_the_smallest_sufficient_rack() -> None:
    """Rack capacities in 8-GPU pods: r0 = 3, r1 = 2; a 2-pod gang takes r1."""
    t = table([(8, 0, 0), (8, 0, 0), (8, 0, 0), (8, 0, 1), (8, 0, 1)])
    nodes, sol = place(t, gang(2, required_level=1))
    assert sol.domain == 1 and set(nodes) == {3, 4}


def test_required_level_without_room_is_unplaced() -> None:
    """No rack holds 3 pods (r0 = 2, r1 = 2): UNPLACED with the best count."""
    t = table([(8, 0, 0), (8, 0, 0), (8, 0, 1), (8, 0, 1)])
    _, sol = place(t, gang(3, required_level=1))
    assert sol.status is SolveStatus.UNPLACED
    assert sol.reason == "kueue-bestfit: no rack holds 3 pods (best holds 2)"


def test_preferred_level_climbs_and_splits_most_free_first() -> None:
    """Preferred rack, 5 pods; racks in b0 hold 3, 2, 1 (6 >= 5): climb to b0, take r0 whole
    (3, most free), then best-fit the remaining 2 into r1 (holds exactly 2)."""
    t = table([(8, 0, 0), (8, 0, 0), (8, 0, 0), (8, 0, 1), (8, 0, 1), (8, 0, 2), (8, 1, 3)])
    nodes, _ = place(t, gang(5, preferred_level=1))
    assert set(nodes) == {0, 1, 2, 3, 4}


def test_top_level_split_when_no_block_holds_everything() -> None:
    """Blocks hold 2 and 1 pods, gang of 3 with preferred rack: spread over both blocks."""
    t = table([(8, 0, 0), (8, 0, 0), (8, 1, 1)])
    nodes, sol = place(t, gang(3, preferred_level=1))
    assert sol.status is SolveStatus.FALLBACK and set(nodes) == {0, 1, 2}


def test_blocked_domains_are_skipped() -> None:
    """r1 (the best fit) is blocked: the 2-pod gang takes r0."""
    t = table([(8, 0, 0), (8, 0, 0), (8, 0, 0), (8, 0, 1), (8, 0, 1)])
    _, sol = place(t, gang(2, required_level=1, exclusive=True, blocked_domains=(1,)))
    assert sol.domain == 0
