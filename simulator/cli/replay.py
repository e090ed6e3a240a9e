"""``tessera replay``: replay a trace on a simulated cluster under a policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from scheduler.api.kubeschedulerconfig import load_scheduler_config
from scheduler.framework.profiles import Profile
from scheduler.plugins.configuration import profiles_from_config
from simulator.apiserver.cli import (
    ApiPortOption,
    KubeconfigOutOption,
    LingerOption,
    RealtimeOption,
    check_replay_api_options,
    replay_with_api,
)
from simulator.atomic import check_output_directory, check_output_file
from simulator.cli.common import (
    ConfigOption,
    FeatureGatesOption,
    feature_gates,
    parse_topology,
    policy_or_config,
)
from simulator.cli.errors import out_console
from simulator.cli.inflate import DeviceChoiceOption
from simulator.clusters import LoadedCluster, load_cluster
from simulator.experiments.policies import (
    REPLAY_POLICIES,
    DeviceChoice,
    replay_profile,
    with_cluster_levels,
)
from simulator.experiments.replay import Fault, ReplayConfig
from simulator.inputs import read_trace
from simulator.kubescheduler.cli import ExtenderOption, ExtenderSyncOption, extender_setup
from simulator.options import FAULT_TIME, HORIZON, SEED
from simulator.scenarios.model import cluster_path, is_scenario, load_scenario


class OnlyOption(StrEnum):
    """``--only``: the class of pods to keep."""

    SERVING = "serving"
    BATCH = "batch"


def parse_fault(text: str) -> Fault:
    """One ``--fault`` value: ``T:node:NAME`` or ``T:device:DRIVER/POOL/DEVICE`` with T in
    :data:`~simulator.options.FAULT_TIME` (0 .. ten years). ValueError naming the option,
    the value and the problem."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"--fault {text!r}: expected T:node:NAME or T:device:DRIVER/POOL/DEVICE")
    when, kind, target = parts
    try:
        moment = float(when)
    except ValueError:
        raise ValueError(f"--fault {text!r}: time {when!r} is not a number of seconds") from None
    found = FAULT_TIME.problem(moment)
    if found is not None:
        raise ValueError(f"--fault {text!r}: time {when!r} {found}")
    if kind == "node":
        if not target:
            raise ValueError(f"--fault {text!r}: node name is empty")
        return Fault(time=moment, node=target)
    if kind == "device":
        ids = target.split("/")
        if len(ids) != 3 or not all(ids):
            raise ValueError(f"--fault {text!r}: device must be DRIVER/POOL/DEVICE")
        return Fault(time=moment, device=(ids[0], ids[1], ids[2]))
    raise ValueError(f"--fault {text!r}: kind {kind!r} must be node or device")


def check_fault_targets(
    specs: Sequence[str], faults: Sequence[Fault], loaded: LoadedCluster
) -> None:
    """Every fault names a node or a published device of the cluster (ValueError naming
    the ``--fault`` value otherwise): a fault on nothing would silently change nothing."""
    cache = loaded.cache
    for text, fault in zip(specs, faults, strict=True):
        if fault.node is not None and fault.node not in cache.nodes:
            raise ValueError(
                f"--fault {text!r}: node {fault.node!r} is not in cluster {loaded.name}"
            )
        if fault.device is not None and not cache.devices.has_device(fault.device):
            raise ValueError(
                f"--fault {text!r}: device {'/'.join(fault.device)!r} is not published in "
                f"cluster {loaded.name}"
            )


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
        "batch_fill_pct",
        "batch_lost_gpu_hours",
        "device_choice",
        "events",
        "wall_seconds",
    ):
        table.add_row(key, str(summary[key]))
    hours = summary["gpu_hours"]
    assert isinstance(hours, dict)
    table.add_row(
        "gpu_hours capacity/serving/batch/idle",
        " / ".join(f"{hours[k]:g}" for k in ("capacity", "serving", "batch", "idle")),
    )
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
    trace: Annotated[
        Path,
        typer.Option(
            "--trace",
            metavar="TRACE",
            help="An openb pod CSV (.csv/.csv.gz), a scenario (kind: Scenario, generated for "
            "--seed) or a Kubernetes object dump (YAML/JSON).",
        ),
    ],
    cluster: Annotated[
        Path | None,
        typer.Option(
            "--cluster",
            metavar="SPEC|DIR",
            help="A cluster spec (traces/clusters/*.yaml) or a directory/file of Node, "
            "DeviceClass and ResourceSlice objects (default for a scenario: its own).",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            metavar="P",
            help=f"A shipped policy: {', '.join(REPLAY_POLICIES)} (default tessera).",
            show_default=False,
        ),
    ] = None,
    config_file: ConfigOption = None,
    gates: FeatureGatesOption = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Output directory: summary.json, placements.jsonl, timeline.csv.",
        ),
    ] = Path("out/replay"),
    device_choice: Annotated[
        DeviceChoiceOption | None,
        typer.Option(
            "--device-choice",
            help="first-fit (devices as a stock kube-scheduler picks them; default) or the "
            "policy's own choice. --policy only (a --config sets deviceChoice in plugin args).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seed of ties, random policies and a scenario's trace (0..2^31-1).",
            callback=SEED.option,
        ),
    ] = 0,
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
        typer.Option(
            "--horizon",
            help="Stop at this many seconds of simulated time (at most ten years).",
            callback=HORIZON.option,
        ),
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
    scheduler_name: Annotated[
        list[str] | None,
        typer.Option(
            "--scheduler-name",
            metavar="NAME",
            help="With a single profile: the spec.schedulerName values it answers to "
            "(default: default-scheduler and tessera). Pods naming another scheduler are "
            "never scheduled and are counted. Repeatable.",
            show_default=False,
        ),
    ] = None,
    api_port: ApiPortOption = None,
    realtime: RealtimeOption = None,
    kubeconfig_out: KubeconfigOutOption = None,
    linger: LingerOption = False,
    only: Annotated[
        OnlyOption | None,
        typer.Option(
            "--only",
            help="Replay only the serving (or batch) pods: serving alone is the baseline "
            "batch must not slow down.",
            show_default=False,
        ),
    ] = None,
    extender: ExtenderOption = None,
    extender_sync: ExtenderSyncOption = None,
    pop_from_backoff: Annotated[
        bool,
        typer.Option(
            "--pop-from-backoff/--no-pop-from-backoff",
            help="The scheduling queue's SchedulerPopFromBackoffQ, on by default as in "
            "kube-scheduler since 1.33: backoffs end in whole-second windows and an idle "
            "scheduler takes a backing-off pod at once. --no-pop-from-backoff: the queue as "
            "before 1.33.",
        ),
    ] = True,
) -> None:
    """Replay TRACE on CLUSTER under a placement policy or a scheduler configuration.

    Pods arrive at their trace times and leave after their durations; the scheduler
    (tessera's framework with the policy's profile, or the profiles of a
    KubeSchedulerConfiguration given with --config) places them, gangs at once, with
    preemption for serving work. A pod is scheduled by the profile whose schedulerName it
    names (the first profile when it names none of them). Writes DIR/summary.json,
    DIR/placements.jsonl (every bind, eviction and failed attempt) and DIR/timeline.csv (one
    row per simulated minute).

    Example:

        tessera replay --cluster traces/clusters/two-rack-h100-dynamic-mig.yaml
        --trace traces/scenarios/serving-batch-small.yaml --policy tessera --out out/small

    Example: tessera replay --trace traces/scenarios/llm-serving-diurnal.yaml --seed 1

    Example: tessera replay --cluster CLUSTER --trace TRACE --config my-scheduler.yaml

    Example: tessera replay --trace traces/scenarios/serving-batch-small.yaml --policy
    kube-default --extender traces/schedulers/tessera-extender.yaml --api-port 8080
    --kubeconfig-out /tmp/replay.kubeconfig --extender-sync http://127.0.0.1:8888/sync
    """
    check_replay_api_options(api_port, realtime, kubeconfig_out, linger)
    check_output_directory(out, "--out")
    if kubeconfig_out is not None:
        check_output_file(kubeconfig_out, "--kubeconfig-out")
    kube_scheduler = extender_setup(extender, extender_sync, api_port)
    chosen = policy_or_config(policy, config_file, "tessera")
    if config_file is not None and device_choice is not None:
        raise ValueError(
            "--device-choice: only with --policy (a --config sets deviceChoice in the GPU "
            "score plugin's pluginConfig args)"
        )
    scheduler_config = None
    resolved: tuple[Profile, ...] = ()
    if config_file is not None:
        scheduler_config = load_scheduler_config(config_file)
        resolved = profiles_from_config(scheduler_config, source=str(config_file), seed=seed)
    levels = parse_topology(topology) if topology else None
    specs = fault or []
    faults = [parse_fault(text) for text in specs]
    scenario = is_scenario(trace)
    if cluster is None:
        if not scenario:
            raise ValueError("--cluster: required unless --trace is a scenario (kind: Scenario)")
        cluster = cluster_path(load_scenario(trace), trace)
    loaded = load_cluster(cluster, levels=levels, feature_gates=feature_gates(gates))
    check_fault_targets(specs, faults, loaded)
    data = read_trace(trace, seed=seed, cluster=loaded)
    keep: Literal["serving", "batch"] | None = None
    if only is not None:
        keep = "serving" if only is OnlyOption.SERVING else "batch"
    ordered = tuple(sorted(faults, key=lambda f: f.time))
    if scheduler_config is None:
        choice: DeviceChoice = (
            "policy" if device_choice is DeviceChoiceOption.POLICY else "first-fit"
        )
        profiles: tuple[Profile, ...] = (
            replay_profile(chosen, seed=seed, device_choice=choice, levels=loaded.levels),
        )
        config = ReplayConfig(
            device_choice=choice, seed=seed, horizon=horizon, faults=ordered, only=keep
        )
    else:
        profiles = tuple(with_cluster_levels(p, loaded.levels) for p in resolved)
        config = ReplayConfig(
            device_choice="config",
            seed=seed,
            horizon=horizon,
            faults=ordered,
            initial_backoff=float(scheduler_config.pod_initial_backoff_seconds),
            max_backoff=float(scheduler_config.pod_max_backoff_seconds),
            only=keep,
        )
    if scheduler_name:
        config = dataclasses.replace(config, scheduler_names=tuple(scheduler_name))
    if kube_scheduler is not None:
        config = dataclasses.replace(config, kube_scheduler=kube_scheduler)
    if not pop_from_backoff:
        config = dataclasses.replace(config, pop_from_backoff=False)
    result = replay_with_api(
        loaded,
        data,
        profiles,
        config,
        out,
        api_port=api_port,
        realtime=realtime,
        kubeconfig_out=kubeconfig_out,
        linger=linger,
    )
    console: Console = out_console()
    console.print(_summary_table(result.summary))
    console.print(f"wrote {out}/summary.json, placements.jsonl, timeline.csv")
