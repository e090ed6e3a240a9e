"""``core/v1`` Node (the fields the scheduler reads) and its allocatable resources."""

from __future__ import annotations

from pydantic import Field

from .meta import (
    K8sModel,
    KubeObject,
    Loose,
    QuantityMap,
    ResourceList,
    StrictBool,
    resource_amounts,
)
from .taints import Taint

__all__ = ["Node", "NodeSpec", "NodeStatus", "node_allocatable"]


class NodeSpec(K8sModel):
    """``spec``: ``unschedulable`` (cordoned), ``taints``, ``providerID``."""

    unschedulable: StrictBool | None = None
    taints: tuple[Taint, ...] = Field(default_factory=tuple)
    provider_id: str | None = Field(default=None, alias="providerID")


class NodeStatus(K8sModel):
    """``status``: ``capacity`` and ``allocatable`` quantity maps; the rest kept loosely."""

    capacity: QuantityMap = Field(default_factory=dict)
    allocatable: QuantityMap = Field(default_factory=dict)
    conditions: tuple[Loose, ...] = Field(default_factory=tuple)
    node_info: Loose | None = None


class Node(KubeObject):
    """``v1`` Node."""

    api_version: str = "v1"
    kind: str = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)


def node_allocatable(node: Node) -> ResourceList:
    """The node's allocatable resources as integers: ``cpu`` in milli-cores, memory and
    storage in bytes, ``pods`` and extended resources as counts.

    Like kube-scheduler's ``NodeInfo.SetNode``, only ``status.allocatable`` is read;
    ``capacity`` is not a fallback.
    """
    return resource_amounts(node.status.allocatable)
