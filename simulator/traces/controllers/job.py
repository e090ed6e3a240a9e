"""Job as the Job controller expands it (``pkg/controller/job``), and Kueue's TAS podset.

Labels and names:

* the API server's ``generateSelector`` (``pkg/registry/batch/job/strategy.go``, unless
  ``manualSelector``) adds ``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name``
  and their legacy forms ``controller-uid``, ``job-name`` to the template;
* every pod gets the finalizer ``batch.kubernetes.io/job-tracking`` and a controller owner
  reference;
* ``NonIndexed`` pods are ``generateName: <job>-``; ``Indexed`` pods carry the annotation and
  the label ``batch.kubernetes.io/job-completion-index: <i>`` and are ``generateName:
  <job>-<i>-`` (``podGenerateNameWithIndex``, cut to fit 58 characters).

How many and when: the controller keeps ``min(parallelism, completions - succeeded)`` pods
active. The first ``min(parallelism, total)`` pods are created with the Job; each further
pod is created when one of the Job's pods completes (``total`` = ``completions``, or
``parallelism`` for a work-queue Job without ``completions``). Indexed Jobs create the lowest
missing indices first. Pods the input already holds for the Job count as active (or as
succeeded when their phase is ``Succeeded``). ``suspend: true`` creates nothing.

Kueue (``kubernetes-sigs/kueue``): a Job labelled ``kueue.x-k8s.io/queue-name`` whose pod
template carries ``kueue.x-k8s.io/podset-required-topology`` or ``-preferred-topology`` is one
podset of ``min(parallelism, completions)`` pods that Kueue's topology-aware scheduling
admits into one domain of that level (required), or into as few domains as possible
(preferred), all together. Its pods get what Kueue writes on them (annotation
``kueue.x-k8s.io/workload: job-<name>-<hash>``, label ``kueue.x-k8s.io/podset: main``) and,
standing in for the Workload object tessera does not keep, tessera's gang annotations with
the podset's count, so that the pods are placed as one topology group.
"""

from __future__ import annotations

import hashlib

from scheduler.api.defaults import DEFAULT_NAMESPACE
from scheduler.api.limits import MAX_COMPLETIONS_INDEXED, MAX_GANG_SIZE
from scheduler.api.loaders import Origin
from scheduler.api.names import MAX_GENERATED_BASE_LENGTH
from scheduler.api.workloads import Job
from scheduler.framework.podinfo import (
    GANG_ANNOTATION,
    GANG_SIZE_ANNOTATION,
    KUEUE_PREFERRED,
    KUEUE_REQUIRED,
)
from simulator.traces.controllers.common import (
    ControllerContext,
    PlannedPod,
    object_uid,
    pod_from_template,
)
from simulator.traces.controllers.replicaset import check_count

__all__ = [
    "COMPLETION_INDEX",
    "CONTROLLER_UID_LABEL",
    "JOB_NAME_LABEL",
    "JOB_TRACKING_FINALIZER",
    "KUEUE_PODSET_LABEL",
    "KUEUE_QUEUE_LABEL",
    "KUEUE_WORKLOAD_ANNOTATION",
    "expand_job",
    "kueue_workload_name",
]

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_WORKLOAD_ANNOTATION = "kueue.x-k8s.io/workload"
KUEUE_PODSET_LABEL = "kueue.x-k8s.io/podset"
KUEUE_PODSET_NAME = "main"


def kueue_workload_name(job: Job) -> str:
    """``jobframework.GetWorkloadNameForOwnerWithGVK``: ``job-<name>`` (cut to 247
    characters) and the first five hex digits of SHA-1 over kind, group, name and uid."""
    digest = hashlib.sha1(
        f"Job\nbatch\n{job.name}\n{object_uid(job)}".encode(), usedforsecurity=False
    ).hexdigest()
    return f"job-{job.name}"[:247] + f"-{digest[:5]}"


def _indexed_base(name: str, index: int) -> str:
    """``podGenerateNameWithIndex``."""
    suffix = f"-{index}-"
    base = name + suffix
    if len(base) > MAX_GENERATED_BASE_LENGTH:
        base = base[: MAX_GENERATED_BASE_LENGTH - len(suffix)] + suffix
    return base


def _selector_labels(job: Job) -> dict[str, str]:
    if job.spec.manual_selector:
        return {}
    uid = object_uid(job)
    template = job.spec.template.metadata.labels
    wanted = {
        LEGACY_JOB_NAME_LABEL: job.name,
        JOB_NAME_LABEL: job.name,
        LEGACY_CONTROLLER_UID_LABEL: uid,
        CONTROLLER_UID_LABEL: uid,
    }
    return {k: v for k, v in wanted.items() if k not in template}


def _kueue(
    job: Job, ctx: ControllerContext, where: Origin
) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations Kueue's TAS podset gives the Job's pods (empty when none)."""
    notes = job.spec.template.metadata.annotations
    if KUEUE_REQUIRED not in notes and KUEUE_PREFERRED not in notes:
        return {}, {}
    if KUEUE_QUEUE_LABEL not in job.metadata.labels:
        ctx.notes.append(
            f"{where} (Job {job.key}): its pod template asks for Kueue topology-aware "
            f"scheduling but the Job has no {KUEUE_QUEUE_LABEL} label, so Kueue does not "
            "manage it; its pods are placed one by one"
        )
        return {}, {}
    count = job.parallelism if job.completions is None else min(job.parallelism, job.completions)
    if count > MAX_GANG_SIZE:
        raise where.error(
            f"{count} pods in one Kueue podset: more than tessera's limit of {MAX_GANG_SIZE}",
            kind=job.kind,
            name=job.key,
            path=("spec", "parallelism"),
        )
    total = job.completions if job.completions is not None else job.parallelism
    if total > count:
        ctx.notes.append(
            f"{where} (Job {job.key}): {total} completions with parallelism {count}: the first "
            f"{count} pods are placed as Kueue's topology group, later ones one by one"
        )
    workload = kueue_workload_name(job)
    labels = {KUEUE_PODSET_LABEL: KUEUE_PODSET_NAME}
    annotations = {
        KUEUE_WORKLOAD_ANNOTATION: workload,
        GANG_ANNOTATION: f"kueue/{workload}/{KUEUE_PODSET_NAME}",
        GANG_SIZE_ANNOTATION: str(count),
    }
    return labels, annotations


def expand_job(job: Job, ctx: ControllerContext, where: Origin) -> list[PlannedPod]:
    """The pods the Job controller creates for ``job`` (see the module docstring)."""
    check_count(job.parallelism, ("spec", "parallelism"), job.kind, job.key, where)
    if job.spec.completions is not None:
        check_count(job.spec.completions, ("spec", "completions"), job.kind, job.key, where)
    if job.indexed:
        if job.spec.completions is None:
            raise where.error(
                "required for Indexed completion mode",
                kind=job.kind,
                name=job.key,
                path=("spec", "completions"),
            )
        for field, value in (
            ("completions", job.spec.completions),
            ("parallelism", job.parallelism),
        ):
            if value > MAX_COMPLETIONS_INDEXED:
                raise where.error(
                    f"{value}: more than {MAX_COMPLETIONS_INDEXED} for an Indexed Job (the API "
                    "server's limit for parallelism, tessera's for completions)",
                    kind=job.kind,
                    name=job.key,
                    path=("spec", field),
                )
    kueue_labels, kueue_notes = _kueue(job, ctx, where)
    if job.spec.suspend and not kueue_labels:
        ctx.notes.append(f"{where} (Job {job.key}): suspended, so it creates no pods")
        return []
    namespace = job.metadata.namespace or DEFAULT_NAMESPACE
    total = job.completions if job.completions is not None else job.parallelism
    owned = ctx.owned(namespace, "Job", job.name)
    succeeded = sum(1 for p in owned if p.status.phase == "Succeeded")
    active = len(owned) - succeeded
    done_indices = {p.metadata.annotations.get(COMPLETION_INDEX) for p in owned}
    labels = {**_selector_labels(job), **kueue_labels}
    slot = f"job:{namespace}/{job.name}"
    indices = (
        [i for i in range(total) if str(i) not in done_indices]
        if job.indexed
        else list(range(max(total - succeeded - active, 0)))
    )
    room = max(job.parallelism - active, 0)
    planned = []
    for position, index in enumerate(indices):
        first_wave = position < room
        pod_labels = dict(labels)
        pod_notes = {
            k: v
            for k, v in kueue_notes.items()
            if first_wave or k not in (GANG_ANNOTATION, GANG_SIZE_ANNOTATION)
        }
        if job.indexed:
            pod_labels[COMPLETION_INDEX] = str(index)
            pod_notes[COMPLETION_INDEX] = str(index)
            base = _indexed_base(job.name, index)
        else:
            base = f"{job.name}-"
        name = ctx.generate_name(namespace, base, where)
        pod = pod_from_template(
            job.spec.template,
            job,
            name=name,
            labels={**pod_labels},
            annotations=pod_notes,
            finalizers=(JOB_TRACKING_FINALIZER,),
            where=where,
        )
        planned.append(
            PlannedPod(
                pod,
                where,
                owner=job,
                waits_slot=None if first_wave else slot,
                completes_slot=slot,
            )
        )
    return planned
