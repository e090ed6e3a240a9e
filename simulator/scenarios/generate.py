"""Scenario + seed -> replay trace: the pods their controllers would create, when, and faults.

Who calls: :func:`simulator.inputs.read_trace` (a scenario file given as ``--trace``) and
``tessera scenario render``. The same scenario, seed and cluster give the same trace: every
workload draws from its own generator, seeded by ``(seed, CRC-32 of namespace/name)``, so
adding a workload does not change the others' draws.

What each workload becomes (pods carry what their controllers write; traces/README.md,
"Scenarios"):

* **LeaderWorkerSet** — a LeaderWorkerSet object (with the exclusive-topology, headroom and
  topology annotations) and, per replica group, the pods of
  :func:`simulator.traces.controllers.leaderworkerset.expand_leaderworkerset` (names,
  labels, annotations and affinities of the LWS controller and webhook). Replicas follow
  :mod:`simulator.scenarios.demand`; a scale-up creates the lowest free group indices, a
  scale-down deletes the highest (the leader
  StatefulSet's ordinal rule), so a group index — and its pod names — may come back later.
  Leaders appear when their group is created; workers one second later, or with exclusive
  topology once their leader is bound (the LWS controller's order, docs/semantics/lws.md
  §7).
* **Deployment** — one pod per replica, named ``<name>-<pod-template-hash>-<5 chars>`` with
  labels ``app`` and ``pod-template-hash`` and a ReplicaSet owner; a scale-down deletes the
  newest replicas first.
* **Job** — per arrival a Job ``<name>-<k>`` of ``parallelism`` pods created together: labels
  ``batch.kubernetes.io/job-name``, ``job-name``, ``batch.kubernetes.io/controller-uid``,
  ``controller-uid``, a Job owner reference; with parallelism > 1 an Indexed Job (pods
  ``<job>-<i>-<5 chars>``, the ``batch.kubernetes.io/job-completion-index`` label and
  annotation) whose pods form a coscheduling gang (label ``scheduling.x-k8s.io/pod-group``
  and a PodGroup with ``minMember`` = parallelism). Pods carry ``tessera.io/class: batch``,
  ``tessera.io/duration-seconds`` (their work) and ``tessera.io/checkpoint-seconds``.
* **Failures** — Poisson processes over the scenario: a GPU (or TPU chip) failure is a
  ``NoExecute`` device taint removed after ``repair``; a node failure loses a node with
  accelerators until ``repair``. A draw that hits a device or node already down is dropped.

Times are whole seconds. Every pod still present at the end of the scenario is deleted then
(``finish_at`` = duration), so a replay covers exactly the scenario. A trace's clock starts at
its first pod (a dump's does too), so a scenario must create a pod at time 0: a workload
that starts at 0 with at least one replica, or a Job workload starting at 0 (a Poisson
process has its first arrival at its start).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scheduler.api.limits import MAX_PODS_PER_INPUT
from scheduler.api.loaders import ObjectReader, Origin
from scheduler.api.lws import LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION, LeaderWorkerSet
from scheduler.api.meta import KubeObject, ObjectMeta, OwnerReference
from scheduler.api.pod import Pod, PodSpec
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.framework.podinfo import (
    CLASS_LABEL,
    POD_GROUP_LABEL,
    TESSERA_PREFERRED,
    TESSERA_REQUIRED,
)
from scheduler.plugins.servingbatch import HEADROOM_ANNOTATION
from simulator.clusters import LoadedCluster
from simulator.experiments.accounting import node_capacity
from simulator.scenarios.demand import replica_changes
from simulator.scenarios.model import (
    MAX_STEPS,
    Accelerator,
    Choice,
    DeploymentWorkload,
    DurationDistribution,
    FailureRate,
    JobWorkload,
    LeaderWorkerSetWorkload,
    Scenario,
)
from simulator.traces.controllers.common import ControllerContext
from simulator.traces.controllers.leaderworkerset import expand_leaderworkerset
from simulator.traces.model import (
    ANNOTATION_CHECKPOINT,
    ANNOTATION_DURATION,
    ANNOTATION_FINISHED_AT,
    Fault,
    Trace,
    TraceItem,
)

__all__ = ["generate", "rfc3339", "workload_rng"]

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
TEMPLATE_HASH_LABEL = "pod-template-hash"
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters of generated name suffixes (apimachinery's ``utilrand.String``)."""
GPU_DRIVER = "gpu.nvidia.com"
TPU_DRIVER = "tpu.google.com"


def rfc3339(epoch: dt.datetime, seconds: float) -> str:
    """``epoch + seconds`` as an RFC 3339 UTC timestamp (whole seconds)."""
    moment = epoch + dt.timedelta(seconds=round(seconds))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def workload_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one workload (or failure stream) for ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode())]))


def _hash(text: str, length: int = 10) -> str:
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).digest()
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:length])


def _suffix(rng: np.random.Generator, taken: set[str], prefix: str) -> str:
    """A fresh 5-character name suffix (as ``generateName`` makes), unique in ``taken``."""
    while True:
        picks = rng.integers(0, len(NAME_ALPHABET), size=5)
        name = prefix + "".join(NAME_ALPHABET[int(i)] for i in picks)
        if name not in taken:
            taken.add(name)
            return name


@dataclass(slots=True)
class _Builder:
    """The trace being built."""

    scenario: Scenario
    seed: int
    cluster: LoadedCluster
    epoch: dt.datetime
    end: float
    items: list[tuple[float, int, TraceItem]] = field(default_factory=list)
    objects: list[KubeObject] = field(default_factory=list)
    templates: dict[tuple[str, str], KubeObject] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    priorities: dict[str, int] = field(default_factory=dict)
    order: int = 0

    def add(self, item: TraceItem) -> None:
        if self.order >= MAX_PODS_PER_INPUT:
            raise ValueError(
                f"scenario {self.scenario.metadata.name}: more than {MAX_PODS_PER_INPUT:,} pods "
                f"(pod {item.key})"
            )
        self.items.append((item.arrival, self.order, item))
        self.order += 1

    # -- pod specs ---------------------------------------------------------------------------
    def template_name(self, namespace: str, accel: Accelerator) -> str | None:
        """The ResourceClaimTemplate for ``accel`` in ``namespace`` (created on first use);
        None when the accelerator is an extended resource."""
        request: dict[str, Any]
        if accel.gpus is not None:
            name = f"gpus-{accel.gpus}"
            request = {"deviceClassName": GPU_DRIVER, "allocationMode": "ExactCount"}
            request["count"] = accel.gpus
        elif accel.mig is not None:
            profile = accel.mig.profile
            name = f"mig-{profile.replace('.', '').replace('+', '-')}-x{accel.mig.count}"
            selector = f"device.attributes['{GPU_DRIVER}'].profile == '{profile}'"
            request = {
                "deviceClassName": "mig.nvidia.com",
                "allocationMode": "ExactCount",
                "count": accel.mig.count,
                "selectors": [{"cel": {"expression": selector}}],
            }
        elif accel.share is not None:
            share = accel.share
            name = f"share-{share.compute}" + (f"-{share.memory.lower()}" if share.memory else "")
            capacity: dict[str, str] = {"compute": str(share.compute)}
            if share.memory:
                capacity["memory"] = share.memory
            request = {
                "deviceClassName": GPU_DRIVER,
                "allocationMode": "ExactCount",
                "count": 1,
                "capacity": {"requests": capacity},
            }
        elif accel.tpu_chips is not None:
            name = f"tpu-{accel.tpu_chips}"
            request = {
                "deviceClassName": TPU_DRIVER,
                "allocationMode": "ExactCount",
                "count": accel.tpu_chips,
            }
        else:
            return None
        key = (namespace, name)
        if key not in self.templates:
            from scheduler.api.loaders import load_object  # noqa: PLC0415 - API layer helper

            self.templates[key] = load_object(
                {
                    "apiVersion": "resource.k8s.io/v1",
                    "kind": "ResourceClaimTemplate",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {
                        "spec": {"devices": {"requests": [{"name": "accel", "exactly": request}]}}
                    },
                },
                source=f"scenario {self.scenario.metadata.name}",
            )
        return name

    def pod_spec(
        self, workload: LeaderWorkerSetWorkload | DeploymentWorkload | JobWorkload
    ) -> dict[str, Any]:
        """The pod template spec of a workload (as the API would hold it)."""
        shape = workload.pod
        requests: dict[str, str] = {"cpu": shape.cpu, "memory": shape.memory}
        limits: dict[str, str] = {}
        container: dict[str, Any] = {
            "name": "main",
            "image": shape.image or "registry.k8s.io/pause:3.10",
        }
        spec: dict[str, Any] = {
            "priorityClassName": workload.priority_class_name,
            "priority": self.priorities[workload.priority_class_name],
        }
        accel = shape.accelerator
        if accel is not None and accel.nvidia_gpu is not None:
            requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(accel.nvidia_gpu)
        template = self.template_name(workload.namespace, accel) if accel is not None else None
        if template is not None:
            container["resources"] = {"requests": requests, "claims": [{"name": "accel"}]}
            spec["resourceClaims"] = [{"name": "accel", "resourceClaimTemplateName": template}]
        else:
            container["resources"] = {"requests": requests}
        if limits:
            container["resources"]["limits"] = limits
        if shape.node_selector:
            spec["nodeSelector"] = dict(shape.node_selector)
        if isinstance(workload, JobWorkload):
            spec["restartPolicy"] = "Never"
        spec["containers"] = [container]
        return spec

    # -- workloads -----------------------------------------------------------------------------
    def lws(self, w: LeaderWorkerSetWorkload) -> None:
        rng = workload_rng(self.seed, f"{w.namespace}/{w.name}")
        changes = replica_changes(w.replicas, w.start, self.end, rng)
        notes: dict[str, str] = {}
        if w.exclusive_topology:
            notes[LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION] = w.exclusive_topology
        if w.headroom_replicas:
            notes[HEADROOM_ANNOTATION] = str(w.headroom_replicas)
        template_notes: dict[str, str] = {}
        if w.topology_required:
            notes[TESSERA_REQUIRED] = template_notes[TESSERA_REQUIRED] = w.topology_required
        lws = LeaderWorkerSet.model_validate(
            {
                "apiVersion": "leaderworkerset.x-k8s.io/v1",
                "kind": "LeaderWorkerSet",
                "metadata": {
                    "name": w.name,
                    "namespace": w.namespace,
                    "uid": f"uid-lws-{w.namespace}-{w.name}",
                    "creationTimestamp": rfc3339(self.epoch, w.start),
                    "annotations": notes,
                },
                "spec": {
                    "replicas": changes[0][1],
                    "leaderWorkerTemplate": {
                        "size": w.size,
                        "workerTemplate": {
                            "metadata": {
                                "labels": {"app": w.name},
                                "annotations": template_notes,
                            },
                            "spec": self.pod_spec(w),
                        },
                    },
                },
            }
        )
        self.objects.append(lws)
        origin = Origin(f"scenario workload {w.namespace}/{w.name}")
        for g, created, deleted in _groups(changes, self.end, newest_first=False):
            ctx = ControllerContext(ObjectReader())
            for planned in expand_leaderworkerset(lws, ctx, origin, groups=(g,)):
                arrival = created + planned.delay
                self.add(
                    TraceItem(
                        pod=self._stamp(planned.pod, arrival, deleted),
                        arrival=arrival,
                        finish_at=deleted,
                        after_bound_of=planned.after_bound_of,
                        follow_topology=planned.follow_topology,
                    )
                )

    def deployment(self, w: DeploymentWorkload) -> None:
        rng = workload_rng(self.seed, f"{w.namespace}/{w.name}")
        changes = replica_changes(w.replicas, w.start, self.end, rng)
        spec = PodSpec.model_validate(self.pod_spec(w))
        template_hash = _hash(f"{w.namespace}/{w.name}/{spec.model_dump_json()}")
        replica_set = f"{w.name}-{template_hash}"
        taken: set[str] = set()
        owner = OwnerReference(
            api_version="apps/v1",
            kind="ReplicaSet",
            name=replica_set,
            uid=f"uid-rs-{w.namespace}-{replica_set}",
            controller=True,
            block_owner_deletion=True,
        )
        for _, created, deleted in _groups(changes, self.end, newest_first=True):
            name = _suffix(rng, taken, f"{replica_set}-")
            meta = ObjectMeta(
                name=name,
                namespace=w.namespace,
                uid=f"uid-{w.namespace}-{name}",
                labels={"app": w.name, TEMPLATE_HASH_LABEL: template_hash},
                owner_references=(owner,),
            )
            pod = Pod(metadata=meta, spec=spec)
            self.add(
                TraceItem(
                    pod=self._stamp(pod, created, deleted),
                    arrival=created,
                    finish_at=deleted,
                )
            )

    def jobs(self, w: JobWorkload) -> None:
        rng = workload_rng(self.seed, f"{w.namespace}/{w.name}")
        spec = PodSpec.model_validate(self.pod_spec(w))
        stop = min(w.stop if w.stop is not None else self.end, self.end)
        taken: set[str] = set()
        for k, arrival in enumerate(_arrivals(w, stop, rng)):
            if w.max_jobs is not None and k >= w.max_jobs:
                break
            size = _draw_int(w.parallelism, rng)
            work = _draw_duration(w.duration, rng)
            job = f"{w.name}-{k:04d}"
            uid = _uuid(self.seed, f"{w.namespace}/{job}")
            owner = OwnerReference(
                api_version="batch/v1",
                kind="Job",
                name=job,
                uid=uid,
                controller=True,
                block_owner_deletion=True,
            )
            labels = {
                JOB_UID_LABEL: uid,
                JOB_NAME_LABEL: job,
                LEGACY_JOB_UID_LABEL: uid,
                LEGACY_JOB_NAME_LABEL: job,
                CLASS_LABEL: "batch",
            }
            notes = {ANNOTATION_DURATION: str(int(work))}
            if w.checkpoint_interval is not None:
                notes[ANNOTATION_CHECKPOINT] = str(int(w.checkpoint_interval))
            if w.topology_required:
                notes[TESSERA_REQUIRED] = w.topology_required
            if w.topology_preferred:
                notes[TESSERA_PREFERRED] = w.topology_preferred
            if size > 1:
                labels[POD_GROUP_LABEL] = job
                self.objects.append(
                    PodGroup.model_validate(
                        {
                            "apiVersion": "scheduling.x-k8s.io/v1alpha1",
                            "kind": "PodGroup",
                            "metadata": {"name": job, "namespace": w.namespace},
                            "spec": {"minMember": size},
                        }
                    )
                )
            for i in range(size):
                pod_labels, pod_notes = dict(labels), dict(notes)
                prefix = f"{job}-"
                if size > 1:
                    pod_labels[COMPLETION_INDEX] = pod_notes[COMPLETION_INDEX] = str(i)
                    prefix = f"{job}-{i}-"
                name = _suffix(rng, taken, prefix)
                meta = ObjectMeta(
                    name=name,
                    namespace=w.namespace,
                    uid=f"uid-{w.namespace}-{name}",
                    labels=pod_labels,
                    annotations=pod_notes,
                    owner_references=(owner,),
                )
                pod = Pod(metadata=meta, spec=spec)
                self.add(
                    TraceItem(
                        pod=self._stamp(pod, arrival, self.end),
                        arrival=arrival,
                        duration=float(work),
                        finish_at=self.end,
                    )
                )

    def _stamp(self, pod: Pod, created: float, deleted: float) -> Pod:
        """The pod with its creation time and deletion annotation (what a dump shows)."""
        notes = {**pod.metadata.annotations, ANNOTATION_FINISHED_AT: rfc3339(self.epoch, deleted)}
        meta = pod.metadata.model_copy(
            update={"creation_timestamp": rfc3339(self.epoch, created), "annotations": notes}
        )
        return pod.model_copy(update={"metadata": meta})

    # -- failures ------------------------------------------------------------------------------
    def failures(self) -> None:
        failures = self.scenario.failures
        if failures is None:
            return
        cache = self.cluster.cache
        nodes = [n for n in cache.node_names if node_capacity(cache, n) > 0]
        where = f"scenario {self.scenario.metadata.name}"
        down: dict[object, float] = {}
        if failures.nodes is not None and failures.nodes.rate > 0:
            if not nodes:
                raise ValueError(f"{where}: failures.nodes: no node has accelerators")
            self._poisson_faults(failures.nodes, nodes, "failures/nodes", down, device=False)
        if failures.gpus is not None and failures.gpus.rate > 0:
            devices: list[tuple[str, str, str]] = []
            view = cache.gpu_view()
            for node in nodes:
                count = int(view.gpu_count[cache.node_index[node]])
                candidates = [(GPU_DRIVER, node, f"gpu-{m}") for m in range(count)]
                candidates += [(TPU_DRIVER, node, f"tpu-{i}") for i in range(64)]
                devices.extend(d for d in candidates if cache.devices.has_device(d))
            if not devices:
                raise ValueError(
                    f"{where}: failures.gpus: cluster {self.cluster.name} publishes no DRA GPU "
                    "or TPU device to fail (device-plugin GPUs cannot be tainted)"
                )
            self._poisson_faults(failures.gpus, devices, "failures/gpus", down, device=True)
        self.faults.sort(key=lambda f: (f.time, f.node or "", f.device or ("", "", "")))

    def _poisson_faults(
        self,
        rate: FailureRate,
        targets: list[Any],
        stream: str,
        down_until: dict[object, float],
        *,
        device: bool,
    ) -> None:
        """Faults of one stream; ``down_until`` (shared by the streams, node failures drawn
        first) drops a draw whose device or node is already down."""
        rng = workload_rng(self.seed, stream)
        per_second = rate.rate * len(targets) / 3600.0
        repair = float(round(rate.repair))
        t = 0.0
        draws = 0
        while True:
            t += float(rng.exponential(1.0 / per_second))
            if t >= self.end:
                return
            draws += 1
            if draws > MAX_STEPS:
                raise ValueError(
                    f"scenario {self.scenario.metadata.name}: {stream}: more than {MAX_STEPS:,} "
                    f"failures (rate {rate.rate:g} per hour over {len(targets):,} targets)"
                )
            target = targets[int(rng.integers(0, len(targets)))]
            when = float(math.floor(t))
            node = target[1] if device else target
            if down_until.get(target, -1.0) > when or down_until.get(("node", node), -1.0) > when:
                continue  # already down
            down_until[target if device else ("node", node)] = when + repair
            if device:
                self.faults.append(Fault(time=when, device=target, repair_after=repair))
            else:
                self.faults.append(Fault(time=when, node=target, repair_after=repair))


def _uuid(seed: int, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tessera-scenario/{seed}/{key}"))


def _groups(
    changes: list[tuple[float, int]], end: float, *, newest_first: bool
) -> list[tuple[int, float, float]]:
    """Replica lifetimes from replica-count changes: ``(index, created, deleted)``.

    A scale-up takes the lowest free indices; a scale-down removes the highest indices
    (``newest_first=False``: StatefulSet ordinals) or the most recently created replicas
    (``newest_first=True``: a ReplicaSet's preference for newer pods). Whatever is left is
    deleted at ``end``.
    """
    active: dict[int, float] = {}
    made: list[tuple[int, float, float]] = []
    for moment, count in changes:
        when = float(round(moment))
        if when >= end:
            break
        while len(active) < count:
            index = next(i for i in range(len(active) + 1) if i not in active)
            active[index] = when
        while len(active) > count:
            index = max(active, key=lambda i: (active[i], i)) if newest_first else max(active)
            made.append((index, active.pop(index), when))
    made.extend((index, created, end) for index, created in active.items())
    made.sort(key=lambda g: (g[1], g[0]))
    return made


def _arrivals(w: JobWorkload, stop: float, rng: np.random.Generator) -> list[float]:
    """Whole-second arrival times of a Job workload in ``[start, stop)``: ``backlog`` Jobs at
    the start, then the arrival process (a Poisson process has its first arrival at the
    start too)."""
    arrivals = w.arrivals
    out: list[float] = [float(round(w.start))] * w.backlog
    limit = MAX_STEPS if w.max_jobs is None else min(MAX_STEPS, w.max_jobs + w.backlog)
    if arrivals.at is not None:
        out += sorted(float(round(t)) for t in arrivals.at if w.start <= t < stop)
    elif arrivals.every is not None:
        t = w.start
        if (stop - t) / arrivals.every > MAX_STEPS and w.max_jobs is None:
            raise ValueError(
                f"workload {w.namespace}/{w.name}: arrivals.every {arrivals.every:g} s gives "
                f"more than {MAX_STEPS:,} Jobs; raise it or set maxJobs"
            )
        while t < stop and len(out) < limit:
            out.append(float(round(t)))
            t += arrivals.every
    else:
        assert arrivals.poisson_per_hour is not None
        gap = 3600.0 / arrivals.poisson_per_hour
        t = w.start
        while t < stop:
            out.append(float(math.floor(t)))
            t += float(rng.exponential(gap))
            if len(out) > MAX_STEPS + w.backlog:
                if w.max_jobs is None:
                    raise ValueError(
                        f"workload {w.namespace}/{w.name}: arrivals.poissonPerHour "
                        f"{arrivals.poisson_per_hour:g} gives more than {MAX_STEPS:,} Jobs; "
                        "lower it or set maxJobs"
                    )
                break
    return out


def _draw_int(value: int | Choice, rng: np.random.Generator) -> int:
    if isinstance(value, int):
        return value
    weights = np.asarray(value.weights or [1.0] * len(value.values), dtype=np.float64)
    return int(value.values[int(rng.choice(len(value.values), p=weights / weights.sum()))])


def _draw_duration(dist: DurationDistribution, rng: np.random.Generator) -> float:
    if dist.fixed is not None:
        value = dist.fixed
    elif dist.lognormal is not None:
        value = float(rng.lognormal(math.log(dist.lognormal.median), dist.lognormal.sigma))
    else:
        assert dist.exponential is not None
        value = float(rng.exponential(dist.exponential.mean))
    return float(max(dist.min, min(dist.max, round(value))))


def generate(scenario: Scenario, seed: int, cluster: LoadedCluster, *, name: str = "") -> Trace:
    """The replay trace of ``scenario`` for ``seed`` on ``cluster`` (see the module
    docstring); ValueError naming the scenario for a request the cluster cannot serve."""
    epoch = dt.datetime.fromisoformat(scenario.start.replace("Z", "+00:00"))
    builder = _Builder(scenario, seed, cluster, epoch, float(round(scenario.duration)))
    builder.priorities = {p.name: p.value for p in scenario.priority_classes}
    for pc in scenario.priority_classes:
        builder.objects.append(
            PriorityClass.model_validate(
                {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": pc.name},
                    "value": pc.value,
                }
            )
        )
    for workload in scenario.workloads:
        if isinstance(workload, LeaderWorkerSetWorkload):
            builder.lws(workload)
        elif isinstance(workload, DeploymentWorkload):
            builder.deployment(workload)
        else:
            builder.jobs(workload)
    builder.failures()
    items = [item for _, _, item in sorted(builder.items, key=lambda x: (x[0], x[1]))]
    objects = [
        *[o for o in builder.objects if isinstance(o, PriorityClass)],
        *builder.templates.values(),
        *[o for o in builder.objects if not isinstance(o, PriorityClass)],
    ]
    if not items or items[0].arrival > 0:
        first = f"the first pod at {items[0].arrival:g} s" if items else "no pods"
        raise ValueError(
            f"scenario {scenario.metadata.name}: nothing is created at time 0 ({first}); "
            "start a workload at 0 with at least one replica (a trace starts at its first pod)"
        )
    return Trace(name or scenario.metadata.name, items, objects, name, builder.faults)
