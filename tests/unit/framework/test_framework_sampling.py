"""kube-scheduler's percentageOfNodesToScore search in the framework (sampling.py and the
kube-scheduler mode of Framework): how many nodes, the node-tree order across zones, the
rotating start index advanced by the processed nodes, statuses only for processed nodes,
the first-feasible-node shortcut without scoring, PreFilter narrowing, and the nominated
node tried first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from scheduler.api.pod import Pod
from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import FilterResult, Plugin, PreFilterResult
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.framework.sampling import (
    NodeSampler,
    node_tree_order,
    num_feasible_nodes_to_find,
    zone_key,
)
from scheduler.framework.status import Status
from scheduler.plugins.defaultbinder import DefaultBinder
from tests.builders import FakeHandle, info, make_handle, make_node, make_pod

ZONE = "topology.kubernetes.io/zone"


@pytest.mark.parametrize(
    ("percentage", "nodes", "found"),
    [
        (0, 50, 50),  # under 100 nodes: all
        (0, 99, 99),
        (0, 100, 100),  # 50 - 0 = 50 % of 100 = 50 -> at least 100
        (0, 150, 100),  # 49 % = 73 -> 100
        (0, 1_000, 420),  # 50 - 8 = 42 %
        (0, 5_000, 500),  # 50 - 40 = 10 %
        (0, 6_000, 300),  # 50 - 48 = 2 % -> floor 5 %
        (30, 1_000, 300),
        (100, 5_000, 5_000),
        (1, 5_000, 100),  # 50 -> at least 100
    ],
)
def test_num_feasible_nodes_to_find(percentage: int, nodes: int, found: int) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == found


def test_percentage_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="101"):
        num_feasible_nodes_to_find(101, 500)
    with pytest.raises(ValueError, match="-1"):
        NodeSampler(-1)


def test_zone_key_prefers_the_beta_labels() -> None:
    assert zone_key({}) == ""
    assert zone_key({ZONE: "a"}) == ":\x00:a"
    labels = {
        ZONE: "a",
        "failure-domain.beta.kubernetes.io/zone": "b",
        "topology.kubernetes.io/region": "r",
    }
    assert zone_key(labels) == "r:\x00:b"


def test_node_tree_order_round_robins_zones_in_order_of_appearance() -> None:
    zones = ["a", "a", "b", "a", "c", "b"]
    # zone a: 0 1 3, zone b: 2 5, zone c: 4 -> 0 2 4, 1 5, 3
    assert node_tree_order(zones).tolist() == [0, 2, 4, 1, 5, 3]
    assert node_tree_order(["", "", ""]).tolist() == [0, 1, 2]


# -- the framework in kube-scheduler mode ---------------------------------------------------------
class Recorder:
    """A filter plugin rejecting ``names``; remembers the node ids of every call."""

    name = "Rejecter"

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = set(names)
        self.seen: list[list[int]] = []

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: Any
    ) -> FilterResult:
        self.seen.append([int(i) for i in nodes])
        failed = np.array([snapshot.node_names[i] in self.names for i in nodes], dtype=bool)
        return FilterResult.from_checks([(Status.unschedulable("rejected"), failed)], len(nodes))


class Scorer:
    """A Score plugin giving every node 0 (so that kube-scheduler looks for many nodes)."""

    name = "Zero"

    def score(self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: Any) -> Any:
        return np.zeros(len(nodes), dtype=np.int64)

    def normalize(self, state: CycleState, pod: PodInfo, scores: Any) -> Any:
        return scores


def handle_of(count: int, zones: Sequence[str] = ("z",)) -> FakeHandle:
    """``count`` nodes n000..., zones assigned round robin over ``zones`` in node order."""
    return make_handle(
        [make_node(f"n{i:03d}", labels={ZONE: zones[i % len(zones)]}) for i in range(count)]
    )


def kube_framework(
    handle: FakeHandle,
    plugins: Sequence[Plugin],
    *,
    percentage: int | None = None,
    sampler: NodeSampler | None = None,
) -> Framework:
    binder = DefaultBinder({}, handle)
    chosen = [*plugins, binder]
    prof = Profile.of(
        "kube",
        [p.name for p in chosen],
        tie_break="first",
        percentageOfNodesToScore=percentage,
    )
    return Framework(prof, chosen, handle, sampler=sampler or NodeSampler())


def schedule(fw: Framework, handle: FakeHandle, name: str, pod: Pod | None = None) -> Any:
    pod = pod or make_pod(name, cpu="1", memory="1Gi")
    handle.cache.add_pod(pod)
    return fw.schedule_one(info(pod))


def test_search_stops_after_enough_feasible_nodes_and_the_next_one_starts_there() -> None:
    """150 nodes, adaptive: 100 feasible nodes are looked for; 10 of the first 110 are
    rejected, so 110 are processed and the next search starts at node 110 (wrapping)."""
    handle = handle_of(150)
    rejected = [f"n{i:03d}" for i in range(0, 100, 10)]
    recorder = Recorder(rejected)
    sampler = NodeSampler()
    fw = kube_framework(handle, [recorder, Scorer()], sampler=sampler)
    first = schedule(fw, handle, "a")
    assert first.status.ok and first.feasible == 100
    assert sampler.next_start == 110
    second = schedule(fw, handle, "b")
    assert second.feasible == 100
    # from n110: 40 feasible to n149, then 60 more from n000 take n000..n066 (7 rejected):
    # 107 processed
    assert sampler.next_start == (110 + 40 + 67) % 150


def test_only_processed_nodes_get_a_status() -> None:
    """When the search stops early, a node it never looked at has no status."""
    handle = handle_of(150)
    recorder = Recorder(["n000", "n149"])
    fw = kube_framework(handle, [recorder, Scorer()])
    snapshot = handle.cache.snapshot()
    nodes, diagnosis, error = fw.find_nodes_that_fit(
        CycleState(), info(make_pod("p", cpu="1")), snapshot
    )
    assert error is None and len(nodes) == 100
    assert nodes.tolist() == list(range(1, 101))
    rejected = {int(i) for _, ids in diagnosis.groups for i in ids.tolist()}
    assert rejected == {0}  # n149 was never processed


def test_search_follows_the_node_tree_across_zones() -> None:
    """Two zones (n000..n059 in a, n060..n119 in b): the search visits the first node of
    each zone, then the second of each, ..."""
    handle = make_handle(
        [make_node(f"n{i:03d}", labels={ZONE: "a" if i < 60 else "b"}) for i in range(120)]
    )
    fw = kube_framework(handle, [Recorder(), Scorer()], percentage=1)
    snapshot = handle.cache.snapshot()
    nodes, _, _ = fw.find_nodes_that_fit(CycleState(), info(make_pod("p", cpu="1")), snapshot)
    assert len(nodes) == 100
    assert nodes[:4].tolist() == [0, 60, 1, 61]


def test_without_scoring_the_first_feasible_node_is_taken() -> None:
    """No Score plugin and no extender: kube-scheduler stops at the first feasible node."""
    handle = handle_of(150)
    sampler = NodeSampler()
    fw = kube_framework(handle, [Recorder(["n000", "n001"])], sampler=sampler)
    result = schedule(fw, handle, "a")
    assert result.node == "n002" and result.feasible == 1
    assert sampler.next_start == 3


class Narrow:
    """A PreFilter plugin keeping only ``ids``."""

    name = "Narrow"

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = np.asarray(ids, dtype=np.intp)

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        return PreFilterResult(self.ids), Status.success()


def test_prefilter_narrowing_is_searched_from_the_start_index_modulo_its_size() -> None:
    """A narrowed candidate list is walked from ``nextStartNodeIndex % len(candidates)``
    and the start advances modulo all nodes."""
    handle = handle_of(10)
    sampler = NodeSampler()
    sampler.next_start = 4
    fw = kube_framework(handle, [Narrow([1, 3, 5]), Recorder(), Scorer()], sampler=sampler)
    snapshot = handle.cache.snapshot()
    nodes, _, _ = fw.find_nodes_that_fit(CycleState(), info(make_pod("p", cpu="1")), snapshot)
    assert nodes.tolist() == [3, 5, 1]  # 4 % 3 = 1: starts at the second candidate
    assert sampler.next_start == 7


def test_nominated_node_is_tried_first_and_alone() -> None:
    """A pod with status.nominatedNodeName that fits there: that node is the only feasible
    one, and the sampled search does not run (the start index stays)."""
    handle = handle_of(150)
    sampler = NodeSampler()
    fw = kube_framework(handle, [Recorder(), Scorer()], sampler=sampler)
    pod = make_pod("p", cpu="1")
    pod = pod.model_copy(
        update={"status": pod.status.model_copy(update={"nominated_node_name": "n042"})}
    )
    result = schedule(fw, handle, "p", pod)
    assert result.node == "n042" and result.feasible == 1
    assert sampler.next_start == 0


def test_nominated_node_that_does_not_fit_falls_back_to_the_search() -> None:
    handle = handle_of(150)
    fw = kube_framework(handle, [Recorder(["n042"]), Scorer()])
    pod = make_pod("p", cpu="1")
    pod = pod.model_copy(
        update={"status": pod.status.model_copy(update={"nominated_node_name": "n042"})}
    )
    result = schedule(fw, handle, "p", pod)
    assert result.status.ok and result.node != "n042" and result.feasible == 100
