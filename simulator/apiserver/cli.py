"""The API facade's command-line pieces, ready to mount on ``tessera``.

* :func:`serve` — the ``tessera cluster serve SPEC|DUMP`` command: mount it with
  ``cluster_app.command("serve")(serve)`` in ``simulator/cli/cluster.py``.
* :func:`replay_with_api`, :func:`check_replay_api_options` and the option types
  :data:`ApiPortOption`, :data:`RealtimeOption`, :data:`KubeconfigOutOption`,
  :data:`LingerOption` — what ``tessera replay --api-port P [--realtime F]
  [--kubeconfig-out FILE] [--linger]`` adds to the replay command: four parameters, the
  check before loading, and ``replay_with_api`` in place of ``run_replay``.

Both raise ``ValueError`` for bad input (an option and its value named), which the CLI's
error policy (``simulator.cli.errors.GuardedGroup``) prints as one line with exit code 2.
Output is ``typer.echo`` on stdout: the URL and kubeconfig path, nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from scheduler.framework.profiles import Profile
from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.live import LiveReplay, run_replay_served, until_interrupted
from simulator.apiserver.resources import TABLE
from simulator.apiserver.scheduling import DEFAULT_SCHEDULER, InProcessScheduler
from simulator.apiserver.server import LOOPBACK, ApiServer, ListenError
from simulator.apiserver.store import Store
from simulator.backend import SimulatedCluster
from simulator.clusters import LoadedCluster, load_cluster
from simulator.experiments.policies import REPLAY_POLICIES
from simulator.experiments.replay import ReplayConfig, ReplayResult, run_replay
from simulator.options import PORT, REALTIME, Window
from simulator.traces.model import Trace

log = logging.getLogger(__name__)

POLICY_NONE = "none"

ApiPortOption = Annotated[
    int | None,
    typer.Option(
        "--api-port",
        metavar="PORT",
        help="Serve the replay over the Kubernetes API on this port while it runs (0: any "
        "free port); `kubectl get pods -w` then shows pods arrive, bind and leave.",
        show_default=False,
        callback=Window("--api-port", PORT.low, PORT.high, integer=True).option,
    ),
]
RealtimeOption = Annotated[
    float | None,
    typer.Option(
        "--realtime",
        metavar="FACTOR",
        help="With --api-port: run simulated time at FACTOR x wall time (default: as fast "
        "as possible; at most 1e6).",
        show_default=False,
        callback=REALTIME.option,
    ),
]
KubeconfigOutOption = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig-out",
        metavar="FILE",
        help="With --api-port: write a kubeconfig for the endpoint to FILE.",
        show_default=False,
    ),
]
LingerOption = Annotated[
    bool,
    typer.Option(
        "--linger",
        help="With --api-port: after the replay, keep serving its final state until Ctrl-C "
        "(the output files are written then).",
    ),
]


def serve(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC|DUMP", help="A tessera ClusterSpec, or a dump file or directory."
        ),
    ],
    port: Annotated[
        int, typer.Option("--port", help="TCP port (0: any free port).", callback=PORT.option)
    ] = 8080,
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
            f"({', '.join(REPLAY_POLICIES)}), or `none` to leave binding to an external "
            "scheduler (pods/binding).",
        ),
    ] = "kube-default",
    scheduler_name: Annotated[
        str,
        typer.Option("--scheduler-name", help="Schedule only pods with this spec.schedulerName."),
    ] = DEFAULT_SCHEDULER,
) -> None:
    """Serve a simulated cluster over the Kubernetes API until Ctrl-C.

    Nodes, DeviceClasses and ResourceSlices (as the spec's simulated drivers publish them, or
    as the dump has them) are served with list, watch, create, update, patch and delete;
    pods created over the API get their template claims, and are scheduled by tessera's
    framework unless --policy none. kubectl and the official Python client work unmodified.

    Example: tessera cluster serve traces/clusters/two-rack-h100-dynamic-mig.yaml --port 8080
    --kubeconfig-out /tmp/tessera.kubeconfig && KUBECONFIG=/tmp/tessera.kubeconfig kubectl get nodes
    """
    if policy != POLICY_NONE and policy not in REPLAY_POLICIES:
        choices = ", ".join([POLICY_NONE, *REPLAY_POLICIES])
        raise ValueError(f"--policy {policy!r}: expected one of {choices}")
    loaded = load_cluster(source, templated=True)
    cluster = ServedCluster(Store(TABLE), SimulatedCluster(loaded.cache))
    cluster.load_cluster(loaded)
    try:
        server = ApiServer(cluster, host=host, port=port)
    except ListenError as exc:
        raise ValueError(f"--port {port}: {exc}") from None
    scheduler = (
        InProcessScheduler(cluster, policy=policy, scheduler_name=scheduler_name)
        if policy != POLICY_NONE
        else None
    )
    if kubeconfig_out is not None:
        server.write_kubeconfig(kubeconfig_out)
    nodes = cluster.store.count(cluster.resource("nodes"))
    typer.echo(f"serving cluster {loaded.name} ({nodes:,} nodes) on {server.url}")
    if kubeconfig_out is not None:
        typer.echo(f"kubeconfig: {kubeconfig_out}  (export KUBECONFIG={kubeconfig_out})")
    if scheduler is not None:
        scheduler.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; stopping is the normal way out
    finally:
        if scheduler is not None:
            scheduler.stop()


def check_replay_api_options(
    api_port: int | None, realtime: float | None, kubeconfig_out: Path | None, linger: bool
) -> None:
    """ValueError (naming the options) when ``--realtime``, ``--kubeconfig-out`` or
    ``--linger`` come without ``--api-port``, or ``--realtime`` is not positive."""
    if api_port is None:
        given = [
            name
            for name, value in (
                ("--realtime", realtime),
                ("--kubeconfig-out", kubeconfig_out),
                ("--linger", True if linger else None),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --api-port")
    if realtime is not None:
        REALTIME.check(realtime)


def replay_with_api(
    cluster: LoadedCluster,
    trace: Trace,
    profiles: Profile | Sequence[Profile],
    config: ReplayConfig,
    out: Path | None = None,
    *,
    api_port: int | None,
    realtime: float | None = None,
    kubeconfig_out: Path | None = None,
    linger: bool = False,
) -> ReplayResult:
    """The replay command's run: ``run_replay`` without ``--api-port``; with it, the same
    replay served over the API while it runs (:func:`run_replay_served`), announcing the URL
    (and kubeconfig) on stdout, then, with ``--linger``, serving the final state until
    Ctrl-C. The result is the same either way (tested byte for byte); its files are
    streamed into ``out`` (a private temporary directory when None).

    ValueError as :func:`check_replay_api_options` (call that first, before loading
    anything), or when the port cannot be bound.
    """
    check_replay_api_options(api_port, realtime, kubeconfig_out, linger)
    if api_port is None:
        return run_replay(cluster, trace, profiles, config, out)

    def announce(live: LiveReplay) -> None:
        pace = f" at {realtime:g}x wall time" if realtime else ""
        typer.echo(f"serving replay of {trace.name} on {live.url}{pace}")
        if kubeconfig_out is not None:
            typer.echo(f"kubeconfig: {kubeconfig_out}  (export KUBECONFIG={kubeconfig_out})")

    def linger_until_interrupted(live: LiveReplay) -> None:
        typer.echo(f"replay done; serving its final state on {live.url} until Ctrl-C")
        until_interrupted(live)

    try:
        return run_replay_served(
            cluster,
            trace,
            profiles,
            config,
            out,
            port=api_port,
            realtime=realtime,
            kubeconfig_out=kubeconfig_out,
            on_serving=announce,
            linger=linger_until_interrupted if linger else None,
        )
    except ListenError as exc:
        raise ValueError(f"--api-port {api_port}: {exc}") from None
