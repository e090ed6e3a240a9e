"""ClusterState: the webhook's in-memory cluster, fed by informers or by a snapshot directory.

One object, shared by every request handler and every informer thread, guarded by one
re-entrant lock (:attr:`ClusterState.lock`): informer threads call :meth:`replace` and
:meth:`apply` (the informers' ``InformerSink`` protocol) with raw camelCase API objects; the
request handlers hold the lock while they read the cache and run the framework.

What it does with each object:

* **conversion** — the raw dict gets its ``apiVersion``/``kind`` from the informer's kind when
  the API left them out (list items), is validated into its ``scheduler.api`` model (older
  ``resource.k8s.io`` versions converted) and gets the API server's defaulting
  (:func:`scheduler.api.defaults.apply_defaults`; idempotent for objects that did pass an API
  server). An object that cannot be read is logged, counted in :attr:`unreadable` and
  skipped — an informer never stops on one bad object;
* **Pods** in phase ``Succeeded``/``Failed`` are treated as deleted (kube-scheduler's own
  pod informer leaves them out); an update that changes nothing a scheduler reads (only
  conditions, say) refreshes the stored object without invalidating the snapshot;
* **ResourceClaims**: when a claim whose devices the webhook had *assumed* (a predicted
  allocation, see :mod:`scheduler.extender.cluster`) shows its written allocation, the
  prediction is checked (``predictions``/``mismatches``) and replaced by what was written;
* **ResourceSlices**: a first list goes through :class:`~scheduler.cluster.bulk.SliceLoader`
  (identical node pools share one device template); a later event for a slice of such a
  templated pool first turns the pool back into slices (``detach_pool``) and replaces the
  detached slice holding the same devices;
* **ResourceClaimTemplates** are kept in :attr:`templates` (gang members not created yet get
  their claims from them);
* a re-list (:meth:`replace`) deletes what the new list lacks and skips objects whose
  ``resourceVersion`` did not change.

Lists may come whole (:meth:`replace`) or in parts (:meth:`replace_page`, the informers'
paged sink): parts are converted as they arrive and their dicts dropped, so a 5,000-node
cluster's slices are never held as JSON objects all at once.

Listeners (:class:`StateListener`, e.g. the gang planner) are told about every pod and claim
change, under the lock, after the cache has it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scheduler.api.conversion import DRA_GROUP
from scheduler.api.defaults import apply_defaults
from scheduler.api.documents import file_entries
from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from scheduler.api.errors import LoadError
from scheduler.api.loaders import (
    API_MODELS,
    ObjectReader,
    Origin,
    gc_paused,
    input_files,
    validate_object,
)
from scheduler.api.lws import LeaderWorkerSet
from scheduler.api.meta import KubeObject
from scheduler.api.node import Node
from scheduler.api.pod import Pod, pod_key
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.api.validation import check_object
from scheduler.cluster.bulk import SliceLoader
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.convert import device_results
from scheduler.dra.features import Features
from scheduler.extender.clock import Clock

__all__ = [
    "API_VERSIONS",
    "KINDS",
    "ClusterState",
    "StateListener",
]

log = logging.getLogger(__name__)

API_VERSIONS: dict[str, str] = {
    "Node": "v1",
    "Pod": "v1",
    "PriorityClass": "scheduling.k8s.io/v1",
    "DeviceClass": "resource.k8s.io/v1",
    "ResourceSlice": "resource.k8s.io/v1",
    "ResourceClaim": "resource.k8s.io/v1",
    "ResourceClaimTemplate": "resource.k8s.io/v1",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
    "PodGroup": "scheduling.x-k8s.io/v1alpha1",
}
"""The kinds the state reads, with the apiVersion assumed when an object lacks one."""

KINDS = tuple(API_VERSIONS)
"""Kinds in the order a snapshot installs them (nodes and slices before what uses them)."""

_TERMINAL = frozenset({"Succeeded", "Failed"})
_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})


class StateListener(Protocol):
    """Told of pod and claim changes (under the state's lock, after the cache has them)."""

    def pod_changed(self, key: str, old: Pod | None, new: Pod | None) -> None:
        """A pod was added (``old`` None), updated, or deleted (``new`` None)."""
        ...

    def claim_changed(self, key: str, claim: ResourceClaim | None) -> None:
        """A claim was added or updated, or deleted (``claim`` None)."""
        ...


@dataclass(slots=True)
class _Listing:
    """A list being received: every key seen with its version, the converted objects that
    changed, and the slice loader of a first ResourceSlice list."""

    seen: dict[str, str] = field(default_factory=dict)
    changed: list[tuple[str, KubeObject]] = field(default_factory=list)
    slices: SliceLoader | None = None


def _scheduling_view(pod: Pod) -> tuple[object, ...]:
    """What the scheduler reads of a pod (an update changing nothing else is not a change)."""
    meta = pod.metadata
    status = pod.status
    return (
        pod.spec,
        meta.uid,
        meta.labels,
        meta.annotations,
        meta.deletion_timestamp,
        status.phase,
        status.resource_claim_statuses,
        status.extended_resource_claim_status,
        status.nominated_node_name,
        status.start_time,
    )


class ClusterState:
    """The webhook's cluster (see the module docstring); also the informers' sink."""

    def __init__(self, *, features: Features | None = None) -> None:
        self.lock = threading.RLock()
        self.cache = ClusterCache(features=features)
        self.clock = Clock()
        """The cluster's "now" (:mod:`scheduler.extender.clock`)."""
        self.templates: dict[str, ResourceClaimTemplate] = {}
        self.uids: dict[str, str] = {}
        """Pod UID -> ``namespace/name``."""
        self.listeners: list[StateListener] = []
        self.listed: set[str] = set()
        """Kinds whose full list has been received (:meth:`replace`)."""
        self.loaded = False
        """True once a snapshot is installed, or the first lists are in."""
        self.unreadable = 0
        self.predictions = 0
        self.mismatches = 0
        self.events = 0
        self.last_event = time.monotonic()
        self.resource_versions: dict[str, str] = {}
        """The last list's resourceVersion per kind."""
        self._versions: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self._listings: dict[str, _Listing] = {}

    # -- InformerSink -------------------------------------------------------------------------
    def replace(self, kind: str, objects: list[dict[str, Any]], resource_version: str) -> None:
        """The full set of one kind after a (re)list: what the list lacks is deleted, objects
        whose ``resourceVersion`` did not change are skipped, the rest added or updated."""
        self.replace_page(kind, objects, resource_version, first=True, last=True)

    def replace_page(
        self,
        kind: str,
        objects: list[dict[str, Any]],
        resource_version: str,
        *,
        first: bool,
        last: bool,
    ) -> None:
        """A (re)list delivered in parts (the informers' ``PagedInformerSink``): each part is
        converted as it comes and its dicts dropped — nothing holds the whole list. ``first``
        starts a new list (an unfinished one is dropped); at ``last`` the kind's state
        becomes the list (as :meth:`replace`). A first list of ResourceSlices streams into
        the template-sharing loader."""
        if kind not in API_VERSIONS:
            log.warning("state: ignoring a list of unknown kind %r", kind)
            return
        with self.lock:
            self._touched()
            listing = self._listings.get(kind)
            if first or listing is None:
                listing = _Listing()
                if kind == "ResourceSlice" and not self._versions[kind]:
                    listing.slices = SliceLoader(self.cache, lambda _name, _where: True)
                self._listings[kind] = listing
            known = self._versions[kind]
            for data in objects:
                key = self._raw_key(kind, data)
                if key is None:
                    self.unreadable += 1
                    log.warning("state: %s without metadata.name in a list: skipped", kind)
                    continue
                version = self._raw_version(data)
                listing.seen[key] = version
                if version and known.get(key) == version:
                    continue
                if listing.slices is not None:
                    self._stream_slice(listing.slices, data, len(listing.seen))
                    continue
                obj = self._convert(kind, data)
                if obj is not None:
                    listing.changed.append((version, obj))
            if last:
                del self._listings[kind]
                self._finish(kind, listing, resource_version)

    def apply(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """One watch event: ``ADDED``, ``MODIFIED`` or ``DELETED`` with the raw object."""
        if kind not in API_VERSIONS or event_type not in _EVENTS:
            log.warning("state: ignoring %s event of kind %r", event_type, kind)
            return
        with self.lock:
            self._touched()
            if event_type == "DELETED":
                key = self._raw_key(kind, obj)
                if key is None:
                    self.unreadable += 1
                    return
                self._delete(kind, key, obj)
                return
            model = self._convert(kind, obj)
            if model is not None:
                self._upsert(model, self._raw_version(obj))

    # -- snapshot -----------------------------------------------------------------------------
    def load_snapshot(self, path: str | Path) -> dict[str, int]:
        """Install every object of a directory (or file) of YAML/JSON objects, as
        ``kubectl get -o yaml|json`` or ``tessera cluster build`` write them, read the way
        the API server stores them. Returns the object counts per kind.

        Raises :class:`~scheduler.api.errors.LoadError` naming the file, document, object and
        field of the first bad object, and ValueError when the input holds no Node.
        """
        root = Path(path)
        reader = ObjectReader(seed=root.name)
        counts: dict[str, int] = {}
        models: list[KubeObject] = []
        with self.lock, gc_paused():

            def record(name: str, where: Origin) -> bool:
                return reader.claim_name(DRA_GROUP, "ResourceSlice", "", name, where)

            slices = SliceLoader(self.cache, record)
            for file in input_files(root):
                for entry in file_entries(file):
                    data = entry.data
                    if _is_slice(data):
                        assert isinstance(data, Mapping)
                        slices.add(data, Origin(str(file), entry.document, entry.item))
                        self._remember("ResourceSlice", data)
                        continue
                    for obj, _ in reader.read_entries([entry], str(file)):
                        models.append(obj)
            nodes = [o for o in models if isinstance(o, Node)]
            if not nodes:
                raise ValueError(f"{root}: no Node objects found (expected a cluster snapshot)")
            self.cache.add_nodes(nodes)
            slices.finish()
            counts["ResourceSlice"] = slices.slices
            for kind in KINDS:
                for obj in models:
                    if obj.kind == kind and not isinstance(obj, Node):
                        self._upsert(obj, obj.metadata.resource_version or "")
            for obj in models:
                counts[obj.kind] = counts.get(obj.kind, 0) + 1
                self._versions.setdefault(obj.kind, {})[obj.key] = (
                    obj.metadata.resource_version or ""
                )
            self.listed.update(KINDS)
            self.loaded = True
            self._touched()
        return counts

    # -- reading --------------------------------------------------------------------------------
    def pod(self, key: str) -> Pod | None:
        """The stored pod ``namespace/name`` (assumed or not), or None."""
        record = self.cache.pods.get(key)
        return record.pod if record is not None else None

    def counts(self) -> dict[str, int]:
        """Objects in the cache per kind (for the metrics)."""
        cache = self.cache
        return {
            "Node": len(cache.nodes),
            "Pod": len(cache.pods),
            "ResourceSlice": len(self._versions["ResourceSlice"]),
            "ResourceClaim": len(cache.claims),
            "ResourceClaimTemplate": len(self.templates),
            "DeviceClass": len(cache.classes),
            "PriorityClass": len(cache.priority_classes),
            "LeaderWorkerSet": len(cache.leader_worker_sets),
            "PodGroup": len(cache.pod_groups),
        }

    def assumed_pods(self) -> int:
        """Pods assumed in the cache (binding not yet observed)."""
        return sum(1 for r in self.cache.pods.values() if r.assumed)

    def age(self) -> float:
        """Seconds since the last event or list."""
        return time.monotonic() - self.last_event

    # -- writes from the webhook itself -----------------------------------------------------------
    def observe_pod(self, pod: Pod) -> None:
        """Add a pod the webhook learnt from a request before its informer delivered it (a
        gang member being planned); the informer's own event replaces it later."""
        with self.lock:
            if pod_key(pod) not in self.cache.pods:
                self._upsert(pod, "")

    def bound_in_memory(self, key: str, node: str) -> None:
        """A binding applied in memory (snapshot mode): the pod's ``spec.nodeName`` is set as
        the API server would, and the change is delivered like a watch event."""
        with self.lock:
            record = self.cache.pods.get(key)
            if record is None:
                return
            pod = record.pod
            spec = pod.spec.model_copy(update={"node_name": node})
            self._upsert(pod.model_copy(update={"spec": spec}), "")

    # -- internals ------------------------------------------------------------------------------
    def _touched(self) -> None:
        self.events += 1
        self.last_event = time.monotonic()

    @staticmethod
    def _raw_key(kind: str, data: Mapping[str, Any]) -> str | None:
        meta = data.get("metadata") if isinstance(data, Mapping) else None
        if not isinstance(meta, Mapping):
            return None
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            return None
        if kind in ("Node", "PriorityClass", "DeviceClass", "ResourceSlice"):
            return name
        namespace = meta.get("namespace")
        return f"{namespace if isinstance(namespace, str) and namespace else 'default'}/{name}"

    @staticmethod
    def _raw_version(data: Mapping[str, Any]) -> str:
        meta = data.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
        return version if isinstance(version, str) else ""

    def _remember(self, kind: str, data: Mapping[str, Any]) -> None:
        key = self._raw_key(kind, data)
        if key is not None:
            self._versions[kind][key] = self._raw_version(data)

    def read_object(self, kind: str, data: Mapping[str, Any]) -> KubeObject:
        """One raw object of ``kind`` as its model, with API defaulting.

        Raises :class:`~scheduler.api.errors.LoadError` naming the object, the field and
        the problem when it cannot be read.
        """
        where = Origin(f"{kind} from the API")
        if not isinstance(data, Mapping):
            raise where.error(f"expected an object, got {type(data).__name__}")
        raw = dict(data)
        raw.setdefault("apiVersion", API_VERSIONS[kind])
        raw.setdefault("kind", kind)
        try:
            obj = validate_object(raw, where, API_MODELS)
        except (ValueError, TypeError, RecursionError) as err:
            if isinstance(err, LoadError):
                raise
            raise where.error(str(err), kind=kind) from err
        if obj is None or obj.kind != kind:
            raise where.error(f"expected a {kind}, got {raw.get('kind')!r}")
        problem = check_object(obj)
        if problem is not None:
            raise where.error(problem[1], kind=kind, name=obj.key, path=problem[0])
        return apply_defaults(obj)

    def _convert(self, kind: str, data: Mapping[str, Any]) -> KubeObject | None:
        """:meth:`read_object`, or None (logged and counted) when unreadable."""
        try:
            return self.read_object(kind, data)
        except LoadError as err:
            self.unreadable += 1
            log.warning("state: unreadable object skipped: %s", err)
            return None

    def _upsert(self, obj: KubeObject, version: str) -> None:
        """Add or update one converted object."""
        cache = self.cache
        versions = self._versions.setdefault(obj.kind, {})
        if isinstance(obj, Pod):
            self._upsert_pod(obj)
        elif isinstance(obj, Node):
            cache.add_node(obj)
        elif isinstance(obj, ResourceSlice):
            self._upsert_slice(obj)
        elif isinstance(obj, ResourceClaim):
            self._upsert_claim(obj)
        elif isinstance(obj, ResourceClaimTemplate):
            self.templates[obj.key] = obj
        elif isinstance(obj, DeviceClass | PriorityClass | PodGroup | LeaderWorkerSet):
            cache.add(obj)
        versions[obj.key] = version

    def _upsert_pod(self, pod: Pod) -> None:
        key = pod_key(pod)
        if pod.status.phase in _TERMINAL:
            self._delete("Pod", key, None)
            return
        record = self.cache.pods.get(key)
        old = record.pod if record is not None else None
        if old is not None and old.metadata.uid and old.metadata.uid != pod.metadata.uid:
            # the same name, another pod: the old one is gone
            self._delete("Pod", key, None)
            old = None
            record = None
        if (
            record is not None
            and old is not None
            and not record.assumed
            and _scheduling_view(old) == _scheduling_view(pod)
        ):
            record.pod = pod  # conditions and the like: nothing to recompute
            self._notify_pod(key, old, pod)
            return
        self.cache.add_pod(pod)
        if pod.metadata.uid:
            self.uids[pod.metadata.uid] = key
        self._notify_pod(key, old, pod)

    def _upsert_claim(self, claim: ResourceClaim) -> None:
        key = claim.key
        record = self.cache.claims.get(key)
        allocation = claim.status.allocation
        if record is not None and record.assumed and allocation is not None:
            self.predictions += 1
            written = {r.device_id for r in device_results(allocation)}
            if written != {r.device_id for r in record.results}:
                self.mismatches += 1
                log.info(
                    "ResourceClaim %s: allocated %s, predicted %s",
                    key,
                    sorted(written),
                    sorted(r.device_id for r in record.results),
                )
        self.cache.add_claim(claim)
        for listener in self.listeners:
            listener.claim_changed(key, claim)

    def _upsert_slice(self, rs: ResourceSlice) -> None:
        devices = self.cache.devices
        pool_id = (rs.spec.driver, rs.spec.pool.name)
        entry = devices.pools.get(pool_id)
        if entry is not None and entry.factory is not None:
            for detached in devices.detach_pool(pool_id):
                self.cache.add_compiled_slice(detached)
        if rs.name not in devices.slices:
            self._drop_detached(pool_id, {d.name for d in rs.spec.devices})
        self.cache.add_slice(rs)

    def _drop_detached(self, pool_id: tuple[str, str], names: set[str]) -> None:
        """Remove the detached slice (named ``<pool>/<i>``) of ``pool_id`` that holds the most
        of the devices ``names``: it is the one a real slice of the pool replaces."""
        devices = self.cache.devices
        entry = devices.pools.get(pool_id)
        if entry is None:
            return
        prefix = f"{pool_id[1]}/"
        best: tuple[int, str] | None = None
        for name in entry.slices:
            s = devices.slices.get(name)
            if s is None or not name.startswith(prefix):
                continue
            overlap = len(names & {d.name for d in s.devices})
            if overlap and (best is None or overlap > best[0]):
                best = (overlap, name)
        if best is not None:
            self.cache.remove_slice(best[1])

    def _stream_slice(self, loader: SliceLoader, data: Mapping[str, Any], item: int) -> None:
        """One ResourceSlice of a first list into the loader (a bad one logged, skipped)."""
        raw = dict(data)
        raw.setdefault("apiVersion", API_VERSIONS["ResourceSlice"])
        raw.setdefault("kind", "ResourceSlice")
        try:
            loader.add(raw, Origin("ResourceSlice list", item=item))
        except (LoadError, ValueError, TypeError) as err:
            self.unreadable += 1
            log.warning("state: unreadable ResourceSlice skipped: %s", err)

    def _finish(self, kind: str, listing: _Listing, resource_version: str) -> None:
        """Make the kind's state the completed list."""
        known = self._versions[kind]
        for key in [k for k in known if k not in listing.seen]:
            self._delete(kind, key, None)
        if listing.slices is not None:
            try:
                with gc_paused():
                    listing.slices.finish()
            except (LoadError, ValueError, TypeError) as err:
                self.unreadable += 1
                log.warning("state: ResourceSlices skipped: %s", err)
            known.update(listing.seen)
        elif kind == "Node":
            fresh: list[Node] = []
            for version, obj in listing.changed:
                if not isinstance(obj, Node):
                    continue
                if obj.name in self.cache.node_index:
                    self.cache.add_node(obj)
                else:
                    fresh.append(obj)
                known[obj.key] = version
            if fresh:
                self.cache.add_nodes(fresh)
        else:
            for version, obj in listing.changed:
                self._upsert(obj, version)
        self.resource_versions[kind] = resource_version
        self.listed.add(kind)

    def _delete(self, kind: str, key: str, data: Mapping[str, Any] | None) -> None:
        cache = self.cache
        self._versions.setdefault(kind, {}).pop(key, None)
        if kind == "Pod":
            record = cache.remove_pod(key)
            if record is not None:
                uid = record.pod.metadata.uid
                if uid and self.uids.get(uid) == key:
                    del self.uids[uid]
                self._notify_pod(key, record.pod, None)
        elif kind == "Node":
            cache.remove_node(key)
        elif kind == "ResourceSlice":
            self._delete_slice(key, data)
        elif kind == "ResourceClaim":
            cache.remove_claim(key)
            for listener in self.listeners:
                listener.claim_changed(key, None)
        elif kind == "ResourceClaimTemplate":
            self.templates.pop(key, None)
        else:
            cache.remove_object(kind, key)

    def _delete_slice(self, name: str, data: Mapping[str, Any] | None) -> None:
        devices = self.cache.devices
        if name in devices.slices:
            self.cache.remove_slice(name)
            return
        spec = data.get("spec") if isinstance(data, Mapping) else None
        pool = spec.get("pool") if isinstance(spec, Mapping) else None
        driver = spec.get("driver") if isinstance(spec, Mapping) else None
        if not isinstance(pool, Mapping) or not isinstance(driver, str):
            return
        pool_id = (driver, str(pool.get("name")))
        entry = devices.pools.get(pool_id)
        if entry is not None and entry.factory is not None:
            for detached in devices.detach_pool(pool_id):
                self.cache.add_compiled_slice(detached)
        raw_devices = spec.get("devices") if isinstance(spec, Mapping) else None
        names = {str(d.get("name")) for d in raw_devices or () if isinstance(d, Mapping)}
        self._drop_detached(pool_id, names)

    def _notify_pod(self, key: str, old: Pod | None, new: Pod | None) -> None:
        for listener in self.listeners:
            listener.pod_changed(key, old, new)


def _is_slice(data: object) -> bool:
    return (
        isinstance(data, Mapping)
        and data.get("kind") == "ResourceSlice"
        and str(data.get("apiVersion", "")).startswith(DRA_GROUP + "/")
    )
