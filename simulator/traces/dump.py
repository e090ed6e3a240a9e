"""Kubernetes manifests and object dumps as replay traces.

Input: a file or directory as ``kubectl get -o yaml|json`` prints it or ``kubectl apply -f``
accepts it. Objects are read the way the API server stores them
(:class:`scheduler.api.loaders.ObjectReader`: defaults, generated names, duplicates
refused), then the workload controllers create their pods
(``simulator/traces/controllers/``): Deployments and ReplicaSets, StatefulSets, Jobs (and
Kueue's topology-aware podsets), LeaderWorkerSets; CronJobs are reported and skipped. Pods
are admitted (:func:`scheduler.api.defaults.admit_priority`) and their gangs checked
(:mod:`simulator.traces.gangs`). Rules and sources: ``docs/semantics/manifests.md``.

Times (``traces/README.md``): each Pod arrives at its ``metadata.creationTimestamp``, pods a
controller creates at their workload's; a pod leaves at the RFC 3339 time in the annotation
``tessera.io/finished-at``, or ``tessera.io/duration-seconds`` after it is bound (either
annotation on the pod, else on its workload), else it runs to the end of the replay. Go's
zero time (``0001-01-01T00:00:00Z``, what an unset timestamp prints as) counts as unset and
is reported; times before 1970 or after :data:`~scheduler.api.limits.MAX_TIMESTAMP` and
durations beyond :data:`~scheduler.api.limits.MAX_DURATION_SECONDS` are refused. Times are
seconds since the earliest arrival.

Kept for the replay: ResourceClaimTemplates, ResourceClaims, PriorityClasses, PodGroups,
LeaderWorkerSets, and the cluster-wide DeviceClasses and DeviceTaintRules (they join the
cluster). Nodes and ResourceSlices in a trace are reported and ignored: the cluster comes
from ``--cluster``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

from scheduler.api.defaults import AdmissionError, admit_priority
from scheduler.api.devicetaintrule import DeviceTaintRule
from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from scheduler.api.limits import MAX_DURATION_SECONDS, MAX_TIMESTAMP, MIN_TIMESTAMP
from scheduler.api.loaders import API_MODELS, Loaded, ObjectReader, Origin, read_objects
from scheduler.api.lws import LeaderWorkerSet
from scheduler.api.meta import KubeObject
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.api.workloads import (
    WORKLOAD_KINDS,
    CronJob,
    Deployment,
    Job,
    ReplicaSet,
    StatefulSet,
)
from simulator.traces.controllers.common import ControllerContext, PlannedPod
from simulator.traces.controllers.job import expand_job
from simulator.traces.controllers.leaderworkerset import expand_leaderworkerset
from simulator.traces.controllers.replicaset import expand_deployment, expand_replicaset
from simulator.traces.controllers.statefulset import expand_statefulset
from simulator.traces.gangs import check_gangs, check_pod_groups
from simulator.traces.model import ANNOTATION_DURATION, ANNOTATION_FINISHED_AT, Trace, TraceItem

__all__ = ["GO_ZERO_TIME", "read_dump"]

log = logging.getLogger(__name__)

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
TRACE_MODELS = {**API_MODELS, **WORKLOAD_KINDS}
"""What a trace may hold: the scheduler's kinds and the workload kinds."""

_KEPT = (
    ResourceClaimTemplate,
    ResourceClaim,
    PriorityClass,
    PodGroup,
    LeaderWorkerSet,
    DeviceClass,
    DeviceTaintRule,
)


class _Times:
    """Timestamp and duration reading for one trace, with its zero-time report."""

    def __init__(self) -> None:
        self.zero: list[str] = []

    def moment(self, text: str | None, where: Origin, obj: KubeObject, field: str) -> float | None:
        """Seconds since the epoch of an RFC 3339 time; None when unset or Go's zero time."""
        if text is None:
            return None
        value = str(text)
        if value.startswith("0001-01-01T00:00:00"):
            self.zero.append(f"{where} ({obj.kind} {obj.key}) {field}")
            return None
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise where.error(
                f"{value!r} is not an RFC 3339 time", kind=obj.kind, name=obj.key, path=_path(field)
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        if not MIN_TIMESTAMP <= moment < MAX_TIMESTAMP:
            raise where.error(
                f"{value!r} is outside {MIN_TIMESTAMP:%Y-%m-%d} .. {MAX_TIMESTAMP:%Y-%m-%d}",
                kind=obj.kind,
                name=obj.key,
                path=_path(field),
            )
        return moment.timestamp()

    def report(self, source: str) -> None:
        """Log the zero-time fields found (one line, the first few named)."""
        if self.zero:
            shown = "; ".join(self.zero[:3]) + ("; ..." if len(self.zero) > 3 else "")
            log.warning(
                "%s: %d timestamp(s) are Go's zero time %s (unset): read as unset (%s)",
                source,
                len(self.zero),
                GO_ZERO_TIME,
                shown,
            )


def _path(field: str) -> tuple[str, ...]:
    if field.startswith("annotation "):
        return ("metadata", "annotations", field.removeprefix("annotation "))
    return tuple(field.split("."))


def _duration(obj: KubeObject, where: Origin) -> float | None:
    text = obj.metadata.annotations.get(ANNOTATION_DURATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise where.error(
            f"{text!r} is not a non-negative number of seconds",
            kind=obj.kind,
            name=obj.key,
            path=("metadata", "annotations", ANNOTATION_DURATION),
        )
    if value > MAX_DURATION_SECONDS:
        raise where.error(
            f"{text!r} seconds: more than tessera's limit of {MAX_DURATION_SECONDS} (ten years)",
            kind=obj.kind,
            name=obj.key,
            path=("metadata", "annotations", ANNOTATION_DURATION),
        )
    return value


def _annotated(planned: PlannedPod, key: str) -> tuple[KubeObject, Origin] | None:
    """The pod, else its workload, if it carries annotation ``key``."""
    if key in planned.pod.metadata.annotations:
        return planned.pod, planned.origin
    if planned.owner is not None and key in planned.owner.metadata.annotations:
        return planned.owner, planned.origin
    return None


def _expand(
    obj: KubeObject, where: Origin, ctx: ControllerContext, owned_rs: set[tuple[str, str]]
) -> list[PlannedPod]:
    """The pods a workload's controller creates (nothing for other kinds)."""
    if isinstance(obj, Deployment):
        has_rs = (obj.metadata.namespace or "", obj.name) in owned_rs
        return expand_deployment(obj, ctx, where, has_rs)
    if isinstance(obj, ReplicaSet):
        return expand_replicaset(obj, ctx, where)
    if isinstance(obj, StatefulSet):
        return expand_statefulset(obj, ctx, where)
    if isinstance(obj, Job):
        return expand_job(obj, ctx, where)
    if isinstance(obj, LeaderWorkerSet):
        return expand_leaderworkerset(obj, ctx, where)
    if isinstance(obj, CronJob):
        ctx.notes.append(
            f"{where} (CronJob {obj.key}): skipped; its Jobs are created on a schedule, put "
            "the Jobs themselves in the trace to replay them"
        )
    return []


def read_dump(path: str | Path) -> Trace:
    """A trace from manifests or a dump (see the module docstring); LoadError (a
    ValueError) names the file, document, object, field and value of anything refused."""
    source = str(path)
    reader = ObjectReader(models=TRACE_MODELS, seed=Path(path).name)
    loaded: list[Loaded] = list(read_objects(path, reader))
    pods = [(o, w) for o, w in loaded if isinstance(o, Pod)]
    ctx = ControllerContext.from_pods(reader, (p for p, _ in pods))
    owned_replicasets = {
        (o.metadata.namespace or "", ref.name)
        for o, _ in loaded
        if isinstance(o, ReplicaSet)
        and (ref := o.metadata.controller_ref()) is not None
        and ref.kind == "Deployment"
    }
    planned: list[PlannedPod] = []
    keep: list[KubeObject] = []
    ignored: dict[str, int] = {}
    for obj, where in loaded:
        if not obj.metadata.name:
            raise where.error(
                "required value: name or generateName is required",
                kind=obj.kind,
                path=("metadata", "name"),
            )
        if isinstance(obj, Pod):
            planned.append(PlannedPod(obj, where))
            continue
        planned.extend(_expand(obj, where, ctx, owned_replicasets))
        if isinstance(obj, _KEPT):
            keep.append(obj)
        elif isinstance(obj, Node | ResourceSlice):
            ignored[obj.kind] = ignored.get(obj.kind, 0) + 1
    for note in ctx.notes:
        log.warning("%s", note)
    for kind, count in sorted(ignored.items()):
        log.warning(
            "%s: ignoring %d %s object(s): the cluster comes from --cluster", source, count, kind
        )
    classes = {o.name: o for o in keep if isinstance(o, PriorityClass)}
    planned = [_admitted(p, classes) for p in planned]
    groups = [(o, w) for o, w in loaded if isinstance(o, PodGroup)]
    check_pod_groups(groups)
    check_gangs(((p.pod, p.origin) for p in planned), {g.key: g for g, _ in groups})
    if not planned:
        raise ValueError(f"{source}: no pods to replay (no Pod or workload creates any)")
    return Trace(Path(path).name, _items(planned, source), keep, source)


def _admitted(planned: PlannedPod, classes: dict[str, PriorityClass]) -> PlannedPod:
    try:
        pod = admit_priority(planned.pod, classes)
    except AdmissionError as exc:
        owner = planned.owner
        what = f" (pod {planned.key} created by it)" if owner is not None else ""
        raise planned.origin.error(
            f"{exc}{what}",
            kind=owner.kind if owner is not None else "Pod",
            name=owner.key if owner is not None else planned.key,
        ) from None
    if pod is planned.pod:
        return planned
    return PlannedPod(
        pod,
        planned.origin,
        planned.owner,
        planned.after_bound_of,
        planned.delay,
        planned.waits_slot,
        planned.completes_slot,
        planned.follow_topology,
    )


def _items(planned: list[PlannedPod], source: str) -> list[TraceItem]:
    times = _Times()
    raw: list[tuple[PlannedPod, float | None, float | None, float | None]] = []
    for p in planned:
        subject: KubeObject = p.owner if p.owner is not None else p.pod
        created = times.moment(
            subject.metadata.creation_timestamp, p.origin, subject, "metadata.creationTimestamp"
        )
        found = _annotated(p, ANNOTATION_FINISHED_AT)
        finished = None
        if found is not None:
            obj, where = found
            finished = times.moment(
                obj.metadata.annotations[ANNOTATION_FINISHED_AT],
                where,
                obj,
                f"annotation {ANNOTATION_FINISHED_AT}",
            )
        found = _annotated(p, ANNOTATION_DURATION)
        duration = _duration(*found) if found is not None else None
        raw.append((p, created, duration, finished))
    times.report(source)
    known = [t for _, t, *_ in raw if t is not None]
    start = min(known) if known else 0.0
    return [
        TraceItem(
            pod=p.pod,
            arrival=(created - start) if created is not None else 0.0,
            duration=duration,
            finish_at=(finished - start) if finished is not None else None,
            after_bound_of=p.after_bound_of,
            delay=p.delay,
            waits_slot=p.waits_slot,
            completes_slot=p.completes_slot,
            follow_topology=p.follow_topology,
        )
        for p, created, duration, finished in raw
    ]
