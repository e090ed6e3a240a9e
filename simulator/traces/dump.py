"""Kubernetes object dumps as replay traces.

Input: a file or directory as ``kubectl get -o yaml`` prints it. Each Pod arrives at its
``metadata.creationTimestamp`` and leaves at the RFC 3339 time in the annotation
``tessera.io/finished-at``, or ``tessera.io/duration-seconds`` after it is bound, else it runs
to the end of the replay. LeaderWorkerSets are expanded into their groups' pods (leader at
the LWS's creation time, workers one second later — or, with exclusive topology, once their
leader is bound, as the LWS controller does); their duration annotations apply to every
pod. ResourceClaimTemplates, ResourceClaims, PriorityClasses and PodGroups are kept for the
replay. Nodes, DeviceClasses and ResourceSlices are not read from a trace (they come from
``--cluster``). Times are seconds since the earliest arrival; objects without a
``creationTimestamp`` (plain manifests, as written for ``kubectl apply``) arrive at 0.
Namespaced objects without ``metadata.namespace`` are read into the namespace ``default``,
where ``kubectl apply`` without ``-n`` puts them, so that a manifest's pods find its
ResourceClaimTemplates and PodGroups.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from scheduler.api.loaders import load_objects
from scheduler.api.lws import LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION, LeaderWorkerSet
from scheduler.api.meta import KubeObject
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from simulator.traces.lws import expand
from simulator.traces.model import ANNOTATION_DURATION, ANNOTATION_FINISHED_AT, Trace, TraceItem

log = logging.getLogger(__name__)

WORKER_DELAY = 1.0
DEFAULT_NAMESPACE = "default"

_NAMESPACED = (Pod, LeaderWorkerSet, ResourceClaimTemplate, ResourceClaim, PodGroup)


def _in_default_namespace(obj: KubeObject) -> KubeObject:
    """``obj`` in :data:`DEFAULT_NAMESPACE` if it is namespaced and names no namespace."""
    if not isinstance(obj, _NAMESPACED) or obj.metadata.namespace:
        return obj
    metadata = obj.metadata.model_copy(update={"namespace": DEFAULT_NAMESPACE})
    return obj.model_copy(update={"metadata": metadata})


def _time(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _duration(obj: KubeObject, source: str) -> float | None:
    text = obj.metadata.annotations.get(ANNOTATION_DURATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(
            f"{source}: {obj.kind} {obj.key}: annotation {ANNOTATION_DURATION}: {text!r} "
            "is not a non-negative number of seconds"
        )
    return value


def read_dump(path: str | Path) -> Trace:
    """A trace from a dump (see the module docstring); ValueError names file, object, field."""
    source = str(path)
    objects = load_objects(path)
    raw: list[tuple[Pod, float | None, float | None, float | None, str | None, float]] = []
    keep: list[KubeObject] = []
    for loaded in objects:
        obj = _in_default_namespace(loaded)
        where = f"{source}: {obj.kind} {obj.key}"
        if isinstance(obj, Pod):
            created = _time(obj.metadata.creation_timestamp, f"{where}: metadata.creationTimestamp")
            finished = _time(
                obj.metadata.annotations.get(ANNOTATION_FINISHED_AT),
                f"{where}: annotation {ANNOTATION_FINISHED_AT}",
            )
            raw.append((obj, created, _duration(obj, source), finished, None, 0.0))
        elif isinstance(obj, LeaderWorkerSet):
            created = _time(obj.metadata.creation_timestamp, f"{where}: metadata.creationTimestamp")
            finished = _time(
                obj.metadata.annotations.get(ANNOTATION_FINISHED_AT),
                f"{where}: annotation {ANNOTATION_FINISHED_AT}",
            )
            duration = _duration(obj, source)
            keep.append(obj)
            exclusive = LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION in obj.metadata.annotations
            for pod, _, worker in expand(obj):
                leader = None
                delay = 0.0
                if worker > 0:
                    leader_name = pod.metadata.annotations.get(
                        "leaderworkerset.sigs.k8s.io/leader-name", ""
                    )
                    if exclusive:
                        leader = f"{pod.metadata.namespace}/{leader_name}"
                    else:
                        delay = WORKER_DELAY
                raw.append((pod, created, duration, finished, leader, delay))
        elif isinstance(obj, ResourceClaimTemplate | ResourceClaim | PriorityClass | PodGroup):
            keep.append(obj)
        elif isinstance(obj, Node | DeviceClass | ResourceSlice):
            log.debug("%s: ignoring cluster object (the cluster comes from --cluster)", where)
    if not raw:
        raise ValueError(f"{source}: no Pods or LeaderWorkerSets to replay")
    known = [t for _, t, *_ in raw if t is not None]
    start = min(known) if known else 0.0
    items = [
        TraceItem(
            pod=pod,
            arrival=(created - start) if created is not None else 0.0,
            duration=duration,
            finish_at=(finished - start) if finished is not None else None,
            after_bound_of=leader,
            delay=delay,
        )
        for pod, created, duration, finished, leader, delay in raw
    ]
    return Trace(Path(path).name, items, keep, source)
