"""What-if snapshots: one cycle's view of the cluster with some pods gone (preemption's dry run).

kube-scheduler's DefaultPreemption asks "would the pod fit on this node if these pods were
gone?" by removing them from a copy of the node's NodeInfo and running the profile's own
filters on it (docs/semantics/defaultpreemption.md). :func:`without` is tessera's copy: a
:class:`WhatIfSnapshot` reads like the snapshot it came from, except that the removed pods
are not there and what they held is free:

* ``requested`` (hence ``free`` and ``gpus.cpu_free``) lose each pod's requests and its pod
  slot; ``pods`` and ``pods_on`` do not list the pods;
* a ResourceClaim is *released* when a removed pod owns it (a claim generated from the pod's
  template) or when every consumer in its ``reservedFor`` is removed (as the resourceclaim
  controller deallocates it; a reference names a pod by UID, or by name when the pod has
  none): ``claims`` shows it unallocated with no results, and its
  devices are free in ``template_states`` (the prefilter's arrays), in :meth:`is_allocated` /
  :meth:`shared_consumed` (the exact allocator's view) and in ``gpus``. A claim that keeps
  other consumers keeps its devices and only loses the removed pods from ``reservedFor``;
* what depends on Node objects and the device inventory alone (labels, taints, cordons,
  topology, pools) is shared with the snapshot.

Cache keys. Plugins keep derived values across cycles keyed by ``(cache_id, generation)``,
or per node by ``node_version``. A what-if view carries a fresh negative stamp as its
``generation`` and as the ``node_version`` of every node it changed: values no cache ever
issues, so a value derived from a what-if view is never taken for the real cluster's, and
the next real snapshot recomputes exactly those nodes. ``device_generation`` takes the stamp
too when a released device is not node-local (such a device moves no node's version).

Who calls: DefaultPreemption, once per (candidate node, victim set) it tries. A what-if view
is read-only and valid exactly as long as the snapshot it came from (:meth:`check`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from scheduler.api.dra import ResourceClaimConsumerReference
from scheduler.api.meta import OwnerReference
from scheduler.api.pod import Pod, pod_claim_keys, pod_extended_claim_key
from scheduler.cluster.cache import ClaimRecord, PodRecord
from scheduler.cluster.devices import DeviceRelease
from scheduler.cluster.gpuview import GpuView, node_gpu_free
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.claims import DeviceResult
from scheduler.dra.inventory import DeviceID, Number

_V = TypeVar("_V")
_STAMPS = itertools.count(1)


class _Without(Mapping[str, _V]):
    """A mapping minus some keys (read-only, no copy)."""

    __slots__ = ("_base", "_hidden")

    def __init__(self, base: Mapping[str, _V], hidden: frozenset[str]) -> None:
        self._base = base
        self._hidden = hidden

    def __getitem__(self, key: str) -> _V:
        if key in self._hidden:
            raise KeyError(key)
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._base if key not in self._hidden)

    def __len__(self) -> int:
        return len(self._base) - sum(1 for key in self._hidden if key in self._base)


class _Overlay(Mapping[str, _V]):
    """A mapping with some values replaced (read-only, no copy; same keys)."""

    __slots__ = ("_base", "_over")

    def __init__(self, base: Mapping[str, _V], over: Mapping[str, _V]) -> None:
        self._base = base
        self._over = over

    def __getitem__(self, key: str) -> _V:
        found = self._over.get(key)
        return found if found is not None else self._base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


class WhatIfSnapshot(Snapshot):
    """A :class:`Snapshot` without the pods ``removed`` (see the module docstring).

    ``base`` is the real snapshot it derives from (a what-if of a what-if derives from the
    same real snapshot, without the union of both removals); ``changed_nodes`` are the dense
    ids whose state differs from ``base``; ``released`` the claims whose devices are free.
    """

    base: Snapshot
    removed: frozenset[str]
    released: frozenset[str]
    changed_nodes: tuple[int, ...]

    def __init__(self, base: Snapshot, removed: Iterable[str]) -> None:
        keys = frozenset(removed)
        if isinstance(base, WhatIfSnapshot):
            keys |= base.removed
            base = base.base
        for key in keys:
            if key not in base.pods:
                raise KeyError(f"Pod {key}: not in the snapshot")
        for name, value in vars(base).items():
            if name not in _DERIVED:
                setattr(self, name, value)
        self.base = base
        self.removed = keys
        stamp = -next(_STAMPS)
        self.generation = stamp
        records = [base.pods[key] for key in sorted(keys)]
        changed = self._free_resources(base, records)
        claims, released = _released_claims(base, records)
        self.claims = _Overlay(base.claims, claims)
        self.released = frozenset(released)
        changes, not_local = self._free_devices(base, released, changed)
        self.template_states = tuple(
            state.released(changes[t]) if t in changes else state
            for t, state in enumerate(base.template_states)
        )
        if not_local:
            self.device_generation = (base.device_generation[0], stamp)
        versions = np.array(base.node_version, dtype=np.int64)
        self.changed_nodes = tuple(sorted(changed))
        versions[list(self.changed_nodes)] = stamp
        versions.setflags(write=False)
        self.node_version = versions
        self.pods = _Without(base.pods, keys)
        self._emptied = frozenset(r.node for r in records if r.node is not None)

    def _free_resources(self, base: Snapshot, records: list[PodRecord]) -> set[int]:
        """``requested`` without the pods (their requests and pod slots); their nodes."""
        requested = np.array(base.requested, dtype=np.int64)
        column = {name: j for j, name in enumerate(base.resources)}
        changed: set[int] = set()
        for record in records:
            i = base.node_index.get(record.node) if record.node is not None else None
            if i is None:
                continue
            for name, amount in record.requests.items():
                j = column.get(name)
                if j is not None:
                    requested[i, j] -= amount
            requested[i, column["pods"]] -= 1
            changed.add(i)
        requested.setflags(write=False)
        self.requested = requested
        return changed

    def _free_devices(
        self, base: Snapshot, released: Mapping[str, list[DeviceResult]], changed: set[int]
    ) -> tuple[dict[int, list[DeviceRelease]], bool]:
        """The template-state releases of the released claims' devices, per template; adds
        the devices' nodes to ``changed``; True when some device is not node-local."""
        inventory = self._cache.devices
        changes: dict[int, list[DeviceRelease]] = {}
        not_local = False
        for results in released.values():
            for result in results:
                if result.admin_access:
                    continue  # an admin-access result holds nothing (DeviceInventory.allocate)
                node = inventory.node_of(result.device_id)
                i = base.node_index.get(node) if node is not None else None
                if i is None:
                    not_local = True
                else:
                    changed.add(i)
                found = inventory.locate(result.device_id)
                if found is not None:
                    t, row, kind = found
                    shared = result.share_id is not None
                    changes.setdefault(t, []).append((row, kind, shared, result.consumed_capacity))
        return changes, not_local

    # -- validity ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`~scheduler.cluster.snapshot.StaleSnapshot` if ``base`` is stale."""
        self.base.check()

    # -- pods -------------------------------------------------------------------------------------
    def pods_on(self, node: str) -> Mapping[str, PodRecord]:
        """Pods bound or assumed on a node, the removed ones left out."""
        found = self.base.pods_on(node)
        if node not in self._emptied:
            return found
        return MappingProxyType({k: r for k, r in found.items() if k not in self.removed})

    # -- DRA --------------------------------------------------------------------------------------
    def is_allocated(self, device: DeviceID) -> bool:
        """Held exclusively by a claim that is not released."""
        return self._cache.devices.is_allocated(device, ignore=self.released)

    def shared_consumed(self, device: DeviceID) -> Mapping[str, Number] | None:
        """Summed consumed capacity of the shares of claims that are not released."""
        return self._cache.devices.shared_consumed(device, ignore=self.released)

    def claim_results(self, key: str) -> list[DeviceResult]:
        """Device results a claim holds here (none once released)."""
        record = self.claims.get(key)
        return list(record.results) if record is not None else []

    # -- accelerators -----------------------------------------------------------------------------
    @cached_property
    def gpus(self) -> GpuView:
        """The accelerator view with the changed nodes' GPUs and CPU re-read."""
        self.check()
        view = self.base.gpus
        gpu_free = np.array(view.gpu_free, dtype=np.int32)
        rows_of_node = self._cache.devices.rows_of_node
        for i in self.changed_nodes:
            rows = rows_of_node.get(self.node_names[i], ())
            free = node_gpu_free(self.templates, self.template_states, rows)
            gpu_free[i, : len(free)] = free
        gpu_free.setflags(write=False)
        cpu_free = np.array(self.free[:, self.resources.index("cpu")], dtype=np.int64)
        cpu_free.setflags(write=False)
        return GpuView(cpu_free, gpu_free, view.gpu_count, view.gpu_model, view.models)


def without(snapshot: Snapshot, pod_keys: Iterable[str]) -> WhatIfSnapshot:
    """``snapshot`` with the given pods gone and what they held free (a what-if of a what-if
    removes both sets from the same real snapshot). KeyError naming a key that is not a pod
    of the snapshot."""
    return WhatIfSnapshot(snapshot, pod_keys)


def _released_claims(
    base: Snapshot, records: list[PodRecord]
) -> tuple[dict[str, ClaimRecord], dict[str, list[DeviceResult]]]:
    """The removed pods' claims (their own and the one made for their DRA-served extended
    resources) as they would be without the pods: the changed records, and the claims
    released (owned by a removed pod, or every consumer removed) with the device results they
    held."""
    changed: dict[str, ClaimRecord] = {}
    released: dict[str, list[DeviceResult]] = {}
    for record in records:
        keys = [key for _, key in pod_claim_keys(record.pod)]
        keys.append(pod_extended_claim_key(record.pod))
        for key in keys:
            held = base.claims.get(key) if key is not None else None
            if key is None or held is None or key in changed:
                continue
            claim = held.claim
            namespace = claim.metadata.namespace or "default"
            gone = [r.pod for r in records if (r.pod.metadata.namespace or "default") == namespace]
            consumers = claim.status.reserved_for
            kept = tuple(c for c in consumers if not any(_refers(c, p) for p in gone))
            owned = any(
                ref.controller and ref.kind == "Pod" and any(_refers(ref, p) for p in gone)
                for ref in claim.metadata.owner_references
            )
            free = owned or (bool(consumers) and not kept)
            if not free and len(kept) == len(consumers):
                continue
            update: dict[str, object] = {"reserved_for": kept}
            if free:
                update["allocation"] = None
            claim = claim.model_copy(update={"status": claim.status.model_copy(update=update)})
            if free:
                changed[key] = ClaimRecord(claim)
                released[key] = list(held.results)
            else:
                changed[key] = ClaimRecord(claim, held.results, held.assumed, held.allocation)
    return changed, released


def _refers(ref: ResourceClaimConsumerReference | OwnerReference, pod: Pod) -> bool:
    """Whether a claim's consumer or owner reference (same namespace) names ``pod``: by UID,
    or by name when the pod has no UID (simulated pods may have none)."""
    if isinstance(ref, ResourceClaimConsumerReference) and ref.resource != "pods":
        return False
    uid = pod.metadata.uid
    return ref.uid == uid if uid else not ref.uid and ref.name == pod.metadata.name


_DERIVED = frozenset(
    name
    for klass in Snapshot.__mro__
    for name, value in vars(klass).items()
    if isinstance(value, cached_property)
)
"""Snapshot attributes computed on first use: a what-if view computes its own."""
