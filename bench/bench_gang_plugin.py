"""Whole-gang placement through the GangTopology plugin on a 5,000-node snapshot.

Complements ``bench_solver.py`` (the solver alone) with the full plugin path a scheduling
cycle runs: snapshot -> solver table (free cpu/memory/pods, available whole GPUs per node from
the DRA prefilter's counts, rack domains) -> CP-SAT -> the exact DRA allocator checking every
chosen node.

Instance (fixed seed 7): 5,000 nodes x 8 H100 (simulated driver, templated), racks of 32
nodes, blocks of 8 racks. GPUs are taken by dropping whole-GPU allocations straight into the
device state: in 19 of every 20 racks each node has 2-8 busy GPUs (mostly full), in the
remaining racks nodes are mostly idle — about 72% of all GPUs are busy, and only a few racks
can take the gang. The gang: 16 pods x 8 GPUs (a claim template of 8 whole GPUs),
``tessera.io/topology-required: topology.tessera.io/rack``.

Reports the first (cold: prefilter counts and topology built) and the warm calls' p50/p99
(100 repetitions on the same snapshot), whether the answer was proven optimal, the rack
chosen, and the load average. Budget (issue: framework and solver): p99 <= 50 ms.
Writes bench/results/gang_plugin.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.pod import Pod
from scheduler.dra.claims import DeviceResult
from scheduler.framework.backend import BackendHandle
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import pod_info
from scheduler.plugins.gangtopology import GangTopology
from simulator.backend import SimulatedCluster
from simulator.clusters import cluster_from_spec
from simulator.drivers.spec import parse_cluster_spec

NODES = 5000
RACK = 32
GANG = 16
REPS = 100
OUT = Path(__file__).parent / "results" / "gang_plugin.json"


def main() -> None:
    """Build the instance, time the plugin, write the JSON."""
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "bench"},
            "kubernetesVersion": "1.35",
            "nodePools": [
                {
                    "name": "gpu",
                    "count": NODES,
                    "node": {"cpu": "192", "memory": "2Ti", "pods": 110},
                    "accelerator": {"kind": "nvidia", "model": "H100-80GB", "count": 8},
                    "placement": {"zone": "z", "nodesPerRack": RACK, "racksPerBlock": 8},
                }
            ],
        }
    )
    start = time.perf_counter()
    loaded = cluster_from_spec(spec, templated=True)
    build_seconds = time.perf_counter() - start
    cache = loaded.cache
    rng = np.random.default_rng(7)
    for i, node in enumerate(cache.node_names):
        rack = i // RACK
        busy = (
            int(rng.choice([8, 8, 6, 4, 2, 8, 7, 5]))
            if rack % 20
            else int(rng.choice([0, 0, 0, 1]))
        )
        for g in range(busy):
            cache.devices.allocate(
                f"bench/{node}", DeviceResult("r", "gpu.nvidia.com", node, f"gpu-{g}")
            )
    backend = SimulatedCluster(cache)
    backend.add_template(
        ResourceClaimTemplate.model_validate(
            {
                "metadata": {"name": "eight", "namespace": "serving"},
                "spec": {
                    "spec": {
                        "devices": {
                            "requests": [
                                {
                                    "name": "g",
                                    "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 8},
                                }
                            ]
                        }
                    }
                },
            }
        )
    )
    members = []
    for w in range(GANG):
        pod = Pod.model_validate(
            {
                "metadata": {
                    "name": f"llm-{w}",
                    "namespace": "serving",
                    "annotations": {
                        "tessera.io/gang": "llm",
                        "tessera.io/gang-size": str(GANG),
                        "tessera.io/topology-required": "topology.tessera.io/rack",
                    },
                },
                "spec": {
                    "containers": [
                        {"name": "m", "resources": {"requests": {"cpu": "8", "memory": "64Gi"}}}
                    ],
                    "resourceClaims": [{"name": "g", "resourceClaimTemplateName": "eight"}],
                },
            }
        )
        members.append(pod_info(backend.create_pod(pod)))
    snapshot = cache.snapshot()
    gpus = snapshot.gpus
    load = 1.0 - float(gpus.gpu_free.sum()) / (1000.0 * float(gpus.gpu_count.sum()))
    plugin = GangTopology({"levels": list(loaded.levels)}, BackendHandle(backend))
    feasible = [np.arange(snapshot.size)] * GANG
    times = []
    plan = None
    for _ in range(REPS + 1):
        t = time.perf_counter()
        plan, status = plugin.place_gang(CycleState(), members, snapshot, feasible)
        times.append((time.perf_counter() - t) * 1000.0)
        if not status.ok:
            raise SystemExit(f"gang not placed: {status.message()}")
    warm = np.array(times[1:])
    result = {
        "benchmark": "gang_plugin",
        "instance": f"{GANG} x 8-GPU rack-required gang; {NODES} nodes x 8 GPUs; racks of {RACK}",
        "gpu_load": round(load, 4),
        "build_seconds": round(build_seconds, 3),
        "first_call_ms": round(times[0], 2),
        "warm_ms": {
            "p50": round(float(np.percentile(warm, 50)), 2),
            "p99": round(float(np.percentile(warm, 99)), 2),
            "max": round(float(warm.max()), 2),
            "repetitions": REPS,
        },
        "budget_p99_ms": 50,
        "proven_optimal": bool(plan.optimal) if plan is not None else None,
        "rack": plan.domain if plan is not None else None,
        "load_average": list(os.getloadavg()),
        "cpus": os.cpu_count(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
