"""NodeResourcesBalancedAllocation: prefer nodes whose resources stay evenly used.

kube-scheduler's ``balancedResourceScorer`` (1.35): for each scored resource r (default
cpu and memory, weight 1), ``fraction_r = (requested_r + pod_r) / allocatable_r`` capped
at 1, using actual (not non-zero) requests; ``std`` is the population standard deviation of
the fractions (for two resources ``|f1 - f2| / 2``); score ``= int((1 - std) * 100)``. A
resource a node does not have (allocatable 0) is skipped for that node. Part of the
``kube-default`` profile, the "without tessera" baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import MAX_NODE_SCORE, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.plugins.helper.args import PluginArgs, parse_args
from scheduler.plugins.helper.resource_allocation import (
    DEFAULT_RESOURCES,
    ResourceSpec,
    unique_resources,
)


class BalancedAllocationArgs(PluginArgs):
    """``NodeResourcesBalancedAllocationArgs``: the resources balanced (weights must be 1)."""

    resources: tuple[ResourceSpec, ...] = Field(
        default=DEFAULT_RESOURCES,
        description="Resources whose used fractions are balanced (default cpu and memory).",
    )

    @field_validator("resources")
    @classmethod
    def _resources(cls, resources: tuple[ResourceSpec, ...]) -> tuple[ResourceSpec, ...]:
        for resource in resources:
            if resource.weight != 1:
                raise ValueError(f"resource {resource.name!r}: weight must be 1")
        return unique_resources(resources) if resources else DEFAULT_RESOURCES


class BalancedAllocation:
    """Score plugin (see the module docstring)."""

    name = "NodeResourcesBalancedAllocation"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = parse_args(self.name, BalancedAllocationArgs, args)
        self.handle = handle

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """``int((1 - std(fractions)) * 100)`` per node."""
        fractions: list[npt.NDArray[np.float64]] = []
        present: list[npt.NDArray[np.bool_]] = []
        for resource in self.args.resources:
            column = snapshot.column(resource.name)
            if column is None:
                continue
            capacity = snapshot.allocatable[nodes, column].astype(np.float64)
            used = snapshot.requested[nodes, column] + pod.requests.get(resource.name, 0)
            has = capacity > 0
            fraction = np.where(has, np.minimum(used / np.where(has, capacity, 1.0), 1.0), 0.0)
            fractions.append(fraction)
            present.append(has)
        if not fractions:
            return np.zeros(len(nodes), dtype=np.int64)
        values = np.stack(fractions, axis=1)
        mask = np.stack(present, axis=1)
        count = mask.sum(axis=1)
        mean = np.where(count > 0, (values * mask).sum(axis=1) / np.maximum(count, 1), 0.0)
        variance = np.where(
            count > 0,
            (((values - mean[:, None]) ** 2) * mask).sum(axis=1) / np.maximum(count, 1),
            0.0,
        )
        std = np.sqrt(variance)
        return ((1.0 - std) * MAX_NODE_SCORE).astype(np.int64)

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Already 0..100."""
        return scores


PLUGINS: dict[str, type] = {BalancedAllocation.name: BalancedAllocation}
