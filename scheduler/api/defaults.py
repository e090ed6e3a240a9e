"""What the API server does to an object on create that changes where it can be placed.

Objects read from files never went through an API server, so every reader applies these
rules before anything else sees the object (the webhook's informers will apply them too;
they are idempotent, so objects that did go through an API server come out unchanged).
Sources and the full list, including what is deliberately left out, are in
``docs/semantics/manifests.md`` §1-2.

* :func:`default_namespace` — ``rest.BeforeCreate``: a namespaced object without
  ``metadata.namespace`` gets the request's namespace (``default``, as ``kubectl`` sends it
  without ``-n``); a cluster-scoped object loses any namespace it was given.
* :func:`default_pod` — ``SetDefaults_Pod`` / ``SetDefaults_PodSpec`` (``pkg/apis/core/v1``):
  container (and init container) ``requests`` default to their ``limits`` per resource;
  pod-level ``resources`` (PodLevelResources, on by default since 1.34) get requests from
  the containers or from the pod-level limits and hugepage limits from the containers;
  ``schedulerName`` defaults to ``default-scheduler``; then the DefaultTolerationSeconds
  admission plugin adds the ``not-ready`` / ``unreachable`` ``NoExecute`` tolerations
  (300 s).
* :func:`default_node` — ``SetDefaults_NodeStatus``: ``status.allocatable`` defaults to
  ``status.capacity``.
* :func:`admit_priority` — the Priority admission plugin: ``spec.priority`` and
  ``spec.preemptionPolicy`` from the pod's PriorityClass (or the global default class, or
  0); a class that does not exist is an error, as the API server refuses the pod.

Pure functions over the models: they return a changed copy, or the same object when
nothing applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from .meta import KubeObject
from .node import Node
from .pod import (
    Container,
    Pod,
    PodSpec,
    ResourceRequirements,
    aggregate_container_resources,
    pod_level_supported,
)
from .priority import PriorityClass
from .quantity import format_quantity
from .taints import Toleration

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SCHEDULER_NAME",
    "SYSTEM_PRIORITY_CLASSES",
    "AdmissionError",
    "admit_priority",
    "apply_defaults",
    "default_namespace",
    "default_node",
    "default_pod",
]

DEFAULT_NAMESPACE = "default"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Node",
        "Namespace",
        "PriorityClass",
        "DeviceClass",
        "ResourceSlice",
        "DeviceTaintRule",
    }
)
"""Kinds tessera reads that are cluster-scoped; every other kind it reads is namespaced."""

SYSTEM_PRIORITY_CLASSES = {
    "system-node-critical": 2_000_001_000,
    "system-cluster-critical": 2_000_000_000,
}
"""The PriorityClasses every cluster has (``pkg/apis/scheduling``: SystemPriorityClasses)."""

_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"
_DEFAULT_TOLERATION_SECONDS = 300


class AdmissionError(ValueError):
    """The API server would refuse the object (the message names object, field and value)."""


def default_namespace(obj: KubeObject, namespace: str = DEFAULT_NAMESPACE) -> KubeObject:
    """``metadata.namespace`` as the API server stores it (see the module docstring)."""
    meta = obj.metadata
    if obj.kind in CLUSTER_SCOPED_KINDS:
        if meta.namespace:
            return obj.model_copy(update={"metadata": meta.model_copy(update={"namespace": None})})
        return obj
    if meta.namespace:
        return obj
    return obj.model_copy(update={"metadata": meta.model_copy(update={"namespace": namespace})})


def _requests_from_limits(container: Container) -> Container:
    limits = container.resources.limits
    requests = container.resources.requests
    missing = {k: v for k, v in limits.items() if k not in requests}
    if not missing:
        return container
    resources = container.resources.model_copy(update={"requests": {**requests, **missing}})
    return container.model_copy(update={"resources": resources})


def _quantity(name: str, value: Fraction) -> str:
    return format_quantity(value, binary=name != "cpu")


def _overcommit_allowed(name: str) -> bool:
    """``IsOvercommitAllowed`` for the pod-level resources: cpu and memory, not hugepages."""
    return pod_level_supported(name) and not name.startswith("hugepages-")


def _pod_level_defaults(spec: PodSpec) -> ResourceRequirements | None:
    """``defaultHugePagePodLimits`` then ``defaultPodRequests``; None when nothing changes.

    (``defaultPodLimits`` only fills pod-level limits from container limits, which no
    scheduler reads, and is left out.)
    """
    pod_level = spec.resources
    if pod_level is None or (not pod_level.limits and not pod_level.requests):
        return None
    limits = dict(pod_level.limits)
    requests = dict(pod_level.requests)
    container_limits = aggregate_container_resources(spec, "limits")
    for name, amount in container_limits.items():
        if name.startswith("hugepages-") and name not in requests and name not in limits:
            limits[name] = _quantity(name, amount)
    if limits:
        container_requests = aggregate_container_resources(spec, "requests")
        for name, amount in container_requests.items():
            if name not in requests and _overcommit_allowed(name):
                requests[name] = _quantity(name, amount)
        for name, value in limits.items():
            if name not in requests and pod_level_supported(name):
                requests[name] = value
    if limits == pod_level.limits and requests == pod_level.requests:
        return None
    return pod_level.model_copy(update={"limits": limits, "requests": requests})


def _default_tolerations(tolerations: tuple[Toleration, ...]) -> tuple[Toleration, ...]:
    """DefaultTolerationSeconds: add what the pod does not already tolerate, 300 s each."""
    added = []
    for key in (_NOT_READY, _UNREACHABLE):
        covered = any(
            (t.key == key or not t.key) and (t.effect in (None, "", "NoExecute"))
            for t in tolerations
        )
        if not covered:
            added.append(
                Toleration(
                    key=key,
                    operator="Exists",
                    effect="NoExecute",
                    toleration_seconds=_DEFAULT_TOLERATION_SECONDS,
                )
            )
    return tolerations + tuple(added) if added else tolerations


def default_pod(pod: Pod) -> Pod:
    """The pod as the API server stores it on create (see the module docstring)."""
    spec = pod.spec
    update: dict[str, object] = {}
    containers = tuple(_requests_from_limits(c) for c in spec.containers)
    if containers != spec.containers:
        update["containers"] = containers
    inits = tuple(_requests_from_limits(c) for c in spec.init_containers)
    if inits != spec.init_containers:
        update["init_containers"] = inits
    if update:
        spec = spec.model_copy(update=update)
        update = {}
    pod_level = _pod_level_defaults(spec)
    if pod_level is not None:
        update["resources"] = pod_level
    if not spec.scheduler_name:
        update["scheduler_name"] = DEFAULT_SCHEDULER_NAME
    tolerations = _default_tolerations(spec.tolerations)
    if tolerations is not spec.tolerations:
        update["tolerations"] = tolerations
    if update:
        spec = spec.model_copy(update=update)
    if spec is pod.spec:
        return pod
    return pod.model_copy(update={"spec": spec})


def default_node(node: Node) -> Node:
    """``status.allocatable`` defaults to ``status.capacity`` when absent."""
    status = node.status
    if status.allocatable or not status.capacity:
        return node
    status = status.model_copy(update={"allocatable": dict(status.capacity)})
    return node.model_copy(update={"status": status})


def apply_defaults(obj: KubeObject, namespace: str = DEFAULT_NAMESPACE) -> KubeObject:
    """Namespace defaulting for every object, then the kind's own rules (Pod, Node)."""
    obj = default_namespace(obj, namespace)
    if isinstance(obj, Pod):
        return default_pod(obj)
    if isinstance(obj, Node):
        return default_node(obj)
    return obj


def admit_priority(pod: Pod, classes: Mapping[str, PriorityClass]) -> Pod:
    """The Priority admission plugin (``plugin/pkg/admission/priority``, ``admitPod``) on create.

    A pod whose ``spec.priority`` is already set is returned unchanged: it passed admission
    before (a dump of a live cluster). Otherwise ``priorityClassName`` names the class (the
    two system classes always exist); without a name the global-default class applies (the
    one with the lowest value if several claim it) and its name is written, else priority
    0. The class's ``preemptionPolicy`` (API default ``PreemptLowerPriority``) is copied to
    the pod. Raises :class:`AdmissionError` when the named class does not exist or the pod
    already states a different ``preemptionPolicy``, as the API server refuses such a pod.
    """
    spec = pod.spec
    if spec.priority is not None:
        return pod
    name = spec.priority_class_name or ""
    found: PriorityClass | None = None
    if name:
        found = classes.get(name)
        if found is None and name not in SYSTEM_PRIORITY_CLASSES:
            raise AdmissionError(
                f"spec.priorityClassName: no PriorityClass with name {name!r} was found"
            )
        value = found.value if found is not None else SYSTEM_PRIORITY_CLASSES[name]
    else:
        defaults = [pc for pc in classes.values() if pc.global_default]
        found = min(defaults, key=lambda pc: (pc.value, pc.name)) if defaults else None
        value = found.value if found is not None else 0
        name = found.name if found is not None else ""
    policy = (found.preemption_policy if found is not None else None) or "PreemptLowerPriority"
    if spec.preemption_policy is not None and spec.preemption_policy != policy:
        raise AdmissionError(
            f"spec.preemptionPolicy: {spec.preemption_policy!r} must not be provided in pod "
            f"spec; priority admission controller computed {policy!r} from the given "
            "PriorityClass name"
        )
    update: dict[str, object] = {"priority": value, "preemption_policy": policy}
    if name:
        update["priority_class_name"] = name
    return pod.model_copy(update={"spec": spec.model_copy(update=update)})
