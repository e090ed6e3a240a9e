"""NodeUnschedulable: cordoned nodes take only pods that tolerate the unschedulable taint.

kube-scheduler 1.35 semantics: a node with ``spec.unschedulable: true`` rejects the pod with
UNSCHEDULABLE_AND_UNRESOLVABLE ``node(s) were unschedulable`` unless the pod tolerates the
taint ``node.kubernetes.io/unschedulable:NoSchedule`` (what a cordon means, whether or not
the node controller has written that taint yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scheduler.api.taints import Taint, is_tolerated
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import FilterResult, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import NoArgs, parse_args

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["PLUGINS", "UNSCHEDULABLE_TAINT", "NodeUnschedulable"]

UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")
_REASON = Status.unresolvable("node(s) were unschedulable")


class NodeUnschedulable:
    """Filter: reject cordoned nodes unless the pod tolerates the unschedulable taint."""

    name = "NodeUnschedulable"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Cordoned candidates fail (one status for all of them) unless tolerated."""
        cordoned = snapshot.unschedulable[nodes]
        if not cordoned.any() or is_tolerated(pod.pod.spec.tolerations, UNSCHEDULABLE_TAINT):
            return FilterResult.all(len(nodes))
        return FilterResult.from_checks([(_REASON, cordoned)], len(nodes))


PLUGINS: dict[str, type] = {NodeUnschedulable.name: NodeUnschedulable}
