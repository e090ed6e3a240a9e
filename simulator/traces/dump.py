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
from ``--cluster``. A dumped worker pod of an exclusive-topology LWS group is created once its
leader is bound, as the LWS controller creates it.

Faults: a DeviceTaintRule with a ``NoExecute`` taint on one device (driver, pool and device
named) fails that device at its ``creationTimestamp`` (else the taint's ``timeAdded``); a Node
carrying a ``NoExecute`` taint ``node.kubernetes.io/unreachable`` or ``.../not-ready`` with a
``timeAdded`` is lost then. ``tessera.io/finished-at`` on either is the repair (the rule
deleted, the node back).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from scheduler.api.defaults import AdmissionError, admit_priority
from scheduler.api.devicetaintrule import DeviceTaintRule
from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from scheduler.api.limits import MAX_DURATION_SECONDS, MAX_TIMESTAMP, MIN_TIMESTAMP
from scheduler.api.loaders import API_MODELS, Loaded, ObjectReader, Origin, read_objects
from scheduler.api.lws import (
    LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    LWS_LEADER_NAME_ANNOTATION,
    LeaderWorkerSet,
)
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
from simulator.traces.model import (
    ANNOTATION_DURATION,
    ANNOTATION_FINISHED_AT,
    Fault,
    Trace,
    TraceItem,
)

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
    faults: list[_RawFault] = []
    for obj, where in loaded:
        if not obj.metadata.name:
            raise where.error(
                "required value: name or generateName is required",
                kind=obj.kind,
                path=("metadata", "name"),
            )
        if isinstance(obj, Pod):
            planned.append(_dumped_pod(obj, where))
            continue
        planned.extend(_expand(obj, where, ctx, owned_replicasets))
        fault = _fault(obj, where)
        if fault is not None:
            faults.append(fault)
        elif isinstance(obj, _KEPT):
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
    times = _Times()
    items, start = _items(planned, times)
    trace_faults = [_fault_at(f, times, start) for f in faults]
    times.report(source)
    return Trace(Path(path).name, items, keep, source, trace_faults)


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


def _items(planned: list[PlannedPod], times: _Times) -> tuple[list[TraceItem], float]:
    """The trace items and the start (the earliest creation, seconds since the epoch)."""
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
    known = [t for _, t, *_ in raw if t is not None]
    start = min(known) if known else 0.0
    items = [
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
    return items, start


NODE_LOST_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
"""The taints the node lifecycle controller puts on a node it lost."""


@dataclass(frozen=True, slots=True)
class _RawFault:
    """A fault as read: the object, when it failed and was repaired (timestamp texts)."""

    obj: KubeObject
    where: Origin
    failed: str | None
    failed_field: str
    node: str | None
    device: tuple[str, str, str] | None


def _fault(obj: KubeObject, where: Origin) -> _RawFault | None:
    """A fault the object records, if any: a DeviceTaintRule with a ``NoExecute`` taint on
    one device (driver, pool and device named), or a Node with a ``NoExecute`` taint
    :data:`NODE_LOST_TAINTS` that has a ``timeAdded``."""
    if isinstance(obj, DeviceTaintRule):
        selector, taint = obj.spec.device_selector, obj.spec.taint
        if taint.effect != "NoExecute" or selector is None:
            return None
        if not (selector.driver and selector.pool and selector.device):
            return None  # a rule over many devices joins the cluster as a standing taint
        when: str | None = obj.metadata.creation_timestamp
        field = "metadata.creationTimestamp"
        if not when:
            when, field = taint.time_added, "spec.taint.timeAdded"
        device = (selector.driver, selector.pool, selector.device)
        return _RawFault(obj, where, when, field, None, device)
    if isinstance(obj, Node):
        for i, t in enumerate(obj.spec.taints):
            if t.key in NODE_LOST_TAINTS and t.effect == "NoExecute" and t.time_added:
                return _RawFault(
                    obj, where, t.time_added, f"spec.taints[{i}].timeAdded", obj.name, None
                )
    return None


def _fault_at(raw: _RawFault, times: _Times, start: float) -> Fault:
    """The fault in trace time; ``tessera.io/finished-at`` on the object is its repair."""
    failed = times.moment(raw.failed, raw.where, raw.obj, raw.failed_field)
    failed = max(failed if failed is not None else start, start)
    repair_text = raw.obj.metadata.annotations.get(ANNOTATION_FINISHED_AT)
    repaired = times.moment(repair_text, raw.where, raw.obj, f"annotation {ANNOTATION_FINISHED_AT}")
    return Fault(
        time=failed - start,
        node=raw.node,
        device=raw.device,
        repair_after=(repaired - failed) if repaired is not None else None,
    )


def _dumped_pod(pod: Pod, where: Origin) -> PlannedPod:
    """A pod in the input as is; a worker of an exclusive-topology LWS group (its
    annotations say so) is created once its leader is bound and follows its topology, as
    the LWS controller creates it."""
    notes = pod.metadata.annotations
    exclusive = notes.get(LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION)
    leader = notes.get(LWS_LEADER_NAME_ANNOTATION)
    if not exclusive or not leader:
        return PlannedPod(pod, where)
    namespace = pod.metadata.namespace or "default"
    return PlannedPod(pod, where, after_bound_of=f"{namespace}/{leader}", follow_topology=exclusive)
