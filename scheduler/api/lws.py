"""LeaderWorkerSet (``leaderworkerset.x-k8s.io/v1``) and the label/annotation keys LWS puts
on its pods (docs/semantics/lws.md §2-3).

Gang recognition reads plain pod labels and annotations (these constants); the LWS object
itself is read for its size, templates and exclusive-topology annotation, e.g. when a dump
contains the LWS before its pods exist.
"""

from __future__ import annotations

from pydantic import Field

from .meta import K8sModel, KubeObject, Loose, StrictInt
from .pod import PodTemplateSpec

__all__ = [
    "LWS_API_VERSION",
    "LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION",
    "LWS_GROUP",
    "LWS_GROUP_INDEX_LABEL",
    "LWS_GROUP_KEY_LABEL",
    "LWS_LEADER_NAME_ANNOTATION",
    "LWS_LEADER_REQUESTS_TPUS_ANNOTATION",
    "LWS_NAME_LABEL",
    "LWS_REPLICAS_ANNOTATION",
    "LWS_SIZE_ANNOTATION",
    "LWS_SUBDOMAIN_POLICY_ANNOTATION",
    "LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION",
    "LWS_SUBGROUP_INDEX_LABEL",
    "LWS_SUBGROUP_KEY_LABEL",
    "LWS_SUBGROUP_POLICY_TYPE_ANNOTATION",
    "LWS_SUBGROUP_SIZE_ANNOTATION",
    "LWS_TEMPLATE_REVISION_HASH_LABEL",
    "LWS_WORKER_INDEX_LABEL",
    "LeaderWorkerSet",
    "LeaderWorkerSetSpec",
    "LeaderWorkerTemplate",
    "SubGroupPolicy",
]

LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
_PREFIX = "leaderworkerset.sigs.k8s.io/"

# Pod labels (§2).
LWS_NAME_LABEL = _PREFIX + "name"
LWS_WORKER_INDEX_LABEL = _PREFIX + "worker-index"  # "0" on the leader
LWS_GROUP_INDEX_LABEL = _PREFIX + "group-index"
LWS_GROUP_KEY_LABEL = _PREFIX + "group-key"
LWS_TEMPLATE_REVISION_HASH_LABEL = _PREFIX + "template-revision-hash"
LWS_SUBGROUP_INDEX_LABEL = _PREFIX + "subgroup-index"
LWS_SUBGROUP_KEY_LABEL = _PREFIX + "subgroup-key"

# Pod annotations (§3).
LWS_SIZE_ANNOTATION = _PREFIX + "size"  # pods per group, leader included
LWS_LEADER_NAME_ANNOTATION = _PREFIX + "leader-name"  # present only on workers
LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION = _PREFIX + "exclusive-topology"
LWS_SUBGROUP_SIZE_ANNOTATION = _PREFIX + "subgroup-size"
LWS_SUBGROUP_POLICY_TYPE_ANNOTATION = _PREFIX + "subgroup-policy-type"
LWS_SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION = _PREFIX + "subgroup-exclusive-topology"
LWS_SUBDOMAIN_POLICY_ANNOTATION = _PREFIX + "subdomainPolicy"
LWS_LEADER_REQUESTS_TPUS_ANNOTATION = _PREFIX + "leader-requests-tpus"
LWS_REPLICAS_ANNOTATION = _PREFIX + "replicas"  # on the leader StatefulSet


class SubGroupPolicy(K8sModel):
    """``subGroupPolicy``: ``subGroupSize`` and ``subGroupPolicyType``
    (``LeaderWorker`` or ``LeaderExcluded``)."""

    sub_group_size: StrictInt | None = None
    sub_group_policy_type: str | None = None


class LeaderWorkerTemplate(K8sModel):
    """``spec.leaderWorkerTemplate``: group ``size`` (leader included, default 1) and the
    leader/worker pod templates (the leader uses the worker template when it has none)."""

    size: StrictInt | None = None
    leader_template: PodTemplateSpec | None = None
    worker_template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)
    restart_policy: str | None = None
    sub_group_policy: SubGroupPolicy | None = None


class LeaderWorkerSetSpec(K8sModel):
    """``spec``: ``replicas`` (groups, default 1), the template, startup and rollout policy."""

    replicas: StrictInt | None = None
    leader_worker_template: LeaderWorkerTemplate = Field(default_factory=LeaderWorkerTemplate)
    startup_policy: str | None = None
    rollout_strategy: Loose | None = None
    network_config: Loose | None = None


class LeaderWorkerSet(KubeObject):
    """``leaderworkerset.x-k8s.io/v1`` LeaderWorkerSet."""

    api_version: str = LWS_API_VERSION
    kind: str = "LeaderWorkerSet"
    spec: LeaderWorkerSetSpec = Field(default_factory=LeaderWorkerSetSpec)
    status: Loose | None = None

    @property
    def group_size(self) -> int:
        """Pods per group including the leader (API default 1)."""
        size = self.spec.leader_worker_template.size
        return 1 if size is None else size

    @property
    def replicas(self) -> int:
        """Number of groups (API default 1)."""
        return 1 if self.spec.replicas is None else self.spec.replicas

    @property
    def exclusive_topology(self) -> str | None:
        """The node-label key of the one-group-per-domain rule, if set."""
        return self.metadata.annotations.get(LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION)

    @property
    def leader_template(self) -> PodTemplateSpec:
        """The leader's pod template (the worker template when none is given)."""
        template = self.spec.leader_worker_template
        return template.leader_template or template.worker_template
