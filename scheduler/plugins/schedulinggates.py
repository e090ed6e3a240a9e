"""SchedulingGates: a pod with ``spec.schedulingGates`` does not enter the active queue.

kube-scheduler 1.35 (``pkg/scheduler/framework/plugins/schedulinggates``): PreEnqueue
rejects a gated pod with UNSCHEDULABLE_AND_UNRESOLVABLE ``waiting for scheduling gates:
[a b]``; the queue parks it until an update removes its gates. Who calls: the replay, when a
pod arrives (``Framework.pre_enqueue``); a rejected pod waits outside the active queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.framework.interfaces import Handle
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import NoArgs, parse_args

__all__ = ["PLUGINS", "SchedulingGates"]


class SchedulingGates:
    """PreEnqueue: hold back pods that still carry scheduling gates."""

    name = "SchedulingGates"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle

    def pre_enqueue(self, pod: PodInfo) -> Status:
        """SUCCESS without gates; otherwise UNSCHEDULABLE_AND_UNRESOLVABLE naming them
        (Go's ``%v`` of the name list: ``[a b]``)."""
        gates = pod.pod.spec.scheduling_gates
        if not gates:
            return Status.success()
        names = " ".join(gate.name for gate in gates)
        return Status.unresolvable(f"waiting for scheduling gates: [{names}]")


PLUGINS: dict[str, type] = {SchedulingGates.name: SchedulingGates}
