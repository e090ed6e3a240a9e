"""A kube-scheduler-like profile (with InterPodAffinity and PodTopologySpread) schedules pods
one at a time through ``Framework.schedule_one``: LeaderWorkerSet groups with the
exclusive-topology affinity the LWS webhook injects land one rack each, exclusively, and a
DoNotSchedule zone constraint spreads replicas evenly."""

from __future__ import annotations

from collections import Counter

from scheduler.api.lws import (
    LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    LWS_GROUP_INDEX_LABEL,
    LWS_GROUP_KEY_LABEL,
    LWS_NAME_LABEL,
    LWS_SIZE_ANNOTATION,
    LWS_WORKER_INDEX_LABEL,
)
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.framework.status import Code
from scheduler.plugins.registry import build_framework
from tests.builders import RACK, FakeHandle, info, make_handle, make_node, make_pod

# kube-scheduler's default order and weights, as far as tessera has the plugins
PROFILE = Profile.of(
    "kube-like",
    [
        "PrioritySort",
        "NodeUnschedulable",
        ("TaintToleration", 3),
        ("NodeAffinity", 2),
        "NodeResourcesFit",
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
        ("NodeResourcesBalancedAllocation", 1),
        "DefaultBinder",
    ],
    tie_break="first",
)


def racks(count: int, per_rack: int) -> list[Node]:
    """``count`` racks of ``per_rack`` nodes with 8 cpu each (one LWS pod fills a node)."""
    return [
        make_node(f"r{r}-n{n}", cpu="8", labels={RACK: f"r{r}"})
        for r in range(count)
        for n in range(per_rack)
    ]


def lws_pod(group: int, index: int, size: int) -> Pod:
    """Pod ``index`` of LWS group ``group`` with the webhook's exclusive-topology terms:
    affinity to its own group key per rack, anti-affinity to any other group key per rack."""
    key = f"key-{group}"
    selector_in = {
        "matchExpressions": [{"key": LWS_GROUP_KEY_LABEL, "operator": "In", "values": [key]}]
    }
    selector_others = {
        "matchExpressions": [
            {"key": LWS_GROUP_KEY_LABEL, "operator": "Exists"},
            {"key": LWS_GROUP_KEY_LABEL, "operator": "NotIn", "values": [key]},
        ]
    }
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    return make_pod(
        f"llm-{group}" if index == 0 else f"llm-{group}-{index}",
        cpu="8",
        labels={
            LWS_NAME_LABEL: "llm",
            LWS_GROUP_INDEX_LABEL: str(group),
            LWS_GROUP_KEY_LABEL: key,
            LWS_WORKER_INDEX_LABEL: str(index),
        },
        annotations={LWS_SIZE_ANNOTATION: str(size), LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION: RACK},
        affinity={
            "podAffinity": {required: [{"labelSelector": selector_in, "topologyKey": RACK}]},
            "podAntiAffinity": {
                required: [{"labelSelector": selector_others, "topologyKey": RACK}]
            },
        },
    )


def schedule(fw: Framework, handle: FakeHandle, pod: Pod) -> tuple[Code, str]:
    """Add the pod to the cache and run one cycle: (code, node or failure message)."""
    handle.cache.add_pod(pod)
    result = fw.schedule_one(info(pod))
    return result.status.code, result.node or result.status.message()


def test_lws_groups_take_one_rack_each_exclusively() -> None:
    """Three racks of three nodes, groups of two: each group lands in one rack, no two groups
    share a rack, and a fourth group fits nowhere although three nodes are free."""
    handle = make_handle(racks(3, 3))
    fw = build_framework(PROFILE, handle.cluster)
    rack_of: dict[int, set[str]] = {}
    for group in range(3):
        for index in range(2):
            code, node = schedule(fw, handle, lws_pod(group, index, 2))
            assert code == Code.SUCCESS, node
            rack_of.setdefault(group, set()).add(handle.cache.nodes[node].metadata.labels[RACK])
    assert all(len(used) == 1 for used in rack_of.values()), rack_of
    assert len(set().union(*rack_of.values())) == 3
    code, message = schedule(fw, handle, lws_pod(3, 0, 2))
    assert code == Code.UNSCHEDULABLE
    # the six full nodes fail on cpu first; each rack's free node fails the anti-affinity
    assert "3 node(s) didn't match pod anti-affinity rules" in message
    assert "6 Insufficient cpu" in message


def test_lws_worker_follows_its_leader_into_a_crowded_rack() -> None:
    """Rack r0 has one free node left after an unrelated pod; the group's leader is placed
    there first (pinned), and its worker must join rack r0 rather than the empty rack r1."""
    handle = make_handle(racks(2, 2), [make_pod("other", cpu="8", node_name="r0-n0")])
    fw = build_framework(PROFILE, handle.cluster)
    leader = lws_pod(0, 0, 2)
    leader = leader.model_copy(
        update={"spec": leader.spec.model_copy(update={"node_selector": {RACK: "r0"}})}
    )
    assert schedule(fw, handle, leader) == (Code.SUCCESS, "r0-n1")
    code, message = schedule(fw, handle, lws_pod(0, 1, 2))
    # r0 is full; r1 has room but no pod of the group: the worker waits
    assert code == Code.UNSCHEDULABLE
    assert "2 node(s) didn't match pod affinity rules" in message


def test_zone_spread_places_replicas_evenly() -> None:
    """Six replicas with a DoNotSchedule zone spread (maxSkew 1) over three zones of two nodes:
    two per zone, whatever the scores prefer."""
    nodes = [make_node(f"z{z}-n{n}", labels={"zone": f"z{z}"}) for z in range(3) for n in range(2)]
    handle = make_handle(nodes)
    fw = build_framework(PROFILE, handle.cluster)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ]
    zones: Counter[str] = Counter()
    for i in range(6):
        pod = make_pod(f"web-{i}", cpu="1", labels={"app": "web"}, topology_spread=spread)
        code, node = schedule(fw, handle, pod)
        assert code == Code.SUCCESS, node
        zones[handle.cache.nodes[node].metadata.labels["zone"]] += 1
        assert max(zones.values()) - min(zones[f"z{z}"] for z in range(3)) <= 1
    assert zones == Counter({"z0": 2, "z1": 2, "z2": 2})
