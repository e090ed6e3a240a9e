"""SimulatedCluster: the simulator's ClusterBackend (state source, bind sink, virtual clock).

It plays the parts of the API server and of the controllers around the scheduler:

* **resourceclaim controller** — when a pod is created, each ``resourceClaimTemplateName``
  entry gets a generated ResourceClaim ``<pod>-<claim>`` owned by the pod, recorded in
  ``pod.status.resourceClaimStatuses``; when the pod ends, generated claims are deleted and
  shared claims drop the pod from ``reservedFor`` and are deallocated when no consumer is left;
* **garbage collector** — the claim the scheduler made for a pod's DRA-backed extended
  resources (owned by the pod) is deleted with the pod;
* **API writes** — ``write_allocation`` sets ``status.allocation`` and ``reservedFor`` (for the
  scheduler's in-memory extended-resource claim it first creates the claim and then writes
  ``pod.status.extendedResourceClaimStatus``, as kube-scheduler's PreBind does);
  ``bind`` sets ``spec.nodeName``; ``evict`` deletes the pod (and releases its claims);
* **clock** — virtual seconds, advanced by the event engine.

Every change goes into the shared :class:`~scheduler.cluster.cache.ClusterCache`, exactly as
the webhook's informers would deliver it, and is reported to the optional ``observer`` (the
API facade, :mod:`simulator.apiserver`) after the cache has it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from scheduler.api.dra import ResourceClaim, ResourceClaimConsumerReference, ResourceClaimTemplate
from scheduler.api.meta import KubeObject, ObjectMeta, OwnerReference
from scheduler.api.pod import (
    Pod,
    PodExtendedResourceClaimStatus,
    PodResourceClaimStatus,
    pod_extended_claim_key,
    pod_key,
)
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.claims import ClaimAllocation
from scheduler.dra.convert import allocation_result
from scheduler.dra.extended import ExtendedResourceAllocation, extended_claim_key

MAX_RESERVED_FOR = 256


class SimulationError(RuntimeError):
    """An impossible request to the simulated API (names the object)."""


class MissingTemplateError(SimulationError):
    """A pod names a ResourceClaimTemplate that does not exist: its claim cannot be made.

    ``reason`` is the same for every pod naming the template (for counting)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ClusterObserver(Protocol):
    """Told of every Pod and ResourceClaim the simulated API writes (after the cache has it).

    ``object_changed`` gets the object as stored now; ``object_deleted`` the kind and the
    ``namespace/name`` key. Claims are reported when their pod is created (a gang member's
    claims prepared earlier exist in the cache only, as in the webhook).
    """

    def object_changed(self, obj: KubeObject) -> None:
        """An object was created or updated."""
        ...

    def object_deleted(self, kind: str, key: str) -> None:
        """An object was deleted (or never reached the API: ignore unknown keys)."""
        ...


class SimulatedCluster:
    """A ClusterBackend over a ClusterCache, with a virtual clock."""

    def __init__(self, cache: ClusterCache) -> None:
        self._cache = cache
        self.clock = 0.0
        self.templates: dict[str, ResourceClaimTemplate] = {}
        self.binds = 0
        self.evictions: list[tuple[float, str, str]] = []
        self.on_evict: Callable[[str, str], None] | None = None
        self.observer: ClusterObserver | None = None

    @property
    def cache(self) -> ClusterCache:
        """The cluster cache this backend feeds."""
        return self._cache

    def now(self) -> float:
        """Virtual seconds since the start of the simulation."""
        return self.clock

    def claim_templates(self) -> Mapping[str, object]:
        """ResourceClaimTemplates by ``namespace/name``."""
        return self.templates

    def add_template(self, template: ResourceClaimTemplate) -> None:
        """Register a ResourceClaimTemplate."""
        self.templates[template.key] = template

    # -- pods -------------------------------------------------------------------------------------
    def create_pod(self, pod: Pod) -> Pod:
        """Create a pod; generate its template claims first (resourceclaim controller).

        Returns the pod as stored (with ``status.resourceClaimStatuses`` filled in).
        Raises SimulationError when a referenced template does not exist.
        """
        pod = self.prepare_pod(pod)
        self._cache.add_pod(pod)
        if self.observer is not None:
            namespace = pod.metadata.namespace or "default"
            for status in pod.status.resource_claim_statuses:
                claim = self._cache.claims.get(f"{namespace}/{status.resource_claim_name}")
                if claim is not None:
                    self.observer.object_changed(claim.claim)
            self.observer.object_changed(pod)
        return pod

    def missing_template(self, pod: Pod) -> str | None:
        """``ResourceClaimTemplate NS/NAME not found in the input`` for the first template
        the pod names that does not exist; None when all do."""
        namespace = pod.metadata.namespace or "default"
        for ref in pod.spec.resource_claims:
            name = ref.resource_claim_template_name
            if name and f"{namespace}/{name}" not in self.templates:
                return f"ResourceClaimTemplate {namespace}/{name} not found in the input"
        return None

    def prepare_pod(self, pod: Pod) -> Pod:
        """Generate the pod's template claims (unless they exist) without creating the pod.

        Used for gang members that do not exist yet: their claims must exist for their
        devices to be reserved. A claim already present (an earlier reservation) is kept.
        """
        namespace = pod.metadata.namespace or "default"
        statuses = []
        for ref in pod.spec.resource_claims:
            if not ref.resource_claim_template_name:
                continue
            key = f"{namespace}/{ref.resource_claim_template_name}"
            template = self.templates.get(key)
            if template is None:
                raise MissingTemplateError(
                    f"Pod {pod_key(pod)}: resourceClaims[{ref.name}]: "
                    f"ResourceClaimTemplate {key} not found",
                    f"ResourceClaimTemplate {key} not found in the input",
                )
            name = f"{pod.metadata.name}-{ref.name}"
            statuses.append(PodResourceClaimStatus(name=ref.name, resource_claim_name=name))
            if f"{namespace}/{name}" in self._cache.claims:
                continue
            claim = ResourceClaim(
                metadata=ObjectMeta(
                    name=name,
                    namespace=namespace,
                    uid=f"claim-{namespace}-{name}",
                    labels=dict(template.spec.metadata.labels),
                    annotations={
                        **template.spec.metadata.annotations,
                        "resource.kubernetes.io/pod-claim-name": ref.name,
                    },
                    owner_references=(
                        OwnerReference(
                            api_version="v1",
                            kind="Pod",
                            name=pod.metadata.name or "",
                            uid=pod.metadata.uid or "",
                            controller=True,
                            block_owner_deletion=True,
                        ),
                    ),
                ),
                spec=template.spec.spec,
            )
            self._cache.add_claim(claim)
        if statuses:
            pod = pod.model_copy(
                update={
                    "status": pod.status.model_copy(
                        update={"resource_claim_statuses": tuple(statuses)}
                    )
                }
            )
        return pod

    def discard_prepared(self, pod: Pod) -> None:
        """Undo :meth:`prepare_pod` for a gang member whose reservation was abandoned."""
        namespace = pod.metadata.namespace or "default"
        for status in pod.status.resource_claim_statuses:
            if status.resource_claim_name:
                self._cache.remove_claim(f"{namespace}/{status.resource_claim_name}")
                self._deleted("ResourceClaim", f"{namespace}/{status.resource_claim_name}")

    def delete_pod(self, key: str) -> None:
        """Delete a pod (completion, eviction, failure): free its node and its claims."""
        record = self._cache.pods.get(key)
        if record is None:
            return
        pod = record.pod
        namespace = pod.metadata.namespace or "default"
        generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}
        self._cache.remove_pod(key)
        self._deleted("Pod", key)
        for ref in pod.spec.resource_claims:
            if ref.resource_claim_name:
                self._release_reservation(f"{namespace}/{ref.resource_claim_name}", pod)
            elif generated.get(ref.name):
                self._cache.remove_claim(f"{namespace}/{generated[ref.name]}")
                self._deleted("ResourceClaim", f"{namespace}/{generated[ref.name]}")
        for special in {pod_extended_claim_key(pod), extended_claim_key(pod)}:
            if special is not None:
                self._cache.remove_claim(special)
                self._deleted("ResourceClaim", special)

    def _changed(self, obj: KubeObject) -> None:
        if self.observer is not None:
            self.observer.object_changed(obj)

    def _deleted(self, kind: str, key: str) -> None:
        if self.observer is not None:
            self.observer.object_deleted(kind, key)

    def _release_reservation(self, key: str, pod: Pod) -> None:
        record = self._cache.claims.get(key)
        if record is None:
            return
        claim = record.claim
        reserved = tuple(r for r in claim.status.reserved_for if r.uid != (pod.metadata.uid or ""))
        status = claim.status.model_copy(update={"reserved_for": reserved})
        if not reserved:
            status = status.model_copy(update={"allocation": None})
            self._cache.forget_claim(key)
        self._cache.add_claim(claim.model_copy(update={"status": status}))
        self._changed(self._cache.claims[key].claim)

    # -- ClusterBackend ---------------------------------------------------------------------------
    def write_allocation(
        self, claim_key: str, allocation: ClaimAllocation | None, pod_key: str
    ) -> None:
        """PreBind: store ``status.allocation`` and add the pod to ``reservedFor``; an
        in-memory extended-resource claim is created first and named in the pod's
        ``status.extendedResourceClaimStatus``."""
        record = self._cache.claims.get(claim_key)
        pod = self._cache.pods.get(pod_key)
        if record is None or pod is None:
            raise SimulationError(f"ResourceClaim {claim_key} or Pod {pod_key}: not found")
        if record.in_memory and isinstance(allocation, ExtendedResourceAllocation):
            pod_status = pod.pod.status.model_copy(
                update={
                    "extended_resource_claim_status": PodExtendedResourceClaimStatus(
                        request_mappings=allocation.mappings,
                        resource_claim_name=record.claim.name,
                    )
                }
            )
            self._cache.add_pod(pod.pod.model_copy(update={"status": pod_status}))
            self._changed(self._cache.pods[pod_key].pod)
        claim = record.claim
        reserved = list(claim.status.reserved_for)
        uid = pod.pod.metadata.uid or ""
        if all(r.uid != uid for r in reserved):
            if len(reserved) >= MAX_RESERVED_FOR:
                raise SimulationError(f"ResourceClaim {claim_key}: reservedFor is full")
            reserved.append(
                ResourceClaimConsumerReference(
                    resource="pods", name=pod.pod.metadata.name or "", uid=uid
                )
            )
        update: dict[str, object] = {"reserved_for": tuple(reserved)}
        if allocation is not None:
            update["allocation"] = allocation_result(allocation)
        status = claim.status.model_copy(update=update)
        self._cache.commit_claim(claim.model_copy(update={"status": status}))
        self._changed(self._cache.claims[claim_key].claim)

    def bind(self, pod_key: str, node: str) -> None:
        """Bind: the assumed pod is now bound to ``node``."""
        record = self._cache.pods.get(pod_key)
        if record is None:
            raise SimulationError(f"Pod {pod_key}: not found")
        if record.node != node:
            raise SimulationError(f"Pod {pod_key}: assumed on {record.node}, bind to {node}")
        self._cache.bind_pod(pod_key, at=self.clock)
        self.binds += 1
        self._changed(record.pod)

    def evict(self, pod_key: str, reason: str) -> None:
        """Preemption: delete a running pod now (the simulator has no grace period)."""
        self.evictions.append((self.clock, pod_key, reason))
        if self.on_evict is not None:
            self.on_evict(pod_key, reason)
        self.delete_pod(pod_key)
