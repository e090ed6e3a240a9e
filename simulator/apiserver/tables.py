"""``meta.k8s.io/v1`` Table responses: the columns ``kubectl get`` prints.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
server's columns (``-o wide`` adds the priority-1 ones). The columns and cell rules follow
kube-apiserver's printers (``pkg/printers/internalversion/printers.go``: printPod,
printNode, printNamespace, printPriorityClass, printDeviceClass, printResourceSlice,
printResourceClaim, printResourceClaimTemplate, printDeployment, printReplicaSet,
printStatefulSet, printJob, printEvent) and, for the two CRDs, the apiextensions default of
Name and Age (``staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/
tableconvertor``). Ages use ``k8s.io/apimachinery/pkg/util/duration.HumanDuration``.
Each row carries the object's metadata as a ``PartialObjectMetadata`` (the default
``includeObject=Metadata``), or the whole object with ``includeObject=Object``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from simulator.apiserver.resources import Resource

Obj = dict[str, Any]
Column = tuple[str, str, int, str]
"""(name, type, priority, description)."""

NONE = "<none>"


def human_duration(seconds: float) -> str:
    """Upstream's ``duration.HumanDuration`` of a span in seconds."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(obj: Obj, now: datetime) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    if not isinstance(stamp, str):
        return "<unknown>"
    try:
        created = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return human_duration((now - created).total_seconds())


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _pod_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, st = obj.get("spec", {}), obj.get("status", {})
    containers = spec.get("containers") or []
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    reason = st.get("reason") or st.get("phase") or ""
    if obj.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    elif not reason and spec.get("schedulingGates"):
        reason = "SchedulingGated"
    gates = spec.get("readinessGates") or []
    return [
        _name(obj),
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        _age(obj, now),
        st.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        st.get("nominatedNodeName") or NONE,
        f"0/{len(gates)}" if gates else NONE,
    ]


def _node_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, st = obj.get("spec", {}), obj.get("status", {})
    state = "Unknown"
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Ready":
            state = "Ready" if cond.get("status") == "True" else "NotReady"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = obj.get("metadata", {}).get("labels") or {}
    roles = sorted(
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    )
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    info = st.get("nodeInfo") or {}
    addresses = st.get("addresses") or []

    def address(kind: str) -> str:
        found = [a.get("address", "") for a in addresses if a.get("type") == kind]
        return ",".join(found) or NONE

    return [
        _name(obj),
        state,
        ",".join(roles) or NONE,
        _age(obj, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _claim_state(obj: Obj) -> str:
    st = obj.get("status", {})
    states = []
    deleted = bool(obj.get("metadata", {}).get("deletionTimestamp"))
    if deleted:
        states.append("deleted")
    if st.get("allocation") is None:
        if not deleted:
            states.append("pending")
    else:
        states.append("allocated")
        if st.get("reservedFor"):
            states.append("reserved")
    return ",".join(states)


def _replicas(obj: Obj, field: str) -> int:
    return int(obj.get("status", {}).get(field, 0) or 0)


def _desired(obj: Obj) -> int:
    """``spec.replicas`` (1 when absent, 0 when null), as kubectl prints it."""
    return int(obj.get("spec", {}).get("replicas", 1) or 0)


def _ready_of_desired(obj: Obj) -> str:
    """The ``READY`` column of deployments and statefulsets: ``ready/desired``."""
    return f"{_replicas(obj, 'readyReplicas')}/{_desired(obj)}"


def _job_status(obj: Obj) -> str:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"])
    if obj.get("spec", {}).get("suspend"):
        return "Suspended"
    return "Running"


NAME_COLUMN: Column = ("Name", "string", 0, "Name must be unique within a namespace.")
AGE_COLUMN: Column = ("Age", "string", 0, "CreationTimestamp of the object.")

Printer = tuple[tuple[Column, ...], Callable[[Obj, datetime], list[Any]]]


def _involved(event: Obj) -> str:
    involved = event.get("involvedObject", {})
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


PRINTERS: dict[str, Printer] = {
    "pods": (
        (
            NAME_COLUMN,
            (
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            ("Status", "string", 0, "The aggregate status of the containers in this pod."),
            (
                "Restarts",
                "string",
                0,
                (
                    "The number of times the containers in this pod have been restarted and when "
                    "the "
                    "last container in this pod has restarted."
                ),
            ),
            AGE_COLUMN,
            (
                "IP",
                "string",
                1,
                "IP address allocated to the pod. Routable at least within the cluster.",
            ),
            ("Node", "string", 1, "Name of the Node this pod is scheduled on."),
            ("Nominated Node", "string", 1, "Name of the node where the pod is nominated to run."),
            ("Readiness Gates", "string", 1, "Pod readiness gates."),
        ),
        _pod_cells,
    ),
    "nodes": (
        (
            NAME_COLUMN,
            ("Status", "string", 0, "The status of the node"),
            ("Roles", "string", 0, "The roles of the node"),
            AGE_COLUMN,
            ("Version", "string", 0, "Kubelet Version reported by the node."),
            ("Internal-IP", "string", 1, "List of addresses reachable to the node."),
            ("External-IP", "string", 1, "List of addresses reachable to the node."),
            ("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release."),
            ("Kernel-Version", "string", 1, "Kernel Version reported by the node."),
            ("Container-Runtime", "string", 1, "Container Runtime Version reported by the node."),
        ),
        _node_cells,
    ),
    "namespaces": (
        (NAME_COLUMN, ("Status", "string", 0, "The status of the namespace"), AGE_COLUMN),
        lambda o, now: [_name(o), o.get("status", {}).get("phase", "Active"), _age(o, now)],
    ),
    "priorityclasses": (
        (
            NAME_COLUMN,
            ("Value", "integer", 0, "Value is the integer value of this priority class."),
            (
                "Global-Default",
                "boolean",
                0,
                (
                    "globalDefault specifies whether this PriorityClass should be considered as "
                    "the "
                    "default priority."
                ),
            ),
            AGE_COLUMN,
            (
                "PreemptionPolicy",
                "string",
                0,
                "PreemptionPolicy is the Policy for preempting pods with lower priority.",
            ),
        ),
        lambda o, now: [
            _name(o),
            o.get("value", 0),
            bool(o.get("globalDefault", False)),
            _age(o, now),
            o.get("preemptionPolicy") or "PreemptLowerPriority",
        ],
    ),
    "resourceslices": (
        (
            NAME_COLUMN,
            ("Node", "string", 0, "nodeName"),
            ("Driver", "string", 0, "driver"),
            ("Pool", "string", 0, "pool"),
            AGE_COLUMN,
        ),
        lambda o, now: [
            _name(o),
            o.get("spec", {}).get("nodeName") or NONE,
            o.get("spec", {}).get("driver", ""),
            o.get("spec", {}).get("pool", {}).get("name", ""),
            _age(o, now),
        ],
    ),
    "resourceclaims": (
        (
            NAME_COLUMN,
            (
                "State",
                "string",
                0,
                "A summary of the current state (allocated, pending, reserved, etc.).",
            ),
            AGE_COLUMN,
        ),
        lambda o, now: [_name(o), _claim_state(o), _age(o, now)],
    ),
    "deployments": (
        (
            NAME_COLUMN,
            ("Ready", "string", 0, "Number of the pod with ready state"),
            (
                "Up-to-date",
                "string",
                0,
                (
                    "Total number of non-terminated pods targeted by this deployment that have the "
                    "desired template spec."
                ),
            ),
            (
                "Available",
                "string",
                0,
                (
                    "Total number of available pods (ready for at least minReadySeconds) "
                    "targeted by "
                    "this deployment."
                ),
            ),
            AGE_COLUMN,
        ),
        lambda o, now: [
            _name(o),
            _ready_of_desired(o),
            _replicas(o, "updatedReplicas"),
            _replicas(o, "availableReplicas"),
            _age(o, now),
        ],
    ),
    "replicasets": (
        (
            NAME_COLUMN,
            ("Desired", "integer", 0, "Number of desired pods."),
            ("Current", "integer", 0, "Number of actually running pods."),
            ("Ready", "integer", 0, "Number of ready pods."),
            AGE_COLUMN,
        ),
        lambda o, now: [
            _name(o),
            _desired(o),
            _replicas(o, "replicas"),
            _replicas(o, "readyReplicas"),
            _age(o, now),
        ],
    ),
    "statefulsets": (
        (NAME_COLUMN, ("Ready", "string", 0, "Number of the pod with ready state"), AGE_COLUMN),
        lambda o, now: [
            _name(o),
            _ready_of_desired(o),
            _age(o, now),
        ],
    ),
    "jobs": (
        (
            NAME_COLUMN,
            ("Status", "string", 0, "Status of the job."),
            ("Completions", "string", 0, "The completion status of the job"),
            ("Duration", "string", 0, "Time required to complete the job."),
            AGE_COLUMN,
        ),
        lambda o, now: [
            _name(o),
            _job_status(o),
            f"{_replicas(o, 'succeeded')}/{o.get('spec', {}).get('completions', 1)}",
            "",
            _age(o, now),
        ],
    ),
    "events": (
        (
            ("Last Seen", "string", 0, "Time when last this event was observed"),
            ("Type", "string", 0, "Type of this event (Normal, Warning)."),
            (
                "Reason",
                "string",
                0,
                (
                    "This should be a short, machine understandable string that gives the reason "
                    "for "
                    "the transition into the object's current status."
                ),
            ),
            ("Object", "string", 0, "The object that this event is about."),
            (
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
        ),
        lambda o, now: [
            _age(
                {"metadata": {"creationTimestamp": o.get("lastTimestamp") or o.get("eventTime")}},
                now,
            ),
            o.get("type", ""),
            o.get("reason", ""),
            _involved(o),
            o.get("message", ""),
        ],
    ),
}

DEFAULT_PRINTER: Printer = ((NAME_COLUMN, AGE_COLUMN), lambda o, now: [_name(o), _age(o, now)])


def column_definitions(resource: Resource) -> list[dict[str, Any]]:
    """The Table's ``columnDefinitions`` for a resource."""
    columns, _ = PRINTERS.get(resource.name, DEFAULT_PRINTER)
    return [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": text,
            "priority": priority,
        }
        for name, kind, priority, text in columns
    ]


def partial_metadata(obj: Obj) -> Obj:
    """The object as ``meta.k8s.io/v1`` PartialObjectMetadata."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def row(resource: Resource, obj: Obj, include: str, now: datetime) -> Obj:
    """One Table row; ``include`` is the ``includeObject`` option (None, Metadata, Object)."""
    _, cells = PRINTERS.get(resource.name, DEFAULT_PRINTER)
    out: Obj = {"cells": cells(obj, now)}
    if include == "Object":
        out["object"] = obj
    elif include != "None":
        out["object"] = partial_metadata(obj)
    return out


def table(
    resource: Resource,
    objects: Sequence[Obj],
    *,
    include: str = "Metadata",
    list_meta: Obj | None = None,
    headers: bool = True,
) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objects``."""
    now = datetime.now(UTC)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": column_definitions(resource) if headers else [],
        "rows": [row(resource, o, include, now) for o in objects],
    }
