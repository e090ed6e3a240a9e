"""NodeResourcesFit (filter and its scoring strategies): kube-scheduler 1.35 semantics by table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import FilterResult
from scheduler.framework.status import Code
from scheduler.plugins.noderesources import (
    DEFAULT_MEMORY_REQUEST,
    NodeResourcesFit,
    NonZeroRequested,
    is_extended_resource,
    is_scalar_resource,
    non_zero_requests,
)
from tests.builders import info, make_handle, make_node, make_pod, rejections

Gi = 1 << 30
Mi = 1 << 20
U = Code.UNSCHEDULABLE
UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE

Verdict = tuple[Code, tuple[str, ...]] | None


def verdicts(result: FilterResult, count: int) -> list[Verdict]:
    """Per node: None if it passed, else (code, reasons) of the status that rejected it."""
    out = [None if s is None else (s.code, s.reasons) for s in rejections(result)]
    assert len(out) == count
    return out


def run_fit(
    nodes: Sequence[Node], pods: Sequence[Pod], pod: Pod, args: Mapping[str, Any] | None = None
) -> list[Verdict]:
    """PreFilter + Filter of NodeResourcesFit over every node."""
    handle = make_handle(nodes, pods)
    plugin = NodeResourcesFit(args or {}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    _, status = plugin.pre_filter(state, info(pod), snapshot)
    assert status.ok
    ids = np.arange(snapshot.size, dtype=np.intp)
    return verdicts(plugin.filter(state, info(pod), snapshot, ids), snapshot.size)


NODE = make_node("n", cpu="4", memory="8Gi", pods=3)


@pytest.mark.parametrize(
    ("running", "pod", "args", "expected"),
    [
        # 1000m <= 4000m - 0: fits
        ([], make_pod("p", cpu="1"), None, None),
        # 5000m > 4000m free and > 4000m allocatable: preemption cannot help
        ([], make_pod("p", cpu="5"), None, (UU, ("Insufficient cpu",))),
        # 2000m > 4000m - 3000m = 1000m free, but <= 4000m allocatable: resolvable
        (
            [make_pod("r", cpu="3", node_name="n")],
            make_pod("p", cpu="2"),
            None,
            (U, ("Insufficient cpu",)),
        ),
        # cpu 2000m > 1000m free; memory 10Gi > 8Gi allocatable: both reasons, unresolvable
        (
            [make_pod("r", cpu="3", node_name="n")],
            make_pod("p", cpu="2", memory="10Gi"),
            None,
            (UU, ("Insufficient cpu", "Insufficient memory")),
        ),
        # 3 running + 1 > 3 allowed pods, even for a pod requesting nothing; never unresolvable
        (
            [make_pod(f"r{i}", node_name="n") for i in range(3)],
            make_pod("p"),
            None,
            (U, ("Too many pods",)),
        ),
        # pods and cpu at once: "Too many pods" comes first
        (
            [make_pod(f"r{i}", cpu="1", node_name="n") for i in range(3)],
            make_pod("p", cpu="2"),
            None,
            (U, ("Too many pods", "Insufficient cpu")),
        ),
        # extended resource the node lacks: 1 > 0 allocatable
        (
            [],
            make_pod("p", requests={"nvidia.com/gpu": 1}),
            None,
            (UU, ("Insufficient nvidia.com/gpu",)),
        ),
        # the same, ignored by name
        (
            [],
            make_pod("p", requests={"nvidia.com/gpu": 1}),
            {"ignoredResources": ["nvidia.com/gpu"]},
            None,
        ),
        # the same, ignored by group (the part before '/')
        (
            [],
            make_pod("p", requests={"nvidia.com/gpu": 1}),
            {"ignoredResourceGroups": ["nvidia.com"]},
            None,
        ),
        # hugepages are scalar and checked (never ignorable: not extended)
        (
            [],
            make_pod("p", requests={"hugepages-2Mi": "4Mi"}),
            {"ignoredResourceGroups": ["hugepages-2Mi"]},
            (UU, ("Insufficient hugepages-2Mi",)),
        ),
        # an unprefixed non-standard name is not a scalar resource: not checked
        ([], make_pod("p", requests={"foo": 5}), None, None),
        # cpu "0" is not a request: not checked although the node is over-committed
        ([make_pod("r", cpu="5", node_name="n")], make_pod("p", cpu="0"), None, None),
        # scalar reasons in name order after the fixed resources
        (
            [],
            make_pod("p", cpu="5", requests={"example.com/b": 1, "example.com/a": 1}),
            None,
            (UU, ("Insufficient cpu", "Insufficient example.com/a", "Insufficient example.com/b")),
        ),
        # ephemeral-storage: 1Gi > 0 allocatable
        (
            [],
            make_pod("p", requests={"ephemeral-storage": "1Gi"}),
            None,
            (UU, ("Insufficient ephemeral-storage",)),
        ),
    ],
)
def test_fit_table(
    running: list[Pod], pod: Pod, args: Mapping[str, Any] | None, expected: Verdict
) -> None:
    """One node (4 cpu, 8Gi, 3 pods): each row's pod gets kube-scheduler's verdict."""
    assert run_fit([NODE], running, pod, args) == [expected]


def test_fit_groups_nodes_by_failure_combination() -> None:
    """Nodes failing differently get separate statuses, each with all their reasons."""
    nodes = [
        make_node("big", cpu="8", memory="16Gi"),
        make_node("low-cpu", cpu="1", memory="16Gi"),
        make_node("small", cpu="1", memory="1Gi"),
        make_node("small-too", cpu="1", memory="1Gi"),
    ]
    pod = make_pod("p", cpu="2", memory="2Gi")
    # big: 2 <= 8 cpu, 2Gi <= 16Gi; low-cpu: 2 > 1 cpu; small*: 2 > 1 cpu and 2Gi > 1Gi
    assert run_fit(nodes, [], pod) == [
        None,
        (UU, ("Insufficient cpu",)),
        (UU, ("Insufficient cpu", "Insufficient memory")),
        (UU, ("Insufficient cpu", "Insufficient memory")),
    ]


def test_fit_only_sees_the_candidates_it_is_given() -> None:
    """Filter answers for the ``nodes`` argument only, aligned with it."""
    nodes = [make_node("a", cpu="1"), make_node("b", cpu="4"), make_node("c", cpu="1")]
    handle = make_handle(nodes)
    plugin = NodeResourcesFit({}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    pod = info(make_pod("p", cpu="2"))
    plugin.pre_filter(state, pod, snapshot)
    result = plugin.filter(state, pod, snapshot, np.array([2, 1], dtype=np.intp))
    # c (1 cpu) fails, b (4 cpu) passes
    assert verdicts(result, 2) == [(UU, ("Insufficient cpu",)), None]


def test_fit_reads_a_full_length_candidate_list_in_its_own_order() -> None:
    """As many candidates as nodes, but reordered or repeated: still aligned with them
    (only the exact 0..N-1 list reads the columns without a gather)."""
    nodes = [make_node("a", cpu="1"), make_node("b", cpu="4"), make_node("c", cpu="1")]
    handle = make_handle(nodes)
    plugin = NodeResourcesFit({}, handle)
    snapshot = handle.cache.snapshot()
    pod = info(make_pod("p", cpu="2"))
    fails = (UU, ("Insufficient cpu",))
    for ids, expected in (
        ([0, 1, 2], [fails, None, fails]),
        ([1, 0, 2], [None, fails, fails]),
        ([1, 1, 1], [None, None, None]),
    ):
        state = CycleState()
        plugin.pre_filter(state, pod, snapshot)
        result = plugin.filter(state, pod, snapshot, np.array(ids, dtype=np.intp))
        assert verdicts(result, 3) == expected, ids


@pytest.mark.parametrize(
    ("name", "scalar", "extended"),
    [
        ("nvidia.com/gpu", True, True),
        ("hugepages-1Gi", True, False),
        ("kubernetes.io/something", True, False),
        ("attachable-volumes-csi-x", True, False),
        ("cpu", False, False),
        ("foo", False, False),
        ("bad_domain/x", False, False),
    ],
)
def test_resource_name_classes(name: str, scalar: bool, extended: bool) -> None:
    """Scalar/extended classification follows upstream's helpers for each name."""
    assert (is_scalar_resource(name), is_extended_resource(name)) == (scalar, extended)


# -- non-zero requests -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pod", "assigned", "expected"),
    [
        # no requests at all: 100m and 200Mi
        (make_pod("p"), False, (100, 200 * Mi)),
        # explicit zero is not missing: cpu 0, memory defaulted
        (make_pod("p", cpu="0"), False, (0, 200 * Mi)),
        # two containers, one without cpu: 500m + 100m; memory 200Mi + 200Mi
        (make_pod("p", containers=[{"cpu": "500m"}, {}]), False, (600, 400 * Mi)),
        # init container without requests: max(50m, 100m) = 100m; max(10Mi, 200Mi) = 200Mi
        (
            make_pod("p", containers=[{"cpu": "50m", "memory": "10Mi"}], init_containers=[{}]),
            False,
            (100, 200 * Mi),
        ),
        # overhead adds after defaults: 100m + 100m
        (make_pod("p", overhead={"cpu": "100m"}), False, (200, 200 * Mi)),
        # incoming pod with pod-level cpu 2: cpu 2000m; memory 1Gi + 200Mi (c1 missing memory)
        (
            make_pod("p", containers=[{"memory": "1Gi"}, {}], pod_level={"cpu": "2"}),
            False,
            (2000, Gi + 200 * Mi),
        ),
        # assigned pod, pod-level set and memory present in its total: no default at all
        (
            make_pod("p", containers=[{"memory": "1Gi"}, {}], pod_level={"cpu": "2"}),
            True,
            (2000, Gi),
        ),
        # assigned pod, pod-level cpu only, no memory anywhere: memory defaulted per container
        (make_pod("p", containers=[{}, {}], pod_level={"cpu": "2"}), True, (2000, 400 * Mi)),
        # assigned pod without pod-level requests: same as incoming, 100m + 100m
        (make_pod("p", containers=[{}, {}]), True, (200, 400 * Mi)),
    ],
)
def test_non_zero_requests(pod: Pod, assigned: bool, expected: tuple[int, int]) -> None:
    """Each row's (milli-cpu, memory) with scoring defaults matches the hand-worked sum."""
    assert non_zero_requests(pod, assigned=assigned) == expected
    assert 200 * Mi == DEFAULT_MEMORY_REQUEST


def test_non_zero_view_refreshes_changed_nodes_only() -> None:
    """The per-node sums follow pod additions (node versions) and rebuild for a new cache."""
    nodes = [make_node("a"), make_node("b")]
    handle = make_handle(nodes, [make_pod("r", cpu="1", node_name="a")])
    view = NonZeroRequested()
    # a: 1000m + memory default 200Mi; b: nothing
    assert view.view(handle.cache.snapshot()).tolist() == [[1000, 200 * Mi], [0, 0]]
    handle.cache.add_pod(make_pod("s", memory="1Gi", node_name="b"))
    # b: cpu default 100m, 1Gi
    assert view.view(handle.cache.snapshot()).tolist() == [[1000, 200 * Mi], [100, Gi]]
    other = make_handle(nodes)
    assert view.view(other.cache.snapshot()).tolist() == [[0, 0], [0, 0]]


# -- scores ------------------------------------------------------------------------------------
def run_score(
    strategy: str,
    nodes: Sequence[Node],
    running: Sequence[Pod],
    pod: Pod,
    args: Mapping[str, Any] | None = None,
) -> list[int]:
    """PreScore + Score (+ identity normalize) over every node with scoring strategy
    ``strategy`` and the strategy fields ``args`` (resources, requestedToCapacityRatio)."""
    handle = make_handle(nodes, running)
    plugin = NodeResourcesFit({"scoringStrategy": {"type": strategy, **(args or {})}}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    ids = np.arange(snapshot.size, dtype=np.intp)
    assert plugin.pre_score(state, info(pod), snapshot, ids).ok
    raw = plugin.score(state, info(pod), snapshot, ids)
    scores: list[int] = plugin.normalize(state, info(pod), raw).tolist()
    return scores


@pytest.mark.parametrize(
    ("nodes", "running", "pod", "args", "least", "most"),
    [
        # cpu req 1000+1000=2000 of 4000; memory 2Gi+2Gi=4Gi of 8Gi
        # least: cpu (4000-2000)*100//4000=50, mem (8-4)Gi*100//8Gi=50 -> (50+50)//2 = 50
        # most:  cpu 2000*100//4000=50, mem 4Gi*100//8Gi=50 -> 50
        (
            [make_node("a", cpu="4", memory="8Gi")],
            [make_pod("r", cpu="1", memory="2Gi", node_name="a")],
            make_pod("p", cpu="1", memory="2Gi"),
            None,
            [50],
            [50],
        ),
        # no requests anywhere: cpu 100m+100m=200m of 1000m, memory 200Mi+200Mi=400Mi of 1Gi
        # least: cpu (1000-200)*100//1000=80, mem (1024-400)Mi*100//1024Mi=60 -> 140//2 = 70
        # most:  cpu 200*100//1000=20, mem 400Mi*100//1024Mi=39 -> 59//2 = 29
        (
            [make_node("a", cpu="1", memory="1Gi")],
            [make_pod("r", node_name="a")],
            make_pod("p"),
            None,
            [70],
            [29],
        ),
        # over-full cpu: 900m+200m=1100m > 1000m; memory 1Gi+1Gi=2Gi of 4Gi
        # least: cpu 0 (requested > capacity), mem 50 -> 50//2 = 25
        # most:  cpu min(1100,1000)*100//1000=100, mem 50 -> 150//2 = 75
        (
            [make_node("a", cpu="1", memory="4Gi")],
            [make_pod("r", cpu="900m", memory="1Gi", node_name="a")],
            make_pod("p", cpu="200m", memory="1Gi"),
            None,
            [25],
            [75],
        ),
        # weights cpu 3, memory 1; cpu 2000 of 4000, memory 2Gi of 8Gi
        # least: cpu 50, mem (8-2)Gi*100//8Gi=75 -> (50*3+75*1)//4 = 225//4 = 56
        # most:  cpu 50, mem 25 -> (150+25)//4 = 175//4 = 43
        (
            [make_node("a", cpu="4", memory="8Gi")],
            [],
            make_pod("p", cpu="2", memory="2Gi"),
            {"resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}]},
            [56],
            [43],
        ),
        # cpu + nvidia.com/gpu, weight 1 each; pod cpu 1, gpu 2; both nodes 4 cpu, 1 cpu used
        # a (8 gpus, 2 used): least cpu (4000-2000)*100//4000=50, gpu (8-4)*100//8=50 -> 50
        #                     most cpu 50, gpu 4*100//8=50 -> 50
        # b (no gpus): gpu left out (capacity 0): least cpu 50 -> 50; most cpu 50 -> 50
        # c (no gpus, idle): least cpu (4000-1000)*100//4000=75; most 1000*100//4000=25
        (
            [
                make_node("a", cpu="4", allocatable={"nvidia.com/gpu": 8}),
                make_node("b", cpu="4"),
                make_node("c", cpu="4"),
            ],
            [
                make_pod("r", cpu="1", requests={"nvidia.com/gpu": 2}, node_name="a"),
                make_pod("s", cpu="1", node_name="b"),
            ],
            make_pod("p", cpu="1", requests={"nvidia.com/gpu": 2}),
            {"resources": [{"name": "cpu"}, {"name": "nvidia.com/gpu"}]},
            [50, 50, 75],
            [50, 50, 25],
        ),
        # the same cluster, pod without gpus: gpu is left out everywhere (pod request 0)
        # a: least cpu (4000-2000)*100//4000=50; most 50. c: least 75; most 25
        (
            [
                make_node("a", cpu="4", allocatable={"nvidia.com/gpu": 8}),
                make_node("c", cpu="4"),
            ],
            [make_pod("r", cpu="1", requests={"nvidia.com/gpu": 2}, node_name="a")],
            make_pod("p", cpu="1"),
            {"resources": [{"name": "cpu"}, {"name": "nvidia.com/gpu", "weight": 5}]},
            [50, 75],
            [50, 25],
        ),
    ],
)
def test_allocation_score_table(
    nodes: list[Node],
    running: list[Pod],
    pod: Pod,
    args: Mapping[str, Any] | None,
    least: list[int],
    most: list[int],
) -> None:
    """The LeastAllocated and MostAllocated strategies give each row's hand-worked scores."""
    assert run_score("LeastAllocated", nodes, running, pod, args) == least
    assert run_score("MostAllocated", nodes, running, pod, args) == most


@pytest.mark.parametrize(
    ("shape", "resources", "expected"),
    [
        # shape (0,0) (100,10): score = utilisation (scaled by 10: 0..100)
        # cpu 2000/4000 = 50 -> 50; memory 2Gi/8Gi = 25 -> 25; round((50+25)/2) = 38
        ([(0, 0), (100, 10)], None, [38]),
        # shape (0,10) (100,0), falling: cpu 50 -> 100 - 50 = 50, memory 25 -> 75;
        # weights cpu 3, memory 1: round((50*3 + 75) / 4) = round(56.25) = 56
        ([(0, 10), (100, 0)], [("cpu", 3), ("memory", 1)], [56]),
        # shape (20,0) (60,10): cpu 50 -> 0 + (100-0)*(50-20)//(60-20) = 75;
        # memory 25 -> 100*(25-20)//40 = 12 (truncated); round(87/2 = 43.5) = 44
        ([(20, 0), (60, 10)], None, [44]),
        # shape (60,0) (80,10): both utilisations below 60 score 0 and are not counted -> 0
        ([(60, 0), (80, 10)], None, [0]),
    ],
)
def test_requested_to_capacity_ratio_table(
    shape: list[tuple[int, int]],
    resources: list[tuple[str, int]] | None,
    expected: list[int],
) -> None:
    """RequestedToCapacityRatio follows the piecewise linear shape, Go rounding included."""
    node = make_node("a", cpu="4", memory="8Gi")
    pod = make_pod("p", cpu="2", memory="2Gi")
    args: dict[str, Any] = {
        "requestedToCapacityRatio": {
            "shape": [{"utilization": u, "score": v} for u, v in shape],
        }
    }
    if resources is not None:
        args["resources"] = [{"name": n, "weight": w} for n, w in resources]
    assert run_score("RequestedToCapacityRatio", [node], [], pod, args) == expected


def test_over_full_resource_scores_the_shape_at_100() -> None:
    """A resource requested beyond capacity counts as 100% utilised (upstream)."""
    # cpu 900m + 200m = 1100m > 1000m -> utilisation 100 -> score 10*10 = 100;
    # memory 1Gi of 4Gi = 25 -> 25; round(125/2 = 62.5) = 63
    node = make_node("a", cpu="1", memory="4Gi")
    running = [make_pod("r", cpu="900m", memory="512Mi", node_name="a")]
    pod = make_pod("p", cpu="200m", memory="512Mi")
    shape = {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}
    assert run_score(
        "RequestedToCapacityRatio", [node], running, pod, {"requestedToCapacityRatio": shape}
    ) == [63]


def test_default_strategy_is_least_allocated_over_cpu_and_memory() -> None:
    """Without args NodeResourcesFit scores LeastAllocated, cpu and memory weight 1."""
    handle = make_handle([make_node("a", cpu="4", memory="8Gi")])
    plugin = NodeResourcesFit({}, handle)
    assert (plugin.strategy, plugin.resources) == ("LeastAllocated", (("cpu", 1), ("memory", 1)))


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"resources": [{"name": "cpu", "weight": 101}]}, r"\.resources\.0\.weight: .*got 101"),
        (
            {"resources": [{"name": "cpu"}, {"name": "cpu"}]},
            r"\.resources: resource 'cpu' is listed more than once",
        ),
        ({"type": "Balanced"}, r"\.type: Input should be 'LeastAllocated'.*got 'Balanced'"),
        (
            {"type": "RequestedToCapacityRatio"},
            r": requestedToCapacityRatio must be specified",
        ),
        (
            {"requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 1}]}},
            r": requestedToCapacityRatio must be unset for type LeastAllocated",
        ),
        (
            {
                "type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {
                    "shape": [{"utilization": 50, "score": 1}, {"utilization": 50, "score": 2}]
                },
            },
            r"\.requestedToCapacityRatio\.shape: .*sorted in increasing order",
        ),
        (
            {
                "type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 11}]},
            },
            r"\.requestedToCapacityRatio\.shape\.0\.score: .*less than or equal to 10",
        ),
        ({"shape": []}, r"\.shape: Extra inputs"),
    ],
)
def test_scoring_strategy_args_are_validated(strategy: Mapping[str, Any], message: str) -> None:
    """Bad scoring strategies raise ValueError naming the plugin, the field and the value."""
    with pytest.raises(
        ValueError, match=r"plugin NodeResourcesFit: args\.scoringStrategy" + message
    ):
        NodeResourcesFit({"scoringStrategy": strategy}, make_handle())


def test_zero_or_missing_weights_default_to_one() -> None:
    """A resource weight of 0 (or none) means 1, as upstream defaulting does."""
    plugin = NodeResourcesFit(
        {"scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}, {"name": "memory"}]}},
        make_handle(),
    )
    assert plugin.resources == (("cpu", 1), ("memory", 1))


def test_fit_args_are_validated() -> None:
    """A resource group with a '/' is rejected, naming the plugin and the field."""
    with pytest.raises(ValueError, match=r"plugin NodeResourcesFit: args\.ignoredResourceGroups"):
        NodeResourcesFit({"ignoredResourceGroups": ["nvidia.com/gpu"]}, make_handle())
