"""Builders for tests: pods, nodes, a cluster snapshot, and a Handle with a recording backend.

Usage::

    nodes = [make_node("n1", cpu="4", memory="8Gi", taints=["gpu=true:NoSchedule"])]
    pods = [make_pod("busy", cpu="1", node_name="n1")]
    snapshot = make_snapshot(nodes, pods)
    handle = make_handle(nodes, pods)            # .cache, .backend (records binds)

Quantities are Kubernetes strings (``"500m"``, ``"2Gi"``) or plain numbers. Taints and
tolerations may be models, dicts in API form, or the shorthand ``key=value:Effect`` /
``key:Effect`` (a shorthand toleration means operator Equal with a value, Exists without).
``gpu_claim_template(n)`` is the ResourceClaimTemplate ``default/gpus-<n>`` of n whole GPUs and
``gpu_claim_pod(name, n)`` a pod whose claim comes from it. ``one_pool_spec(accelerator)`` is a
simulated cluster spec of one node pool, ``h100_rack_spec(nodes, per_rack)`` one of whole-GPU
8×H100 nodes in racks; ``rack_table(rows)`` a solver NodeTable of
(free GPUs, rack) rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.loaders import load_object
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.api.selectors import compile_node_selector
from scheduler.api.taints import Taint, Toleration
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.claims import ClaimAllocation
from scheduler.framework.backend import BackendHandle
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.solver.instance import NodeSupply, NodeTable
from simulator.drivers.spec import ClusterSpec, parse_cluster_spec

Quantity = str | int | float
HOSTNAME_LABEL = "kubernetes.io/hostname"


def _text(value: Quantity) -> str:
    return value if isinstance(value, str) else str(value)


def _split(text: str) -> tuple[str, str | None, str]:
    """``key=value:Effect`` -> (key, value, effect); ``key:Effect`` -> (key, None, effect)."""
    head, _, effect = text.rpartition(":")
    if not head:
        head, effect = text, ""
    key, eq, value = head.partition("=")
    return key, (value if eq else None), effect


def taint(spec: Taint | Mapping[str, Any] | str) -> Taint:
    """A Taint from a model, an API dict or ``key=value:Effect``."""
    if isinstance(spec, Taint):
        return spec
    if isinstance(spec, str):
        key, value, effect = _split(spec)
        return Taint(key=key, value=value, effect=effect)
    return Taint.model_validate(dict(spec))


def toleration(spec: Toleration | Mapping[str, Any] | str) -> Toleration:
    """A Toleration from a model, an API dict or ``key=value:Effect`` / ``key:Effect``."""
    if isinstance(spec, Toleration):
        return spec
    if isinstance(spec, str):
        key, value, effect = _split(spec)
        operator = "Equal" if value is not None else "Exists"
        return Toleration(key=key, operator=operator, value=value, effect=effect or None)
    return Toleration.model_validate(dict(spec))


def _requests(
    cpu: Quantity | None, memory: Quantity | None, extra: Mapping[str, Quantity]
) -> dict[str, str]:
    out = {name: _text(q) for name, q in extra.items()}
    if cpu is not None:
        out["cpu"] = _text(cpu)
    if memory is not None:
        out["memory"] = _text(memory)
    return out


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    cpu: Quantity | None = None,
    memory: Quantity | None = None,
    requests: Mapping[str, Quantity] | None = None,
    containers: Sequence[Mapping[str, Quantity]] | None = None,
    init_containers: Sequence[Mapping[str, Quantity]] | None = None,
    pod_level: Mapping[str, Quantity] | None = None,
    overhead: Mapping[str, Quantity] | None = None,
    gpu_claim: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    tolerations: Iterable[Toleration | Mapping[str, Any] | str] = (),
    node_selector: Mapping[str, str] | None = None,
    affinity: Mapping[str, Any] | None = None,
    priority: int | None = None,
    node_name: str | None = None,
) -> Pod:
    """A Pod with one container requesting ``cpu``/``memory``/``requests``.

    ``containers`` (a list of request maps) replaces that single container; each request
    map becomes one container, and a missing key means "no request" for it.
    ``init_containers`` likewise; ``pod_level`` sets ``spec.resources.requests``.
    ``gpu_claim`` references an existing ResourceClaim of that name from the pod
    (``spec.resourceClaims[{name: gpu}]``, claimed by the first container).
    ``affinity`` is ``spec.affinity`` in API (camelCase) form.
    """
    if containers is None:
        containers = [_requests(cpu, memory, requests or {})]
    spec: dict[str, Any] = {
        "containers": [
            {"name": f"c{i}", "resources": {"requests": {k: _text(v) for k, v in reqs.items()}}}
            for i, reqs in enumerate(containers)
        ],
        "tolerations": [toleration(t).to_dict() for t in tolerations],
    }
    if init_containers:
        spec["initContainers"] = [
            {"name": f"init{i}", "resources": {"requests": {k: _text(v) for k, v in r.items()}}}
            for i, r in enumerate(init_containers)
        ]
    if pod_level is not None:
        spec["resources"] = {"requests": {k: _text(v) for k, v in pod_level.items()}}
    if overhead is not None:
        spec["overhead"] = {k: _text(v) for k, v in overhead.items()}
    if gpu_claim is not None:
        spec["resourceClaims"] = [{"name": "gpu", "resourceClaimName": gpu_claim}]
        spec["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    if node_selector is not None:
        spec["nodeSelector"] = dict(node_selector)
    if affinity is not None:
        spec["affinity"] = dict(affinity)
    if priority is not None:
        spec["priority"] = priority
    if node_name is not None:
        spec["nodeName"] = node_name
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels or {}),
        "annotations": dict(annotations or {}),
    }
    return Pod.model_validate({"metadata": metadata, "spec": spec})


def make_node(
    name: str,
    *,
    cpu: Quantity = "8",
    memory: Quantity = "32Gi",
    pods: int = 110,
    allocatable: Mapping[str, Quantity] | None = None,
    labels: Mapping[str, str] | None = None,
    taints: Iterable[Taint | Mapping[str, Any] | str] = (),
    unschedulable: bool = False,
) -> Node:
    """A Node with allocatable cpu/memory/pods (plus ``allocatable`` extras), its labels
    (``kubernetes.io/hostname`` added as a kubelet would), taints and cordon flag."""
    amounts = {"cpu": _text(cpu), "memory": _text(memory), "pods": str(pods)}
    amounts.update({k: _text(v) for k, v in (allocatable or {}).items()})
    spec: dict[str, Any] = {"taints": [taint(t).to_dict() for t in taints]}
    if unschedulable:
        spec["unschedulable"] = True
    return Node.model_validate(
        {
            "metadata": {"name": name, "labels": {HOSTNAME_LABEL: name, **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": amounts, "capacity": amounts},
        }
    )


def make_cache(nodes: Iterable[Node], pods: Iterable[Pod] = ()) -> ClusterCache:
    """A ClusterCache holding ``nodes`` and ``pods`` (pods with ``nodeName`` are charged)."""
    cache = ClusterCache()
    cache.add_nodes(list(nodes))
    for pod in pods:
        cache.add_pod(pod)
    return cache


def make_snapshot(nodes: Iterable[Node], pods: Iterable[Pod] = ()) -> Snapshot:
    """The snapshot of :func:`make_cache`."""
    return make_cache(nodes, pods).snapshot()


def gpu_claim_template(count: int) -> ResourceClaimTemplate:
    """ResourceClaimTemplate ``default/gpus-<count>``: ``count`` whole GPUs of class
    ``gpu.nvidia.com`` (ExactCount)."""
    template = load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": f"gpus-{count}", "namespace": "default"},
            "spec": {
                "spec": {
                    "devices": {
                        "requests": [
                            {
                                "name": "gpu",
                                "exactly": {
                                    "deviceClassName": "gpu.nvidia.com",
                                    "allocationMode": "ExactCount",
                                    "count": count,
                                },
                            }
                        ]
                    }
                }
            },
        }
    )
    assert isinstance(template, ResourceClaimTemplate)
    return template


def gpu_claim_pod(
    name: str,
    gpus: int,
    *,
    cpu: str = "1",
    priority: int | None = None,
    node: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Pod:
    """Pod ``default/<name>`` requesting ``cpu`` and ``gpus`` whole GPUs through the claim
    template ``gpus-<gpus>`` (:func:`gpu_claim_template`); pinned to ``node`` by a hostname
    nodeSelector when given."""
    spec: dict[str, Any] = {
        "containers": [
            {"name": "main", "resources": {"requests": {"cpu": cpu}, "claims": [{"name": "gpu"}]}}
        ],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": f"gpus-{gpus}"}],
    }
    if priority is not None:
        spec["priority"] = priority
    if node is not None:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return Pod.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "default",
                "uid": f"uid-{name}",
                "labels": dict(labels or {}),
                "annotations": dict(annotations or {}),
            },
            "spec": spec,
        }
    )


def one_pool_spec(accelerator: dict[str, Any], *, count: int = 2) -> ClusterSpec:
    """A one-pool spec of ``count`` nodes named gpu-node-0000... (64 cpu, 256Gi) with
    ``accelerator``, partitionable devices and consumable capacity on."""
    return parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "unit"},
            "featureGates": {"DRAPartitionableDevices": True, "DRAConsumableCapacity": True},
            "nodePools": [
                {
                    "name": "gpu-node",
                    "count": count,
                    "node": {"cpu": "64", "memory": "256Gi"},
                    "accelerator": accelerator,
                }
            ],
        }
    )


def h100_rack_spec(nodes: int, per_rack: int, *, name: str = "mini") -> ClusterSpec:
    """``nodes`` nodes (64 cpu, 512Gi, 8 whole H100 GPUs), ``per_rack`` per rack, one zone."""
    return parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": name},
            "nodePools": [
                {
                    "name": "gpu",
                    "count": nodes,
                    "node": {"cpu": "64", "memory": "512Gi"},
                    "accelerator": {"kind": "nvidia", "model": "H100-80GB", "count": 8},
                    "placement": {"zone": "z", "nodesPerRack": per_rack, "racksPerBlock": 8},
                }
            ],
        }
    )


RACK = "topology.tessera.io/rack"


def rack_table(rows: Sequence[tuple[int, int]]) -> NodeTable:
    """Solver nodes n0, n1, ... with (free gpu, rack id) and 64 free cpu, one level (rack)."""
    return NodeTable.from_nodes(
        [
            NodeSupply(id=i, name=f"n{i}", free=(gpu, 64), domain=(rack,))
            for i, (gpu, rack) in enumerate(rows)
        ],
        dims=("gpu", "cpu"),
        levels=(RACK,),
    )


def info(pod: Pod) -> PodInfo:
    """The PodInfo plugins receive for ``pod``."""
    return pod_info(pod)


@dataclass
class FakeBackend:
    """A ClusterBackend that records what the scheduler asks of it.

    ``binds`` / ``evictions`` / ``allocations`` record calls in order; a bind also marks
    the (assumed) pod bound in the cache, as an observed binding would. When ``fail_bind``
    is set, :meth:`bind` raises it instead.
    """

    cache: ClusterCache
    clock: float = 0.0
    fail_bind: Exception | None = None
    binds: list[tuple[str, str]] = field(default_factory=list)
    evictions: list[tuple[str, str]] = field(default_factory=list)
    allocations: list[tuple[str, ClaimAllocation | None, str]] = field(default_factory=list)

    def now(self) -> float:
        """The fake clock."""
        return self.clock

    def write_allocation(
        self, claim_key: str, allocation: ClaimAllocation | None, pod_key: str
    ) -> None:
        """Record a claim allocation (None: the claim was already allocated)."""
        self.allocations.append((claim_key, allocation, pod_key))

    def bind(self, pod_key: str, node: str) -> None:
        """Record a binding and mark the assumed pod bound in the cache (or raise ``fail_bind``)."""
        if self.fail_bind is not None:
            raise self.fail_bind
        self.binds.append((pod_key, node))
        self.cache.bind_pod(pod_key)

    def evict(self, pod_key: str, reason: str) -> None:
        """Record an eviction."""
        self.evictions.append((pod_key, reason))

    def claim_templates(self) -> Mapping[str, object]:
        """No ResourceClaimTemplates."""
        return {}

    def prepare_pod(self, pod: Pod) -> Pod:
        """Pods with template claims are not used with this backend: the pod as given."""
        return pod

    def discard_prepared(self, pod: Pod) -> None:
        """Nothing was prepared."""


FakeHandle = BackendHandle
"""The Handle plugins get in tests: a BackendHandle over a :class:`FakeBackend`."""


def make_handle(nodes: Iterable[Node] = (), pods: Iterable[Pod] = ()) -> BackendHandle:
    """A handle over a :class:`FakeBackend` of :func:`make_cache` of ``nodes`` and ``pods``."""
    return BackendHandle(FakeBackend(make_cache(nodes, pods)))


def reference_node_affinity(pod: Pod, node: Node) -> bool:
    """Test oracle for the NodeAffinity filter: every ``nodeSelector`` label equal, and the
    required node affinity (compiled by the API selector code) matching the node."""
    labels = node.metadata.labels
    if any(labels.get(k) != v for k, v in pod.spec.node_selector.items()):
        return False
    affinity = pod.spec.affinity
    required = (
        affinity.node_affinity.required_during_scheduling_ignored_during_execution
        if affinity is not None and affinity.node_affinity is not None
        else None
    )
    return compile_node_selector(required).matches(node.name, labels)
