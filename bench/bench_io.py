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
  into a Snapshot in at most 15 s and 1.5 GiB peak RSS (``write_cluster``, then
  ``load_cluster``), as JSON and as YAML, each with the same sanity checks; the old object
  path took 117 s and 3.2 GB (``bench/results/cluster.json``, ``yaml_round_trip``).

Baseline: the same round trips of the code at ``--baseline REV`` (default
:data:`BASELINE_REV`, the commit before YAML was stamped and read through rapidyaml),
exported with ``git archive`` into a temporary directory and run in their own subprocesses
in the same invocation, so ``speedup`` (baseline seconds / current seconds, per stage and in
total) compares the two on the same machine under the same load. ``--baseline none`` skips
it; ``--skip-dump`` skips the 5,000-node dump (the report then has no ``dump_load``).

Every child imports the code of its tree (``PYTHONPATH``), not whatever tessera is
installed.

Run: ``python bench/bench_io.py [--nodes N] [--round-trip-nodes M] [--baseline REV]
[--skip-dump]``; the exit status is 1 when a budget is missed or a sanity check fails.
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "io.json"
BASELINE_REV = "941f061"
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
    peak = peak_rss_mib()
    return {
        "nodes": nodes,
        "format": fmt,
        "devices": written.devices,
        "file_mib": round(size / MIB, 1),
        "stages": stages,
        "seconds_total": round(total, 3),
        "cpu_seconds_total": round(time.process_time(), 3),
        "peak_rss_mib": peak,
        "sanity": sanity,
        "budget": {"seconds": BUDGET_SECONDS, "rss_mib": BUDGET_RSS_MIB},
        "within_budget": sanity["ok"] and total <= BUDGET_SECONDS and peak <= BUDGET_RSS_MIB,
    }


# -- parent ---------------------------------------------------------------------------------------
def _run(*args: str, code: Path = ROOT) -> dict[str, Any]:
    """A child measurement in a fresh interpreter importing the code under ``code`` (its
    stderr is echoed if it dies)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _round_trips(nodes: int, code: Path = ROOT) -> dict[str, dict[str, Any]]:
    return {
        fmt: _run("--child", "round-trip", "--nodes", str(nodes), "--format", fmt, code=code)
        for fmt in ("json", "yaml")
    }


def _baseline(rev: str, nodes: int) -> dict[str, dict[str, Any]]:
    """The round trips of the code at ``rev`` (``git archive`` into a temporary tree)."""
    with tempfile.TemporaryDirectory(prefix="tessera-baseline-") as tree:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        return _round_trips(nodes, Path(tree))


def _speedup(base: dict[str, Any], run: dict[str, Any]) -> dict[str, float]:
    ratios = {
        stage: round(base["stages"][stage] / seconds, 2)
        for stage, seconds in run["stages"].items()
        if stage in base["stages"] and seconds > 0
    }
    ratios["total"] = round(base["seconds_total"] / run["seconds_total"], 2)
    return ratios


def main() -> int:
    """Run the measurements, write bench/results/io.json; exit 1 if a budget is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--round-trip-nodes", type=int, default=500)
    parser.add_argument("--child", choices=("write", "load", "round-trip"))
    parser.add_argument("--directory", default="")
    parser.add_argument("--format", default="json")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision, or none")
    parser.add_argument("--skip-dump", action="store_true")
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
    report: dict[str, Any] = {
        "benchmark": "io",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_average],
    }
    loaded: dict[str, Any] | None = None
    if not args.skip_dump:
        nodes = str(args.nodes)
        with tempfile.TemporaryDirectory() as tmp:
            directory = str(Path(tmp) / "dump")
            written = _run("--child", "write", "--nodes", nodes, "--directory", directory)
            loaded = _run("--child", "load", "--nodes", nodes, "--directory", directory)
        loaded["dump"] = written
        report["dump_load"] = loaded
    if args.baseline != "none":
        base = _baseline(args.baseline, args.round_trip_nodes)
    trips = _round_trips(args.round_trip_nodes)
    report["round_trip"] = trips
    if args.baseline != "none":
        report["baseline"] = {
            "rev": args.baseline,
            "round_trip": base,
            "speedup": {fmt: _speedup(base[fmt], trips[fmt]) for fmt in trips},
        }
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    ok = (loaded is None or loaded["within_budget"]) and all(
        t["within_budget"] for t in trips.values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
