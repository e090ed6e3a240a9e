"""The framework's :class:`~scheduler.framework.extenders.SchedulerExtenders` over HTTP.

:class:`HTTPSchedulerExtenders` adapts kube-scheduler's extender list
(:class:`~simulator.kubescheduler.extenders.Extenders`, which speaks to the servers) to the
framework's node ids and pod keys: it builds the request objects (the pod as API JSON; node
names only when every extender is ``nodeCacheCapable``, else full Node objects; victims as
pods), maps the replies back (node names to ids, victim UIDs to pod keys), turns failed calls
into statuses, and counts calls per verb for the replay's summary.

Reply nodes the snapshot does not hold (an extender answering with ``Nodes`` objects that
are not candidates) are dropped with a warning: kube-scheduler 1.34/1.35 would wrap them in
empty NodeInfos and could even select one (kubernetes issue 141781). For the same reason a
``Nodes`` reply of known nodes is scored by tessera with the nodes' real usage, where 1.35
scores them as idle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scheduler.api.pod import Pod
from scheduler.cluster.snapshot import Snapshot
from scheduler.extender import wire
from scheduler.framework.extenders import ExtenderFilterResult, PreemptionVictims
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from simulator.kubescheduler.extenders import Extenders
from simulator.kubescheduler.http_extender import ExtenderError, is_interested
from simulator.kubescheduler.objects import ModelObjects, Obj, ObjectSource
from simulator.kubescheduler.pause import PausePoint

__all__ = ["HTTPSchedulerExtenders", "VerbStats"]

log = logging.getLogger(__name__)

NodeIds = npt.NDArray[np.intp]
VERBS = ("filter", "prioritize", "preempt", "bind")


@dataclass(slots=True)
class VerbStats:
    """Calls of one phase: how many, how many failed (or were skipped after a failure), and
    the wall seconds they took."""

    calls: int = 0
    failures: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """For summary.json."""
        return {
            "calls": self.calls,
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
        }


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return ""
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


class HTTPSchedulerExtenders:
    """kube-scheduler's extenders for a :class:`~scheduler.framework.runtime.Framework` (see
    the module docstring). Owns ``extenders``: :meth:`close` closes its clients."""

    def __init__(self, extenders: Extenders, objects: ObjectSource | None = None) -> None:
        self.extenders = extenders
        self.objects: ObjectSource = objects if objects is not None else ModelObjects()
        self._names_only = all(e.config.node_cache_capable for e in extenders.extenders)
        self.stats = {verb: VerbStats() for verb in VERBS}
        self._lock = threading.Lock()
        self.pause: PausePoint | None = None
        """A test-only pause before one call (:mod:`simulator.kubescheduler.pause`)."""

    def close(self) -> None:
        """Close every client."""
        self.extenders.close()

    # -- SchedulerExtenders ----------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        """Some extender is configured."""
        return bool(self.extenders.extenders)

    @property
    def has_filters(self) -> bool:
        """Some extender has a filter verb."""
        return self.extenders.has_filters

    @property
    def has_prioritizers(self) -> bool:
        """Some extender has a prioritize verb."""
        return self.extenders.has_prioritizers

    def filter(
        self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> tuple[ExtenderFilterResult, Status]:
        """The filter chain on ``nodes`` (see the module docstring)."""
        self._before("filter", pod.key)
        start = time.perf_counter()
        try:
            outcome = self.extenders.filter(self.objects.pod(pod.pod), self._nodes(snapshot, nodes))
        except ExtenderError as err:
            self._count("filter", start, failed=True)
            return ExtenderFilterResult(np.empty(0, dtype=np.intp)), Status.error(err.message)
        self._count("filter", start, failed=bool(outcome.skipped))
        index = snapshot.node_index
        passed: list[int] = []
        for name in outcome.names:
            i = index.get(name)
            if i is None:
                log.warning("extender filter returned node %r, which is not in the cluster", name)
                continue
            passed.append(i)
        statuses = {
            index[name]: status for name, status in outcome.statuses.items() if name in index
        }
        return (
            ExtenderFilterResult(np.asarray(passed, dtype=np.intp), statuses, outcome.rejected),
            Status.success(),
        )

    def prioritize(self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds) -> npt.NDArray[np.int64]:
        """Every interested extender's weighted scores, summed per node."""
        start = time.perf_counter()
        scores = self.extenders.prioritize(self.objects.pod(pod.pod), self._nodes(snapshot, nodes))
        self._count("prioritize", start, failed=bool(scores.failed))
        names = snapshot.node_names
        return np.fromiter(
            (scores.total.get(names[int(i)], 0) for i in nodes), dtype=np.int64, count=len(nodes)
        )

    def preempt(
        self, pod: PodInfo, snapshot: Snapshot, candidates: Mapping[str, PreemptionVictims]
    ) -> tuple[dict[str, PreemptionVictims], Status]:
        """The preempting extenders' verdict on the dry run's candidates."""
        objects = self.objects

        def on_node(name: str) -> list[Obj] | None:
            if name not in snapshot.node_index:
                return None
            return [objects.pod(r.pod) for r in snapshot.pods_on(name).values()]

        offered: dict[str, wire.Victims] = {}
        for name, victims in candidates.items():
            records = snapshot.pods_on(name)
            pods = tuple(objects.pod(records[key].pod) for key in victims.pods if key in records)
            offered[name] = wire.Victims(pods=pods, num_pdb_violations=victims.pdb_violations)
        start = time.perf_counter()
        try:
            outcome = self.extenders.preempt(objects.pod(pod.pod), offered, on_node)
        except ExtenderError as err:
            self._count("preempt", start, failed=True)
            return {}, Status.error(err.message)
        self._count("preempt", start, failed=bool(outcome.skipped))
        return {
            name: PreemptionVictims(
                tuple(_key(p) for p in victims.pods), victims.num_pdb_violations
            )
            for name, victims in outcome.victims.items()
        }, Status.success()

    def binds(self, pod: PodInfo) -> bool:
        """Whether an interested extender has a bind verb."""
        binders = [e for e in self.extenders.extenders if e.config.is_binder]
        if not binders:
            return False
        data = self.objects.pod(pod.pod)
        return any(is_interested(e.config, data) for e in binders)

    def bind(self, pod: PodInfo, node: str) -> Status:
        """``extendersBinding`` (thread-safe)."""
        return self.bind_pod(pod.pod, node)

    def bind_pod(self, pod: Pod, node: str) -> Status:
        """:meth:`bind` for a pod model."""
        self._before("bind", f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}")
        start = time.perf_counter()
        try:
            outcome = self.extenders.bind(self.objects.pod(pod), node)
        except ExtenderError as err:
            self._count("bind", start, failed=True)
            return Status.error(err.message)
        self._count("bind", start, failed=bool(outcome.skipped))
        return Status.success() if outcome.binder is not None else Status.skip()

    # -- helpers ---------------------------------------------------------------------------------
    def _before(self, verb: str, pod_key: str) -> None:
        if self.pause is not None:
            self.pause.before(verb, pod_key)

    def _nodes(self, snapshot: Snapshot, ids: NodeIds) -> list[Obj]:
        names = snapshot.node_names
        if self._names_only:
            return [{"metadata": {"name": names[int(i)]}} for i in ids]
        return [self.objects.node(snapshot.nodes[names[int(i)]]) for i in ids]

    def _count(self, verb: str, start: float, *, failed: bool) -> None:
        elapsed = time.perf_counter() - start
        with self._lock:
            stats = self.stats[verb]
            stats.calls += 1
            stats.failures += failed
            stats.seconds += elapsed

    def summary(self) -> dict[str, Any]:
        """Calls per phase, for summary.json."""
        with self._lock:
            return {verb: stats.as_dict() for verb, stats in self.stats.items()}
