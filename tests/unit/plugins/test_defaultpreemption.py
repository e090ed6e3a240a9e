"""DefaultPreemption: kube-scheduler 1.35's PostFilter preemption, by table.

Rows mirror upstream ``defaultpreemption/default_preemption_test.go`` (TestPostFilter,
TestSelectBestCandidate, TestDryRunPreemption) with its resource sizes: small = 100m/100,
medium = 200m/200, large = 300m/300, very large = 500m/500 (cpu/memory bytes); priorities
neg -100, low 0, mid 100, high 1000, very high 10000. Rows given ``statuses`` hand the plugin
the filters' verdicts, as upstream's ``filteredNodesStatuses`` do; the others take them from
the profile's real filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import Diagnosis, PostFilterResult
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.profiles import Profile
from scheduler.framework.status import Code, Status
from scheduler.plugins.defaultpreemption import (
    Candidate,
    DefaultPreemption,
    Victim,
    num_candidates,
    pick_one_node,
)
from scheduler.plugins.registry import build_framework
from tests.builders import FIT_FILTER_ONLY, FakeBackend, info, make_cache, make_node, make_pod

NEG, LOW, MID, HIGH, VERY_HIGH = -100, 0, 100, 1000, 10000
SMALL = ("100m", "100")
MEDIUM = ("200m", "200")
LARGE = ("300m", "300")
VERY_LARGE = ("500m", "500")
NONE = (None, None)
U = Code.UNSCHEDULABLE
UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def node(name: str, res: tuple[str, str] = VERY_LARGE, *, pods: int = 32) -> Node:
    """A node with ``res`` cpu/memory and ``pods`` pod slots."""
    return make_node(name, cpu=res[0], memory=res[1], pods=pods)


def running(
    name: str,
    on: str,
    priority: int = LOW,
    res: tuple[str | None, str | None] = NONE,
    *,
    start: int = 0,
    labels: Mapping[str, str] | None = None,
    terminating: bool = False,
) -> Pod:
    """A pod bound to ``on``, started ``start`` seconds after the epoch (``status.startTime``);
    ``terminating``: being deleted after a scheduler preemption."""
    pod = make_pod(name, cpu=res[0], memory=res[1], priority=priority, node_name=on, labels=labels)
    status: dict[str, Any] = {"start_time": f"1970-01-01T00:00:{start:02d}Z"}
    if terminating:
        status["conditions"] = (
            {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"},
        )
        meta = pod.metadata.model_copy(update={"deletion_timestamp": "2025-01-01T00:00:00Z"})
        pod = pod.model_copy(update={"metadata": meta})
    return pod.model_copy(update={"status": pod.status.model_copy(update=status)})


def preemptor(
    priority: int,
    res: tuple[str | None, str | None] = NONE,
    *,
    never: bool = False,
    nominated: str | None = None,
    affinity: Mapping[str, Any] | None = None,
) -> PodInfo:
    """The incoming pod ``p``."""
    pod = make_pod("p", cpu=res[0], memory=res[1], priority=priority, affinity=affinity)
    if never:
        pod = pod.model_copy(
            update={"spec": pod.spec.model_copy(update={"preemption_policy": "Never"})}
        )
    if nominated is not None:
        status = pod.status.model_copy(update={"nominated_node_name": nominated})
        pod = pod.model_copy(update={"status": status})
    return info(pod)


@dataclass
class Outcome:
    """What one PostFilter call did."""

    result: PostFilterResult | None
    status: Status
    evicted: list[str]


def preempt(
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    pod: PodInfo,
    *,
    statuses: Mapping[str, Code] | None = None,
    filters: Sequence[str] = ("NodeResourcesFit",),
    args: Mapping[str, Any] | None = None,
) -> Outcome:
    """Run the profile's filters (or take ``statuses``: node -> code, absent nodes count as
    UNSCHEDULABLE_AND_UNRESOLVABLE) and then DefaultPreemption's PostFilter."""
    backend = FakeBackend(make_cache(nodes, pods))
    profile = Profile.of(
        "t",
        ["PrioritySort", *filters, "DefaultPreemption", "DefaultBinder"],
        args={"DefaultPreemption": dict(args or {})},
        disabled=FIT_FILTER_ONLY,
    )
    framework = build_framework(profile, backend)
    plugin = framework.points.post_filter[0]
    assert isinstance(plugin, DefaultPreemption)
    snapshot = backend.cache.snapshot()
    state = CycleState()
    if statuses is None:
        feasible, diagnosis = framework.find_feasible(state, pod, snapshot)
        assert len(feasible) == 0, "the pod fits without preemption"
    else:
        diagnosis = Diagnosis()
        for name, code in statuses.items():
            ids = np.array([snapshot.node_index[name]], dtype=np.intp)
            diagnosis.record(Status(code, ("filtered",)), ids)
    result, status = plugin.post_filter(state, pod, snapshot, diagnosis)
    return Outcome(result, status, [key.split("/")[1] for key, _ in backend.evictions])


# -- TestPostFilter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "pods", "pod", "statuses", "nominated", "code", "message", "evicted"),
    [
        pytest.param(
            # node1 holds 1 pod of 1: p1 (prio 0) goes, p (1000) fits
            [node("node1", pods=1)],
            [running("p1", "node1")],
            preemptor(HIGH),
            {"node1": U},
            "node1",
            Code.SUCCESS,
            "",
            ["p1"],
            id="pod with higher priority can be made schedulable",
        ),
        pytest.param(
            [node("node1", pods=1)],
            [running("p1", "node1")],
            preemptor(LOW),
            {"node1": U},
            None,
            U,
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            [],
            id="pod with tied priority is still unschedulable",
        ),
        pytest.param(
            [node("node1", pods=1)],
            [running("p1", "node1")],
            preemptor(HIGH),
            {"node1": UU},
            None,
            U,
            "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            [],
            id="preemption should respect filteredNodesStatuses",
        ),
        pytest.param(
            [node("node1", pods=1)],
            [running("p1", "node1")],
            preemptor(HIGH),
            {},
            None,
            U,
            "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            [],
            id="absent statuses mean UnschedulableAndUnresolvable",
        ),
        pytest.param(
            # node1's only pod outranks p (mid): node2's low p2 goes
            [node("node1", pods=1), node("node2", pods=1)],
            [running("p1", "node1", HIGH), running("p2", "node2", LOW)],
            preemptor(MID),
            {"node1": U, "node2": U},
            "node2",
            Code.SUCCESS,
            "",
            ["p2"],
            id="pod can be made schedulable on one node",
        ),
        pytest.param(
            # 300m asked of 200m nodes: even empty they do not fit
            [node("node1", ("200m", "400")), node("node2", ("200m", "400"))],
            [running("p1", "node1"), running("p2", "node2")],
            preemptor(HIGH, LARGE),
            {"node1": U, "node2": U},
            None,
            U,
            "preemption: 0/2 nodes are available: 2 Insufficient cpu.",
            [],
            id="no candidate nodes found, not enough resource after removing low priority pods",
        ),
        pytest.param(
            # node1/node3: their pods have p's priority; node2: too small even empty
            [node("node1", pods=1), node("node2", ("200m", "400")), node("node3", pods=1)],
            [running("p1", "node1", HIGH), running("p2", "node2"), running("p3", "node3", HIGH)],
            preemptor(HIGH, LARGE),
            {"node1": U, "node2": U, "node3": U},
            None,
            U,
            "preemption: 0/3 nodes are available: 1 Insufficient cpu, "
            "2 No preemption victims found for incoming pod.",
            [],
            id="no candidate nodes found with mixed reasons",
        ),
        pytest.param(
            # node3 absent and node4 unresolvable: not tried
            [node(f"node{i}", ("200m", "400")) for i in (1, 2, 3, 4)],
            [running("p1", "node1"), running("p2", "node2")],
            preemptor(HIGH, LARGE),
            {"node1": U, "node2": U, "node4": UU},
            None,
            U,
            "preemption: 0/4 nodes are available: 2 Insufficient cpu, "
            "2 Preemption is not helpful for scheduling.",
            [],
            id="two unresolvable nodes and two without enough cpu",
        ),
        pytest.param(
            # the statuses say node1 failed, but p fits beside p1: every victim is reprieved
            [node("node1")],
            [running("p1", "node1", LOW, SMALL)],
            preemptor(HIGH, SMALL),
            {"node1": U},
            None,
            Code.ERROR,
            'preemption: expected at least one victim pod on node "node1"',
            [],
            id="a pod that fits with no preemption",
        ),
    ],
)
def test_post_filter(
    nodes: list[Node],
    pods: list[Pod],
    pod: PodInfo,
    statuses: dict[str, Code],
    nominated: str | None,
    code: Code,
    message: str,
    evicted: list[str],
) -> None:
    """PostFilter's result, status and evictions match upstream's TestPostFilter rows."""
    outcome = preempt(nodes, pods, pod, statuses=statuses)
    assert (outcome.status.code, outcome.status.message()) == (code, message)
    assert outcome.evicted == evicted
    if code == Code.SUCCESS:
        assert outcome.result == PostFilterResult(nominated, tuple(f"default/{e}" for e in evicted))
    elif code == Code.ERROR:
        assert outcome.result is None
    else:  # no candidate: an empty result clears a nomination
        assert outcome.result == PostFilterResult()


# -- TestSelectBestCandidate ----------------------------------------------------------------------
def three() -> list[Node]:
    """Nodes node1..node3 of very large capacity (as upstream's rows)."""
    return [node(f"node{i}") for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("nodes", "pods", "pod", "expected"),
    [
        pytest.param(
            [node("node1"), node("node2")],
            [running("p1", "node1", MID, LARGE), running("p2", "node2", MID, LARGE)],
            preemptor(HIGH, LARGE),
            {"node1", "node2"},
            id="a pod that fits on both nodes when lower priority pods are preempted",
        ),
        pytest.param(
            # 500m wanted of 500m: every pod goes. Highest victim: node1 mid, node2 mid,
            # node3 low -> node3
            three(),
            [
                running("p1.1", "node1", MID, MEDIUM),
                running("p1.2", "node1", MID, LARGE),
                running("p2.1", "node2", MID, MEDIUM),
                running("p2.2", "node2", LOW, MEDIUM),
                running("p3.1", "node3", LOW, MEDIUM),
                running("p3.2", "node3", LOW, MEDIUM),
            ],
            preemptor(HIGH, VERY_LARGE),
            {"node3"},
            id="node with min highest priority pod is picked",
        ),
        pytest.param(
            # highest all mid; sums (S = 2^31): node1 2S+200, node2 2S+100, node3 2S+200
            three(),
            [
                running("p1.1", "node1", MID, MEDIUM),
                running("p1.2", "node1", MID, LARGE),
                running("p2.1", "node2", MID, LARGE),
                running("p2.2", "node2", LOW, MEDIUM),
                running("p3.1", "node3", MID, MEDIUM),
                running("p3.2", "node3", MID, MEDIUM),
            ],
            preemptor(HIGH, VERY_LARGE),
            {"node2"},
            id="when highest priorities are the same, minimum sum of priorities is picked",
        ),
        pytest.param(
            # all pods go; sums: node1 4 victims 4S+0, node2 2 victims 2S+0, node3 3S+0
            three(),
            [
                running("p1.1", "node1", MID, SMALL),
                running("p1.2", "node1", NEG, SMALL),
                running("p1.3", "node1", MID, SMALL),
                running("p1.4", "node1", NEG, SMALL),
                running("p2.1", "node2", MID, LARGE),
                running("p2.2", "node2", NEG, MEDIUM),
                running("p3.1", "node3", MID, MEDIUM),
                running("p3.2", "node3", NEG, SMALL),
                running("p3.3", "node3", LOW, SMALL),
            ],
            preemptor(HIGH, VERY_LARGE),
            {"node2"},
            id="when highest priority and sum are the same, minimum number of pods is picked",
        ),
        pytest.param(
            # node2's victim is high: out; node1 3S+100, node3 4S+100, node4 4S+200 -> node1
            [node(f"node{i}") for i in (1, 2, 3, 4)],
            [
                running("p1.1", "node1", MID, SMALL),
                running("p1.2", "node1", LOW, SMALL),
                running("p1.3", "node1", LOW, SMALL),
                running("p2.1", "node2", HIGH, LARGE),
                running("p3.1", "node3", MID, MEDIUM),
                running("p3.2", "node3", LOW, SMALL),
                running("p3.3", "node3", LOW, SMALL),
                running("p3.4", "node3", LOW, MEDIUM),
                running("p4.1", "node4", MID, MEDIUM),
                running("p4.2", "node4", MID, SMALL),
                running("p4.3", "node4", MID, SMALL),
                running("p4.4", "node4", NEG, SMALL),
            ],
            preemptor(VERY_HIGH, VERY_LARGE),
            {"node1"},
            id="non-overlapping lowest high priority, sum priorities, and number of pods",
        ),
        pytest.param(
            # two mid victims everywhere; earliest start: node1 2, node2 3, node3 1 -> node2
            three(),
            [
                running("p1.1", "node1", MID, MEDIUM, start=2),
                running("p1.2", "node1", MID, MEDIUM, start=2),
                running("p2.1", "node2", MID, MEDIUM, start=3),
                running("p2.2", "node2", MID, MEDIUM, start=3),
                running("p3.1", "node3", MID, MEDIUM, start=1),
                running("p3.2", "node3", MID, MEDIUM, start=1),
            ],
            preemptor(HIGH, VERY_LARGE),
            {"node2"},
            id="same priority, same number of victims, different start time for each node",
        ),
        pytest.param(
            # earliest start: node1 min(4, 2) = 2, node2 min(5, 1) = 1, node3 min(3, 6) = 3
            three(),
            [
                running("p1.1", "node1", MID, MEDIUM, start=4),
                running("p1.2", "node1", MID, MEDIUM, start=2),
                running("p2.1", "node2", MID, MEDIUM, start=5),
                running("p2.2", "node2", MID, MEDIUM, start=1),
                running("p3.1", "node3", MID, MEDIUM, start=3),
                running("p3.2", "node3", MID, MEDIUM, start=6),
            ],
            preemptor(HIGH, VERY_LARGE),
            {"node3"},
            id="same priority, same number of victims, different start time for all pods",
        ),
        pytest.param(
            # only the mid (highest) victims' starts count: node1 2, node2 6, node3 5
            three(),
            [
                running("p1.1", "node1", LOW, MEDIUM, start=4),
                running("p1.2", "node1", MID, MEDIUM, start=2),
                running("p2.1", "node2", MID, MEDIUM, start=6),
                running("p2.2", "node2", LOW, MEDIUM, start=1),
                running("p3.1", "node3", LOW, MEDIUM, start=3),
                running("p3.2", "node3", MID, MEDIUM, start=5),
            ],
            preemptor(HIGH, VERY_LARGE),
            {"node2"},
            id="different priority, same number of victims, different start time for all pods",
        ),
    ],
)
def test_select_best_candidate(
    nodes: list[Node], pods: list[Pod], pod: PodInfo, expected: set[str]
) -> None:
    """The nominated node is the one upstream's TestSelectBestCandidate rows expect."""
    outcome = preempt(nodes, pods, pod)
    assert outcome.status.ok, outcome.status
    assert outcome.result is not None
    assert outcome.result.nominated_node in expected
    on_node = {p.metadata.name for p in pods if p.spec.node_name == outcome.result.nominated_node}
    assert set(outcome.evicted) == on_node


# -- SelectVictimsOnNode: the reprieve ------------------------------------------------------------
@pytest.mark.parametrize(
    ("pods", "pod", "evicted"),
    [
        pytest.param(
            # 600m node full; p asks 300m; all three out -> fits. Reprieve by priority: a
            # (300m) back -> 300m free: kept; b (200m) back -> 100m free: victim; c (100m)
            # back -> 200m free: victim. Evicting a alone would also do: importance, not
            # count, decides
            [
                running("c", "node1", LOW, SMALL),
                running("a", "node1", 50, LARGE),
                running("b", "node1", 10, MEDIUM),
            ],
            preemptor(MID, LARGE),
            ["b", "c"],
            id="reprieve in priority order, not by count",
        ),
        pytest.param(
            # equal priority: the older pod (start 1) is more important and is reprieved
            [
                running("young", "node1", LOW, LARGE, start=9),
                running("old", "node1", LOW, LARGE, start=1),
            ],
            preemptor(MID, LARGE),
            ["young"],
            id="equal priority: the earlier start is reprieved first",
        ),
        pytest.param(
            # 100m free; p (priority 100) asks 200m: "same" (100) is never a victim, x is
            [running("same", "node1", MID, LARGE), running("x", "node1", LOW, MEDIUM)],
            preemptor(MID, MEDIUM),
            ["x"],
            id="only lower-priority pods are victims",
        ),
    ],
)
def test_reprieve(pods: list[Pod], pod: PodInfo, evicted: list[str]) -> None:
    """Victims are what is left after reprieving the most important pods first (600m node)."""
    outcome = preempt([node("node1", ("600m", "600"))], pods, pod)
    assert outcome.status.ok, outcome.status
    assert outcome.evicted == evicted


# -- eligibility ----------------------------------------------------------------------------------
def test_preemption_policy_never_does_not_preempt() -> None:
    """A pod with preemptionPolicy Never evicts nothing and keeps its nomination."""
    outcome = preempt(
        [node("node1", pods=1)], [running("p1", "node1")], preemptor(HIGH, never=True)
    )
    assert outcome.result is None
    assert outcome.status == Status.unschedulable(
        "preemption: not eligible due to preemptionPolicy=Never."
    )
    assert outcome.evicted == []


@pytest.mark.parametrize(
    ("node1", "eligible"),
    [(U, False), (UU, True)],
)
def test_terminating_victim_on_the_nominated_node(node1: Code, eligible: bool) -> None:
    """A pod nominated to node1, where its earlier victim is still terminating, waits; unless
    node1 is now unresolvable for it, then it preempts again (on node2)."""
    pods = [running("old", "node1", LOW, terminating=True), running("v", "node2", LOW)]
    outcome = preempt(
        [node("node1", pods=1), node("node2", pods=1)],
        pods,
        preemptor(HIGH, nominated="node1"),
        statuses={"node1": node1, "node2": U},
    )
    if eligible:
        assert outcome.status.ok
        assert outcome.evicted == ["v"]
    else:
        assert outcome.result is None
        assert outcome.status.message() == (
            "preemption: not eligible due to a terminating pod on the nominated node."
        )
        assert outcome.evicted == []


# -- the profile's filters on the what-if ---------------------------------------------------------
def test_anti_affinity_to_a_lower_priority_pod_is_resolved_by_preempting_it() -> None:
    """InterPodAffinity rejects node1 for an anti-affine low pod (resolvable): removing that
    pod lets the preemptor fit, so it is the victim; a high one elsewhere is untouched."""
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "x"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    pods = [
        running("low", "node1", LOW, labels={"app": "x"}),
        running("high", "node2", VERY_HIGH, labels={"app": "x"}),
    ]
    outcome = preempt(
        [node("node1"), node("node2")],
        pods,
        preemptor(HIGH, affinity=anti),
        filters=("NodeResourcesFit", "InterPodAffinity"),
    )
    assert outcome.status.ok, outcome.status
    assert outcome.result == PostFilterResult("node1", ("default/low",))


# -- candidates, offset and the last tie ----------------------------------------------------------
@pytest.mark.parametrize(
    ("potential", "percentage", "absolute", "expected"),
    [
        (50, 10, 100, 50),  # 5 < 100 -> 100, capped at 50
        (500, 10, 100, 100),  # 50 < 100 -> 100
        (5000, 10, 100, 500),  # 10 % of 5000
        (500, 30, 100, 150),  # 30 % of 500
        (10, 0, 3, 3),  # only the absolute floor
        (7, 35, 0, 2),  # 7 * 35 // 100 = 2
    ],
)
def test_num_candidates(potential: int, percentage: int, absolute: int, expected: int) -> None:
    """calculateNumCandidates: percentage of the potential nodes, floored, within bounds."""
    assert num_candidates(potential, percentage, absolute) == expected


def test_dry_run_starts_at_the_seeded_offset_and_stops_when_enough() -> None:
    """With one candidate wanted the dry run stops at the first candidate from the random
    offset; with the defaults it tries all four and picks node0 (lowest victim priority)."""
    nodes = [node(f"node{i}", pods=1) for i in range(4)]
    pods = [running("v0", "node0", NEG)] + [running(f"v{i}", f"node{i}", LOW) for i in (1, 2, 3)]
    statuses = {f"node{i}": U for i in range(4)}
    seed = next(s for s in range(20) if np.random.default_rng(s).integers(4) != 0)
    offset = int(np.random.default_rng(seed).integers(4))
    one = {"seed": seed, "minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 1}
    first = preempt(nodes, pods, preemptor(HIGH), statuses=statuses, args=one)
    assert first.result is not None and first.result.nominated_node == f"node{offset}"
    full = preempt(nodes, pods, preemptor(HIGH), statuses=statuses, args={"seed": seed})
    assert full.result is not None and full.result.nominated_node == "node0"


def test_no_room_for_candidates_finds_none() -> None:
    """minCandidateNodesAbsolute 0 and 10 % of 5 nodes: numCandidates is 0, and upstream's
    candidate list, sized by it, keeps none: no preemption, every node "not helpful"."""
    nodes = [node(f"node{i}", pods=1) for i in range(5)]
    pods = [running(f"v{i}", f"node{i}", LOW) for i in range(5)]
    outcome = preempt(
        nodes,
        pods,
        preemptor(HIGH),
        statuses={f"node{i}": U for i in range(5)},
        args={"minCandidateNodesAbsolute": 0},
    )
    assert outcome.evicted == []
    assert outcome.status.message() == (
        "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
    )


def _candidate(node: int, *victims: tuple[int, float]) -> Candidate:
    return Candidate(
        node, f"n{node}", tuple(Victim(f"v{node}.{k}", p, s) for k, (p, s) in enumerate(victims))
    )


def test_pick_one_node_takes_the_first_of_a_full_tie() -> None:
    """Candidates equal on every criterion: the first in dry-run order wins."""
    tied = [_candidate(2, (5, 1.0)), _candidate(0, (5, 1.0)), _candidate(1, (5, 1.0))]
    assert pick_one_node(tied).node == 2


def test_pick_one_node_prefers_fewer_pdb_violations_first() -> None:
    """PDB violations come before every priority criterion (tessera never has any, but the
    order is upstream's)."""
    violating = Candidate(0, "n0", (Victim("a", -100, 0.0),), pdb_violations=1)
    clean = Candidate(1, "n1", (Victim("b", 1000, 0.0),))
    assert pick_one_node([violating, clean]) is clean


# -- args -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (
            {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0},
            "cannot both be zero",
        ),
        ({"minCandidateNodesPercentage": 101}, "args.minCandidateNodesPercentage"),
        ({"minCandidateNodesAbsolute": -1}, "args.minCandidateNodesAbsolute"),
        ({"minCandidates": 3}, "args.minCandidates"),
    ],
)
def test_bad_args_name_the_plugin_and_field(args: dict[str, Any], problem: str) -> None:
    """Invalid DefaultPreemptionArgs fail with a one-line error naming plugin and field."""
    with pytest.raises(ValueError, match="plugin DefaultPreemption") as caught:
        preempt([node("n")], [], preemptor(HIGH), statuses={}, args=args)
    assert problem in str(caught.value)
