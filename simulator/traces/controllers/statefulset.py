"""StatefulSet as the StatefulSet controller expands it (``pkg/controller/statefulset``).

Pods are named ``<statefulset>-<ordinal>`` for ordinals ``start .. start+replicas-1``
(``spec.ordinals.start``, default 0), built with ``controller.GetPodFromTemplate`` and
labelled ``statefulset.kubernetes.io/pod-name`` (the pod's name), ``apps.kubernetes.io/pod-index``
(the ordinal; PodIndexLabel, GA since 1.32) and ``controller-revision-hash``
(``<statefulset>-<hash>``, the current ControllerRevision). With
``podManagementPolicy: OrderedReady`` (the default) ordinal ``i+1`` is created only once ordinal
``i`` is Running and Ready — here, once it is bound; ``Parallel`` creates them all at once.
A pod of that name already in the input is the controller's own and is not created again.
``volumeClaimTemplates`` are noted: tessera models no volumes.
"""

from __future__ import annotations

import json

from scheduler.api.defaults import DEFAULT_NAMESPACE
from scheduler.api.loaders import Origin
from scheduler.api.names import fnv32a, safe_encode
from scheduler.api.workloads import StatefulSet
from simulator.traces.controllers.common import ControllerContext, PlannedPod, pod_from_template
from simulator.traces.controllers.replicaset import check_count

__all__ = [
    "CONTROLLER_REVISION_HASH_LABEL",
    "POD_INDEX_LABEL",
    "POD_NAME_LABEL",
    "expand_statefulset",
]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"


def revision_name(sts: StatefulSet) -> str:
    """``<statefulset>-<hash>``: the ControllerRevision name stand-in (FNV-1a of the
    template's canonical JSON, ``rand.SafeEncodeString``-encoded, as upstream encodes its
    hash of the revision's data)."""
    text = json.dumps(sts.spec.template.to_dict(), sort_keys=True, separators=(",", ":"))
    return f"{sts.name}-{safe_encode(str(fnv32a(text.encode())))}"


def expand_statefulset(sts: StatefulSet, ctx: ControllerContext, where: Origin) -> list[PlannedPod]:
    """The pods the StatefulSet controller creates for ``sts`` (see the module docstring)."""
    check_count(sts.replicas, ("spec", "replicas"), sts.kind, sts.key, where)
    namespace = sts.metadata.namespace or DEFAULT_NAMESPACE
    if sts.spec.volume_claim_templates:
        ctx.notes.append(
            f"{where} (StatefulSet {sts.key}): volumeClaimTemplates are not modelled; its pods "
            "are placed as if their volumes could bind on any node"
        )
    revision = revision_name(sts)
    planned: list[PlannedPod] = []
    previous: str | None = None
    start = sts.first_ordinal
    for ordinal in range(start, start + sts.replicas):
        name = f"{sts.name}-{ordinal}"
        key = f"{namespace}/{name}"
        if not ctx.take_name(namespace, name, where):
            previous = key  # the input holds this pod already: the controller keeps it
            continue
        labels = {
            POD_NAME_LABEL: name,
            POD_INDEX_LABEL: str(ordinal),
            CONTROLLER_REVISION_HASH_LABEL: revision,
        }
        pod = pod_from_template(sts.spec.template, sts, name=name, labels=labels, where=where)
        after = previous if sts.ordered_ready else None
        planned.append(PlannedPod(pod, where, owner=sts, after_bound_of=after))
        previous = key
    return planned
