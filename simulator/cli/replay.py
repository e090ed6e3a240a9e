"""``tessera replay``: replay a trace on a simulated cluster under a policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from simulator.cli.common import parse_topology
from simulator.cli.errors import out_console
from simulator.cli.inflate import DeviceChoiceOption
from simulator.clusters import load_cluster
from simulator.experiments.replay import (
    REPLAY_POLICIES,
    DeviceChoice,
    Fault,
    ReplayConfig,
    replay_profile,
    run_replay,
)
from simulator.traces import read_trace


def _faults(specs: list[str]) -> tuple[Fault, ...]:
    """Parse ``--fault T:node:NAME`` and ``--fault T:device:DRIVER/POOL/DEVICE``."""
    out = []
    for text in specs:
        parts = text.split(":", 2)
        if len(parts) != 3:
            raise ValueError(
                f"--fault {text!r}: expected T:node:NAME or T:device:DRIVER/POOL/DEVICE"
            )
        when, kind, target = parts
        try:
            moment = float(when)
        except ValueError:
            raise ValueError(
                f"--fault {text!r}: time {when!r} is not a number of seconds"
            ) from None
        if kind == "node":
            out.append(Fault(time=moment, node=target))
        elif kind == "device":
            ids = target.split("/")
            if len(ids) != 3:
                raise ValueError(f"--fault {text!r}: device must be DRIVER/POOL/DEVICE")
            out.append(Fault(time=moment, device=(ids[0], ids[1], ids[2])))
        else:
            raise ValueError(f"--fault {text!r}: kind {kind!r} must be node or device")
    return tuple(sorted(out, key=lambda f: f.time))


def _summary_table(summary: dict[str, object]) -> Table:
    table = Table(title=f"replay {summary['trace']} on {summary['cluster']} ({summary['policy']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "pods_total",
        "pods_scheduled",
        "pods_unschedulable",
        "gangs_total",
        "gangs_placed",
        "gangs_partial",
        "preemptions",
        "gpu_alloc_mean_pct",
        "device_choice",
        "events",
        "wall_seconds",
    ):
        table.add_row(key, str(summary[key]))
    pending = summary["pending_seconds"]
    assert isinstance(pending, dict)
    for cls, values in pending.items():
        table.add_row(
            f"pending_seconds.{cls} p50/p95/p99",
            " / ".join(
                "-" if values[q] is None else f"{values[q]:g}" for q in ("p50", "p95", "p99")
            ),
        )
    return table


def replay(
    cluster: Annotated[
        Path,
        typer.Option(
            "--cluster",
            metavar="SPEC|DIR",
            help="A cluster spec (traces/clusters/*.yaml) or a directory/file of Node, "
            "DeviceClass and ResourceSlice objects.",
        ),
    ],
    trace: Annotated[
        Path,
        typer.Option(
            "--trace",
            metavar="TRACE",
            help="An openb pod CSV (.csv/.csv.gz) or a Kubernetes object dump (YAML/JSON).",
        ),
    ],
    policy: Annotated[
        str,
        typer.Option("--policy", metavar="P", help=f"One of: {', '.join(REPLAY_POLICIES)}."),
    ] = "tessera",
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Output directory: summary.json, placements.jsonl, timeline.csv.",
        ),
    ] = Path("out/replay"),
    device_choice: Annotated[
        DeviceChoiceOption,
        typer.Option(
            "--device-choice",
            help="first-fit (devices as a stock kube-scheduler picks them; default) or the "
            "policy's own choice.",
        ),
    ] = DeviceChoiceOption.FIRST_FIT,
    seed: Annotated[int, typer.Option("--seed", help="Seed of ties and random policies.")] = 0,
    topology: Annotated[
        str | None,
        typer.Option(
            "--topology",
            metavar="KEY,KEY,...",
            help="Topology level label keys (coarse to fine) for a dump; a spec has its own.",
            show_default=False,
        ),
    ] = None,
    horizon: Annotated[
        float | None,
        typer.Option("--horizon", help="Stop at this many seconds of simulated time."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="T:node:NAME|T:device:D/P/DEV",
            help="Inject a fault at T seconds: a node lost, or a NoExecute device taint. "
            "Repeatable.",
        ),
    ] = None,
) -> None:
    """Replay TRACE on CLUSTER under a placement policy.

    Pods arrive at their trace times and leave after their durations; the scheduler
    (tessera's framework with the policy's profile) places them, gangs at once, with
    preemption for serving work. Writes DIR/summary.json, DIR/placements.jsonl (every bind,
    eviction and failed attempt) and DIR/timeline.csv (one row per simulated minute).

    Example:

        tessera replay --cluster traces/clusters/two-rack-h100-dynamic-mig.yaml
        --trace traces/scenarios/serving-batch-small.yaml --policy tessera --out out/small
    """
    levels = parse_topology(topology) if topology else None
    faults = _faults(fault or [])
    loaded = load_cluster(cluster, levels=levels)
    data = read_trace(trace)
    choice: DeviceChoice = "policy" if device_choice is DeviceChoiceOption.POLICY else "first-fit"
    profile = replay_profile(policy, seed=seed, device_choice=choice, levels=loaded.levels)
    config = ReplayConfig(
        device_choice=choice,
        seed=seed,
        horizon=horizon,
        faults=faults,
    )
    result = run_replay(loaded, data, profile, config)
    result.write(out)
    console: Console = out_console()
    console.print(_summary_table(result.summary))
    console.print(f"wrote {out}/summary.json, placements.jsonl, timeline.csv")
