"""NodeResourcesBalancedAllocation through the framework: the pod goes where CPU and memory
stay evenly used, counting what running pods already request (kube-scheduler 1.35's
``balancedResourceScorer``)."""

from __future__ import annotations

from pathlib import Path

from tests.builders import create_openb, node_scores, openb_cluster, openb_pod, spec_framework


def test_balanced_allocation_evens_cpu_and_memory(tmp_path: Path) -> None:
    """The first pod takes the node it fills evenly; the second the other node, once the
    first pod's requests unbalance that one."""
    # CPU-only nodes, in this order: b (16 cores, 128 GiB), a (32 cores, 64 GiB).
    # score = ⌊(1 − |f_cpu − f_mem| / 2)·100⌋ with f = (requested + pod) / allocatable.
    # p1 (8 cores, 16 GiB):
    #   b: f_cpu = 8/16 = 0.5, f_mem = 16/128 = 0.125 -> std 0.1875 -> ⌊81.25⌋ = 81
    #   a: f_cpu = 8/32 = 0.25, f_mem = 16/64 = 0.25 -> std 0 -> 100
    # p2 (4 cores, 32 GiB), p1 running on a:
    #   b: f_cpu = 4/16 = 0.25, f_mem = 32/128 = 0.25 -> 100
    #   a: f_cpu = 12/32 = 0.375, f_mem = 48/64 = 0.75 -> std 0.1875 -> 81
    backend = openb_cluster(tmp_path, ["b,16000,131072,0,", "a,32000,65536,0,"])
    framework = spec_framework(backend, {"NodeResourcesBalancedAllocation": {}})
    first = create_openb(backend, openb_pod("p1", 8000, memory_mib=16384))
    assert node_scores(framework, first) == {"b": 81, "a": 100}
    assert framework.schedule_one(first).node == "a"
    second = create_openb(backend, openb_pod("p2", 4000, memory_mib=32768))
    assert node_scores(framework, second) == {"b": 100, "a": 81}
    assert framework.schedule_one(second).node == "b"
