"""What-if snapshots: a snapshot without some pods, for preemption's dry run.

The cluster is three simulated nodes of 8 whole H100s (64 cpu); pods take GPUs through
claims generated from templates, or share one named claim.
"""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.api.dra import ResourceClaim
from scheduler.api.loaders import load_object
from scheduler.api.pod import Pod
from scheduler.cluster.snapshot import Snapshot, StaleSnapshot
from scheduler.cluster.whatif import WhatIfSnapshot, without
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.plugins.registry import build_framework
from simulator.backend import SimulatedCluster
from simulator.clusters import cluster_from_spec
from tests.builders import (
    FIT_FILTER_ONLY,
    gpu_claim_pod,
    gpu_claim_template,
    h100_rack_spec,
    make_pod,
)


def cluster() -> tuple[SimulatedCluster, Framework]:
    """Three 8-GPU nodes and a framework filtering with NodeResourcesFit + DynamicResources."""
    backend = SimulatedCluster(cluster_from_spec(h100_rack_spec(3, 3)).cache)
    for count in (1, 4, 8):
        backend.add_template(gpu_claim_template(count))
    names = ("NodeResourcesFit", "NodeAffinity", "DynamicResources", "DefaultBinder")
    profile = Profile.of("t", ["PrioritySort", *names], disabled=FIT_FILTER_ONLY)
    return backend, build_framework(profile, backend)


def run(backend: SimulatedCluster, framework: Framework, pod: Pod) -> None:
    """Create and bind ``pod`` (it must fit)."""
    result = framework.schedule_one(pod_info(backend.create_pod(pod)))
    assert result.status.ok, result.status


def probe(backend: SimulatedCluster) -> PodInfo:
    """A 1-cpu pod of 8 GPUs, its claim generated (a cache change: take snapshots after)."""
    return pod_info(backend.prepare_pod(gpu_claim_pod("probe", 8)))


def fits(framework: Framework, snapshot: Snapshot, pod: PodInfo, node: int) -> bool:
    """Whether the profile's PreFilter + Filter accept ``pod`` on ``node`` in ``snapshot``."""
    ids = np.array([node], dtype=np.intp)
    feasible, _ = framework.find_feasible(CycleState(), pod, snapshot, ids)
    return len(feasible) == 1


def test_removed_pods_free_their_resources_and_devices() -> None:
    """Without the 8-GPU pod on node 0, node 0 has its cpu, pod slot, claim devices and GPUs
    back; the real snapshot and the other nodes are unchanged."""
    backend, framework = cluster()
    node0 = backend.cache.node_names[0]
    run(backend, framework, gpu_claim_pod("big", 8, cpu="4", node=node0))
    run(backend, framework, gpu_claim_pod("small", 1, node=backend.cache.node_names[1]))
    pod = probe(backend)
    snap = backend.cache.snapshot()
    view = without(snap, ["default/big"])
    cpu, pods = snap.column("cpu"), snap.column("pods")
    assert cpu is not None and pods is not None
    # node 0: 64000m - 4000m -> all 64000m; pod slots 110 - 1 -> 110
    assert (snap.free[0, cpu], view.free[0, cpu]) == (60000, 64000)
    assert (snap.free[0, pods], view.free[0, pods]) == (109, 110)
    assert np.array_equal(view.free[1:], snap.free[1:])
    assert "default/big" in snap.pods and "default/big" not in view.pods
    assert len(view.pods) == len(snap.pods) - 1
    assert list(view.pods_on(node0)) == [] and "default/big" in snap.pods_on(node0)
    # the generated claim is released: unallocated here, its 8 devices free
    claim = "default/big-gpu"
    held = snap.claim_results(claim)
    assert len(held) == 8 and view.claim_results(claim) == []
    assert view.claims[claim].claim.status.allocation is None
    assert snap.claims[claim].claim.status.allocation is not None
    assert all(snap.is_allocated(r.device_id) for r in held)
    assert not any(view.is_allocated(r.device_id) for r in held)
    assert view.released == frozenset({claim})
    # the accelerator view: node 0's GPUs are free again, node 1 keeps its used GPU
    assert snap.gpus.gpu_free[0].tolist() == [0] * 8
    assert view.gpus.gpu_free[0].tolist() == [1000] * 8
    assert np.array_equal(view.gpus.gpu_free[1], snap.gpus.gpu_free[1])
    assert view.gpus.cpu_free[0] == 64000
    # the filters (prefilter arrays and exact allocator) see the freed GPUs on node 0 only
    assert fits(framework, view, pod, 0) and not fits(framework, snap, pod, 0)
    assert not fits(framework, view, pod, 1)


def test_what_if_views_never_pass_for_the_real_cluster() -> None:
    """A what-if view's generation and changed node versions are fresh negative stamps, so
    caches filled from it are refreshed for the real snapshot (which still sees node 0 full)."""
    backend, framework = cluster()
    run(backend, framework, gpu_claim_pod("big", 8, node=backend.cache.node_names[0]))
    pod = probe(backend)
    snap = backend.cache.snapshot()
    first, second = without(snap, ["default/big"]), without(snap, ["default/big"])
    assert first.generation < 0 and first.generation != second.generation
    assert first.changed_nodes == (0,)
    assert first.node_version[0] < 0 and first.node_version[0] != second.node_version[0]
    assert np.array_equal(first.node_version[1:], snap.node_version[1:])
    assert first.device_generation == snap.device_generation  # node-local devices only
    for _ in range(2):  # what-if, real, what-if, real: each answer stays its own
        assert fits(framework, first, pod, 0)
        assert not fits(framework, snap, pod, 0)


def test_a_shared_claim_is_released_only_with_its_last_consumer() -> None:
    """Two pods share one claimed GPU: without one, the claim keeps its device and drops that
    pod from reservedFor; without both, the device is free."""
    backend, framework = cluster()
    claim = load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {"name": "shared", "namespace": "default"},
            "spec": {
                "devices": {
                    "requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]
                }
            },
        }
    )
    assert isinstance(claim, ResourceClaim)
    backend.cache.add_claim(claim)
    for name in ("a", "b"):
        run(backend, framework, make_pod(name, cpu="1", gpu_claim="shared", uid=f"uid-{name}"))
    snap = backend.cache.snapshot()
    held = snap.claim_results("default/shared")
    assert len(held) == 1
    device = held[0].device_id
    one = without(snap, ["default/a"])
    assert one.released == frozenset() and one.is_allocated(device)
    assert [r.uid for r in one.claims["default/shared"].claim.status.reserved_for] == ["uid-b"]
    assert one.claim_results("default/shared") == held
    both = without(one, ["default/b"])
    assert both.removed == {"default/a", "default/b"} and both.base is snap
    assert both.released == {"default/shared"} and not both.is_allocated(device)


def test_views_compose_and_reject_unknown_pods() -> None:
    """A what-if of a what-if removes both sets from the same real snapshot; a key that is
    not a pod of the snapshot is a KeyError naming it."""
    backend, framework = cluster()
    names = backend.cache.node_names
    run(backend, framework, gpu_claim_pod("x", 4, node=names[0]))
    run(backend, framework, gpu_claim_pod("y", 4, node=names[1]))
    snap = backend.cache.snapshot()
    both = without(without(snap, ["default/x"]), ["default/y"])
    direct = without(snap, ["default/x", "default/y"])
    assert isinstance(both, WhatIfSnapshot) and both.base is snap
    assert both.changed_nodes == direct.changed_nodes == (0, 1)
    assert np.array_equal(both.free, direct.free)
    with pytest.raises(KeyError, match="Pod default/nope: not in the snapshot"):
        without(snap, ["default/nope"])


def test_a_view_goes_stale_with_its_snapshot() -> None:
    """Once the cache changes, reading a what-if view raises StaleSnapshot, as its base does."""
    backend, framework = cluster()
    run(backend, framework, gpu_claim_pod("x", 4, node=backend.cache.node_names[0]))
    view = without(backend.cache.snapshot(), ["default/x"])
    backend.delete_pod("default/x")
    with pytest.raises(StaleSnapshot):
        _ = view.free
    with pytest.raises(StaleSnapshot):
        view.pods_on(backend.cache.node_names[0])


def test_a_view_carries_every_snapshot_field() -> None:
    """Every attribute a Snapshot sets is present on a what-if view (new fields included)."""
    backend, framework = cluster()
    run(backend, framework, gpu_claim_pod("x", 4, node=backend.cache.node_names[0]))
    snap = backend.cache.snapshot()
    view = without(snap, ["default/x"])
    assert all(hasattr(view, name) for name in vars(snap))
    assert view.node_names == snap.node_names and view.nodes is snap.nodes


def test_pods_without_uid_release_their_claims_by_name() -> None:
    """Simulated trace pods may have no UID: their generated claim (owner and reservedFor
    naming the pod, UID empty) is still released with them, and only with them."""
    backend, framework = cluster()
    names = backend.cache.node_names
    for name, node in (("anon", names[0]), ("other", names[1])):
        pod = gpu_claim_pod(name, 8, node=node)
        run(
            backend,
            framework,
            pod.model_copy(update={"metadata": pod.metadata.model_copy(update={"uid": None})}),
        )
    snap = backend.cache.snapshot()
    reserved = snap.claims["default/anon-gpu"].claim.status.reserved_for
    assert [(r.name, r.uid) for r in reserved] == [("anon", "")]
    view = without(snap, ["default/anon"])
    assert view.released == {"default/anon-gpu"}
    assert view.gpus.gpu_free[0].tolist() == [1000] * 8
    assert view.gpus.gpu_free[1].tolist() == [0] * 8
