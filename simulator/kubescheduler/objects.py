"""The API objects kube-scheduler would send to its extenders, from the simulator's state.

kube-scheduler puts pods and nodes from its informer cache into extender requests: the pod
as the API server serves it (``uid``, ``resourceVersion``, ``status``), full Node objects when
an extender is not ``nodeCacheCapable``, victim pods in preemption. :class:`ObjectSource` is
where the simulator gets them: :class:`ModelObjects` writes tessera's models as API JSON
(a replay without an API server); a replay served over the API uses the served objects
instead (``simulator.apiserver.live``), so the extender sees byte for byte what its own
informers list.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from scheduler.api.node import Node
from scheduler.api.pod import Pod

__all__ = ["ModelObjects", "Obj", "ObjectSource"]

Obj = dict[str, Any]


class ObjectSource(Protocol):
    """API JSON of the objects in extender requests. Must be thread-safe (binds run on
    binding threads); the caller may not modify what it gets."""

    def pod(self, pod: Pod) -> Obj:
        """The pod as kube-scheduler's cache holds it."""
        ...

    def node(self, node: Node) -> Obj:
        """The node as kube-scheduler's cache holds it."""
        ...


class ModelObjects:
    """tessera's models as API JSON (:meth:`~scheduler.api.meta.K8sModel.to_dict` with
    ``apiVersion`` and ``kind``). Node JSON is memoised per Node object (a changed node is a
    new object in the cache)."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[Node, Obj]] = {}
        self._lock = threading.Lock()

    def pod(self, pod: Pod) -> Obj:
        """``pod.to_dict()`` with its ``apiVersion`` and ``kind``."""
        data = pod.to_dict()
        data.setdefault("apiVersion", "v1")
        data.setdefault("kind", "Pod")
        return data

    def node(self, node: Node) -> Obj:
        """``node.to_dict()`` with its ``apiVersion`` and ``kind`` (memoised)."""
        name = node.metadata.name or ""
        with self._lock:
            seen = self._nodes.get(name)
            if seen is not None and seen[0] is node:
                return seen[1]
        data = node.to_dict()
        data.setdefault("apiVersion", "v1")
        data.setdefault("kind", "Node")
        with self._lock:
            self._nodes[name] = (node, data)
        return data
