"""The webhook's ClusterState as the informers' sink: lists whole or in parts, re-lists,
watch events on templated slice pools, pods that change nothing a scheduler reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scheduler.extender.state import ClusterState
from simulator.drivers.build import build_cluster
from simulator.drivers.spec import load_cluster_spec
from tests.extender.serve_harness import FEATURES, TWO_RACK, gpu_pod

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def built() -> Any:
    return build_cluster(load_cluster_spec(TWO_RACK))


def _fill(state: ClusterState, built: Any, parts: int = 1) -> None:
    for kind, objects in (
        ("DeviceClass", built.device_classes),
        ("Node", built.nodes),
        ("ResourceSlice", built.resource_slices),
    ):
        items = [copy.deepcopy(o) for o in objects]
        size = max(1, len(items) // parts + 1)
        chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        for i, chunk in enumerate(chunks):
            state.replace_page(kind, chunk, "10", first=i == 0, last=i == len(chunks) - 1)


def test_a_list_in_parts_builds_the_same_state_as_a_whole_list(built: Any) -> None:
    whole = ClusterState(features=FEATURES)
    _fill(whole, built, parts=1)
    parts = ClusterState(features=FEATURES)
    _fill(parts, built, parts=7)
    for state in (whole, parts):
        assert len(state.cache.nodes) == 36
        assert len(state.cache.devices.pools) == 32
        assert state.listed >= {"Node", "ResourceSlice", "DeviceClass"}
    snap_a, snap_b = whole.cache.snapshot(), parts.cache.snapshot()
    assert int(snap_a.gpus.gpu_count.sum()) == int(snap_b.gpus.gpu_count.sum()) == 256


def test_a_relist_deletes_what_it_lacks_and_skips_what_did_not_change(built: Any) -> None:
    state = ClusterState(features=FEATURES)
    _fill(state, built)
    pods = [gpu_pod(f"p{i}", gpus=0)[0] for i in range(3)]
    state.replace("Pod", pods, "20")
    assert set(state.cache.pods) == {"default/p0", "default/p1", "default/p2"}
    generation = state.cache.generation
    state.replace("Pod", pods[:2], "21")
    assert set(state.cache.pods) == {"default/p0", "default/p1"}
    assert state.cache.generation > generation
    generation = state.cache.generation
    state.replace("Pod", pods[:2], "22")  # same resourceVersions: nothing changes
    assert state.cache.generation == generation
    state.replace("Node", [copy.deepcopy(n) for n in built.nodes[:-1]], "23")
    assert "system-0003" not in state.cache.nodes


def test_a_status_only_pod_update_keeps_the_snapshot(built: Any) -> None:
    state = ClusterState(features=FEATURES)
    _fill(state, built)
    pod = gpu_pod("quiet", gpus=0)[0]
    state.apply("Pod", "ADDED", pod)
    snapshot = state.cache.snapshot()
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False"}]
    pod["metadata"]["resourceVersion"] = "2"
    state.apply("Pod", "MODIFIED", pod)
    assert state.cache.snapshot() is snapshot
    assert state.pod("default/quiet").status.conditions  # type: ignore[union-attr]
    pod["status"]["phase"] = "Succeeded"
    state.apply("Pod", "MODIFIED", pod)
    assert "default/quiet" not in state.cache.pods


def test_a_slice_event_on_a_templated_pool_detaches_it_and_replaces_that_slice(
    built: Any,
) -> None:
    state = ClusterState(features=FEATURES)
    _fill(state, built)
    devices = state.cache.devices
    pool = ("gpu.nvidia.com", "h100-0004")
    assert devices.pools[pool].factory is not None  # templated
    ours = [
        s
        for s in built.resource_slices
        if s["spec"]["nodeName"] == "h100-0004" and s["spec"].get("devices")
    ]
    changed = copy.deepcopy(ours[0])
    dropped = changed["spec"]["devices"].pop()["name"]
    state.apply("ResourceSlice", "MODIFIED", changed)
    entry = devices.pools[pool]
    assert entry.factory is None  # detached into slices
    names = {d.name for n in entry.slices for d in devices.slices[n].devices}
    assert dropped not in names
    before = len(names)
    state.apply("ResourceSlice", "DELETED", copy.deepcopy(ours[1]))
    after = {d.name for n in devices.pools[pool].slices for d in devices.slices[n].devices}
    assert len(after) < before
    assert state.unreadable == 0
