"""The FGD paper's baseline GPU scores through the framework: DotProd, GpuPacking,
GpuClustering and Random score openb nodes built by the spec machinery (shared GPUs as DRA
devices) inside ``Framework.schedule_one``, and the pod lands where the hand arithmetic says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.backend import SimulatedCluster
from tests.builders import (
    create_openb,
    node_scores,
    openb_cluster,
    openb_pod,
    schedule_openb,
    spec_framework,
)


def device_of(backend: SimulatedCluster, pod: str) -> str:
    """The GPU device allocated to the claim ``gpu`` of openb pod ``pod``."""
    (result,) = backend.cache.claims[f"openb/{pod}-gpu"].results
    return result.device


def test_dotprod_prefers_the_node_whose_free_vector_aligns_least(tmp_path: Path) -> None:
    """DotProd: the smaller node wins on its smaller dot product, against node order."""
    # d = (C/128000)·(cpu/128000) + (R/8000)·(G/8000), score = ⌊100·(1 − d/2)⌋;
    # pod cpu 8000, G = 1000.
    # a (64 cores, 8 idle GPUs): 0.5·0.0625 + 1·0.125 = 0.15625 -> ⌊92.19⌋ = 92
    # b (16 cores, 2 idle GPUs): 0.125·0.0625 + 0.25·0.125 = 0.0390625 -> ⌊98.05⌋ = 98
    backend = openb_cluster(tmp_path, ["a,64000,262144,8,G2", "b,16000,262144,2,G2"])
    framework = spec_framework(backend, {"DotProd": {}})
    pod = create_openb(backend, openb_pod("p", 8000, 1, 1000))
    assert node_scores(framework, pod) == {"a": 92, "b": 98}
    assert framework.schedule_one(pod).node == "b"


def test_gpu_packing_fills_a_partly_used_gpu_first(tmp_path: Path) -> None:
    """GpuPacking: a shared GPU with room (case C) beats an idle GPU of a used node (B) and
    an untouched node (A)."""
    # Three 4-GPU nodes; b holds a 500-milli share on GPU 0, c a whole GPU on GPU 0.
    # Pod: share q = 500.
    # a untouched, f = 4 idle GPUs -> A: max(33 − 4, 4) = 29
    # b ascending [500, 1000, 1000, 1000] takes the 500 (not idle) -> C:
    #   ⌊500·100/1000⌋ = 50 -> max(100 − ⌊50/10⌋, 50) = 95
    # c ascending [0, 1000, 1000, 1000] takes an idle GPU, u = 1 -> B: max(50 − 1, 33) = 49
    rows = [f"{n},32000,262144,4,G2" for n in "abc"]
    backend = openb_cluster(tmp_path, rows)
    framework = spec_framework(backend, {"GpuPacking": {}})
    assert schedule_openb(framework, openb_pod("share", 1000, 1, 500), node="b").node == "b"
    assert schedule_openb(framework, openb_pod("whole", 1000, 1, 1000), node="c").node == "c"
    pod = create_openb(backend, openb_pod("p", 1000, 1, 500))
    assert node_scores(framework, pod) == {"a": 29, "b": 95, "c": 49}
    assert framework.schedule_one(pod).node == "b"
    assert device_of(backend, "p") == "gpu-0"


@pytest.mark.parametrize(("choice", "device"), [("policy", "gpu-1"), ("first-fit", "gpu-0")])
def test_policy_device_choice_reaches_the_allocator(
    tmp_path: Path, choice: str, device: str
) -> None:
    """deviceChoice policy: the kernel's tightest GPU is the one allocated; first-fit: the
    allocator's first device that fits."""
    # b: GPU 0 idle (1000), GPU 1 at 500 left (a 600-share came and went on GPU 0, a
    # 500-share took GPU 1). A 400-share: tightest fit = GPU 1; first fit = GPU 0.
    # z (1 core) is a second feasible node so that the cycle scores (a lone feasible node
    # skips Score, and with it the policy's device hint).
    backend = openb_cluster(tmp_path, ["b,32000,262144,4,G2", "z,1000,262144,1,G2"])
    framework = spec_framework(backend, {"GpuPacking": {"deviceChoice": choice}})
    schedule_openb(framework, openb_pod("s600", 1000, 1, 600), node="b")
    schedule_openb(framework, openb_pod("s500", 1000, 1, 500), node="b")
    backend.delete_pod("openb/s600")
    assert schedule_openb(framework, openb_pod("q", 500, 1, 400)).node == "b"
    assert device_of(backend, "q") == device


def test_gpu_clustering_groups_pods_of_the_same_gpu_count(tmp_path: Path) -> None:
    """GpuClustering: a 2-GPU pod joins the node holding only 2-GPU pods; the tags come from
    the running pods' (allocated) claims."""
    # Four 8-GPU nodes; u = ⌊25·(8000 − R)/8000⌋ with R the node's free GPU milli.
    # a: no GPU pod, R = 8000, u = 0 -> 25 + 0 = 25
    # b: a 1-GPU pod, R = 7000, u = ⌊3.125⌋ = 3; only other tags -> 3
    # c: a 2-GPU pod, R = 6000, u = ⌊6.25⌋ = 6; only the pod's tag -> 75 + 6 = 81
    # d: a 2-GPU and a 1-GPU pod, R = 5000, u = ⌊9.375⌋ = 9; the tag among others -> 50 + 9 = 59
    backend = openb_cluster(tmp_path, [f"{n},64000,262144,8,G2" for n in "abcd"])
    framework = spec_framework(backend, {"GpuClustering": {}})
    for name, node, gpus in [("w1", "b", 1), ("w2", "c", 2), ("x2", "d", 2), ("x1", "d", 1)]:
        assert schedule_openb(framework, openb_pod(name, 1000, gpus, 1000), node=node).node == node
    pod = create_openb(backend, openb_pod("p", 1000, 2, 1000))
    assert node_scores(framework, pod) == {"a": 25, "b": 3, "c": 81, "d": 59}
    assert framework.schedule_one(pod).node == "c"


def test_random_draws_nodes_from_its_seeded_generator(tmp_path: Path) -> None:
    """Random (seed 7): the k-th whole-GPU pod lands on candidate rng.integers(4) of the k-th
    draw of numpy's default_rng(7); another seed gives another sequence."""
    # Four idle 8-GPU nodes; eight 1-GPU pods leave every node feasible throughout, and a
    # whole-GPU pick draws nothing, so the plugin draws once per pod.
    rows = [f"{n},64000,262144,8,G2" for n in "abcd"]

    def placements(seed: int, directory: Path) -> list[str | None]:
        framework = spec_framework(openb_cluster(directory, rows), {"Random": {"seed": seed}})
        return [schedule_openb(framework, openb_pod(f"r{i}", 1000, 1, 1000)).node for i in range(8)]

    rng = np.random.default_rng(7)
    expected = ["abcd"[int(rng.integers(4))] for _ in range(8)]
    assert placements(7, tmp_path / "s7") == expected
    assert placements(8, tmp_path / "s8") != expected
