"""Which of a pod's extended resources DRA serves, node by node (KEP-5004).

With the DRAExtendedResource gate, an extended resource request backed by a DeviceClass
(:func:`scheduler.dra.extended.extended_resource_classes`) is served by DRA on every node
whose ``status.allocatable`` has 0 of it (absent or zero: no device plugin offers it there),
and by the node's device plugin elsewhere (kube-scheduler 1.35: ``noderesources``
``shouldDelegateResourceToDRA`` and DynamicResources' ``filterExtendedResources``).

Who calls: NodeResourcesFit (skips what DRA serves), DynamicResources (builds the special
claim for it), the solver tables and the GPU shape (count it as devices, not as a node
column). One rule, one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scheduler.api.meta import ResourceList
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.extended import classify_extended

__all__ = ["ExtendedDemand", "dra_served", "extended_demand"]


@dataclass(frozen=True, slots=True)
class ExtendedDemand:
    """A pod's requests that DRA may serve, on one snapshot.

    ``mapped``: ``(resource, device class, amount)`` for every requested (> 0) resource
    backed by a DeviceClass, sorted by resource; ``unmapped``: the other requested
    extended-resource names (device plugins only).
    """

    mapped: tuple[tuple[str, str, int], ...]
    unmapped: tuple[str, ...]

    def served(self, code: int) -> dict[str, str]:
        """Resource -> class of the mapped resources whose bit is set in ``code`` (see
        :meth:`codes`)."""
        return {r: c for j, (r, c, _) in enumerate(self.mapped) if code >> j & 1}

    def codes(self, snapshot: Snapshot, nodes: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        """Per node of ``nodes``: bit j set when DRA serves ``mapped[j]`` there."""
        codes = np.zeros(len(nodes), dtype=np.int64)
        for j, (resource, _, _) in enumerate(self.mapped):
            codes |= dra_served(snapshot, resource, nodes).astype(np.int64) << j
        return codes


def dra_served(
    snapshot: Snapshot, resource: str, nodes: npt.NDArray[np.intp]
) -> npt.NDArray[np.bool_]:
    """Nodes of ``nodes`` with 0 allocatable ``resource`` (absent counts as 0). Only
    meaningful for a resource backed by a DeviceClass, with the gate on."""
    column = snapshot.column(resource)
    if column is None:
        return np.ones(len(nodes), dtype=bool)
    return np.asarray(snapshot.allocatable[nodes, column] == 0, dtype=bool)


def extended_demand(requests: ResourceList, snapshot: Snapshot) -> ExtendedDemand | None:
    """The pod's DRA-servable requests, or None when the DRAExtendedResource gate is off or
    no requested resource is backed by a DeviceClass (upstream PreFilter then leaves
    extended resources to NodeResourcesFit alone)."""
    if not snapshot.features.extended_resource:
        return None
    mapped, unmapped = classify_extended(requests, snapshot.extended_resources)
    if not mapped:
        return None
    return ExtendedDemand(mapped, unmapped)
