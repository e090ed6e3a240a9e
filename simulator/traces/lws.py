"""Expanding a LeaderWorkerSet into its pods, as the LWS controller and webhook label them.

For each group ``g`` in ``0..replicas-1`` (docs/semantics/lws.md): a leader ``<lws>-<g>`` from
the leader template (or the worker template when there is none) and workers
``<lws>-<g>-<w>``, ``w = 1..size-1``, from the worker template. Every pod carries the labels
``leaderworkerset.sigs.k8s.io/{name, group-index, group-key, worker-index,
template-revision-hash}`` (group-key = hex SHA-1 of ``"<namespace>/<leader name>"``) and the
annotation ``leaderworkerset.sigs.k8s.io/size``; workers also ``leader-name``; the
``exclusive-topology`` and subgroup annotations are copied from the LWS. Subgroup labels
follow the webhook's index rule.
"""

from __future__ import annotations

import hashlib

from scheduler.api.lws import (
    LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    LWS_GROUP_INDEX_LABEL,
    LWS_GROUP_KEY_LABEL,
    LWS_LEADER_NAME_ANNOTATION,
    LWS_NAME_LABEL,
    LWS_SIZE_ANNOTATION,
    LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    LWS_SUBGROUP_INDEX_LABEL,
    LWS_SUBGROUP_KEY_LABEL,
    LWS_SUBGROUP_SIZE_ANNOTATION,
    LWS_TEMPLATE_REVISION_HASH_LABEL,
    LWS_WORKER_INDEX_LABEL,
    LeaderWorkerSet,
)
from scheduler.api.meta import ObjectMeta
from scheduler.api.pod import Pod, PodTemplateSpec


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def revision_hash(lws: LeaderWorkerSet) -> str:
    """A stable stand-in for the controller-revision hash (from the templates' content)."""
    return _sha1(lws.spec.model_dump_json())[:10]


def subgroup_index(worker: int, size: int, subgroup_size: int) -> int:
    """The webhook's subgroup index of worker ``worker`` (docs/semantics/lws.md §5)."""
    if (size - 1) % subgroup_size == 0 and size % subgroup_size != 0:
        return (worker - 1) // subgroup_size
    return worker // subgroup_size


def _pod(
    lws: LeaderWorkerSet,
    template: PodTemplateSpec,
    name: str,
    labels: dict[str, str],
    notes: dict[str, str],
) -> Pod:
    namespace = lws.metadata.namespace or "default"
    meta = ObjectMeta(
        name=name,
        namespace=namespace,
        uid=f"uid-{namespace}-{name}",
        labels={**template.metadata.labels, **labels},
        annotations={**template.metadata.annotations, **notes},
        creation_timestamp=lws.metadata.creation_timestamp,
    )
    return Pod(metadata=meta, spec=template.spec)


def expand(lws: LeaderWorkerSet) -> list[tuple[Pod, int, int]]:
    """All pods of the LWS as ``(pod, group index, worker index)``; leaders have worker 0."""
    spec = lws.spec
    template = spec.leader_worker_template
    size = int(template.size or 1)
    worker_template = template.worker_template
    leader_template = template.leader_template or worker_template
    namespace = lws.metadata.namespace or "default"
    revision = revision_hash(lws)
    notes_all = {LWS_SIZE_ANNOTATION: str(size)}
    exclusive = lws.metadata.annotations.get(LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION)
    if exclusive:
        notes_all[LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION] = exclusive
    policy = template.sub_group_policy
    subgroup = int(policy.sub_group_size) if policy is not None and policy.sub_group_size else 0
    if subgroup:
        notes_all[LWS_SUBGROUP_SIZE_ANNOTATION] = str(subgroup)
        sub_exclusive = lws.metadata.annotations.get(LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION)
        if sub_exclusive:
            notes_all[LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION] = sub_exclusive
    pods: list[tuple[Pod, int, int]] = []
    for g in range(int(spec.replicas if spec.replicas is not None else 1)):
        leader = f"{lws.name}-{g}"
        group_key = _sha1(f"{namespace}/{leader}")
        common = {
            LWS_NAME_LABEL: lws.name,
            LWS_GROUP_INDEX_LABEL: str(g),
            LWS_GROUP_KEY_LABEL: group_key,
            LWS_TEMPLATE_REVISION_HASH_LABEL: revision,
        }
        for w in range(size):
            labels = {**common, LWS_WORKER_INDEX_LABEL: str(w)}
            notes = dict(notes_all)
            if subgroup:
                index = 0 if w == 0 else subgroup_index(w, size, subgroup)
                labels[LWS_SUBGROUP_INDEX_LABEL] = str(index)
                labels[LWS_SUBGROUP_KEY_LABEL] = _sha1(f"{leader}/{index}")
            if w == 0:
                pods.append((_pod(lws, leader_template, leader, labels, notes), g, 0))
            else:
                notes[LWS_LEADER_NAME_ANNOTATION] = leader
                pods.append((_pod(lws, worker_template, f"{leader}-{w}", labels, notes), g, w))
    return pods
