"""Workload controllers' objects: ``apps/v1`` Deployment, ReplicaSet, StatefulSet and
``batch/v1`` Job, CronJob — the fields that decide which pods exist and when.

tessera does not schedule these objects; readers of traces expand them into the pods their
controllers would create (``simulator/traces/controllers/``, rules in
``docs/semantics/manifests.md`` §3-6). API defaults are applied by the properties below,
exactly as ``pkg/apis/apps/v1`` and ``pkg/apis/batch/v1`` ``SetDefaults_*`` set them:
``replicas`` 1, StatefulSet ``podManagementPolicy`` ``OrderedReady`` and ordinals from 0,
Job ``parallelism`` 1 and ``completions`` 1 when neither is given, ``completionMode``
``NonIndexed``, ``suspend`` false.
"""

from __future__ import annotations

from pydantic import Field

from .meta import K8sModel, KubeObject, Loose, StrictBool, StrictInt
from .pod import PodTemplateSpec
from .selectors import LabelSelector

__all__ = [
    "WORKLOAD_KINDS",
    "CronJob",
    "Deployment",
    "DeploymentSpec",
    "Job",
    "JobSpec",
    "ReplicaSet",
    "ReplicaSetSpec",
    "StatefulSet",
    "StatefulSetOrdinals",
    "StatefulSetSpec",
]


class DeploymentSpec(K8sModel):
    """``spec`` of a Deployment."""

    replicas: StrictInt | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)
    paused: StrictBool | None = None
    strategy: Loose | None = None


class Deployment(KubeObject):
    """``apps/v1`` Deployment."""

    api_version: str = "apps/v1"
    kind: str = "Deployment"
    spec: DeploymentSpec = Field(default_factory=DeploymentSpec)
    status: Loose | None = None

    @property
    def replicas(self) -> int:
        """``spec.replicas`` (API default 1)."""
        return 1 if self.spec.replicas is None else self.spec.replicas


class ReplicaSetSpec(K8sModel):
    """``spec`` of a ReplicaSet."""

    replicas: StrictInt | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)


class ReplicaSet(KubeObject):
    """``apps/v1`` ReplicaSet."""

    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    spec: ReplicaSetSpec = Field(default_factory=ReplicaSetSpec)
    status: Loose | None = None

    @property
    def replicas(self) -> int:
        """``spec.replicas`` (API default 1)."""
        return 1 if self.spec.replicas is None else self.spec.replicas


class StatefulSetOrdinals(K8sModel):
    """``spec.ordinals``: the first ordinal (``start``, default 0)."""

    start: StrictInt | None = None


class StatefulSetSpec(K8sModel):
    """``spec`` of a StatefulSet."""

    replicas: StrictInt | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)
    service_name: str | None = None
    pod_management_policy: str | None = None
    ordinals: StatefulSetOrdinals | None = None
    volume_claim_templates: tuple[Loose, ...] = Field(default_factory=tuple)


class StatefulSet(KubeObject):
    """``apps/v1`` StatefulSet."""

    api_version: str = "apps/v1"
    kind: str = "StatefulSet"
    spec: StatefulSetSpec = Field(default_factory=StatefulSetSpec)
    status: Loose | None = None

    @property
    def replicas(self) -> int:
        """``spec.replicas`` (API default 1)."""
        return 1 if self.spec.replicas is None else self.spec.replicas

    @property
    def first_ordinal(self) -> int:
        """``spec.ordinals.start`` (default 0)."""
        ordinals = self.spec.ordinals
        return 0 if ordinals is None or ordinals.start is None else ordinals.start

    @property
    def ordered_ready(self) -> bool:
        """``podManagementPolicy`` ``OrderedReady`` (the API default) rather than ``Parallel``."""
        return (self.spec.pod_management_policy or "OrderedReady") == "OrderedReady"


class JobSpec(K8sModel):
    """``spec`` of a Job."""

    parallelism: StrictInt | None = None
    completions: StrictInt | None = None
    completion_mode: str | None = None
    suspend: StrictBool | None = None
    manual_selector: StrictBool | None = None
    selector: LabelSelector | None = None
    backoff_limit: StrictInt | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)


class Job(KubeObject):
    """``batch/v1`` Job."""

    api_version: str = "batch/v1"
    kind: str = "Job"
    spec: JobSpec = Field(default_factory=JobSpec)
    status: Loose | None = None

    @property
    def parallelism(self) -> int:
        """``spec.parallelism`` (API default 1)."""
        return 1 if self.spec.parallelism is None else self.spec.parallelism

    @property
    def completions(self) -> int | None:
        """``spec.completions``: 1 when neither it nor parallelism is given; None (a work
        queue: done when any pod succeeds) when only parallelism is."""
        if self.spec.completions is None and self.spec.parallelism is None:
            return 1
        return self.spec.completions

    @property
    def indexed(self) -> bool:
        """``completionMode: Indexed`` (default ``NonIndexed``)."""
        return self.spec.completion_mode == "Indexed"


class CronJob(KubeObject):
    """``batch/v1`` CronJob (read only to report that its Jobs are not generated)."""

    api_version: str = "batch/v1"
    kind: str = "CronJob"
    spec: Loose | None = None
    status: Loose | None = None


WORKLOAD_KINDS: dict[tuple[str, str], tuple[type[KubeObject], tuple[str, ...]]] = {
    ("apps", "Deployment"): (Deployment, ("v1",)),
    ("apps", "ReplicaSet"): (ReplicaSet, ("v1",)),
    ("apps", "StatefulSet"): (StatefulSet, ("v1",)),
    ("batch", "Job"): (Job, ("v1",)),
    ("batch", "CronJob"): (CronJob, ("v1",)),
}
"""(API group, kind) -> (model, served versions) for the workload kinds, in the shape of the
loaders' model table."""
