"""The accelerator view: milli-GPU free per physical GPU for every device flavour, kept
current incrementally."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.api.dra import ResourceClaim
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.gpuview import GpuView, GpuViewTracker, gpu_free_row, gpu_free_rows
from scheduler.plugins.gpu.measure import FragTracker, TaskShape, WorkloadMix, node_frag
from simulator.clusters import cluster_from_spec
from simulator.drivers.build import build_cluster
from tests.builders import make_node, make_pod, pools_spec

DRIVER = "gpu.nvidia.com"
H100_DYNAMIC = {"kind": "nvidia", "model": "H100-80GB", "count": 8, "mig": {"mode": "dynamic"}}
H100_WHOLE = {"kind": "nvidia", "model": "H100-80GB", "count": 4}
T4_SHARED = {"kind": "shared-gpu", "model": "T4", "count": 2}
H100_STATIC = {
    "kind": "nvidia",
    "model": "H100-80GB",
    "count": 2,
    "mig": {"mode": "static", "layout": ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]},
}


def gpu_cache(accelerator: dict[str, Any], count: int = 1) -> ClusterCache:
    """A templated cluster of ``count`` nodes named gpu-0000... with ``accelerator``."""
    return cluster_from_spec(pools_spec([("gpu", count, accelerator)]), templated=True).cache


def claim(name: str, pool: str, device: str, compute: str | None = None) -> ResourceClaim:
    """A claim whose status holds ``device`` (a share of ``compute`` thousandths if given)."""
    result: dict[str, Any] = {"request": "gpu", "driver": DRIVER, "pool": pool, "device": device}
    if compute is not None:
        result["shareID"] = f"00000000-0000-4000-8000-{sum(map(ord, name)):012d}"
        result["consumedCapacity"] = {"compute": compute}
    return ResourceClaim.model_validate(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "x"}}]}
            },
            "status": {"allocation": {"devices": {"results": [result]}}},
        }
    )


def fresh_view(cache: ClusterCache) -> GpuView:
    """The view a brand-new tracker computes by a full rebuild."""
    return GpuViewTracker().view(cache)


def assert_views_equal(a: GpuView, b: GpuView) -> None:
    """Every array and the model list agree."""
    assert a.models == b.models
    for name in ("cpu_free", "gpu_free", "gpu_count", "gpu_model"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_shared_gpu_shows_its_remaining_compute() -> None:
    """A shared GPU's free milli is 1000 minus the compute its shares hold."""
    cache = gpu_cache(T4_SHARED)
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 1000]]
    cache.add(claim("a", "gpu-0000", "gpu-1", compute="470"))
    # 1000 - 470 = 530
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 530]]
    cache.add(claim("b", "gpu-0000", "gpu-1", compute="200"))
    # 1000 - 470 - 200 = 330
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 330]]
    cache.remove_claim("default/a")
    cache.remove_claim("default/b")
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 1000]]


def test_whole_gpus_are_all_or_nothing() -> None:
    """An allocated whole GPU shows 0, the others 1000."""
    cache = gpu_cache(H100_WHOLE)
    cache.add(claim("a", "gpu-0000", "gpu-1"))
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 0, 1000, 1000]]
    assert cache.gpu_view().models == ("NVIDIA H100 80GB HBM3",)


def test_dynamic_mig_counts_free_memory_slices() -> None:
    """Dynamic MIG: free milli = 1000 x free memory slices / 8."""
    cache = gpu_cache(H100_DYNAMIC)
    cache.add(claim("a", "gpu-0000", "gpu-2-mig-3g40gb-9-0"))
    view = cache.gpu_view().gpu_free[0]
    # 3g.40gb takes slices 0-3: 4 of 8 left -> 4 * 1000 // 8 = 500
    assert view.tolist() == [1000, 1000, 500, 1000, 1000, 1000, 1000, 1000]
    cache.add(claim("b", "gpu-0000", "gpu-2-mig-1g10gb-19-4"))
    # plus 1g.10gb on slice 4: 3 of 8 left -> 375
    assert cache.gpu_view().gpu_free[0, 2] == 375
    cache.add(claim("c", "gpu-0000", "gpu-0"))
    # the whole GPU consumes all 8 slices -> 0
    assert cache.gpu_view().gpu_free[0, 0] == 0
    cache.remove_claim("default/a")
    # only the 1g.10gb is left on gpu-2: 7 of 8 -> 875
    assert cache.gpu_view().gpu_free[0, 2] == 875


def test_static_mig_weighs_free_instances_by_memory() -> None:
    """Static MIG: free milli = 1000 x free instances' memory / all instances' memory."""
    cache = gpu_cache(H100_STATIC)
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 1000]]
    cache.add(claim("a", "gpu-0000", "gpu-1-mig-3g40gb-9-4"))
    # instances: 3g.40gb 40448Mi + 2g.20gb 20096Mi + 2 x 1g.10gb 9984Mi = 80512Mi;
    # free 80512 - 40448 = 40064 -> 40064 * 1000 // 80512 = 497
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 497]]
    cache.add(claim("b", "gpu-0000", "gpu-1-mig-1g10gb-19-2"))
    # free 40064 - 9984 = 30080 -> 30080 * 1000 // 80512 = 373
    assert cache.gpu_view().gpu_free.tolist() == [[1000, 373]]


def test_mixed_nodes_pad_gpus_and_mark_cpu_only_nodes() -> None:
    """Fewer GPUs are zero-padded, CPU-only nodes get model -1, cpu_free is milli-CPU left."""
    spec = pools_spec([("big", 1, H100_DYNAMIC), ("small", 1, T4_SHARED), ("cpu", 1, None)])
    cache = cluster_from_spec(spec, templated=True).cache
    cache.add_pod(make_pod("p", cpu="2500m", node_name="cpu-0000"))
    view = cache.gpu_view()
    assert view.gpu_count.tolist() == [8, 2, 0]
    assert view.models == ("NVIDIA H100 80GB HBM3", "T4")
    assert view.gpu_model.tolist() == [0, 1, -1]
    assert view.gpu_free.tolist() == [[1000] * 8, [1000, 1000] + [0] * 6, [0] * 8]
    # 64 cores = 64000 milli; the CPU node runs a 2500m pod
    assert view.cpu_free.tolist() == [64000, 64000, 61500]
    with pytest.raises(ValueError, match="read-only"):
        view.gpu_free[0, 0] = 0


def test_node_removal_rebuilds_the_view() -> None:
    """After a node leaves, rows follow the new dense index and keep their allocations."""
    cache = gpu_cache(H100_WHOLE, count=3)
    cache.add(claim("a", "gpu-0002", "gpu-3"))
    assert cache.gpu_view().gpu_free.shape == (3, 4)
    cache.remove_node("gpu-0000")
    view = cache.gpu_view()
    assert view.gpu_free.tolist() == [[1000] * 4, [1000, 1000, 1000, 0]]
    assert view.gpu_count.tolist() == [4, 4]


def test_snapshot_exposes_the_same_view() -> None:
    """Snapshot.gpus is the cache's view at the snapshot's generation."""
    cache = gpu_cache(H100_DYNAMIC, count=2)
    cache.add(claim("a", "gpu-0001", "gpu-7-mig-7g80gb-0-0"))
    snap = cache.snapshot()
    assert snap.gpus.gpu_free[1, 7] == 0
    assert_views_equal(snap.gpus, fresh_view(cache))


def test_object_path_view_equals_templated_view() -> None:
    """Slices fed as objects give the same view as templated pools, after the same claims."""
    spec = pools_spec([("gpu", 2, H100_DYNAMIC)])
    caches = [cluster_from_spec(spec, templated=t).cache for t in (False, True)]
    for cache in caches:
        cache.add(claim("a", "gpu-0001", "gpu-4-mig-2g20gb-14-2"))
        cache.add(claim("b", "gpu-0000", "gpu-0"))
    assert_views_equal(caches[0].gpu_view(), caches[1].gpu_view())
    # 2g.20gb takes 2 of 8 slices on gpu-4 of node 1 -> 6 * 1000 // 8 = 750
    assert caches[0].gpu_view().gpu_free[1, 4] == 750


# -- property: incremental refresh ---------------------------------------------------------------
def _slice_geometry() -> dict[str, tuple[int, frozenset[int]]]:
    """device name -> (GPU index, memory slices it consumes), read from the published slices."""
    built = build_cluster(pools_spec([("gpu", 1, {**H100_DYNAMIC, "count": 2})]))
    out: dict[str, tuple[int, frozenset[int]]] = {}
    for s in built.resource_slices:
        for d in s["spec"].get("devices", []):
            (entry,) = d["consumesCounters"]
            gpu = int(entry["counterSet"].split("-")[1])
            slices = frozenset(
                int(c.rpartition("-")[2])
                for c in entry["counters"]
                if c.startswith("memory-slice-")
            )
            out[d["name"]] = (gpu, slices)
    return out


GEOMETRY = _slice_geometry()
DEVICES = sorted(GEOMETRY)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 1), st.sampled_from(DEVICES)),
        min_size=1,
        max_size=25,
    )
)
def test_incremental_view_matches_rebuild_and_slice_geometry(
    steps: list[tuple[bool, int, str]],
) -> None:
    """Any allocate/release sequence: incremental view == rebuild == memory-slice arithmetic."""
    cache = gpu_cache({**H100_DYNAMIC, "count": 2}, count=2)
    cache.add_node(make_node("cpu-only"))
    held: dict[str, tuple[int, str]] = {}  # claim name -> (node, device)
    cache.gpu_view()  # start the tracker so later reads refresh incrementally
    for i, (allocate, node, device) in enumerate(steps):
        if allocate:
            gpu, wanted = GEOMETRY[device]
            busy = set().union(
                *(GEOMETRY[d][1] for n, d in held.values() if n == node and GEOMETRY[d][0] == gpu)
            )
            if busy & wanted:
                continue  # the allocator would never pick an overlapping device
            name = f"c{i}"
            cache.add(claim(name, f"gpu-{node:04d}", device))
            held[name] = (node, device)
        elif held:
            name = sorted(held)[i % len(held)]
            cache.remove_claim(f"default/{name}")
            del held[name]
        view = cache.gpu_view()
        expected = np.zeros((3, 2), dtype=np.int64)
        for n in range(2):
            for g in range(2):
                used = set().union(
                    *(GEOMETRY[d][1] for m, d in held.values() if m == n and GEOMETRY[d][0] == g)
                )
                expected[n, g] = (8 - len(used)) * 1000 // 8
        assert view.gpu_free.tolist() == expected.tolist()
        assert_views_equal(view, fresh_view(cache))


@pytest.mark.parametrize(
    ("accelerator", "claims"),
    [
        (T4_SHARED, [("a", "gpu-1", "470"), ("b", "gpu-1", "200"), ("c", "gpu-0", "1000")]),
        (H100_WHOLE, [("a", "gpu-1", None), ("b", "gpu-3", None)]),
        (H100_DYNAMIC, [("a", "gpu-2-mig-3g40gb-9-0", None), ("b", "gpu-0", None)]),
        (H100_STATIC, [("a", "gpu-1-mig-3g40gb-9-4", None), ("b", "gpu-0-mig-1g10gb-19-2", None)]),
    ],
)
def test_one_row_reading_equals_the_vectorised_one(
    accelerator: dict[str, Any], claims: list[tuple[str, str, str | None]]
) -> None:
    """gpu_free_row (one node per bind, plain Python) gives gpu_free_rows' integers."""
    cache = gpu_cache(accelerator, count=2)
    for name, device, compute in claims:
        cache.add(claim(name, "gpu-0001", device, compute))
    inventory = cache.devices
    checked = 0
    for template, state in zip(inventory.templates, inventory.states, strict=True):
        rows = np.arange(state.rows, dtype=np.intp)
        expected = gpu_free_rows(template, state, rows).tolist()
        assert [gpu_free_row(template, state, int(r)) for r in rows] == expected
        checked += state.rows
    assert checked == 2
    assert cache.gpu_view().gpu_free[1].tolist() != cache.gpu_view().gpu_free[0].tolist()


def test_frag_tracker_follows_every_change_node_by_node() -> None:
    """FragTracker's incremental values (a few stale nodes: the list path) equal F_n(M) of
    the whole current view after every allocate and release."""
    mix = WorkloadMix.from_shapes(
        [TaskShape(0, 0, 0), TaskShape(1000, 300, 1), TaskShape(2000, 1000, 1)],
        [0.2, 0.5, 0.3],
        ["Tesla T4"],
    )
    cache = gpu_cache(T4_SHARED, count=20)
    tracker = FragTracker(mix)
    tracker.values(cache.snapshot())
    steps = [(f"c{i}", f"gpu-{i % 20:04d}", f"gpu-{i % 2}", "300") for i in range(24)]
    for name, pool, device, compute in steps:
        cache.add(claim(name, pool, device, compute))
        if name == "c12":  # a batch of changes at once
            for other in ("c3", "c4", "c5", "c6"):
                cache.remove_claim(f"default/{other}")
            continue
        snapshot = cache.snapshot()
        view = snapshot.gpus
        expected = node_frag(view.cpu_free, view.gpu_free, view.gpu_model, mix)
        assert tracker.values(snapshot).tolist() == expected.tolist()
