"""NodePorts: a pod's host ports must be free on the node.

kube-scheduler 1.35 (``pkg/scheduler/framework/plugins/nodeports``, ``GetHostPorts`` in
``pkg/scheduler/util`` and ``HostPortInfo`` in the framework's ``types.go``):

* the ports a pod uses are the ``hostPort > 0`` entries of its containers and of its
  restartable (sidecar) init containers; an empty ``hostIP`` is ``0.0.0.0``, an empty
  ``protocol`` is ``TCP``;
* PreFilter: a pod without host ports SKIPs the plugin;
* Filter: a wanted ``(ip, protocol, port)`` conflicts with a used one of the same protocol
  and port when either IP is ``0.0.0.0`` or both are equal; a node with a conflict fails
  with UNSCHEDULABLE ``node(s) didn't have free ports for the requested pod ports``
  (preemption may free the port).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.interfaces import FilterResult, Handle, NodeIds, PreFilterResult
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import NoArgs, parse_args

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["ERR_REASON", "PLUGINS", "NodePorts", "host_ports"]

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
BIND_ALL = "0.0.0.0"
_REJECTED = Status.unschedulable(ERR_REASON)

HostPort = tuple[str, str, int]
"""``(host IP, protocol, port)`` with kube-scheduler's defaults applied."""

_KEY = StateKey[tuple[HostPort, ...]]("PreFilterNodePorts")


def host_ports(pod: Pod) -> tuple[HostPort, ...]:
    """Upstream ``GetHostPorts`` (sanitised): restartable init containers, then containers."""
    containers = (
        *(c for c in pod.spec.init_containers if c.is_sidecar),
        *pod.spec.containers,
    )
    return tuple(
        (p.host_ip or BIND_ALL, p.protocol or "TCP", p.host_port)
        for c in containers
        for p in c.ports
        if p.host_port is not None and p.host_port > 0
    )


def conflicts(wanted: HostPort, used: frozenset[HostPort]) -> bool:
    """Upstream ``HostPortInfo.CheckConflict``: 0.0.0.0 meets every address."""
    ip, protocol, port = wanted
    if ip == BIND_ALL:
        return any(u[1] == protocol and u[2] == port for u in used)
    return (BIND_ALL, protocol, port) in used or wanted in used


class NodePorts:
    """PreFilter + Filter on host ports (see the module docstring)."""

    name = "NodePorts"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle
        self._used: dict[tuple[int, int, str], tuple[int, frozenset[HostPort]]] = {}

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        """Record the pod's host ports; SKIP when it has none."""
        wanted = host_ports(pod.pod)
        if not wanted:
            return None, Status.skip()
        state.write(_KEY, wanted)
        return None, Status.success()

    def _used_on(self, snapshot: Snapshot, i: int) -> frozenset[HostPort]:
        """The host ports of the pods on node ``i`` (kept per node version)."""
        node = snapshot.node_names[i]
        key = (snapshot.cache_id, snapshot.node_generation, node)
        version = int(snapshot.node_version[i])
        found = self._used.get(key)
        if found is not None and found[0] == version:
            return found[1]
        used = frozenset(
            port for record in snapshot.pods_on(node).values() for port in host_ports(record.pod)
        )
        if len(self._used) > 65536:
            self._used.clear()
        self._used[key] = (version, used)
        return used

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Nodes where some wanted host port is taken fail."""
        wanted = state.get(_KEY)
        if wanted is None:
            wanted = host_ports(pod.pod)
        if not wanted:
            return FilterResult.all(len(nodes))
        taken = np.zeros(len(nodes), dtype=bool)
        for position, i in enumerate(nodes.tolist()):
            used = self._used_on(snapshot, i)
            taken[position] = bool(used) and any(conflicts(w, used) for w in wanted)
        return FilterResult.from_checks([(_REJECTED, taken)], len(nodes))


PLUGINS: dict[str, type] = {NodePorts.name: NodePorts}
