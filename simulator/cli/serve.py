"""``tessera serve``: the scheduler extender webhook a stock kube-scheduler calls."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from scheduler.api.duration import parse_go_duration
from scheduler.api.kubeschedulerconfig import load_scheduler_config
from scheduler.dra.features import Features
from scheduler.extender.app import DEFAULT_MAX_BODY_BYTES
from scheduler.extender.server import ServeOptions, run
from scheduler.framework.profiles import Profile
from scheduler.plugins.configuration import profiles_from_config
from scheduler.topology.domains import DEFAULT_LEVELS
from simulator.cli.common import ConfigOption, parse_topology, policy_or_config
from simulator.experiments.policies import REPLAY_POLICIES, replay_profile, with_cluster_levels

__all__ = ["parse_feature_gates", "parse_seconds", "serve"]


def parse_seconds(text: str, option: str) -> float:
    """A duration option: a Go duration (``90s``, ``1m30s``) or plain seconds (``90``).

    ValueError naming the option and the value otherwise."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_go_duration(value) / 1e9
    except ValueError as err:
        raise ValueError(f"{option} {text!r}: {err}") from None


def parse_feature_gates(text: str | None, version: str) -> Features:
    """``--feature-gates A=true,B=false`` over the defaults of ``version`` (ValueError
    naming the option and the entry for a malformed or unknown gate)."""
    if not text:
        return Features.for_version(version)
    gates: dict[str, bool] = {}
    for entry in text.split(","):
        name, sep, value = entry.partition("=")
        if not sep or value.strip().lower() not in ("true", "false") or not name.strip():
            raise ValueError(f"--feature-gates {entry!r}: expected NAME=true or NAME=false")
        gates[name.strip()] = value.strip().lower() == "true"
    try:
        return Features.from_gates(gates, version)
    except ValueError as err:
        raise ValueError(f"--feature-gates: {err}") from None


def _profile(
    policy: str | None, config_file: Path | None, seed: int, levels: tuple[str, ...]
) -> Profile:
    chosen = policy_or_config(policy, config_file, "tessera")
    if config_file is None:
        return replay_profile(chosen, seed=seed, device_choice="first-fit", levels=levels)
    config = load_scheduler_config(config_file)
    profiles = profiles_from_config(config, source=str(config_file), seed=seed)
    if len(profiles) != 1:
        names = ", ".join(p.name for p in profiles)
        raise ValueError(
            f"--config {config_file}: {len(profiles)} profiles ({names}); tessera serve runs "
            "exactly one (kube-scheduler's extenders are shared by all its profiles)"
        )
    return with_cluster_levels(profiles[0], levels)


def serve(
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            metavar="DIR",
            help="Serve a fixed cluster read from a directory (or file) of YAML/JSON objects — "
            "Nodes, ResourceSlices, DeviceClasses, Pods, ResourceClaims, templates, "
            "PriorityClasses, LeaderWorkerSets, PodGroups — as `kubectl get -o yaml` or "
            "`tessera cluster build` write them. Binds are applied in memory. Without "
            "--snapshot the state comes from the API server.",
            show_default=False,
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="Kubeconfig of the API server to list and watch (default: the in-cluster "
            "ServiceAccount configuration). Binds are POSTed to pods/binding.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address of the extender verbs (keep it loopback).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the extender verbs.")] = 8888,
    prefix: Annotated[
        str,
        typer.Option(
            "--prefix",
            help="URL prefix of the verbs: POST PREFIX/filter, /prioritize, /preempt, /bind "
            "(the urlPrefix path of the KubeSchedulerConfiguration's extender entries).",
        ),
    ] = "/",
    health_port: Annotated[
        int | None,
        typer.Option(
            "--health-port",
            help="Also serve /healthz, /readyz and /metrics on this port, on all interfaces "
            "(kubelet probes reach the pod IP). They are always on --port too.",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            metavar="P",
            help=f"A shipped policy: {', '.join(REPLAY_POLICIES)} (default tessera), with "
            "first-fit devices as kube-scheduler's DynamicResources allocates them.",
            show_default=False,
        ),
    ] = None,
    config_file: ConfigOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of ties and random policies.")] = 0,
    topology: Annotated[
        str | None,
        typer.Option(
            "--topology",
            metavar="KEY,...",
            help="Topology level label keys, coarse to fine (default: "
            f"{','.join(DEFAULT_LEVELS)}).",
            show_default=False,
        ),
    ] = None,
    kubernetes_version: Annotated[
        str,
        typer.Option(
            "--kubernetes-version",
            help="Version whose DRA feature-gate defaults the allocator follows.",
        ),
    ] = "1.35",
    feature_gates: Annotated[
        str | None,
        typer.Option(
            "--feature-gates",
            metavar="A=true,B=false",
            help="DRA feature gates as kube-scheduler's --feature-gates sets them (e.g. "
            "DRAPartitionableDevices=true for dynamic MIG).",
            show_default=False,
        ),
    ] = None,
    gang_hold: Annotated[
        str,
        typer.Option(
            "--gang-hold-timeout",
            "--gang-hold",
            metavar="DURATION",
            help="Longest hold of a gang member's bind (90s, 1m30s or seconds), counted from "
            "the gang's first held bind. Must be strictly shorter than the bind extender "
            "entry's httpTimeout, or kube-scheduler gives up first and may reuse the room.",
        ),
    ] = "90s",
    gang_ttl: Annotated[
        str,
        typer.Option(
            "--gang-ttl",
            metavar="DURATION",
            help="How long a gang plan's reservations last when no bind of it is held.",
        ),
    ] = "300s",
    preempt_gangs: Annotated[
        bool,
        typer.Option(
            "--preempt-gangs/--no-preempt-gangs",
            help="Carry out preemption: when a gang (or a lone pod) fits only if "
            "lower-priority pods go, the webhook itself DELETES those pods (after setting "
            "their DisruptionTarget condition, as kube-scheduler's preemption does) and holds "
            "the preemptor's filters until they are gone; decided on a filter, or on a failed "
            "attempt seen in the API. Needed with DRA: kube-scheduler 1.35 never preempts for "
            "devices, so it never calls the preempt verb. Off by default: it deletes pods, "
            "and needs RBAC to patch pods/status and delete pods (docs/extender.md).",
        ),
    ] = False,
    max_body_bytes: Annotated[
        int,
        typer.Option("--max-body-bytes", help="Largest request body accepted (413 above)."),
    ] = DEFAULT_MAX_BODY_BYTES,
    tls_cert_file: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert-file", help="Serve HTTPS with this certificate (PEM).", show_default=False
        ),
    ] = None,
    tls_key_file: Annotated[
        Path | None,
        typer.Option(
            "--tls-private-key-file",
            help="Private key of --tls-cert-file (PEM).",
            show_default=False,
        ),
    ] = None,
    client_ca_file: Annotated[
        Path | None,
        typer.Option(
            "--client-ca-file",
            help="Require client certificates signed by this CA (kube-scheduler's).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Serve tessera as a scheduler extender: a stock kube-scheduler calls it to filter,
    prioritize, preempt and bind.

    Verbs (POST, JSON, kube-scheduler's extender/v1 types) under --prefix: filter (every
    feasible node, each rejected node with the framework's reason), prioritize (tessera's
    scores as 0..10), preempt (victims from tessera's preemption planner, never half a gang),
    bind (lone pods at once; gang members held until the whole gang asked, at most
    --gang-hold-timeout). Gangs (LeaderWorkerSet groups, PodGroups, tessera.io/gang) are
    planned whole on their first member's filter; with --preempt-gangs a gang or lone pod
    that fits only by preemption has its victims deleted by the webhook. GET /healthz,
    /readyz (200 once the state is loaded and the informers synced), /metrics (Prometheus).

    Configure kube-scheduler with nodeCacheCapable extender entries and
    percentageOfNodesToScore: 100 (manifests/deploy/, docs/extender.md).

    Example: tessera serve --snapshot out/h100 --feature-gates DRAPartitionableDevices=true

    Example: tessera serve --kubeconfig ~/.kube/config --prefix /tessera --port 8888
    """
    if snapshot is not None and kubeconfig is not None:
        raise ValueError("--snapshot and --kubeconfig: give one of them")
    levels = parse_topology(topology) or DEFAULT_LEVELS
    features = parse_feature_gates(feature_gates, kubernetes_version)
    options = ServeOptions(
        host=host,
        port=port,
        prefix=prefix,
        health_port=health_port,
        gang_hold=parse_seconds(gang_hold, "--gang-hold-timeout"),
        gang_ttl=parse_seconds(gang_ttl, "--gang-ttl"),
        preempt_gangs=preempt_gangs,
        max_body_bytes=max_body_bytes,
        tls_cert_file=tls_cert_file,
        tls_key_file=tls_key_file,
        client_ca_file=client_ca_file,
        log_level=log_level.lower(),
    )
    problems = options.problems()
    if problems:
        raise ValueError(problems[0])
    if options.log_level not in ("debug", "info", "warning", "error"):
        raise ValueError(f"--log-level {log_level!r}: expected debug, info, warning or error")
    profile = _profile(policy, config_file, seed, levels)
    logging.basicConfig(
        level=options.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(options, profile, snapshot=snapshot, kubeconfig=kubeconfig, features=features)
