"""ServingBatch through the framework: batch pods keep off the nodes held as headroom for a
serving LeaderWorkerSet (and use them only when nothing else fits); serving pods are not
steered by it (PreScore SKIP) and take the held nodes."""

from __future__ import annotations

from scheduler.api.loaders import load_object
from scheduler.api.lws import LeaderWorkerSet
from scheduler.framework.podinfo import PodInfo, pod_info
from simulator.backend import SimulatedCluster
from simulator.clusters import cluster_from_spec
from tests.builders import (
    RACK,
    gpu_claim_pod,
    gpu_claim_template,
    h100_rack_spec,
    node_scores,
    spec_framework,
)

BATCH = -10
SERVING = 100


def serving_lws() -> LeaderWorkerSet:
    """LWS default/llm: groups of 2 pods x 8 GPUs (template gpus-8), one replica of headroom
    inside one rack."""
    lws = load_object(
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {
                "name": "llm",
                "namespace": "default",
                "annotations": {
                    "tessera.io/headroom-replicas": "1",
                    "tessera.io/topology-required": RACK,
                },
            },
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": 2,
                    "workerTemplate": {
                        "spec": {
                            "containers": [{"name": "m", "resources": {"claims": [{"name": "g"}]}}],
                            "resourceClaims": [
                                {"name": "g", "resourceClaimTemplateName": "gpus-8"}
                            ],
                        }
                    },
                },
            },
        }
    )
    assert isinstance(lws, LeaderWorkerSet)
    return lws


def test_batch_avoids_serving_headroom_and_serving_takes_it() -> None:
    """Batch scores 0 on the held rack and lands outside it; a serving pod is not scored and
    takes a held node; batch enters the headroom only when it is the last node that fits."""
    # Nodes gpu-0000, gpu-0001 in rack r000 and gpu-0002, gpu-0003 in r001, 8 GPUs each.
    # A batch 1-GPU pod pinned to gpu-0002 leaves r000 with 16 free GPUs, r001 with 15. The
    # headroom is 1 replica x 2 pods x 8 GPUs = 16 GPUs in one rack: only r000 can hold it
    # (16 >= 16), and each of its nodes fits one 8-GPU pod -> gpu-0000, gpu-0001 held.
    loaded = cluster_from_spec(h100_rack_spec(4, 2))
    backend = SimulatedCluster(loaded.cache)
    for count in (1, 8):
        backend.add_template(gpu_claim_template(count))
    backend.cache.add(serving_lws())
    framework = spec_framework(backend, {"ServingBatch": {}})

    def create(name: str, gpus: int, priority: int, node: str | None = None) -> PodInfo:
        return pod_info(backend.create_pod(gpu_claim_pod(name, gpus, priority=priority, node=node)))

    assert framework.schedule_one(create("b0", 1, BATCH, "gpu-0002")).node == "gpu-0002"
    # Batch 1-GPU pod: 0 on the held nodes, 100 elsewhere; node order among the 100s.
    batch = create("b1", 1, BATCH)
    assert node_scores(framework, batch) == {
        "gpu-0000": 0,
        "gpu-0001": 0,
        "gpu-0002": 100,
        "gpu-0003": 100,
    }
    assert framework.schedule_one(batch).node == "gpu-0002"
    # Serving 8-GPU pod: ServingBatch skips it (every total 0); gpu-0002 (6 free) cannot
    # hold it; node order takes the held gpu-0000.
    serving = create("s0", 8, SERVING)
    assert node_scores(framework, serving) == {"gpu-0000": 0, "gpu-0001": 0, "gpu-0003": 0}
    assert framework.schedule_one(serving).node == "gpu-0000"
    # The headroom is recomputed: r000 has 8 free GPUs (gpu-0001), r001 6 + 8 = 14; neither
    # holds 16, so the rack with the most (r001) is held, its nodes most-free first:
    # gpu-0003 (8) fits one 8-GPU pod, gpu-0002 (6) none -> gpu-0003 held.
    # Batch 8-GPU pods: the first takes gpu-0001 (outside the headroom), the second finds
    # only the held gpu-0003 and takes it, preemptible by serving.
    assert framework.schedule_one(create("b2", 8, BATCH)).node == "gpu-0001"
    assert framework.schedule_one(create("b3", 8, BATCH)).node == "gpu-0003"
