"""DefaultBinder: writes the binding through the backend (kube-scheduler's DefaultBinder).

Who calls: the runtime's Bind step, after PreBind succeeded. SUCCESS means the backend
accepted the binding (the webhook posted the Binding subresource; the simulator placed the
pod). Any exception from the backend becomes an ERROR status naming the pod and the node;
the runtime then unreserves and the pod is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import Handle
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import NoArgs, parse_args

__all__ = ["PLUGINS", "DefaultBinder"]

log = logging.getLogger(__name__)


class DefaultBinder:
    """Bind: ``handle.backend.bind(pod.key, node)``."""

    name = "DefaultBinder"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle

    def bind(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """Bind ``pod`` to ``node``; a backend failure is an ERROR status, never an exception."""
        try:
            self.handle.backend.bind(pod.key, node)
        except Exception as err:  # any backend failure (I/O, conflict) is reported, not raised
            log.warning("binding pod %s to node %s failed: %s", pod.key, node, err)
            return Status.error(f"binding pod {pod.key} to node {node}: {err}")
        return Status.success()


PLUGINS: dict[str, type] = {DefaultBinder.name: DefaultBinder}
