"""What playing kube-scheduler over HTTP costs a replay (writes bench/results/replay_extender.json).

The shipped serving + batch scenarios are replayed on the two-rack H100 cluster under the
kube-default profile, four ways, in this process, each ``--repeat`` times (median wall
seconds of the replay loop, ``summary.wall_seconds``):

* ``native`` — tessera's own cycle (every node evaluated), the baseline;
* ``sampling`` — ``--extender`` with no extender and ``percentageOfNodesToScore: 100``:
  kube-scheduler's cycle alone (sampling, node-tree order, deferred binding);
* ``loopback`` — the same with a loopback extender (``bench/loopback_extender.py``, its own
  process on 127.0.0.1) for filter + prioritize + preempt (``nodeCacheCapable``) and bind:
  what an extender adds when it answers instantly;
* ``loopback-full-nodes`` — the same with ``nodeCacheCapable: false`` (full Node objects in
  every filter and prioritize request);
* ``loopback-served-sync`` — ``loopback`` with the replay served over the API
  (``--api-port``) and the sync probe (``--extender-sync``) before every cycle, against a
  ``/sync`` that answers at once: the end-to-end configuration minus the webhook's own work.

The overhead per scheduling cycle is (mode - native) / cycles, with cycles counted as the
extender's filter calls, from the fastest of the repeats, in wall seconds and in CPU seconds
of the simulator's process (all its threads; the extender's process is not counted). On a
shared machine the wall difference of whole replays is noisy, so the wall time spent inside
the extender calls (HTTP round trips, encoding, decoding, as the client measures it, plus the
barrier's wait and the sync probes) is reported per cycle too. The loopback
extender keeps every node and scores all 0, so ``loopback`` must make exactly the decisions
``sampling`` makes (checked as the same placement events; binds done by the extender are
logged after the failures of the same scheduling pass, so the order within an instant
differs).

Run: ``python bench/bench_replay_extender.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scheduler.extender.config import ExtenderConfig  # noqa: E402
from simulator.apiserver.live import run_replay_served  # noqa: E402
from simulator.clusters import load_cluster  # noqa: E402
from simulator.experiments.policies import replay_profile  # noqa: E402
from simulator.experiments.replay import ReplayConfig, ReplayResult, run_replay  # noqa: E402
from simulator.inputs import read_trace  # noqa: E402
from simulator.kubescheduler.session import ExtenderSetup  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "replay_extender.json"
CLUSTER = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
SCENARIOS = ("serving-batch-small", "serving-batch-contended")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_extender() -> tuple[subprocess.Popen[bytes], str]:
    """The loopback extender in its own process; its URL prefix once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "loopback_extender.py"), str(port)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/ext"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the loopback extender did not start")


def extenders(url: str, *, node_cache: bool) -> tuple[ExtenderConfig, ...]:
    placement = {
        "urlPrefix": url,
        "filterVerb": "filter",
        "prioritizeVerb": "prioritize",
        "preemptVerb": "preempt",
        "weight": 24,
        "nodeCacheCapable": node_cache,
        "httpTimeout": "3s",
    }
    binding = {"urlPrefix": url, "bindVerb": "bind", "nodeCacheCapable": node_cache}
    return (ExtenderConfig.model_validate(placement), ExtenderConfig.model_validate(binding))


def run(scenario: str, setup: ExtenderSetup | None) -> tuple[ReplayResult, float, float]:
    """One replay: its result, wall seconds and CPU seconds of this process (all threads),
    the cluster and trace loaded beforehand."""
    loaded = load_cluster(CLUSTER)
    profile = replay_profile("kube-default", seed=0, levels=loaded.levels)
    trace = read_trace(ROOT / "traces" / "scenarios" / f"{scenario}.yaml")
    config = ReplayConfig(seed=0, kube_scheduler=setup)
    wall, cpu = time.perf_counter(), time.process_time()
    if setup is not None and setup.sync_url:
        result = run_replay_served(loaded, trace, profile, config, port=0)
    else:
        result = run_replay(loaded, trace, profile, config)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(scenario: str, setup: ExtenderSetup | None, repeat: int) -> dict[str, Any]:
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        result, wall, cpu = run(scenario, setup)
        walls.append(wall)
        cpus.append(cpu)
    assert result is not None
    summary = result.summary
    out: dict[str, Any] = {
        "wall_s_median": round(statistics.median(walls), 4),
        "wall_s_min": round(min(walls), 4),
        "cpu_s_median": round(statistics.median(cpus), 4),
        "cpu_s_min": round(min(cpus), 4),
        "pods_scheduled": summary["pods_scheduled"],
        "attempts_failed": summary["attempts_failed"],
        "gpu_alloc_mean_pct": summary["gpu_alloc_mean_pct"],
        "placements": sorted(
            (p["t"], p["event"], p["pod"], p["node"] or "") for p in result.placements
        ),
    }
    if "extenders" in summary:
        out["extender_calls"] = summary["extenders"]["calls"]
        out["bind_barrier_s"] = summary["extenders"]["bind_barrier_seconds"]
        if "sync" in summary["extenders"]:
            out["sync"] = summary["extenders"]["sync"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    proc, url = start_extender()
    report: dict[str, Any] = {
        "benchmark": "replay_extender",
        "cluster": str(CLUSTER.relative_to(ROOT)),
        "policy": "kube-default",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "repeat": args.repeat,
        "scenarios": {},
    }
    modes: dict[str, ExtenderSetup | None] = {
        "native": None,
        "sampling": ExtenderSetup(percentage_of_nodes_to_score=100),
        "loopback": ExtenderSetup(
            extenders=extenders(url, node_cache=True), percentage_of_nodes_to_score=100
        ),
        "loopback-full-nodes": ExtenderSetup(
            extenders=extenders(url, node_cache=False), percentage_of_nodes_to_score=100
        ),
        "loopback-served-sync": ExtenderSetup(
            extenders=extenders(url, node_cache=True),
            percentage_of_nodes_to_score=100,
            sync_url=url + "/sync",
        ),
    }
    try:
        run(SCENARIOS[0], modes["loopback-served-sync"])  # warm up imports and caches
        for scenario in SCENARIOS:
            rows = {name: measure(scenario, setup, args.repeat) for name, setup in modes.items()}
            native = rows["native"]["wall_s_min"]
            native_cpu = rows["native"]["cpu_s_min"]
            cycles = rows["loopback"]["extender_calls"]["filter"]["calls"]
            binds = rows["loopback"]["extender_calls"]["bind"]["calls"]
            same = all(
                rows[name]["placements"] == rows["sampling"]["placements"]
                for name in ("loopback", "loopback-full-nodes", "loopback-served-sync")
            )
            for row in rows.values():
                del row["placements"]
            entry: dict[str, Any] = {"modes": rows, "cycles": cycles, "binds": binds}
            entry["extenders_decide_as_sampling"] = same
            for name in ("sampling", "loopback", "loopback-full-nodes", "loopback-served-sync"):
                extra = rows[name]["wall_s_min"] - native
                extra_cpu = rows[name]["cpu_s_min"] - native_cpu
                entry[f"{name}_wall_vs_native_ratio"] = round(rows[name]["wall_s_min"] / native, 3)
                entry[f"{name}_wall_overhead_ms_per_cycle"] = round(
                    1000 * extra / max(cycles, 1), 3
                )
                entry[f"{name}_cpu_overhead_ms_per_cycle"] = round(
                    1000 * extra_cpu / max(cycles, 1), 3
                )
                calls = rows[name]["extender_calls"]
                inside = sum(calls[v]["seconds"] for v in ("filter", "prioritize", "preempt"))
                inside += rows[name]["bind_barrier_s"]
                inside += rows[name].get("sync", {}).get("seconds", 0.0)
                entry[f"{name}_extender_ms_per_cycle"] = round(1000 * inside / max(cycles, 1), 3)
            report["scenarios"][scenario] = entry
            print(scenario, json.dumps({k: v for k, v in entry.items() if k != "modes"}))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
