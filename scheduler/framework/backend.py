"""ClusterBackend: the one seam between the shared scheduling core and where it runs.

The webhook and the simulator drive the same framework and plugins; they differ only in
this object (docs/architecture.md): where state comes from (the cache they feed), what
"now" is, and where bindings, claim allocations and evictions go. Nothing in
``scheduler/`` branches on which backend it has.

Plugins see only :class:`BindSink`, the part of a backend that writes to the cluster (through
the framework's :class:`~scheduler.framework.interfaces.Handle`); the cache and the
gang-preparation calls are the runtime's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from scheduler.api.pod import Pod
from scheduler.dra.claims import ClaimAllocation

if TYPE_CHECKING:
    from scheduler.cluster.cache import ClusterCache
    from scheduler.cluster.snapshot import Snapshot
    from scheduler.framework.cycle_state import CycleState
    from scheduler.framework.extenders import SchedulerExtenders
    from scheduler.framework.interfaces import Diagnosis, NodeIds
    from scheduler.framework.podinfo import PodInfo
    from scheduler.framework.runtime import Framework


class BindSink(Protocol):
    """Clock + the writes plugins make to the cluster (Bind, PreBind, PostFilter)."""

    def now(self) -> float:
        """Seconds on the backend's clock (wall time, or the simulator's virtual time)."""
        ...

    def write_allocation(
        self, claim_key: str, allocation: ClaimAllocation | None, pod_key: str
    ) -> None:
        """Persist a claim's allocation (None: it is already allocated) and add the pod to the
        claim's ``reservedFor`` (DRA PreBind).

        Raises on I/O failure; the runtime then unreserves and the pod retries.
        """
        ...

    def bind(self, pod_key: str, node: str) -> None:
        """Bind a pod to a node (the Binding subresource). Raises on failure."""
        ...

    def evict(self, pod_key: str, reason: str) -> None:
        """Preempt (delete) a running pod; its resources free up when the deletion lands."""
        ...

    def claim_templates(self) -> Mapping[str, object]:
        """ResourceClaimTemplates by ``namespace/name`` (for claims not created yet)."""
        ...


class ClusterBackend(BindSink, Protocol):
    """State source + clock + bind sink (what the runtime drives)."""

    @property
    def cache(self) -> ClusterCache:
        """The event-fed cluster cache this backend keeps up to date."""
        ...

    def prepare_pod(self, pod: Pod) -> Pod:
        """The pod as it will look once created, with its template claims in the cache.

        For gang members that do not exist yet (LWS workers): their devices can only be
        reserved against their claims. The webhook holds such claims in its cache only.
        """
        ...

    def discard_prepared(self, pod: Pod) -> None:
        """Undo :meth:`prepare_pod` when a gang reservation is abandoned."""
        ...


class BackendHandle:
    """The :class:`~scheduler.framework.interfaces.Handle` of a framework over a backend.

    Plugins get it at construction and see only the Handle protocol (a snapshot, the bind
    sink, claim reservations, the profile's filters); the runtime also reads ``cache`` and
    ``cluster``. The framework attaches itself (:meth:`attach`) once built, which is what
    :meth:`find_feasible` runs.
    """

    __slots__ = ("_backend", "_framework")

    def __init__(self, backend: ClusterBackend) -> None:
        self._backend = backend
        self._framework: Framework | None = None

    def attach(self, framework: Framework) -> None:
        """Called by the Framework it was built for, once."""
        self._framework = framework

    @property
    def cluster(self) -> ClusterBackend:
        """The whole backend (runtime use)."""
        return self._backend

    @property
    def cache(self) -> ClusterCache:
        """The backend's cluster cache (runtime use)."""
        return self._backend.cache

    @property
    def backend(self) -> BindSink:
        """The bind sink, clock and evictions plugins may use."""
        return self._backend

    def snapshot(self) -> Snapshot:
        """The current snapshot (the cache's, reused while nothing changed)."""
        return self._backend.cache.snapshot()

    def assume_claim(self, key: str, allocation: ClaimAllocation) -> None:
        """Hold a claim's devices in the cache as in-flight (DRA Reserve)."""
        self._backend.cache.assume_claim(key, allocation)

    def forget_claim(self, key: str) -> None:
        """Release what :meth:`assume_claim` held (DRA Unreserve); a no-op when nothing is."""
        self._backend.cache.forget_claim(key)

    def find_feasible(
        self,
        state: CycleState,
        pod: PodInfo,
        snapshot: Snapshot,
        candidates: NodeIds | None = None,
    ) -> tuple[NodeIds, Diagnosis]:
        """The profile's PreFilter + Filter plugins on ``candidates`` (all nodes when None)."""
        if self._framework is None:
            raise RuntimeError("handle used before its framework was built")
        return self._framework.find_feasible(state, pod, snapshot, candidates)

    @property
    def extenders(self) -> SchedulerExtenders | None:
        """The framework's HTTP extenders (None without them, or before it is built)."""
        return self._framework.extenders if self._framework is not None else None
