"""The cluster's DRA device inventory: slices, pools, templates and device allocation.

:class:`DeviceInventory` is owned by the ClusterCache and mutated only through its events:

* ResourceSlices added, updated or removed (compiled once each);
* whole templated pools added at once (the simulated drivers' fast path: no per-pool slice
  objects, devices materialised only when the exact allocator looks at that node);
* allocation results recorded or released (claims allocated, assumed, forgotten).

It keeps the device allocation state in :class:`TemplateState` arrays (the prefilter's
view) and answers the exact allocator's questions: the pools a node can use
(:meth:`node_pools`, upstream gathering over the node's slices plus every non-node-local
slice) and whether a device is in use (:meth:`is_allocated`, :meth:`shared_consumed`).

A pool whose newest-generation slices all target one node is *node-local* to that node; a
pool is attached to a template only when its slices are all at one generation (a pool in
the middle of an update is tracked by slices alone until it settles).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np

from scheduler.cluster.devices import TemplateState
from scheduler.cluster.templates import (
    DeviceTemplate,
    InstanceAttributes,
    TemplateFactory,
    pool_signature,
)
from scheduler.dra.claims import DeviceResult
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledSlice, DeviceID, Number
from scheduler.dra.pools import Pool, gather_pools

log = logging.getLogger(__name__)

PoolID = tuple[str, str]
_NODE_POOLS_CACHE = 4096


@dataclass(slots=True)
class PoolEntry:
    """Where one pool lives: its slices (by name) or its template row."""

    slices: list[str] = field(default_factory=list)
    template: int = -1
    row: int = -1
    node: str | None = None
    factory: TemplateFactory | None = None


@dataclass(frozen=True, slots=True)
class DeviceAllocation:
    """One allocation result held against a device."""

    owner: str
    shared: bool
    consumed: Mapping[str, Number] | None


class DeviceInventory:
    """Slices, pools, templates and who holds which device (see the module docstring)."""

    def __init__(self) -> None:
        self.slices: dict[str, CompiledSlice] = {}
        self.pools: dict[PoolID, PoolEntry] = {}
        self.node_slices: dict[str, list[str]] = {}
        self.global_slices: list[str] = []
        self.templates: list[DeviceTemplate] = []
        self.states: list[TemplateState] = []
        self._by_signature: dict[Hashable, int] = {}
        self.allocations: dict[DeviceID, list[DeviceAllocation]] = {}
        self.generation = 0
        self._node_pools: OrderedDict[
            tuple[str, int, Features, frozenset[tuple[str, str]]], list[Pool]
        ] = OrderedDict()
        self._templated_by_node: dict[str, list[PoolID]] = {}
        self.rows_of_node: dict[str, list[tuple[int, int, PoolID]]] = {}
        self.dirty_nodes: set[str] = set()
        self.global_version = 0
        self._unsettled: tuple[int, tuple[frozenset[str], bool]] | None = None
        self.node_index: dict[str, int] = {}

    # -- slices -----------------------------------------------------------------------------------
    def add_slice(self, s: CompiledSlice) -> None:
        """Add or replace a slice (by name) and re-judge its pool."""
        old = self.slices.get(s.name)
        if old is not None:
            self._unlink(old)
        self.slices[s.name] = s
        entry = self.pools.setdefault(s.pool_id, PoolEntry())
        entry.slices.append(s.name)
        if s.node_name:
            self.node_slices.setdefault(s.node_name, []).append(s.name)
        else:
            self.global_slices.append(s.name)
        self._changed(s.pool_id)
        if old is not None and old.pool_id != s.pool_id:
            self._changed(old.pool_id)

    def remove_slice(self, name: str) -> None:
        """Remove a slice; its pool is re-judged (and dropped when empty)."""
        old = self.slices.pop(name, None)
        if old is None:
            return
        self._unlink(old)
        self._changed(old.pool_id)

    def _unlink(self, s: CompiledSlice) -> None:
        entry = self.pools.get(s.pool_id)
        if entry is not None and s.name in entry.slices:
            entry.slices.remove(s.name)
        target = self.node_slices.get(s.node_name or "") if s.node_name else self.global_slices
        if target is not None and s.name in target:
            target.remove(s.name)

    def _template_for(self, slices: Sequence[CompiledSlice], node: str | None) -> int:
        signature = pool_signature(slices, node)
        found = self._by_signature.get(signature)
        if found is None:
            found = len(self.templates)
            template = DeviceTemplate(
                found, slices, node_local=node is not None, instance_names=frozenset()
            )
            self.templates.append(template)
            self.states.append(TemplateState(template))
            self._by_signature[signature] = found
        return found

    def _changed(self, pool_id: PoolID) -> None:
        self.generation += 1
        self._node_pools.clear()
        entry = self.pools.get(pool_id)
        if entry is None:
            return
        if entry.template >= 0 and entry.factory is None:
            self.states[entry.template].remove_row(entry.row)
            self._unindex_row(pool_id, entry)
            entry.template, entry.row = -1, -1
        if not entry.slices and entry.factory is None:
            del self.pools[pool_id]
            return
        if entry.factory is not None:
            return
        slices = [self.slices[n] for n in entry.slices]
        newest = max(s.generation for s in slices)
        current = [s for s in slices if s.generation == newest]
        if len(current) != len(slices) or len(current) != current[0].slice_count:
            return  # mid-update or incomplete: tracked by slices only ("unsettled")
        if _invalid(current):
            return  # the allocator skips invalid pools; the prefilter treats them as unsettled
        nodes = {s.node_name for s in current if s.node_name}
        node = next(iter(nodes)) if len(nodes) == 1 and all(s.node_name for s in current) else None
        index = self._template_for(current, node)
        entry.template = index
        entry.node = node
        entry.row = self.states[index].add_row(self.node_index.get(node, -1) if node else -1)
        self._index_row(pool_id, entry)
        self._reapply(pool_id, entry)

    def _index_row(self, pool_id: PoolID, entry: PoolEntry) -> None:
        if entry.node is not None:
            self.rows_of_node.setdefault(entry.node, []).append(
                (entry.template, entry.row, pool_id)
            )

    def _unindex_row(self, pool_id: PoolID, entry: PoolEntry) -> None:
        if entry.node is not None:
            rows = self.rows_of_node.get(entry.node, [])
            key = (entry.template, entry.row, pool_id)
            if key in rows:
                rows.remove(key)

    def unsettled(self) -> tuple[frozenset[str], bool]:
        """Nodes with slices of pools not attached to a template, and whether any such
        slice is not node-local (then every node may see it). Cached per generation."""
        if self._unsettled is not None and self._unsettled[0] == self.generation:
            return self._unsettled[1]
        nodes: set[str] = set()
        anywhere = False
        for entry in self.pools.values():
            if entry.template >= 0 or entry.factory is not None:
                continue
            for name in entry.slices:
                s = self.slices[name]
                if s.node_name:
                    nodes.add(s.node_name)
                elif s.devices:
                    anywhere = True
        found = (frozenset(nodes), anywhere)
        self._unsettled = (self.generation, found)
        return found

    def _reapply(self, pool_id: PoolID, entry: PoolEntry) -> None:
        template = self.templates[entry.template]
        state = self.states[entry.template]
        for (driver, pool, device), held in self.allocations.items():
            if (driver, pool) != pool_id:
                continue
            kind = template.kind_of.get((driver, device))
            if kind is None:
                continue
            for a in held:
                state.allocate(entry.row, kind, shared=a.shared, consumed=a.consumed)

    # -- templated pools (fast path) --------------------------------------------------------------
    def add_templated_pools(
        self,
        template_slices: Sequence[CompiledSlice],
        placeholder: str,
        nodes: Sequence[str],
        factory: TemplateFactory | None,
    ) -> None:
        """Add one node-local pool per node, all with the shape of ``template_slices``.

        ``template_slices`` are the compiled slices of a pool for the node named
        ``placeholder`` (pool name = node name, as the NVIDIA driver does); ``factory``
        gives each node's instance attributes. No per-node slice objects are stored.
        """
        index = self._template_for(template_slices, placeholder)
        template = self.templates[index]
        if factory is not None and nodes:
            names = {a for values in factory(nodes[0]).values() for a in values}
            template.instance_names = template.instance_names | frozenset(names)
        state = self.states[index]
        rows = state.add_rows(np.array([self.node_index.get(n, -1) for n in nodes], dtype=np.int32))
        driver = template_slices[0].driver
        for node, row in zip(nodes, rows, strict=True):
            pool_id = (driver, node)
            if pool_id in self.pools:
                raise ValueError(f"ResourceSlice pool {driver}/{node}: already exists")
            self.pools[pool_id] = PoolEntry(
                template=index, row=int(row), node=node, factory=factory or _no_instance
            )
            self._templated_by_node.setdefault(node, []).append(pool_id)
            self.rows_of_node.setdefault(node, []).append((index, int(row), pool_id))
        self.generation += 1
        self._node_pools.clear()

    def detach_pool(self, pool_id: PoolID) -> list[CompiledSlice]:
        """Turn a templated pool back into its slices: the pool's row leaves its template
        and the materialised slices are returned for the caller to add (with
        :meth:`add_slice`, which attaches the pool to a template again and re-applies the
        allocations held on it). Used when one pool stops looking like its template (a
        DeviceTaintRule selects some of its devices). Raises KeyError for a pool that is not
        templated."""
        entry = self.pools[pool_id]
        if entry.factory is None or entry.node is None:
            raise KeyError(f"pool {pool_id[0]}/{pool_id[1]} is not a templated pool")
        node = entry.node
        slices = self.templates[entry.template].materialize(node, pool_id[1], entry.factory(node))
        self.states[entry.template].remove_row(entry.row)
        self._unindex_row(pool_id, entry)
        templated = self._templated_by_node.get(node, [])
        if pool_id in templated:
            templated.remove(pool_id)
        del self.pools[pool_id]
        self.generation += 1
        self._node_pools.clear()
        return slices

    # -- nodes ------------------------------------------------------------------------------------
    def set_node_index(self, node_index: Mapping[str, int]) -> None:
        """Adopt the cache's dense node numbering (after nodes were added or removed)."""
        self.node_index = dict(node_index)
        for entry in self.pools.values():
            if entry.template >= 0 and entry.node is not None:
                self.states[entry.template].set_node(entry.row, self.node_index.get(entry.node, -1))
        self._node_pools.clear()

    def node_pools(
        self, node_name: str, labels: Mapping[str, str], features: Features
    ) -> list[Pool]:
        """The pools the allocator may use on this node, gathered as upstream does.

        Candidate slices are the node's own slices, the materialised slices of its
        templated pools and every slice without ``nodeName``. (Upstream also keeps
        counter-only slices of *other* nodes' pools; they add no devices, so they are
        left out here.)
        """
        key = (node_name, self.generation, features, frozenset(labels.items()))
        found = self._node_pools.get(key)
        if found is not None:
            self._node_pools.move_to_end(key)
            return found
        candidates: list[CompiledSlice] = []
        by_pool: dict[PoolID, list[CompiledSlice]] = {}
        for name in self.node_slices.get(node_name, ()):
            candidates.append(self.slices[name])
        for pool_id, entry in self._templated_pools_of(node_name):
            materialized = self.templates[entry.template].materialize(
                node_name, pool_id[1], entry.factory(node_name) if entry.factory else None
            )
            candidates.extend(materialized)
            by_pool[pool_id] = materialized
        for name in self.global_slices:
            candidates.append(self.slices[name])
        for s in candidates:
            if s.pool_id not in by_pool:
                owner = self.pools.get(s.pool_id)
                by_pool[s.pool_id] = [self.slices[n] for n in owner.slices] if owner else [s]
        found = gather_pools(candidates, node_name, labels, features, by_pool)
        self._node_pools[key] = found
        if len(self._node_pools) > _NODE_POOLS_CACHE:
            self._node_pools.popitem(last=False)
        return found

    def _templated_pools_of(self, node_name: str) -> Iterable[tuple[PoolID, PoolEntry]]:
        for pool_id in self._templated_by_node.get(node_name, ()):
            yield pool_id, self.pools[pool_id]

    # -- allocation -------------------------------------------------------------------------------
    def _locate(self, device: DeviceID) -> tuple[TemplateState, int, int] | None:
        found = self.locate(device)
        if found is None:
            return None
        t, row, kind = found
        return self.states[t], row, kind

    def allocate(self, owner: str, result: DeviceResult) -> None:
        """Hold a device for ``owner`` (a claim key); admin results hold nothing."""
        if result.admin_access:
            return
        shared = result.share_id is not None
        held = DeviceAllocation(owner, shared, result.consumed_capacity)
        self.allocations.setdefault(result.device_id, []).append(held)
        found = self._locate(result.device_id)
        if found is not None:
            state, row, kind = found
            state.allocate(row, kind, shared=shared, consumed=result.consumed_capacity)
            self._mark(result.device_id)

    def release(self, owner: str, result: DeviceResult) -> None:
        """Give back what :meth:`allocate` took for ``owner``."""
        if result.admin_access:
            return
        held = self.allocations.get(result.device_id, [])
        shared = result.share_id is not None
        for i, a in enumerate(held):
            if a.owner == owner and a.shared == shared:
                del held[i]
                break
        else:
            return
        if not held:
            del self.allocations[result.device_id]
        found = self._locate(result.device_id)
        if found is not None:
            state, row, kind = found
            state.release(row, kind, shared=shared, consumed=result.consumed_capacity)
            self._mark(result.device_id)

    def _mark(self, device: DeviceID) -> None:
        entry = self.pools.get((device[0], device[1]))
        if entry is not None and entry.node is not None:
            self.dirty_nodes.add(entry.node)
        else:
            # not node-local: no node version moves, so caches watch this counter instead
            self.global_version += 1

    def counter_siblings(self, device: DeviceID) -> list[DeviceID]:
        """The device and every device of its pool drawing on a counter set it draws on
        (a whole GPU and its MIG partitions); just the device when it uses no counters."""
        driver, pool, name = device
        entry = self.pools.get((driver, pool))
        if entry is None:
            return [device]
        if entry.template >= 0:
            t = self.templates[entry.template]
            devices = [(t.driver_of_slice[t.kind_slice[k]], d) for k, d in enumerate(t.devices)]
        else:
            devices = [
                (self.slices[n].driver, d) for n in entry.slices for d in self.slices[n].devices
            ]
        sets = {
            counter_set
            for drv, d in devices
            if drv == driver and d.name == name
            for counter_set, _ in d.consumes
        }
        out = [
            (drv, pool, d.name)
            for drv, d in devices
            if drv == driver and (d.name == name or any(c in sets for c, _ in d.consumes))
        ]
        return out or [device]

    def has_device(self, device: DeviceID) -> bool:
        """Whether a published pool ``(driver, pool)`` holds a device of that name (callers
        checking user input such as a fault target use it)."""
        driver, pool, name = device
        entry = self.pools.get((driver, pool))
        if entry is None:
            return False
        if entry.template >= 0:
            return (driver, name) in self.templates[entry.template].kind_of
        return any(
            self.slices[n].driver == driver and any(d.name == name for d in self.slices[n].devices)
            for n in entry.slices
        )

    def node_of(self, device: DeviceID) -> str | None:
        """The node a device's pool is local to (None when it is not node-local)."""
        entry = self.pools.get((device[0], device[1]))
        return entry.node if entry is not None else None

    def locate(self, device: DeviceID) -> tuple[int, int, int] | None:
        """``(template index, row, kind)`` of a device of a templated pool; None otherwise."""
        entry = self.pools.get((device[0], device[1]))
        if entry is None or entry.template < 0:
            return None
        kind = self.templates[entry.template].kind_of.get((device[0], device[2]))
        return None if kind is None else (entry.template, entry.row, kind)

    def is_allocated(self, device: DeviceID, ignore: AbstractSet[str] = frozenset()) -> bool:
        """Held exclusively by some claim (the allocator's "already allocated" set); claims
        in ``ignore`` count as released (a what-if snapshot's view)."""
        return any(not a.shared and a.owner not in ignore for a in self.allocations.get(device, ()))

    def shared_consumed(
        self, device: DeviceID, ignore: AbstractSet[str] = frozenset()
    ) -> Mapping[str, Number] | None:
        """Summed consumed capacity of the device's shares (those of claims in ``ignore``
        left out); None when it has none."""
        held = [a for a in self.allocations.get(device, ()) if a.shared and a.owner not in ignore]
        if not held:
            return None
        total: dict[str, Number] = {}
        for a in held:
            for name, amount in (a.consumed or {}).items():
                total[name] = total.get(name, 0) + amount
        return total


def _no_instance(node: str) -> InstanceAttributes:
    return {}


def _invalid(slices: Sequence[CompiledSlice]) -> bool:
    """Whether a complete pool is invalid (duplicate devices or counter sets, unknown counters)."""
    devices: set[str] = set()
    sets: dict[str, Mapping[str, Number]] = {}
    for s in slices:
        for name, counters in s.shared_counters:
            if name in sets:
                return True
            sets[name] = counters
        for d in s.devices:
            if d.name in devices:
                return True
            devices.add(d.name)
    for s in slices:
        for d in s.devices:
            for set_name, counters in d.consumes:
                known = sets.get(set_name)
                if known is None or any(c not in known for c in counters):
                    return True
    return False
