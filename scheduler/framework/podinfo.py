"""PodInfo: a pod with what every plugin needs precomputed, and the gang/class conventions.

Built once per pod (not per cycle) by :func:`pod_info`. It resolves the pod's priority
(``spec.priority``, else its PriorityClass, else the global default, else 0), its serving or
batch class, its gang, its resource requests, and its ResourceClaims.

Conventions (docs/conventions.md):

* **Class**: batch if label ``tessera.io/class: batch`` or priority below the batch threshold
  (default 0: negative priorities are batch); otherwise serving.
* **Gangs**, checked in this order:
  1. LeaderWorkerSet pods: label ``leaderworkerset.sigs.k8s.io/group-key``; size from the
     ``leaderworkerset.sigs.k8s.io/size`` annotation; keyed by namespace, LWS name, group key
     and (when present) ``template-revision-hash``;
  2. coscheduling pods: label ``scheduling.x-k8s.io/pod-group``; size from the PodGroup's
     ``minMember`` (1 until the PodGroup is known);
  3. annotations ``tessera.io/gang: NAME`` + ``tessera.io/gang-size: N``.
* **Gang topology**: LWS ``exclusive-topology`` (required and exclusive) and
  ``subgroup-exclusive-topology``; Kueue ``kueue.x-k8s.io/podset-required-topology`` /
  ``podset-preferred-topology``; ``tessera.io/topology-required`` /
  ``tessera.io/topology-preferred``. Each value is a node-label key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scheduler.api.lws import (
    LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    LWS_GROUP_KEY_LABEL,
    LWS_NAME_LABEL,
    LWS_SIZE_ANNOTATION,
    LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    LWS_SUBGROUP_SIZE_ANNOTATION,
    LWS_TEMPLATE_REVISION_HASH_LABEL,
    LWS_WORKER_INDEX_LABEL,
)
from scheduler.api.meta import ResourceList
from scheduler.api.pod import Pod, PodSpec, pod_key, pod_requests
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass

CLASS_LABEL = "tessera.io/class"
GANG_ANNOTATION = "tessera.io/gang"
GANG_SIZE_ANNOTATION = "tessera.io/gang-size"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
KUEUE_REQUIRED = "kueue.x-k8s.io/podset-required-topology"
KUEUE_PREFERRED = "kueue.x-k8s.io/podset-preferred-topology"
TESSERA_REQUIRED = "tessera.io/topology-required"
TESSERA_PREFERRED = "tessera.io/topology-preferred"
DEFAULT_BATCH_THRESHOLD = 0


@dataclass(frozen=True, slots=True)
class GangRef:
    """Which gang a pod belongs to and how the gang must be placed.

    ``required`` / ``preferred``: node-label keys of the topology level the whole gang must
    (or should) share; ``exclusive``: the required domain may hold no other gang (LWS
    exclusive-topology); ``subgroup_size`` / ``subgroup_key``: LWS subgroups that must each
    share a domain of ``subgroup_key`` exclusively. ``index`` is the member's position
    (LWS worker index; 0 for the leader; -1 when the convention has none).
    """

    key: str
    size: int
    source: str
    index: int = -1
    required: str | None = None
    preferred: str | None = None
    exclusive: bool = False
    subgroup_size: int = 0
    subgroup_key: str | None = None


@dataclass(frozen=True, slots=True)
class PodInfo:
    """An immutable, precomputed view of one pod."""

    key: str
    pod: Pod
    requests: ResourceList
    priority: int
    batch: bool
    gang: GangRef | None
    claim_names: tuple[str, ...]

    @property
    def namespace(self) -> str:
        """The pod's namespace (``default`` when unset)."""
        return self.pod.metadata.namespace or "default"

    @property
    def name(self) -> str:
        """The pod's name."""
        return self.pod.metadata.name or ""


class GangSpecError(ValueError):
    """A gang annotation cannot be read (names the pod, the key and the value)."""


def _int(value: str, pod: str, key: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise GangSpecError(f"Pod {pod}: annotation {key}: {value!r} is not an integer") from None
    if number < 1:
        raise GangSpecError(f"Pod {pod}: annotation {key}: {value!r} must be at least 1")
    return number


def gang_of(pod: Pod, pod_groups: Mapping[str, PodGroup] | None = None) -> GangRef | None:
    """The pod's gang under tessera's conventions, or None for a lone pod."""
    labels = pod.metadata.labels
    notes = pod.metadata.annotations
    key = pod_key(pod)
    namespace = pod.metadata.namespace or "default"
    required = notes.get(TESSERA_REQUIRED) or notes.get(KUEUE_REQUIRED)
    preferred = notes.get(TESSERA_PREFERRED) or notes.get(KUEUE_PREFERRED)
    group_key = labels.get(LWS_GROUP_KEY_LABEL)
    if group_key is not None:
        size_text = notes.get(LWS_SIZE_ANNOTATION)
        if size_text is None:
            raise GangSpecError(f"Pod {key}: LWS pod without annotation {LWS_SIZE_ANNOTATION}")
        exclusive_key = notes.get(LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION)
        revision = labels.get(LWS_TEMPLATE_REVISION_HASH_LABEL, "")
        index_text = labels.get(LWS_WORKER_INDEX_LABEL, "-1")
        subgroup = notes.get(LWS_SUBGROUP_SIZE_ANNOTATION)
        return GangRef(
            key=f"{namespace}/lws/{labels.get(LWS_NAME_LABEL, '')}/{group_key}/{revision}",
            size=_int(size_text, key, LWS_SIZE_ANNOTATION),
            source="LeaderWorkerSet",
            index=int(index_text) if index_text.lstrip("-").isdigit() else -1,
            required=exclusive_key or required,
            preferred=preferred,
            exclusive=exclusive_key is not None,
            subgroup_size=_int(subgroup, key, LWS_SUBGROUP_SIZE_ANNOTATION) if subgroup else 0,
            subgroup_key=notes.get(LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION),
        )
    group = labels.get(POD_GROUP_LABEL)
    if group is not None:
        found = (pod_groups or {}).get(f"{namespace}/{group}")
        size = max(int(found.spec.min_member or 1), 1) if found is not None else 1
        return GangRef(
            key=f"{namespace}/podgroup/{group}",
            size=size,
            source="PodGroup",
            required=required,
            preferred=preferred,
        )
    name = notes.get(GANG_ANNOTATION)
    if name is not None:
        size_text = notes.get(GANG_SIZE_ANNOTATION)
        if size_text is None:
            raise GangSpecError(
                f"Pod {key}: annotation {GANG_ANNOTATION} without {GANG_SIZE_ANNOTATION}"
            )
        return GangRef(
            key=f"{namespace}/tessera/{name}",
            size=_int(size_text, key, GANG_SIZE_ANNOTATION),
            source="tessera",
            required=required,
            preferred=preferred,
        )
    return None


def pod_priority(pod: Pod, priority_classes: Mapping[str, PriorityClass] | None = None) -> int:
    """``spec.priority`` if set (admission fills it), else the PriorityClass value, else 0."""
    if pod.spec.priority is not None:
        return pod.spec.priority
    classes = priority_classes or {}
    name = pod.spec.priority_class_name
    if name and name in classes:
        return int(classes[name].value or 0)
    for pc in classes.values():
        if pc.global_default:
            return int(pc.value or 0)
    return 0


def is_batch(pod: Pod, priority: int, threshold: int = DEFAULT_BATCH_THRESHOLD) -> bool:
    """Batch if labelled ``tessera.io/class: batch`` or priority below ``threshold``."""
    return pod.metadata.labels.get(CLASS_LABEL) == "batch" or priority < threshold


def pod_info(
    pod: Pod,
    *,
    priority_classes: Mapping[str, PriorityClass] | None = None,
    pod_groups: Mapping[str, PodGroup] | None = None,
    batch_threshold: int = DEFAULT_BATCH_THRESHOLD,
) -> PodInfo:
    """Precompute a pod's scheduling facts (raises GangSpecError on bad gang annotations)."""
    priority = pod_priority(pod, priority_classes)
    return PodInfo(
        key=pod_key(pod),
        pod=pod,
        requests=pod_requests(pod),
        priority=priority,
        batch=is_batch(pod, priority, batch_threshold),
        gang=gang_of(pod, pod_groups),
        claim_names=tuple(c.name for c in pod.spec.resource_claims),
    )


def feasibility_key(pod: PodInfo) -> tuple[object, ...]:
    """What the filters' verdict on a pod depends on: pods with equal keys (the identical
    members of a gang) share one PreFilter + Filter pass.

    Requests, claims (template references; a pod naming an existing claim is unique),
    namespace, labels, scheduler name and the scheduling fields of the spec (node selector,
    affinity, tolerations, topology spread constraints).
    """
    spec = pod.pod.spec
    claims = tuple(
        (c.name, c.resource_claim_name, c.resource_claim_template_name)
        for c in spec.resource_claims
    )
    return (
        tuple(sorted(pod.requests.items())),
        claims if not any(c.resource_claim_name for c in spec.resource_claims) else pod.key,
        pod.namespace,
        tuple(sorted(pod.pod.metadata.labels.items())),
        _scheduling_fields(spec),
    )


_SCHEDULING_FIELDS = {
    "node_selector",
    "affinity",
    "tolerations",
    "topology_spread_constraints",
    "scheduler_name",
}
_FIELDS_MEMO: dict[int, tuple[PodSpec, str]] = {}
_FIELDS_MEMO_MAX = 4096


def _scheduling_fields(spec: PodSpec) -> str:
    """The spec's scheduling fields as JSON, memoised per spec object (specs are frozen and
    shared by the copies a pod goes through, so one gang retried many times serialises its
    spec once; the memo holds the spec, so an id is never reused while it is in there)."""
    found = _FIELDS_MEMO.get(id(spec))
    if found is not None and found[0] is spec:
        return found[1]
    text = spec.model_dump_json(include=_SCHEDULING_FIELDS)
    if len(_FIELDS_MEMO) >= _FIELDS_MEMO_MAX:
        _FIELDS_MEMO.clear()
    _FIELDS_MEMO[id(spec)] = (spec, text)
    return text
