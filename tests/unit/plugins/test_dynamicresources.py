"""DynamicResources through the framework on spec-built H100 nodes: a pod sharing an already
allocated ResourceClaim goes only where the allocation's nodeSelector allows, and for a
``firstAvailable`` claim the score prefers nodes where an earlier alternative fits."""

from __future__ import annotations

from typing import Any

from scheduler.api.dra import ResourceClaim
from scheduler.api.loaders import load_object
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.framework.status import Code
from simulator.backend import SimulatedCluster
from simulator.clusters import cluster_from_spec
from tests.builders import (
    HOSTNAME_LABEL,
    gpu_claim_pod,
    gpu_claim_template,
    h100_rack_spec,
    make_pod,
    node_scores,
    spec_framework,
)


def claim(name: str, requests: list[dict[str, Any]]) -> ResourceClaim:
    """ResourceClaim default/<name> with these device requests (API form), unallocated."""
    obj = load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-claim-{name}"},
            "spec": {"devices": {"requests": requests}},
        }
    )
    assert isinstance(obj, ResourceClaim)
    return obj


def gpus(count: int) -> dict[str, Any]:
    """``count`` whole GPUs of class gpu.nvidia.com (an ``exactly`` request or a subrequest's
    body)."""
    return {
        "deviceClassName": "gpu.nvidia.com",
        "allocationMode": "ExactCount",
        "count": count,
    }


def three_nodes() -> SimulatedCluster:
    """gpu-0000..gpu-0002: 8 whole H100 GPUs each, one rack."""
    return SimulatedCluster(cluster_from_spec(h100_rack_spec(3, 3)).cache)


def sharer(backend: SimulatedCluster, name: str, node: str | None = None) -> PodInfo:
    """Create pod default/<name> (1 cpu) using the shared claim ``shared``, pinned to ``node``."""
    selector = {HOSTNAME_LABEL: node} if node is not None else None
    pod = make_pod(name, cpu="1", gpu_claim="shared", node_selector=selector, uid=f"uid-{name}")
    return pod_info(backend.create_pod(pod))


def test_pod_of_an_allocated_shared_claim_follows_the_allocation() -> None:
    """The second user of a claim allocated on gpu-0002 can only go there (node order would
    pick gpu-0000); both are reserved on one allocation; pinned elsewhere it is refused."""
    backend = three_nodes()
    backend.cache.add(claim("shared", [{"name": "gpu", "exactly": gpus(1)}]))
    framework = spec_framework(backend, {})
    assert framework.schedule_one(sharer(backend, "a", node="gpu-0002")).node == "gpu-0002"
    record = backend.cache.claims["default/shared"]
    allocated = record.results
    assert [r.pool for r in allocated] == ["gpu-0002"]
    # Filter: the allocation's nodeSelector (metadata.name In [gpu-0002]) rejects the others.
    b = sharer(backend, "b")
    snapshot = backend.cache.snapshot()
    nodes, diagnosis = framework.find_feasible(CycleState(), b, snapshot)
    assert [snapshot.node_names[int(i)] for i in nodes] == ["gpu-0002"]
    assert "2 resourceclaim not available on the node" in diagnosis.message(snapshot.size)
    assert framework.schedule_one(b).node == "gpu-0002"
    record = backend.cache.claims["default/shared"]
    assert record.results == allocated
    assert [r.uid for r in record.claim.status.reserved_for] == ["uid-a", "uid-b"]
    refused = framework.schedule_one(sharer(backend, "c", node="gpu-0000"))
    assert refused.status.code == Code.UNSCHEDULABLE
    assert "1 resourceclaim not available on the node" in refused.status.message()


def test_first_available_score_prefers_the_earlier_alternative() -> None:
    """firstAvailable [two GPUs, one GPU]: the node where "two" fits outscores the node where
    only "one" does (node order would pick the latter), and the claim gets two GPUs."""
    # gpu-0000 holds a 7-GPU pod (1 free), gpu-0002 an 8-GPU pod (none free), gpu-0001 is idle.
    # Score per claim request: 8 − index of the alternative chosen on the node:
    #   gpu-0000: "one" (index 1) -> 7; gpu-0001: "two" (index 0) -> 8; gpu-0002 infeasible.
    # Normalised (highest -> 100): gpu-0001 100, gpu-0000 ⌊100·7/8⌋ = 87.
    backend = three_nodes()
    for count in (7, 8):
        backend.add_template(gpu_claim_template(count))
    framework = spec_framework(backend, {})
    for name, count, node in [("f7", 7, "gpu-0000"), ("f8", 8, "gpu-0002")]:
        placed = framework.schedule_one(
            pod_info(backend.create_pod(gpu_claim_pod(name, count, node=node)))
        )
        assert placed.node == node
    alternatives = [{"name": "two", **gpus(2)}, {"name": "one", **gpus(1)}]
    backend.cache.add(claim("flex", [{"name": "gpu", "firstAvailable": alternatives}]))
    pod = pod_info(backend.create_pod(make_pod("p", cpu="1", gpu_claim="flex", uid="uid-p")))
    assert node_scores(framework, pod) == {"gpu-0000": 87, "gpu-0001": 100}
    assert framework.schedule_one(pod).node == "gpu-0001"
    results = backend.cache.claims["default/flex"].results
    assert [(r.request, r.pool) for r in results] == [("gpu/two", "gpu-0001")] * 2
