"""Cluster-building benchmarks (writes bench/results/cluster.json).

Two measurements, each in a fresh Python subprocess so that its peak RSS is its own (wall and
CPU seconds are both reported, with the load average: on a shared host wall times stretch):

* ``snapshot``: a cluster of 10,000 nodes x 8 H100-80GB with dynamic MIG (26 devices per
  GPU: 2,080,000 devices) built straight into a Snapshot by the templated path
  (``simulator.clusters.cluster_from_spec(spec, templated=True)``, spec built in code): wall
  seconds per stage, peak RSS (``ru_maxrss``) and the RSS of the bare interpreter with its
  imports, the device count, and a sanity read (the GPU view's sums and one
  ``Snapshot.node_pools(i)`` materialisation checked against the driver's own instance
  attributes). Budget (docs/development.md): at most 60 s and 2 GiB. A second subprocess repeats the
  build under ``tracemalloc`` for the peak of Python-tracked allocations (numpy buffers
  included); its times are slower and not the ones reported above.
* ``yaml_round_trip``: a 500-node 8 x H100 dynamic-MIG cluster through the object path and
  YAML: build the objects (driver dicts, then API models), ``dump_objects``, write the file,
  ``load_objects``, compare with the objects rebuilt one at a time, feed a ClusterCache.
  Seconds, RSS after and peak RSS so far per stage, file size. No budget; reported for the
  README.

Run: ``python bench/bench_cluster.py [--nodes N] [--yaml-nodes M] [--no-tracemalloc]``; the
exit status is 1 when the snapshot budget is missed or a sanity check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "cluster.json"
BUDGET_SECONDS = 60.0
BUDGET_RSS_MIB = 2048.0
DEVICES_PER_GPU = 26  # H100 dynamic MIG: the whole GPU + 25 MIG placements
GPUS_PER_NODE = 8
MIB = 2**20


def h100_spec(nodes: int) -> Any:
    """A spec of ``nodes`` HGX H100 nodes (8 GPUs, dynamic MIG) in racks of 16."""
    from simulator.drivers.spec import parse_cluster_spec

    return parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "bench-h100"},
            "kubernetesVersion": "1.35",
            "featureGates": {"DRAPartitionableDevices": True},
            "nodePools": [
                {
                    "name": "h100",
                    "count": nodes,
                    "node": {"cpu": "192", "memory": "2Ti", "ephemeralStorage": "28Ti"},
                    "accelerator": {
                        "kind": "nvidia",
                        "model": "H100-80GB",
                        "count": GPUS_PER_NODE,
                        "mig": {"mode": "dynamic"},
                    },
                    "placement": {"zone": "bench-a", "nodesPerRack": 16, "racksPerBlock": 8},
                }
            ],
        },
        source="bench",
    )


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mib() -> float:
    """Current resident set size of this process."""
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / MIB, 1)


# -- children -------------------------------------------------------------------------------------
def run_snapshot(nodes: int) -> dict[str, Any]:
    """Child: build the templated cluster and read its snapshot (see the module docstring)."""
    from simulator.clusters import cluster_from_spec
    from simulator.drivers.build import pool_builders

    baseline = rss_mib()
    start, cpu_start = time.perf_counter(), time.process_time()
    spec = h100_spec(nodes)
    loaded = cluster_from_spec(spec, templated=True)
    built = time.perf_counter()
    snap = loaded.cache.snapshot()
    gpus = snap.gpus
    viewed = time.perf_counter()
    last = snap.size - 1
    (pool,) = snap.node_pools(last)
    materialised = time.perf_counter()
    cpu = time.process_time() - cpu_start

    devices = sum(
        t.kinds * int(s.row_alive[: s.rows].sum())
        for t, s in zip(snap.templates, snap.template_states, strict=True)
    )
    pool_devices = {d.name: d for _, d in pool.devices_in_order()}
    builder = pool_builders(spec)[0]
    name = snap.node_names[last]
    expected_uuid = builder.instance_attributes(name)["gpu-3"]["uuid"]["string"]
    sanity = {
        "nodes": snap.size,
        "templates": len(snap.templates),
        "gpus": int(gpus.gpu_count.sum()),
        "gpu_free_milli": int(gpus.gpu_free.sum(dtype=np.int64)),
        "node_pool_devices": len(pool_devices),
        "node_pool_name": pool.name,
        "node_pool_uuid_matches_driver": pool_devices["gpu-3"].attributes["uuid"]
        == ("string", expected_uuid),
    }
    ok = (
        sanity["nodes"] == nodes
        and sanity["gpus"] == nodes * GPUS_PER_NODE
        and sanity["gpu_free_milli"] == nodes * GPUS_PER_NODE * 1000
        and sanity["node_pool_devices"] == GPUS_PER_NODE * DEVICES_PER_GPU
        and sanity["node_pool_name"] == name
        and sanity["node_pool_uuid_matches_driver"]
    )
    total = materialised - start
    peak = peak_rss_mib()
    return {
        "nodes": nodes,
        "devices": devices,
        "expected_devices": nodes * GPUS_PER_NODE * DEVICES_PER_GPU,
        "seconds": {
            "build_templated": round(built - start, 3),
            "snapshot_and_gpu_view": round(viewed - built, 3),
            "node_pools_one_node": round(materialised - viewed, 4),
            "total": round(total, 3),
            "total_cpu": round(cpu, 3),
        },
        "rss_mib": {
            "after_imports": baseline,
            "peak": peak,
            "peak_minus_imports": round(peak - baseline, 1),
        },
        "sanity": sanity,
        "sanity_ok": ok,
        "budget": {"seconds": BUDGET_SECONDS, "rss_mib": BUDGET_RSS_MIB},
        "within_budget": ok and total <= BUDGET_SECONDS and peak <= BUDGET_RSS_MIB,
    }


def run_snapshot_tracemalloc(nodes: int) -> dict[str, Any]:
    """Child: the templated build under tracemalloc; peak of traced allocations."""
    from simulator.clusters import cluster_from_spec

    spec = h100_spec(nodes)
    tracemalloc.start()
    start = time.perf_counter()
    loaded = cluster_from_spec(spec, templated=True)
    loaded.cache.snapshot().gpus  # noqa: B018 - the view is part of what the snapshot holds
    seconds = time.perf_counter() - start
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "nodes": nodes,
        "traced_peak_mib": round(peak / MIB, 1),
        "traced_held_mib": round(current / MIB, 1),
        "seconds_under_tracemalloc": round(seconds, 3),
    }


def _expected_objects(spec: Any) -> Iterator[dict[str, Any]]:
    """The built cluster's objects one at a time, in ``BuiltCluster.objects()`` order."""
    from simulator.drivers.build import pool_builders
    from simulator.drivers.classes import device_classes

    builders = pool_builders(spec)
    yield from device_classes()
    for builder in builders:
        for i, name in enumerate(builder.node_names()):
            yield builder.node(name, i)
    for builder in builders:
        for i, name in enumerate(builder.node_names()):
            yield from builder.slices(name, i)


def run_yaml_round_trip(nodes: int) -> dict[str, Any]:
    """Child: object path -> YAML -> objects -> ClusterCache, timed per stage.

    The built objects are dropped once written, so the load stage holds only what a
    reader of the file would; the comparison rebuilds the expected objects one at a time.
    """
    from scheduler.api.loaders import dump_objects, load_object, load_objects
    from scheduler.cluster.cache import ClusterCache
    from simulator.clusters import features_of
    from simulator.drivers.build import build_cluster

    stages: dict[str, dict[str, float]] = {}
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def stage(name: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        stages[name] = {
            "seconds": round(now - clock, 3),
            "cpu_seconds": round(cpu_now - cpu_clock, 3),
            "rss_mib_after": rss_mib(),
            "peak_rss_mib_so_far": peak_rss_mib(),
        }
        clock, cpu_clock = time.perf_counter(), time.process_time()

    stage("baseline")
    spec = h100_spec(nodes)
    built = build_cluster(spec)
    raw = built.objects()
    stage("build_dicts")
    objects = [load_object(o, source="bench") for o in raw]
    count = len(objects)
    del raw, built
    stage("build_models")
    text = dump_objects(objects)
    del objects
    stage("dump_objects")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_text(text, encoding="utf-8")
        size = path.stat().st_size
        del text
        stage("write_file")
        back = load_objects(path)
        stage("load_objects")
    equal = len(back) == count and all(
        load_object(raw_object, source="bench") == obj
        for raw_object, obj in zip(_expected_objects(spec), back, strict=True)
    )
    stage("compare_with_rebuilt")
    cache = ClusterCache(features=features_of(spec))
    cache.add_all(back)
    snap = cache.snapshot()
    gpus = int(snap.gpus.gpu_count.sum())
    stage("cluster_cache")
    slices = sum(1 for o in back if o.kind == "ResourceSlice")
    return {
        "nodes": nodes,
        "objects": len(back),
        "resource_slices": slices,
        "devices": nodes * GPUS_PER_NODE * DEVICES_PER_GPU,
        "file_bytes": size,
        "file_mib": round(size / MIB, 1),
        "stages": stages,
        "seconds_total": round(sum(s["seconds"] for s in stages.values()), 3),
        "cpu_seconds_total": round(sum(s["cpu_seconds"] for s in stages.values()), 3),
        "peak_rss_mib": peak_rss_mib(),
        "round_trip_equal": equal,
        "cache_gpus": gpus,
        "sanity_ok": equal and gpus == nodes * GPUS_PER_NODE and snap.size == nodes,
    }


CHILDREN = {
    "snapshot": run_snapshot,
    "snapshot-tracemalloc": run_snapshot_tracemalloc,
    "yaml-round-trip": run_yaml_round_trip,
}


# -- parent ---------------------------------------------------------------------------------------
def child(kind: str, nodes: int) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON answer."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--nodes", str(nodes)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> int:
    """Run the measurements, write bench/results/cluster.json; exit 1 if a budget is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--yaml-nodes", type=int, default=500)
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        json.dump(CHILDREN[args.child](args.nodes), sys.stdout)
        return 0
    load = os.getloadavg()
    snapshot = child("snapshot", args.nodes)
    if not args.no_tracemalloc:
        snapshot["tracemalloc"] = child("snapshot-tracemalloc", args.nodes)
    round_trip = child("yaml-round-trip", args.yaml_nodes)
    report: dict[str, Any] = {
        "benchmark": "cluster",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "snapshot": snapshot,
        "yaml_round_trip": round_trip,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0 if snapshot["within_budget"] and round_trip["sanity_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
