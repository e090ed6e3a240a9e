"""Cluster building: Node objects, topology labels, slices, templates, DeviceClasses."""

from __future__ import annotations

import copy
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.drivers.build import (
    PLACEHOLDER_NODE,
    build_cluster,
    instantiate_template,
    pool_builders,
    slice_limit_violations,
)
from simulator.drivers.spec import load_cluster_spec, parse_cluster_spec

REPO = Path(__file__).resolve().parents[3]
CLUSTERS = REPO / "traces" / "clusters"
FIXTURE_CSV = Path(__file__).parent / "fixtures" / "openb_nodes_small.csv"


def _pool(name: str, count: int, accelerator: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "count": count,
        "node": {"cpu": "64", "memory": "512Gi"},
        "accelerator": accelerator,
        **extra,
    }


MIXED: dict[str, Any] = {
    "apiVersion": "tessera.io/v1alpha1",
    "kind": "ClusterSpec",
    "metadata": {"name": "mixed"},
    "kubernetesVersion": "1.35",
    "featureGates": {"DRAPartitionableDevices": True, "DRAConsumableCapacity": True},
    "nodePools": [
        _pool(
            "dyn",
            3,
            {"kind": "nvidia", "model": "H100-80GB", "count": 2, "mig": {"mode": "dynamic"}},
            placement={"nodesPerRack": 2, "racksPerBlock": 2, "nodesPerClique": 2},
            taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
            labels={"team": "serving"},
        ),
        _pool(
            "static",
            2,
            {
                "kind": "nvidia",
                "model": "A100-40GB",
                "count": 1,
                "mig": {"mode": "static", "layout": ["3g.20gb", "3g.20gb"]},
            },
        ),
        _pool("shared", 2, {"kind": "shared-gpu", "model": "T4", "count": 2}),
        _pool("whole", 1, {"kind": "nvidia", "model": "GB200", "count": 4}),
        _pool("tpu", 4, {"kind": "tpu", "generation": "v5e", "topology": "2x4", "chipsPerVm": 4}),
        _pool("cpu", 2, {"kind": "none"}, nodeNamePrefix="system"),
    ],
}


def _mixed() -> Any:
    return build_cluster(parse_cluster_spec(copy.deepcopy(MIXED)))


def test_node_objects_have_capacity_without_gpu_resources() -> None:
    """Nodes carry cpu/memory/pods/ephemeral-storage only; GPUs belong to DRA."""
    cluster = _mixed()
    node = cluster.nodes[0]
    assert node["apiVersion"] == "v1" and node["kind"] == "Node"
    assert node["status"]["capacity"] == {
        "cpu": "64",
        "ephemeral-storage": "500Gi",
        "memory": "512Gi",
        "pods": "110",
    }
    assert node["status"]["allocatable"] == node["status"]["capacity"]
    assert node["spec"]["taints"] == [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    for each in cluster.nodes:
        assert not any(k.startswith("nvidia.com/") for k in each["status"]["capacity"])


def test_node_labels_of_a_dynamic_mig_node() -> None:
    """Hostname, arch, os, GPU product/count, topology, clique and spec labels are set."""
    labels = _mixed().nodes[0]["metadata"]["labels"]
    clique = labels.pop("nvidia.com/gpu.clique")
    assert clique.endswith(".1")
    assert labels == {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": "dyn-0000",
        "kubernetes.io/os": "linux",
        "nvidia.com/gpu.count": "2",
        "nvidia.com/gpu.memory": "81559",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        "team": "serving",
        "tessera.io/node-pool": "dyn",
        "topology.kubernetes.io/zone": "zone-a",
        "topology.tessera.io/block": "b00",
        "topology.tessera.io/rack": "r000",
    }


def test_racks_blocks_and_cliques_are_numbered_across_pools() -> None:
    """dyn: 3 nodes, 2 per rack -> r000,r000,r001 in b00; the next pool starts r002 in b01."""
    by_name = {n["metadata"]["name"]: n["metadata"]["labels"] for n in _mixed().nodes}
    racks = [by_name[f"dyn-000{i}"]["topology.tessera.io/rack"] for i in range(3)]
    assert racks == ["r000", "r000", "r001"]
    assert {by_name[f"dyn-000{i}"]["topology.tessera.io/block"] for i in range(3)} == {"b00"}
    assert by_name["static-0000"]["topology.tessera.io/rack"] == "r002"
    assert by_name["static-0000"]["topology.tessera.io/block"] == "b01"
    cliques = [by_name[f"dyn-000{i}"]["nvidia.com/gpu.clique"] for i in range(3)]
    assert cliques[0] == cliques[1] != cliques[2]
    assert "nvidia.com/gpu.clique" not in by_name["static-0000"]
    assert by_name["whole-0000"]["kubernetes.io/arch"] == "arm64"
    assert by_name["system-0001"]["tessera.io/node-pool"] == "cpu"


def test_tpu_nodes_carry_gke_labels() -> None:
    """TPU VMs get accelerator, topology, node-pool (= slice) and machine-type labels."""
    by_name = {n["metadata"]["name"]: n["metadata"]["labels"] for n in _mixed().nodes}
    # 2x4 on 4-chip VMs = 2 VMs per slice: VMs 2 and 3 form slice 01.
    assert by_name["tpu-0003"]["cloud.google.com/gke-nodepool"] == "tpu-slice-01"
    assert by_name["tpu-0003"]["cloud.google.com/gke-tpu-topology"] == "2x4"
    assert by_name["tpu-0003"]["node.kubernetes.io/instance-type"] == "ct5lp-hightpu-4t"


def test_slices_have_pools_names_and_respect_limits() -> None:
    """Every slice: pool = node, generation 1, count = slices of the pool, unique names."""
    cluster = _mixed()
    per_pool = Counter(s["spec"]["pool"]["name"] for s in cluster.resource_slices)
    for resource_slice in cluster.resource_slices:
        spec = resource_slice["spec"]
        assert spec["pool"]["name"] == spec["nodeName"]
        assert spec["pool"]["generation"] == 1
        assert spec["pool"]["resourceSliceCount"] == per_pool[spec["nodeName"]]
        assert resource_slice["metadata"]["name"].startswith(
            f"{spec['nodeName']}-{spec['driver']}-"
        )
        assert slice_limit_violations(resource_slice) == []
    names = [s["metadata"]["name"] for s in cluster.resource_slices]
    assert len(names) == len(set(names))
    # dyn: 1 counters slice + 2 GPU slices; cpu pool publishes nothing.
    assert per_pool["dyn-0000"] == 3
    assert "system-0000" not in per_pool


def test_template_contract_for_every_pool() -> None:
    """For every node, slices(node) == the pool template instantiated for that node."""
    spec = parse_cluster_spec(copy.deepcopy(MIXED))
    for builder in pool_builders(spec):
        template, attributes = builder.template()
        for index, name in enumerate(builder.node_names()):
            expected = builder.slices(name, index)
            assert instantiate_template(template, name, attributes(name)) == expected, name
        if builder.driver_name is not None:
            assert template[0]["spec"]["nodeName"] == PLACEHOLDER_NODE


def test_template_instance_attributes_are_only_the_node_dependent_ones() -> None:
    """Dynamic MIG instance attributes are uuid (full GPU) and parentUUID (partitions)."""
    spec = parse_cluster_spec(copy.deepcopy(MIXED))
    dyn = pool_builders(spec)[0]
    _, attributes = dyn.template()
    per_device = attributes("dyn-0001")
    assert set(per_device["gpu-0"]) == {"uuid"}
    assert set(per_device["gpu-1-mig-7g80gb-0-0"]) == {"parentUUID"}
    assert len(per_device) == 2 * 26
    with pytest.raises(ValueError, match="node 'other' is not in pool 'dyn'"):
        attributes("other")


def test_device_classes() -> None:
    """Three classes with the NVIDIA chart's CEL and the extended-resource mappings."""
    classes = {c["metadata"]["name"]: c["spec"] for c in _mixed().device_classes}
    assert classes["gpu.nvidia.com"] == {
        "selectors": [
            {
                "cel": {
                    "expression": "device.driver == 'gpu.nvidia.com' && "
                    "device.attributes['gpu.nvidia.com'].type == 'gpu'"
                }
            }
        ],
        "extendedResourceName": "nvidia.com/gpu",
    }
    assert "type == 'mig'" in classes["mig.nvidia.com"]["selectors"][0]["cel"]["expression"]
    assert "type == 'tpu'" in classes["tpu.google.com"]["selectors"][0]["cel"]["expression"]


def test_clashing_node_names_are_rejected() -> None:
    """Two pools producing the same node name fail with both pools named."""
    data = copy.deepcopy(MIXED)
    data["nodePools"][5]["nodeNamePrefix"] = "dyn"
    with pytest.raises(ValueError, match="node name 'dyn-0000' is also produced by pool 'dyn'"):
        build_cluster(parse_cluster_spec(data))


def test_topology_levels_must_nest() -> None:
    """Zone listed inside block fails when one zone spans two blocks."""
    data = copy.deepcopy(MIXED)
    data["topology"] = {"levels": ["topology.tessera.io/block", "topology.kubernetes.io/zone"]}
    with pytest.raises(ValueError, match="the levels do not nest"):
        build_cluster(parse_cluster_spec(data))


def test_openb_csv_expands_into_one_pool_per_shape(tmp_path: Path) -> None:
    """The fixture's 7 rows form 5 shapes; node names come from the CSV; shared GPUs."""
    shutil.copy(FIXTURE_CSV, tmp_path / "nodes.csv")
    data = {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "openb-small"},
        "featureGates": {"DRAConsumableCapacity": True},
        "nodePools": [{"name": "openb", "fromOpenbCSV": "nodes.csv"}],
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(data))
    cluster = build_cluster(load_cluster_spec(tmp_path / "spec.yaml"))
    assert [b.name for b in cluster.pools] == [
        "openb-p100-2g-64c-256gi",
        "openb-g2-8g-96c-384gi",
        "openb-t4-2g-104c-512gi",
        "openb-cpu-0g-32c-128gi",
        "openb-v100m16-1g-8c-32gi",
    ]
    assert cluster.pools[0].node_names() == [
        "openb-node-0000",
        "openb-node-0001",
        "openb-node-0004",
    ]
    g2 = next(n for n in cluster.nodes if n["metadata"]["name"] == "openb-node-0002")
    assert g2["status"]["capacity"]["cpu"] == "96"
    assert g2["status"]["capacity"]["memory"] == "384Gi"
    assert g2["metadata"]["labels"]["nvidia.com/gpu.product"] == "G2"
    slices = [s for s in cluster.resource_slices if s["spec"]["nodeName"] == "openb-node-0002"]
    (only,) = slices
    assert len(only["spec"]["devices"]) == 8
    assert all(d["allowMultipleAllocations"] for d in only["spec"]["devices"])
    assert not [s for s in cluster.resource_slices if s["spec"]["nodeName"] == "openb-node-0005"]


@pytest.mark.parametrize(
    ("name", "nodes", "slices", "devices"),
    [
        # 32 x (1 counters + 8 GPU slices) = 288 slices; 32 x 8 x 26 = 6656 devices; + 4 CPU nodes
        ("two-rack-h100-dynamic-mig.yaml", 36, 288, 6656),
        # 72 trays x 1 slice of 4 GPUs
        ("gb200-nvl72.yaml", 72, 72, 288),
        # 12 + 2 VMs x 4 chips
        ("tpu-v5e-multihost.yaml", 14, 14, 56),
        # 32 device-plugin nodes + 4 CPU nodes, no slices
        ("two-rack-h100-device-plugin.yaml", 36, 0, 0),
    ],
)
def test_example_clusters_build(name: str, nodes: int, slices: int, devices: int) -> None:
    """The example specs build to the expected object counts within API limits."""
    cluster = build_cluster(load_cluster_spec(CLUSTERS / name))
    assert len(cluster.nodes) == nodes
    assert len(cluster.resource_slices) == slices
    assert sum(len(s["spec"].get("devices", [])) for s in cluster.resource_slices) == devices
    assert not [p for s in cluster.resource_slices for p in slice_limit_violations(s)]


def test_gb200_example_has_four_cliques_of_eighteen() -> None:
    """Each NVL72 rack is one clique of 18 trays."""
    cluster = build_cluster(load_cluster_spec(CLUSTERS / "gb200-nvl72.yaml"))
    cliques = Counter(n["metadata"]["labels"]["nvidia.com/gpu.clique"] for n in cluster.nodes)
    assert sorted(cliques.values()) == [18, 18, 18, 18]
    assert cluster.topology_levels[2] == "nvidia.com/gpu.clique"


def test_build_is_deterministic() -> None:
    """Building the same spec twice gives identical objects."""
    assert _mixed().objects() == _mixed().objects()


OPENB_GPU_NODES = REPO / "traces" / "openb" / "openb_node_list_gpu_node.csv.gz"


def test_openb_example_builds_the_paper_cluster() -> None:
    """openb.yaml builds 1,213 nodes with 6,212 shared GPUs (the FGD paper's cluster)."""
    cluster = build_cluster(load_cluster_spec(CLUSTERS / "openb.yaml"))
    assert len(cluster.nodes) == 1213
    devices = [d for s in cluster.resource_slices for d in s["spec"]["devices"]]
    assert len(devices) == 6212
    assert all(d["capacity"]["compute"]["value"] == "1000" for d in devices)


def test_readme_lists_every_approximation() -> None:
    """traces/README.md names every approximated catalog field next to its model."""
    from simulator.drivers.catalog import approximations

    rows = []
    for line in (REPO / "traces" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 6:  # | model | profiles | field | why |
            rows.append((set(cells[1].split(", ")), set(cells[3].split(", "))))
    for item in approximations():
        model = item.subject.split(" ")[0]
        assert any(model in models and item.field in fields for models, fields in rows), item
