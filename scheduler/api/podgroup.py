"""Coscheduling PodGroup (``scheduling.x-k8s.io/v1alpha1``, scheduler-plugins).

Pods join a group with the label :data:`POD_GROUP_LABEL`; the group is schedulable only when
``minMember`` of its pods can run together.
"""

from __future__ import annotations

from pydantic import Field

from .meta import K8sModel, KubeObject, Loose, QuantityMap, StrictInt

__all__ = ["POD_GROUP_API_VERSION", "POD_GROUP_LABEL", "PodGroup", "PodGroupSpec"]

POD_GROUP_API_VERSION = "scheduling.x-k8s.io/v1alpha1"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"


class PodGroupSpec(K8sModel):
    """``minMember`` (gang size; absent means 0), ``minResources``, ``scheduleTimeoutSeconds``."""

    min_member: StrictInt | None = None
    min_resources: QuantityMap = Field(default_factory=dict)
    schedule_timeout_seconds: StrictInt | None = None


class PodGroup(KubeObject):
    """Namespaced PodGroup. The older group ``scheduling.sigs.k8s.io`` loads too."""

    api_version: str = POD_GROUP_API_VERSION
    kind: str = "PodGroup"
    spec: PodGroupSpec = Field(default_factory=PodGroupSpec)
    status: Loose | None = None
