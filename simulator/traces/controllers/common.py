"""What every simulated workload controller shares: planned pods, the context, templates.

The controllers of this package (one module per controller) turn a workload object into
the pods its real controller would create, as :class:`PlannedPod` values: the pod exactly
as the API server would store it (template labels, annotations and spec, the controller's
own labels, owner reference, generated name, API defaults) and *when* it appears relative
to the others (at once, after another pod is bound, or when a pod of the same workload
completes). ``simulator/traces/dump.py`` turns planned pods into trace items; the replay
creates them at those moments. Rules and upstream sources: ``docs/semantics/manifests.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from scheduler.api.defaults import default_pod
from scheduler.api.loaders import ObjectReader, Origin
from scheduler.api.meta import KubeObject, ObjectMeta, OwnerReference
from scheduler.api.names import NameTakenError
from scheduler.api.pod import Pod, PodTemplateSpec, pod_key
from scheduler.api.validation import check_object

__all__ = [
    "ControllerContext",
    "PlannedPod",
    "controller_ref",
    "object_uid",
    "pod_from_template",
    "stand_in_uid",
]

_UID_NAMESPACE = uuid.UUID("7f3c5a1e-2b64-4c1d-9a57-0e6f4b8d2c31")


@dataclass(frozen=True, slots=True)
class PlannedPod:
    """A pod a controller creates, and when.

    * ``after_bound_of``: created once the pod with that ``namespace/name`` key is bound
      (StatefulSet ``OrderedReady``, LeaderWorkerSet workers of an exclusive group);
    * ``delay``: seconds after the moment it would otherwise appear (LWS workers of a
      ``LeaderCreated`` group appear a reconcile after their leader);
    * ``waits_slot`` / ``completes_slot``: a pod with ``waits_slot = S`` is created when a pod
      with ``completes_slot = S`` completes, one per completion, in order (a Job keeps
      ``parallelism`` pods running until ``completions`` have succeeded);
    * ``follow_topology``: when created, the pod gets ``nodeSelector {key: value}`` with the
      value of that node label on the node of ``after_bound_of`` (LWS exclusive placement).

    ``owner`` is the workload (its duration annotations apply to the pod); ``origin`` is where
    the workload was read, for messages.
    """

    pod: Pod
    origin: Origin
    owner: KubeObject | None = None
    after_bound_of: str | None = None
    delay: float = 0.0
    waits_slot: str | None = None
    completes_slot: str | None = None
    follow_topology: str | None = None

    @property
    def key(self) -> str:
        """``namespace/name`` of the pod (the same key as :attr:`TraceItem.key`)."""
        return pod_key(self.pod)


@dataclass(slots=True)
class ControllerContext:
    """What controllers share while one input is expanded.

    ``reader`` is the input's :class:`~scheduler.api.loaders.ObjectReader`: names the
    controllers make are checked against, and recorded with, every object it read, so a
    generated name never repeats one in the input. ``pods`` are the input's own pods, by
    namespace, so that a controller adopts the pods it already has (a dump of a running
    cluster holds the workload and its pods).
    """

    reader: ObjectReader
    pods: dict[str, list[Pod]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def from_pods(reader: ObjectReader, pods: Iterable[Pod]) -> ControllerContext:
        """A context over the input's pods."""
        by_namespace: dict[str, list[Pod]] = {}
        for pod in pods:
            by_namespace.setdefault(pod.metadata.namespace or "", []).append(pod)
        return ControllerContext(reader, by_namespace)

    def owned(self, namespace: str, kind: str, name: str) -> list[Pod]:
        """The input's pods whose controller reference is ``kind``/``name`` in ``namespace``."""
        out = []
        for pod in self.pods.get(namespace, ()):
            ref = pod.metadata.controller_ref()
            if ref is not None and ref.kind == kind and ref.name == name:
                out.append(pod)
        return out

    def generate_name(self, namespace: str, base: str, where: Origin) -> str:
        """A pod name for ``generateName: base`` not used by any pod of the input."""

        def taken(name: str) -> bool:
            return self.reader.is_taken("", "Pod", namespace, name)

        try:
            name = self.reader.names.generate(base, taken)
        except NameTakenError as exc:
            raise where.error(str(exc)) from None
        self.reader.claim_name("", "Pod", namespace, name, where)
        return name

    def take_name(self, namespace: str, name: str, where: Origin, kind: str = "Pod") -> bool:
        """Record a fixed name a controller gives (StatefulSet ordinals); False when the
        input already has an object of that kind and name (the controller then adopts or
        leaves it)."""
        group = "apps" if kind in ("ReplicaSet", "StatefulSet", "Deployment") else ""
        return self.reader.claim_name(group, kind, namespace, name, where)


def object_uid(obj: KubeObject) -> str:
    """The object's ``uid``, or a stable stand-in for objects read from manifests (the API
    server would assign a random UUID; a uuid5 of kind, namespace and name keeps replays
    reproducible)."""
    if obj.metadata.uid:
        return obj.metadata.uid
    return stand_in_uid(obj.kind, obj.metadata.namespace or "", obj.name)


def stand_in_uid(kind: str, namespace: str, name: str) -> str:
    """The uid tessera gives an object the input does not hold (a controller's own
    StatefulSet, a created pod): a uuid5 of kind, namespace and name."""
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}/{namespace}/{name}"))


def controller_ref(owner: KubeObject) -> OwnerReference:
    """``metav1.NewControllerRef``: the owner with ``controller`` and ``blockOwnerDeletion``."""
    return OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.name,
        uid=object_uid(owner),
        controller=True,
        block_owner_deletion=True,
    )


def pod_from_template(
    template: PodTemplateSpec,
    owner: KubeObject,
    *,
    name: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    finalizers: tuple[str, ...] = (),
    owner_ref: OwnerReference | None = None,
    where: Origin,
    template_path: tuple[str, ...] = ("spec", "template"),
) -> Pod:
    """``controller.GetPodFromTemplate`` + create: the template's labels, annotations,
    finalizers and spec, the controller's extra ``labels``/``annotations``/``finalizers``,
    the owner reference, ``name`` (already generated), the owner's namespace and creation
    time, then API defaulting; an invalid result (a negative request in the template) is
    refused naming the workload."""
    namespace = owner.metadata.namespace or "default"
    meta = ObjectMeta(
        name=name,
        generate_name=None,
        namespace=namespace,
        labels={**template.metadata.labels, **(labels or {})},
        annotations={**template.metadata.annotations, **(annotations or {})},
        finalizers=tuple(template.metadata.finalizers) + finalizers,
        owner_references=(owner_ref or controller_ref(owner),),
        creation_timestamp=owner.metadata.creation_timestamp,
    )
    meta = meta.model_copy(update={"uid": stand_in_uid("Pod", namespace, name)})
    pod = Pod(metadata=meta, spec=template.spec)
    problem = check_object(pod)
    if problem is not None:
        path = (*template_path, *problem[0])
        raise where.error(problem[1], kind=owner.kind, name=owner.key, path=path)
    return default_pod(pod)
