"""The plain-Python validators catch every broken rule, and the instance models reject bad
input with messages naming the object, the field and the value."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.solver.instance import (
    Cut,
    GangInstance,
    GangSolution,
    GangSpec,
    NodeSupply,
    NodeTable,
    PodDemand,
    PreemptionInstance,
    PreemptionSolution,
    SolveStatus,
    Victim,
)
from scheduler.solver.validate import validate_gang, validate_preemption

BLOCK, RACK = "topology.tessera.io/block", "topology.tessera.io/rack"

# n0, n1 in rack 0; n2 in rack 1; 8 GPUs free each.
TABLE = NodeTable.from_nodes(
    [
        NodeSupply(id=0, name="n0", free=(8, 64), domain=(0, 0)),
        NodeSupply(id=1, name="n1", free=(8, 64), domain=(0, 0)),
        NodeSupply(id=2, name="n2", free=(8, 64), domain=(0, 1)),
    ],
    dims=("gpu", "cpu"),
    levels=(BLOCK, RACK),
)


def gang(**kw: object) -> GangSpec:
    pods = (PodDemand(id=0, demand=(8, 1)), PodDemand(id=1, demand=(8, 1), allowed=(0, 1)))
    return GangSpec.model_validate({"key": "g", "pods": pods, "required_level": 1, **kw})


def codes(
    assignment: dict[int, int], status: SolveStatus = SolveStatus.FEASIBLE, **kw: object
) -> list[str]:
    inst = GangInstance(table=TABLE, gang=gang(**kw))
    sol = GangSolution(key="g", status=status, assignment=assignment, reason="r")
    return sorted({v.code for v in validate_gang(inst, sol)})


@pytest.mark.parametrize(
    ("assignment", "kw", "expected"),
    [
        ({0: 0, 1: 1}, {}, []),
        ({0: 0}, {}, ["pod-unplaced"]),
        ({0: 0, 1: 1, 7: 1}, {}, ["pod-unknown"]),
        ({0: 0, 1: 9}, {}, ["node-unknown"]),
        ({0: 0, 1: 2}, {"required_level": None}, ["node-not-allowed"]),
        # n0 + n1 are rack 0, n2 is rack 1: split
        ({0: 2, 1: 0}, {}, ["domain-split"]),
        ({0: 0, 1: 1}, {"exclusive": True, "blocked_domains": (0,)}, ["domain-blocked"]),
        # 2 pods x 8 GPUs on n0 (8 free): 16 > 8
        ({0: 0, 1: 0}, {}, ["capacity"]),
        ({0: 0, 1: 1}, {"cuts": (Cut(node=1, max_pods=0),)}, ["cut-violated"]),
    ],
)
def test_gang_validator_flags_each_rule(
    assignment: dict[int, int], kw: dict[str, object], expected: list[str]
) -> None:
    """Each row breaks one rule (or none) and gets exactly that violation code."""
    assert codes(assignment, **kw) == expected


def test_status_and_placement_must_agree() -> None:
    """A placed status with no pods, or an unplaced one with pods or without reason, is flagged."""
    inst = GangInstance(table=TABLE, gang=gang())
    empty = GangSolution(key="g", status=SolveStatus.OPTIMAL)
    placed = GangSolution(
        key="g", status=SolveStatus.INFEASIBLE, assignment={0: 0, 1: 1}, reason="r"
    )
    silent = GangSolution(key="g", status=SolveStatus.INFEASIBLE)
    assert [v.code for v in validate_gang(inst, empty)] == ["status-empty"]
    assert [v.code for v in validate_gang(inst, placed)] == ["status-placed"]
    assert [v.code for v in validate_gang(inst, silent)] == ["no-reason"]


def test_preemption_validator_checks_priority_whole_gangs_and_freed_capacity() -> None:
    """n0 is full (0 GPUs); victims: lone a (prio 5, not below the preemptor's 5) and gang bg
    (b on n0, c on n2). Evicting a and b only: priority and split-gang violations; evicting
    nothing leaves the pod without room on n0."""
    t = NodeTable.from_nodes(
        [
            NodeSupply(id=0, name="n0", free=(0, 64), domain=(0, 0)),
            NodeSupply(id=2, name="n2", free=(0, 64), domain=(0, 1)),
        ],
        dims=("gpu", "cpu"),
        levels=(BLOCK, RACK),
    )
    victims = (
        Victim(key="a", node=0, priority=5, work_lost=0, freed=(8, 0)),
        Victim(key="b", node=0, priority=1, work_lost=0, gang="bg", freed=(8, 0)),
        Victim(key="c", node=2, priority=1, work_lost=0, gang="bg", freed=(8, 0)),
    )
    g = GangSpec(key="s", priority=5, pods=(PodDemand(id=0, demand=(8, 1)),))
    inst = PreemptionInstance(table=t, gang=g, victims=victims)
    bad = PreemptionSolution(
        key="s", status=SolveStatus.FEASIBLE, victims=("a", "b"), assignment={0: 0}
    )
    assert sorted(v.code for v in validate_preemption(inst, bad)) == [
        "victim-gang-split",
        "victim-priority",
    ]
    none = PreemptionSolution(key="s", status=SolveStatus.FEASIBLE, assignment={0: 0})
    assert [v.code for v in validate_preemption(inst, none)] == ["capacity"]
    good = PreemptionSolution(
        key="s", status=SolveStatus.FEASIBLE, victims=("b", "c"), assignment={0: 0}
    )
    assert validate_preemption(inst, good) == []


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: NodeTable(
                dims=("gpu",),
                levels=(),
                ids=[0, 0],
                names=("a", "b"),
                free=[[1], [1]],
                domain=[[], []],
            ),
            "NodeTable.ids: node id 0 appears more than once",
        ),
        (
            lambda: NodeTable(
                dims=("gpu",), levels=(RACK,), ids=[0], names=("a",), free=[[1.5]], domain=[[0]]
            ),
            "NodeTable.free: expected integers",
        ),
        (
            lambda: NodeTable(
                dims=("gpu",),
                levels=(BLOCK, RACK),
                ids=[0, 1],
                names=("a", "b"),
                free=[[1], [1]],
                domain=[[0, 3], [1, 3]],
            ),
            "domain 3 lies in more than one",
        ),
        (
            lambda: NodeTable(
                dims=("gpu",),
                levels=(RACK,),
                ids=[0],
                names=("a",),
                free=[[1]],
                domain=[[0]],
                frag_cost=[[5, 1]],
            ),
            "NodeTable.frag_cost[a][0]: growth for 0 pods must be 0, got 5",
        ),
        (
            lambda: GangInstance(
                table=TABLE, gang=GangSpec(key="g", pods=(PodDemand(id=0, demand=(1,)),))
            ),
            "GangInstance[g].pods[0].demand: 1 values for dims ['gpu', 'cpu']",
        ),
        (
            lambda: GangInstance(table=TABLE, gang=gang(preferred_level=0)),
            "GangInstance[g].preferred_level: 0 must be finer than required_level 1",
        ),
        (
            lambda: GangInstance(table=TABLE, gang=gang(required_level=None, exclusive=True)),
            "GangInstance[g].required_level: exclusive or blocked domains need a level",
        ),
        (
            lambda: GangInstance(table=TABLE, gang=gang(cuts=(Cut(node=42, max_pods=1),))),
            "GangInstance[g].cuts: unknown node id 42",
        ),
    ],
)
def test_bad_input_names_object_field_and_value(build: object, message: str) -> None:
    """Malformed instances raise ValueError with a message that locates the problem."""
    with pytest.raises(ValueError, match=None) as err:
        build()  # type: ignore[operator]
    assert message in str(err.value)


def test_node_table_arrays_are_read_only_copies() -> None:
    """The table copies its arrays and freezes them: later writes by the caller do not leak."""
    free = np.array([[8, 64]])
    t = NodeTable(
        dims=("gpu", "cpu"), levels=(RACK,), ids=[3], names=("a",), free=free, domain=[[0]]
    )
    free[0, 0] = 0
    assert int(t.free[0, 0]) == 8 and not t.free.flags.writeable and t.row(3) == 0


def test_rows_maps_many_node_ids_at_once() -> None:
    """rows() gives each id's row and -1 for ids the table does not hold."""
    t = NodeTable(
        dims=("gpu",),
        levels=(),
        ids=[7, 3, 5],
        names=("a", "b", "c"),
        free=[[1], [1], [1]],
        domain=[[], [], []],
    )
    assert t.rows([5, 7, 4, 3]).tolist() == [2, 0, -1, 1]
    assert t.row(3) == 1 and t.row(4) is None
