"""LeaderWorkerSet as the LWS controllers and pod webhook expand it (``docs/semantics/lws.md``).

For each group ``g`` in ``0..replicas-1``: a leader ``<lws>-<g>`` from the leader template
(the worker template when there is none), created by the leader StatefulSet ``<lws>``, and
workers ``<lws>-<g>-<w>``, ``w = 1..size-1``, from the worker template, created by the worker
StatefulSet ``<lws>-<g>``. Every pod carries the labels
``leaderworkerset.sigs.k8s.io/{name, group-index, group-key, worker-index,
template-revision-hash}`` (group-key = hex SHA-1 of ``"<namespace>/<leader name>"``), the
annotation ``leaderworkerset.sigs.k8s.io/size`` and its StatefulSet's labels
(``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index``,
``controller-revision-hash``) and owner reference; workers also ``leader-name``; the
``exclusive-topology`` and subgroup annotations are copied from the LWS. Subgroup labels
follow the webhook's index rule (§5); under ``subGroupPolicyType: LeaderExcluded`` the
leader has none.

Exclusive placement (§6), as the webhook and pod controller enforce it for any scheduler:
with ``exclusive-topology: K`` the leader gets the required pod affinity ``group-key In
(<its key>)`` and anti-affinity ``group-key Exists, NotIn (<its key>)`` on topology key
``K`` (``SetExclusiveAffinities``); its workers are created only once it is bound, with
``nodeSelector {K: <the leader's node's value of K>}``. With ``subgroup-exclusive-topology:
K'`` every pod with subgroup labels gets the same pair of terms on ``K'``, keyed by
``subgroup-key``. Without exclusive placement, workers appear one reconcile
(:data:`WORKER_DELAY`) after their leader (``startupPolicy: LeaderCreated``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from scheduler.api.defaults import DEFAULT_NAMESPACE
from scheduler.api.limits import MAX_GANG_SIZE, MAX_REPLICAS
from scheduler.api.loaders import Origin
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
    LWS_SUBGROUP_POLICY_TYPE_ANNOTATION,
    LWS_SUBGROUP_SIZE_ANNOTATION,
    LWS_TEMPLATE_REVISION_HASH_LABEL,
    LWS_WORKER_INDEX_LABEL,
    LeaderWorkerSet,
)
from scheduler.api.meta import OwnerReference
from scheduler.api.pod import Affinity, Pod, PodAffinity, PodAffinityTerm, PodTemplateSpec
from scheduler.api.selectors import LabelSelector, LabelSelectorRequirement
from simulator.traces.controllers.common import (
    ControllerContext,
    PlannedPod,
    pod_from_template,
    stand_in_uid,
)
from simulator.traces.controllers.statefulset import (
    CONTROLLER_REVISION_HASH_LABEL,
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
)

__all__ = [
    "WORKER_DELAY",
    "exclusive_affinity",
    "expand",
    "expand_leaderworkerset",
    "revision_hash",
    "subgroup_index",
]

WORKER_DELAY = 1.0
"""Seconds between a leader's creation and its workers' (one pod-controller reconcile)."""


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


def exclusive_affinity(pod: Pod, key: str, topology_key: str, label: str) -> Pod:
    """``SetExclusiveAffinities``: the pod with the required pod affinity ``label In (key)``
    and anti-affinity ``label Exists, label NotIn (key)`` on ``topology_key`` appended,
    unless terms on that topology key are there already (``exclusiveAffinityApplied``)."""
    affinity = pod.spec.affinity or Affinity()
    together = affinity.pod_affinity or PodAffinity()
    apart = affinity.pod_anti_affinity or PodAffinity()
    terms = together.required_during_scheduling_ignored_during_execution
    anti_terms = apart.required_during_scheduling_ignored_during_execution
    if any(t.topology_key == topology_key for t in terms) and any(
        t.topology_key == topology_key for t in anti_terms
    ):
        return pod
    same = PodAffinityTerm(
        label_selector=LabelSelector(
            match_expressions=(LabelSelectorRequirement(key=label, operator="In", values=(key,)),)
        ),
        topology_key=topology_key,
    )
    other = PodAffinityTerm(
        label_selector=LabelSelector(
            match_expressions=(
                LabelSelectorRequirement(key=label, operator="Exists"),
                LabelSelectorRequirement(key=label, operator="NotIn", values=(key,)),
            )
        ),
        topology_key=topology_key,
    )
    together = together.model_copy(
        update={"required_during_scheduling_ignored_during_execution": (*terms, same)}
    )
    apart = apart.model_copy(
        update={"required_during_scheduling_ignored_during_execution": (*anti_terms, other)}
    )
    affinity = affinity.model_copy(update={"pod_affinity": together, "pod_anti_affinity": apart})
    return pod.model_copy(update={"spec": pod.spec.model_copy(update={"affinity": affinity})})


def _statefulset_ref(lws: LeaderWorkerSet, name: str) -> OwnerReference:
    """The owner reference of a pod created by the LWS's StatefulSet ``name``."""
    namespace = lws.metadata.namespace or DEFAULT_NAMESPACE
    return OwnerReference(
        api_version="apps/v1",
        kind="StatefulSet",
        name=name,
        uid=stand_in_uid("StatefulSet", namespace, name),
        controller=True,
        block_owner_deletion=True,
    )


def _check(lws: LeaderWorkerSet, where: Origin) -> None:
    spec = lws.spec
    size = spec.leader_worker_template.size
    if spec.replicas is not None and not 0 <= spec.replicas <= MAX_REPLICAS:
        raise where.error(
            f"{spec.replicas}: must be between 0 and {MAX_REPLICAS}",
            kind=lws.kind,
            name=lws.key,
            path=("spec", "replicas"),
        )
    if size is not None and not 1 <= size <= MAX_GANG_SIZE:
        raise where.error(
            f"{size}: must be between 1 and {MAX_GANG_SIZE}",
            kind=lws.kind,
            name=lws.key,
            path=("spec", "leaderWorkerTemplate", "size"),
        )
    policy = spec.leader_worker_template.sub_group_policy
    if policy is not None and policy.sub_group_size is not None and policy.sub_group_size < 1:
        raise where.error(
            f"{policy.sub_group_size}: must be at least 1",
            kind=lws.kind,
            name=lws.key,
            path=("spec", "leaderWorkerTemplate", "subGroupPolicy", "subGroupSize"),
        )


def expand_leaderworkerset(
    lws: LeaderWorkerSet,
    ctx: ControllerContext,
    where: Origin,
    groups: Iterable[int] | None = None,
) -> list[PlannedPod]:
    """All pods of the LWS (or of the group indices ``groups`` only), leaders first in each
    group, with their creation rules (see the module docstring). Pods whose names the input
    already holds are not created again."""
    _check(lws, where)
    spec = lws.spec
    template = spec.leader_worker_template
    size = lws.group_size
    worker_template = template.worker_template
    leader_template = template.leader_template or worker_template
    namespace = lws.metadata.namespace or DEFAULT_NAMESPACE
    revision = revision_hash(lws)
    notes_all = {LWS_SIZE_ANNOTATION: str(size)}
    exclusive = lws.metadata.annotations.get(LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION)
    if exclusive:
        notes_all[LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION] = exclusive
    policy = template.sub_group_policy
    subgroup = int(policy.sub_group_size) if policy is not None and policy.sub_group_size else 0
    leader_excluded = False
    sub_exclusive = None
    if subgroup and policy is not None:
        notes_all[LWS_SUBGROUP_SIZE_ANNOTATION] = str(subgroup)
        if policy.sub_group_policy_type:
            notes_all[LWS_SUBGROUP_POLICY_TYPE_ANNOTATION] = policy.sub_group_policy_type
            leader_excluded = policy.sub_group_policy_type == "LeaderExcluded"
        sub_exclusive = lws.metadata.annotations.get(LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION)
        if sub_exclusive:
            notes_all[LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION] = sub_exclusive
    planned: list[PlannedPod] = []
    for g in range(lws.replicas) if groups is None else groups:
        leader = f"{lws.name}-{g}"
        leader_key = f"{namespace}/{leader}"
        group_key = _sha1(f"{namespace}/{leader}")
        common = {
            LWS_NAME_LABEL: lws.name,
            LWS_GROUP_INDEX_LABEL: str(g),
            LWS_GROUP_KEY_LABEL: group_key,
            LWS_TEMPLATE_REVISION_HASH_LABEL: revision,
        }
        for w in range(size):
            name = leader if w == 0 else f"{leader}-{w}"
            if not ctx.take_name(namespace, name, where):
                continue
            owner_sts = lws.name if w == 0 else leader
            labels = {
                **common,
                LWS_WORKER_INDEX_LABEL: str(w),
                POD_NAME_LABEL: name,
                POD_INDEX_LABEL: str(g if w == 0 else w),
                CONTROLLER_REVISION_HASH_LABEL: f"{owner_sts}-{revision}",
            }
            notes = dict(notes_all)
            subgroup_key = None
            if subgroup and not (w == 0 and leader_excluded):
                index = 0 if w == 0 else subgroup_index(w, size, subgroup)
                subgroup_key = _sha1(f"{leader}/{index}")
                labels[LWS_SUBGROUP_INDEX_LABEL] = str(index)
                labels[LWS_SUBGROUP_KEY_LABEL] = subgroup_key
            if w > 0:
                notes[LWS_LEADER_NAME_ANNOTATION] = leader
            pod_template: PodTemplateSpec = leader_template if w == 0 else worker_template
            which = "leaderTemplate" if w == 0 and template.leader_template else "workerTemplate"
            pod = pod_from_template(
                pod_template,
                lws,
                name=name,
                labels=labels,
                annotations=notes,
                owner_ref=_statefulset_ref(lws, owner_sts),
                where=where,
                template_path=("spec", "leaderWorkerTemplate", which),
            )
            if w == 0 and exclusive:
                pod = exclusive_affinity(pod, group_key, exclusive, LWS_GROUP_KEY_LABEL)
            if subgroup_key is not None and sub_exclusive:
                pod = exclusive_affinity(pod, subgroup_key, sub_exclusive, LWS_SUBGROUP_KEY_LABEL)
            if w == 0:
                planned.append(PlannedPod(pod, where, owner=lws))
            elif exclusive:
                planned.append(
                    PlannedPod(
                        pod, where, owner=lws, after_bound_of=leader_key, follow_topology=exclusive
                    )
                )
            else:
                planned.append(PlannedPod(pod, where, owner=lws, delay=WORKER_DELAY))
    return planned


def expand(lws: LeaderWorkerSet) -> list[tuple[Pod, int, int]]:
    """All pods of the LWS as ``(pod, group index, worker index)``; leaders have worker 0.

    A convenience for callers holding one LWS object (no other input, so no adoption)."""
    from scheduler.api.loaders import ObjectReader  # noqa: PLC0415 - a standalone helper

    ctx = ControllerContext(ObjectReader())
    out = []
    for planned in expand_leaderworkerset(lws, ctx, Origin("<input>")):
        labels = planned.pod.metadata.labels
        out.append(
            (planned.pod, int(labels[LWS_GROUP_INDEX_LABEL]), int(labels[LWS_WORKER_INDEX_LABEL]))
        )
    return out
