"""Running ``tessera serve``: assemble the webhook, load its state, serve it with uvicorn.

* :func:`build_webhook` wires one profile's framework over a
  :class:`~scheduler.extender.state.ClusterState`: the webhook's ClusterBackend, the gang
  planner, the decisions, the binder, the metrics;
* :func:`serve` runs the extender app (and the health app on its own port, if asked) on
  uvicorn, with a housekeeping task expiring gang plans; the servers listen before the
  state is loaded — ``/healthz`` answers at once and ``/readyz`` turns 200 when the state is
  ready, as a startup probe expects;
* :func:`run` is the command: the state comes from ``--snapshot DIR`` (loaded in a thread;
  binds — and with ``--preempt-gangs`` evictions — applied in memory) or from the Kubernetes
  API (``--kubeconfig FILE``, else the in-cluster configuration) through informers
  (:mod:`scheduler.extender.informers`) that feed the state as a sink; binds are POSTed to
  ``pods/binding``, evictions patch ``pods/status`` and DELETE the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import uvicorn

from scheduler.dra.features import Features
from scheduler.extender.app import DEFAULT_MAX_BODY_BYTES, Webhook, create_app, create_health_app
from scheduler.extender.backend import Decisions
from scheduler.extender.binding import ApiBindings, Binder, BindingWriter, InMemoryBindings
from scheduler.extender.cluster import WebhookCluster
from scheduler.extender.evictions import (
    ApiEvictions,
    EvictionWriter,
    GangPreemptions,
    InMemoryEvictions,
)
from scheduler.extender.gangs import GangPlanner
from scheduler.extender.informers import Informers
from scheduler.extender.metrics import WebhookMetrics
from scheduler.extender.state import ClusterState
from scheduler.framework.profiles import Profile
from scheduler.plugins.registry import build_framework

__all__ = [
    "InformersLike",
    "ServeOptions",
    "api_client",
    "build_webhook",
    "informers_for",
    "run",
    "serve",
    "servers",
    "settle_heap",
]

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where and how ``tessera serve`` listens, and its gang timings (seconds)."""

    host: str = "127.0.0.1"
    port: int = 8888
    prefix: str = "/"
    health_port: int | None = None
    gang_hold: float = 90.0
    gang_ttl: float = 300.0
    preempt_gangs: bool = False
    """Evict the victims of a gang that only preemption can place (``--preempt-gangs``)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    client_ca_file: Path | None = None
    log_level: str = "info"

    def problems(self) -> list[str]:
        """What is wrong with the options (one line each, naming the option)."""
        out = []
        if not 0 <= self.port <= 65535:
            out.append(f"--port {self.port}: must be between 0 and 65535")
        if self.health_port is not None and not 0 <= self.health_port <= 65535:
            out.append(f"--health-port {self.health_port}: must be between 0 and 65535")
        if not self.gang_hold > 0:
            out.append(f"--gang-hold-timeout {self.gang_hold:g}s: must be positive")
        if not self.gang_ttl > 0:
            out.append(f"--gang-ttl {self.gang_ttl:g}s: must be positive")
        if self.max_body_bytes < 1024:
            out.append(f"--max-body-bytes {self.max_body_bytes}: must be at least 1024")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            out.append("--tls-cert-file and --tls-private-key-file: give both or neither")
        if self.client_ca_file is not None and self.tls_cert_file is None:
            out.append("--client-ca-file: needs --tls-cert-file and --tls-private-key-file")
        for option, path in (
            ("--tls-cert-file", self.tls_cert_file),
            ("--tls-private-key-file", self.tls_key_file),
            ("--client-ca-file", self.client_ca_file),
        ):
            if path is not None and not path.is_file():
                out.append(f"{option} {path}: no such file")
        return out


class InformersLike(Protocol):
    """The part of :class:`scheduler.extender.informers.Informers` the server uses."""

    def start(self) -> None: ...

    def wait_synced(self, timeout: float) -> bool: ...

    def synced(self) -> bool: ...

    def stop(self) -> None: ...

    def last_event_age(self) -> float | None: ...

    def wait_reached(self, resource_version: int, timeout: float) -> bool: ...


def build_webhook(
    state: ClusterState,
    profile: Profile,
    writer: BindingWriter,
    *,
    gang_hold: float = 90.0,
    gang_ttl: float = 300.0,
    ready: Callable[[], bool] | None = None,
    informers: InformersLike | None = None,
    evictions: EvictionWriter | None = None,
) -> Webhook:
    """The webhook over ``state`` with ``profile``'s framework (ValueError for a profile
    the framework refuses, naming it). With an ``evictions`` writer the webhook carries out
    gang preemption itself (:mod:`scheduler.extender.evictions`); victims wait at most
    ``gang_ttl`` seconds."""
    cluster = WebhookCluster(state)
    framework = build_framework(profile, cluster)
    metrics = WebhookMetrics()
    planner = GangPlanner(state, cluster, framework, metrics, ttl=gang_ttl)
    decisions = Decisions(state, cluster, framework, planner, metrics)
    binder = Binder(state, planner, framework, writer, metrics, hold=gang_hold)
    preemptions = None
    if evictions is not None:
        preemptions = GangPreemptions(state, evictions, metrics, wait=gang_ttl)
        planner.preemptions = preemptions
        state.listeners.append(decisions)  # failed attempts start preemptions
    seen = {"predictions": 0, "mismatches": 0}

    def refresh(m: WebhookMetrics) -> None:
        with state.lock:
            m.assumed_pods.set(state.assumed_pods())
            age = informers.last_event_age() if informers is not None else None
            m.cache_age.set(state.age() if age is None else age)
            for kind, count in state.counts().items():
                m.cache_objects.labels(kind=kind).set(count)
            m.predictions.inc(state.predictions - seen["predictions"])
            m.prediction_mismatches.inc(state.mismatches - seen["mismatches"])
            seen["predictions"] = state.predictions
            seen["mismatches"] = state.mismatches

    metrics.on_scrape(refresh)

    def is_ready() -> bool:
        if not state.loaded:
            return False
        return informers is None or informers.synced()

    def synced_to(resource_version: int, timeout: float) -> bool:
        if informers is None:
            return is_ready()  # a snapshot is always current once loaded
        return informers.wait_reached(resource_version, timeout)

    return Webhook(
        state, decisions, binder, metrics, ready or is_ready, synced_to, preemptions=preemptions
    )


def _ssl(options: ServeOptions) -> dict[str, Any]:
    if options.tls_cert_file is None:
        return {}
    out: dict[str, Any] = {
        "ssl_certfile": str(options.tls_cert_file),
        "ssl_keyfile": str(options.tls_key_file),
    }
    if options.client_ca_file is not None:
        out["ssl_ca_certs"] = str(options.client_ca_file)
        out["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    return out


def servers(webhook: Webhook, options: ServeOptions) -> list[uvicorn.Server]:
    """The uvicorn servers of the webhook: the extender app, and the health app."""
    app = create_app(webhook, prefix=options.prefix, max_body_bytes=options.max_body_bytes)
    main = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        access_log=False,
        lifespan="off",
        http="h11",  # the same parser whether or not httptools happens to be installed
        timeout_keep_alive=120,
        **_ssl(options),
    )
    out = [uvicorn.Server(main)]
    if options.health_port is not None:
        health = uvicorn.Config(
            create_health_app(webhook),
            host="0.0.0.0",
            port=options.health_port,
            log_level=options.log_level,
            access_log=False,
            lifespan="off",
        )
        out.append(uvicorn.Server(health))
    return out


async def _housekeeping(webhook: Webhook) -> None:
    planner = webhook.binder.planner
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        with webhook.state.lock:
            planner.expire()
        if webhook.preemptions is not None:
            await webhook.preemptions.run_pending()  # any not started by their filter


async def _fail_holds_on_exit(webhook: Webhook, running: Sequence[uvicorn.Server]) -> None:
    """Once a server starts shutting down (SIGTERM, SIGINT, ``stop``), answer every held bind
    with an error at once: uvicorn's graceful shutdown waits for open requests, and a held
    bind would otherwise keep the process alive until its hold deadline (90 s by default)
    while kube-scheduler waits for it."""
    while not any(s.should_exit for s in running):
        await asyncio.sleep(0.05)
    count = webhook.binder.fail_all("tessera serve is shutting down")
    if count:
        log.info("shutting down: %d held bind(s) failed", count)


async def serve(
    webhook: Webhook,
    options: ServeOptions,
    *,
    started: Callable[[Sequence[uvicorn.Server]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until the servers exit (a signal, or ``stop`` being set)."""
    webhook.binder.attach(asyncio.get_running_loop())
    running = servers(webhook, options)
    tasks = [asyncio.create_task(s.serve()) for s in running]
    keeper = asyncio.create_task(_housekeeping(webhook))
    closer = asyncio.create_task(_fail_holds_on_exit(webhook, running))
    try:
        while not all(s.started for s in running):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        if started is not None:
            started(running)
        if stop is not None:
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for s in running:
                s.should_exit = True
            waiter.cancel()
        await asyncio.gather(*tasks)
    finally:
        for task in (keeper, closer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


YOUNG_GC_THRESHOLD = 50_000
"""Allocations between young-generation collections once the state is loaded."""


def settle_heap() -> None:
    """Once the state is loaded: move everything alive into the permanent generation
    (``gc.freeze``) and collect the young generation less often, so that the collector no
    longer rescans millions of long-lived cluster objects during requests (the pauses would
    be the verbs' tail latency). Cycles are still collected."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


def informers_for(api_client: Any, state: ClusterState) -> InformersLike:
    """The informers of :mod:`scheduler.extender.informers` feeding ``state``."""
    return Informers(api_client, state)


def api_client(kubeconfig: Path | None) -> Any:
    """A Kubernetes ApiClient from ``kubeconfig``, else the in-cluster configuration;
    ValueError naming the source when it cannot be read."""
    from kubernetes import client, config  # noqa: PLC0415 (only with an API server)

    configuration = client.Configuration()
    load_file: Any = config.load_kube_config
    load_in_cluster: Any = config.load_incluster_config
    try:
        if kubeconfig is not None:
            load_file(config_file=str(kubeconfig), client_configuration=configuration)
        else:
            load_in_cluster(client_configuration=configuration)
    except config.ConfigException as exc:
        where = f"--kubeconfig {kubeconfig}" if kubeconfig is not None else "in-cluster config"
        raise ValueError(f"{where}: {exc}") from None
    # one watch per informer kind, plus the bind verb's worker threads
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


def run(
    options: ServeOptions,
    profile: Profile,
    *,
    snapshot: Path | None = None,
    kubeconfig: Path | None = None,
    features: Features | None = None,
) -> None:
    """``tessera serve``: serve until interrupted. With ``snapshot`` the state is loaded
    from it (in the background; a bad input stops the server and raises here), otherwise
    informers list and watch the API server."""
    state = ClusterState(features=features)
    informers: InformersLike | None = None
    writer: BindingWriter
    evictions: EvictionWriter | None = None
    if snapshot is not None:
        if not snapshot.exists():
            raise ValueError(f"--snapshot {snapshot}: no such file or directory")
        writer = InMemoryBindings(state)
        if options.preempt_gangs:
            evictions = InMemoryEvictions(state)
    else:
        client = api_client(kubeconfig)
        informers = informers_for(client, state)
        writer = ApiBindings(client)
        if options.preempt_gangs:
            evictions = ApiEvictions(client)
    webhook = build_webhook(
        state,
        profile,
        writer,
        gang_hold=options.gang_hold,
        gang_ttl=options.gang_ttl,
        informers=informers,
        evictions=evictions,
    )
    failure: list[BaseException] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def load() -> None:
            try:
                if snapshot is not None:
                    counts = state.load_snapshot(snapshot)
                    settle_heap()
                    log.info("snapshot %s loaded: %s", snapshot, counts)
                elif informers is not None:
                    informers.start()
                    while not informers.wait_synced(5.0):
                        log.info("waiting for the informers to sync")
                    settle_heap()
                    state.loaded = True
                    log.info("informers synced")
            except BaseException as err:
                failure.append(err)
                loop.call_soon_threadsafe(stop.set)

        def started(_: Sequence[uvicorn.Server]) -> None:
            threading.Thread(target=load, name="tessera-state", daemon=True).start()

        try:
            await serve(webhook, options, started=started, stop=stop)
        finally:
            if informers is not None:
                informers.stop()

    asyncio.run(main())
    if failure:
        raise failure[0]
