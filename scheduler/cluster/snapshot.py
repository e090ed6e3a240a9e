"""Snapshot: the read-only view of the cluster that one scheduling cycle works on.

Taken from the ClusterCache at a generation (:meth:`Snapshot.take`) and valid until the
cache's next mutation: every accessor that reads shared state calls :meth:`check`, which
raises :class:`StaleSnapshot` if the cache moved on. Arrays are read-only numpy views
indexed by dense node id (``node_index``); derived views (free resources, the accelerator view)
are computed on first use and kept for the snapshot's life; views of the Node objects alone
(cordons, taint groups, label columns) and topology are cached on the cache until a node
changes.

Scheduling is single-threaded per cache (the simulator's event loop; the webhook
serialises cycles), so "valid until the next mutation" is the whole cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from scheduler.api.lws import LeaderWorkerSet
from scheduler.api.node import Node
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.api.taints import Taint
from scheduler.cluster.devices import TemplateState
from scheduler.cluster.gpuview import GpuView
from scheduler.cluster.templates import DeviceTemplate
from scheduler.dra.claims import ClassSpec, DeviceResult
from scheduler.dra.features import Features
from scheduler.dra.inventory import DeviceID, Number
from scheduler.dra.pools import Pool
from scheduler.topology.domains import DEFAULT_LEVELS, TopologyDomains

if TYPE_CHECKING:
    from scheduler.cluster.cache import ClaimRecord, ClusterCache, PodRecord

_A = TypeVar("_A", bound=np.generic)


class StaleSnapshot(RuntimeError):
    """A snapshot was read after the cache changed (a bug in the caller's cycle)."""


class Snapshot:
    """One cycle's view of a :class:`~scheduler.cluster.cache.ClusterCache`.

    The only thing plugins read: every mapping is a read-only proxy and every array a
    read-only view, so a plugin cannot change the cluster (it changes it only through the
    framework's Handle in Reserve/Unreserve/PreBind/Bind). ``cache_id`` identifies the cache
    this snapshot came from, for plugins that keep per-node derived values across cycles
    (keyed by ``cache_id``, ``node_generation`` and ``node_version``). It also answers the
    allocator's :class:`~scheduler.dra.claims.AllocatedView` questions (:meth:`is_allocated`,
    :meth:`shared_consumed`).
    """

    def __init__(self, cache: ClusterCache) -> None:
        self._cache = cache
        self.cache_id = cache.cache_id
        self.generation = cache.generation
        self.node_generation = cache.node_generation
        self.features: Features = cache.features
        self.node_names: tuple[str, ...] = tuple(cache.node_names)
        self.node_index: Mapping[str, int] = MappingProxyType(cache.node_index)
        self.nodes: Mapping[str, Node] = MappingProxyType(cache.nodes)
        self.resources: tuple[str, ...] = tuple(cache.resources)
        self.allocatable = _readonly(cache.allocatable)
        self.requested = _readonly(cache.requested)
        self.node_version = _readonly(cache.node_version)
        self.pods: Mapping[str, PodRecord] = MappingProxyType(cache.pods)
        self.claims: Mapping[str, ClaimRecord] = MappingProxyType(cache.claims)
        self.classes: Mapping[str, ClassSpec] = MappingProxyType(cache.class_specs)
        self.extended_resources: Mapping[str, str] = MappingProxyType(cache.extended_resources)
        """Extended resource name -> the DeviceClass that backs it (KEP-5004)."""
        self.templates: Sequence[DeviceTemplate] = tuple(cache.devices.templates)
        self.template_states: Sequence[TemplateState] = tuple(cache.devices.states)
        self.device_generation: tuple[int, int] = (
            cache.devices.generation,
            cache.devices.global_version,
        )
        """(inventory shape generation, allocation version): moves when devices change."""
        self.priority_classes: Mapping[str, PriorityClass] = MappingProxyType(
            cache.priority_classes
        )
        self.pod_groups: Mapping[str, PodGroup] = MappingProxyType(cache.pod_groups)
        self.leader_worker_sets: Mapping[str, LeaderWorkerSet] = MappingProxyType(
            cache.leader_worker_sets
        )

    @classmethod
    def take(cls, cache: ClusterCache) -> Snapshot:
        """Snapshot the cache at its current generation."""
        return cls(cache)

    # -- validity ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`StaleSnapshot` if the cache changed since this snapshot."""
        if self._cache.generation != self.generation:
            raise StaleSnapshot(
                f"snapshot of generation {self.generation} read at cache generation "
                f"{self._cache.generation}"
            )

    @property
    def size(self) -> int:
        """Number of nodes."""
        return len(self.node_names)

    def column(self, resource: str) -> int | None:
        """Column of a resource name, None when no node or pod mentions it."""
        try:
            return self.resources.index(resource)
        except ValueError:
            return None

    # -- nodes ------------------------------------------------------------------------------------
    @cached_property
    def free(self) -> npt.NDArray[np.int64]:
        """``allocatable - requested`` per node and resource."""
        self.check()
        return _readonly(self.allocatable - self.requested)

    @cached_property
    def unschedulable(self) -> npt.NDArray[np.bool_]:
        """Nodes with ``spec.unschedulable`` (cordoned)."""
        return self._cache.node_view(
            "unschedulable",
            lambda: _readonly(
                np.array(
                    [bool(self.nodes[n].spec.unschedulable) for n in self.node_names], dtype=bool
                )
            ),
        )

    @cached_property
    def taint_groups(self) -> tuple[tuple[tuple[Taint, ...], ...], npt.NDArray[np.int32]]:
        """Distinct node taint lists and each node's group (filters run once per group)."""

        def build() -> tuple[tuple[tuple[Taint, ...], ...], npt.NDArray[np.int32]]:
            groups: dict[tuple[Taint, ...], int] = {}
            ids = np.empty(self.size, dtype=np.int32)
            for i, name in enumerate(self.node_names):
                taints = tuple(self.nodes[name].spec.taints)
                ids[i] = groups.setdefault(taints, len(groups))
            return tuple(groups), _readonly(ids)

        return self._cache.node_view("taint_groups", build)

    def lists_allocatable(self, resource: str) -> npt.NDArray[np.bool_]:
        """Nodes whose ``status.allocatable`` names ``resource``, even with 0 (the dense
        ``allocatable`` array cannot tell 0 from absent)."""

        def build() -> npt.NDArray[np.bool_]:
            return _readonly(
                np.array(
                    [resource in self.nodes[n].status.allocatable for n in self.node_names],
                    dtype=bool,
                )
            )

        return self._cache.node_view(f"lists:{resource}", build)

    def labels(self, i: int) -> Mapping[str, str]:
        """Labels of node ``i``."""
        return self.nodes[self.node_names[i]].metadata.labels

    def label_column(self, key: str) -> tuple[npt.NDArray[np.int32], tuple[str, ...]]:
        """Node label ``key`` as codes (-1 = absent) into a tuple of distinct values."""

        def build() -> tuple[npt.NDArray[np.int32], tuple[str, ...]]:
            values: dict[str, int] = {}
            codes = np.full(self.size, -1, dtype=np.int32)
            for i, name in enumerate(self.node_names):
                value = self.nodes[name].metadata.labels.get(key)
                if value is not None:
                    codes[i] = values.setdefault(value, len(values))
            return _readonly(codes), tuple(values)

        return self._cache.node_view(f"label:{key}", build)

    def topology(self, levels: Sequence[str] = DEFAULT_LEVELS) -> TopologyDomains:
        """Dense domain ids per level (cached on the cache per node-set generation)."""
        return self._cache.topology(tuple(levels))

    # -- pods -------------------------------------------------------------------------------------
    def pods_on(self, node: str) -> Mapping[str, PodRecord]:
        """Pods bound or assumed on a node."""
        self.check()
        return MappingProxyType(self._cache.pods_on_node.get(node, {}))

    # -- DRA --------------------------------------------------------------------------------------
    def node_pools(self, i: int) -> list[Pool]:
        """The resource pools the allocator may use on node ``i`` (upstream gathering)."""
        self.check()
        name = self.node_names[i]
        return self._cache.devices.node_pools(name, self.labels(i), self.features)

    def is_allocated(self, device: DeviceID) -> bool:
        """Held exclusively by some claim (allocated or assumed)."""
        return self._cache.devices.is_allocated(device)

    def shared_consumed(self, device: DeviceID) -> Mapping[str, Number] | None:
        """Summed consumed capacity of a multi-allocatable device's shares."""
        return self._cache.devices.shared_consumed(device)

    def claim_results(self, key: str) -> list[DeviceResult]:
        """Device results a claim holds (written or assumed); empty when unallocated."""
        record = self._cache.claims.get(key)
        return list(record.results) if record is not None else []

    @cached_property
    def unsettled(self) -> npt.NDArray[np.bool_]:
        """Nodes that may see devices of pools without a template (the prefilter passes them)."""
        nodes, anywhere = self._cache.devices.unsettled()
        if anywhere:
            return _readonly(np.ones(self.size, dtype=bool))
        mask = np.zeros(self.size, dtype=bool)
        for name in nodes:
            i = self.node_index.get(name)
            if i is not None:
                mask[i] = True
        return _readonly(mask)

    def device_rows(self, i: int) -> Sequence[tuple[int, int, tuple[str, str]]]:
        """The templated pools of node ``i``: ``(template index, row, (driver, pool))``."""
        return self._cache.devices.rows_of_node.get(self.node_names[i], ())

    def gpu_devices(self, i: int) -> list[DeviceID | None]:
        """The device standing for each physical GPU of node ``i``, in :attr:`gpus` order.

        A shared GPU's multi-allocatable device, or an exclusive GPU's whole-GPU device;
        None for a GPU offered only as partitions (static MIG) or by a device plugin.
        """
        out: list[DeviceID | None] = []
        rows = sorted(self.device_rows(i))
        for t, _row, (driver, pool) in rows:
            layout = self.templates[t].gpus
            for g in range(layout.count):
                kind = layout.shared_kind[g] if layout.shared_kind[g] >= 0 else layout.full_kind[g]
                out.append(
                    None if kind < 0 else (driver, pool, self.templates[t].devices[kind].name)
                )
        out.extend([None] * (int(self.gpus.gpu_count[i]) - len(out)))
        return out

    # -- accelerators -----------------------------------------------------------------------------
    @cached_property
    def gpus(self) -> GpuView:
        """The accelerator view (see :class:`~scheduler.cluster.gpuview.GpuView`)."""
        self.check()
        return self._cache.gpu_view()


def _readonly(array: npt.NDArray[_A]) -> npt.NDArray[_A]:
    view = array.view()
    view.setflags(write=False)
    return view
