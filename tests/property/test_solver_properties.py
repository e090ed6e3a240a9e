"""Hypothesis properties of the solver on random small clusters and gangs: answers are valid,
all-or-nothing and optimal against brute force; preemption victim sets are minimal and of
least cost against brute force; every answer repeats."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.solver.candidates import gang_terms, prune_gang
from scheduler.solver.config import SolverConfig
from scheduler.solver.instance import (
    Cut,
    GangInstance,
    GangSpec,
    NodeSupply,
    NodeTable,
    PodDemand,
    PreemptionInstance,
    SolveStatus,
    Victim,
)
from scheduler.solver.preemption import eligible_units
from scheduler.solver.solve import solve_gang, solve_preemption
from scheduler.solver.validate import validate_gang, validate_preemption

LEVELS = ("topology.tessera.io/block", "topology.tessera.io/rack")
CONFIG = SolverConfig(mode="offline")
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tables(
    draw: st.DrawFn, max_nodes: int = 5, pods: int = 4, gpus: Sequence[int] = (0, 2, 4, 8)
) -> NodeTable:
    """2..max_nodes nodes in racks of 1-3 inside 1-2 blocks; free GPUs from ``gpus``, CPUs
    0-12; optional fragmentation growth in [-5, 20] per pod count (0 for 0 pods)."""
    n = draw(st.integers(2, max_nodes))
    racks = sorted(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    with_frag = draw(st.booleans())
    nodes = []
    for i, rack in enumerate(racks):
        frag = None
        if with_frag:
            frag = (0, *draw(st.lists(st.integers(-5, 20), min_size=pods, max_size=pods)))
        nodes.append(
            NodeSupply(
                id=10 + i,
                name=f"n{i}",
                free=(draw(st.sampled_from(gpus)), draw(st.integers(0, 12))),
                domain=(min(rack, 1), rack),
                frag_cost=frag,
            )
        )
    return NodeTable.from_nodes(nodes, dims=("gpu", "cpu"), levels=LEVELS)


@st.composite
def gangs(
    draw: st.DrawFn,
    table: NodeTable,
    max_pods: int = 4,
    key: str = "g",
    gpus: Sequence[int] = (0, 1, 2, 4),
) -> GangSpec:
    """1..max_pods pods of 1-2 kinds (GPU demand from ``gpus``), optional level constraints,
    blocked racks and cuts."""
    size = draw(st.integers(1, max_pods))
    shapes = draw(
        st.lists(st.tuples(st.sampled_from(gpus), st.integers(1, 4)), min_size=1, max_size=2)
    )
    ids = [int(v) for v in table.ids]
    pods = []
    for i in range(size):
        allowed = None
        if draw(st.integers(0, 5)) == 0:
            allowed = tuple(
                draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
            )
        pods.append(PodDemand(id=i, demand=shapes[i % len(shapes)], allowed=allowed))
    required = draw(st.sampled_from([None, 0, 1]))
    preferred = draw(st.sampled_from([None, 1])) if required in (None, 0) else None
    exclusive = required is not None and draw(st.booleans())
    blocked = ()
    if exclusive:
        blocked = tuple(draw(st.lists(st.integers(0, 2), max_size=2, unique=True)))
    cuts = ()
    if draw(st.booleans()):
        cuts = (Cut(node=draw(st.sampled_from(ids)), max_pods=draw(st.integers(0, 2))),)
    return GangSpec(
        key=key,
        pods=tuple(pods),
        required_level=required,
        preferred_level=preferred,
        exclusive=exclusive,
        blocked_domains=blocked,
        cuts=cuts,
    )


def brute_force(inst: GangInstance, free: np.ndarray | None = None) -> list[dict[int, int]]:
    """Every valid assignment (pod -> node) of the gang, by enumeration."""
    table, gang = inst.table, inst.gang
    room = table.free if free is None else free
    ids = [int(v) for v in table.ids]
    out = []
    for nodes in itertools.product(range(len(ids)), repeat=gang.size):
        load = np.zeros_like(room)
        ok = True
        for pod, r in zip(gang.pods, nodes, strict=True):
            load[r] += pod.demand
            ok &= pod.allowed is None or ids[r] in pod.allowed
        ok &= bool(((load <= room) | (load == 0)).all())
        level = gang.required_level
        if ok and level is not None:
            doms = {int(table.domain[r, level]) for r in nodes}
            ok = len(doms) == 1 and doms.pop() not in gang.blocked_domains
        for cut in gang.cuts:
            ok &= sum(1 for r in nodes if ids[r] == cut.node) <= cut.max_pods
        if ok:
            out.append({p.id: ids[r] for p, r in zip(gang.pods, nodes, strict=True)})
    return out


@PROFILE
@given(st.data())
def test_gang_answers_are_valid_all_or_nothing_and_optimal(data: st.DataObject) -> None:
    """Valid, every pod or none, INFEASIBLE exactly when brute force finds nothing, and the
    objective equals the brute-force optimum."""
    table = data.draw(tables())
    inst = GangInstance(table=table, gang=data.draw(gangs(table)))
    sol = solve_gang(inst, CONFIG)
    assert validate_gang(inst, sol) == []
    assert len(sol.assignment) in (0, inst.gang.size)
    valid = brute_force(inst)
    assert (sol.status is SolveStatus.INFEASIBLE) == (not valid)
    if valid:
        cands = prune_gang(table, inst.gang, CONFIG.gang)
        assert not isinstance(cands, str)
        best = min(sum(gang_terms(cands, a, CONFIG.gang).values()) for a in valid)
        assert sol.status is SolveStatus.OPTIMAL and sol.proven_optimal
        assert sol.objective == best


@PROFILE
@given(st.data())
def test_exclusive_gang_never_lands_in_a_blocked_domain(data: st.DataObject) -> None:
    """With every rack but one blocked, a placed exclusive gang is in that rack."""
    table = data.draw(tables())
    gang = data.draw(gangs(table))
    racks = sorted({int(d) for d in table.domain[:, 1]})
    keep = data.draw(st.sampled_from(racks))
    gang = gang.model_copy(
        update={
            "required_level": 1,
            "preferred_level": None,
            "exclusive": True,
            "blocked_domains": tuple(r for r in racks if r != keep),
        }
    )
    inst = GangInstance(table=table, gang=gang)
    sol = solve_gang(inst, CONFIG)
    assert validate_gang(inst, sol) == []
    assert sol.domain in (None, keep)


@st.composite
def preemptions(draw: st.DrawFn) -> PreemptionInstance:
    """A preemptor of 1-3 pods (priority 0, 1-4 GPUs each) on 2-4 nearly full nodes (0-2
    GPUs free) running 1-6 victims (1-8 GPUs) with priorities -3..1, some in victim gangs."""
    table = draw(tables(max_nodes=4, pods=3, gpus=(0, 0, 1, 2)))
    gang = draw(gangs(table, max_pods=3, key="serve", gpus=(1, 2, 4)))
    ids = [int(v) for v in table.ids]
    victims = []
    for i in range(draw(st.integers(1, 6))):
        victims.append(
            Victim(
                key=f"v{i}",
                node=draw(st.sampled_from(ids)),
                priority=draw(st.integers(-3, 1)),
                work_lost=draw(st.integers(0, 3000)),
                gang=draw(st.sampled_from([None, None, "bg0", "bg1"])),
                freed=(draw(st.sampled_from([1, 2, 4, 8])), draw(st.integers(0, 4))),
                frag_cost=draw(st.integers(-50, 50)),
            )
        )
    return PreemptionInstance(
        table=table, gang=gang.model_copy(update={"priority": 0}), victims=tuple(victims)
    )


def _fits_after(inst: PreemptionInstance, units: Sequence[Sequence[int]]) -> bool:
    free = np.array(inst.table.free, copy=True)
    for members in units:
        for i in members:
            v = inst.victims[i]
            row = inst.table.row(v.node)
            assert row is not None
            free[row] += v.freed
    return bool(brute_force(GangInstance(table=inst.table, gang=inst.gang), free))


@PROFILE
@given(preemptions())
def test_preemption_victims_are_least_cost_and_minimal(inst: PreemptionInstance) -> None:
    """Valid; the victim cost equals the brute-force minimum over unit subsets; no chosen
    unit can be spared; INFEASIBLE exactly when evicting every eligible unit is not enough."""
    sol = solve_preemption(inst, CONFIG)
    assert validate_preemption(inst, sol) == []
    units = eligible_units(inst, CONFIG)
    feasible_costs = [
        sum(units[u].cost for u in subset)
        for k in range(len(units) + 1)
        for subset in itertools.combinations(range(len(units)), k)
        if _fits_after(inst, [units[u].members for u in subset])
    ]
    assert (sol.status is SolveStatus.INFEASIBLE) == (not feasible_costs)
    if not feasible_costs:
        return
    assert sol.status is SolveStatus.OPTIMAL
    assert sol.victim_cost == min(feasible_costs)
    chosen = [u for u in units if {inst.victims[i].key for i in u.members} <= set(sol.victims)]
    assert sum(u.cost for u in chosen) == sol.victim_cost
    for u in chosen:
        rest = [c.members for c in chosen if c is not u]
        assert not _fits_after(inst, rest), f"unit {u.key} could be spared"


@PROFILE
@given(st.data())
def test_same_instance_and_config_repeat_the_decision(data: st.DataObject) -> None:
    """Solving the same gang and preemption twice gives identical answers."""
    table = data.draw(tables())
    inst = GangInstance(table=table, gang=data.draw(gangs(table)))
    a, b = solve_gang(inst, CONFIG), solve_gang(inst, CONFIG)
    assert a.model_dump(exclude={"wall_s"}) == b.model_dump(exclude={"wall_s"})
    pre = data.draw(preemptions())
    p, q = solve_preemption(pre, CONFIG), solve_preemption(pre, CONFIG)
    assert p.model_dump(exclude={"wall_s"}) == q.model_dump(exclude={"wall_s"})
