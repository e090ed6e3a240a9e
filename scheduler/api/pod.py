"""``core/v1`` Pod (the fields the scheduler reads) and the pure helpers built on it.

:func:`pod_requests` is the effective resource request kube-scheduler's NodeResourcesFit
uses; :func:`pod_key` is the ``namespace/name`` key of caches and logs.
"""

from __future__ import annotations

from fractions import Fraction

from pydantic import Field

from .meta import (
    K8sModel,
    KubeObject,
    Loose,
    ObjectMeta,
    QuantityMap,
    ResourceList,
    StrictInt,
    Timestamp,
    resource_amount,
)
from .quantity import parse_quantity
from .selectors import LabelSelector, NodeSelector, NodeSelectorTerm
from .taints import Toleration

__all__ = [
    "Affinity",
    "Container",
    "ContainerExtendedResourceRequest",
    "ContainerPort",
    "NodeAffinity",
    "Pod",
    "PodAffinity",
    "PodAffinityTerm",
    "PodExtendedResourceClaimStatus",
    "PodResourceClaim",
    "PodResourceClaimStatus",
    "PodSchedulingGate",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "PreferredSchedulingTerm",
    "ResourceClaimRef",
    "ResourceRequirements",
    "TopologySpreadConstraint",
    "WeightedPodAffinityTerm",
    "aggregate_container_resources",
    "pod_extended_claim_key",
    "pod_key",
    "pod_requests",
]


class ResourceClaimRef(K8sModel):
    """``containers[].resources.claims[]``: a pod claim name and optionally one request."""

    name: str = ""
    request: str | None = None


class ResourceRequirements(K8sModel):
    """``resources``: ``requests``/``limits`` quantity maps and DRA claim references."""

    requests: QuantityMap = Field(default_factory=dict)
    limits: QuantityMap = Field(default_factory=dict)
    claims: tuple[ResourceClaimRef, ...] = Field(default_factory=tuple)


class ContainerPort(K8sModel):
    """``containers[].ports[]``; only ``hostPort`` > 0 entries matter to scheduling
        (NodePorts). An empty ``protocol`` means TCP, an empty ``hostIP`` every address
    (``0.0.0.0``)."""

    name: str | None = None
    container_port: StrictInt = 0
    host_port: StrictInt | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    protocol: str | None = None


class Container(K8sModel):
    """A container or init container. ``restartPolicy: Always`` on an init container makes
    it a sidecar (restartable init container)."""

    name: str = ""
    image: str | None = None
    ports: tuple[ContainerPort, ...] = Field(default_factory=tuple)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    restart_policy: str | None = None

    @property
    def is_sidecar(self) -> bool:
        """True for a restartable init container (``restartPolicy: Always``)."""
        return self.restart_policy == "Always"


class PreferredSchedulingTerm(K8sModel):
    """``preferredDuringSchedulingIgnoredDuringExecution[]`` of node affinity."""

    weight: StrictInt = 0
    preference: NodeSelectorTerm = Field(default_factory=NodeSelectorTerm)


class NodeAffinity(K8sModel):
    """Node affinity: a required node selector and weighted preferred terms."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: tuple[PreferredSchedulingTerm, ...] = (
        Field(default_factory=tuple)
    )


class PodAffinityTerm(K8sModel):
    """Pods matching ``labelSelector`` in ``namespaces``/``namespaceSelector``, co-located
    by ``topologyKey``. A nil ``labelSelector`` matches no pods."""

    label_selector: LabelSelector | None = None
    topology_key: str = ""
    namespaces: tuple[str, ...] = Field(default_factory=tuple)
    namespace_selector: LabelSelector | None = None
    match_label_keys: tuple[str, ...] = Field(default_factory=tuple)
    mismatch_label_keys: tuple[str, ...] = Field(default_factory=tuple)


class WeightedPodAffinityTerm(K8sModel):
    """``preferredDuringSchedulingIgnoredDuringExecution[]`` of pod (anti-)affinity."""

    weight: StrictInt = 0
    pod_affinity_term: PodAffinityTerm = Field(default_factory=PodAffinityTerm)


class PodAffinity(K8sModel):
    """Pod affinity or anti-affinity (same shape)."""

    required_during_scheduling_ignored_during_execution: tuple[PodAffinityTerm, ...] = Field(
        default_factory=tuple
    )
    preferred_during_scheduling_ignored_during_execution: tuple[WeightedPodAffinityTerm, ...] = (
        Field(default_factory=tuple)
    )


class Affinity(K8sModel):
    """``spec.affinity``."""

    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


class TopologySpreadConstraint(K8sModel):
    """``spec.topologySpreadConstraints[]``: at most ``maxSkew`` difference in matching pods
    between the domains of ``topologyKey``. ``minDomains`` is unset (treated as 1) unless
    given; the inclusion policies are ``Honor``/``Ignore`` or unset (the scheduler then
    honours node affinity and ignores taints). A nil ``labelSelector`` matches no pods."""

    max_skew: StrictInt = 0
    topology_key: str = ""
    when_unsatisfiable: str = ""
    label_selector: LabelSelector | None = None
    min_domains: StrictInt | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: tuple[str, ...] = Field(default_factory=tuple)


class PodResourceClaim(K8sModel):
    """``spec.resourceClaims[]``: a pod-local name and exactly one source (by API rule)."""

    name: str = ""
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


class PodSchedulingGate(K8sModel):
    """``spec.schedulingGates[]``; a pod with gates is not scheduled."""

    name: str = ""


class PodSpec(K8sModel):
    """The scheduling-relevant part of ``spec``. ``priority`` is ``None`` until admission
    resolves ``priorityClassName``; ``resources`` is the pod-level resources block."""

    containers: tuple[Container, ...] = Field(default_factory=tuple)
    init_containers: tuple[Container, ...] = Field(default_factory=tuple)
    node_name: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: tuple[Toleration, ...] = Field(default_factory=tuple)
    topology_spread_constraints: tuple[TopologySpreadConstraint, ...] = Field(default_factory=tuple)
    priority: StrictInt | None = None
    priority_class_name: str | None = None
    preemption_policy: str | None = None
    scheduler_name: str | None = None
    resource_claims: tuple[PodResourceClaim, ...] = Field(default_factory=tuple)
    overhead: QuantityMap = Field(default_factory=dict)
    scheduling_gates: tuple[PodSchedulingGate, ...] = Field(default_factory=tuple)
    resources: ResourceRequirements | None = None
    restart_policy: str | None = None


class PodResourceClaimStatus(K8sModel):
    """``status.resourceClaimStatuses[]``: the claim generated for a template-backed entry."""

    name: str = ""
    resource_claim_name: str | None = None


class ContainerExtendedResourceRequest(K8sModel):
    """``status.extendedResourceClaimStatus.requestMappings[]``: which request of the
    scheduler-made claim serves a container's extended resource (KEP-5004)."""

    container_name: str = ""
    resource_name: str = ""
    request_name: str = ""


class PodExtendedResourceClaimStatus(K8sModel):
    """``status.extendedResourceClaimStatus``: the ResourceClaim the scheduler created for
    the pod's DRA-backed extended resources, and the container-to-request mappings."""

    request_mappings: tuple[ContainerExtendedResourceRequest, ...] = Field(default_factory=tuple)
    resource_claim_name: str = ""


class PodStatus(K8sModel):
    """The scheduling-relevant part of ``status``; ``conditions`` are kept loosely."""

    phase: str | None = None
    nominated_node_name: str | None = None
    resource_claim_statuses: tuple[PodResourceClaimStatus, ...] = Field(default_factory=tuple)
    extended_resource_claim_status: PodExtendedResourceClaimStatus | None = None
    conditions: tuple[Loose, ...] = Field(default_factory=tuple)
    start_time: Timestamp | None = None


class Pod(KubeObject):
    """``v1`` Pod."""

    api_version: str = "v1"
    kind: str = "Pod"
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)


class PodTemplateSpec(K8sModel):
    """``metadata`` + ``spec`` of a pod template (LeaderWorkerSet, workload templates)."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)


def pod_key(pod: Pod) -> str:
    """``namespace/name`` (``default`` when the namespace is unset, as the API server fills)."""
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name or ''}"


# Resources that pod-level ``spec.resources.requests`` may set (component-helpers
# ``IsSupportedPodLevelResource``): cpu, memory and hugepages-<size>.
def pod_claim_keys(pod: Pod) -> list[tuple[str, str | None]]:
    """``(pod claim name, claim key)`` for each entry of ``spec.resourceClaims``, in order.

    The key is ``namespace/name`` of the ResourceClaim the entry resolves to: the named
    claim, or the one the resourceclaim controller generated from a template (read from
    ``status.resourceClaimStatuses``); None while a template's claim is not generated yet.
    """
    namespace = pod.metadata.namespace or "default"
    generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}
    out: list[tuple[str, str | None]] = []
    for ref in pod.spec.resource_claims:
        name = ref.resource_claim_name or generated.get(ref.name)
        out.append((ref.name, f"{namespace}/{name}" if name else None))
    return out


def pod_extended_claim_key(pod: Pod) -> str | None:
    """``namespace/name`` of the claim the scheduler created for the pod's DRA-backed extended
    resources (``status.extendedResourceClaimStatus.resourceClaimName``), or None."""
    status = pod.status.extended_resource_claim_status
    if status is None or not status.resource_claim_name:
        return None
    return f"{pod.metadata.namespace or 'default'}/{status.resource_claim_name}"


def pod_level_supported(name: str) -> bool:
    """Whether pod-level ``spec.resources`` may name ``name`` (``IsSupportedPodLevelResource``:
    cpu, memory, ``hugepages-*``)."""
    return _pod_level_supported(name)


def _pod_level_supported(name: str) -> bool:
    return name in ("cpu", "memory") or name.startswith("hugepages-")


def _add(total: dict[str, Fraction], quantities: QuantityMap | dict[str, Fraction]) -> None:
    for name, q in quantities.items():
        amount = q if isinstance(q, Fraction) else parse_quantity(q)
        total[name] = total.get(name, Fraction(0)) + amount


def _max_into(total: dict[str, Fraction], other: dict[str, Fraction]) -> None:
    for name, amount in other.items():
        if name not in total or amount > total[name]:
            total[name] = amount


def aggregate_container_resources(spec: PodSpec, which: str) -> dict[str, Fraction]:
    """Containers' ``requests`` or ``limits`` (``which``) combined as the pod needs them.

    ``component-helpers/resource.AggregateContainerRequests`` / ``AggregateContainerLimits``
    (1.35): regular containers summed, then the init phase (each init container with the
    sidecars started before it; sidecars add to the sum), per-resource maximum of the two.
    Pod-level resources and overhead are not included. Exact values.
    """
    total: dict[str, Fraction] = {}
    for container in spec.containers:
        _add(total, getattr(container.resources, which))
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for container in spec.init_containers:
        amounts = getattr(container.resources, which)
        if container.is_sidecar:
            _add(total, amounts)
            _add(sidecars, amounts)
            need = dict(sidecars)
        else:
            need = {}
            _add(need, amounts)
            _add(need, sidecars)
        _max_into(init_peak, need)
    _max_into(total, init_peak)
    return total


def pod_requests(pod: Pod) -> ResourceList:
    """The pod's effective resource request, as kube-scheduler's NodeResourcesFit computes it.

    Implements ``component-helpers/resource.PodRequests`` (1.35) for a pod that is not
    running yet (no in-place resize status):

    1. sum the ``requests`` of all regular containers;
    2. walk the init containers in order. A sidecar (``restartPolicy: Always``) adds its
       requests to the sum of step 1 and to a running sidecar total; a regular init
       container needs its own requests plus the sidecars started before it. The init
       phase needs the per-resource maximum of those needs;
    3. take the per-resource maximum of steps 1 and 2;
    4. pod-level ``spec.resources.requests`` (PodLevelResources, on by default since 1.34)
       replace the result for cpu, memory and ``hugepages-*``;
    5. add ``spec.overhead``.

    Quantities are summed exactly and converted once at the end: ``cpu`` in milli-cores,
    everything else in whole units (bytes for memory and storage, counts for extended
    resources), rounded up. Only resources the pod names appear (no zero-request defaults,
    no ``pods`` entry: the Fit plugin counts the pod itself separately).
    """
    spec = pod.spec
    found = _REQUESTS_MEMO.get(id(spec))
    if found is not None and found[0] is spec:
        return dict(found[1])
    total = aggregate_container_resources(spec, "requests")
    if spec.resources is not None:
        for name, q in spec.resources.requests.items():
            if _pod_level_supported(name):
                total[name] = parse_quantity(q)
    _add(total, spec.overhead)
    requests = {name: resource_amount(name, amount) for name, amount in total.items()}
    if len(_REQUESTS_MEMO) >= _REQUESTS_MEMO_MAX:
        _REQUESTS_MEMO.clear()
    _REQUESTS_MEMO[id(spec)] = (spec, requests)
    return dict(requests)


_REQUESTS_MEMO: dict[int, tuple[PodSpec, ResourceList]] = {}
""":func:`pod_requests` per spec object (specs are frozen and shared by the copies a pod
goes through: created, prepared, assumed, bound); the memo holds the spec, so an id is never
reused while it is in there."""
_REQUESTS_MEMO_MAX = 4096
