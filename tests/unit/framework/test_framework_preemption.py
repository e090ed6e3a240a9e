"""Preemption on simulated 8-GPU nodes: a serving pod or gang that fits only after evicting
batch pods evicts a least-cost set (checked against brute force), never half a batch gang,
never a pod of higher or equal priority; batch pods do not preempt unless configured."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.pod import Pod
from scheduler.api.taints import Taint, Toleration
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.gang_cycle import GangCycle
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.status import Code
from scheduler.plugins.registry import build_framework
from scheduler.solver.config import PreemptionWeights
from tests.builders import FIT_FILTER_ONLY, gpu_claim_pod, gpu_rack_cluster
from tests.builders import RackEnv as Env

RACK = "topology.tessera.io/rack"
SERVING = 100
W = PreemptionWeights()  # per_pod 1000, per_priority_rank 10000, per_work 1, per_gang 5000


@dataclass(frozen=True)
class Running:
    """A pod running before the preemptor arrives."""

    name: str
    node: int
    gpus: int
    started: float
    priority: int = -10
    gang: str | None = None


def env(nodes: int = 3, per_rack: int = 3, preemption_args: Mapping[str, Any] | None = None) -> Env:
    """``nodes`` nodes of 8 whole GPUs (64 cpu) in racks of ``per_rack``."""
    loaded, backend = gpu_rack_cluster(nodes, per_rack)
    args = {"levels": list(loaded.levels), **(preemption_args or {})}
    profile = Profile.of(
        "preempt",
        [
            "PrioritySort",
            "NodeUnschedulable",
            "TaintToleration",
            "NodeResourcesFit",
            "NodeAffinity",
            "DynamicResources",
            "GangTopology",
            "Preemption",
            "DefaultBinder",
        ],
        args={
            "GangTopology": {"levels": list(loaded.levels), "solver": {"mode": "offline"}},
            "Preemption": args,
            "DynamicResources": {"devicePreemption": True},
        },
        disabled=FIT_FILTER_ONLY,
        tie_break="first",
    )
    return Env(loaded.cache, backend, build_framework(profile, backend))


def gpu_pod(
    name: str,
    gpus: int,
    priority: int,
    *,
    node: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Pod:
    """A 1-cpu pod asking ``gpus`` whole GPUs, optionally pinned to ``node``."""
    return gpu_claim_pod(
        name, gpus, priority=priority, node=node, labels=labels, annotations=annotations
    )


def start(e: Env, running: Sequence[Running]) -> None:
    """Bind every running pod on its node at its start time (the backend's clock)."""
    sizes = {r.gang: sum(1 for x in running if x.gang == r.gang) for r in running if r.gang}
    for r in sorted(running, key=lambda x: x.started):
        notes = (
            {"tessera.io/gang": r.gang, "tessera.io/gang-size": str(sizes[r.gang])}
            if r.gang
            else {}
        )
        e.backend.clock = r.started
        pod = gpu_pod(
            r.name, r.gpus, r.priority, node=e.cache.node_names[r.node], annotations=notes
        )
        result = e.framework.schedule_one(pod_info(e.backend.create_pod(pod)))
        assert result.status.ok, (r, result.status)


def cost(victims: Sequence[Running], now: float, top: int, everyone: Sequence[Running]) -> int:
    """The documented victim cost: per pod (per_pod + per_priority_rank x rank + work lost),
    plus per_gang per victim gang; ranks among the distinct eligible priorities."""
    distinct = sorted({r.priority for r in everyone if r.priority < top})
    total = sum(
        W.per_pod + W.per_priority_rank * distinct.index(v.priority) + int(now - v.started)
        for v in victims
    )
    return total + W.per_gang * len({v.gang for v in victims if v.gang})


def brute_force(
    running: Sequence[Running], nodes: int, gpus: int, now: float, top: int
) -> int | None:
    """Least cost of a victim set (lone pods and whole gangs below ``top``) after which some
    node has ``gpus`` free GPUs; None when no set works."""
    units: dict[str, list[Running]] = {}
    for r in running:
        units.setdefault(r.gang or f"pod:{r.name}", []).append(r)
    eligible = [u for u in units.values() if all(r.priority < top for r in u)]
    best: int | None = None
    for k in range(len(eligible) + 1):
        for chosen in itertools.combinations(eligible, k):
            gone = {r.name for u in chosen for r in u}
            free = [8] * nodes
            for r in running:
                if r.name not in gone:
                    free[r.node] -= r.gpus
            if max(free) >= gpus:
                c = cost([r for u in chosen for r in u], now, top, running)
                best = c if best is None else min(best, c)
    return best


def preempt_for(e: Env, name: str, gpus: int, now: float, priority: int = SERVING) -> PodInfo:
    """Create the preemptor at ``now`` and run one cycle (which preempts if it can)."""
    e.backend.clock = now
    info = pod_info(e.backend.create_pod(gpu_pod(name, gpus, priority)))
    result = e.framework.schedule_one(info)
    assert not result.status.ok
    return info


@pytest.mark.parametrize(
    ("running", "gpus", "now", "expected"),
    [
        # n0: a1 4 GPUs (work 1000), a2 2 (500), a3 2 (100); n1: b1 8 (50); n2: c1 8 (900)
        # {a1}=1000+1000=2000, {a2,a3}=2000+600=2600, {b1}=1000+50=1050, {c1}=1900 -> b1
        (
            [
                Running("a1", 0, 4, 0.0),
                Running("a2", 0, 2, 500.0),
                Running("a3", 0, 2, 900.0),
                Running("b1", 1, 8, 950.0),
                Running("c1", 2, 8, 100.0),
            ],
            4,
            1000.0,
            {"b1"},
        ),
        # x prio -20 work 100 -> rank 0: 1100; y prio -5 work 10 -> rank 1: 11010;
        # z has the preemptor's priority (100): never a victim -> x
        (
            [
                Running("x", 0, 8, 900.0, priority=-20),
                Running("y", 1, 8, 990.0, priority=-5),
                Running("z", 2, 8, 0.0, priority=SERVING),
            ],
            8,
            1000.0,
            {"x"},
        ),
        # gang g (g0 on n0, g1 on n1, work 10 each): 2x1010 + 5000 = 7020 for both together;
        # lone l on n2 (work 1000): 2000 -> l (evicting only g0 would be 1010: not allowed)
        (
            [
                Running("g0", 0, 8, 990.0, gang="g"),
                Running("g1", 1, 8, 990.0, gang="g"),
                Running("l", 2, 8, 0.0),
            ],
            8,
            1000.0,
            {"l"},
        ),
        # now 9000: gang 2x1010 + 5000 = 7020; l work 9000 -> 10000 -> the whole gang
        (
            [
                Running("g0", 0, 8, 8990.0, gang="g"),
                Running("g1", 1, 8, 8990.0, gang="g"),
                Running("l", 2, 8, 0.0),
            ],
            8,
            9000.0,
            {"g0", "g1"},
        ),
        # 8 GPUs: n0 p1+p2 (4+4, work 10 each) = 2020; n1 q (8, work 1500) = 2500;
        # n2 r1+r2 (4 + 4 of prio -5: rank 1) >= 22000 -> p1, p2
        (
            [
                Running("p1", 0, 4, 1990.0),
                Running("p2", 0, 4, 1990.0),
                Running("q", 1, 8, 500.0),
                Running("r1", 2, 4, 0.0, priority=-5),
                Running("r2", 2, 4, 0.0, priority=-5),
            ],
            8,
            2000.0,
            {"p1", "p2"},
        ),
    ],
)
def test_serving_pod_evicts_the_least_cost_victims(
    running: list[Running], gpus: int, now: float, expected: set[str]
) -> None:
    """A serving pod evicts the hand-worked least-cost victims and then binds."""
    # the chosen set costs the brute-force minimum; the retry lands on a freed node
    e = env()
    start(e, running)
    preemptor = preempt_for(e, "serve", gpus, now)
    evicted = {key.split("/")[1] for _, key, _ in e.backend.evictions}
    assert evicted == expected
    chosen = [r for r in running if r.name in evicted]
    assert cost(chosen, now, SERVING, running) == brute_force(running, 3, gpus, now, SERVING)
    assert all(reason == "preempted by default/serve" for *_, reason in e.backend.evictions)
    assert all(f"default/{name}" not in e.cache.pods for name in expected)
    retry = e.framework.schedule_one(preemptor)
    assert retry.status.ok, retry.status
    node = e.cache.node_index[retry.node or ""]
    assert node in {r.node for r in chosen}


def test_no_pod_of_equal_or_higher_priority_is_evicted() -> None:
    """Every GPU is held by pods of priority 100 or 200: a priority-100 pod evicts nothing."""
    e = env()
    start(
        e,
        [
            Running("eq", 0, 8, 0.0, priority=SERVING),
            Running("hi", 1, 8, 0.0, priority=200),
            Running("hi2", 2, 8, 0.0, priority=200),
        ],
    )
    e.backend.clock = 100.0
    info = pod_info(e.backend.create_pod(gpu_pod("serve", 8, SERVING)))
    result = e.framework.schedule_one(info)
    assert result.status.code == Code.UNSCHEDULABLE
    assert (result.victims, e.backend.evictions) == ((), [])


@pytest.mark.parametrize(("may_preempt", "evicts"), [(False, False), (True, True)])
def test_batch_pods_preempt_only_when_configured(may_preempt: bool, evicts: bool) -> None:
    """A batch pod preempts lower-priority batch work only with batchMayPreempt."""
    e = env(preemption_args={"batchMayPreempt": may_preempt})
    start(e, [Running(f"low{i}", i, 8, 0.0, priority=-20) for i in range(3)])
    e.backend.clock = 50.0
    info = pod_info(e.backend.create_pod(gpu_pod("eager", 8, -1)))
    assert info.batch
    result = e.framework.schedule_one(info)
    assert result.status.code == Code.UNSCHEDULABLE
    assert bool(e.backend.evictions) is evicts
    assert len(result.victims) == (1 if evicts else 0)


def test_serving_gang_preempts_inside_one_rack_and_never_half_a_batch_gang() -> None:
    """A serving gang evicts the cheaper rack's pods and leaves a batch gang whole."""
    # r000: two lone batch pods, work 10 each: 2 x 1010 = 2020
    # r001: a batch gang over both nodes: 2 x 1010 + 5000 = 7020
    e = env(nodes=4, per_rack=2)
    running = [
        Running("lone0", 0, 8, 990.0),
        Running("lone1", 1, 8, 990.0),
        Running("bg0", 2, 8, 990.0, gang="bg"),
        Running("bg1", 3, 8, 990.0, gang="bg"),
    ]
    start(e, running)
    e.backend.clock = 1000.0
    notes = {
        "tessera.io/gang": "serve",
        "tessera.io/gang-size": "2",
        "tessera.io/topology-required": RACK,
    }
    members = [
        pod_info(e.backend.create_pod(gpu_pod(f"serve-{i}", 8, SERVING, annotations=notes)))
        for i in range(2)
    ]
    first = GangCycle(e.framework).run(members, {m.key for m in members})
    assert not first.status.ok
    assert sorted(first.victims) == ["default/lone0", "default/lone1"]
    assert "default/bg0" in e.cache.pods and "default/bg1" in e.cache.pods
    retry = GangCycle(e.framework).run(members, {m.key for m in members})
    assert retry.status.ok, retry.status
    assert {e.rack(n) for n in retry.assignments.values()} == {"r000"}


def test_batch_gang_is_evicted_whole_when_it_is_cheapest() -> None:
    """A batch gang is evicted whole (7020) rather than a lone pod of 10,000 s lost work."""
    e = env()
    running = [
        Running("g0", 0, 8, 9990.0, gang="g"),
        Running("g1", 1, 8, 9990.0, gang="g"),
        Running("l", 2, 8, 0.0),
    ]
    start(e, running)
    preempt_for(e, "serve", 8, 10000.0)
    evicted = sorted(key for _, key, _ in e.backend.evictions)
    assert evicted == ["default/g0", "default/g1"]


FILLS = ((8,), (4, 4), (4, 2, 2), (2, 4, 1), (4, 2), (1, 2, 4), (2, 2, 2, 2))


@st.composite
def loads(draw: st.DrawFn) -> tuple[list[Running], int]:
    """3 nodes, each filled by one of FILLS (0-2 GPUs left free), random start times and
    batch priorities, at most one 2-member batch gang; a preemptor of 2, 4 or 8 GPUs."""
    running: list[Running] = []
    for node in range(3):
        for k, gpus in enumerate(draw(st.sampled_from(FILLS))):
            running.append(
                Running(
                    f"n{node}p{k}",
                    node,
                    gpus,
                    float(draw(st.integers(0, 3000))),
                    priority=draw(st.sampled_from([-20, -10, -5])),
                )
            )
    if draw(st.booleans()):
        a, b = draw(st.sampled_from(list(itertools.combinations(range(len(running)), 2))))
        running[a] = Running(**{**running[a].__dict__, "gang": "bg"})
        running[b] = Running(**{**running[b].__dict__, "gang": "bg"})
    return running, draw(st.sampled_from([2, 4, 8]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loads())
def test_victim_cost_matches_brute_force(case: tuple[list[Running], int]) -> None:
    """On random tiny loads the evicted set costs the brute-force minimum, gangs whole."""
    running, gpus = case
    e = env()
    start(e, running)
    now = 4000.0
    free = [8 - sum(r.gpus for r in running if r.node == n) for n in range(3)]
    if max(free) >= gpus:
        return  # it fits without preemption: nothing to compare
    preempt_for(e, "serve", gpus, now)
    evicted = {key.split("/")[1] for _, key, _ in e.backend.evictions}
    best = brute_force(running, 3, gpus, now, SERVING)
    if best is None:
        assert evicted == set()
        return
    chosen = [r for r in running if r.name in evicted]
    assert cost(chosen, now, SERVING, running) == best
    gang = {r.name for r in running if r.gang}
    assert not gang & evicted or gang <= evicted


TAINTS = [
    None,
    {"key": "maintenance", "value": "x", "effect": "NoSchedule"},
    {"key": "maintenance", "value": "x", "effect": "NoExecute"},
    {"key": "soft", "value": "x", "effect": "PreferNoSchedule"},
]
TOLERATIONS = [
    [],
    [{"key": "maintenance", "operator": "Exists"}],
    [{"key": "maintenance", "operator": "Equal", "value": "x", "effect": "NoSchedule"}],
    [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}],
    [{"operator": "Exists"}],
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    loads(),
    st.lists(st.sampled_from(range(len(TAINTS))), min_size=3, max_size=3),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.sampled_from(range(len(TOLERATIONS))),
)
def test_preemption_frees_a_node_the_profile_filters_accept(
    case: tuple[list[Running], int], taints: list[int], cordons: list[bool], toleration: int
) -> None:
    """Random loads, node taints and cordons, preemptor tolerations: victims are only taken
    on nodes the profile's filters reject for a resolvable reason, and once they are gone
    the filters accept the preemptor on the nominated node (DefaultPreemption's contract)."""
    running, gpus = case
    e = env()
    start(e, running)
    for i, name in enumerate(e.cache.node_names):
        node = e.cache.nodes[name]
        taint = TAINTS[taints[i]]
        spec = node.spec.model_copy(
            update={
                "unschedulable": cordons[i],
                "taints": () if taint is None else (Taint.model_validate(taint),),
            }
        )
        e.cache.add_node(node.model_copy(update={"spec": spec}))
    pod = gpu_pod("serve", gpus, SERVING)
    pod = pod.model_copy(
        update={
            "spec": pod.spec.model_copy(
                update={
                    "tolerations": tuple(
                        Toleration.model_validate(t) for t in TOLERATIONS[toleration]
                    )
                }
            )
        }
    )
    e.backend.clock = 4000.0
    preemptor = pod_info(e.backend.create_pod(pod))
    result = e.framework.schedule_one(preemptor)
    if result.status.ok or not e.backend.evictions:
        return
    snapshot = e.cache.snapshot()
    static = e.framework.handle  # the profile's filters, through the plugins' own Handle
    nominated = result.nominated
    assert nominated is not None
    fits, diagnosis = static.find_feasible(
        CycleState(), preemptor, snapshot, np.array([e.cache.node_index[nominated]])
    )
    assert len(fits) == 1, diagnosis.message(1)
