"""PlacedPods: the pods bound or assumed on each node, kept up to date between cycles.

Who uses it: InterPodAffinity and PodTopologySpread, each holding one instance for the
cache its handle serves. Every PreFilter/PreScore calls :meth:`PlacedPods.refresh` with the
cycle's snapshot, then reads :meth:`PlacedPods.on` per node id.

Contract: an entry mirrors ``snapshot.pods_on(node)`` for the snapshot last refreshed
with, in the same order. A refresh re-reads only the nodes whose ``node_version`` changed
(every pod added to, assumed on, forgotten from or removed from a node bumps it), and all
nodes when the node set changed (``node_generation``), so the cost per cycle is one vector
comparison plus the pods of the nodes that changed. An entry is rebuilt only when its pod
object changed, so affinity terms are parsed once per pod version. Pods are also indexed by
label key and by (key, value), so a selector that requires a label visits only the pods
carrying it; that index catches up only when read, so cycles of pods without affinity terms
never pay for it (:meth:`PlacedPods.candidates`). An instance serves one cache: the
versions of two caches are not comparable.

What the cache does not signal cannot be seen here either: an update of a pod that is
assumed but not yet bound replaces the pod object without bumping any version (the cache
keeps the assumption), and is picked up when that node next changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scheduler.api.pod import Pod
from scheduler.plugins.helper.affinityterms import Narrowing, PodAffinityTerms, parse_pod_affinity

if TYPE_CHECKING:
    from scheduler.cluster.cache import PodRecord
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["PlacedPod", "PlacedPods"]


@dataclass(frozen=True, slots=True)
class PlacedPod:
    """A pod on a node: identity, namespace, labels, whether it is terminating (has a
    ``deletionTimestamp``), and its processed inter-pod affinity terms."""

    key: str
    pod: Pod
    namespace: str
    labels: Mapping[str, str]
    terminating: bool
    terms: PodAffinityTerms


def _placed(record: PodRecord) -> PlacedPod:
    meta = record.pod.metadata
    return PlacedPod(
        key=record.key,
        pod=record.pod,
        namespace=meta.namespace or "default",
        labels=meta.labels,
        terminating=meta.deletion_timestamp is not None,
        terms=parse_pod_affinity(record.pod),
    )


_Bucket = dict[str, tuple[int, PlacedPod]]


class PlacedPods:
    """Per node id, the placed pods, and an index of them by label (see the module
    docstring)."""

    def __init__(self) -> None:
        self._seen: tuple[int, int] | None = None  # (cache id, generation) last refreshed at
        self._node_generation = -1
        self._versions: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._by_node: list[tuple[PlacedPod, ...]] = []
        self._occupied = np.empty(0, dtype=bool)
        self._anti = np.empty(0, dtype=bool)
        self._affinity = np.empty(0, dtype=bool)
        self._by_label: dict[tuple[str, str | None], _Bucket] = {}  # value None: any value
        self._unindexed: dict[int, tuple[PlacedPod, ...]] = {}
        """Nodes changed since the label index was last brought up to date, with the
        entries it still holds for them."""

    def refresh(self, snapshot: Snapshot) -> None:
        """Bring the entries up to ``snapshot`` (re-reading only the nodes that changed;
        nothing at all when the cache has not changed since the last refresh). The label
        index catches up when :meth:`candidates` next reads it."""
        seen = (snapshot.cache_id, snapshot.generation)
        if seen == self._seen:
            return
        size = snapshot.size
        if snapshot.node_generation != self._node_generation or len(self._by_node) != size:
            self._node_generation = snapshot.node_generation
            self._by_node = [()] * size
            self._occupied = np.zeros(size, dtype=bool)
            self._anti = np.zeros(size, dtype=bool)
            self._affinity = np.zeros(size, dtype=bool)
            self._by_label = {}
            self._unindexed = {}
            self._versions = np.array(snapshot.node_version, dtype=np.int64)
            stale: list[int] = list(range(size))
        else:
            moved = np.flatnonzero(self._versions != snapshot.node_version)
            self._versions[moved] = snapshot.node_version[moved]
            stale = moved.tolist()
        before: dict[str, PlacedPod] = {}
        for i in stale:
            old = self._by_node[i]
            self._unindexed.setdefault(i, old)  # what the label index still holds for i
            for p in old:
                before[p.key] = p
        for i in stale:
            entries: list[PlacedPod] = []
            for record in snapshot.pods_on(snapshot.node_names[i]).values():
                entry = before.get(record.key)
                if entry is None or entry.pod is not record.pod:
                    entry = _placed(record)
                entries.append(entry)
            self._by_node[i] = tuple(entries)
            self._occupied[i] = bool(entries)
            self._anti[i] = any(p.terms.required_anti_affinity for p in entries)
            self._affinity[i] = any(p.terms.has_affinity for p in entries)
        self._seen = seen

    def _catch_up(self) -> None:
        """Re-index by label the nodes changed since the last read: every old entry out
        first (a pod may have moved between two of them), then the current ones in."""
        if not self._unindexed:
            return
        for old in self._unindexed.values():
            for p in old:
                self._unindex(p)
        for i in self._unindexed:
            for p in self._by_node[i]:
                self._index(i, p)
        self._unindexed = {}

    def _index(self, node: int, pod: PlacedPod) -> None:
        for key, value in pod.labels.items():
            for slot in ((key, None), (key, value)):
                self._by_label.setdefault(slot, {})[pod.key] = (node, pod)

    def _unindex(self, pod: PlacedPod) -> None:
        for key, value in pod.labels.items():
            for slot in ((key, None), (key, value)):
                bucket = self._by_label.get(slot)
                if bucket is not None:
                    bucket.pop(pod.key, None)
                    if not bucket:
                        del self._by_label[slot]

    def on(self, node: int) -> tuple[PlacedPod, ...]:
        """The pods on node ``node`` (dense id), in the cache's order."""
        return self._by_node[node]

    def candidates(self, narrowing: Narrowing | None) -> list[tuple[int, PlacedPod]]:
        """(node id, pod) of every placed pod that can satisfy ``narrowing`` (all pods for
        ``None``), in no particular order: callers still run the full match."""
        if narrowing is None:
            return [(i, p) for i in self.occupied() for p in self._by_node[i]]
        self._catch_up()
        key, values = narrowing
        slots: tuple[str | None, ...] = (None,) if values is None else tuple(sorted(values))
        return [hit for v in slots for hit in self._by_label.get((key, v), {}).values()]

    def occupied(self) -> list[int]:
        """Ids of the nodes holding at least one pod, ascending."""
        return np.flatnonzero(self._occupied).tolist()

    def with_required_anti_affinity(self) -> list[int]:
        """Ids of the nodes holding a pod with required anti-affinity terms (upstream
        ``HavePodsWithRequiredAntiAffinityList``), ascending."""
        return np.flatnonzero(self._anti).tolist()

    def with_affinity(self) -> list[int]:
        """Ids of the nodes holding a pod that sets pod affinity or anti-affinity (upstream
        ``HavePodsWithAffinityList``), ascending."""
        return np.flatnonzero(self._affinity).tolist()
