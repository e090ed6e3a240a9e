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
``gpu_claim_pod(name, n)`` a pod whose claim comes from it (``claim_pod``: from any template).
``one_pool_spec(accelerator)`` is a simulated cluster spec of one node pool (``pools_spec``: of
several), ``h100_rack_spec(nodes, per_rack)`` one of whole-GPU 8×H100 nodes in racks and
``gpu_rack_cluster`` that cluster with the claim templates; ``rack_table(rows)`` a solver
NodeTable of (free GPUs, rack) rows. ``FIT_FILTER_ONLY`` keeps NodeResourcesFit out of
PreScore/Score in a ``Profile.of`` profile; ``rejections(result)`` is a Filter result per node
(the rejecting status or None), ``filter_all`` / ``score_all`` run one plugin's filter or score
points over every node; ``rslice(name, pool, devices)`` a driver-a ResourceSlice
document; ``spot_scenario(dir)`` writes a tiny cluster spec and trace for replays through the
CLI.

Framework-level tests run the real registry on a simulated cluster::

    backend = openb_cluster(tmp_path, ["a,32000,65536,4,G2", "b,16000,65536,2,G2"])
    framework = spec_framework(backend, {"DotProd": {}})
    pod = create_openb(backend, openb_pod("p", 8000, 1, 1000))
    totals = node_scores(framework, pod)            # {node: weighted score total}
    placed = framework.schedule_one(pod)            # or schedule_openb(framework, row)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

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
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import FilterResult
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework, ScheduleResult
from scheduler.framework.status import Code, Status
from scheduler.plugins.registry import build_framework
from scheduler.solver.instance import NodeSupply, NodeTable
from simulator.backend import SimulatedCluster
from simulator.clusters import LoadedCluster, cluster_from_spec
from simulator.drivers.spec import ClusterSpec, parse_cluster_spec
from simulator.traces.openb import OpenbPod
from simulator.traces.openb_objects import OpenbObjects

Quantity = str | int | float
HOSTNAME_LABEL = "kubernetes.io/hostname"

FIT_FILTER_ONLY = {"pre_score": ["NodeResourcesFit"], "score": ["NodeResourcesFit"]}
"""``Profile.of(..., disabled=FIT_FILTER_ONLY)``: NodeResourcesFit filters but does not score
(it scores LeastAllocated by default, as upstream)."""


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
    topology_spread: Sequence[Mapping[str, Any]] | None = None,
    priority: int | None = None,
    node_name: str | None = None,
    uid: str | None = None,
) -> Pod:
    """A Pod with one container requesting ``cpu``/``memory``/``requests``.

    ``containers`` (a list of request maps) replaces that single container; each request
    map becomes one container, and a missing key means "no request" for it.
    ``init_containers`` likewise; ``pod_level`` sets ``spec.resources.requests``.
    ``gpu_claim`` references an existing ResourceClaim of that name from the pod
    (``spec.resourceClaims[{name: gpu}]``, claimed by the first container).
    ``affinity`` is ``spec.affinity`` and ``topology_spread`` ``spec.topologySpreadConstraints``,
    in API (camelCase) form; ``uid`` sets ``metadata.uid``.
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
    if topology_spread is not None:
        spec["topologySpreadConstraints"] = [dict(c) for c in topology_spread]
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
    if uid is not None:
        metadata["uid"] = uid
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


def gpu_claim_template_doc(name: str, count: int) -> dict[str, Any]:
    """A ResourceClaimTemplate document ``default/<name>``: ``count`` whole GPUs of class
    ``gpu.nvidia.com`` (ExactCount), as a manifest would hold it."""
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": "default"},
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


def gpu_claim_template(count: int) -> ResourceClaimTemplate:
    """ResourceClaimTemplate ``default/gpus-<count>``: ``count`` whole GPUs of class
    ``gpu.nvidia.com`` (ExactCount)."""
    template = load_object(gpu_claim_template_doc(f"gpus-{count}", count))
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
    return claim_pod(
        name,
        f"gpus-{gpus}",
        requests={"cpu": cpu},
        priority=priority,
        node=node,
        labels=labels,
        annotations=annotations,
    )


def claim_pod(
    name: str,
    template: str,
    *,
    requests: Mapping[str, str],
    claim: str = "gpu",
    priority: int | None = None,
    node: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Pod:
    """Pod ``default/<name>`` with one container requesting ``requests`` and the claim
    ``claim`` made from the ResourceClaimTemplate ``template``; pinned to ``node`` by a
    hostname nodeSelector when given."""
    spec: dict[str, Any] = {
        "containers": [
            {"name": "main", "resources": {"requests": dict(requests), "claims": [{"name": claim}]}}
        ],
        "resourceClaims": [{"name": claim, "resourceClaimTemplateName": template}],
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


def pools_spec(pools: Sequence[tuple[str, int, dict[str, Any] | None]]) -> ClusterSpec:
    """A spec with one pool per (name, node count, accelerator or None for CPU-only)."""
    node_pools = []
    for name, count, accelerator in pools:
        pool: dict[str, Any] = {
            "name": name,
            "count": count,
            "node": {"cpu": "64", "memory": "256Gi"},
        }
        if accelerator is not None:
            pool["accelerator"] = accelerator
        node_pools.append(pool)
    return parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "unit"},
            "featureGates": {"DRAPartitionableDevices": True, "DRAConsumableCapacity": True},
            "nodePools": node_pools,
        }
    )


def one_pool_spec(accelerator: dict[str, Any], *, count: int = 2) -> ClusterSpec:
    """A one-pool spec of ``count`` nodes named gpu-node-0000... (64 cpu, 256Gi) with
    ``accelerator``, partitionable devices and consumable capacity on."""
    return pools_spec([("gpu-node", count, accelerator)])


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


def gpu_rack_cluster(
    nodes: int, per_rack: int, *, backend: type[SimulatedCluster] = SimulatedCluster
) -> tuple[LoadedCluster, SimulatedCluster]:
    """The :func:`h100_rack_spec` cluster and a ``backend`` over its cache with the claim
    templates ``gpus-1``, ``gpus-2``, ``gpus-4`` and ``gpus-8`` (:func:`gpu_claim_template`)."""
    loaded = cluster_from_spec(h100_rack_spec(nodes, per_rack))
    sim = backend(loaded.cache)
    for count in (1, 2, 4, 8):
        sim.add_template(gpu_claim_template(count))
    return loaded, sim


@dataclass
class RackEnv:
    """A :func:`gpu_rack_cluster` and a framework over it."""

    cache: ClusterCache
    backend: SimulatedCluster
    framework: Framework

    def rack(self, node: str) -> str:
        """The rack label of a node."""
        return self.cache.nodes[node].metadata.labels[RACK]

    def create(self, pod: Pod) -> PodInfo:
        """Create a pod (and its template claims) as the API server would."""
        return pod_info(self.backend.create_pod(pod))

    def held_claims(self) -> dict[str, int]:
        """Claim key -> number of devices it holds (allocated or assumed)."""
        return {k: len(r.results) for k, r in self.cache.claims.items() if r.results}


def rslice(
    name: str, pool: str, devices: list[dict[str, Any]] | None, **spec: Any
) -> dict[str, Any]:
    """A ResourceSlice of driver-a: ``spec`` gives the node selection (and maybe
    ``sharedCounters``); ``count`` sets resourceSliceCount; ``devices`` None = counters only."""
    header = {"name": pool, "generation": 1, "resourceSliceCount": spec.pop("count", 1)}
    body: dict[str, Any] = {"driver": "driver-a", "pool": header, **spec}
    if devices is not None:
        body["devices"] = devices
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": body,
    }


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


def filter_all(plugin: Any, handle: BackendHandle, pod: Pod) -> Status | list[Status | None]:
    """Run ``plugin``'s PreFilter and then its Filter on every node of ``handle``'s cluster:
    the PreFilter status when it is not a success (a skip or a rejection), else per node the
    status that rejected it or None (:func:`rejections`)."""
    snapshot = handle.cache.snapshot()
    state = CycleState()
    _, status = plugin.pre_filter(state, info(pod), snapshot)
    if status.code != Code.SUCCESS:
        return status
    ids = np.arange(snapshot.size, dtype=np.intp)
    return rejections(plugin.filter(state, info(pod), snapshot, ids))


def score_all(plugin: Any, handle: BackendHandle, pod: Pod) -> Status | tuple[list[int], list[int]]:
    """Run ``plugin``'s PreScore, Score and NormalizeScore over every node of ``handle``'s
    cluster: the PreScore status when it skips, else (raw scores, normalized scores).
    Asserts that PreScore does not fail."""
    snapshot = handle.cache.snapshot()
    state = CycleState()
    ids = np.arange(snapshot.size, dtype=np.intp)
    status = plugin.pre_score(state, info(pod), snapshot, ids)
    if status.code == Code.SKIP:
        return status
    assert status.ok, status
    raw = plugin.score(state, info(pod), snapshot, ids)
    return raw.tolist(), plugin.normalize(state, info(pod), raw).tolist()


def rejections(result: FilterResult) -> list[Status | None]:
    """Per candidate node of a Filter ``result``: the status that rejected it, or None.

    Asserts that no node is rejected by two statuses and that exactly the unrejected nodes
    are marked passed.
    """
    out: list[Status | None] = [None] * len(result.passed)
    for status, mask in result.failures:
        for i in np.flatnonzero(mask):
            assert out[i] is None, "a node is rejected by two statuses"
            out[i] = status
    assert [v is None for v in out] == result.passed.tolist()
    return out


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


OPENB_NODE_HEADER = "sn,cpu_milli,memory_mib,gpu,model\n"


def openb_cluster(directory: Path, rows: Sequence[str]) -> SimulatedCluster:
    """A SimulatedCluster built by the spec machinery from openb node rows
    ``sn,cpu_milli,memory_mib,gpu,model`` (shared GPUs published as ResourceSlices; a row
    with 0 GPUs and no model is a CPU-only node); node ids follow the row order."""
    directory.mkdir(parents=True, exist_ok=True)
    csv = directory / "nodes.csv"
    csv.write_text(OPENB_NODE_HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "t"},
            "kubernetesVersion": "1.35",
            "featureGates": {"DRAConsumableCapacity": True},
            "nodePools": [{"name": "p", "fromOpenbCSV": str(csv)}],
        },
        source=str(csv),
    )
    return SimulatedCluster(cluster_from_spec(spec, templated=True, source=str(csv)).cache)


def spec_framework(
    backend: SimulatedCluster,
    scorers: Mapping[str, Mapping[str, Any]],
    *,
    tie_break: Literal["random", "first", "nodeOrder"] = "nodeOrder",
    seed: int = 0,
) -> Framework:
    """``build_framework`` of a profile: filters NodeResourcesFit, NodeAffinity and
    DynamicResources (which also scores ``firstAvailable`` claims), then ``scorers`` (plugin
    name -> args, weight 1), then DefaultBinder. ``nodeOrder`` ties go to the cluster's node
    order (node id 0 first)."""
    names = ["NodeResourcesFit", "NodeAffinity", "DynamicResources"]
    plugins = ["PrioritySort", *(n for n in names if n not in scorers), *scorers, "DefaultBinder"]
    profile = Profile.of(
        "t",
        plugins,
        args=scorers,
        disabled=FIT_FILTER_ONLY,
        tie_break=tie_break,
        seed=seed,
    )
    rank = np.arange(len(backend.cache.node_names), dtype=np.int64)
    return build_framework(profile, backend, node_rank=rank)


def openb_pod(
    name: str, cpu: int, num_gpu: int = 0, gpu_milli: int = 0, *, memory_mib: int = 1024
) -> OpenbPod:
    """An openb pod row (``cpu`` milli-CPU, ``memory_mib``, no GPU model restriction)."""
    return OpenbPod(name, cpu, memory_mib, num_gpu, gpu_milli, (), None, None, None, None, None)


def pinned(pod: Pod, node: str) -> Pod:
    """``pod`` with a ``kubernetes.io/hostname`` nodeSelector for ``node``."""
    spec = pod.spec.model_copy(update={"node_selector": {HOSTNAME_LABEL: node}})
    return pod.model_copy(update={"spec": spec})


def create_openb(backend: SimulatedCluster, row: OpenbPod, *, node: str | None = None) -> PodInfo:
    """Create the pod of an openb row in ``backend`` (its claim template registered, its
    claim generated), pinned to ``node`` if given; the PodInfo a cycle receives."""
    objects = OpenbObjects()
    if row.num_gpu:
        backend.add_template(objects.template_for(row))
    pod = objects.pod(row)
    return pod_info(backend.create_pod(pinned(pod, node) if node is not None else pod))


def schedule_openb(
    framework: Framework, row: OpenbPod, *, node: str | None = None
) -> ScheduleResult:
    """:func:`create_openb` in the framework's SimulatedCluster, then one ``schedule_one``."""
    backend = framework.handle.backend
    assert isinstance(backend, SimulatedCluster)
    return framework.schedule_one(create_openb(backend, row, node=node))


def node_scores(framework: Framework, pod: PodInfo) -> dict[str, int]:
    """The framework's weighted score total per feasible node for ``pod`` (PreFilter,
    Filter, PreScore, Score and normalisation of one cycle, without binding)."""
    snapshot = framework.handle.cache.snapshot()
    state = CycleState()
    nodes, _ = framework.find_feasible(state, pod, snapshot)
    totals, status = framework.score(state, pod, snapshot, nodes)
    assert status.ok, status
    return {snapshot.node_names[int(i)]: int(t) for i, t in zip(nodes, totals, strict=True)}


def spot_scenario(directory: Path, pods: int = 4) -> tuple[Path, Path]:
    """Files of a tiny replay: a cluster spec (``on-demand`` pool of 2 nodes, ``spot`` pool of
    2 nodes labelled ``example.com/spot: "true"``, 8 cpu and one H100 each) and a trace of
    ``pods`` one-cpu pods arriving at time 0 that run to the end. Returns (spec, trace)."""
    spec = directory / "spot-cluster.yaml"
    spec.write_text(
        "apiVersion: tessera.io/v1alpha1\n"
        "kind: ClusterSpec\n"
        "metadata: {name: spot}\n"
        "nodePools:\n"
        "- name: on-demand\n"
        "  count: 2\n"
        "  node: {cpu: '8', memory: 32Gi}\n"
        "  accelerator: {kind: nvidia, model: H100-80GB, count: 1}\n"
        "- name: spot\n"
        "  count: 2\n"
        "  node: {cpu: '8', memory: 32Gi}\n"
        "  accelerator: {kind: nvidia, model: H100-80GB, count: 1}\n"
        "  labels: {example.com/spot: 'true'}\n"
    )
    trace = directory / "spot-trace.yaml"
    items = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "default"},
            "spec": {
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
            },
        }
        for i in range(pods)
    ]
    trace.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return spec, trace
