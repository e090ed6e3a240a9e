"""NodePorts, NodeName and SchedulingGates: kube-scheduler 1.35 semantics by table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.status import Code
from scheduler.plugins.nodename import NodeName
from scheduler.plugins.nodeports import NodePorts, conflicts, host_ports
from scheduler.plugins.schedulinggates import SchedulingGates
from tests.builders import info, make_handle, make_node, make_pod

Port = dict[str, Any]


def with_ports(
    pod: Pod, ports: Sequence[Port], *, sidecar: Sequence[Port] = (), init: Sequence[Port] = ()
) -> Pod:
    """``pod`` with container ports (API form) on its container, a sidecar and an init one."""
    data = pod.to_dict()
    data["spec"]["containers"][0]["ports"] = list(ports)
    inits = []
    if sidecar:
        inits.append({"name": "side", "restartPolicy": "Always", "ports": list(sidecar)})
    if init:
        inits.append({"name": "setup", "ports": list(init)})
    if inits:
        data["spec"]["initContainers"] = inits
    return Pod.model_validate(data)


def hp(port: int, ip: str | None = None, protocol: str | None = None) -> Port:
    """A container port exposing host port ``port``."""
    out: Port = {"containerPort": 80, "hostPort": port}
    if ip is not None:
        out["hostIP"] = ip
    if protocol is not None:
        out["protocol"] = protocol
    return out


def test_host_ports_take_containers_and_sidecars_with_defaults() -> None:
    """GetHostPorts: sidecars first, then containers; hostPort 0 and plain init containers
    are left out; empty hostIP is 0.0.0.0, empty protocol TCP."""
    pod = with_ports(
        make_pod("p"),
        [hp(8080), {"containerPort": 9000}, hp(53, "10.0.0.1", "UDP")],
        sidecar=[hp(9090)],
        init=[hp(7070)],
    )
    assert host_ports(pod) == (
        ("0.0.0.0", "TCP", 9090),
        ("0.0.0.0", "TCP", 8080),
        ("10.0.0.1", "UDP", 53),
    )


@pytest.mark.parametrize(
    ("wanted", "used", "conflict"),
    [
        # 0.0.0.0 meets every address of the same protocol and port
        (("0.0.0.0", "TCP", 80), {("10.0.0.1", "TCP", 80)}, True),
        (("0.0.0.0", "TCP", 80), {("10.0.0.1", "UDP", 80)}, False),
        # a specific address meets 0.0.0.0 and itself, not another address
        (("10.0.0.1", "TCP", 80), {("0.0.0.0", "TCP", 80)}, True),
        (("10.0.0.1", "TCP", 80), {("10.0.0.1", "TCP", 80)}, True),
        (("10.0.0.1", "TCP", 80), {("10.0.0.2", "TCP", 80)}, False),
        (("10.0.0.1", "TCP", 80), {("10.0.0.1", "TCP", 81)}, False),
    ],
)
def test_conflict_rules_match_host_port_info(
    wanted: tuple[str, str, int], used: set[tuple[str, str, int]], conflict: bool
) -> None:
    """HostPortInfo.CheckConflict, row by row."""
    assert conflicts(wanted, frozenset(used)) is conflict


def test_node_ports_filter_rejects_nodes_with_the_port_taken() -> None:
    """A node running a pod with the same host port fails (resolvable); others pass; a pod
    without host ports SKIPs the plugin."""
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    running = [
        with_ports(make_pod("web", node_name="a"), [hp(8080)]),
        with_ports(make_pod("dns", node_name="b"), [hp(8080, "10.0.0.2")]),
    ]
    handle = make_handle(nodes, running)
    plugin = NodePorts({}, handle)
    snapshot = handle.cache.snapshot()
    ids = np.arange(3, dtype=np.intp)
    # wants 10.0.0.1:8080/TCP: a (0.0.0.0:8080) conflicts; b (10.0.0.2) does not; c is empty
    pod = info(with_ports(make_pod("p"), [hp(8080, "10.0.0.1")]))
    state = CycleState()
    _, status = plugin.pre_filter(state, pod, snapshot)
    assert status.code == Code.SUCCESS
    result = plugin.filter(state, pod, snapshot, ids)
    assert result.passed.tolist() == [False, True, True]
    ((rejection, mask),) = result.failures
    assert rejection.code == Code.UNSCHEDULABLE
    assert rejection.reasons == ("node(s) didn't have free ports for the requested pod ports",)
    assert mask.tolist() == [True, False, False]
    _, skipped = plugin.pre_filter(CycleState(), info(make_pod("q")), snapshot)
    assert skipped.code == Code.SKIP


def test_node_ports_sees_pods_added_after_a_first_cycle() -> None:
    """The used ports follow the node's pods (kept per node version)."""
    handle = make_handle([make_node("a")])
    plugin = NodePorts({}, handle)
    pod = info(with_ports(make_pod("p"), [hp(443)]))
    ids = np.arange(1, dtype=np.intp)
    assert plugin.filter(CycleState(), pod, handle.cache.snapshot(), ids).passed.tolist() == [True]
    handle.cache.add_pod(with_ports(make_pod("q", node_name="a"), [hp(443)]))
    assert plugin.filter(CycleState(), pod, handle.cache.snapshot(), ids).passed.tolist() == [False]


def test_node_name_filter_keeps_only_the_named_node() -> None:
    """spec.nodeName: every other node fails, unresolvable; unset: every node passes."""
    handle = make_handle([make_node("a"), make_node("b")])
    plugin = NodeName({}, handle)
    snapshot = handle.cache.snapshot()
    ids = np.arange(2, dtype=np.intp)
    named = info(make_pod("p", node_name="b"))
    result = plugin.filter(CycleState(), named, snapshot, ids)
    assert result.passed.tolist() == [False, True]
    ((status, _),) = result.failures
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        ("node(s) didn't match the requested node name",),
    )
    missing = info(make_pod("q", node_name="gone"))
    assert plugin.filter(CycleState(), missing, snapshot, ids).passed.tolist() == [False, False]
    free = info(make_pod("r"))
    assert plugin.filter(CycleState(), free, snapshot, ids).passed.tolist() == [True, True]


def test_scheduling_gates_hold_back_gated_pods() -> None:
    """PreEnqueue: gates -> UNSCHEDULABLE_AND_UNRESOLVABLE listing them as Go prints a slice."""
    plugin = SchedulingGates({}, make_handle())
    data = make_pod("p").to_dict()
    data["spec"]["schedulingGates"] = [{"name": "example.com/quota"}, {"name": "b"}]
    status = plugin.pre_enqueue(info(Pod.model_validate(data)))
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        ("waiting for scheduling gates: [example.com/quota b]",),
    )
    assert plugin.pre_enqueue(info(make_pod("q"))).ok


@pytest.mark.parametrize("plugin", [NodeName, NodePorts, SchedulingGates])
def test_plugins_take_no_args(plugin: type) -> None:
    """Any arg is an error naming the plugin and the field."""
    with pytest.raises(ValueError, match=rf"plugin {plugin.__name__}: args\.x: Extra inputs"):
        plugin({"x": 1}, make_handle())
