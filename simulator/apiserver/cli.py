"""``tessera cluster serve``: serve a cluster spec or dump over the Kubernetes API.

Mount with ``cluster_app.command("serve")(serve)`` on the ``cluster`` typer group. The
replay's ``--api-port``/``--realtime`` options call
:func:`simulator.apiserver.live.run_replay_served` instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.resources import TABLE
from simulator.apiserver.scheduling import InProcessScheduler
from simulator.apiserver.server import LOOPBACK, ApiServer
from simulator.apiserver.store import Store
from simulator.backend import SimulatedCluster
from simulator.clusters import load_cluster
from simulator.experiments.replay import REPLAY_POLICIES

log = logging.getLogger(__name__)


def serve(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC|DUMP", help="A tessera ClusterSpec, or a dump file or directory."
        ),
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless you mean it).")
    ] = LOOPBACK,
    kubeconfig_out: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig-out", metavar="FILE", help="Write a kubeconfig for the endpoint here."
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="Bind pods created over the API with this replay policy "
            f"({', '.join(REPLAY_POLICIES)}), "
            "or `none` to leave binding to an external scheduler (pods/binding).",
        ),
    ] = "kube-default",
    scheduler_name: Annotated[
        str,
        typer.Option("--scheduler-name", help="Schedule only pods with this spec.schedulerName."),
    ] = "default-scheduler",
) -> None:
    """Serve a simulated cluster over the Kubernetes API until Ctrl-C.

    Nodes, DeviceClasses and ResourceSlices (as the spec's simulated drivers publish them, or
    as the dump has them) are served with list, watch, create, update, patch and delete;
    pods created over the API get their template claims, and are scheduled by tessera's
    framework unless --policy none. kubectl and the official Python client work unmodified.

    Example: tessera cluster serve traces/clusters/two-rack-h100-dynamic-mig.yaml --port 8080
    --kubeconfig-out /tmp/tessera.kubeconfig && KUBECONFIG=/tmp/tessera.kubeconfig kubectl get nodes
    """
    if policy != "none" and policy not in REPLAY_POLICIES:
        raise ValueError(f"--policy {policy!r}: expected none or one of {list(REPLAY_POLICIES)}")
    loaded = load_cluster(source, templated=True)
    cluster = ServedCluster(Store(TABLE), SimulatedCluster(loaded.cache))
    cluster.load_cluster(loaded)
    server = ApiServer(cluster, host=host, port=port)
    scheduler = (
        InProcessScheduler(cluster, policy=policy, scheduler_name=scheduler_name)
        if policy != "none"
        else None
    )
    if kubeconfig_out is not None:
        server.write_kubeconfig(kubeconfig_out)
    nodes = cluster.store.count(TABLE.find("", "v1", "nodes"))  # type: ignore[arg-type]
    typer.echo(f"serving cluster {loaded.name} ({nodes:,} nodes) on {server.url}")
    if kubeconfig_out is not None:
        typer.echo(f"kubeconfig: {kubeconfig_out}  (export KUBECONFIG={kubeconfig_out})")
    if scheduler is not None:
        scheduler.start()
    try:
        server.run()
    finally:
        if scheduler is not None:
            scheduler.stop()
