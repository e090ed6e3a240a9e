"""Checks a reader makes on the gangs of its pods before any replay starts.

Called by the trace reader (``simulator/traces/dump.py``) and the cluster-dump loader
(``simulator/clusters.py``) with every pod they read and the PodGroups of the same input.
Each check mirrors what makes a real cluster refuse or hang, turned into a one-line error
naming the objects:

* a pod labelled ``scheduling.x-k8s.io/pod-group: G`` whose PodGroup ``G`` is not in the
  input: coscheduling's PreFilter rejects such a pod forever ("PodGroup not found"), so
  tessera refuses the input instead of guessing a size;
* a PodGroup whose ``minMember`` is missing, zero or above
  :data:`~scheduler.api.limits.MAX_GANG_SIZE` (a gang of no pods, or one too large to
  place);
* members of one gang that disagree on its size (LWS ``size`` or ``tessera.io/gang-size``
  annotations differing), or a size annotation that cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scheduler.api.errors import LoadError
from scheduler.api.limits import MAX_GANG_SIZE
from scheduler.api.loaders import Origin
from scheduler.api.pod import Pod
from scheduler.api.podgroup import POD_GROUP_LABEL, PodGroup
from scheduler.framework.podinfo import GangSpecError, gang_of

__all__ = ["check_gangs", "check_pod_groups"]


def check_pod_groups(groups: Iterable[tuple[PodGroup, Origin]]) -> None:
    """Every PodGroup has a usable ``minMember`` (see the module docstring)."""
    for group, where in groups:
        size = group.spec.min_member
        if size is None or size < 1:
            raise where.error(
                f"{size if size is not None else 'missing'}: a PodGroup needs at least 1 member",
                kind=group.kind,
                name=group.key,
                path=("spec", "minMember"),
            )
        if size > MAX_GANG_SIZE:
            raise where.error(
                f"{size}: more than tessera's limit of {MAX_GANG_SIZE} pods per gang",
                kind=group.kind,
                name=group.key,
                path=("spec", "minMember"),
            )


def check_gangs(pods: Iterable[tuple[Pod, Origin]], pod_groups: Mapping[str, PodGroup]) -> None:
    """Every pod's gang can be read and its members agree (see the module docstring).

    ``pod_groups`` are the input's PodGroups by ``namespace/name``. Raises LoadError.
    """
    sizes: dict[str, tuple[int, Pod, Origin]] = {}
    for pod, where in pods:
        namespace = pod.metadata.namespace or "default"
        group = pod.metadata.labels.get(POD_GROUP_LABEL)
        if group is not None and f"{namespace}/{group}" not in pod_groups:
            raise where.error(
                f"PodGroup {namespace}/{group} not found in the input (coscheduling never "
                "schedules a pod of a missing PodGroup)",
                kind="Pod",
                name=f"{namespace}/{pod.metadata.name}",
                path=("metadata", "labels", POD_GROUP_LABEL),
            )
        try:
            gang = gang_of(pod, pod_groups)
        except GangSpecError as exc:
            raise LoadError(
                str(exc), source=where.source, document=where.document, item=where.item
            ) from None
        if gang is None:
            continue
        if gang.size > MAX_GANG_SIZE:
            raise where.error(
                f"gang {gang.key}: {gang.size} members, more than tessera's limit of "
                f"{MAX_GANG_SIZE}",
                kind="Pod",
                name=f"{namespace}/{pod.metadata.name}",
            )
        first = sizes.get(gang.key)
        if first is None:
            sizes[gang.key] = (gang.size, pod, where)
        elif first[0] != gang.size:
            raise where.error(
                f"gang {gang.key}: size {gang.size} here but {first[0]} on Pod "
                f"{first[1].metadata.namespace}/{first[1].metadata.name} at {first[2]}",
                kind="Pod",
                name=f"{namespace}/{pod.metadata.name}",
            )
