"""``tessera inflate``: the FGD workload-inflation experiment, one run or a policy x seed matrix.

One run executes in the calling process (so its per-step decisions can be written). A matrix
(``--policy all`` or a list, and/or ``--seeds``) runs each (policy, seed) on the process pool
that ``tessera plan`` uses (:class:`simulator.plans.pool.LocalPool`): workers report step
progress to the parent, results come back as JSON dicts in the order of the configs (policy
in the order of ``POLICIES``, then seed), so the output does not depend on which worker
finished first, and Ctrl-C leaves no worker behind.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import TaskID
from rich.table import Table

from simulator.atomic import check_output_file, write_atomic
from simulator.cli.common import (
    ConfigOption,
    FeatureGatesOption,
    feature_gates,
    policy_or_config,
    shipped_file,
)
from simulator.cli.errors import out_console
from simulator.drivers.spec import read_openb_nodes, resolve_csv_path
from simulator.experiments.inflate import (
    DeviceChoice,
    InflateConfig,
    config_profile,
    logged_order,
    node_rank_from_file,
    run_inflate,
    write_decisions,
)
from simulator.experiments.policies import POLICIES
from simulator.jsonout import json_text
from simulator.options import RATIO, SEED, WORKERS
from simulator.options import parse_seeds as bounded_seeds
from simulator.plans.pool import LocalPool, Report, progress_bar
from simulator.traces.openb import read_pods

DEFAULT_NODES = "traces/openb/openb_node_list_gpu_node.csv.gz"
DEFAULT_PODS = "traces/openb/openb_pod_list_default.csv.gz"
DEFAULT_SEED = 42
_NO_BIN = "-: no arrival near 100% of GPU capacity (raise --ratio)"
_PROGRESS_MESSAGES = 50  # step reports per run sent by a worker (plus the last step)


class DeviceChoiceOption(StrEnum):
    """How a pod's GPU is chosen on the node the policy picked."""

    FIRST_FIT = "first-fit"
    POLICY = "policy"


def parse_policies(text: str) -> tuple[str, ...]:
    """``all`` or a comma list of policy names, in the order of ``POLICIES``.

    ValueError naming the unknown policy.
    """
    if text.strip() == "all":
        return POLICIES
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in POLICIES:
            raise ValueError(
                f"--policy {text!r}: {name!r} is not a policy (expected all or a comma list of "
                f"{', '.join(POLICIES)})"
            )
    return tuple(p for p in POLICIES if p in names)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``42-51`` (inclusive), ``42,43`` or a mix such as ``1-3,7``; ascending, no repeats;
    at most 1,000 seeds in 0..2^31-1 (:func:`simulator.options.parse_seeds`).

    ValueError naming the bad part.
    """
    return bounded_seeds(text)


def result_json_text(data: Any) -> str:
    """The JSON text written by ``--json``: sorted keys, indent 2, trailing newline."""
    return json_text(data, "--json")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# -- the matrix on the process pool (simulator.plans.pool) -----------------------------------------


def _throttled(report: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """``report`` at most ``_PROGRESS_MESSAGES`` times per run (and at the last step)."""

    def throttled(step: int, total: int) -> None:
        every = max(1, total // _PROGRESS_MESSAGES)
        if step % every == 0 or step == total:
            report(step, total)

    return throttled


def _matrix_run(job: tuple[Path, Path, InflateConfig], report: Report) -> dict[str, Any]:
    """One run of the matrix in a worker process; returns the result JSON."""
    nodes, pods, config = job
    return run_inflate(nodes, pods, config, progress=_throttled(report)).to_json()


def run_matrix(
    nodes: Path, pods: Path, configs: Sequence[InflateConfig], workers: int
) -> list[dict[str, Any]]:
    """Run every config on a :class:`~simulator.plans.pool.LocalPool`; results in the order
    of ``configs``. A failing run stops the others and re-raises its exception; Ctrl-C
    stops every worker before it propagates."""
    labels = [f"{c.policy} seed {c.seed}" for c in configs]
    jobs = [(nodes, pods, c) for c in configs]
    with (
        LocalPool(max(1, min(workers, len(configs)))) as pool,
        progress_bar() as progress,
    ):
        overall = progress.add_task("runs", total=len(configs))
        tasks: dict[int, TaskID] = {}

        def on_step(index: int, step: int, total: int) -> None:
            if index not in tasks:
                tasks[index] = progress.add_task(labels[index], total=total)
            progress.update(tasks[index], completed=step)

        def on_done(index: int) -> None:
            progress.advance(overall)
            if index in tasks:
                progress.remove_task(tasks.pop(index))

        return pool.map(_matrix_run, jobs, on_step=on_step, on_done=on_done)


def _single_table(data: dict[str, Any]) -> Table:
    missing = data["unallocated_pct_at_100"] is None
    table = Table(title=f"inflation run: {data['trace']}", caption=_NO_BIN if missing else None)
    for column in ("policy", "seed", "ratio", "device choice"):
        table.add_column(column)
    for column in ("pods", "failed", "alloc % @100", "frag % @100", "unallocated % @100", "wall s"):
        table.add_column(column, justify="right")
    table.add_row(
        data["policy"],
        str(data["seed"]),
        f"{data['ratio']:g}",
        data["device_choice"],
        f"{data['pods_total']:,}",
        f"{data['pods_failed']:,}",
        _fmt(data["alloc_pct"][100]),
        _fmt(data["frag_pct"][100]),
        _fmt(data["unallocated_pct_at_100"]),
        f"{data['wall_seconds']:.2f}",
    )
    return table


def matrix_table(runs: Sequence[dict[str, Any]]) -> Table:
    """Policy x seed -> unallocated GPU % at 100% arrived, with mean and sd per policy.

    The sd is the sample standard deviation (n - 1); "-" with fewer than two values.
    """
    seeds = sorted({r["seed"] for r in runs})
    named = {r["policy"] for r in runs}
    policies = [p for p in POLICIES if p in named] + sorted(named - set(POLICIES))
    missing = any(r["unallocated_pct_at_100"] is None for r in runs)
    table = Table(
        title="unallocated GPU % at 100% of capacity arrived",
        caption=_NO_BIN if missing else None,
    )
    table.add_column("policy")
    for seed in seeds:
        table.add_column(f"seed {seed}", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("sd", justify="right")
    value = {(r["policy"], r["seed"]): r["unallocated_pct_at_100"] for r in runs}
    for policy in policies:
        row = [value.get((policy, s)) for s in seeds]
        present = [v for v in row if v is not None]
        mean = statistics.fmean(present) if present else None
        sd = statistics.stdev(present) if len(present) > 1 else None
        table.add_row(policy, *(_fmt(v) for v in row), _fmt(mean), _fmt(sd))
    return table


def _preflight(nodes: Path, pods: Path, extra: Sequence[tuple[str, Path | None]]) -> None:
    """Read the input files once in this process so bad input fails before any run."""
    node_list = read_openb_nodes(resolve_csv_path(nodes, "--nodes"))
    pod_list = read_pods(pods)
    for option, path in extra:
        if path is not None and not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    order, node_order = (path for _, path in extra)
    if order is not None:
        logged_order(order, pod_list)
    if node_order is not None:
        node_rank_from_file(node_order, [n.name for n in node_list])


def inflate(
    nodes: Annotated[
        Path | None,
        typer.Option(
            "--nodes",
            metavar="NODES.csv",
            help=f"openb node list (.csv or .csv.gz). Default: the shipped {DEFAULT_NODES}.",
            show_default=False,
        ),
    ] = None,
    pods: Annotated[
        Path | None,
        typer.Option(
            "--pods",
            metavar="PODS.csv",
            help=f"openb pod list (.csv or .csv.gz). Default: the shipped {DEFAULT_PODS}.",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            metavar="P",
            help=f"Placement policy: {', '.join(POLICIES)}; a comma list; or all (default fgd).",
            show_default=False,
        ),
    ] = None,
    config_file: ConfigOption = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help=f"Seed of one run (default {DEFAULT_SEED}; 0..2^31-1).",
            show_default=False,
            callback=SEED.option,
        ),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            "--seeds",
            metavar="SEEDS",
            help="Seeds of a matrix: a range 42-51 (inclusive), a list 42,43, or both "
            "(at most 1,000).",
            show_default=False,
        ),
    ] = None,
    ratio: Annotated[
        float,
        typer.Option(
            "--ratio",
            help="Inflate the GPU request to this multiple of capacity (0 < R <= 10).",
            callback=RATIO.option,
        ),
    ] = 1.3,
    device_choice: Annotated[
        DeviceChoiceOption | None,
        typer.Option(
            "--device-choice",
            help="Which GPU on the chosen node: first-fit (stock kube-scheduler) or the "
            "policy's own choice (default). --policy only.",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="OUT.json",
            help='Write the result JSON here (a matrix: {"runs": [...]}).',
            show_default=False,
        ),
    ] = None,
    order: Annotated[
        Path | None,
        typer.Option(
            "--order",
            metavar="PLACEMENTS.csv",
            help="Replay the pod arrival order of a logged run (step,pod,orig_pod,... CSV).",
            show_default=False,
        ),
    ] = None,
    node_order: Annotated[
        Path | None,
        typer.Option(
            "--node-order",
            metavar="NODES.txt",
            help="Tie-break node order of a logged run (prefixed node names, one per line).",
            show_default=False,
        ),
    ] = None,
    decisions: Annotated[
        Path | None,
        typer.Option(
            "--decisions",
            metavar="OUT.csv",
            help="Write every step (pod, node, allocated and arrived GPU milli, fragmentation) "
            "as CSV; one run only.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Parallel processes for a matrix (default: the number of CPUs; 1..1024).",
            show_default=False,
            callback=WORKERS.option,
        ),
    ] = None,
    gates: FeatureGatesOption = None,
) -> None:
    """Fill an openb cluster with the trace's pods under a policy (the FGD inflation experiment).

    Pods are sampled from the pod list until the GPU request reaches --ratio x capacity, then
    scheduled one by one; after each, allocated GPU and fragmentation are recorded against the
    percentage of capacity arrived. One run prints a result table; --json writes policy, seed,
    ratio, device_choice, trace, pods_total, pods_failed, arrived_pct (0..130), alloc_pct,
    frag_pct, unallocated_pct_at_100 and wall_seconds.

    --policy all (or a comma list) and/or --seeds run the matrix in parallel processes and
    print unallocated GPU % at 100% arrived per policy and seed, with mean and sd per policy;
    --json then writes {"runs": [...]} ordered by policy, then seed.

    --config FILE schedules with the one profile of a KubeSchedulerConfiguration instead of
    a policy (its GPU scorers' deviceChoice args decide the device choice).

    Example: tessera inflate --policy fgd --seed 42 --json fgd-42.json

    Example: tessera inflate --policy all --seeds 42-51 --json matrix.json
    """
    nodes_path = nodes if nodes is not None else shipped_file(DEFAULT_NODES, "--nodes")
    pods_path = pods if pods is not None else shipped_file(DEFAULT_PODS, "--pods")
    RATIO.check(ratio)
    if json_out is not None:
        check_output_file(json_out, "--json")
    if decisions is not None:
        check_output_file(decisions, "--decisions")
    if workers is not None:
        WORKERS.check(workers)
    if seed is not None and seeds is not None:
        raise ValueError("--seed and --seeds: give one of them")
    chosen = policy_or_config(policy, config_file, "fgd")
    choice: DeviceChoice = (
        "first-fit" if device_choice is DeviceChoiceOption.FIRST_FIT else "policy"
    )
    if config_file is not None:
        if device_choice is not None:
            raise ValueError(
                "--device-choice: only with --policy (a --config sets deviceChoice in the GPU "
                "score plugin's pluginConfig args)"
            )
        profile = config_profile(config_file, DEFAULT_SEED)  # fails early on a bad file
        policies: tuple[str, ...] = (profile.name,)
        choice = "config"
    else:
        policies = parse_policies(chosen)
    if seeds is not None:
        seed_list = parse_seeds(seeds)
    else:
        seed_list = (DEFAULT_SEED if seed is None else seed,)
    matrix = len(policies) > 1 or seeds is not None
    if matrix and decisions is not None:
        raise ValueError("--decisions: only for a single run (one policy, one --seed)")
    _preflight(nodes_path, pods_path, [("--order", order), ("--node-order", node_order)])
    base = InflateConfig(
        ratio=ratio,
        device_choice=choice,
        order=order,
        node_order=node_order,
        scheduler_config=config_file,
        feature_gates=tuple(feature_gates(gates).items()),
    )
    configs = [replace(base, policy=p, seed=s) for p in policies for s in seed_list]
    if not matrix:
        _run_single(nodes_path, pods_path, configs[0], json_out, decisions)
        return
    runs = run_matrix(nodes_path, pods_path, configs, workers or os.cpu_count() or 1)
    out_console().print(matrix_table(runs))
    if json_out is not None:
        write_atomic(json_out, result_json_text({"runs": runs}))


def _run_single(
    nodes: Path, pods: Path, config: InflateConfig, json_out: Path | None, decisions: Path | None
) -> None:
    with progress_bar() as progress:
        task = progress.add_task(f"{config.policy} seed {config.seed}", total=None)

        def report(step: int, total: int) -> None:
            progress.update(task, completed=step, total=total)

        result = run_inflate(nodes, pods, config, progress=report)
    data = result.to_json()
    if json_out is not None:
        write_atomic(json_out, result_json_text(data))
    if decisions is not None:
        write_decisions(result.decisions, decisions)
    out_console().print(_single_table(data))
