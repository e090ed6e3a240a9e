"""``tessera plan``: the cheapest pool mix that meets a plan's targets, as a report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress as RichProgress
from rich.progress import TaskID
from rich.table import Table

from simulator.cli.errors import out_console
from simulator.plans.model import load_plan
from simulator.plans.pool import LocalPool, Runner, progress_bar
from simulator.plans.run import PlanOutcome, Progress, run_plan
from simulator.report.html import write_report

__all__ = ["plan"]


class _BarProgress(Progress):
    """The run's progress on a rich bar: replays done of replays submitted, and the phase."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.task: TaskID = bar.add_task("plan", total=0)
        self.total = 0

    def phase(self, text: str) -> None:
        self.bar.update(self.task, description=text)

    def add(self, replays: int) -> None:
        self.total += replays
        self.bar.update(self.task, total=self.total)

    def done(self) -> None:
        self.bar.advance(self.task)


def _table(outcome: PlanOutcome) -> Table:
    summary = outcome.summary
    rec = summary["recommendation"]
    table = Table(title=f"plan {summary['inputs']['plan']['metadata']['name']}")
    table.add_column("")
    table.add_column("value", justify="right")
    if rec is not None:
        for name, count in rec["pools"].items():
            table.add_row(f"pool {name}", str(count))
        table.add_row("cost per hour", f"{rec['cost_per_hour']:,.2f}")
        table.add_row("policy", rec["policy"])
        table.add_row("binding pools", ", ".join(rec["binding_pools"]) or "-")
    table.add_row("points evaluated", str(summary["search"]["points_evaluated"]))
    table.add_row("replays", str(summary["search"]["replays"]))
    table.add_row("wall seconds", f"{summary['run']['wall_seconds']:.1f}")
    return table


def plan(
    plan_file: Annotated[
        Path,
        typer.Argument(metavar="PLAN.yaml", help="A plan (kind: Plan, traces/plans/*.yaml)."),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="DIR", help="Report directory: report.html, summary.json, plots/."
        ),
    ] = Path("out/plan"),
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes of the local pool (default: the number of CPUs).",
            show_default=False,
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS|auto",
            help="Run the replays as Ray tasks on this cluster (ray.init address: auto, "
            "ray://HOST:PORT, or local to start one here). Needs tessera[ray].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Find the cheapest pool mix meeting every target of PLAN on every seed, and report.

    A plan names a scenario, candidate node pools (accelerator, DRA or device plugin, min and
    max count, cost per hour), policies, seeds and targets (serving pending p99, gang wait
    p99, batch GPU-hours per day, batch fill). The search replays every policy on every seed
    at each pool mix it asks about: the top (every pool at its maximum), a bisection per pool,
    then a local search on the mix. Writes DIR/report.html (self-contained), DIR/plots/*.png
    and DIR/summary.json. A target no mix within the bounds meets is a result, not an error:
    the report says how close the best mix came.

    Example: tessera plan traces/plans/llm-serving.yaml --out out/llm-plan
    """
    if workers is not None and ray is not None:
        raise ValueError("--workers and --ray: give one of them (Ray decides its own workers)")
    started = time.perf_counter()
    resolved = load_plan(plan_file)
    runner: Runner
    if ray is not None:
        from simulator.plans.ray_backend import RayRunner  # noqa: PLC0415 - optional extra

        runner = RayRunner(ray)
    else:
        runner = LocalPool(workers)
    try:
        with progress_bar() as bar:
            outcome = run_plan(resolved, runner, _BarProgress(bar))
        where = runner.description
    finally:
        runner.close()
    outcome.summary["run"] = {
        "runner": where,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    write_report(outcome, out)
    console = out_console()
    console.print(outcome.summary["result"]["message"])
    console.print(_table(outcome))
    console.print(f"wrote {out}/report.html, summary.json, plots/")
