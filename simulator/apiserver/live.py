"""A replay served live over the API, in virtual time, optionally paced to wall time.

:func:`serve_replay` takes a constructed, not yet run :class:`~simulator.experiments.replay.Replay`
and (1) loads its cluster and trace objects into a read-only API store, (2) makes the store
the observer of the replay's :class:`~simulator.backend.SimulatedCluster`, so every pod
creation, claim allocation, binding and deletion appears to list and watch as it happens,
(3) swaps in a :class:`PacedEngine` whose hook runs before every event: it mirrors node
failures into the API (the replay removes nodes from the cache directly) and lets a
:class:`Pacer` sleep so that virtual seconds pass at ``realtime``× wall time (None: as fast
as possible). The served objects' timestamps are the replay's virtual time, dated from the
wall-clock second it started (:mod:`simulator.apiserver.clock`). Pods get deterministic UIDs
(the trace's own when it has them), so the served pods and the simulator's agree. Nothing
else in the replay changes: the same inputs give byte-identical ``placements.jsonl`` with or
without the API (tested).

A replay played with an extender (``ReplayConfig.kube_scheduler``) is also wired to the API
(:func:`attach_extender`): extender requests carry the served objects, ``pods/binding`` is
accepted from the extender and checked when its bind reply arrives, and the optional sync
probe runs before each scheduling cycle. A preempting extender's pod status writes and
deletions are accepted too (:mod:`simulator.apiserver.replay_deletions`); the deletions are
applied by the replay thread after each scheduling cycle and before it takes its next event
(:func:`apply_deletions`), at the current virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scheduler.api.meta import format_timestamp
from scheduler.framework.profiles import Profile
from simulator.apiserver.clock import ReplayClock
from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.replay_deletions import ReplayDeletions
from simulator.apiserver.replay_extender import attach_extender
from simulator.apiserver.resources import TABLE
from simulator.apiserver.server import LOOPBACK, ApiServer
from simulator.apiserver.store import Store
from simulator.clusters import LoadedCluster
from simulator.engine import Engine, Event
from simulator.experiments.replay import Replay, ReplayConfig, ReplayResult
from simulator.traces.model import Trace


class Pacer:
    """Sleeps so that virtual time runs at ``factor``× wall time (``None``: no pacing).

    The first :meth:`tick` fixes the wall-clock origin; a later tick at virtual time ``t``
    returns no earlier than ``origin + t / factor``. Running behind never sleeps (no
    catch-up bursts beyond what is due).
    """

    def __init__(
        self, factor: float | None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        if factor is not None and factor <= 0:
            raise ValueError(f"--realtime {factor}: must be > 0")
        self.factor = factor
        self._sleep = sleep
        self._origin: float | None = None

    def tick(self, virtual: float) -> None:
        """Wait until virtual time ``virtual`` is due."""
        if self.factor is None:
            return
        now = time.monotonic()
        if self._origin is None:
            self._origin = now - virtual / self.factor
            return
        due = self._origin + virtual / self.factor
        if due > now:
            self._sleep(due - now)


class PacedEngine(Engine):
    """The replay's event engine with a hook called before each event (and once at the end)."""

    def __init__(self, hook: Callable[[float], None]) -> None:
        super().__init__()
        self._hook = hook

    def events(self, horizon: float | None = None) -> Iterator[Event]:
        """As :meth:`Engine.events`, calling the hook with the event's time first."""
        for event in super().events(horizon):
            self._hook(self.now)
            yield event
        self._hook(self.now)


@dataclass(slots=True)
class LiveReplay:
    """A replay's API endpoint: the server, the served cluster, the pacer."""

    server: ApiServer
    cluster: ServedCluster
    pacer: Pacer

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return self.server.url

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()


def serve_replay(
    replay: Replay,
    *,
    host: str = LOOPBACK,
    port: int = 0,
    realtime: float | None = None,
    kubeconfig_out: str | Path | None = None,
    bookmark_interval: float = 60.0,
) -> LiveReplay:
    """Serve ``replay`` (constructed, not yet run) over the API; see the module docstring.

    Call before ``replay.run()``; the server keeps serving the final state after the run
    until :meth:`LiveReplay.stop`.
    """
    if len(replay.engine) or replay.engine.processed:
        raise ValueError("serve_replay: the replay has already started")
    kube = replay.kube
    replay.stamp_uids = True
    clock = ReplayClock(lambda: replay.engine.now)
    cluster = ServedCluster(
        Store(TABLE, clock=lambda: format_timestamp(clock())),
        replay.backend,
        writable=False,
        replay_binds=kube is not None,
        clock=clock,
    )
    cluster.load_cluster(replay.cluster)
    cluster.load_objects(replay.backend.templates.values())
    pacer = Pacer(realtime)
    cache = replay.cache
    seen = [cache.node_generation]

    def hook(now: float) -> None:
        if cache.node_generation != seen[0]:
            seen[0] = cache.node_generation
            cluster.sync_nodes()
        pacer.tick(now)

    paced = PacedEngine(hook)
    paced.barrier = replay.engine.barrier
    replay.engine = paced
    if kube is not None:
        attach_extender(kube, cluster)
        deletions = ReplayDeletions(
            cluster.store, cluster.resource("pods"), cluster.changed, clock=clock
        )
        cluster.replay_deletions = deletions

        def apply_writes() -> None:
            apply_deletions(replay, deletions)

        kube.apply_api_writes = apply_writes
        binds = paced.barrier

        def barrier() -> None:
            if binds is not None:
                binds()
            apply_writes()

        paced.barrier = barrier
    server = ApiServer(cluster, host=host, port=port, bookmark_interval=bookmark_interval).start()
    if kubeconfig_out is not None:
        server.write_kubeconfig(kubeconfig_out)
    return LiveReplay(server, cluster, pacer)


def apply_deletions(replay: Replay, deletions: ReplayDeletions) -> int:
    """The replay thread's side of :class:`ReplayDeletions`: evict the pods deleted over the
    API at the current virtual time. Each eviction moves the unschedulable pods and asks for
    a scheduling pass, as any pod's eviction does (``Replay._evicted``)."""
    return deletions.apply(replay.backend)


def run_replay_served(
    cluster: LoadedCluster,
    trace: Trace,
    profiles: Profile | Sequence[Profile],
    config: ReplayConfig,
    out: Path | None = None,
    *,
    host: str = LOOPBACK,
    port: int = 0,
    realtime: float | None = None,
    kubeconfig_out: str | Path | None = None,
    on_serving: Callable[[LiveReplay], None] | None = None,
    linger: Callable[[LiveReplay], None] | None = None,
) -> ReplayResult:
    """:func:`~simulator.experiments.replay.run_replay`, served over the API while it runs
    (``tessera replay --api-port``; see :mod:`simulator.apiserver.cli`).

    Builds the replay, serves it (:func:`serve_replay`), calls ``on_serving`` (e.g. print the
    URL), runs the replay, calls ``linger`` (e.g. keep serving the final state until Ctrl-C),
    and stops the server whatever happens. Returns what ``run_replay`` would (the same
    placements, the profiles' names in the summary, the files streamed into ``out``).
    ValueError when the port cannot be bound.
    """
    replay = Replay(cluster, trace, profiles, config)
    live = serve_replay(
        replay, host=host, port=port, realtime=realtime, kubeconfig_out=kubeconfig_out
    )
    try:
        if on_serving is not None:
            on_serving(live)
        result = replay.run(out)
        if linger is not None:
            linger(live)
        return result
    finally:
        live.stop()


def until_interrupted(live: LiveReplay) -> None:
    """Block until Ctrl-C (the ``linger`` of ``tessera replay --api-port P --linger``): the
    final state stays served meanwhile."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return
