"""``scheduling.k8s.io/v1`` PriorityClass: maps ``priorityClassName`` to an integer priority."""

from __future__ import annotations

from .meta import KubeObject, StrictBool, StrictInt

__all__ = ["PriorityClass"]


class PriorityClass(KubeObject):
    """Cluster-scoped PriorityClass. Its fields sit at the top level (there is no ``spec``).

    ``preemptionPolicy`` is ``PreemptLowerPriority`` (API default) or ``Never``;
    ``globalDefault: true`` makes it the priority of pods that name no class.
    """

    api_version: str = "scheduling.k8s.io/v1"
    kind: str = "PriorityClass"
    value: StrictInt = 0
    global_default: StrictBool | None = None
    preemption_policy: str | None = None
    description: str | None = None
