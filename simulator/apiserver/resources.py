"""The resources the API facade serves: one :class:`Resource` row per kind.

This table is the single source for discovery documents, URL routing, field selectors,
generation stamping and Table columns. The rows mirror what a 1.35 kube-apiserver (plus the
LeaderWorkerSet and scheduler-plugins CRDs) advertises for these kinds: scope, kind, list
kind, singular name, short names, categories, verbs and subresources (see
docs/apiserver.md for the upstream files).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.apiserver.status import bad_request

READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "delete", "deletecollection", "patch", "update")
ALL_VERBS = tuple(sorted(READ_VERBS + WRITE_VERBS))

METADATA_FIELDS = ("metadata.name", "metadata.namespace")
"""Field selectors every resource supports (upstream ``DefaultClusterScopedAttr`` /
``DefaultNamespaceScopedAttr``)."""

DEFAULT_FIELD_ERROR = (
    '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'
)
"""The field-label error of kinds without their own conversion function
(``k8s.io/apimachinery/pkg/runtime/conversion.go`` ``DefaultMetaV1FieldSelectorConversion``,
which accepts ``metadata.namespace`` even for cluster-scoped kinds)."""

FIELD_NOT_SUPPORTED = "field label not supported: {label}"
"""The field-label error of the core kinds' conversion functions
(``pkg/apis/core/v1/conversion.go``) and of custom resources
(``k8s.io/apiextensions-apiserver/pkg/apiserver/conversion/converter.go`` ``crConverter``)."""


@dataclass(frozen=True, slots=True)
class Subresource:
    """A subresource such as ``pods/binding``: its response kind and verbs."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


@dataclass(frozen=True, slots=True)
class Resource:
    """One served resource (``pods``, ``resourceslices``, ...).

    ``fields`` are the field-selector labels the resource accepts besides ``metadata.name``
    and ``metadata.namespace`` (for namespaced resources); ``field_error`` is the message
    (with ``{label}``) of the kind's field-label conversion function for any other label,
    and ``field_aliases`` the labels it renames (a pod's ``spec.host``); ``generation`` says
    whether writes stamp ``metadata.generation`` (1 on create, +1 when anything but metadata
    and status changes), as the upstream strategies of these kinds do.
    """

    group: str
    version: str
    name: str
    kind: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    generation: bool = True
    field_error: str = DEFAULT_FIELD_ERROR
    field_aliases: tuple[tuple[str, str], ...] = ()

    @property
    def group_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise (an ``apiVersion``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """The kind of a list response (``PodList``)."""
        return f"{self.kind}List"

    @property
    def field_labels(self) -> frozenset[str]:
        """Every field-selector label the resource accepts (after aliasing)."""
        default = self.field_error == DEFAULT_FIELD_ERROR
        base = METADATA_FIELDS if self.namespaced or default else ("metadata.name",)
        return frozenset((*base, *self.fields))

    def field_label(self, label: str) -> str:
        """The kind's field-label conversion (``Scheme.ConvertFieldLabel``): ``label`` as
        stored (aliases renamed), or ApiError 400 with the kind's message when the kind
        cannot select on it."""
        label = dict(self.field_aliases).get(label, label)
        if label not in self.field_labels:
            raise bad_request(self.field_error.format(label=label))
        return label

    def subresource(self, name: str) -> Subresource | None:
        """The named subresource, or None."""
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


def _status(group: str, version: str, kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"), group, version)


DRA = "resource.k8s.io"
LWS = "leaderworkerset.x-k8s.io"
PODGROUPS = "scheduling.x-k8s.io"

RESOURCES: tuple[Resource, ...] = (
    Resource(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        "pod",
        ("po",),
        ("all",),
        fields=(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ),
        field_error=FIELD_NOT_SUPPORTED,
        field_aliases=(("spec.host", "spec.nodeName"),),
        subresources=(
            Subresource("binding", "Binding", ("create",)),
            _status("", "v1", "Pod"),
        ),
        generation=False,
    ),
    Resource(
        "",
        "v1",
        "nodes",
        "Node",
        False,
        "node",
        ("no",),
        fields=("spec.unschedulable",),
        field_error=FIELD_NOT_SUPPORTED,
        subresources=(_status("", "v1", "Node"),),
        generation=False,
    ),
    Resource(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        "namespace",
        ("ns",),
        fields=("status.phase",),
        field_error=FIELD_NOT_SUPPORTED,
        subresources=(_status("", "v1", "Namespace"),),
        generation=False,
    ),
    Resource(
        "",
        "v1",
        "events",
        "Event",
        True,
        "event",
        ("ev",),
        fields=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
        field_error=FIELD_NOT_SUPPORTED,
        generation=False,
    ),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False,
             "priorityclass", ("pc",), generation=False),
    Resource(DRA, "v1", "deviceclasses", "DeviceClass", False, "deviceclass"),
    Resource(DRA, "v1", "resourceslices", "ResourceSlice", False, "resourceslice",
             fields=("spec.nodeName", "spec.driver"),
             field_error="field label not supported for resource.k8s.io/v1, "
             "Kind=ResourceSlice: {label}"),
    Resource(DRA, "v1", "resourceclaims", "ResourceClaim", True, "resourceclaim",
             subresources=(_status(DRA, "v1", "ResourceClaim"),)),
    Resource(DRA, "v1", "resourceclaimtemplates", "ResourceClaimTemplate", True,
             "resourceclaimtemplate"),
    Resource("apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",),
             ("all",), subresources=(_status("apps", "v1", "Deployment"),)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, "replicaset", ("rs",),
             ("all",), subresources=(_status("apps", "v1", "ReplicaSet"),)),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, "statefulset", ("sts",),
             ("all",), subresources=(_status("apps", "v1", "StatefulSet"),)),
    Resource("batch", "v1", "jobs", "Job", True, "job", (), ("all",),
             fields=("status.successful",),
             field_error='field label "{label}" not supported for batchv1.Job',
             subresources=(_status("batch", "v1", "Job"),)),
    Resource(LWS, "v1", "leaderworkersets", "LeaderWorkerSet", True, "leaderworkerset",
             ("lws",), field_error=FIELD_NOT_SUPPORTED,
             subresources=(_status(LWS, "v1", "LeaderWorkerSet"),)),
    Resource(PODGROUPS, "v1alpha1", "podgroups", "PodGroup", True, "podgroup", ("pg", "pgs"),
             field_error=FIELD_NOT_SUPPORTED,
             subresources=(_status(PODGROUPS, "v1alpha1", "PodGroup"),)),
)  # fmt: skip


@dataclass(slots=True)
class ResourceTable:
    """Lookup of :data:`RESOURCES` by URL segments, kind and short name."""

    resources: tuple[Resource, ...] = RESOURCES
    by_path: dict[tuple[str, str, str], Resource] = field(default_factory=dict)
    by_kind: dict[tuple[str, str], Resource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.resources:
            self.by_path[(r.group, r.version, r.name)] = r
            self.by_kind[(r.group, r.kind)] = r

    def find(self, group: str, version: str, name: str) -> Resource | None:
        """The resource served at ``/apis/group/version/name`` (group "" = core)."""
        return self.by_path.get((group, version, name))

    def for_kind(self, group: str, kind: str) -> Resource | None:
        """The resource of an object's API group and kind."""
        return self.by_kind.get((group, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Non-core groups -> their served versions, in table order."""
        out: dict[str, list[str]] = {}
        for r in self.resources:
            if r.group and r.version not in out.setdefault(r.group, []):
                out[r.group].append(r.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        """The resources of one group version, in table order."""
        return [r for r in self.resources if r.group == group and r.version == version]


TABLE = ResourceTable()
"""The served resources."""
