"""ClusterCache: event-fed nodes, pods, DRA objects, assume/forget and generations."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from scheduler.api.dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from scheduler.api.loaders import load_object
from scheduler.api.lws import LeaderWorkerSet
from scheduler.api.node import Node
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.claims import ClaimAllocation, DeviceResult
from simulator.clusters import cluster_from_spec
from simulator.drivers.build import build_cluster
from tests.builders import make_cache, make_node, make_pod, one_pool_spec

DRIVER = "gpu.nvidia.com"
GI = 2**30
# make_node defaults: cpu "8" = 8000 milli-CPU, memory "32Gi" = 34359738368 bytes, 110 pods.
NODE_ROW = [8000, 32 * GI, 0, 110]
STATE_ARRAYS = ("allocated", "share_count", "shared_used", "counters_left", "available")


# -- helpers ---------------------------------------------------------------------------------------


gpu_spec = one_pool_spec


H100_DYNAMIC = {"kind": "nvidia", "model": "H100-80GB", "count": 8, "mig": {"mode": "dynamic"}}
T4_SHARED = {"kind": "shared-gpu", "model": "T4", "count": 2}


def dra_cache(
    accelerator: dict[str, Any], *, count: int = 2, templated: bool = False
) -> ClusterCache:
    """A cache holding a small simulated GPU cluster (object path unless ``templated``)."""
    return cluster_from_spec(gpu_spec(accelerator, count=count), templated=templated).cache


def claim(
    name: str, devices: Sequence[tuple[str, str]] = (), *, compute: str | None = None
) -> ResourceClaim:
    """A ResourceClaim; with ``devices`` ((pool, device) pairs) its status shows them allocated.

    ``compute`` makes each result a share consuming that much ``compute`` capacity.
    """
    results = []
    for i, (pool, device) in enumerate(devices):
        result: dict[str, Any] = {
            "request": "gpu",
            "driver": DRIVER,
            "pool": pool,
            "device": device,
        }
        if compute is not None:
            result["shareID"] = f"00000000-0000-4000-8000-{i:012d}"
            result["consumedCapacity"] = {"compute": compute}
        results.append(result)
    data: dict[str, Any] = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": DRIVER}}]}
        },
    }
    if results:
        data["status"] = {"allocation": {"devices": {"results": results}}}
    return ResourceClaim.model_validate(data)


def allocation(pool: str, device: str) -> ClaimAllocation:
    """The allocation of one exclusive device."""
    return ClaimAllocation(devices=(DeviceResult("gpu", DRIVER, pool, device),))


def state_arrays(cache: ClusterCache) -> list[dict[str, npt.NDArray[Any]]]:
    """Copies of every template state's allocation arrays."""
    return [{name: getattr(s, name).copy() for name in STATE_ARRAYS} for s in cache.devices.states]


def assert_states_equal(
    left: list[dict[str, npt.NDArray[Any]]], right: list[dict[str, npt.NDArray[Any]]]
) -> None:
    """Every array of every template state is identical."""
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        for name in STATE_ARRAYS:
            assert np.array_equal(a[name], b[name]), name


def with_cpu(node: Node, cpu: str) -> Node:
    """The same node (same labels) with another allocatable CPU."""
    allocatable = {**node.status.allocatable, "cpu": cpu}
    status = node.status.model_copy(update={"allocatable": allocatable})
    return node.model_copy(update={"status": status})


def kind(cache: ClusterCache, device: str) -> int:
    """Template kind of ``device`` (every test cluster has one template)."""
    return cache.devices.templates[0].kind_of[(DRIVER, device)]


# -- nodes -----------------------------------------------------------------------------------------
def test_add_node_appends_a_dense_row() -> None:
    """A new node gets the next dense index, its allocatable row and a node-set generation."""
    cache = ClusterCache()
    cache.add_node(make_node("a"))
    before = cache.node_generation
    cache.add_node(make_node("b", cpu="4", memory="1Gi", pods=10))
    assert cache.node_index == {"a": 0, "b": 1}
    assert cache.resources[:4] == ["cpu", "memory", "ephemeral-storage", "pods"]
    # b: 4 cores = 4000 milli, 1Gi = 1073741824 bytes, no storage, 10 pods.
    assert cache.allocatable.tolist() == [NODE_ROW, [4000, GI, 0, 10]]
    assert cache.requested.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert cache.node_generation == before + 1


def test_update_node_keeps_index_and_node_set() -> None:
    """An allocatable-only update rewrites the row in place; the node set is unchanged."""
    cache = make_cache([make_node("a"), make_node("b")])
    node_generation = cache.node_generation
    versions = cache.node_version.copy()
    cache.add_node(make_node("b", cpu="16"))
    assert cache.node_index == {"a": 0, "b": 1}
    assert cache.allocatable[1, 0] == 16000
    assert cache.node_generation == node_generation
    # only b's version moved
    assert (cache.node_version - versions).tolist() == [0, 1]


def test_label_change_bumps_the_node_set_generation() -> None:
    """New labels change topology domains, so node_generation bumps."""
    cache = make_cache([make_node("a")])
    before = cache.node_generation
    cache.add_node(make_node("a", labels={"topology.tessera.io/rack": "r1"}))
    assert cache.node_generation == before + 1
    assert cache.nodes["a"].metadata.labels["topology.tessera.io/rack"] == "r1"


def test_remove_node_renumbers_and_strands_its_pods() -> None:
    """Removing a middle node shifts later rows down one index; its pods come back unplaced."""
    pods = [make_pod("on-b", cpu="1", node_name="b"), make_pod("on-c", cpu="2", node_name="c")]
    cache = make_cache([make_node("a"), make_node("b"), make_node("c", cpu="12")], pods)
    c_version = int(cache.node_version[2])
    node_generation = cache.node_generation
    stranded = cache.remove_node("b")
    assert [r.key for r in stranded] == ["default/on-b"]
    assert stranded[0].node is None
    assert cache.pods["default/on-b"].node is None
    assert cache.node_names == ["a", "c"]
    assert cache.node_index == {"a": 0, "c": 1}
    # c keeps its row: 12 cores allocatable, 2000 milli + 1 pod requested.
    assert cache.allocatable[:, 0].tolist() == [8000, 12000]
    assert cache.requested[1].tolist() == [2000, 0, 0, 1]
    assert int(cache.node_version[1]) == c_version
    assert cache.node_generation == node_generation + 1
    assert "b" not in cache.pods_on_node
    assert cache.remove_node("b") == []


def test_remove_node_repoints_device_rows() -> None:
    """After a node removal, the template rows of later nodes follow their new dense index."""
    cache = dra_cache(H100_DYNAMIC, count=3, templated=True)
    state = cache.devices.states[0]
    assert state.row_node[:3].tolist() == [0, 1, 2]
    cache.remove_node("gpu-node-0000")
    # row 0's node is gone (-1); gpu-node-0001 is now node 0 and gpu-node-0002 node 1
    assert state.row_node[:3].tolist() == [-1, 0, 1]


def test_pod_bound_before_its_node_arrives_is_charged() -> None:
    """A bound pod seen before its node (informer order) is charged when the node arrives."""
    cache = ClusterCache()
    cache.add_pod(make_pod("early", cpu="1", node_name="a"))
    cache.add_node(make_node("a"))
    # 1 core = 1000 milli, plus the pod itself in the "pods" column
    assert cache.requested.tolist() == [[1000, 0, 0, 1]]
    assert list(cache.pods_on_node["a"]) == ["default/early"]


def test_bulk_add_nodes_charges_pods_bound_before_the_nodes_arrive() -> None:
    """add_nodes charges pods seen earlier that are bound to the new nodes, like add_node."""
    cache = ClusterCache()
    cache.add_pod(make_pod("early", cpu="1", node_name="a"))
    cache.add_nodes([make_node("a"), make_node("b")])
    assert cache.requested.tolist() == [[1000, 0, 0, 1], [0, 0, 0, 0]]


def test_bulk_add_nodes_with_different_resource_sets() -> None:
    """add_nodes accepts nodes whose allocatable names differ, zero-padding the others."""
    cache = ClusterCache()
    cache.add_nodes([make_node("a"), make_node("b", allocatable={"example.com/fpga": 2})])
    col = cache.resources.index("example.com/fpga")
    assert cache.allocatable[:, col].tolist() == [0, 2]


def test_new_resource_name_adds_a_zero_padded_column() -> None:
    """An extended resource first seen on a node adds a column; other rows read 0 there."""
    cache = make_cache([make_node("a")])
    cache.add_node(make_node("b", allocatable={"example.com/fpga": 2}))
    col = cache.resources.index("example.com/fpga")
    assert col == 4
    assert cache.allocatable[:, col].tolist() == [0, 2]
    assert cache.requested.shape == cache.allocatable.shape == (2, 5)


# -- pods ------------------------------------------------------------------------------------------
def test_bound_pod_charges_its_node() -> None:
    """A pod with nodeName adds its requests and one pod to its node's requested row."""
    cache = make_cache([make_node("a"), make_node("b")])
    cache.add_pod(make_pod("p", cpu="1500m", memory="2Gi", node_name="b"))
    # 1500m = 1500 milli; 2Gi = 2147483648 bytes; +1 pod
    assert cache.requested.tolist() == [[0, 0, 0, 0], [1500, 2 * GI, 0, 1]]
    assert list(cache.pods_on_node["b"]) == ["default/p"]


def test_pod_update_moves_its_charge() -> None:
    """Re-adding a pod with other requests replaces the old charge, not adds to it."""
    cache = make_cache([make_node("a")], [make_pod("p", cpu="1", node_name="a")])
    cache.add_pod(make_pod("p", cpu="3", node_name="a"))
    assert cache.requested.tolist() == [[3000, 0, 0, 1]]


def test_remove_pod_frees_exactly_what_it_took() -> None:
    """Removing the only pod returns the node's requested row to zeros."""
    cache = make_cache([make_node("a")], [make_pod("p", cpu="1", memory="1Gi", node_name="a")])
    record = cache.remove_pod("default/p")
    assert record is not None and record.node == "a"
    assert cache.requested.tolist() == [[0, 0, 0, 0]]
    assert cache.pods_on_node["a"] == {}
    assert cache.remove_pod("default/p") is None


def test_assume_and_forget_pod_round_trip() -> None:
    """assume charges the node exactly as a bound pod; forget restores the row bit for bit."""
    nodes = [make_node("a", allocatable={"example.com/fpga": 2}), make_node("b")]
    cache = make_cache(nodes, [make_pod("busy", cpu="1", node_name="a")])
    cache.add_pod(make_pod("p", cpu="250m", memory="512Mi", requests={"example.com/fpga": 1}))
    before = cache.requested.copy()
    cache.assume_pod("default/p", "b")  # b lacks fpga: charged anyway (Fit filters, not the cache)
    fpga = cache.resources.index("example.com/fpga")
    # 250 milli-CPU, 512Mi = 536870912 bytes, one pod, one fpga
    expected = np.zeros_like(cache.requested[1])
    expected[[0, 1, 3, fpga]] = [250, 512 * 2**20, 1, 1]
    assert cache.requested[1].tolist() == expected.tolist()
    assert cache.pods["default/p"].assumed
    assert list(cache.pods_on_node["b"]) == ["default/p"]
    cache.forget_pod("default/p")
    assert np.array_equal(cache.requested, before)
    assert cache.pods["default/p"].node is None
    assert cache.pods_on_node["b"] == {}


def test_assume_pod_rejects_unknown_or_placed_pods_and_unknown_nodes() -> None:
    """assume names the pod or node it cannot use."""
    cache = make_cache([make_node("a")], [make_pod("bound", node_name="a"), make_pod("free")])
    with pytest.raises(KeyError, match="default/ghost"):
        cache.assume_pod("default/ghost", "a")
    with pytest.raises(ValueError, match="default/bound: already on node a"):
        cache.assume_pod("default/bound", "a")
    with pytest.raises(KeyError, match="Node nowhere"):
        cache.assume_pod("default/free", "nowhere")


def test_bound_pod_requesting_a_resource_no_node_has_is_charged() -> None:
    """A bound pod asking for a resource unknown to the cache gets a new column, charged."""
    cache = make_cache([make_node("a")])
    cache.add_pod(make_pod("p", cpu="1", requests={"nvidia.com/gpu": 1}, node_name="a"))
    col = cache.resources.index("nvidia.com/gpu")
    assert cache.requested[0, [0, 3, col]].tolist() == [1000, 1, 1]


def test_forget_of_a_bound_pod_changes_nothing() -> None:
    """forget only undoes assumptions; a bound pod stays charged."""
    cache = make_cache([make_node("a")], [make_pod("p", cpu="1", node_name="a")])
    generation = cache.generation
    cache.forget_pod("default/p")
    assert cache.requested.tolist() == [[1000, 0, 0, 1]]
    assert cache.generation == generation


def test_bind_pod_turns_an_assumption_into_a_binding() -> None:
    """After bind, the pod is bound (nodeName set) and still charged once."""
    cache = make_cache([make_node("a")], [make_pod("p", cpu="1")])
    cache.assume_pod("default/p", "a")
    cache.bind_pod("default/p")
    record = cache.pods["default/p"]
    assert not record.assumed and record.pod.spec.node_name == "a"
    cache.add_pod(record.pod)  # the informer echo of the binding
    assert cache.requested.tolist() == [[1000, 0, 0, 1]]


def test_pending_update_keeps_the_assumption() -> None:
    """An update of an assumed pod that still shows no nodeName keeps it assumed and charged."""
    cache = make_cache([make_node("a")], [make_pod("p", cpu="1")])
    cache.assume_pod("default/p", "a")
    cache.add_pod(make_pod("p", cpu="1", labels={"new": "label"}))
    record = cache.pods["default/p"]
    assert record.assumed and record.node == "a"
    assert record.pod.metadata.labels == {"new": "label"}
    assert cache.requested.tolist() == [[1000, 0, 0, 1]]


# -- DRA objects -----------------------------------------------------------------------------------
def test_device_class_add_and_update() -> None:
    """A DeviceClass is stored with its compiled spec; an update replaces both."""
    cache = ClusterCache()
    data = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": "c"},
        "spec": {"selectors": [{"cel": {"expression": "true"}}]},
    }
    cache.add(DeviceClass.model_validate(data))
    assert cache.class_specs["c"].selectors == ("true",)
    data["spec"] = {"selectors": [{"cel": {"expression": "device.driver == 'x'"}}]}
    cache.add(DeviceClass.model_validate(data))
    assert cache.class_specs["c"].selectors == ("device.driver == 'x'",)
    assert cache.classes["c"].spec.selectors[0].cel is not None


def test_slices_attach_a_template_only_when_the_pool_is_complete() -> None:
    """A pool is a template row only while all its slices are there; emptied, it is dropped."""
    built = build_cluster(gpu_spec(H100_DYNAMIC, count=1))
    cache = ClusterCache()
    cache.add_node(load_object(built.nodes[0]))  # type: ignore[arg-type]
    slices = [load_object(s) for s in built.resource_slices]
    assert len(slices) == 9  # 1 counter-set slice + 8 device slices (one per GPU)
    pool = (DRIVER, "gpu-node-0000")
    for s in slices[:-1]:
        cache.add(s)
    assert cache.devices.pools[pool].template == -1
    assert cache.devices.unsettled() == (frozenset({"gpu-node-0000"}), False)
    cache.add(slices[-1])
    entry = cache.devices.pools[pool]
    assert entry.template == 0 and entry.node == "gpu-node-0000"
    assert cache.devices.unsettled() == (frozenset(), False)
    assert cache.devices.templates[0].kinds == 208  # 8 GPUs x 26 devices
    cache.remove_slice(slices[3].name)
    assert cache.devices.pools[pool].template == -1
    for s in slices:
        cache.remove_slice(s.name)
    assert pool not in cache.devices.pools
    assert cache.devices.slices == {}


def test_slice_update_to_a_new_generation_settles_when_complete() -> None:
    """Republishing a pool at generation 2 leaves it unsettled until every slice is at 2."""
    built = build_cluster(gpu_spec(H100_DYNAMIC, count=1))
    cache = ClusterCache()
    cache.add_all([load_object(o) for o in built.objects()])
    pool = (DRIVER, "gpu-node-0000")
    assert cache.devices.pools[pool].template == 0
    newer = []
    for raw in built.resource_slices:
        spec = {**raw["spec"], "pool": {**raw["spec"]["pool"], "generation": 2}}
        newer.append(ResourceSlice.model_validate({**raw, "spec": spec}))
    cache.add(newer[0])
    assert cache.devices.pools[pool].template == -1
    for s in newer[1:]:
        cache.add(s)
    assert cache.devices.pools[pool].template >= 0


@pytest.mark.parametrize("templated", [False, True])
def test_written_allocation_holds_devices_until_the_claim_goes(templated: bool) -> None:
    """A claim whose status shows an allocation holds its device; removing it frees it."""
    cache = dra_cache(H100_DYNAMIC, templated=templated)
    before = state_arrays(cache)
    device = (DRIVER, "gpu-node-0001", "gpu-3")
    cache.add(claim("c", [("gpu-node-0001", "gpu-3")]))
    assert cache.devices.is_allocated(device)
    state = cache.devices.states[0]
    assert state.allocated[1, kind(cache, "gpu-3")]
    # the whole GPU consumes all 8 memory slices of gpu-3's counter set: nothing else fits there
    gpu3 = cache.devices.templates[0].gpus.kinds[3]
    assert not state.available[1, gpu3].any()
    assert state.available[0].all()
    cache.remove_claim("default/c")
    assert not cache.devices.is_allocated(device)
    assert_states_equal(state_arrays(cache), before)


def test_claim_update_swaps_the_held_devices() -> None:
    """A claim update with another allocation releases the old devices and holds the new."""
    cache = dra_cache(H100_DYNAMIC)
    cache.add(claim("c", [("gpu-node-0000", "gpu-0")]))
    cache.add(claim("c", [("gpu-node-0000", "gpu-1")]))
    assert not cache.devices.is_allocated((DRIVER, "gpu-node-0000", "gpu-0"))
    assert cache.devices.is_allocated((DRIVER, "gpu-node-0000", "gpu-1"))
    cache.add(claim("c"))  # deallocated
    assert cache.devices.allocations == {}


@pytest.mark.parametrize("templated", [False, True])
def test_assume_and_forget_claim_round_trip(templated: bool) -> None:
    """assume_claim moves only the touched GPU's counters; forget_claim restores every array."""
    cache = dra_cache(H100_DYNAMIC, templated=templated)
    cache.add(claim("c"))
    before = state_arrays(cache)
    device = "gpu-2-mig-3g40gb-9-0"
    cache.assume_claim("default/c", allocation("gpu-node-0000", device))
    record = cache.claims["default/c"]
    assert record.assumed and [r.device for r in record.results] == [device]
    template, state = cache.devices.templates[0], cache.devices.states[0]
    k = kind(cache, device)
    after = state_arrays(cache)[0]
    # counters: only gpu-2's set on row 0 moved, by what the 3g.40gb consumes
    set_index = template.set_names.index("gpu-2-counter-set")
    moved = before[0]["counters_left"] - after["counters_left"]
    assert np.array_equal(moved[0, set_index], template.consumes[k, set_index])
    moved[0, set_index] = 0
    assert not moved.any()
    slice_columns = template.gpus.slice_counters
    # 3g.40gb at start 0 takes memory slices 0-3
    assert after["counters_left"][0, set_index, slice_columns].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert state.allocated[0, k] and state.allocated.sum() == 1
    # the other 3g.40gb (start 4) still fits; the whole GPU and 7g.80gb no longer do
    assert state.available[0, kind(cache, "gpu-2-mig-3g40gb-9-4")]
    assert not state.available[0, kind(cache, "gpu-2")]
    assert not state.available[0, kind(cache, "gpu-2-mig-7g80gb-0-0")]
    assert np.array_equal(after["available"][1], before[0]["available"][1])
    cache.forget_claim("default/c")
    assert cache.claims["default/c"].results == []
    assert_states_equal(state_arrays(cache), before)


def test_assume_claim_rejects_unknown_or_allocated_claims() -> None:
    """assume_claim names the claim it cannot use."""
    cache = dra_cache(H100_DYNAMIC, count=1, templated=True)
    cache.add(claim("held", [("gpu-node-0000", "gpu-0")]))
    with pytest.raises(KeyError, match="default/ghost: not in the cache"):
        cache.assume_claim("default/ghost", allocation("gpu-node-0000", "gpu-1"))
    with pytest.raises(ValueError, match="default/held: already allocated"):
        cache.assume_claim("default/held", allocation("gpu-node-0000", "gpu-1"))


def test_api_echo_without_allocation_keeps_an_assumed_claim() -> None:
    """An update that does not show our in-flight allocation yet keeps the assumed devices."""
    cache = dra_cache(H100_DYNAMIC, count=1, templated=True)
    cache.add(claim("c"))
    cache.assume_claim("default/c", allocation("gpu-node-0000", "gpu-5"))
    cache.add(claim("c"))
    assert cache.claims["default/c"].assumed
    assert cache.devices.is_allocated((DRIVER, "gpu-node-0000", "gpu-5"))


def test_commit_and_written_echo_keep_the_assumed_devices_once() -> None:
    """commit_claim and the API echo of an assumed allocation hold its device exactly once."""
    cache = dra_cache(H100_DYNAMIC, count=1, templated=True)
    cache.add(claim("c"))
    cache.assume_claim("default/c", allocation("gpu-node-0000", "gpu-5"))
    written = claim("c", [("gpu-node-0000", "gpu-5")])
    cache.commit_claim(written)
    assert not cache.claims["default/c"].assumed
    cache.add(written)
    assert len(cache.devices.allocations[(DRIVER, "gpu-node-0000", "gpu-5")]) == 1
    cache.remove_claim("default/c")
    assert cache.devices.allocations == {}
    assert cache.devices.states[0].available[0].all()


@pytest.mark.parametrize("templated", [False, True])
def test_shared_gpu_shares_add_up_and_come_back(templated: bool) -> None:
    """Two shares of one GPU add their counts and compute; releasing both restores the arrays."""
    cache = dra_cache(T4_SHARED, count=1, templated=templated)
    before = state_arrays(cache)
    cache.add(claim("a", [("gpu-node-0000", "gpu-1")], compute="470"))
    cache.add(claim("b", [("gpu-node-0000", "gpu-1")], compute="200"))
    device = (DRIVER, "gpu-node-0000", "gpu-1")
    state, template = cache.devices.states[0], cache.devices.templates[0]
    k = kind(cache, "gpu-1")
    compute = template.capacity_names.index("compute")
    assert state.share_count[0, k] == 2
    # 470 + 200 = 670 thousandths held
    assert state.shared_used[0, template.shared_slot[k], compute] == 670
    assert cache.devices.shared_consumed(device) == {"compute": 670}
    assert not cache.devices.is_allocated(device)  # shares are not exclusive holds
    cache.remove_claim("default/a")
    cache.remove_claim("default/b")
    assert cache.devices.shared_consumed(device) is None
    assert_states_equal(state_arrays(cache), before)


def test_duplicate_templated_pool_is_rejected_with_its_name() -> None:
    """Adding templated pools twice for one node names the clashing pool."""
    cache = dra_cache(H100_DYNAMIC, count=1, templated=True)
    template = cache.devices.templates[0]
    with pytest.raises(ValueError, match=r"gpu\.nvidia\.com/gpu-node-0000: already exists"):
        cache.add_templated_pools(list(template.slices), "__NODE__", ["gpu-node-0000"])


# -- dispatch and ordering -------------------------------------------------------------------------
def test_add_dispatches_every_supported_kind_and_ignores_others() -> None:
    """add() stores PriorityClass, PodGroup and LWS by key and ignores kinds the cache lacks."""
    cache = ClusterCache()
    cache.add(PriorityClass.model_validate({"metadata": {"name": "high"}, "value": 1000}))
    cache.add(
        PodGroup.model_validate(
            {"metadata": {"name": "g", "namespace": "ml"}, "spec": {"minMember": 4}}
        )
    )
    cache.add(LeaderWorkerSet.model_validate({"metadata": {"name": "llm", "namespace": "serve"}}))
    assert cache.priority_classes["high"].value == 1000
    assert cache.pod_groups["ml/g"].spec.min_member == 4
    assert "serve/llm" in cache.leader_worker_sets
    generation = cache.generation
    cache.add(
        ResourceClaimTemplate.model_validate(
            {"metadata": {"name": "t", "namespace": "ml"}, "spec": {"spec": {}}}
        )
    )
    assert cache.generation == generation


def test_add_all_feeds_nodes_and_slices_before_pods_and_claims() -> None:
    """Objects listed in any order end up consistent: pods charged, claims holding devices."""
    built = build_cluster(gpu_spec(H100_DYNAMIC, count=1))
    objects = [
        make_pod("p", cpu="2", node_name="gpu-node-0000"),
        claim("c", [("gpu-node-0000", "gpu-4")]),
        *reversed([load_object(o) for o in built.objects()]),
    ]
    cache = ClusterCache()
    cache.add_all(objects)
    assert cache.requested[0, 0] == 2000
    assert cache.devices.states[0].allocated[0, kind(cache, "gpu-4")]


# -- generations -----------------------------------------------------------------------------------
def test_every_mutation_bumps_the_generation() -> None:
    """Each event, assume and forget leaves the cache at a newer generation."""
    cache = dra_cache(H100_DYNAMIC, count=2, templated=True)
    steps = [
        lambda: cache.add_node(make_node("cpu-1")),
        lambda: cache.add_pod(make_pod("p", cpu="1")),
        lambda: cache.assume_pod("default/p", "cpu-1"),
        lambda: cache.bind_pod("default/p"),
        lambda: cache.add(claim("c")),
        lambda: cache.assume_claim("default/c", allocation("gpu-node-0001", "gpu-0")),
        lambda: cache.forget_claim("default/c"),
        lambda: cache.remove_claim("default/c"),
        lambda: cache.remove_pod("default/p"),
        lambda: cache.remove_node("cpu-1"),
    ]
    seen = [cache.generation]
    for step in steps:
        step()
        seen.append(cache.generation)
    assert all(b > a for a, b in itertools.pairwise(seen))


def _changed_nodes(cache: ClusterCache, versions: npt.NDArray[np.int64]) -> list[str]:
    return [cache.node_names[i] for i in np.flatnonzero(cache.node_version != versions)]


def test_node_version_bumps_only_for_the_touched_node() -> None:
    """Events bump node_version of exactly the node whose free resources moved, and no other."""
    cache = dra_cache(H100_DYNAMIC, count=3, templated=True)
    cache.add(claim("c"))
    cache.add_pod(make_pod("p", cpu="1"))
    steps: list[tuple[str, Any, list[str], bool]] = [
        # (what, action, nodes whose version moves, node set changes)
        (
            "bound pod",
            lambda: cache.add_pod(make_pod("q", cpu="1", node_name="gpu-node-0002")),
            ["gpu-node-0002"],
            False,
        ),
        (
            "assume pod",
            lambda: cache.assume_pod("default/p", "gpu-node-0000"),
            ["gpu-node-0000"],
            False,
        ),
        ("forget pod", lambda: cache.forget_pod("default/p"), ["gpu-node-0000"], False),
        (
            "assume claim",
            lambda: cache.assume_claim("default/c", allocation("gpu-node-0001", "gpu-7")),
            ["gpu-node-0001"],
            False,
        ),
        ("forget claim", lambda: cache.forget_claim("default/c"), ["gpu-node-0001"], False),
        (
            "node update",
            lambda: cache.add_node(with_cpu(cache.nodes["gpu-node-0000"], "2")),
            ["gpu-node-0000"],
            False,
        ),
        (
            "priority class",
            lambda: cache.add(
                PriorityClass.model_validate({"metadata": {"name": "x"}, "value": 1})
            ),
            [],
            False,
        ),
    ]
    for what, action, touched, node_set in steps:
        versions = cache.node_version.copy()
        node_generation = cache.node_generation
        action()
        assert _changed_nodes(cache, versions) == touched, what
        assert (cache.node_generation != node_generation) == node_set, what
