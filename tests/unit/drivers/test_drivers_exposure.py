"""accelerator.exposure: device-plugin pools offer nvidia.com/gpu / google.com/tpu in their
nodes' capacity and allocatable and publish no ResourceSlices; DRA pools are unchanged; MIG
with a device plugin is rejected with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.drivers.build import build_cluster
from simulator.drivers.spec import parse_cluster_spec


def spec(accelerator: dict[str, Any], count: int = 2) -> dict[str, Any]:
    """A one-pool spec of ``count`` nodes with ``accelerator``."""
    return {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "x"},
        "nodePools": [
            {
                "name": "p",
                "count": count,
                "node": {"cpu": "96", "memory": "1Ti"},
                "accelerator": accelerator,
            }
        ],
    }


H100 = {"kind": "nvidia", "model": "H100-80GB", "count": 8}
V5E = {"kind": "tpu", "generation": "v5e", "topology": "2x4"}


@pytest.mark.parametrize(
    ("accelerator", "resource", "amount"),
    [
        ({**H100, "exposure": "device-plugin"}, "nvidia.com/gpu", "8"),
        ({**V5E, "exposure": "device-plugin"}, "google.com/tpu", "8"),
    ],
)
def test_device_plugin_nodes_offer_the_resource_and_publish_no_slices(
    accelerator: dict[str, Any], resource: str, amount: str
) -> None:
    """Capacity and allocatable carry the resource (GPUs per node, chips per VM); no slices."""
    built = build_cluster(parse_cluster_spec(spec(accelerator, count=1)))
    [node] = built.nodes
    assert node["status"]["capacity"][resource] == amount
    assert node["status"]["allocatable"][resource] == amount
    assert built.resource_slices == []
    assert [p.driver_name for p in built.pools] == [None]


def test_device_plugin_nodes_keep_the_gpu_feature_discovery_labels() -> None:
    """The GPU product, count and memory labels are those of the DRA variant of the node."""
    plugin = build_cluster(parse_cluster_spec(spec({**H100, "exposure": "device-plugin"}))).nodes
    dra = build_cluster(parse_cluster_spec(spec(H100))).nodes
    assert [n["metadata"]["labels"] for n in plugin] == [n["metadata"]["labels"] for n in dra]
    assert plugin[0]["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"


def test_dra_is_the_default_exposure() -> None:
    """Without exposure the pool publishes slices and no nvidia.com/gpu."""
    built = build_cluster(parse_cluster_spec(spec(H100)))
    assert built.resource_slices
    assert "nvidia.com/gpu" not in built.nodes[0]["status"]["allocatable"]


@pytest.mark.parametrize("mig", [{"mode": "dynamic"}, {"mode": "static", "layout": ["7g.80gb"]}])
def test_mig_with_device_plugin_is_rejected(mig: dict[str, Any]) -> None:
    """MIG is modelled only with DRA: the error names the field, the mode and the way out."""
    data = spec({**H100, "exposure": "device-plugin", "mig": mig})
    data["featureGates"] = {"DRAPartitionableDevices": True}
    with pytest.raises(ValueError, match=r"exposure device-plugin with mig\.mode") as error:
        parse_cluster_spec(data)
    assert "nodePools[0].accelerator" in str(error.value)
    assert "use exposure: dra or mig.mode: none" in str(error.value)


def test_unknown_exposure_is_rejected() -> None:
    """exposure accepts dra or device-plugin only."""
    with pytest.raises(ValueError, match="exposure"):
        parse_cluster_spec(spec({**H100, "exposure": "plugin"}))
