"""Solver benchmarks; writes ``bench/results/solver.json``.

Run: ``.venv/bin/python bench/bench_solver.py [--only gang|preemption|contended]``. Every
instance comes from a fixed seed (numpy ``default_rng``); times are wall-clock on this
machine, so the JSON records the CPU count and the load average next to them.

1. ``gang_placement`` — a 16-host x 8-GPU rack-required gang on 5,000 nodes of 8 GPUs in
   racks of 32 (157 racks in 20 blocks of 8 racks). 70% of the GPUs are taken by a seeded mix
   of 1-, 2-, 4- and 8-GPU pods (30/30/20/20%, 12 CPU and 96 GiB per GPU): about 5% of the
   racks are lightly loaded (20-45%, packed onto the first nodes) and the rest carry the
   remainder spread at random, so a few racks have 16 idle nodes and most do not. One
   cluster per seed; ``solve_gang`` with the default online config (40 ms wall limit) is
   timed end to end (pruning, model, solve, validation), after one untimed warm-up solve.
   Reports p50/p99 ms, how many answers were proven optimal and how many hit the limit, the
   number of racks that can take the gang, and the Kueue-style BestFit baseline's time.
2. ``preemption`` — an 8-host x 8-GPU rack-required serving gang (priority 1000) on 800
   nodes of 8 GPUs in racks of 32, running 2,000 batch pods (1/2/4/8 GPUs at 45/30/15/10%,
   priorities -1/-2/-5/-10, work lost 0-600 GPU-minutes) placed at random; half the 4- and
   8-GPU pods belong to batch gangs of 2-4 pods. ``solve_preemption`` with a 150 ms online
   limit (the budget is 200 ms). Reports p50/p99 ms, proven-optimal counts, victims, and the
   victim cost against the greedy planner's.
3. ``contended`` — the same arrival sequence placed by the solver and by the Kueue-style
   BestFit baseline on 1,024 nodes of 8 GPUs (32 racks of 32), optionally pre-loaded by 1-4
   GPU pods at random that never leave: arrivals (exponential gaps; uniform lifetimes) of
   rack-required gangs of 8-GPU pods (35%), rack-required gangs of 2-8 pods of 2 or 4 GPUs
   (35%) and lone 1-4 GPU pods (30%). A gang that does not fit when it arrives is dropped.
   Two regimes: ``busy`` (30% pre-load, 600 arrivals, mean gap 0.1, lifetimes 10-60,
   2-8-host gangs) and ``saturated`` (no pre-load, 800 arrivals, mean gap 0.03, lifetimes
   20-60, 4-16-host gangs). The solver's fragmentation cost per node is the growth of
   F(g) = sum_s p_s (g mod s), the GPUs stranded for the 1/2/4/8-GPU mix (in milli-GPU).
   Reports placement success (gangs and GPUs), solver statuses and decision times.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.solver.config import SolverConfig
from scheduler.solver.greedy import kueue_best_fit
from scheduler.solver.instance import (
    GangInstance,
    GangSolution,
    GangSpec,
    NodeTable,
    PodDemand,
    PreemptionInstance,
    Victim,
)
from scheduler.solver.preemption import prune_preemption
from scheduler.solver.preemption_greedy import greedy_preemption
from scheduler.solver.solve import solve_gang, solve_preemption

log = logging.getLogger("bench_solver")
OUT = Path(__file__).parent / "results" / "solver.json"
DIMS = ("gpu", "cpu", "memory", "pods")
LEVELS = ("topology.tessera.io/block", "topology.tessera.io/rack")
NODE = np.array([8, 128_000, 1024, 110], dtype=np.int64)
SIZES = np.array([1, 2, 4, 8])


def per_gpu(gpus: int) -> np.ndarray:
    """Demand of a pod with ``gpus`` GPUs: 12 CPU and 96 GiB per GPU, one pod slot."""
    return np.array([gpus, 12_000 * gpus, 96 * gpus, 1], dtype=np.int64)


def ms(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max of seconds, in milliseconds."""
    arr = np.array(values) * 1e3
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def table(free: np.ndarray, rack_of: np.ndarray, racks_per_block: int) -> NodeTable:
    n = len(rack_of)
    return NodeTable(
        dims=DIMS,
        levels=LEVELS,
        ids=np.arange(n),
        names=tuple(f"node-{i:05d}" for i in range(n)),
        free=free,
        domain=np.stack([rack_of // racks_per_block, rack_of], axis=1),
    )


def loaded_cluster(seed: int, nodes: int = 5000, rack: int = 32, load: float = 0.70) -> np.ndarray:
    """Free supply [N, 4] of the gang-placement cluster (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rack_of = np.arange(nodes) // rack
    nracks = int(rack_of.max()) + 1
    free = np.tile(NODE, (nodes, 1))
    light = rng.random(nracks) < 0.05
    sizes = np.bincount(rack_of, minlength=nracks) * 8
    target = np.where(light, rng.uniform(0.20, 0.45, nracks), 0.0)
    rest = load * nodes * 8 - float((target * sizes)[light].sum())
    target[~light] = rest / float(sizes[~light].sum())
    for r in range(nracks):
        members = np.flatnonzero(rack_of == r)
        goal = round(target[r] * len(members) * 8)
        used = 0
        while used < goal:
            want = int(rng.choice(SIZES, p=[0.3, 0.3, 0.2, 0.2]))
            placed = False
            for size in (s for s in (8, 4, 2, 1) if s <= min(want, goal - used)):
                fit = members[free[members, 0] >= size]
                if not len(fit):
                    continue
                node = int(fit[0] if light[r] else fit[rng.integers(len(fit))])
                free[node] -= per_gpu(size)
                used += size
                placed = True
                break
            if not placed:
                break
    return free


def bench_gang(seeds: int = 40, repeats: int = 3) -> dict[str, Any]:
    """Benchmark 1 (see the module docstring)."""
    gang = GangSpec(
        key="train-16x8",
        pods=tuple(PodDemand(id=i, demand=tuple(per_gpu(8).tolist())) for i in range(16)),
        required_level=1,
    )
    config = SolverConfig()
    rack_of = np.arange(5000) // 32
    times: list[float] = []
    build: list[float] = []
    kueue: list[float] = []
    statuses: Counter[str] = Counter()
    proven = 0
    agree = 0
    fit_racks: list[int] = []
    loads: list[float] = []
    solve_gang(GangInstance(table=table(loaded_cluster(999), rack_of, 8), gang=gang), config)
    for seed in range(seeds):
        free = loaded_cluster(seed)
        loads.append(1 - free[:, 0].sum() / (8 * len(free)))
        idle = np.bincount(rack_of, weights=(free[:, 0] == 8).astype(float))
        fit_racks.append(int((idle >= 16).sum()))
        for _ in range(repeats):
            t0 = time.perf_counter()
            inst = GangInstance(table=table(free, rack_of, 8), gang=gang)
            t1 = time.perf_counter()
            sol = solve_gang(inst, config)
            t2 = time.perf_counter()
            base = kueue_best_fit(inst)
            t3 = time.perf_counter()
            build.append(t1 - t0)
            times.append(t2 - t1)
            kueue.append(t3 - t2)
            statuses[sol.status.value] += 1
            proven += sol.proven_optimal
            agree += sol.domain == base.domain
    return {
        "instance": "16 x 8-GPU rack-required gang; 5,000 nodes x 8 GPUs; racks of 32; 70% load",
        "solves": len(times),
        "config": {"mode": config.mode, "time_limit_s": config.time_limit_s},
        "gpu_load_mean": round(float(np.mean(loads)), 4),
        "racks_that_fit": {
            "min": min(fit_racks),
            "median": float(np.median(fit_racks)),
            "max": max(fit_racks),
            "of": int(rack_of.max()) + 1,
        },
        "solve": ms(times),
        "instance_build": ms(build),
        "statuses": dict(statuses),
        "proven_optimal": proven,
        "hit_limit": statuses.get("FEASIBLE", 0)
        + statuses.get("FALLBACK", 0)
        + statuses.get("TIMEOUT", 0),
        "kueue_bestfit": {**ms(kueue), "same_rack_as_solver": agree},
        "budget_p99_ms": 50,
    }


def preemption_instance(seed: int, nodes: int = 800, pods: int = 2000) -> PreemptionInstance:
    """Benchmark 2's instance (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rack_of = np.arange(nodes) // 32
    free = np.tile(NODE, (nodes, 1))
    victims: list[Victim] = []
    gangs = 0
    for _ in range(10 * pods):
        if len(victims) >= pods:
            break
        size = int(rng.choice(SIZES, p=[0.45, 0.3, 0.15, 0.1]))
        members = int(rng.integers(2, 5)) if size >= 4 and rng.random() < 0.5 else 1
        key = f"batch-gang-{gangs}" if members > 1 else None
        gangs += members > 1
        prio = int(rng.choice([-1, -2, -5, -10]))
        for _ in range(members):
            fit = np.flatnonzero(free[:, 0] >= size)
            if not len(fit) or len(victims) >= pods:
                break
            node = int(fit[rng.integers(len(fit))])
            demand = per_gpu(size)
            free[node] -= demand
            victims.append(
                Victim(
                    key=f"batch-{len(victims)}",
                    node=node,
                    priority=prio,
                    work_lost=int(rng.integers(0, 600)) * size,
                    gang=key,
                    freed=tuple(int(x) for x in demand),
                )
            )
    serving = GangSpec(
        key="serve-8x8",
        priority=1000,
        required_level=1,
        pods=tuple(PodDemand(id=i, demand=tuple(per_gpu(8).tolist())) for i in range(8)),
    )
    return PreemptionInstance(table=table(free, rack_of, 8), gang=serving, victims=tuple(victims))


def bench_preemption(seeds: int = 20) -> dict[str, Any]:
    """Benchmark 2 (see the module docstring)."""
    config = SolverConfig(time_limit_s=0.15)
    times: list[float] = []
    statuses: Counter[str] = Counter()
    proven = 0
    victims: list[int] = []
    ratio: list[float] = []
    solve_preemption(preemption_instance(999), config)
    for seed in range(seeds):
        inst = preemption_instance(seed)
        t0 = time.perf_counter()
        sol = solve_preemption(inst, config)
        times.append(time.perf_counter() - t0)
        statuses[sol.status.value] += 1
        proven += sol.proven_optimal
        victims.append(len(sol.victims))
        pc = prune_preemption(inst, config)
        if not isinstance(pc, str) and sol.victim_cost:
            greedy = greedy_preemption(pc)
            if greedy is not None:
                ratio.append(sol.victim_cost / sum(pc.units[u].cost for u in greedy[1]))
    return {
        "instance": "8 x 8-GPU rack-required serving gang; 800 nodes; 2,000 running batch pods",
        "solves": seeds,
        "config": {
            "mode": config.mode,
            "time_limit_s": config.time_limit_s,
            "max_domains": config.max_domains,
        },
        "plan": ms(times),
        "statuses": dict(statuses),
        "proven_optimal": proven,
        "victims": {"min": min(victims), "median": float(np.median(victims)), "max": max(victims)},
        "victim_cost_vs_greedy": {
            "mean": round(float(np.mean(ratio)), 4) if ratio else None,
            "min": round(float(np.min(ratio)), 4) if ratio else None,
        },
        "budget_p99_ms": 200,
    }


def stranded(g: np.ndarray) -> np.ndarray:
    """F(g) in milli-GPU: GPUs left unusable for the 1/2/4/8-GPU mix (30/30/20/20%)."""
    mix = ((1, 0.3), (2, 0.3), (4, 0.2), (8, 0.2))
    out = np.zeros(g.shape, dtype=np.float64)
    for size, p in mix:
        out += p * (g % size) * 1000
    return out


def frag_table(free: np.ndarray, gpus: int, pods: int) -> np.ndarray:
    """int64[N, pods + 1]: growth of F when k pods of ``gpus`` GPUs land on each node."""
    g = free[:, 0][:, None] - gpus * np.arange(pods + 1)[None, :]
    after = stranded(np.maximum(g, 0))
    out: np.ndarray = np.rint(after - after[:, :1]).astype(np.int64)
    return out


def bench_contended(
    arrivals: int = 400,
    seed: int = 7,
    preload: float = 0.45,
    gap: float = 1.0,
    life: tuple[float, float] = (5.0, 60.0),
    big: tuple[int, int] = (4, 16),
) -> dict[str, Any]:
    """Benchmark 3 (see the module docstring)."""
    rng = np.random.default_rng(seed)
    nodes, rack = 1024, 32
    rack_of = np.arange(nodes) // rack
    base = np.tile(NODE, (nodes, 1))
    used = 0
    while used < preload * nodes * 8:
        size = int(rng.integers(1, 5))
        fit = np.flatnonzero(base[:, 0] >= size)
        node = int(fit[rng.integers(len(fit))])
        base[node] -= per_gpu(size)
        used += size
    jobs = []
    clock = 0.0
    for i in range(arrivals):
        clock += float(rng.exponential(gap))
        kind = rng.choice(["big", "small", "single"], p=[0.35, 0.35, 0.30])
        if kind == "big":
            pods, gpus, level = int(rng.integers(big[0], big[1] + 1)), 8, 1
        elif kind == "small":
            pods, gpus, level = int(rng.integers(2, 9)), int(rng.choice([2, 4])), 1
        else:
            pods, gpus, level = 1, int(rng.integers(1, 5)), None
        jobs.append((clock, clock + float(rng.uniform(*life)), str(kind), pods, gpus, level, i))
    config = SolverConfig()

    def run(policy: Callable[[GangInstance], GangSolution], frag: bool) -> dict[str, Any]:
        free = base.copy()
        running: list[tuple[float, dict[int, int], np.ndarray]] = []
        placed: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        gpu_ok = gpu_all = 0
        times: list[float] = []
        for start, end, kind, pods, gpus, level, i in jobs:
            for item in [r for r in running if r[0] <= start]:
                for node in item[1].values():
                    free[node] += item[2]
                running.remove(item)
            demand = per_gpu(gpus)
            gang = GangSpec(
                key=f"job-{i}",
                pods=tuple(PodDemand(id=p, demand=tuple(demand.tolist())) for p in range(pods)),
                required_level=level,
            )
            tab = table(free, rack_of, 8)
            if frag:
                tab = tab.with_frag_cost(frag_table(free, gpus, pods))
            inst = GangInstance(table=tab, gang=gang)
            t0 = time.perf_counter()
            sol = policy(inst)
            times.append(time.perf_counter() - t0)
            statuses[sol.status.value] += 1
            seen[kind] += 1
            gpu_all += pods * gpus
            if sol.placed:
                placed[kind] += 1
                gpu_ok += pods * gpus
                for node in sol.assignment.values():
                    free[node] -= demand
                running.append((end, dict(sol.assignment), demand))
        return {
            "gangs_placed": sum(placed.values()),
            "success_rate": round(sum(placed.values()) / len(jobs), 4),
            "gpu_success_rate": round(gpu_ok / gpu_all, 4),
            "by_kind": {k: f"{placed[k]}/{seen[k]}" for k in sorted(seen)},
            "decision": ms(times),
            "statuses": dict(statuses),
        }

    return {
        "regime": {
            "arrivals": arrivals,
            "preload": preload,
            "mean_gap": gap,
            "lifetime": list(life),
            "big_gang_hosts": list(big),
        },
        "solver": run(lambda inst: solve_gang(inst, config), frag=True),
        "kueue_bestfit": run(kueue_best_fit, frag=False),
    }


def bench_contended_regimes() -> dict[str, Any]:
    """Benchmark 3 in two regimes: busy (30% static pre-load, gangs of 2-8 hosts) and
    saturated (no pre-load, arrivals far above capacity, gangs of 4-16 hosts)."""
    return {
        "instance": "1,024 nodes x 8 GPUs in racks of 32; mixed gang and pod arrivals",
        "busy": bench_contended(600, preload=0.30, gap=0.1, life=(10, 60), big=(2, 8)),
        "saturated": bench_contended(800, preload=0.0, gap=0.03, life=(20, 60), big=(4, 16)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks and merge them into ``bench/results/solver.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["gang", "preemption", "contended"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    runs = {
        "gang": ("gang_placement", bench_gang),
        "preemption": ("preemption", bench_preemption),
        "contended": ("contended", bench_contended_regimes),
    }
    for name, (key, fn) in runs.items():
        if args.only not in (None, name):
            continue
        t0 = time.perf_counter()
        results[key] = fn()
        results[key]["bench_seconds"] = round(time.perf_counter() - t0, 1)
        log.info("%s: %s", key, json.dumps(results[key]))
    results["machine"] = {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "ortools": version("ortools"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
