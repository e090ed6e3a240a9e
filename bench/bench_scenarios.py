"""Serving + batch scenarios under tessera and what users run today (writes
bench/results/scenarios.json and bench/results/scenarios.md).

For every shipped scenario (``traces/scenarios/*.yaml`` with ``kind: Scenario``) and each of
its seeds, four runs:

* ``tessera`` — tessera's replay policy;
* ``kube-default`` — a stock kube-scheduler (whatever ``replay_profile("kube-default")``
  resolves to: when the DefaultPreemption plugin lands, this row picks it up unchanged);
* ``kueue`` — the Kueue-TAS-style baseline (greedy BestFit gangs, whole-gang preemption,
  default scoring);
* ``serving-alone`` — tessera's policy on the serving pods only (``--only serving``): the
  serving latency batch must not degrade.

Each run generates the scenario's trace for the seed and replays it in a worker process
(``concurrent.futures``, ``--workers``, default 2). The JSON holds every run's metrics; the
markdown holds, per scenario, the mean over seeds of each policy's metrics, and the
llm-serving-diurnal target check per seed (batch fill >= 90 %, serving pending p99 within
10 % of serving alone, no partial gang).

Run: ``python bench/bench_scenarios.py [--scenarios NAME ...] [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
SCENARIOS = ROOT / "traces" / "scenarios"
VARIANTS = ("tessera", "kube-default", "kueue", "serving-alone")
TARGET = "llm-serving-diurnal"
KEYS = (
    "batch_fill_pct",
    "gpu_hours",
    "batch_lost_gpu_hours",
    "pending_seconds",
    "gang_wait_seconds",
    "preemptions",
    "gangs_total",
    "gangs_placed",
    "gangs_partial",
    "serving_scaleup_seconds",
    "pods_total",
    "pods_scheduled",
    "failures",
    "events",
    "wall_seconds",
)


def run_one(path: str, seed: int, variant: str) -> dict[str, Any]:
    """Generate ``path``'s trace for ``seed`` and replay it under ``variant``; its metrics."""
    from simulator.clusters import load_cluster
    from simulator.experiments.policies import replay_profile
    from simulator.experiments.replay import ReplayConfig, run_replay
    from simulator.inputs import read_trace
    from simulator.scenarios.model import cluster_path, load_scenario

    started = time.perf_counter()
    scenario = load_scenario(path)
    loaded = load_cluster(cluster_path(scenario, path))
    trace = read_trace(path, seed=seed, cluster=loaded)
    policy = "tessera" if variant == "serving-alone" else variant
    only = "serving" if variant == "serving-alone" else None
    profile = replay_profile(policy, seed=seed, levels=loaded.levels)
    result = run_replay(loaded, trace, profile, ReplayConfig(seed=seed, only=only))
    summary = result.summary
    out = {k: summary[k] for k in KEYS}
    out.update(
        scenario=scenario.metadata.name,
        seed=seed,
        variant=variant,
        policy=summary["policy"],
        process_seconds=round(time.perf_counter() - started, 3),
    )
    return out


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 3) if known else None


def aggregate(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per scenario and variant: the mean over seeds of every number (nested keys kept)."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["scenario"], run["variant"]), []).append(run)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (scenario, variant), group in sorted(grouped.items()):

        def mean_of(getter: Any, group: list[dict[str, Any]] = group) -> float | None:
            return _mean([getter(r) for r in group])

        row: dict[str, Any] = {"seeds": sorted(r["seed"] for r in group)}
        row["batch_fill_pct"] = mean_of(lambda r: r["batch_fill_pct"])
        row["batch_fill_pct_min"] = min(
            (r["batch_fill_pct"] for r in group if r["batch_fill_pct"] is not None), default=None
        )
        for k in ("capacity", "serving", "batch", "idle"):
            row[f"gpu_hours.{k}"] = mean_of(lambda r, k=k: r["gpu_hours"][k])
        row["batch_lost_gpu_hours"] = mean_of(lambda r: r["batch_lost_gpu_hours"])
        for cls in ("serving", "batch"):
            for q in ("p50", "p95", "p99"):
                row[f"pending.{cls}.{q}"] = mean_of(
                    lambda r, cls=cls, q=q: r["pending_seconds"][cls][q]
                )
        for metric in ("gang_wait_seconds", "serving_scaleup_seconds"):
            for q in ("p50", "p99"):
                row[f"{metric}.{q}"] = mean_of(lambda r, m=metric, q=q: r[m][q])
        for k in ("preemptions", "gangs_total", "gangs_placed", "gangs_partial", "wall_seconds"):
            row[k] = mean_of(lambda r, k=k: r[k])
        row["gangs_partial_max"] = max(r["gangs_partial"] for r in group)
        out.setdefault(scenario, {})[variant] = row
    return out


def target_check(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per seed of the target scenario: tessera's fill, serving p99 against serving alone,
    partial gangs, and whether the three conditions hold."""
    by = {(r["scenario"], r["variant"], r["seed"]): r for r in runs}
    rows = []
    for (scenario, variant, seed), run in sorted(by.items()):
        if scenario != TARGET or variant != "tessera":
            continue
        alone = by.get((scenario, "serving-alone", seed))
        p99 = run["pending_seconds"]["serving"]["p99"] or 0.0
        alone_p99 = (alone["pending_seconds"]["serving"]["p99"] or 0.0) if alone else None
        fill = run["batch_fill_pct"] or 0.0
        within = alone_p99 is not None and p99 <= alone_p99 * 1.10 + 1e-9
        rows.append(
            {
                "seed": seed,
                "batch_fill_pct": fill,
                "serving_p99": p99,
                "serving_alone_p99": alone_p99,
                "gangs_partial": run["gangs_partial"],
                "met": fill >= 90.0 and within and run["gangs_partial"] == 0,
            }
        )
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


COLUMNS = (
    ("batch fill %", "batch_fill_pct"),
    ("fill min %", "batch_fill_pct_min"),
    ("GPU-h serving", "gpu_hours.serving"),
    ("GPU-h batch", "gpu_hours.batch"),
    ("GPU-h idle", "gpu_hours.idle"),
    ("batch lost GPU-h", "batch_lost_gpu_hours"),
    ("serving pending p50/p95/p99 s", "pending.serving"),
    ("batch pending p50/p95/p99 s", "pending.batch"),
    ("gang wait p50/p99 s", "gang_wait_seconds"),
    ("scale-up p50/p99 s", "serving_scaleup_seconds"),
    ("preemptions", "preemptions"),
    ("gangs total/placed/partial", "gangs"),
)


def _column(row: dict[str, Any], key: str) -> str:
    if key.startswith("pending."):
        return " / ".join(_cell(row[f"{key}.{q}"]) for q in ("p50", "p95", "p99"))
    if key in ("gang_wait_seconds", "serving_scaleup_seconds"):
        return " / ".join(_cell(row[f"{key}.{q}"]) for q in ("p50", "p99"))
    if key == "gangs":
        return " / ".join(_cell(row[k]) for k in ("gangs_total", "gangs_placed", "gangs_partial"))
    return _cell(row[key])


def markdown(summary: dict[str, dict[str, dict[str, Any]]], check: list[dict[str, Any]]) -> str:
    """The results as markdown tables."""
    lines = [
        "# Serving + batch scenarios",
        "",
        "Generated by `python bench/bench_scenarios.py`; means over the seeds of each scenario "
        "(`fill min` is the lowest seed). GPU-hours count GPUs and TPU chips; batch fill = "
        "batch GPU-hours / (capacity - serving GPU-hours).",
        "",
    ]
    header = "| policy | " + " | ".join(name for name, _ in COLUMNS) + " |"
    rule = "|---|" + "---|" * len(COLUMNS)
    for scenario, variants in summary.items():
        seeds = next(iter(variants.values()))["seeds"]
        lines += [f"## {scenario} (seeds {', '.join(map(str, seeds))})", "", header, rule]
        for variant in VARIANTS:
            if variant in variants:
                row = variants[variant]
                cells = " | ".join(_column(row, key) for _, key in COLUMNS)
                lines.append(f"| {variant} | {cells} |")
        lines.append("")
    if check:
        lines += [
            f"## Target on {TARGET} (tessera)",
            "",
            "| seed | batch fill % | serving p99 s | serving alone p99 s | partial gangs | met |",
            "|---|---|---|---|---|---|",
        ]
        for row in check:
            lines.append(
                f"| {row['seed']} | {row['batch_fill_pct']:.2f} | {_cell(row['serving_p99'])} | "
                f"{_cell(row['serving_alone_p99'])} | {row['gangs_partial']} | "
                f"{'yes' if row['met'] else 'no'} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Run every scenario x seed x variant and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scenarios", nargs="*", help="scenario names (default: all shipped)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    from simulator.scenarios.model import is_scenario, load_scenario

    tasks = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        if not is_scenario(path):
            continue
        scenario = load_scenario(path)
        if args.scenarios and scenario.metadata.name not in args.scenarios:
            continue
        tasks.extend((str(path), seed, v) for seed in scenario.seeds for v in VARIANTS)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(run_one, *zip(*tasks, strict=True)))
    summary = aggregate(runs)
    check = target_check(runs)
    import numpy as np

    report = {
        "benchmark": "scenarios",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "summary": summary,
        "target": check,
        "runs": runs,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "scenarios.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "scenarios.md").write_text(markdown(summary, check))
    sys.stdout.write(markdown(summary, check))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
