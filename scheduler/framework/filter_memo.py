"""FilterMemo: PreFilter + Filter verdicts remembered while the cluster does not change.

Who uses it: :class:`~scheduler.framework.runtime.Framework` (``schedule_one`` and the gang
cycle). A scheduling pass retries many pending pods against one unchanged cluster (every pod
failed; a cluster event moved them all back), and pods of one shape — the members of a gang,
the replicas of a workload — get the same verdict. The memo keeps the verdict of each shape
until the cache's generation moves (any change at all: a bind, an eviction, a claim
written or prepared), so the second pod of a shape skips the filters and gets the same
feasible nodes and the same :class:`~scheduler.framework.interfaces.Diagnosis` (hence the
same failure message).

The shape is :func:`~scheduler.framework.podinfo.feasibility_key` (requests, claim
templates, namespace, labels, the spec's scheduling fields) plus what it leaves out that a
filter reads: ``spec.nodeName`` (NodeName) and the containers' ports (NodePorts). Verdicts
with a PreFilter rejection or an ERROR are not kept: their messages may name the pod's own
objects (a claim not found, an allocator error naming the claim).

Only the nodes and the diagnosis are remembered, not the cycle state the plugins wrote:
callers that go on to Score or Reserve run the filters themselves (``schedule_one`` uses a
remembered verdict only when it found no node).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.framework.interfaces import Diagnosis, NodeIds
from scheduler.framework.podinfo import PodInfo, feasibility_key
from scheduler.framework.status import Code

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

MAX_ENTRIES = 4096
_KEYS: dict[int, tuple[PodInfo, tuple[object, ...]]] = {}
"""memo_key per PodInfo object (frozen; held here, so its id is not reused while kept)."""


def memo_key(pod: PodInfo) -> tuple[object, ...]:
    """The pod's shape for the filters (see the module docstring), computed once per
    PodInfo object: a pending pod is retried with the same one."""
    found = _KEYS.get(id(pod))
    if found is not None and found[0] is pod:
        return found[1]
    spec = pod.pod.spec
    ports = tuple(
        (p.host_ip, p.protocol, p.host_port, p.container_port)
        for c in (*spec.init_containers, *spec.containers)
        for p in c.ports
    )
    key = (feasibility_key(pod), spec.node_name, ports)
    if len(_KEYS) >= MAX_ENTRIES:
        _KEYS.clear()
    _KEYS[id(pod)] = (pod, key)
    return key


class FilterMemo:
    """Verdicts of one cache generation (see the module docstring)."""

    def __init__(self) -> None:
        self._at: tuple[int, int] | None = None
        self._verdicts: dict[tuple[object, ...], tuple[NodeIds, Diagnosis]] = {}

    def _current(self, snapshot: Snapshot) -> dict[tuple[object, ...], tuple[NodeIds, Diagnosis]]:
        at = (snapshot.cache_id, snapshot.generation)
        if at != self._at or len(self._verdicts) >= MAX_ENTRIES:
            self._at = at
            self._verdicts = {}
        return self._verdicts

    def get(self, pod: PodInfo, snapshot: Snapshot) -> tuple[NodeIds, Diagnosis] | None:
        """The verdict kept for ``pod``'s shape at this snapshot's generation, if any."""
        return self._current(snapshot).get(memo_key(pod))

    def put(self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds, diagnosis: Diagnosis) -> None:
        """Keep a verdict for ``pod``'s shape (unless PreFilter rejected or a plugin erred)."""
        if diagnosis.prefilter is not None:
            return
        if any(status.code == Code.ERROR for status, _ in diagnosis.groups):
            return
        kept = nodes.view()
        kept.setflags(write=False)  # shared by every pod of the shape
        self._current(snapshot)[memo_key(pod)] = (kept, diagnosis)
