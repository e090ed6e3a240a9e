"""NodeName: a pod that names its node (``spec.nodeName``) fits only that node.

kube-scheduler 1.35 (``pkg/scheduler/framework/plugins/nodename``): Filter rejects every
other node with UNSCHEDULABLE_AND_UNRESOLVABLE ``node(s) didn't match the requested node
name``; a pod without ``spec.nodeName`` passes everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import FilterResult, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import NoArgs, parse_args

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["ERR_REASON", "PLUGINS", "NodeName"]

ERR_REASON = "node(s) didn't match the requested node name"
_REJECTED = Status.unresolvable(ERR_REASON)


class NodeName:
    """Filter: only the node named by ``spec.nodeName`` (if set) passes."""

    name = "NodeName"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Every candidate passes unless the pod names another node."""
        wanted = pod.pod.spec.node_name
        if not wanted:
            return FilterResult.all(len(nodes))
        index = snapshot.node_index.get(wanted)
        other = nodes != index if index is not None else np.ones(len(nodes), dtype=bool)
        return FilterResult.from_checks([(_REJECTED, other)], len(nodes))


PLUGINS: dict[str, type] = {NodeName.name: NodeName}
