"""DRA-backed extended resources (KEP-5004): the class mapping and the scheduler-made claim.

With the DRAExtendedResource gate, a pod asking for an extended resource in its container
``resources.requests`` (``nvidia.com/gpu: 8``) can be served by DRA devices: a DeviceClass
maps the name (``spec.extendedResourceName``, or the implicit
``deviceclass.resource.kubernetes.io/<class>``), and on a node that does not offer the
resource as a device-plugin resource (allocatable 0 or absent) kube-scheduler allocates the
devices through one *special* ResourceClaim per pod, which it creates itself in PreBind.

This module holds the pure parts, used by DynamicResources, NodeResourcesFit, the solver's
tables, the case files and the simulated API server:

* :func:`extended_resource_classes` — resource name -> DeviceClass name, as kube-scheduler's
  extended-resource cache resolves it (``k8s.io/dynamic-resource-allocation/deviceclass/
  extendedresourcecache``);
* :func:`extended_claim_requests` — the special claim's device requests and the
  container-to-request mappings for the resources DRA serves on a node (upstream
  ``createRequestsAndMappings`` in ``pkg/scheduler/framework/plugins/dynamicresources``):
  one request ``container-<i>-request-<j>`` per container and resource, where ``i`` indexes
  init containers then containers and ``j`` the resource among the container's sorted
  request names; a non-sidecar init container first reuses the requests of the sidecars and
  containers after it and asks only for the rest, and only the largest such init request is
  kept;
* :func:`extended_claim_object` and :class:`ExtendedResourceAllocation` — the claim as it is
  written, and the allocation that carries it from Reserve (where it exists only in the
  scheduler's memory) to PreBind (where it is created, allocated and named in the pod's
  ``status.extendedResourceClaimStatus``).

Semantics, sources and tessera's differences: docs/semantics/extended-resources.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from scheduler.api.dra import DeviceClass, ResourceClaim
from scheduler.api.meta import ResourceList
from scheduler.api.pod import Container, ContainerExtendedResourceRequest, Pod, pod_key
from scheduler.api.quantity import parse_quantity
from scheduler.api.resourcenames import (
    DEVICE_CLASS_RESOURCE_PREFIX,
    is_dra_extended_resource_name,
)
from scheduler.dra.claims import ClaimAllocation, ClaimSpec, RequestGroup, RequestSpec

__all__ = [
    "EXTENDED_RESOURCE_CLAIM_ANNOTATION",
    "IN_MEMORY_CLAIM_NAME",
    "NO_EXTENDED_RESOURCE",
    "ExtendedRequest",
    "ExtendedResourceAllocation",
    "classify_extended",
    "extended_claim_key",
    "extended_claim_name",
    "extended_claim_object",
    "extended_claim_requests",
    "extended_claim_spec",
    "extended_resource_classes",
    "is_extended_resource_claim",
    "served_on_node",
]

EXTENDED_RESOURCE_CLAIM_ANNOTATION = "resource.kubernetes.io/extended-resource-claim"
"""``resourceapi.ExtendedResourceClaimAnnotation``: ``"true"`` on the scheduler-made claim."""

IN_MEMORY_CLAIM_NAME = "<extended-resources>"
"""Upstream ``specialClaimInMemName``: the claim's name until PreBind creates it (not a valid
object name on purpose, so it can never clash with a real claim)."""

NO_EXTENDED_RESOURCE = "cannot fit resource"
"""DynamicResources' Filter reason for a requested extended resource that no DeviceClass
backs and the node does not list in its allocatable."""

_GENERATE_SUFFIX = 5
_MAX_NAME = 63
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery utilrand's alphanumerics


def _created(cls: DeviceClass) -> dt.datetime:
    text = cls.metadata.creation_timestamp
    if not text:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def extended_resource_classes(classes: Iterable[DeviceClass]) -> dict[str, str]:
    """Extended resource name -> DeviceClass name, sorted by resource name.

    Every class ``c`` maps ``deviceclass.resource.kubernetes.io/c``; a class with
    ``spec.extendedResourceName`` also maps that name. When several classes name the same
    resource, the most recently created wins, and among equally old ones the
    lexicographically smallest name (the extended-resource cache's rule; a class without a
    creation timestamp counts as oldest).
    """
    out: dict[str, str] = {}
    explicit: dict[str, DeviceClass] = {}
    for cls in classes:
        name = cls.metadata.name or ""
        out[DEVICE_CLASS_RESOURCE_PREFIX + name] = name
        resource = cls.spec.extended_resource_name
        if not resource:
            continue
        held = explicit.get(resource)
        if held is not None:
            newer, older = _created(cls), _created(held)
            if newer < older or (newer == older and name >= (held.metadata.name or "")):
                continue
        explicit[resource] = cls
    for resource, cls in explicit.items():
        out[resource] = cls.metadata.name or ""
    return dict(sorted(out.items()))


def classify_extended(
    requests: ResourceList, classes: Mapping[str, str]
) -> tuple[tuple[tuple[str, str, int], ...], tuple[str, ...]]:
    """Split a pod's requested (> 0) extended-resource names: ``(resource, class, amount)``
    for those a DeviceClass backs (``classes`` from :func:`extended_resource_classes`),
    sorted by resource, and the names no class backs."""
    mapped: list[tuple[str, str, int]] = []
    unmapped: list[str] = []
    for resource in sorted(requests):
        amount = requests[resource]
        if amount <= 0 or not is_dra_extended_resource_name(resource):
            continue
        found = classes.get(resource)
        if found is None:
            unmapped.append(resource)
        else:
            mapped.append((resource, found, amount))
    return tuple(mapped), tuple(unmapped)


def served_on_node(
    requests: ResourceList, classes: Mapping[str, str], allocatable: Mapping[str, object]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """On one node with ``allocatable`` (resource -> amount, as listed in the Node): the
    resources DRA serves (resource -> class: backed by a class, 0 or absent in allocatable)
    and the requested names neither backed nor listed (the pod cannot run there).

    The per-node form of the rule :mod:`scheduler.cluster.extended` applies to all nodes at
    once; the case files use it.
    """
    mapped, unmapped = classify_extended(requests, classes)
    served = {r: c for r, c, _ in mapped if not _positive(allocatable.get(r))}
    return served, tuple(r for r in unmapped if r not in allocatable)


def _positive(amount: object) -> bool:
    if amount is None:
        return False
    value = amount if isinstance(amount, int) else parse_quantity(str(amount))
    return value > 0


@dataclass(frozen=True, slots=True)
class ExtendedRequest:
    """One device request of the special claim: ``count`` devices of class ``class_name``."""

    name: str
    class_name: str
    count: int


def _whole(container: Container, resource: str) -> int:
    """The container's request of ``resource`` when it is a positive whole number, else 0
    (upstream reads it with ``Quantity.AsInt64`` and skips what is not exactly an int)."""
    text = container.resources.requests.get(resource)
    if text is None:
        return 0
    amount = parse_quantity(text)
    if amount.denominator != 1 or amount <= 0:
        return 0
    return int(amount)


def _container_request(
    index: int,
    container: Container,
    resource: str,
    class_name: str,
    reusable: Sequence[ExtendedRequest | None],
) -> tuple[ExtendedRequest | None, list[ContainerExtendedResourceRequest]]:
    """The request container ``index`` adds for ``resource`` after reusing ``reusable``
    (None when it needs nothing more), and its mappings."""
    wanted = _whole(container, resource)
    if wanted == 0:
        return None, []
    mappings: list[ContainerExtendedResourceRequest] = []
    covered = 0
    for request in reusable:
        if request is None:
            continue
        covered += request.count
        mappings.append(
            ContainerExtendedResourceRequest(
                container_name=container.name, resource_name=resource, request_name=request.name
            )
        )
        if covered >= wanted:
            return None, mappings
    position = sorted(container.resources.requests).index(resource)
    name = f"container-{index}-request-{position}"
    mappings.append(
        ContainerExtendedResourceRequest(
            container_name=container.name, resource_name=resource, request_name=name
        )
    )
    return ExtendedRequest(name, class_name, wanted - covered), mappings


def extended_claim_requests(
    pod: Pod, served: Mapping[str, str]
) -> tuple[tuple[ExtendedRequest, ...], tuple[ContainerExtendedResourceRequest, ...]]:
    """The special claim's requests (sorted by name) and the request mappings for the
    resources ``served`` (resource name -> class name) by DRA on one node.

    See the module docstring for the rules; pod-level ``spec.resources`` is not read (it
    carries no extended resources).
    """
    containers = (*pod.spec.init_containers, *pod.spec.containers)
    inits = len(pod.spec.init_containers)
    long_lived = [i for i, c in enumerate(containers) if i >= inits or c.is_sidecar]
    short_lived = [i for i, c in enumerate(containers) if i < inits and not c.is_sidecar]
    requests: list[ExtendedRequest] = []
    mappings: list[ContainerExtendedResourceRequest] = []
    for resource in sorted(served):
        class_name = served[resource]
        lasting: list[ExtendedRequest | None] = [None] * len(containers)
        lasting_maps: list[ContainerExtendedResourceRequest] = []
        for i in long_lived:
            request, found = _container_request(i, containers[i], resource, class_name, ())
            lasting[i] = request
            lasting_maps.extend(found)
        largest: ExtendedRequest | None = None
        short_names: set[str] = set()
        short_maps: list[ContainerExtendedResourceRequest] = []
        for i in short_lived:
            request, found = _container_request(i, containers[i], resource, class_name, lasting[i:])
            if request is not None:
                short_names.add(request.name)
                if largest is None or largest.count < request.count:
                    largest = request
            short_maps.extend(found)
        if largest is not None and len(short_names) > 1:
            short_names.discard(largest.name)
            short_maps = [
                m.model_copy(update={"request_name": largest.name})
                if m.request_name in short_names
                else m
                for m in short_maps
            ]
        if largest is not None:
            requests.append(largest)
        requests.extend(r for r in lasting if r is not None)
        mappings.extend(lasting_maps)
        mappings.extend(short_maps)
    return tuple(sorted(requests, key=lambda r: r.name)), tuple(mappings)


def extended_claim_spec(namespace: str, uid: str, requests: Sequence[ExtendedRequest]) -> ClaimSpec:
    """The special claim as the allocator sees it (named ``<extended-resources>``, as
    upstream's in-memory claim): one ExactCount request per :class:`ExtendedRequest`."""
    groups = tuple(
        RequestGroup(
            name=r.name,
            exactly=RequestSpec(
                name=r.name,
                base=r.name,
                sub="",
                class_name=r.class_name,
                mode="ExactCount",
                count=r.count,
            ),
        )
        for r in requests
    )
    return ClaimSpec(namespace=namespace, name=IN_MEMORY_CLAIM_NAME, uid=uid, requests=groups)


def extended_claim_name(pod: Pod) -> str:
    """The special claim's object name: ``generateName`` ``<pod>-extended-resources-``
    (cut to 58 characters, as the API server's name generator does) plus a 5-character
    suffix. Upstream's suffix is random; tessera derives it from the pod's namespace and
    name so that runs are reproducible."""
    base = f"{pod.metadata.name or ''}-extended-resources-"[: _MAX_NAME - _GENERATE_SUFFIX]
    seed = pod_key(pod)
    digest = hashlib.sha256(seed.encode()).digest()
    suffix = "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)] for b in digest[:_GENERATE_SUFFIX])
    return base + suffix


def extended_claim_key(pod: Pod) -> str:
    """``namespace/name`` of the pod's special claim (:func:`extended_claim_name`)."""
    return f"{pod.metadata.namespace or 'default'}/{extended_claim_name(pod)}"


def extended_claim_object(pod: Pod, requests: Sequence[ExtendedRequest]) -> ResourceClaim:
    """The special claim object PreBind creates: owned by the pod (controller), annotated
    ``resource.kubernetes.io/extended-resource-claim: "true"``, with ``requests``."""
    namespace = pod.metadata.namespace or "default"
    name = extended_claim_name(pod)
    body = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {
            "name": name,
            "generateName": f"{pod.metadata.name or ''}-extended-resources-",
            "namespace": namespace,
            "uid": f"claim-{namespace}-{name}",
            "annotations": {EXTENDED_RESOURCE_CLAIM_ANNOTATION: "true"},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod.metadata.name or "",
                    "uid": pod.metadata.uid or "",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "devices": {
                "requests": [
                    {
                        "name": r.name,
                        "exactly": {
                            "deviceClassName": r.class_name,
                            "allocationMode": "ExactCount",
                            "count": r.count,
                        },
                    }
                    for r in requests
                ]
            }
        },
    }
    return ResourceClaim.model_validate(body)


def is_extended_resource_claim(claim: ResourceClaim) -> bool:
    """Whether ``claim`` is a scheduler-made claim for extended resources (its annotation)."""
    return claim.metadata.annotations.get(EXTENDED_RESOURCE_CLAIM_ANNOTATION) == "true"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtendedResourceAllocation(ClaimAllocation):
    """The allocation of a special claim that exists only in the scheduler's memory.

    DynamicResources passes it to ``Handle.assume_claim`` at Reserve: the cache then holds
    the claim object itself as in flight (upstream keeps it in the DRA manager's in-flight
    allocations, there being no API object yet), and PreBind's ``write_allocation`` creates
    ``claim``, stores the allocation and writes ``mappings`` into the pod's
    ``status.extendedResourceClaimStatus``.
    """

    claim: ResourceClaim
    mappings: tuple[ContainerExtendedResourceRequest, ...] = ()
