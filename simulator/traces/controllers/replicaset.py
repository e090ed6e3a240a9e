"""ReplicaSet (and the ReplicaSets a Deployment creates) as the controllers expand them.

``pkg/controller/replicaset``: a ReplicaSet keeps ``spec.replicas`` pods matching its
selector; it adopts pods it already owns and creates the rest through
``controller.GetPodFromTemplate`` — template labels and annotations, ``generateName:
<replicaset>-`` (the API server appends five characters), a controller owner reference.
``pkg/controller/deployment``: a Deployment creates one ReplicaSet named
``<deployment>-<pod-template-hash>`` whose template and selector add the label
``pod-template-hash``; a paused Deployment creates none. All pods of one ReplicaSet are
created at once (no ordering: the replica count is reached in one sync).
"""

from __future__ import annotations

import json

from scheduler.api.defaults import DEFAULT_NAMESPACE
from scheduler.api.limits import MAX_REPLICAS
from scheduler.api.loaders import Origin
from scheduler.api.meta import ObjectMeta
from scheduler.api.names import fnv32a, safe_encode
from scheduler.api.pod import PodTemplateSpec
from scheduler.api.workloads import Deployment, ReplicaSet, ReplicaSetSpec
from simulator.traces.controllers.common import (
    ControllerContext,
    PlannedPod,
    controller_ref,
    pod_from_template,
)

__all__ = [
    "POD_TEMPLATE_HASH_LABEL",
    "check_count",
    "deployment_replicaset",
    "expand_deployment",
    "expand_replicaset",
    "template_hash",
]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"


def template_hash(template: PodTemplateSpec) -> str:
    """The ``pod-template-hash`` stand-in: FNV-1a of the template's canonical JSON, encoded
    with ``rand.SafeEncodeString`` as the Deployment controller encodes its hash. (Upstream
    hashes the Go struct's printed form, which Python cannot reproduce; the value differs,
    its role — equal templates, equal hash — does not.)"""
    text = json.dumps(template.to_dict(), sort_keys=True, separators=(",", ":"))
    return safe_encode(str(fnv32a(text.encode())))


def check_count(value: int, path: tuple[str, ...], kind: str, name: str, where: Origin) -> None:
    """A replica or pod count a controller multiplies by: refused when negative or above
    :data:`~scheduler.api.limits.MAX_REPLICAS`, before any pod is built."""
    if value < 0:
        raise where.error(
            f"{value}: must be greater than or equal to 0", kind=kind, name=name, path=path
        )
    if value > MAX_REPLICAS:
        raise where.error(
            f"{value}: more than tessera's limit of {MAX_REPLICAS} pods per workload",
            kind=kind,
            name=name,
            path=path,
        )


def expand_replicaset(rs: ReplicaSet, ctx: ControllerContext, where: Origin) -> list[PlannedPod]:
    """The pods the ReplicaSet controller creates for ``rs`` (those it already owns in the
    input are adopted, not created again)."""
    check_count(rs.replicas, ("spec", "replicas"), rs.kind, rs.key, where)
    namespace = rs.metadata.namespace or DEFAULT_NAMESPACE
    missing = rs.replicas - len(ctx.owned(namespace, "ReplicaSet", rs.name))
    ref = controller_ref(rs)
    planned = []
    for _ in range(max(missing, 0)):
        name = ctx.generate_name(namespace, f"{rs.name}-", where)
        pod = pod_from_template(rs.spec.template, rs, name=name, owner_ref=ref, where=where)
        planned.append(PlannedPod(pod, where, owner=rs))
    return planned


def deployment_replicaset(deployment: Deployment) -> ReplicaSet:
    """The ReplicaSet the Deployment controller creates for a new Deployment."""
    template = deployment.spec.template
    digest = template_hash(template)
    labels = {**template.metadata.labels, POD_TEMPLATE_HASH_LABEL: digest}
    rs_template = template.model_copy(
        update={"metadata": template.metadata.model_copy(update={"labels": labels})}
    )
    selector = deployment.spec.selector
    if selector is not None:
        selector = selector.model_copy(
            update={"match_labels": {**selector.match_labels, POD_TEMPLATE_HASH_LABEL: digest}}
        )
    meta = ObjectMeta(
        name=f"{deployment.name}-{digest}",
        namespace=deployment.metadata.namespace,
        labels=labels,
        annotations={"deployment.kubernetes.io/revision": "1"},
        owner_references=(controller_ref(deployment),),
        creation_timestamp=deployment.metadata.creation_timestamp,
    )
    spec = ReplicaSetSpec(replicas=deployment.replicas, selector=selector, template=rs_template)
    return ReplicaSet(metadata=meta, spec=spec)


def expand_deployment(
    deployment: Deployment, ctx: ControllerContext, where: Origin, has_replicaset: bool
) -> list[PlannedPod]:
    """The pods of a new Deployment: its ReplicaSet's pods, created at once. Nothing when
    the Deployment is paused or when the input already holds a ReplicaSet it owns
    (``has_replicaset``: that ReplicaSet is expanded on its own)."""
    check_count(deployment.replicas, ("spec", "replicas"), deployment.kind, deployment.key, where)
    if has_replicaset:
        return []
    if deployment.spec.paused:
        ctx.notes.append(
            f"{where} (Deployment {deployment.key}): paused, so it creates no ReplicaSet and "
            "no pods"
        )
        return []
    rs = deployment_replicaset(deployment)
    namespace = rs.metadata.namespace or DEFAULT_NAMESPACE
    if not ctx.take_name(namespace, rs.name, where, kind="ReplicaSet"):
        return []
    planned = expand_replicaset(rs, ctx, where)
    return [PlannedPod(p.pod, where, owner=deployment) for p in planned]
