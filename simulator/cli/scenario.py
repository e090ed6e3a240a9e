"""``tessera scenario``: turn a workload scenario into the Kubernetes objects of its trace.

``tessera scenario render SCENARIO -o DIR`` generates the scenario's trace for ``--seed``
(:mod:`simulator.scenarios.generate`) and writes it as a dump (:mod:`simulator.scenarios.
render`): ``tessera replay --trace DIR`` then replays exactly what ``tessera replay --trace
SCENARIO`` replays with the same seed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from simulator.atomic import check_output_directory
from simulator.cli.errors import out_console
from simulator.clusters import load_cluster
from simulator.options import SEED
from simulator.scenarios.generate import generate
from simulator.scenarios.model import cluster_path, load_scenario
from simulator.scenarios.render import render

scenario_app = typer.Typer(
    name="scenario",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Workload scenarios (traces/scenarios/*.yaml, kind: Scenario): render one as the "
    "Kubernetes objects of its trace.",
)


@scenario_app.command("render")
def render_command(
    scenario: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="A scenario file (kind: Scenario).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Output directory (objects, pods, faults)."
        ),
    ],
    seed: Annotated[
        int,
        typer.Option(
            "--seed", help="Seed of the generated trace (0..2^31-1).", callback=SEED.option
        ),
    ] = 0,
    cluster: Annotated[
        Path | None,
        typer.Option(
            "--cluster",
            metavar="SPEC",
            help="Cluster the failures are drawn on (default: the scenario's own).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write SCENARIO's trace for --seed as Kubernetes objects into DIR.

    DIR/objects.yaml holds PriorityClasses, ResourceClaimTemplates, LeaderWorkerSets and
    PodGroups; DIR/pods.yaml every pod with the labels and annotations its controller sets,
    its creationTimestamp and tessera's timing annotations; DIR/faults.yaml the failures as
    DeviceTaintRules and unreachable Nodes. Replaying DIR as a dump gives the same results
    as replaying SCENARIO with the same seed.

    Example: tessera scenario render traces/scenarios/llm-serving-diurnal.yaml --seed 1 -o out/llm
    """
    check_output_directory(out, "--out")
    spec = load_scenario(scenario)
    loaded = load_cluster(cluster if cluster is not None else cluster_path(spec, scenario))
    trace = generate(spec, seed, loaded, name=scenario.name)
    epoch = dt.datetime.fromisoformat(spec.start.replace("Z", "+00:00"))
    files = render(trace, out, epoch)
    console = out_console()
    console.print(
        f"{spec.metadata.name} (seed {seed}): {len(trace.items)} pods, "
        f"{len(trace.objects)} objects, {len(trace.faults)} faults"
    )
    console.print("wrote " + ", ".join(str(f) for f in files))
