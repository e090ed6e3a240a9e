"""PrioritySort: kube-scheduler's default QueueSort.

Higher priority first (``PodInfo.priority``: ``spec.priority``, else the PriorityClass, else
0); among equal priorities, the pod enqueued earlier first. Exactly one QueueSort plugin
runs per profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.framework.interfaces import Handle
from scheduler.framework.podinfo import PodInfo
from scheduler.plugins.helper.args import NoArgs, parse_args

__all__ = ["PLUGINS", "PrioritySort"]


class PrioritySort:
    """QueueSort: priority descending, then enqueue time ascending."""

    name = "PrioritySort"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parse_args(self.name, NoArgs, args)
        self.handle = handle

    def less(self, a: PodInfo, a_time: float, b: PodInfo, b_time: float) -> bool:
        """Whether ``a`` (enqueued at ``a_time``) goes before ``b`` (enqueued at ``b_time``)."""
        if a.priority != b.priority:
            return a.priority > b.priority
        return a_time < b_time


PLUGINS: dict[str, type] = {PrioritySort.name: PrioritySort}
