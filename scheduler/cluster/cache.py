"""ClusterCache: the long-lived, event-fed view of the cluster.

Fed by informer events (webhook) or simulator events, and by the scheduler's own
assume/forget. Every mutation goes through a method here; algorithms never touch the
cache — they read a frozen :class:`~scheduler.cluster.snapshot.Snapshot` taken per cycle
(:meth:`ClusterCache.snapshot`).

What it holds:

* nodes in a dense index (``node_index``), their allocatable and requested resources as
  ``int64[N, R]`` arrays (R = resource names, grown when a new name appears);
* pods by ``namespace/name``, with the node they are bound or assumed to;
* DRA: the :class:`~scheduler.cluster.slices.DeviceInventory` (slices, pools, templates,
  which device is held by whom), DeviceClasses (and the extended resources they back,
  KEP-5004), ResourceClaims and their allocations (written ones and assumed, in-flight
  ones, including scheduler-made claims not created yet);
* PriorityClasses, PodGroups and LeaderWorkerSets, for gang and priority lookups;
* DeviceTaintRules, whose taints are merged into the devices they select, in every slice
  already held or added later (:meth:`ClusterCache.add_device_taint_rule`).

Generations: ``generation`` bumps on every mutation (a Snapshot is reused while it is
unchanged); ``node_generation`` bumps when the node *set* changes (topology and the dense
index are rebuilt only then); ``node_spec_generation`` bumps whenever any Node object is
added, updated or removed (views derived from Node objects alone are kept until then, see
:meth:`ClusterCache.node_view`); ``node_version[i]`` bumps whenever node ``i``'s free
resources change, so score caches can refresh one node at a time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt

from scheduler.api.devicetaintrule import DeviceTaintRule
from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceSlice
from scheduler.api.lws import LeaderWorkerSet
from scheduler.api.meta import KubeObject, ResourceList
from scheduler.api.node import Node, node_allocatable
from scheduler.api.pod import Pod, pod_key, pod_requests
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.cluster.gpuview import GpuView, GpuViewTracker
from scheduler.cluster.slices import DeviceInventory
from scheduler.cluster.snapshot import Snapshot
from scheduler.cluster.templates import TemplateFactory
from scheduler.dra.claims import ClaimAllocation, ClassSpec, DeviceResult
from scheduler.dra.convert import class_spec, device_results
from scheduler.dra.extended import ExtendedResourceAllocation, extended_resource_classes
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledSlice, compile_slice
from scheduler.dra.taintrules import pool_selected, taint_slice
from scheduler.topology.domains import TopologyDomains

log = logging.getLogger(__name__)

BASE_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")
_CACHE_IDS = itertools.count(1)


_V = TypeVar("_V")


@dataclass(slots=True)
class PodRecord:
    """A pod the cache knows, with its request vector and placement.

    ``node`` is the node it is bound to (``spec.nodeName``) or assumed onto; ``assumed``
    is True between the scheduler's assume and the bind being observed; ``bound_at`` is when
    the binding was written (the backend's clock; None if unknown), the start of the work a
    preemption would lose.
    """

    key: str
    pod: Pod
    requests: ResourceList
    node: str | None = None
    assumed: bool = False
    claims: tuple[str, ...] = ()
    bound_at: float | None = None


@dataclass(slots=True)
class ClaimRecord:
    """A ResourceClaim and the device results it holds (written or assumed).

    ``in_memory`` marks a claim the scheduler made for a pod's DRA-backed extended
    resources and has assumed but not created yet (KEP-5004): the record is the only copy,
    and forgetting its allocation drops it.
    """

    claim: ResourceClaim
    results: list[DeviceResult] = field(default_factory=list)
    assumed: bool = False
    allocation: ClaimAllocation | None = None
    in_memory: bool = False


class ClusterCache:
    """Mutable cluster state, changed only by events; see the module docstring."""

    def __init__(self, *, features: Features | None = None) -> None:
        self.cache_id = next(_CACHE_IDS)
        self.features = features or Features.for_version("1.35")
        self.nodes: dict[str, Node] = {}
        self.node_names: list[str] = []
        self.node_index: dict[str, int] = {}
        self.resources: list[str] = list(BASE_RESOURCES)
        self._resource_index = {name: i for i, name in enumerate(self.resources)}
        self.allocatable = np.zeros((0, len(self.resources)), dtype=np.int64)
        self.requested = np.zeros((0, len(self.resources)), dtype=np.int64)
        self.node_version = np.zeros(0, dtype=np.int64)
        self.pods: dict[str, PodRecord] = {}
        self.pods_on_node: dict[str, dict[str, PodRecord]] = {}
        self.devices = DeviceInventory()
        self.classes: dict[str, DeviceClass] = {}
        self.class_specs: dict[str, ClassSpec] = {}
        self.extended_resources: dict[str, str] = {}
        self.claims: dict[str, ClaimRecord] = {}
        self.priority_classes: dict[str, PriorityClass] = {}
        self.pod_groups: dict[str, PodGroup] = {}
        self.leader_worker_sets: dict[str, LeaderWorkerSet] = {}
        self.device_taint_rules: dict[str, DeviceTaintRule] = {}
        self.generation = 0
        self.node_generation = 0
        self.node_spec_generation = 0
        self._node_views: dict[str, tuple[int, object]] = {}
        self._snapshot: Snapshot | None = None
        self._gpus = GpuViewTracker()
        self._topology: tuple[tuple[int, tuple[str, ...]], TopologyDomains] | None = None

    # -- generic ----------------------------------------------------------------------------------
    def _touch(self, node: str | None = None) -> None:
        self.generation += 1
        self._snapshot = None
        if node is not None:
            i = self.node_index.get(node)
            if i is not None:
                self.node_version[i] += 1

    def _touch_devices(self, results: Iterable[DeviceResult]) -> None:
        """A device change: bump the versions of the nodes owning the devices."""
        self._touch()
        for node in {self.devices.node_of(r.device_id) for r in results}:
            if node is not None and node in self.node_index:
                self.node_version[self.node_index[node]] += 1

    def add(self, obj: KubeObject) -> None:
        """Add or update any supported object (dispatch by type; unknown kinds ignored)."""
        if isinstance(obj, Node):
            self.add_node(obj)
        elif isinstance(obj, Pod):
            self.add_pod(obj)
        elif isinstance(obj, ResourceSlice):
            self.add_slice(obj)
        elif isinstance(obj, DeviceClass):
            self.add_device_class(obj)
        elif isinstance(obj, ResourceClaim):
            self.add_claim(obj)
        elif isinstance(obj, PriorityClass):
            self.priority_classes[obj.name] = obj
            self._touch()
        elif isinstance(obj, PodGroup):
            self.pod_groups[obj.key] = obj
            self._touch()
        elif isinstance(obj, LeaderWorkerSet):
            self.leader_worker_sets[obj.key] = obj
            self._touch()
        elif isinstance(obj, DeviceTaintRule):
            self.add_device_taint_rule(obj)
        else:
            log.debug("cache ignores %s %s", obj.kind, obj.key)

    def remove_object(self, kind: str, key: str) -> None:
        """Remove a PriorityClass, PodGroup, LeaderWorkerSet or DeviceClass by key (a
        deletion seen by the webhook's informers); unknown keys are ignored. Nodes, pods,
        slices and claims have their own ``remove_*``."""
        if kind == "DeviceClass":
            if self.classes.pop(key, None) is None:
                return
            self.class_specs.pop(key, None)
            self.extended_resources = extended_resource_classes(self.classes.values())
        elif kind == "PriorityClass":
            if self.priority_classes.pop(key, None) is None:
                return
        elif kind == "PodGroup":
            if self.pod_groups.pop(key, None) is None:
                return
        elif kind != "LeaderWorkerSet" or self.leader_worker_sets.pop(key, None) is None:
            return
        self._touch()

    def add_all(self, objects: Iterable[KubeObject]) -> None:
        """Add many objects; nodes and slices first so pods and claims find them."""
        items = list(objects)
        order = (Node, DeviceClass, ResourceSlice, PriorityClass, ResourceClaim)
        for kind in order:
            for obj in items:
                if isinstance(obj, kind):
                    self.add(obj)
        for obj in items:
            if not isinstance(obj, order):
                self.add(obj)

    # -- resources --------------------------------------------------------------------------------
    def _column(self, name: str) -> int:
        col = self._resource_index.get(name)
        if col is None:
            col = len(self.resources)
            self.resources.append(name)
            self._resource_index[name] = col
            pad = np.zeros((len(self.allocatable), 1), dtype=np.int64)
            self.allocatable = np.hstack([self.allocatable, pad])
            self.requested = np.hstack([self.requested, pad.copy()])
        return col

    def vector(self, amounts: ResourceList) -> npt.NDArray[np.int64]:
        """A resource list as a row vector over the cache's resource columns."""
        cols = [(self._column(name), value) for name, value in amounts.items()]
        out = np.zeros(len(self.resources), dtype=np.int64)
        for col, value in cols:
            out[col] = value
        return out

    # -- nodes ------------------------------------------------------------------------------------
    def add_node(self, node: Node) -> None:
        """Add or update a node (labels, taints, allocatable)."""
        name = node.name
        amounts = node_allocatable(node)
        vector = self.vector(amounts)
        if name in self.node_index:
            if self.nodes[name].metadata.labels != node.metadata.labels:
                self.node_generation += 1  # topology domains depend on labels
            self.node_spec_generation += 1
            self.nodes[name] = node
            self.allocatable[self.node_index[name]] = vector
            self._touch(name)
            return
        self.nodes[name] = node
        self.node_index[name] = len(self.node_names)
        self.node_names.append(name)
        self.allocatable = np.vstack([self.allocatable, vector[None, :]])
        self.requested = np.vstack(
            [self.requested, np.zeros((1, len(self.resources)), dtype=np.int64)]
        )
        self.node_version = np.append(self.node_version, 0)
        self.pods_on_node.setdefault(name, {})
        for record in self.pods.values():
            if record.node == name:
                self._charge(record, +1)
        self.node_generation += 1
        self.node_spec_generation += 1
        self.devices.set_node_index(self.node_index)
        self._touch(name)

    def add_nodes(self, nodes: Sequence[Node]) -> None:
        """Bulk :meth:`add_node` for many new nodes (one reallocation)."""
        fresh = [n for n in nodes if n.name not in self.node_index]
        for node in nodes:
            if node.name in self.node_index:
                self.add_node(node)
        if not fresh:
            return
        amounts = [node_allocatable(n) for n in fresh]
        for resource in {name for a in amounts for name in a}:
            self._column(resource)  # widen first: every row gets every column
        rows = np.stack([self.vector(a) for a in amounts])
        for node in fresh:
            self.nodes[node.name] = node
            self.node_index[node.name] = len(self.node_names)
            self.node_names.append(node.name)
            self.pods_on_node.setdefault(node.name, {})
        self.allocatable = np.vstack([self.allocatable, rows])
        self.requested = np.vstack([self.requested, np.zeros_like(rows)])
        self.node_version = np.append(self.node_version, np.zeros(len(fresh), dtype=np.int64))
        self.node_generation += 1
        self.node_spec_generation += 1
        self.devices.set_node_index(self.node_index)
        names = {node.name for node in fresh}
        for record in self.pods.values():
            if record.node in names:
                self._charge(record, +1)  # pods seen before their node
        self._touch()

    def remove_node(self, name: str) -> list[PodRecord]:
        """Remove a node; returns the pods that were on it (now unplaced; callers evict)."""
        if name not in self.node_index:
            return []
        stranded = list(self.pods_on_node.pop(name, {}).values())
        for record in stranded:
            record.node = None
            record.assumed = False
        del self.nodes[name]
        i = self.node_index.pop(name)
        self.node_names.pop(i)
        self.allocatable = np.delete(self.allocatable, i, axis=0)
        self.requested = np.delete(self.requested, i, axis=0)
        self.node_version = np.delete(self.node_version, i)
        self.node_index = {n: j for j, n in enumerate(self.node_names)}
        self.node_generation += 1
        self.node_spec_generation += 1
        self.devices.set_node_index(self.node_index)
        self._touch()
        return stranded

    # -- DRA objects ------------------------------------------------------------------------------
    def add_slice(self, rs: ResourceSlice) -> None:
        """Add or update a ResourceSlice."""
        self.add_compiled_slice(compile_slice(rs))

    def add_compiled_slice(self, s: CompiledSlice) -> None:
        """Add or update an already compiled slice (DeviceTaintRules applied)."""
        if self.device_taint_rules:
            s = taint_slice(s, list(self.device_taint_rules.values()))
        self.devices.add_slice(s)
        self._touch(s.node_name)

    def add_device_taint_rule(self, rule: DeviceTaintRule) -> None:
        """Add a DeviceTaintRule: its taint joins every device it selects, now and in slices
        added later, as kube-scheduler's slice tracker merges it
        (:mod:`scheduler.dra.taintrules`). Rules are only ever added (a rule of a name
        already known is refused with ValueError: the simulator never updates rules)."""
        if rule.name in self.device_taint_rules:
            raise ValueError(f"DeviceTaintRule {rule.name}: already added")
        self.device_taint_rules[rule.name] = rule
        if not self.features.device_taints:
            log.warning(
                "DeviceTaintRule %s: DRADeviceTaints is off in this cluster's scheduler, so its "
                "taint has no effect on allocation",
                rule.name,
            )
        self._retaint([rule], list(self.devices.pools))

    def _retaint(self, rules: list[DeviceTaintRule], pools: Sequence[tuple[str, str]]) -> None:
        """Apply ``rules`` to the devices of ``pools`` (templated pools become slices)."""
        touched: set[str | None] = set()
        for pool_id in pools:
            entry = self.devices.pools.get(pool_id)
            if entry is None or not pool_selected(rules, *pool_id):
                continue
            if entry.factory is not None:
                slices = self.devices.detach_pool(pool_id)
                detached = True
            else:
                slices = [self.devices.slices[n] for n in entry.slices]
                detached = False
            for old in slices:
                new = taint_slice(old, rules)
                if detached or new is not old:
                    self.devices.add_slice(new)
                    touched.add(old.node_name)
        self._touch()
        for node in touched:
            if node is not None and node in self.node_index:
                self.node_version[self.node_index[node]] += 1

    def remove_slice(self, name: str) -> None:
        """Remove a ResourceSlice by name."""
        s = self.devices.slices.get(name)
        self.devices.remove_slice(name)
        self._touch(s.node_name if s is not None else None)

    def add_templated_pools(
        self,
        template_slices: Sequence[CompiledSlice],
        placeholder: str,
        nodes: Sequence[str],
        factory: TemplateFactory | None = None,
    ) -> None:
        """One pool per node with the shape of ``template_slices`` (simulated drivers)."""
        self.devices.add_templated_pools(template_slices, placeholder, nodes, factory)
        if self.device_taint_rules:
            driver = template_slices[0].driver if template_slices else ""
            self._retaint(
                list(self.device_taint_rules.values()), [(driver, node) for node in nodes]
            )
        self._touch()

    def add_device_class(self, cls: DeviceClass) -> None:
        """Add or update a DeviceClass."""
        self.classes[cls.name] = cls
        self.class_specs[cls.name] = class_spec(cls)
        self.extended_resources = extended_resource_classes(self.classes.values())
        self._touch()

    def add_claim(self, claim: ResourceClaim) -> None:
        """Add or update a ResourceClaim; a written allocation holds its devices."""
        key = claim.key
        old = self.claims.get(key)
        results = (
            device_results(claim.status.allocation) if claim.status.allocation is not None else []
        )
        if old is not None:
            if old.assumed and not results:
                # our own in-flight allocation is newer than what the API shows
                self.claims[key] = ClaimRecord(claim, old.results, True, old.allocation)
                return
            if results == old.results:
                # the write of what we assumed (or a status-only update): devices unchanged
                self.claims[key] = ClaimRecord(claim, old.results)
                self._touch()
                return
            for r in old.results:
                self.devices.release(key, r)
        for r in results:
            self.devices.allocate(key, r)
        self.claims[key] = ClaimRecord(claim, results)
        self._touch_devices([*results, *(old.results if old is not None else ())])

    def commit_claim(self, claim: ResourceClaim) -> None:
        """Store a claim whose status now shows the allocation this cache assumed for it.

        The held devices are kept as they are (no re-parse of the allocation); the record
        stops being "assumed". Use :meth:`add_claim` for any other update.
        """
        record = self.claims.get(claim.key)
        if record is None or not record.assumed:
            self.add_claim(claim)
            return
        self.claims[claim.key] = ClaimRecord(claim, record.results)
        self._touch()

    def remove_claim(self, key: str) -> None:
        """Remove a ResourceClaim; its devices are free again."""
        record = self.claims.pop(key, None)
        if record is None:
            return
        for r in record.results:
            self.devices.release(key, r)
        self._touch_devices(record.results)

    def assume_claim(self, key: str, allocation: ClaimAllocation) -> None:
        """Hold devices for an allocation the scheduler decided but has not written yet.

        An :class:`~scheduler.dra.extended.ExtendedResourceAllocation` for a claim the cache
        does not know brings its (in-memory) claim object along: the record is created here
        and marked ``in_memory`` until the claim is written.
        """
        record = self.claims.get(key)
        if record is None and isinstance(allocation, ExtendedResourceAllocation):
            record = ClaimRecord(allocation.claim, in_memory=True)
            self.claims[key] = record
        if record is None:
            raise KeyError(f"ResourceClaim {key}: not in the cache")
        if record.results:
            raise ValueError(f"ResourceClaim {key}: already allocated")
        for r in allocation.devices:
            self.devices.allocate(key, r)
        record.results = list(allocation.devices)
        record.assumed = True
        record.allocation = allocation
        self._touch_devices(record.results)

    def forget_claim(self, key: str) -> None:
        """Undo :meth:`assume_claim` (Unreserve) or deallocate a claim; an in-memory claim
        (never written) is dropped with its allocation."""
        record = self.claims.get(key)
        if record is None:
            return
        for r in record.results:
            self.devices.release(key, r)
        released, record.results = record.results, []
        record.assumed = False
        record.allocation = None
        if record.in_memory:
            del self.claims[key]
        self._touch_devices(released)

    def withdraw_device(self, device: tuple[str, str, str], owner: str) -> None:
        """Take a device out of service: ``owner`` (not a claim) holds it exclusively from
        now on, so no allocation can use it or, through its counters, its partitions. The
        caller evicts the current users first (the simulator's device fault)."""
        driver, pool, name = device
        result = DeviceResult(request=owner, driver=driver, pool=pool, device=name)
        self.devices.allocate(owner, result)
        self._touch_devices([result])

    def restore_device(self, device: tuple[str, str, str], owner: str) -> None:
        """Undo :meth:`withdraw_device` by the same ``owner``: the device is in service
        again (the simulator's device repair)."""
        driver, pool, name = device
        result = DeviceResult(request=owner, driver=driver, pool=pool, device=name)
        self.devices.release(owner, result)
        self._touch_devices([result])

    # -- pods -------------------------------------------------------------------------------------
    def _charge(self, record: PodRecord, sign: int) -> None:
        if record.node is None or record.node not in self.node_index:
            return
        vector = self.vector(record.requests)  # may widen the arrays: read the row after
        i = self.node_index[record.node]
        self.requested[i] += sign * vector
        self.requested[i, self._resource_index["pods"]] += sign
        if sign > 0:
            self.pods_on_node.setdefault(record.node, {})[record.key] = record
        else:
            self.pods_on_node.get(record.node, {}).pop(record.key, None)
        self._touch(record.node)

    def add_pod(self, pod: Pod) -> None:
        """Add or update a pod (bound pods consume their node's resources)."""
        key = pod_key(pod)
        old = self.pods.get(key)
        node = pod.spec.node_name or None
        if old is not None:
            if old.assumed and node is None:
                old.pod = pod
                return
            self._charge(old, -1)
        record = PodRecord(key, pod, pod_requests(pod), node=node)
        self.pods[key] = record
        self._charge(record, +1)
        self._touch()

    def remove_pod(self, key: str) -> PodRecord | None:
        """Remove a pod; its node's resources are freed. Returns its last record."""
        record = self.pods.pop(key, None)
        if record is not None:
            self._charge(record, -1)
            self._touch()
        return record

    def assume_pod(self, key: str, node: str) -> None:
        """Charge a pod to a node before its binding is written (Reserve)."""
        record = self.pods.get(key)
        if record is None:
            raise KeyError(f"Pod {key}: not in the cache")
        if record.node is not None:
            raise ValueError(f"Pod {key}: already on node {record.node}")
        if node not in self.node_index:
            raise KeyError(f"Node {node}: not in the cache")
        record.node = node
        record.assumed = True
        self._charge(record, +1)

    def forget_pod(self, key: str) -> None:
        """Undo :meth:`assume_pod` (Unreserve)."""
        record = self.pods.get(key)
        if record is None or not record.assumed:
            return
        self._charge(record, -1)
        record.node = None
        record.assumed = False

    def bind_pod(self, key: str, at: float | None = None) -> None:
        """The assumed binding was written (at time ``at``): the pod is now simply bound."""
        record = self.pods.get(key)
        if record is not None:
            record.assumed = False
            record.bound_at = at
            record.pod = record.pod.model_copy(
                update={"spec": record.pod.spec.model_copy(update={"node_name": record.node})}
            )
            self._touch()

    def gpu_view(self) -> GpuView:
        """The accelerator view, refreshed incrementally (see :mod:`scheduler.cluster.gpuview`)."""
        return self._gpus.view(self)

    def node_view(self, key: str, build: Callable[[], _V]) -> _V:
        """A view computed from the Node objects alone (cordons, taint groups, a label
        column), built once per ``node_spec_generation`` and shared by the snapshots."""
        found = self._node_views.get(key)
        if found is not None and found[0] == self.node_spec_generation:
            return cast(_V, found[1])
        value = build()
        self._node_views[key] = (self.node_spec_generation, value)
        return value

    def topology(self, levels: tuple[str, ...]) -> TopologyDomains:
        """Topology domains for the given levels, rebuilt only when the node set changes."""
        key = (self.node_generation, levels)
        if self._topology is None or self._topology[0] != key:
            labels = [self.nodes[n].metadata.labels for n in self.node_names]
            self._topology = (key, TopologyDomains.build(labels, levels))
        return self._topology[1]

    def snapshot(self) -> Snapshot:
        """The frozen view for one scheduling cycle (reused while nothing changed)."""
        found = self._snapshot
        if found is not None:
            return found
        snap = Snapshot.take(self)
        self._snapshot = snap
        return snap
