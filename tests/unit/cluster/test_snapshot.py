"""Snapshot: the frozen per-cycle view, its staleness check and derived views."""

from __future__ import annotations

import pytest

from scheduler.api.dra import ResourceClaim
from scheduler.api.loaders import load_object
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.snapshot import StaleSnapshot
from simulator.clusters import cluster_from_spec
from simulator.drivers.build import build_cluster, pool_builders
from tests.builders import make_cache, make_node, make_pod, one_pool_spec

DRIVER = "gpu.nvidia.com"


gpu_spec = one_pool_spec


H100_DYNAMIC = {"kind": "nvidia", "model": "H100-80GB", "count": 8, "mig": {"mode": "dynamic"}}


def held_claim(pool: str, device: str) -> ResourceClaim:
    """A claim whose status holds one exclusive device."""
    return ResourceClaim.model_validate(
        {
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {
                "devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "x"}}]}
            },
            "status": {
                "allocation": {
                    "devices": {
                        "results": [
                            {"request": "gpu", "driver": DRIVER, "pool": pool, "device": device}
                        ]
                    }
                }
            },
        }
    )


def test_arrays_are_read_only_and_free_is_allocatable_minus_requested() -> None:
    """Dense arrays cannot be written through the snapshot; free = allocatable - requested."""
    snap = make_cache(
        [make_node("a", cpu="4"), make_node("b")], [make_pod("p", cpu="1500m", node_name="a")]
    ).snapshot()
    for array in (snap.allocatable, snap.requested, snap.node_version, snap.free):
        with pytest.raises(ValueError, match="read-only"):
            array[0, ...] = 0
    # a: 4000 - 1500 = 2500 milli-CPU, 110 - 1 = 109 pods; b untouched
    assert snap.free[:, 0].tolist() == [2500, 8000]
    assert snap.free[:, 3].tolist() == [109, 110]
    assert snap.size == 2 and snap.node_names == ("a", "b")
    assert snap.column("pods") == 3 and snap.column("example.com/none") is None


def test_snapshot_is_reused_until_the_cache_changes() -> None:
    """Two reads in one cycle share one snapshot; a mutation gives a new one."""
    cache = make_cache([make_node("a")])
    first = cache.snapshot()
    assert cache.snapshot() is first
    cache.add_pod(make_pod("p", cpu="1", node_name="a"))
    second = cache.snapshot()
    assert second is not first
    assert second.generation == cache.generation > first.generation


def test_reads_after_a_mutation_raise_stale_snapshot() -> None:
    """Shared-state reads of an outdated snapshot raise StaleSnapshot naming both generations."""
    cache = cluster_from_spec(gpu_spec(H100_DYNAMIC, count=1), templated=True).cache
    snap = cache.snapshot()
    generation = snap.generation
    cache.add_pod(make_pod("p", cpu="1"))
    message = f"snapshot of generation {generation} read at cache generation {cache.generation}"
    with pytest.raises(StaleSnapshot, match=message):
        snap.check()
    reads = [
        lambda: snap.free,
        lambda: snap.gpus,
        lambda: snap.pods_on("gpu-node-0000"),
        lambda: snap.node_pools(0),
    ]
    for read in reads:
        with pytest.raises(StaleSnapshot):
            read()


def test_views_computed_before_a_mutation_keep_their_values() -> None:
    """A derived view read inside the cycle is cached; it is not recomputed from newer state."""
    cache = make_cache([make_node("a")])
    snap = cache.snapshot()
    free = snap.free
    cache.add_pod(make_pod("p", cpu="1", node_name="a"))
    assert snap.free is free
    assert free[0, 0] == 8000


def test_node_level_views() -> None:
    """Cordon flags, taint groups and label columns are dense per-node views."""
    nodes = [
        make_node("a", labels={"rack": "r1"}, taints=["gpu=true:NoSchedule"]),
        make_node("b", unschedulable=True),
        make_node("c", labels={"rack": "r2"}, taints=["gpu=true:NoSchedule"]),
        make_node("d", labels={"rack": "r1"}),
    ]
    snap = make_cache(nodes).snapshot()
    assert snap.unschedulable.tolist() == [False, True, False, False]
    groups, ids = snap.taint_groups
    # a and c share one taint list; b and d have none
    assert ids.tolist() == [0, 1, 0, 1]
    assert [len(g) for g in groups] == [1, 0]
    codes, values = snap.label_column("rack")
    assert values == ("r1", "r2")
    assert codes.tolist() == [0, -1, 1, 0]
    assert snap.label_column("rack")[0] is codes  # computed once per snapshot
    assert snap.labels(2)["rack"] == "r2"


def test_pods_on_lists_bound_and_assumed_pods() -> None:
    """pods_on shows both bound and assumed pods of a node, read-only."""
    cache = make_cache([make_node("a")], [make_pod("bound", node_name="a"), make_pod("next")])
    cache.assume_pod("default/next", "a")
    on_a = cache.snapshot().pods_on("a")
    assert sorted(on_a) == ["default/bound", "default/next"]
    assert on_a["default/next"].assumed
    with pytest.raises(TypeError):
        on_a["x"] = on_a["default/bound"]  # type: ignore[index]


def test_templated_node_pools_materialise_per_node_instance_attributes() -> None:
    """node_pools(i) of a templated pool carries node i's name, nodeName and driver-given uuids."""
    spec = gpu_spec(H100_DYNAMIC)
    cache = cluster_from_spec(spec, templated=True).cache
    builder = pool_builders(spec)[0]
    snap = cache.snapshot()
    seen_uuids = []
    for i, name in enumerate(snap.node_names):
        (pool,) = snap.node_pools(i)
        assert (pool.driver, pool.name) == (DRIVER, name)
        assert pool.usable
        devices = {d.name: d for _, d in pool.devices_in_order()}
        assert len(devices) == 208  # 8 GPUs x (1 whole + 25 MIG placements)
        assert {s.node_name for s in pool.slices} == {name}
        for device, values in builder.instance_attributes(name).items():
            for attribute, typed in values.items():
                ((kind, value),) = typed.items()
                assert devices[device].attributes[attribute] == (kind, value)
        seen_uuids.append(devices["gpu-0"].attributes["uuid"])
        mig = devices["gpu-0-mig-1g10gb-19-0"]
        assert mig.attributes["parentUUID"] == devices["gpu-0"].attributes["uuid"]
    assert seen_uuids[0] != seen_uuids[1]


def test_templated_and_object_paths_materialise_the_same_devices() -> None:
    """The devices node_pools gives for a templated pool equal the compiled published slices."""
    spec = gpu_spec(H100_DYNAMIC)
    by_objects = cluster_from_spec(spec).cache.snapshot()
    templated = cluster_from_spec(spec, templated=True).cache.snapshot()
    for i in range(2):
        (a,) = by_objects.node_pools(i)
        (b,) = templated.node_pools(i)
        assert a.counter_sets == b.counter_sets
        left = [(d.name, d.attributes, d.capacity, d.consumes) for _, d in a.devices_in_order()]
        right = [(d.name, d.attributes, d.capacity, d.consumes) for _, d in b.devices_in_order()]
        assert left == right


def test_allocation_lookups() -> None:
    """is_allocated, claim_results and shared_consumed read the cache's holds."""
    cache = cluster_from_spec(gpu_spec(H100_DYNAMIC, count=1), templated=True).cache
    cache.add(held_claim("gpu-node-0000", "gpu-6"))
    snap = cache.snapshot()
    assert snap.is_allocated((DRIVER, "gpu-node-0000", "gpu-6"))
    assert not snap.is_allocated((DRIVER, "gpu-node-0000", "gpu-5"))
    assert [r.device for r in snap.claim_results("default/c")] == ["gpu-6"]
    assert snap.claim_results("default/none") == []
    assert snap.shared_consumed((DRIVER, "gpu-node-0000", "gpu-6")) is None


def test_gpu_devices_name_the_device_standing_for_each_gpu() -> None:
    """Whole and dynamic-MIG GPUs are stood for by their whole-GPU device; static MIG by none."""
    dynamic = cluster_from_spec(gpu_spec(H100_DYNAMIC, count=1), templated=True).cache
    names = [d[2] if d else None for d in dynamic.snapshot().gpu_devices(0)]
    assert names == [f"gpu-{g}" for g in range(8)]
    static = {"kind": "nvidia", "model": "H100-80GB", "count": 2, "mig": {"mode": "static"}}
    static["mig"]["layout"] = ["3g.40gb", "3g.40gb"]  # type: ignore[index]
    cache = cluster_from_spec(gpu_spec(static, count=1), templated=True).cache
    assert cache.snapshot().gpu_devices(0) == [None, None]
    cpu_only = make_cache([make_node("a")]).snapshot()
    assert cpu_only.gpu_devices(0) == []


def test_unsettled_marks_nodes_with_pools_mid_update() -> None:
    """A node whose pool misses a slice is unsettled; complete pools are not."""
    built = build_cluster(gpu_spec(H100_DYNAMIC, count=2))
    cache = ClusterCache()
    objects = [load_object(o) for o in built.objects()]
    missing = "gpu-node-0001-gpu.nvidia.com-4"
    cache.add_all([o for o in objects if o.name != missing])
    assert cache.snapshot().unsettled.tolist() == [False, True]
    cache.add_all([o for o in objects if o.name == missing])
    assert cache.snapshot().unsettled.tolist() == [False, False]


def test_snapshot_mappings_are_read_only() -> None:
    """Nodes, pods, claims and classes are exposed as read-only mappings."""
    snap = make_cache([make_node("a")], [make_pod("p")]).snapshot()
    for mapping in (snap.nodes, snap.pods, snap.claims, snap.classes, snap.node_index):
        with pytest.raises(TypeError):
            mapping["x"] = None  # type: ignore[index]
