"""What kube-scheduler 1.35 does with its list of extenders around each verb.

kube-scheduler keeps one global list of extenders (shared by all profiles), built by
``buildExtenders`` from the ``extenders:`` configuration with ignorable entries moved to the
end. :class:`Extenders` is that list plus the four places the scheduler consults it, each
mirroring one upstream routine of kubernetes/kubernetes (see ``docs/extender.md``):

* :meth:`Extenders.filter` — ``findNodesThatPassExtenders`` (``schedule_one.go``): after the
  in-tree filters, extenders are called one after another, each on the survivors of the
  previous one; failed nodes are recorded with ``Unschedulable`` or
  ``UnschedulableAndUnresolvable``; an ignorable extender's failure is skipped, any other
  fails the pod's scheduling attempt.
* :meth:`Extenders.prioritize` — the extender part of ``prioritizeNodes``: every interested
  extender is called concurrently; each host score becomes ``score × weight × 10``
  (``MaxNodeScore / MaxExtenderPriority``), not clamped, added to the in-tree total; a
  failing extender simply contributes nothing.
* :meth:`Extenders.bind` — ``extendersBinding``: the first interested extender with a bind verb
  binds; if it fails and is ignorable the next binder (in the end DefaultBinder) is tried.
* :meth:`Extenders.preempt` — ``callExtenders`` (``framework/preemption/preemption.go``): each
  interested extender with a preempt verb may shrink the candidate nodes and change their
  victims; every node it keeps must keep at least one victim.

No scheduling decision is made here: the caller runs the in-tree plugins, decides when each
phase applies (for example, prioritize only runs with two or more feasible nodes), and acts
on the typed results. A failure that aborts the cycle raises
:class:`~simulator.kubescheduler.http_extender.ExtenderError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scheduler.extender import wire
from scheduler.extender.config import ExtenderConfig, call_order
from scheduler.framework.interfaces import MAX_NODE_SCORE
from scheduler.framework.status import Status
from simulator.kubescheduler.http_extender import ExtenderError, HTTPExtender, PodsOnNode

__all__ = [
    "EXTENDER_NAME",
    "BindOutcome",
    "ExtenderScores",
    "Extenders",
    "FilterOutcome",
    "PreemptOutcome",
    "SkippedExtender",
    "extender_score",
]

log = logging.getLogger(__name__)

EXTENDER_NAME = "Extender"
"""``framework.ExtenderName``: the pseudo-plugin kube-scheduler records among a pod's
unschedulable plugins when an extender removed nodes (such pods requeue on any cluster event,
since extenders have no queueing hints)."""

_SCORE_SCALE = MAX_NODE_SCORE // wire.MAX_EXTENDER_PRIORITY
_INT64_WRAP = 1 << 64


def _int64(value: int) -> int:
    """Wrap to Go ``int64`` (two's complement), as the score arithmetic does on overflow."""
    value %= _INT64_WRAP
    return value - _INT64_WRAP if value >= 1 << 63 else value


def extender_score(score: int, weight: int) -> int:
    """One host's contribution from one extender: ``score × weight × (100 / 10)`` in int64.

    Not clamped: a reply of 50 with weight 1 adds 500, a negative score subtracts.
    """
    return _int64(_int64(score * weight) * _SCORE_SCALE)


@dataclass(frozen=True, slots=True)
class SkippedExtender:
    """An extender whose call failed and did not abort the cycle (why, in kube-scheduler's
    words)."""

    name: str
    verb: str
    error: str


@dataclass(frozen=True, slots=True)
class FilterOutcome:
    """The result of the extender filter chain.

    ``nodes`` pass every interested extender, in the last extender's order (a node-cache
    extender's order of ``NodeNames``; reply objects for one that answered with ``Nodes``).
    ``statuses`` holds the nodes an extender listed as failed; nodes an extender dropped
    without listing them get no status here. ``skipped`` lists ignorable extenders whose call
    failed. When ``rejected`` is true, kube-scheduler adds :data:`EXTENDER_NAME` to the pod's
    unschedulable plugins. ``reply_objects`` names the passing nodes kube-scheduler 1.34/1.35
    now holds as fresh, empty NodeInfos built from a ``Nodes`` reply, which resource scoring
    then sees as idle (kubernetes issue 141781).
    """

    nodes: tuple[wire.RawObject, ...]
    statuses: Mapping[str, Status]
    skipped: tuple[SkippedExtender, ...]
    rejected: bool
    reply_objects: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the passing nodes."""
        return tuple(_name(n) for n in self.nodes)


@dataclass(frozen=True, slots=True)
class ExtenderScores:
    """The extenders' share of the node scores.

    ``total[node]`` is what kube-scheduler adds to the node's in-tree total (0 for a node no
    extender scored); ``by_extender[name][node]`` the weighted contribution of one extender
    (hosts that are not candidates are dropped). ``failed`` lists extenders whose call failed;
    kube-scheduler ignores those, ignorable or not.
    """

    total: Mapping[str, int]
    by_extender: Mapping[str, Mapping[str, int]]
    failed: tuple[SkippedExtender, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class PreemptOutcome:
    """The preemption candidates left after the extenders: node -> victims (empty: no
    preemption), and the ignorable extenders skipped after a failure."""

    victims: Mapping[str, wire.Victims]
    skipped: tuple[SkippedExtender, ...] = ()


@dataclass(frozen=True, slots=True)
class BindOutcome:
    """Who bound the pod: ``binder`` is the extender's name, or ``None`` when no extender
    did, so the profile's Bind plugins (DefaultBinder) must. ``skipped`` lists ignorable
    binders that failed first."""

    binder: str | None
    skipped: tuple[SkippedExtender, ...] = ()


def _name(node: Mapping[str, Any]) -> str:
    meta = node.get("metadata")
    name = meta.get("name", "") if isinstance(meta, Mapping) else ""
    return name if isinstance(name, str) else ""


class Extenders:
    """kube-scheduler's extender list, in call order, with its per-phase behaviour.

    Build it from the configuration entries with :meth:`from_configs` (which also applies the
    ignorable-last order), or from ready clients. Closing it closes every client.
    """

    def __init__(self, extenders: Iterable[HTTPExtender]) -> None:
        self.extenders: tuple[HTTPExtender, ...] = tuple(extenders)
        self._pool: ThreadPoolExecutor | None = None
        """Threads for concurrent prioritize calls, kept for the list's life (Go starts a
        goroutine per call; a Python thread per call costs more than a loopback request)."""

    @classmethod
    def from_configs(cls, configs: Iterable[ExtenderConfig]) -> Extenders:
        """One :class:`HTTPExtender` per entry, non-ignorable ones first (``buildExtenders``)."""
        return cls(HTTPExtender(config) for config in call_order(configs))

    def close(self) -> None:
        """Close every client (and the prioritize threads)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        for extender in self.extenders:
            extender.close()

    def __enter__(self) -> Extenders:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def has_filters(self) -> bool:
        """``hasExtenderFilters``: some extender has a filter verb."""
        return any(e.config.is_filter for e in self.extenders)

    @property
    def has_prioritizers(self) -> bool:
        """Some extender has a prioritize verb (counts as scoring in ``hasScoring``)."""
        return any(e.config.is_prioritizer for e in self.extenders)

    # -- filter -----------------------------------------------------------------------------------
    def filter(self, pod: wire.RawObject, nodes: Sequence[wire.RawObject]) -> FilterOutcome:
        """``findNodesThatPassExtenders``: run the filter chain on the in-tree survivors.

        Called by the scheduling cycle after the in-tree Filter plugins (and on the single
        nominated node in the nominated-node fast path). Stops as soon as no node is left.
        ``FailedAndUnresolvableNodes`` wins over ``FailedNodes`` for the same node. Raises
        :class:`ExtenderError` when a non-ignorable extender fails: kube-scheduler then ends
        the attempt with an error (not "unschedulable", so no preemption) and retries the pod
        with backoff.
        """
        current = tuple(nodes)
        statuses: dict[str, Status] = {}
        skipped: list[SkippedExtender] = []
        reply_objects: set[str] = set()
        for extender in self.extenders:
            if not current:
                break
            if not extender.is_interested(pod):
                continue
            try:
                reply = extender.filter(pod, current)
            except ExtenderError as err:
                if not extender.config.ignorable:
                    raise
                log.info("skipping extender %s (filter failed, ignorable): %s", err.extender, err)
                skipped.append(SkippedExtender(err.extender, "filter", err.message))
                continue
            for node, message in reply.failed_unresolvable.items():
                statuses[node] = Status.unresolvable(message)
            for node, message in reply.failed.items():
                if node not in reply.failed_unresolvable:
                    statuses[node] = Status.unschedulable(message)
            if reply.from_reply_objects:
                reply_objects = set(reply.names)
            else:
                reply_objects &= set(reply.names)
            current = reply.nodes
        return FilterOutcome(
            nodes=current,
            statuses=statuses,
            skipped=tuple(skipped),
            rejected=len(current) != len(nodes),
            reply_objects=frozenset(reply_objects),
        )

    # -- prioritize -------------------------------------------------------------------------------
    def prioritize(self, pod: wire.RawObject, nodes: Sequence[wire.RawObject]) -> ExtenderScores:
        """The extender part of ``prioritizeNodes``.

        kube-scheduler reaches this only with two or more feasible nodes (one feasible node is
        chosen without scoring) and runs it after the in-tree Score plugins. Every interested
        extender is called concurrently; extenders without a prioritize verb contribute 0
        without a call. Never raises for a failed extender: its scores are left out.
        """
        interested = [e for e in self.extenders if e.is_interested(pod)]
        names = [_name(n) for n in nodes]

        def call(extender: HTTPExtender) -> tuple[tuple[wire.HostPriority, ...], int] | str:
            try:
                return extender.prioritize(pod, nodes)
            except ExtenderError as err:
                log.debug("extender %s: prioritize failed, no score given: %s", err.extender, err)
                return err.message

        calling = sum(e.config.is_prioritizer for e in interested)
        if calling > 1:
            if self._pool is None:
                prioritizers = sum(e.config.is_prioritizer for e in self.extenders)
                self._pool = ThreadPoolExecutor(prioritizers, thread_name_prefix="prioritize")
            replies = list(self._pool.map(call, interested))
        else:
            replies = [call(e) for e in interested]

        by_host: dict[str, int] = {}
        by_extender: dict[str, dict[str, int]] = {}
        failed: list[SkippedExtender] = []
        candidates = set(names)
        for extender, reply in zip(interested, replies, strict=True):
            if isinstance(reply, str):
                failed.append(SkippedExtender(extender.name, "prioritize", reply))
                continue
            priorities, weight = reply
            mine = by_extender.setdefault(extender.name, {})
            for hp in priorities:
                contribution = extender_score(hp.score, weight)
                by_host[hp.host] = _int64(by_host.get(hp.host, 0) + contribution)
                if hp.host in candidates:
                    mine[hp.host] = _int64(mine.get(hp.host, 0) + contribution)
        total = {name: by_host.get(name, 0) for name in names}
        return ExtenderScores(total=total, by_extender=by_extender, failed=tuple(failed))

    # -- bind -------------------------------------------------------------------------------------
    def bind(self, pod: wire.RawObject, node: str) -> BindOutcome:
        """``extendersBinding``: let the first interested binder extender bind the pod.

        Called from the binding cycle after PreBind (DRA claims, volumes are already written).
        Returns who bound; ``binder=None`` means the Bind plugins must. Raises
        :class:`ExtenderError` when a non-ignorable binder fails: kube-scheduler forgets the
        assumed pod, runs Unreserve and requeues it.
        """
        skipped: list[SkippedExtender] = []
        for extender in self.extenders:
            if not extender.config.is_binder or not extender.is_interested(pod):
                continue
            try:
                extender.bind(pod, node)
            except ExtenderError as err:
                if not extender.config.ignorable:
                    raise
                log.info("skipping extender %s in bind (ignorable): %s", err.extender, err)
                skipped.append(SkippedExtender(err.extender, "bind", err.message))
                continue
            return BindOutcome(extender.name, tuple(skipped))
        return BindOutcome(None, tuple(skipped))

    # -- preempt ----------------------------------------------------------------------------------
    def preempt(
        self,
        pod: wire.RawObject,
        candidates: Mapping[str, wire.Victims],
        pods_on_node: PodsOnNode,
    ) -> PreemptOutcome:
        """``callExtenders``: let preempting extenders veto or change preemption candidates.

        ``candidates`` is the in-tree dry run's node -> victims. Each interested extender with
        a preempt verb receives the current map and returns a new one, which the next extender
        receives; an empty map ends the loop (no preemption). A node returned without victims
        is dropped if the extender is ignorable, else it is an error. Raises
        :class:`ExtenderError` when a non-ignorable extender fails (the preemption attempt
        ends with an error status).
        """
        victims = dict(candidates)
        skipped: list[SkippedExtender] = []
        if not self.extenders or not victims:
            return PreemptOutcome(victims)
        for extender in self.extenders:
            if not extender.config.supports_preemption or not extender.is_interested(pod):
                continue
            try:
                accepted = extender.process_preemption(pod, victims, pods_on_node)
            except ExtenderError as err:
                if not extender.config.ignorable:
                    raise
                log.info("skipping extender %s in preemption (ignorable): %s", err.extender, err)
                skipped.append(SkippedExtender(err.extender, "preempt", err.message))
                continue
            for node in list(accepted):
                if accepted[node].pods:
                    continue
                if not extender.config.ignorable:
                    raise ExtenderError(
                        extender.name,
                        extender.config.preempt_verb,
                        f'expected at least one victim pod on node "{node}"',
                    )
                log.info(
                    "extender %s reported no victims on node %s; node ignored", extender.name, node
                )
                del accepted[node]
            victims = accepted
            if not victims:
                break
        return PreemptOutcome(victims, tuple(skipped))
