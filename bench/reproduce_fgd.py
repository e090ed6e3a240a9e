"""The FGD paper's experiment on all 17 openb traces, tessera beside the paper's six policies.

Runs :func:`simulator.experiments.inflate.run_inflate` (tune 1.3, arrivals only) for every
(trace, policy, seed) of the matrix and compares the unallocated GPU % at arrived = 100% of
cluster GPU capacity with the authors' cached per-seed results
(``tests/golden/fgd/analysis_allo_discrete.csv.gz``), seed for seed.

Outputs:

* ``bench/results/fgd_reproduction.json`` — one record per run, keyed ``trace/policy/seed``
  (unallocated % at 100 and 130, failed pods, wall time). The file is rewritten after every
  run, so an interrupted matrix resumes where it stopped: runs already present are skipped.
* ``bench/results/fgd_reproduction.md`` — rebuilt from the whole JSON: an overview (per trace
  and policy, tessera's mean and the paper's), the detail (mean +- sd, the paper's mean over
  the same seeds, the difference in pp) and tessera's policy against FGD, seed for seed.

Seeds: 42-51 on the default trace and 42-44 on each variant unless ``--seeds`` says otherwise.
It is a batch job (about 15-20 s per run on one core), not part of CI::

    python bench/reproduce_fgd.py --workers 2
    python bench/reproduce_fgd.py --traces default --policies fgd,tessera --seeds 42-51
    python bench/reproduce_fgd.py --report-only --merge /tmp/other.json

Never run two instances on the same ``--out`` at once (each rewrites the whole file); give
a parallel run its own ``--out`` and ``--merge`` it afterwards.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import logging
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from simulator.atomic import write_atomic
from simulator.experiments.inflate import InflateConfig, run_inflate
from simulator.experiments.policies import POLICIES

ROOT = Path(__file__).resolve().parents[1]
TRACE_DIR = ROOT / "traces" / "openb"
NODES = TRACE_DIR / "openb_node_list_gpu_node.csv.gz"
PAPER = ROOT / "tests" / "golden" / "fgd" / "analysis_allo_discrete.csv.gz"
RESULTS = ROOT / "bench" / "results"
JSON_OUT = RESULTS / "fgd_reproduction.json"
MD_OUT = RESULTS / "fgd_reproduction.md"

TRACES = (
    "default",
    "cpu050",
    "cpu100",
    "cpu200",
    "cpu250",
    "gpushare40",
    "gpushare60",
    "gpushare80",
    "gpushare100",
    "gpuspec10",
    "gpuspec20",
    "gpuspec25",
    "gpuspec33",
    "multigpu20",
    "multigpu30",
    "multigpu40",
    "multigpu50",
)
"""The 17 traces of the paper's experiment matrix (figure order)."""

PAPER_NAMES = {
    "random": "01-Random",
    "dotprod": "02-DotProd",
    "clustering": "03-GpuClustering",
    "packing": "04-GpuPacking",
    "bestfit": "05-BestFit",
    "fgd": "06-FGD",
}
"""tessera policy name -> the ``sc_policy`` label of the cached results."""

DEFAULT_SEEDS = tuple(range(42, 52))
VARIANT_SEEDS = tuple(range(42, 45))
RATIO = 1.3

log = logging.getLogger("reproduce_fgd")

Runs = dict[str, dict[str, Any]]
Paper = dict[tuple[str, str, int], float]


def run_key(trace: str, policy: str, seed: int) -> str:
    """The JSON key of one run."""
    return f"{trace}/{policy}/{seed}"


def parse_seeds(text: str) -> tuple[int, ...]:
    """``42-51`` or ``42,45,47`` (or a mix) -> the seeds, in order, without repeats."""
    seeds: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else range(int(lo), int(lo) + 1)
        except ValueError as err:
            raise ValueError(f"--seeds: {part!r} is not a seed or a range a-b") from err
        if not values:
            raise ValueError(f"--seeds: range {part!r} is empty")
        seeds.extend(s for s in values if s not in seeds)
    if not seeds:
        raise ValueError(f"--seeds: no seed in {text!r}")
    return tuple(seeds)


def parse_list(text: str, known: Sequence[str], what: str) -> tuple[str, ...]:
    """A comma-separated selection of ``known`` names (``all`` = every one)."""
    if text.strip() == "all":
        return tuple(known)
    chosen = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in chosen if t not in known]
    if unknown or not chosen:
        raise ValueError(f"--{what}: unknown {unknown or text!r}; expected some of {list(known)}")
    return chosen


def load_paper(path: Path = PAPER) -> Paper:
    """(trace, policy, seed) -> the paper's unallocated GPU % at arrived = 100%."""
    by_label = {label: name for name, label in PAPER_NAMES.items()}
    out: Paper = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            trace = row["workload"].removeprefix("openb_pod_list_")
            policy = by_label.get(row["sc_policy"])
            if policy is None or float(row["tune"]) != RATIO:
                continue
            out[(trace, policy, int(row["seed"]))] = round(100.0 - float(row["100"]), 4)
    return out


def load_runs(path: Path) -> Runs:
    """The runs already recorded (empty when the file does not exist)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    runs: Runs = data.get("runs", {})
    return runs


def save_runs(path: Path, runs: Runs) -> None:
    """Write the runs atomically, sorted by key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "experiment": "FGD workload inflation (tune 1.3), openb GPU nodes",
        "metric": "unallocated GPU % at arrived = 100% of cluster GPU capacity",
        "runs": dict(sorted(runs.items())),
    }
    write_atomic(path, json.dumps(document, indent=1) + "\n")


def one_run(trace: str, policy: str, seed: int) -> dict[str, Any]:
    """Run one (trace, policy, seed) and return its JSON record (called in a worker)."""
    result = run_inflate(
        NODES,
        TRACE_DIR / f"openb_pod_list_{trace}.csv.gz",
        InflateConfig(policy=policy, seed=seed, ratio=RATIO),
    )
    at_130 = result.alloc_pct[130]
    return {
        "trace": trace,
        "policy": policy,
        "seed": seed,
        "unallocated_at_100": result.unallocated_pct_at_100,
        "unallocated_at_130": None if at_130 is None else round(100.0 - at_130, 4),
        "pods_total": result.pods_total,
        "pods_failed": result.pods_failed,
        "wall_seconds": result.wall_seconds,
    }


def matrix(
    traces: Iterable[str], policies: Iterable[str], seeds: tuple[int, ...] | None
) -> list[tuple[str, str, int]]:
    """Every (trace, policy, seed) asked for; default seeds depend on the trace."""
    out: list[tuple[str, str, int]] = []
    for trace in traces:
        chosen = seeds or (DEFAULT_SEEDS if trace == "default" else VARIANT_SEEDS)
        out.extend((trace, policy, seed) for policy in policies for seed in chosen)
    return out


def run_matrix(todo: Sequence[tuple[str, str, int]], runs: Runs, workers: int, out: Path) -> None:
    """Run the missing cells, saving after each one."""
    pending = [cell for cell in todo if run_key(*cell) not in runs]
    log.info(
        "%d runs asked, %d already done, %d to go",
        len(todo),
        len(todo) - len(pending),
        len(pending),
    )
    if not pending:
        return
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures: dict[Future[dict[str, Any]], tuple[str, str, int]] = {
            pool.submit(one_run, *cell): cell for cell in pending
        }
        for done, future in enumerate(as_completed(futures), start=1):
            cell = futures[future]
            record = future.result()
            runs[run_key(*cell)] = record
            save_runs(out, runs)
            log.info(
                "[%d/%d %.0fs] %s: unallocated %.2f%% (%d failed) in %.1fs",
                done,
                len(pending),
                time.perf_counter() - start,
                run_key(*cell),
                record["unallocated_at_100"],
                record["pods_failed"],
                record["wall_seconds"],
            )


# ------------------------------------------------------------------------------------- report


def _cells(runs: Runs) -> dict[tuple[str, str], dict[int, float]]:
    cells: dict[tuple[str, str], dict[int, float]] = {}
    for record in runs.values():
        value = record["unallocated_at_100"]
        if value is not None:
            cells.setdefault((record["trace"], record["policy"]), {})[record["seed"]] = value
    return cells


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), sd


def summary(runs: Runs, paper: Paper) -> list[dict[str, Any]]:
    """Per (trace, policy): the measured mean and sd, the paper's mean over the same seeds,
    and the paper's mean and sd over all its seeds 42-51 (None where the paper has none)."""
    rows: list[dict[str, Any]] = []
    cells = _cells(runs)
    for trace in TRACES:
        for policy in POLICIES:
            values = cells.get((trace, policy))
            if not values:
                continue
            seeds = sorted(values)
            mean, sd = _mean_sd([values[s] for s in seeds])
            same = [paper[(trace, policy, s)] for s in seeds if (trace, policy, s) in paper]
            every = [
                paper[(trace, policy, s)] for s in DEFAULT_SEEDS if (trace, policy, s) in paper
            ]
            paper_mean = statistics.fmean(same) if len(same) == len(seeds) else None
            paper_all = _mean_sd(every) if len(every) == len(DEFAULT_SEEDS) else None
            rows.append(
                {
                    "trace": trace,
                    "policy": policy,
                    "seeds": seeds,
                    "mean": mean,
                    "sd": sd,
                    "paper_mean": paper_mean,
                    "diff": None if paper_mean is None else mean - paper_mean,
                    "paper_all_mean": None if paper_all is None else paper_all[0],
                    "paper_all_sd": None if paper_all is None else paper_all[1],
                    "diff_all": None if paper_all is None else mean - paper_all[0],
                }
            )
    return rows


def _seed_text(seeds: Sequence[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(str(s) for s in seeds)


def paired(runs: Runs, trace: str, a: str, b: str) -> list[tuple[int, float, float]]:
    """(seed, a, b) for the seeds both policies ran on ``trace``."""
    cells = _cells(runs)
    left, right = cells.get((trace, a), {}), cells.get((trace, b), {})
    return [(s, left[s], right[s]) for s in sorted(set(left) & set(right))]


def markdown(runs: Runs, paper: Paper) -> str:
    """The report (see the module docstring)."""
    rows = summary(runs, paper)
    by_cell = {(r["trace"], r["policy"]): r for r in rows}
    lines = [
        "# FGD reproduction: unallocated GPU % at arrived = 100% (tune 1.3)",
        "",
        "Generated by `bench/reproduce_fgd.py` from `fgd_reproduction.json`. Lower is better.",
        "Each cell: the mean measured with tessera's framework (`run_inflate`) over its seeds,",
        "then (in parentheses) the paper's mean over the same seeds, from the authors' cached",
        "results. The `tessera` column is tessera's own default policy (the Tessera plugin; no",
        "paper counterpart). Seeds: 42-51 on default, 42-44 on the variants unless the detail",
        "table says otherwise.",
        "",
    ]
    header = ["trace", *POLICIES]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for trace in TRACES:
        if not any((trace, p) in by_cell for p in POLICIES):
            continue
        cells = [trace]
        for policy in POLICIES:
            row = by_cell.get((trace, policy))
            if row is None:
                cells.append("")
            elif row["paper_mean"] is None:
                cells.append(f"**{row['mean']:.2f}**")
            else:
                cells.append(f"{row['mean']:.2f} ({row['paper_mean']:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Detail",
        "",
        "Measured runs and the authors' runs of the same seed number do not share an arrival",
        "order (different random generators), so the last two columns also compare with the",
        "paper's mean over all ten seeds 42-51, the less noisy reference.",
        "",
        "| trace | policy | seeds | measured mean ± sd | paper, same seeds | diff (pp) "
        "| paper 42-51 mean ± sd | diff (pp) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper_text = "" if r["paper_mean"] is None else f"{r['paper_mean']:.2f}"
        diff_text = "" if r["diff"] is None else f"{r['diff']:+.2f}"
        all_text = (
            ""
            if r["paper_all_mean"] is None
            else f"{r['paper_all_mean']:.2f} ± {r['paper_all_sd']:.2f}"
        )
        all_diff = "" if r["diff_all"] is None else f"{r['diff_all']:+.2f}"
        lines.append(
            f"| {r['trace']} | {r['policy']} | {_seed_text(r['seeds'])} | "
            f"{r['mean']:.2f} ± {r['sd']:.2f} | {paper_text} | {diff_text} | {all_text} "
            f"| {all_diff} |"
        )
    comparison = [
        (trace, pairs) for trace in TRACES if (pairs := paired(runs, trace, "tessera", "fgd"))
    ]
    if comparison:
        lines += [
            "",
            "## tessera's policy against FGD (same seeds, paired)",
            "",
            "Difference = tessera - fgd in pp of cluster GPU capacity (negative: tessera leaves",
            "fewer GPUs unallocated).",
            "",
            "| trace | seeds | fgd | tessera | mean diff ± sd | seeds better / worse |",
            "|---|---|---|---|---|---|",
        ]
        for trace, pairs in comparison:
            diffs = [t - f for _, t, f in pairs]
            mean, sd = _mean_sd(diffs)
            better = sum(d < 0 for d in diffs)
            worse = sum(d > 0 for d in diffs)
            lines.append(
                f"| {trace} | {_seed_text([s for s, _, _ in pairs])} | "
                f"{statistics.fmean(f for _, _, f in pairs):.2f} | "
                f"{statistics.fmean(t for _, t, _ in pairs):.2f} | "
                f"{mean:+.2f} ± {sd:.2f} | {better} / {worse} |"
            )
        default = dict(comparison).get("default")
        if default:
            lines += [
                "",
                "Per seed on default (tessera - fgd, pp): "
                + ", ".join(f"{s}: {t - f:+.2f}" for s, t, f in default),
            ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", default="all", help="comma-separated, or all")
    parser.add_argument(
        "--policies", default="all", help=f"comma-separated of {','.join(POLICIES)}, or all"
    )
    parser.add_argument("--seeds", default="", help="e.g. 42-51 (default: 10 on default, 3 else)")
    parser.add_argument("--workers", type=int, default=1, help="parallel runs (processes)")
    parser.add_argument("--out", type=Path, default=JSON_OUT, help="results JSON")
    parser.add_argument("--markdown", type=Path, default=MD_OUT, help="report written from it")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report only")
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="add the runs of another results JSON (e.g. from a parallel --out); kept first",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        traces = parse_list(args.traces, TRACES, "traces")
        policies = parse_list(args.policies, POLICIES, "policies")
        seeds = parse_seeds(args.seeds) if args.seeds else None
    except ValueError as err:
        parser.error(str(err))
    if args.workers < 1:
        parser.error(f"--workers: {args.workers} must be >= 1")
    runs = load_runs(args.out)
    for other in args.merge:
        added = {k: v for k, v in load_runs(other).items() if k not in runs}
        runs.update(added)
        log.info("merged %d runs from %s", len(added), other)
    if args.merge:
        save_runs(args.out, runs)
    if not args.report_only:
        run_matrix(matrix(traces, policies, seeds), runs, args.workers, args.out)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown(runs, load_paper()), encoding="utf-8")
    log.info("wrote %s and %s", args.out, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
