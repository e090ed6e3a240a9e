"""ClusterBackend: the one seam between the shared scheduling core and where it runs.

The webhook and the simulator drive the same framework and plugins; they differ only in
this object (DESIGN.md, STYLE.md habit 5): where state comes from (the cache they feed),
what "now" is, and where bindings, claim allocations and evictions go. Nothing in
``scheduler/`` branches on which backend it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from scheduler.api.pod import Pod
from scheduler.dra.claims import ClaimAllocation

if TYPE_CHECKING:
    from scheduler.cluster.cache import ClusterCache


class ClusterBackend(Protocol):
    """State source + clock + bind sink."""

    @property
    def cache(self) -> ClusterCache:
        """The event-fed cluster cache this backend keeps up to date."""
        ...

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

    def prepare_pod(self, pod: Pod) -> Pod:
        """The pod as it will look once created, with its template claims in the cache.

        For gang members that do not exist yet (LWS workers): their devices can only be
        reserved against their claims. The webhook holds such claims in its cache only.
        """
        ...

    def discard_prepared(self, pod: Pod) -> None:
        """Undo :meth:`prepare_pod` when a gang reservation is abandoned."""
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


class BackendHandle:
    """The :class:`~scheduler.framework.interfaces.Handle` plugins get: a backend and its cache."""

    __slots__ = ("_backend",)

    def __init__(self, backend: ClusterBackend) -> None:
        self._backend = backend

    @property
    def backend(self) -> ClusterBackend:
        """The backend (bind sink, clock, evictions)."""
        return self._backend

    @property
    def cache(self) -> ClusterCache:
        """The backend's cluster cache."""
        return self._backend.cache
