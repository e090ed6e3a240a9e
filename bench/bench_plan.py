"""``tessera plan`` on the shipped plan: wall time, CPU time and the answer (writes
bench/results/plan.json).

Runs ``python -m simulator.cli plan PLAN --out TMP --workers W`` in a child process and
measures its wall time and the CPU time of the child and its workers (``RUSAGE_CHILDREN``).
Baseline, measured in the same run: one replay of the plan's scenario window at the
recommended mix with the recommended policy (first seed), in this process — the plan's cost
is reported as ``cpu_s / baseline_replay_cpu_s`` replay-equivalents. The load average at the
start is recorded: on a shared machine the wall time is only meaningful next to it;
``cpu_s / workers`` is what the run takes on that many otherwise idle cores.

Run: ``python bench/bench_plan.py [--plan traces/plans/llm-serving.yaml] [--workers 2]
[--keep DIR]`` (``--keep``: the report stays there, e.g. for ``scripts/report_screenshot.py
--report DIR``).
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline(plan: Path, summary: dict[str, Any]) -> float:
    """CPU seconds of one replay at the answer (its policy, the first seed)."""
    from simulator.plans.model import load_plan
    from simulator.plans.points import ReplayTask, run_task

    resolved = load_plan(plan)
    rec = summary["recommendation"] or {}
    pools = rec.get("pools") or {p.name: p.max for p in resolved.pools}
    counts = tuple(pools[p.name] for p in resolved.pools)
    policy = rec.get("policy", resolved.plan.policies[0])
    task = ReplayTask(
        resolved.scenario_data, resolved.cluster_data(counts), policy, resolved.seeds[0]
    )
    start = time.process_time()
    run_task(task)
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, default=ROOT / "traces" / "plans" / "llm-serving.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="Write the plan's report here (kept).")
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench-plan-")) / "report"
    cpu_before = _children_cpu()
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "plan",
            str(args.plan),
            "--out",
            str(out),
            "--workers",
            str(args.workers),
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    summary = json.loads((out / "summary.json").read_text())
    replay_cpu = baseline(args.plan, summary)
    report = {
        "benchmark": "plan",
        "plan": str(args.plan.relative_to(ROOT)),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "load_average_at_start": load,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_s_per_worker": round(cpu / args.workers, 1),
        "baseline_replay_cpu_s": round(replay_cpu, 2),
        "replay_equivalents": round(cpu / replay_cpu, 1),
        "points_evaluated": summary["search"]["points_evaluated"],
        "questions": len(summary["search"]["path"]),
        "replays": summary["search"]["replays"],
        "recommendation": summary["recommendation"],
        "result": summary["result"]["message"],
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "plan.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
