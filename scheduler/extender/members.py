"""The members of a gang as the webhook sees them: running, pending, and not created yet.

Used by the gang planner (:mod:`scheduler.extender.gangs`) when a gang's first member is
filtered. Gangs follow tessera's conventions (:func:`scheduler.framework.podinfo.gang_of`):
LeaderWorkerSet groups, coscheduling PodGroups, ``tessera.io/gang`` annotations.

* **placed** members (bound, or assumed while a bind is in flight) are not planned again; they
  pin the gang's required topology domain for the others (a gang committed before a webhook
  restart or a failed bind keeps its domain);
* **pending** members exist and are unbound: they are planned;
* members that **do not exist yet** are planned as *stand-ins* only for LeaderWorkerSets,
  whose pods are named and numbered in advance: worker ``w`` of the group led by ``L`` is
  ``L-w`` (LWS's worker StatefulSet ``L``; ``docs/semantics/lws.md``). A stand-in's spec is
  the LeaderWorkerSet's worker (or leader) template when the LWS object is known, otherwise
  a known member's of the same role; its labels and annotations are a known member's with
  the worker index and pod name changed. Other gangs wait (a quorum gate) until every member
  exists: :attr:`GangMembers.waiting` says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scheduler.api.defaults import default_pod
from scheduler.api.lws import (
    LWS_LEADER_NAME_ANNOTATION,
    LWS_NAME_LABEL,
    LWS_WORKER_INDEX_LABEL,
    LeaderWorkerSet,
)
from scheduler.api.pod import Pod, PodSpec, PodStatus, pod_key
from scheduler.cluster.cache import ClusterCache
from scheduler.framework.podinfo import GangRef, gang_of

__all__ = ["POD_NAME_LABEL", "GangMembers", "collect_members"]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"


@dataclass(slots=True)
class GangMembers:
    """A gang's members, sorted by member index then key (see the module docstring)."""

    gang: GangRef
    bound: list[Pod] = field(default_factory=list)
    pending: list[Pod] = field(default_factory=list)
    standins: list[Pod] = field(default_factory=list)
    waiting: str | None = None


def _index(pod: Pod) -> int:
    text = pod.metadata.labels.get(LWS_WORKER_INDEX_LABEL, "")
    return int(text) if text.isdigit() else -1


def _order(pods: list[Pod]) -> list[Pod]:
    return sorted(pods, key=lambda p: (_index(p), pod_key(p)))


def collect_members(cache: ClusterCache, gang: GangRef, keys: Iterable[str]) -> GangMembers:
    """The members of ``gang`` among the cached pods ``keys`` (the gang index's entry), with
    stand-ins for LWS members not created yet."""
    out = GangMembers(gang)
    known: list[Pod] = []
    for key in keys:
        record = cache.pods.get(key)
        if record is None:
            continue
        found = gang_of(record.pod, cache.pod_groups)
        if found is None or found.key != gang.key:
            continue
        known.append(record.pod)
        if record.node is not None:  # bound, or assumed while its bind is in flight
            out.bound.append(record.pod)
        else:
            out.pending.append(record.pod)
    out.bound = _order(out.bound)
    out.pending = _order(out.pending)
    if len(known) >= gang.size:
        return out
    if gang.source != "LeaderWorkerSet":
        out.waiting = f"waiting for gang {gang.key}: {len(known)} of {gang.size} members exist"
        return out
    out.standins = _standins(cache, gang, known)
    if len(known) + len(out.standins) < gang.size:
        out.waiting = (
            f"waiting for gang {gang.key}: {len(known)} of {gang.size} members exist and the "
            "others cannot be named yet"
        )
    return out


def _leader_name(known: list[Pod]) -> str | None:
    for pod in known:
        if _index(pod) == 0:
            return pod.metadata.name
    for pod in known:
        name = pod.metadata.annotations.get(LWS_LEADER_NAME_ANNOTATION)
        if name:
            return name
    return None


def _standins(cache: ClusterCache, gang: GangRef, known: list[Pod]) -> list[Pod]:
    """Stand-ins for the LWS group's members that do not exist yet."""
    leader = _leader_name(known)
    if leader is None or not known:
        return []
    present = {_index(p) for p in known}
    sample = known[0]
    namespace = sample.metadata.namespace or "default"
    lws = cache.leader_worker_sets.get(
        f"{namespace}/{sample.metadata.labels.get(LWS_NAME_LABEL, '')}"
    )
    out = []
    for index in range(gang.size):
        if index in present:
            continue
        role = [p for p in known if (_index(p) == 0) == (index == 0)]
        base = role[0] if role else sample
        name = leader if index == 0 else f"{leader}-{index}"
        out.append(_standin(base, name, index, leader, _template_spec(lws, index)))
    return out


def _template_spec(lws: LeaderWorkerSet | None, index: int) -> PodSpec | None:
    if lws is None:
        return None
    if index == 0:
        return lws.leader_template.spec
    return lws.spec.leader_worker_template.worker_template.spec


def _standin(base: Pod, name: str, index: int, leader: str, spec: PodSpec | None) -> Pod:
    """A pod like ``base`` (labels, annotations, spec unless ``spec`` is given) named
    ``name`` at worker index ``index``, not created, unbound."""
    labels: Mapping[str, str] = {
        **base.metadata.labels,
        LWS_WORKER_INDEX_LABEL: str(index),
        POD_NAME_LABEL: name,
    }
    annotations = dict(base.metadata.annotations)
    if index == 0:
        annotations.pop(LWS_LEADER_NAME_ANNOTATION, None)
    else:
        annotations[LWS_LEADER_NAME_ANNOTATION] = leader
    meta = base.metadata.model_copy(
        update={
            "name": name,
            "uid": None,
            "resource_version": None,
            "labels": dict(labels),
            "annotations": annotations,
        }
    )
    chosen = (spec if spec is not None else base.spec).model_copy(update={"node_name": None})
    if spec is not None and base.spec.priority is not None:
        chosen = chosen.model_copy(
            update={
                "priority": base.spec.priority,
                "priority_class_name": base.spec.priority_class_name,
                "scheduler_name": base.spec.scheduler_name,
            }
        )
    return default_pod(Pod(metadata=meta, spec=chosen, status=PodStatus()))
