"""Object I/O benchmarks (writes bench/results/io.json).

Each measurement runs in a fresh Python subprocess so that its peak RSS (``ru_maxrss``) is its
own; wall and CPU seconds are both reported, with the load average (on a shared host wall
times stretch).

* ``dump_load`` — budget: a 5,000-node dump of 8 x H100-80GB dynamic-MIG nodes (1,040,000
  devices in 45,000 ResourceSlices) loads into a Snapshot in at most 15 s and 1.5 GiB peak
  RSS. The dump is what ``tessera cluster build --format json`` writes (generated first, in
  its own untimed subprocess); the measured child runs ``simulator.clusters.load_cluster``
  on it and takes the Snapshot and its GPU view. Sanity: nodes, GPUs, free GPU milli, one
  node's materialised pool checked against the driver's own uuid.
* ``round_trip`` — budget: a 500-node cluster of the same nodes goes build -> write -> load
  into a Snapshot in at most 15 s (``write_cluster`` JSON, then ``load_cluster``), with the
  same sanity checks; the old object path took 117 s and 3.2 GB
  (``bench/results/cluster.json``, ``yaml_round_trip``). The YAML writer and reader are
  measured the same way for comparison (no budget).

Run: ``python bench/bench_io.py [--nodes N] [--round-trip-nodes M]``; the exit status is 1
when a budget is missed or a sanity check fails.
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cluster import DEVICES_PER_GPU, GPUS_PER_NODE, h100_spec

RESULTS = Path(__file__).resolve().parent / "results" / "io.json"
BUDGET_SECONDS = 15.0
BUDGET_RSS_MIB = 1536.0
MIB = 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _sanity(loaded: Any, nodes: int) -> dict[str, Any]:
    """Counts of the loaded cluster and one node's pool against the driver's uuid."""
    from simulator.drivers.build import pool_builders

    snap = loaded.cache.snapshot()
    gpus = snap.gpus
    last = snap.size - 1
    (pool,) = snap.node_pools(last)
    devices = {d.name: d for _, d in pool.devices_in_order()}
    builder = pool_builders(h100_spec(nodes))[0]
    expected = builder.instance_attributes(snap.node_names[last])["gpu-3"]["uuid"]["string"]
    facts = {
        "nodes": snap.size,
        "gpus": int(gpus.gpu_count.sum()),
        "gpu_free_milli": int(gpus.gpu_free.sum()),
        "templates": len(snap.templates),
        "node_pool_devices": len(devices),
        "node_pool_uuid_matches_driver": devices["gpu-3"].attributes["uuid"]
        == ("string", expected),
    }
    facts["ok"] = (
        facts["nodes"] == nodes
        and facts["gpus"] == nodes * GPUS_PER_NODE
        and facts["gpu_free_milli"] == nodes * GPUS_PER_NODE * 1000
        and facts["node_pool_devices"] == GPUS_PER_NODE * DEVICES_PER_GPU
        and facts["node_pool_uuid_matches_driver"]
    )
    return facts


def _features() -> Any:
    from simulator.clusters import features_of

    return features_of(h100_spec(1))


# -- children -------------------------------------------------------------------------------------
def child_write(nodes: int, directory: str, fmt: str) -> dict[str, Any]:
    """Child: write the cluster (untimed setup for ``dump_load``)."""
    from simulator.drivers.write import write_cluster

    start = time.perf_counter()
    written = write_cluster(h100_spec(nodes), Path(directory), fmt)  # type: ignore[arg-type]
    size = sum(p.stat().st_size for p in Path(directory).iterdir())
    return {
        "seconds": round(time.perf_counter() - start, 3),
        "devices": written.devices,
        "resource_slices": written.resource_slices,
        "bytes": size,
        "mib": round(size / MIB, 1),
    }


def child_load(nodes: int, directory: str) -> dict[str, Any]:
    """Child: load the dump into a Snapshot (the ``dump_load`` measurement)."""
    from simulator.clusters import load_cluster

    baseline = peak_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    loaded = load_cluster(Path(directory), features=_features())
    loaded.cache.snapshot().gpus  # noqa: B018 - the view is part of what the snapshot holds
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_rss_mib()
    sanity = _sanity(loaded, nodes)
    return {
        "nodes": nodes,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "rss_mib": {"after_imports": baseline, "peak": peak},
        "sanity": sanity,
        "budget": {"seconds": BUDGET_SECONDS, "rss_mib": BUDGET_RSS_MIB},
        "within_budget": sanity["ok"] and seconds <= BUDGET_SECONDS and peak <= BUDGET_RSS_MIB,
    }


def child_round_trip(nodes: int, fmt: str) -> dict[str, Any]:
    """Child: build -> write -> load -> Snapshot, timed per stage."""
    from simulator.clusters import load_cluster
    from simulator.drivers.write import write_cluster

    stages: dict[str, float] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "cluster"
        written = write_cluster(h100_spec(nodes), directory, fmt)  # type: ignore[arg-type]
        stages["build_and_write"] = round(time.perf_counter() - start, 3)
        size = sum(p.stat().st_size for p in directory.iterdir())
        mark = time.perf_counter()
        loaded = load_cluster(directory, features=_features())
        loaded.cache.snapshot().gpus  # noqa: B018 - part of the measured load
        stages["load_to_snapshot"] = round(time.perf_counter() - mark, 3)
    total = time.perf_counter() - start
    sanity = _sanity(loaded, nodes)
    budgeted = fmt == "json"
    return {
        "nodes": nodes,
        "format": fmt,
        "devices": written.devices,
        "file_mib": round(size / MIB, 1),
        "stages": stages,
        "seconds_total": round(total, 3),
        "cpu_seconds_total": round(time.process_time(), 3),
        "peak_rss_mib": peak_rss_mib(),
        "sanity": sanity,
        "budget": {"seconds": BUDGET_SECONDS} if budgeted else None,
        "within_budget": sanity["ok"] and (not budgeted or total <= BUDGET_SECONDS),
    }


# -- parent ---------------------------------------------------------------------------------------
def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> int:
    """Run the measurements, write bench/results/io.json; exit 1 if a budget is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--round-trip-nodes", type=int, default=500)
    parser.add_argument("--child", choices=("write", "load", "round-trip"))
    parser.add_argument("--directory", default="")
    parser.add_argument("--format", default="json")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child == "write":
        json.dump(child_write(args.nodes, args.directory, args.format), sys.stdout)
        return 0
    if args.child == "load":
        json.dump(child_load(args.nodes, args.directory), sys.stdout)
        return 0
    if args.child == "round-trip":
        json.dump(child_round_trip(args.nodes, args.format), sys.stdout)
        return 0
    load_average = os.getloadavg()
    nodes = str(args.nodes)
    with tempfile.TemporaryDirectory() as tmp:
        directory = str(Path(tmp) / "dump")
        written = _run("--child", "write", "--nodes", nodes, "--directory", directory)
        loaded = _run("--child", "load", "--nodes", nodes, "--directory", directory)
    loaded["dump"] = written
    trips = {
        fmt: _run("--child", "round-trip", "--nodes", str(args.round_trip_nodes), "--format", fmt)
        for fmt in ("json", "yaml")
    }
    report: dict[str, Any] = {
        "benchmark": "io",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_average],
        "dump_load": loaded,
        "round_trip": trips,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    ok = loaded["within_budget"] and all(t["within_budget"] for t in trips.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
