"""Extended resources end to end: LWS gangs and Deployment-like pods asking
``nvidia.com/gpu`` in their container resources are placed whole on a device-plugin cluster,
preemption frees ``nvidia.com/gpu``, a resource no node offers leaves the pod pending with
``Insufficient <resource>``, and on a DRA cluster with DRAExtendedResource the same pods get a
scheduler-made claim allocated from the DeviceClass that maps ``nvidia.com/gpu``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scheduler.api.pod import Pod, pod_extended_claim_key
from scheduler.dra.extended import EXTENDED_RESOURCE_CLAIM_ANNOTATION, extended_claim_key
from simulator.clusters import LoadedCluster, cluster_from_spec
from simulator.drivers.spec import parse_cluster_spec
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import ReplayConfig, ReplayResult, run_replay
from simulator.inputs import read_trace
from simulator.traces.model import Trace, TraceItem

RACK = "topology.tessera.io/rack"
GPU = "nvidia.com/gpu"


def h100_cluster(
    nodes: int, per_rack: int, *, exposure: str, gates: dict[str, bool] | None = None
) -> LoadedCluster:
    """``nodes`` 8xH100 nodes (64 cpu), ``per_rack`` per rack, GPUs as ``exposure``."""
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": f"h100-{exposure}"},
            "featureGates": dict(gates or {}),
            "nodePools": [
                {
                    "name": "gpu",
                    "count": nodes,
                    "node": {"cpu": "64", "memory": "512Gi"},
                    "accelerator": {
                        "kind": "nvidia",
                        "model": "H100-80GB",
                        "count": 8,
                        "exposure": exposure,
                    },
                    "placement": {"zone": "z", "nodesPerRack": per_rack, "racksPerBlock": 8},
                }
            ],
        }
    )
    return cluster_from_spec(spec)


def gpu_pod(name: str, gpus: int, *, priority: int = 0, resource: str = GPU) -> Pod:
    """A Deployment replica: one container with ``resource: gpus`` in limits and requests."""
    amounts = {"cpu": "4", resource: str(gpus)}
    return Pod.model_validate(
        {
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {
                "priority": priority,
                "containers": [
                    {
                        "name": "vllm",
                        "resources": {"limits": {resource: str(gpus)}, "requests": amounts},
                    }
                ],
            },
        }
    )


def replay(
    loaded: LoadedCluster, items: Sequence[TraceItem], policy: str = "tessera"
) -> ReplayResult:
    """Replay ``items`` on ``loaded`` under ``policy``."""
    trace = Trace("ext", list(items), [])
    return run_replay(loaded, trace, replay_profile(policy, levels=loaded.levels), ReplayConfig())


def binds(result: ReplayResult) -> dict[str, str]:
    """Pod name -> node of its last bind."""
    return {p["pod"].split("/")[1]: p["node"] for p in result.placements if p["event"] == "bind"}


LWS_DUMP = """
apiVersion: v1
kind: List
items:
- apiVersion: leaderworkerset.x-k8s.io/v1
  kind: LeaderWorkerSet
  metadata:
    name: llm
    namespace: serving
    creationTimestamp: "2026-01-01T00:00:00Z"
    annotations:
      leaderworkerset.sigs.k8s.io/exclusive-topology: topology.tessera.io/rack
  spec:
    replicas: 2
    leaderWorkerTemplate:
      size: 2
      workerTemplate:
        spec:
          priority: 100
          containers:
          - name: sglang
            resources:
              limits: {nvidia.com/gpu: "8"}
              requests: {cpu: "8", nvidia.com/gpu: "8"}
"""


def lws_replay(loaded: LoadedCluster, tmp_path: Path) -> ReplayResult:
    """Replay the two 2-pod LWS groups of :data:`LWS_DUMP` under ``tessera``."""
    dump = tmp_path / "lws.yaml"
    dump.write_text(LWS_DUMP, encoding="utf-8")
    return run_replay(
        loaded, read_trace(dump), replay_profile("tessera", levels=loaded.levels), ReplayConfig()
    )


def assert_groups_whole_in_one_rack_each(result: ReplayResult, loaded: LoadedCluster) -> None:
    """Every pod of both groups is bound at t=0, each group inside one rack, racks distinct."""
    placed = {p["pod"]: (p["t"], p["node"]) for p in result.placements if p["event"] == "bind"}
    assert set(placed) == {"serving/llm-0", "serving/llm-0-1", "serving/llm-1", "serving/llm-1-1"}
    assert all(t == 0.0 for t, _ in placed.values())
    assert len({node for _, node in placed.values()}) == 4
    racks = {
        group: {
            loaded.cache.nodes[node].metadata.labels[RACK]
            for key, (_, node) in placed.items()
            if key.startswith(f"serving/llm-{group}")
        }
        for group in (0, 1)
    }
    assert all(len(r) == 1 for r in racks.values()) and racks[0] != racks[1]
    summary = result.summary
    assert (summary["gangs_total"], summary["gangs_placed"], summary["gangs_partial"]) == (2, 2, 0)


# -- device-plugin cluster ------------------------------------------------------------------------
def test_lws_gang_with_nvidia_gpu_is_placed_whole_on_a_device_plugin_cluster(
    tmp_path: Path,
) -> None:
    """Two LWS groups of 2 x nvidia.com/gpu: 8 land whole, one rack each, 8 GPUs per node."""
    loaded = h100_cluster(4, 2, exposure="device-plugin")
    result = lws_replay(loaded, tmp_path)
    assert_groups_whole_in_one_rack_each(result, loaded)
    snapshot = loaded.cache.snapshot()
    column = snapshot.column(GPU)
    assert column is not None
    assert snapshot.requested[:, column].tolist() == [8, 8, 8, 8]
    assert int(snapshot.gpus.gpu_free.sum()) == 0  # the GPU view counts them as used


def test_deployment_pods_fill_device_plugin_gpus_exactly() -> None:
    """Twenty 1-GPU replicas on two 8-GPU nodes: 16 bind, 4 wait (Insufficient nvidia.com/gpu)."""
    loaded = h100_cluster(2, 2, exposure="device-plugin")
    items = [TraceItem(gpu_pod(f"web-{i}", 1), float(i), None) for i in range(20)]
    result = replay(loaded, items)
    placed = binds(result)
    assert len(placed) == 16
    assert sorted(list(placed.values()).count(n) for n in set(placed.values())) == [8, 8]
    failures = [p["reason"] for p in result.placements if p["event"] == "fail"]
    assert failures and all("2 Insufficient nvidia.com/gpu" in r for r in failures)
    assert result.summary["gpu_alloc_mean_pct"] > 0.0


def test_preemption_frees_nvidia_gpu_for_a_serving_pod() -> None:
    """A serving pod of 8 GPUs evicts one batch pod holding nvidia.com/gpu: 8 and binds there."""
    loaded = h100_cluster(2, 2, exposure="device-plugin")
    items = [
        TraceItem(gpu_pod("batch-0", 8, priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("batch-1", 8, priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("serve", 8, priority=100), 100.0, 300.0),
    ]
    result = replay(loaded, items)
    at_100 = [
        (p["event"], p["pod"].split("/")[1], p["node"])
        for p in result.placements
        if p["t"] == 100.0
    ]
    evicted = [e for e in at_100 if e[0] == "evict"]
    assert len(evicted) == 1 and evicted[0][1] in ("batch-0", "batch-1")
    assert ("bind", "serve", evicted[0][2]) in at_100
    assert result.summary["preemptions"] == 1


def test_resource_no_node_offers_leaves_the_pod_pending_with_its_name() -> None:
    """A pod asking example.com/fpga (no node lists it) is never bound; the reason names it."""
    loaded = h100_cluster(2, 2, exposure="device-plugin")
    result = replay(loaded, [TraceItem(gpu_pod("fpga", 1, resource="example.com/fpga"), 0.0, 10.0)])
    assert binds(result) == {}
    reasons = {p["reason"] for p in result.placements if p["event"] == "fail"}
    assert reasons == {"0/2 nodes are available: 2 Insufficient example.com/fpga."}
    assert result.summary["pods_unschedulable"] == 1


def test_dra_cluster_without_the_gate_does_not_bind_nvidia_gpu_pods() -> None:
    """On a DRA cluster (1.35, DRAExtendedResource off) nvidia.com/gpu is offered by no node."""
    loaded = h100_cluster(2, 2, exposure="dra")
    result = replay(loaded, [TraceItem(gpu_pod("web", 1), 0.0, 10.0)])
    assert binds(result) == {}
    reasons = {p["reason"] for p in result.placements if p["event"] == "fail"}
    assert reasons == {"0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}


# -- DRA cluster with DRAExtendedResource ---------------------------------------------------------
GATE = {"DRAExtendedResource": True}


def test_dra_extended_resource_pods_get_a_scheduler_made_claim() -> None:
    """With the gate, 1-GPU replicas bind with an allocated claim of gpu.nvidia.com devices,
    named in their status; the claim goes away with the pod."""
    loaded = h100_cluster(2, 2, exposure="dra", gates=GATE)
    items = [TraceItem(gpu_pod(f"web-{i}", 1), float(i), 100.0) for i in range(3)]
    items.append(TraceItem(gpu_pod("late", 1), 500.0, None))
    result = replay(loaded, items)
    assert set(binds(result)) == {"web-0", "web-1", "web-2", "late"}
    cache = loaded.cache
    record = cache.pods["default/late"]
    key = pod_extended_claim_key(record.pod)
    assert key == extended_claim_key(record.pod)
    claim = cache.claims[key]
    assert claim.claim.metadata.annotations[EXTENDED_RESOURCE_CLAIM_ANNOTATION] == "true"
    assert claim.claim.metadata.owner_references[0].uid == "uid-late"
    allocation = claim.claim.status.allocation
    assert allocation is not None
    # one request: container 0, nvidia.com/gpu second of its sorted names (cpu, nvidia.com/gpu)
    [result_] = allocation.devices.results
    assert (result_.request, result_.driver) == ("container-0-request-1", "gpu.nvidia.com")
    assert [r.name for r in claim.claim.status.reserved_for] == ["late"]
    status = record.pod.status.extended_resource_claim_status
    assert status is not None
    assert [
        (m.container_name, m.resource_name, m.request_name) for m in status.request_mappings
    ] == [("vllm", GPU, "container-0-request-1")]
    # the completed replicas' claims were deleted with them
    assert sum(1 for c in cache.claims.values() if c.claim.metadata.annotations) == 1


def test_dra_extended_resource_fills_each_node_exactly() -> None:
    """Twenty 1-GPU replicas on two 8-GPU DRA nodes: 16 bind (8 devices per node), 4 wait."""
    loaded = h100_cluster(2, 2, exposure="dra", gates=GATE)
    result = replay(loaded, [TraceItem(gpu_pod(f"w-{i}", 1), float(i), None) for i in range(20)])
    placed = binds(result)
    assert len(placed) == 16
    assert sorted(list(placed.values()).count(n) for n in set(placed.values())) == [8, 8]
    held = [c for c in loaded.cache.claims.values() if c.results]
    assert len(held) == 16 and len({r.device_id for c in held for r in c.results}) == 16
    failures = [p["reason"] for p in result.placements if p["event"] == "fail"]
    assert failures and all("cannot allocate all claims" in r for r in failures)


def test_lws_gang_with_nvidia_gpu_is_placed_whole_through_dra(tmp_path: Path) -> None:
    """The same LWS groups on a DRA cluster with the gate: whole, one rack each, every pod
    holding 8 GPU devices through its extended-resource claim."""
    loaded = h100_cluster(4, 2, exposure="dra", gates=GATE)
    result = lws_replay(loaded, tmp_path)
    assert_groups_whole_in_one_rack_each(result, loaded)
    held = [c for c in loaded.cache.claims.values() if c.results]
    assert len(held) == 4 and all(len(c.results) == 8 for c in held)


def test_preemption_frees_dra_served_gpus() -> None:
    """A serving pod evicts a batch pod whose extended-resource claim holds the node's GPUs."""
    loaded = h100_cluster(1, 1, exposure="dra", gates=GATE)
    items = [
        TraceItem(gpu_pod("batch", 8, priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("serve", 8, priority=100), 100.0, 300.0),
    ]
    result = replay(loaded, items)
    events = [(p["t"], p["event"], p["pod"].split("/")[1]) for p in result.placements]
    assert (100.0, "evict", "batch") in events and (100.0, "bind", "serve") in events
    assert result.summary["preemptions"] == 1


@pytest.mark.parametrize("policy", ["kube-default", "fgd", "bestfit", "packing", "random"])
def test_every_policy_places_device_plugin_gpus(policy: str) -> None:
    """Each replay policy binds 16 of twenty 1-GPU replicas on two device-plugin nodes."""
    loaded = h100_cluster(2, 2, exposure="device-plugin")
    items: list[Any] = [TraceItem(gpu_pod(f"web-{i}", 1), float(i), None) for i in range(20)]
    assert len(binds(replay(loaded, items, policy))) == 16
