"""Device-plugin GPUs in the accelerator view: a node offering nvidia.com/gpu shows that many
whole GPUs after its DRA GPUs, free ones first, refreshed as pods bind and leave, of the model
its GPU-product label names (the DRA productName it stands for when one is known)."""

from __future__ import annotations

import numpy as np

from scheduler.cluster.cache import ClusterCache
from simulator.clusters import cluster_from_spec
from simulator.drivers.spec import parse_cluster_spec
from tests.builders import make_node, make_pod


def mixed_cache() -> ClusterCache:
    """Pools: dra (1 node, 4 DRA H100), plugin (2 nodes, nvidia.com/gpu: 8), cpu (1 node)."""
    h100 = {"kind": "nvidia", "model": "H100-80GB"}
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "mixed"},
            "nodePools": [
                {
                    "name": "dra",
                    "count": 1,
                    "node": {"cpu": "64", "memory": "256Gi"},
                    "accelerator": {**h100, "count": 4},
                },
                {
                    "name": "plugin",
                    "count": 2,
                    "node": {"cpu": "64", "memory": "256Gi"},
                    "accelerator": {**h100, "count": 8, "exposure": "device-plugin"},
                },
                {"name": "cpu", "count": 1, "node": {"cpu": "64", "memory": "256Gi"}},
            ],
        }
    )
    return cluster_from_spec(spec).cache


def test_device_plugin_gpus_join_the_view_with_the_dra_model() -> None:
    """4 DRA GPUs, 2 x 8 device-plugin GPUs (same model id: the label maps to the DRA
    productName), no GPU on the CPU node; width 8."""
    view = mixed_cache().gpu_view()
    assert view.gpu_count.tolist() == [4, 8, 8, 0]
    assert view.models == ("NVIDIA H100 80GB HBM3",)
    assert view.gpu_model.tolist() == [0, 0, 0, -1]
    assert view.gpu_free.tolist() == [[1000] * 4 + [0] * 4, [1000] * 8, [1000] * 8, [0] * 8]


def test_binding_and_removing_pods_moves_device_plugin_gpus() -> None:
    """3 GPUs bound on plugin-0000: 5 free (the first five), then all free again."""
    cache = mixed_cache()
    pod = make_pod("p", cpu="1", requests={"nvidia.com/gpu": 3}, node_name="plugin-0000")
    cache.add_pod(pod)
    assert cache.gpu_view().gpu_free[1].tolist() == [1000] * 5 + [0] * 3
    cache.remove_pod("default/p")
    assert cache.gpu_view().gpu_free[1].tolist() == [1000] * 8


def test_a_node_alone_uses_its_label_as_the_model() -> None:
    """Without DRA templates the model is the GPU-product label as given; nodes without it
    keep an empty model name."""
    cache = ClusterCache()
    cache.add_nodes(
        [
            make_node(
                "a",
                allocatable={"nvidia.com/gpu": 2},
                labels={"nvidia.com/gpu.product": "Tesla-T4"},
            ),
            make_node("b", allocatable={"nvidia.com/gpu": 1}),
        ]
    )
    view = cache.gpu_view()
    assert view.models == ("Tesla-T4", "")
    assert view.gpu_count.tolist() == [2, 1]
    assert np.array_equal(view.gpu_free, [[1000, 1000], [1000, 0]])


def test_snapshot_has_no_device_for_device_plugin_gpus() -> None:
    """gpu_devices lists one entry per GPU of the view; device-plugin GPUs have none."""
    snapshot = mixed_cache().snapshot()
    assert all(d is not None for d in snapshot.gpu_devices(0))
    assert snapshot.gpu_devices(1) == [None] * 8
