"""End to end: a Framework running the standard plugins schedules, binds and diagnoses."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.api.pod import Pod
from scheduler.framework.interfaces import (
    BindPlugin,
    FilterPlugin,
    Plugin,
    PreFilterPlugin,
    PreScorePlugin,
    QueueSortPlugin,
    ScorePlugin,
)
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework, ScheduleResult
from scheduler.framework.status import Code
from scheduler.plugins import (
    defaultbinder,
    nodeaffinity,
    noderesources,
    nodeunschedulable,
    prioritysort,
    tainttoleration,
)
from tests.builders import FakeHandle, info, make_handle, make_node, make_pod

ORDER = (
    "PrioritySort",
    "NodeUnschedulable",
    "NodeAffinity",
    "TaintToleration",
    "NodeResourcesFit",
    "DefaultBinder",
)
MODULES = (
    defaultbinder,
    nodeaffinity,
    noderesources,
    nodeunschedulable,
    prioritysort,
    tainttoleration,
)


def framework(handle: FakeHandle) -> Framework:
    """The standard profile (tie-break: lowest node index) over ``handle``."""
    registry: dict[str, type] = {}
    for module in MODULES:
        registry.update(module.PLUGINS)
    profile = Profile.of("standard", ORDER, tie_break="first")
    plugins: Sequence[Plugin] = [registry[n]({}, handle) for n in ORDER]
    return Framework(profile, plugins, handle)


def cluster(running: Sequence[Pod] = ()) -> FakeHandle:
    """small (1 cpu), gpu-1 and gpu-2 (8 cpu, tainted gpu=true:NoSchedule)."""
    nodes = [
        make_node("small", cpu="1", memory="4Gi"),
        make_node("gpu-1", cpu="8", memory="32Gi", taints=["gpu=true:NoSchedule"]),
        make_node("gpu-2", cpu="8", memory="32Gi", taints=["gpu=true:NoSchedule"]),
    ]
    return make_handle(nodes, running)


def schedule(handle: FakeHandle, pod: Pod) -> ScheduleResult:
    """Add the pending pod to the cache (as the informer would) and run one cycle."""
    handle.cache.add_pod(pod)
    return framework(handle).schedule_one(info(pod))


def test_unschedulable_pod_gets_kube_scheduler_diagnosis() -> None:
    """A 2-cpu pod without tolerations fits nowhere; the message counts each reason."""
    handle = cluster()
    result = schedule(handle, make_pod("p", cpu="2"))
    assert result.status.code == Code.UNSCHEDULABLE
    assert result.status.message() == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {gpu: true}."
    )
    assert handle.backend.binds == []


def test_tolerating_pod_binds_to_least_allocated_node() -> None:
    """With the toleration, the emptier gpu node wins NodeResourcesFit's LeastAllocated
    score and is bound."""
    handle = cluster([make_pod("busy", cpu="4", memory="8Gi", node_name="gpu-1")])
    pod = make_pod("p", cpu="2", memory="4Gi", tolerations=["gpu=true:NoSchedule"])
    result = schedule(handle, pod)
    # gpu-1: cpu (8000-6000)*100//8000=25, mem (32-12)Gi*100//32Gi=62 -> 87//2 = 43
    # gpu-2: cpu (8000-2000)*100//8000=75, mem (32-4)Gi*100//32Gi=87  -> 162//2 = 81
    # TaintToleration: no PreferNoSchedule taints -> 100 on both; NodeAffinity skipped
    assert result.status.code == Code.SUCCESS
    assert result.node == "gpu-2"
    assert result.feasible == 2
    assert handle.backend.binds == [("default/p", "gpu-2")]
    assert handle.cache.pods["default/p"].node == "gpu-2"


def test_node_selector_and_cordon_narrow_the_choice() -> None:
    """A cordoned node and a selector mismatch are reported with their own reasons."""
    handle = make_handle(
        [
            make_node("a", labels={"pool": "x"}, unschedulable=True),
            make_node("b", labels={"pool": "y"}),
            make_node("c", labels={"pool": "x"}),
        ]
    )
    result = schedule(handle, make_pod("p", node_selector={"pool": "x"}))
    assert (result.status.code, result.node) == (Code.SUCCESS, "c")
    handle.cache.add_node(make_node("c", labels={"pool": "x"}, unschedulable=True))
    failed = schedule(handle, make_pod("q", node_selector={"pool": "x"}))
    assert failed.status.message() == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 node(s) were unschedulable."
    )


def test_plugins_implement_their_extension_points() -> None:
    """Each plugin is registered under its name and implements exactly the points it claims."""
    handle = cluster()
    expected = {
        "PrioritySort": {QueueSortPlugin},
        "NodeUnschedulable": {FilterPlugin},
        "NodeAffinity": {PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin},
        "TaintToleration": {FilterPlugin, PreScorePlugin, ScorePlugin},
        "NodeResourcesFit": {PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin},
        "DefaultBinder": {BindPlugin},
    }
    points = (
        QueueSortPlugin,
        PreFilterPlugin,
        FilterPlugin,
        PreScorePlugin,
        ScorePlugin,
        BindPlugin,
    )
    registry: dict[str, type] = {}
    for module in MODULES:
        registry.update(module.PLUGINS)
    assert set(registry) == set(expected)
    for name, kinds in expected.items():
        plugin = registry[name]({}, handle)
        assert plugin.name == name
        assert {p for p in points if isinstance(plugin, p)} == kinds, name
