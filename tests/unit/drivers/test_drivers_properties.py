"""Hypothesis properties of the simulated NVIDIA driver over random cluster specs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.drivers.build import (
    build_cluster,
    instantiate_template,
    slice_limit_violations,
)
from simulator.drivers.catalog import GPU_MODELS, GpuModel
from simulator.drivers.mig import Placement, fits
from simulator.drivers.nvidia import NvidiaNodeConfig
from simulator.drivers.spec import parse_cluster_spec


@st.composite
def _layouts(draw: st.DrawFn, model: GpuModel) -> list[str]:
    """A placeable static layout: random (profile, start) picks, keeping those that fit."""
    picks = draw(
        st.lists(
            st.tuples(st.sampled_from(model.mig_profiles), st.integers(0, 6)),
            min_size=1,
            max_size=10,
        )
    )
    placed: list[Placement] = []
    for profile, start_index in picks:
        candidate = Placement(profile, profile.starts[start_index % len(profile.starts)])
        if fits(candidate, placed):
            placed.append(candidate)
    return [p.profile.name for p in placed]


@st.composite
def _specs(draw: st.DrawFn) -> dict[str, Any]:
    pools = []
    for index in range(draw(st.integers(1, 3))):
        model = GPU_MODELS[draw(st.sampled_from(sorted(GPU_MODELS)))]
        gpus = draw(st.integers(1, 16))
        modes = ["none", "shared", *(["static", "dynamic"] if model.mig_capable else [])]
        mode = draw(st.sampled_from(modes))
        if mode == "shared":
            accelerator: dict[str, Any] = {"kind": "shared-gpu", "model": model.name, "count": gpus}
        else:
            mig: dict[str, Any] = {"mode": mode}
            if mode == "static":
                mig["layout"] = draw(_layouts(model))
            accelerator = {"kind": "nvidia", "model": model.name, "count": gpus, "mig": mig}
        pools.append(
            {
                "name": f"p{index}",
                "count": draw(st.integers(1, 2)),
                "node": {"cpu": "64", "memory": "256Gi"},
                "accelerator": accelerator,
            }
        )
    return {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "random"},
        "kubernetesVersion": draw(st.sampled_from(["1.34", "1.35", "1.36"])),
        "featureGates": {"DRAPartitionableDevices": True, "DRAConsumableCapacity": True},
        "nodePools": pools,
    }


def _check_mig_counters(device: dict[str, Any], model: GpuModel) -> None:
    """A MIG device consumes memory-slice-i exactly for i in [start, start + size)."""
    gi_id, start = (int(x) for x in device["name"].rsplit("-", 2)[1:])
    profile = next(p for p in model.mig_profiles if p.gi_profile_id == gi_id)
    assert device["attributes"]["profile"] == {"string": profile.name}
    for entry in device.get("consumesCounters", []):
        slices = {k for k in entry["counters"] if k.startswith("memory-slice-")}
        assert slices == {f"memory-slice-{i}" for i in range(start, start + profile.size)}
    static_slices = {k for k in device["capacity"] if k.startswith("memorySlice")}
    if static_slices:
        assert static_slices == {f"memorySlice{i}" for i in range(start, start + profile.size)}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_specs())
def test_random_specs_respect_api_limits_and_counter_geometry(data: dict[str, Any]) -> None:
    """Every slice of every random spec is within API limits and MIG counters match placements."""
    spec = parse_cluster_spec(data)
    cluster = build_cluster(spec)
    split = spec.split_counter_slices
    by_pool: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource_slice in cluster.resource_slices:
        assert slice_limit_violations(resource_slice, split_layout=split) == []
        by_pool[resource_slice["spec"]["pool"]["name"]].append(resource_slice)
    models: dict[str, GpuModel] = {}
    for builder in cluster.pools:
        driver = builder.pool.driver
        assert isinstance(driver, NvidiaNodeConfig)
        models.update(dict.fromkeys(builder.node_names(), driver.model))
    for pool_name, slices in by_pool.items():
        assert {s["spec"]["pool"]["resourceSliceCount"] for s in slices} == {len(slices)}
        devices = [d for s in slices for d in s["spec"].get("devices", [])]
        assert len({d["name"] for d in devices}) == len(devices)
        for resource_slice in slices:
            # 1.35+: counter sets are pool-scoped; 1.34: scoped to their own slice.
            scope = slices if split else [resource_slice]
            sets = {
                c["name"]: c["counters"] for s in scope for c in s["spec"].get("sharedCounters", [])
            }
            for device in resource_slice["spec"].get("devices", []):
                for entry in device.get("consumesCounters", []):
                    assert entry["counterSet"] in sets
                    assert set(entry["counters"]) <= set(sets[entry["counterSet"]])
                if "-mig-" in device["name"]:
                    _check_mig_counters(device, models[pool_name])
                elif "consumesCounters" in device:
                    # the dynamic full GPU consumes its whole counter set
                    (entry,) = device["consumesCounters"]
                    assert entry["counters"] == sets[entry["counterSet"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_specs())
def test_random_specs_satisfy_the_template_contract(data: dict[str, Any]) -> None:
    """slices(node) equals the pool template instantiated for that node, for every node."""
    cluster = build_cluster(parse_cluster_spec(data))
    for builder in cluster.pools:
        template, attributes = builder.template()
        for index, name in enumerate(builder.node_names()):
            assert instantiate_template(template, name, attributes(name)) == builder.slices(
                name, index
            )
