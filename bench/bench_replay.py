"""Replay throughput benchmark (writes bench/results/replay.json).

A synthetic openb-like trace (``simulator.traces.synthetic``: shapes drawn from the shipped
openb default pod list, Poisson arrivals, log-normal durations fitted to its lifetimes) of
``--pods`` pods (default 100,000, seed 42) is replayed with policy ``tessera`` on the openb
cluster (``traces/clusters/openb.yaml``: 1,213 GPU nodes, 6,212 shared GPUs, built by the
templated path) until the last arrival.

Sizing: the arrival rate is chosen by Little's law for an *offered load* (``--load``,
default 1.0 = the whole GPU capacity in steady state). With durations this heavy-tailed the
cluster fills slowly (at time t the expected allocation is load x E[min(D, t)] / E[D]), so
an offered load of 1.0 gives roughly 70-85% GPU allocation over the second half of a
100,000-pod trace; the report gives the measured allocation (whole run and second half).

Everything runs in a fresh Python subprocess (peak RSS is its ``ru_maxrss``): trace
generation, the replay (wall and CPU seconds, events per second = engine events processed /
replay wall seconds, pods scheduled, the SHA-256 of placements.jsonl and timeline.csv), and
with ``--profile`` a cProfile of the replay whose top functions (by own time and by
cumulative time) go into the report.

Baseline: the same replay of the code at ``--baseline REV`` (default
:data:`BASELINE_REV`, the commit before the replay's hot paths were reworked), exported with
``git archive`` into a temporary directory and run in its own subprocess in the same
invocation, right before the current code, so the ratios (``speedup_wall``,
``speedup_cpu``, ``rss_ratio``) compare the two on the same machine under the same load;
``same_outputs`` says whether both wrote byte-identical placements and timelines.
``--baseline none`` skips it.

Run: ``python bench/bench_replay.py [--pods N] [--load L] [--profile] [--baseline REV]``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "replay.json"
CLUSTER = ROOT / "traces" / "clusters" / "openb.yaml"
SEED = 42
BASELINE_REV = "4df470e"
"""The serving + batch scenarios commit: the replay as it was measured at 5,589 events/s."""


def _top(profile: cProfile.Profile, key: str, count: int = 15) -> list[dict[str, Any]]:
    """The ``count`` most expensive functions of a profile by ``key`` (tottime/cumulative)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    stats.sort_stats(key)
    rows = []
    for func in stats.fcn_list[:count]:  # type: ignore[attr-defined]
        calls, _, own, cumulative, _ = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        where = Path(filename)
        try:
            where = where.relative_to(ROOT)
        except ValueError:
            where = Path(where.name)
        rows.append(
            {
                "function": f"{where}:{line}({name})",
                "calls": calls,
                "own_s": round(own, 3),
                "cumulative_s": round(cumulative, 3),
            }
        )
    return rows


def child(pods: int, load: float, profile: bool) -> dict[str, Any]:
    """Generate the trace and replay it in this process; timings, RSS, outcome."""
    start = time.perf_counter()
    from simulator.clusters import load_cluster
    from simulator.experiments.policies import replay_profile
    from simulator.experiments.replay import Replay, ReplayConfig
    from simulator.inputs import read_trace
    from simulator.traces.synthetic import (
        SyntheticConfig,
        generate,
        load_openb_model,
        rate_for_allocation,
        write_openb_csv,
    )

    loaded = load_cluster(CLUSTER, templated=True)
    capacity = int(loaded.cache.snapshot().gpus.gpu_count.sum()) * 1000
    model = load_openb_model()
    rate = rate_for_allocation(model, capacity, load)
    synthetic = generate(model, SyntheticConfig(pods=pods, rate=rate, seed=SEED))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_openb_csv(synthetic, Path(tmp) / "synthetic-openb.csv.gz")
        trace = read_trace(path)
    horizon = float(synthetic[-1].creation_time or 0)
    del synthetic  # the replay reads the trace file's rows, not the generator's list
    replay = Replay(
        loaded,
        trace,
        replay_profile("tessera", seed=SEED, levels=loaded.levels),
        ReplayConfig(seed=SEED, horizon=horizon),
    )
    prepared = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        result = replay.run()
    finally:
        if profiler is not None:
            profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    events = replay.engine.processed
    digests = {}
    for name in ("placements.jsonl", "timeline.csv"):
        with (result.directory / name).open("rb") as f:  # streamed: not counted in peak RSS
            digests[name] = hashlib.file_digest(f, "sha256").hexdigest()
    out: dict[str, Any] = {
        "pods": pods,
        "seed": SEED,
        "offered_load": load,
        "arrival_rate_per_s": round(rate, 4),
        "mean_duration_s": round(model.mean_duration, 1),
        "horizon_s": horizon,
        "setup_s": round(prepared - start, 3),
        "replay_wall_s": round(wall, 3),
        "replay_cpu_s": round(cpu, 3),
        "events": events,
        "events_per_s": round(events / wall, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    summary = result.summary
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["peak_rss_mib"] = peak
    alloc = [row["alloc_pct"] for row in result.timeline]
    second_half = alloc[len(alloc) // 2 :]
    out.update(
        {
            "pods_per_s": round(pods / wall, 1),
            "pods_total": summary["pods_total"],
            "pods_scheduled": summary["pods_scheduled"],
            "pods_unschedulable": summary["pods_unschedulable"],
            "failed_attempts": summary["attempts_failed"],
            "gpu_alloc_mean_pct": summary["gpu_alloc_mean_pct"],
            "gpu_alloc_second_half_mean_pct": round(sum(second_half) / len(second_half), 2)
            if second_half
            else None,
            "gpu_alloc_final_pct": alloc[-1] if alloc else None,
            "pending_seconds": summary["pending_seconds"],
            "sha256": digests,
        }
    )
    if profiler is not None:
        out["profile"] = {
            "note": "cProfile of the replay only; profiled times are inflated",
            "by_own_time": _top(profiler, "tottime"),
            "by_cumulative_time": _top(profiler, "cumulative"),
        }
    return out


def run_child(pods: int, load: float, profile: bool, code: Path = ROOT) -> dict[str, Any]:
    """:func:`child` in a fresh interpreter importing the code under ``code`` (its stderr
    is echoed if it dies)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child"]
    command += ["--pods", str(pods), "--load", str(load)]
    if profile:
        command.append("--profile")
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def main() -> int:
    """Run the replay in a subprocess and write bench/results/replay.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--load", type=float, default=1.0, help="offered GPU load (0, 1]")
    parser.add_argument("--profile", action="store_true", help="cProfile the replay")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--baseline",
        default=BASELINE_REV,
        help="git revision measured in the same run for the ratios ('none': skip)",
    )
    args = parser.parse_args()
    if args.child:
        json.dump(child(args.pods, args.load, args.profile), sys.stdout)
        return 0
    import numpy as np

    load = os.getloadavg()
    started = time.perf_counter()
    baseline = None
    if args.baseline != "none":
        with tempfile.TemporaryDirectory(prefix="tessera-baseline-") as tree:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
            baseline = run_child(args.pods, args.load, False, Path(tree))
    run = run_child(args.pods, args.load, args.profile)
    report: dict[str, Any] = {
        "benchmark": "replay",
        "policy": "tessera",
        "cluster": "traces/clusters/openb.yaml (templated)",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "run": run,
    }
    if baseline is not None:
        report["baseline"] = {"rev": args.baseline, "run": baseline}
        report["ratios"] = {
            "speedup_wall": round(baseline["replay_wall_s"] / run["replay_wall_s"], 3),
            "speedup_cpu": round(baseline["replay_cpu_s"] / run["replay_cpu_s"], 3),
            "rss_ratio": round(run["peak_rss_mib"] / baseline["peak_rss_mib"], 3),
            "same_events": baseline["events"] == run["events"],
            "same_outputs": baseline["sha256"] == run["sha256"],
        }
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["process_wall_s"] = round(time.perf_counter() - started, 3)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
