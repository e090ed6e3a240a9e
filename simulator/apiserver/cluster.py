"""The simulated cluster behind a served API: the store, the simulator, and the bridge.

:class:`ServedCluster` connects the API :class:`~simulator.apiserver.store.Store` with a
:class:`~simulator.backend.SimulatedCluster` in both directions:

* **simulator -> API** (it is the backend's ``observer``): every Pod and ResourceClaim the
  simulator writes (created pods and their generated claims, claim allocations and
  reservations, bindings, deletions) is written into the store, so list and watch see it.
  For an object the API already holds, only what the simulator owns is taken over — a pod's
  ``spec.nodeName`` and ``status.resourceClaimStatuses``, a claim's ``status`` — so fields
  a client sent that tessera does not model (images, commands) are kept.
* **API -> simulator**: a write over HTTP reaches the simulator's cache as an informer event
  would (``ClusterCache.add``/``remove_*``), with the controllers tessera models acting on
  it as upstream's do: creating a pod runs the resourceclaim controller
  (``SimulatedCluster.create_pod`` generates ``<pod>-<claim>`` claims from templates);
  deleting a pod releases its claims (``delete_pod``); deleting a node deletes its pods
  (the pod GC controller, without its grace period).
* **simulated kubelet**: a bound pod runs at once — ``status.phase: Running``, a
  ``PodScheduled`` condition and one ready container status per container — since no
  kubelet exists to report it (pending pods are ``Pending``, as the API server's pod
  strategy creates them).

Writes from HTTP and from the in-process scheduler (:mod:`simulator.apiserver.scheduling`)
take :attr:`ServedCluster.lock`; a replay thread writes the simulator alone (its API is
read-only, except ``pods/binding`` in a replay played with an extender, which only writes the
store: see :attr:`ServedCluster.replay_binds`, and a preempting extender's pod status writes
and deletions: :attr:`ServedCluster.replay_deletions`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scheduler.api.dra import ResourceClaim, ResourceClaimTemplate
from scheduler.api.loaders import load_object
from scheduler.api.meta import KubeObject, format_timestamp
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.cluster.cache import ClusterCache
from simulator.apiserver import status
from simulator.apiserver.clock import Clock, wall_clock
from simulator.apiserver.replay_deletions import ReplayDeletions
from simulator.apiserver.resources import TABLE, Resource
from simulator.apiserver.status import ApiError
from simulator.apiserver.store import Entry, Store
from simulator.backend import SimulatedCluster, SimulationError
from simulator.clusters import LoadedCluster

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
"""Namespaces a fresh cluster has (created by the API server's system namespaces controller)."""


def _split(key: str) -> tuple[str, str]:
    namespace, _, name = key.rpartition("/")
    return namespace, name


class ServedCluster:
    """The store plus the simulator behind it; see the module docstring."""

    def __init__(
        self,
        store: Store,
        backend: SimulatedCluster | None = None,
        *,
        writable: bool = True,
        kubelet: bool = True,
        replay_binds: bool = False,
        clock: Clock = wall_clock,
    ) -> None:
        self.store = store
        self.clock = clock
        """The cluster's time: what the simulated kubelet and kube-scheduler's failure writes
        stamp (:mod:`simulator.apiserver.clock`; a replay's virtual time when it is served)."""
        self.backend = backend
        self.writable = writable
        self.replay_binds = replay_binds
        """A replay played with an extender: ``pods/binding`` is accepted even when the API
        is read-only, and only recorded in the store — the replay applies it to the
        simulator when the extender's bind reply arrives (a replay thread writes the
        simulator alone)."""
        self.replay_deletions: ReplayDeletions | None = None
        """A replay played with an extender: the pod status writes and deletions a
        preempting extender makes (set by ``simulator.apiserver.live``)."""
        self.kubelet = kubelet
        self.lock = threading.RLock()
        self.changed = threading.Event()
        """Set after every HTTP write (the in-process scheduler waits on it)."""
        if backend is not None:
            backend.observer = self

    @property
    def cache(self) -> ClusterCache | None:
        """The simulator's cache, if a simulator backs the API."""
        return self.backend.cache if self.backend is not None else None

    def resource(self, name: str) -> Resource:
        """A served resource by plural name."""
        found = next(r for r in self.store.table.resources if r.name == name)
        return found

    # -- loading -----------------------------------------------------------------------------
    def ensure_namespace(self, namespace: str) -> None:
        """Create a namespace object if the store has none of that name."""
        if not namespace:
            return
        namespaces = self.resource("namespaces")
        if self.store.get(namespaces, "", namespace) is None:
            with contextlib.suppress(ApiError):  # AlreadyExists: created concurrently
                self.store.create(namespaces, _namespace(namespace))

    def load_objects(self, objects: Iterable[KubeObject]) -> None:
        """Load models into the store as they are (start-up; no events)."""
        by_resource: dict[str, list[Obj]] = {}
        namespaces = set(SYSTEM_NAMESPACES)
        for obj in objects:
            group = obj.api_version.rpartition("/")[0] if "/" in obj.api_version else ""
            resource = TABLE.for_kind(group, obj.kind)
            if resource is None:
                log.debug("not served: %s %s", obj.kind, obj.key)
                continue
            data = obj.to_dict()
            if resource.name == "pods":
                data = self._kubelet(data)
            by_resource.setdefault(resource.name, []).append(data)
            if obj.namespace:
                namespaces.add(obj.namespace)
        ns_resource = self.resource("namespaces")
        existing = {e.key[1] for e in self.store.list_page(ns_resource, "").entries}
        self.store.load(ns_resource, (_namespace(n) for n in sorted(namespaces - existing)))
        for name, items in by_resource.items():
            self.store.load(self.resource(name), items)

    def load_raw(self, resource: Resource, objects: Iterable[Obj]) -> int:
        """Load plain JSON objects of one resource (start-up; no events)."""
        return self.store.load(resource, objects)

    def load_cluster(self, loaded: LoadedCluster) -> None:
        """Serve a loaded cluster: a spec's Nodes, DeviceClasses and ResourceSlices as its
        drivers publish them (built node by node), or a dump's objects as tessera models
        them; plus the objects the cache holds that the API should show (PriorityClasses,
        LeaderWorkerSets, PodGroups, pods, claims)."""
        cache = loaded.cache
        if loaded.spec is not None:
            from simulator.drivers.build import pool_builders  # noqa: PLC0415 - spec only
            from simulator.drivers.classes import device_classes  # noqa: PLC0415

            builders = pool_builders(loaded.spec)
            self.load_raw(self.resource("deviceclasses"), device_classes())
            self.load_raw(
                self.resource("nodes"),
                (b.node(n, i) for b in builders for i, n in enumerate(b.node_names())),
            )
            self.load_raw(self.resource("resourceslices"), _slices(builders))
            others: list[KubeObject] = [
                *cache.priority_classes.values(),
                *cache.pod_groups.values(),
                *cache.leader_worker_sets.values(),
            ]
        else:
            others = list(loaded.objects)
        seen = {(o.kind, o.key) for o in others}
        others.extend(r.pod for r in cache.pods.values() if ("Pod", r.key) not in seen)
        others.extend(
            r.claim for key, r in cache.claims.items() if ("ResourceClaim", key) not in seen
        )
        self.load_objects(others)

    # -- simulator -> API (ClusterObserver) --------------------------------------------------
    def object_changed(self, obj: KubeObject) -> None:
        """Write a simulator change into the store (see the module docstring)."""
        resource = TABLE.for_kind(obj.api_version.rpartition("/")[0], obj.kind)
        if resource is None:
            return
        entry = self.store.get(resource, obj.namespace, obj.name)
        model = obj.to_dict()
        if entry is None:
            data = model
            self.ensure_namespace(obj.namespace)
        else:
            data = entry.obj()
            if isinstance(obj, Pod):
                spec, st = data.setdefault("spec", {}), data.setdefault("status", {})
                if obj.spec.node_name:
                    spec["nodeName"] = obj.spec.node_name
                claims = model.get("status", {}).get("resourceClaimStatuses")
                if claims:
                    st["resourceClaimStatuses"] = claims
            else:
                data["status"] = model.get("status", {})
        if isinstance(obj, Pod):
            data = self._kubelet(data)
        if entry is not None:
            before = entry.obj()
            before["metadata"].pop("resourceVersion", None)
            data["metadata"].pop("resourceVersion", None)
            if before == data:
                return
        self.store.put(resource, data)

    def object_deleted(self, kind: str, key: str) -> None:
        """Delete what the simulator deleted (unknown keys are ignored)."""
        resource = TABLE.for_kind("" if kind == "Pod" else "resource.k8s.io", kind)
        if resource is None:
            return
        namespace, name = _split(key)
        if self.store.get(resource, namespace, name) is not None:
            with contextlib.suppress(ApiError):  # NotFound: deleted concurrently over HTTP
                self.store.delete(resource, namespace, name)

    def _kubelet(self, pod: Obj) -> Obj:
        """The simulated kubelet's view of a pod: bound -> Running (see the module doc)."""
        if not self.kubelet:
            return pod
        spec, st = pod.setdefault("spec", {}), pod.setdefault("status", {})
        if st.get("phase") in ("Succeeded", "Failed"):
            return pod
        if not spec.get("nodeName"):
            st.setdefault("phase", "Pending")
            return pod
        if st.get("phase") == "Running":
            return pod
        now = format_timestamp(self.clock())
        st["phase"] = "Running"
        st.setdefault("startTime", now)
        conditions = [c for c in st.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now})
        for kind in ("Initialized", "Ready", "ContainersReady"):
            if all(c.get("type") != kind for c in conditions):
                conditions.append({"type": kind, "status": "True", "lastTransitionTime": now})
        st["conditions"] = conditions
        st["containerStatuses"] = [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
            for c in spec.get("containers") or []
        ]
        return pod

    def kubelet_view(self, pod: Obj) -> Obj:
        """A pod as the simulated kubelet reports it (used by HTTP binding)."""
        return self._kubelet(pod)

    # -- replay ------------------------------------------------------------------------------
    def sync_nodes(self) -> None:
        """Delete from the store the nodes (and their slices) the cache no longer has — a
        replay's node failures, which the replay applies to the cache directly."""
        cache = self.cache
        if cache is None:
            return
        nodes = self.resource("nodes")
        slices = self.resource("resourceslices")
        for entry in self.store.list_page(nodes, "").entries:
            name = entry.key[1]
            if name in cache.nodes:
                continue
            self.store.delete(nodes, "", name)
            on_node = self.store.list_page(slices, "", accept=_on_node(name)).entries
            for s in on_node:
                self.store.delete(slices, "", s.key[1])

    # -- API -> simulator --------------------------------------------------------------------
    def model(self, resource: Resource, obj: Obj) -> KubeObject | None:
        """The object as a tessera model (None for kinds tessera does not model).

        Raises ApiError 422 naming the field when the object does not fit the model.
        """
        try:
            return load_object(obj, source="request")
        except ValueError as exc:
            name = str(obj.get("metadata", {}).get("name", ""))
            text = str(exc).removeprefix("request: ")
            raise status.invalid(resource, name, [("FieldValueInvalid", "", text)]) from None

    def after_write(self, resource: Resource, before: Obj | None, after: Obj | None) -> None:
        """Tell the simulator about an HTTP write (caller holds :attr:`lock`)."""
        self.changed.set()
        backend = self.backend
        if backend is None:
            return
        cache = backend.cache
        kind = resource.kind
        model = self.model(resource, after) if after is not None else None
        if before is None and isinstance(model, Pod):
            try:
                backend.create_pod(model)
            except SimulationError as exc:
                log.warning("resourceclaim controller: %s", exc)
                cache.add_pod(model)
            return
        if after is None and before is not None:
            meta = before.get("metadata", {})
            key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
            if kind == "Pod":
                backend.delete_pod(key)
            elif kind == "ResourceClaim":
                cache.remove_claim(key)
            elif kind == "ResourceClaimTemplate":
                backend.templates.pop(key, None)
            elif kind == "Node":
                for record in cache.remove_node(str(meta.get("name", ""))):
                    backend.delete_pod(record.key)
            elif kind == "ResourceSlice":
                cache.remove_slice(str(meta.get("name", "")))
            return
        if isinstance(model, ResourceClaimTemplate):
            backend.add_template(model)
        elif isinstance(model, ResourceClaim):
            cache.add_claim(model)
        elif isinstance(model, Node | Pod) or model is not None:
            cache.add(model)


def _namespace(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _on_node(node: str) -> Callable[[Entry], bool]:
    def accept(entry: Entry) -> bool:
        return entry.fields.get("spec.nodeName") == node

    return accept


def _slices(builders: list[Any]) -> Iterator[Obj]:
    for builder in builders:
        for i, name in enumerate(builder.node_names()):
            yield from builder.slices(name, i)


__all__ = ["SYSTEM_NAMESPACES", "ServedCluster", "status"]
