"""The framework runtime: runs a profile's plugins through a scheduling cycle.

Algorithm overview of one cycle (:meth:`Framework.schedule_one`):

1. take the cache's Snapshot; PreFilter every plugin (a rejection ends the cycle; SKIP
   turns off that plugin's Filter; results may narrow the candidate nodes);
2. Filter: each filter plugin, in profile order, sees the nodes still feasible and narrows
   them; every rejection is counted in a :class:`Diagnosis` under the plugin's name;
3. nothing feasible -> PostFilter plugins (preemption) may nominate a node; the result is
   UNSCHEDULABLE with the diagnosis either way;
4. PreScore, then Score: each plugin's scores are normalised, multiplied by its weight and
   summed; the best total wins, ties broken by the profile's ``tieBreak``;
5. Reserve every reserve plugin in order (any failure -> Unreserve all, reverse order),
   Permit, PreBind, Bind; a failure after Reserve unreserves.

The runtime times every plugin call (``timings``), attributes every status to its plugin,
and never imports a plugin module: it receives instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.filter_memo import FilterMemo
from scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    BindPlugin,
    Diagnosis,
    FilterPlugin,
    GangPlacementPlugin,
    GangPreemptionPlugin,
    NodeIds,
    PermitPlugin,
    Plugin,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreEnqueuePlugin,
    PreFilterPlugin,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
)
from scheduler.framework.plugin_sets import expand_plugins
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.profiles import Profile
from scheduler.framework.status import Code, Status

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot
    from scheduler.framework.backend import BackendHandle

Params = ParamSpec("Params")
R = TypeVar("R")


@dataclass(slots=True)
class ScheduleResult:
    """The outcome of one cycle.

    ``status`` SUCCESS with ``node`` set when the pod was bound (or, with ``bind=False``,
    reserved); otherwise the failure with its ``diagnosis``; ``nominated`` is the node
    preemption freed for the pod, ``victims`` the pods it evicted.
    """

    status: Status
    node: str | None = None
    diagnosis: Diagnosis | None = None
    nominated: str | None = None
    victims: tuple[str, ...] = ()
    feasible: int = 0


@dataclass(slots=True)
class PluginTiming:
    """Calls and total seconds of one plugin at one extension point."""

    calls: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class _Points:
    pre_enqueue: list[PreEnqueuePlugin] = field(default_factory=list)
    queue_sort: list[QueueSortPlugin] = field(default_factory=list)
    pre_filter: list[PreFilterPlugin] = field(default_factory=list)
    filter: list[FilterPlugin] = field(default_factory=list)
    post_filter: list[PostFilterPlugin] = field(default_factory=list)
    pre_score: list[PreScorePlugin] = field(default_factory=list)
    score: list[ScorePlugin] = field(default_factory=list)
    reserve: list[ReservePlugin] = field(default_factory=list)
    permit: list[PermitPlugin] = field(default_factory=list)
    pre_bind: list[PreBindPlugin] = field(default_factory=list)
    bind: list[BindPlugin] = field(default_factory=list)
    gang: list[GangPlacementPlugin] = field(default_factory=list)
    gang_preemption: list[GangPreemptionPlugin] = field(default_factory=list)
    """The PostFilter plugins that also preempt for whole gangs (checked once, here)."""


def _score_and_normalize(
    scorer: ScorePlugin, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
) -> npt.NDArray[np.int64]:
    return scorer.normalize(state, pod, scorer.score(state, pod, snapshot, nodes))


_PROTOCOLS: tuple[tuple[str, type], ...] = (
    ("pre_enqueue", PreEnqueuePlugin),
    ("queue_sort", QueueSortPlugin),
    ("pre_filter", PreFilterPlugin),
    ("filter", FilterPlugin),
    ("post_filter", PostFilterPlugin),
    ("pre_score", PreScorePlugin),
    ("score", ScorePlugin),
    ("reserve", ReservePlugin),
    ("permit", PermitPlugin),
    ("pre_bind", PreBindPlugin),
    ("bind", BindPlugin),
    ("gang", GangPlacementPlugin),
)
"""Extension point attribute -> its Protocol (tessera has no PostBind plugins)."""


def implemented_points(plugin: Plugin) -> frozenset[str]:
    """The extension point attributes ``plugin`` implements (its Protocols, checked once)."""
    return frozenset(point for point, proto in _PROTOCOLS if isinstance(plugin, proto))


class Framework:
    """A profile's plugins wired into extension points (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        plugins: Sequence[Plugin],
        handle: BackendHandle,
        *,
        node_rank: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """Wire ``plugins`` (instances of the plugins ``profile`` enables) into the extension
        points as kube-scheduler does (:func:`~scheduler.framework.plugin_sets.expand_plugins`).

        ValueError naming the profile when the profile enables a plugin missing from
        ``plugins``, enables one at a point it does not implement, registers one twice at a
        point, or runs more than one QueueSort plugin.
        """
        self.profile = profile
        self.handle = handle
        handle.attach(self)
        self.plugins = list(plugins)
        self.node_rank = node_rank
        self.rng = np.random.default_rng(profile.seed)
        self.filter_memo = FilterMemo()
        """PreFilter + Filter verdicts of the current cache generation, per pod shape."""
        self.timings: dict[tuple[str, str], PluginTiming] = {}
        by_name = {plugin.name: plugin for plugin in self.plugins}
        try:
            expanded = expand_plugins(
                profile.plugins, {name: implemented_points(p) for name, p in by_name.items()}
            )
        except ValueError as err:
            raise ValueError(f"profile {profile.name}: {err}") from err
        self.weights = dict(expanded.weights)
        points = _Points()
        for point, names in expanded.points.items():
            if names:  # nothing implements PostBind: its list is always empty
                getattr(points, point).extend(by_name[name] for name in names)
        points.gang_preemption = [
            p for p in points.post_filter if isinstance(p, GangPreemptionPlugin)
        ]
        if len(points.queue_sort) > 1:
            sorts = [p.name for p in points.queue_sort]
            raise ValueError(f"profile {profile.name}: more than one QueueSort plugin: {sorts}")
        self.points = points

    # -- timing -----------------------------------------------------------------------------------
    def _timed(
        self,
        point: str,
        name: str,
        call: Callable[Params, R],
        *args: Params.args,
        **kwargs: Params.kwargs,
    ) -> R:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            timing = self.timings.get((point, name))
            if timing is None:
                timing = self.timings[(point, name)] = PluginTiming()
            timing.calls += 1
            timing.seconds += time.perf_counter() - start

    # -- queue ------------------------------------------------------------------------------------
    def pre_enqueue(self, pod: PodInfo) -> Status:
        """Run PreEnqueue plugins; the first non-success keeps the pod out of the active queue."""
        for plugin in self.points.pre_enqueue:
            status = self._timed("PreEnqueue", plugin.name, plugin.pre_enqueue, pod)
            if not status.ok:
                return status.with_plugin(plugin.name)
        return Status.success()

    def less(self, a: PodInfo, a_time: float, b: PodInfo, b_time: float) -> bool:
        """Queue order: the QueueSort plugin, else priority then arrival (PrioritySort)."""
        if self.points.queue_sort:
            return self.points.queue_sort[0].less(a, a_time, b, b_time)
        if a.priority != b.priority:
            return a.priority > b.priority
        return a_time < b_time

    # -- filtering --------------------------------------------------------------------------------
    def find_feasible(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, candidates: NodeIds | None = None
    ) -> tuple[NodeIds, Diagnosis]:
        """PreFilter + Filter: the node ids that can run the pod, and why the others cannot."""
        diagnosis = Diagnosis()
        nodes: NodeIds = (
            np.arange(snapshot.size, dtype=np.intp) if candidates is None else candidates
        )
        for plugin in self.points.pre_filter:
            result, status = self._timed(
                "PreFilter", plugin.name, plugin.pre_filter, state, pod, snapshot
            )
            if status.code == Code.SKIP:
                state.skip_filter.add(plugin.name)
                continue
            if not status.ok:
                diagnosis.prefilter = status.with_plugin(plugin.name)
                return np.empty(0, dtype=np.intp), diagnosis
            if result is not None and result.nodes is not None:
                kept = np.intersect1d(nodes, result.nodes, assume_unique=True)
                if len(kept) < len(nodes):
                    diagnosis.record(
                        Status.unresolvable(
                            f"node(s) didn't satisfy plugin(s) [{plugin.name}]"
                        ).with_plugin(plugin.name),
                        np.setdiff1d(nodes, kept, assume_unique=True),
                    )
                nodes = kept
        for filter_plugin in self.points.filter:
            name = filter_plugin.name
            if name in state.skip_filter or len(nodes) == 0:
                continue
            verdict = self._timed("Filter", name, filter_plugin.filter, state, pod, snapshot, nodes)
            for status, failed in verdict.failures:
                if status.code == Code.ERROR:
                    diagnosis.prefilter = status.with_plugin(name)
                    return np.empty(0, dtype=np.intp), diagnosis
                diagnosis.record(status.with_plugin(name), nodes[failed])
            nodes = nodes[verdict.passed]
        return nodes, diagnosis

    def post_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis
    ) -> tuple[PostFilterResult | None, Status]:
        """Run PostFilter plugins until one succeeds (preemption)."""
        last = Status.unschedulable("no PostFilter plugin could help")
        for plugin in self.points.post_filter:
            result, status = self._timed(
                "PostFilter", plugin.name, plugin.post_filter, state, pod, snapshot, diagnosis
            )
            if status.ok:
                return result, status
            last = status.with_plugin(plugin.name)
        return None, last

    # -- scoring ----------------------------------------------------------------------------------
    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> tuple[npt.NDArray[np.int64], Status]:
        """PreScore + Score + normalize, weighted and summed per feasible node.

        A PreScore ERROR aborts scoring (the status is returned with the plugin's name).
        """
        total = np.zeros(len(nodes), dtype=np.int64)
        for plugin in self.points.pre_score:
            status = self._timed(
                "PreScore", plugin.name, plugin.pre_score, state, pod, snapshot, nodes
            )
            if status.code == Code.SKIP:
                state.skip_score.add(plugin.name)
            elif not status.ok:
                return total, status.with_plugin(plugin.name)
        for scorer in self.points.score:
            name = scorer.name
            if name in state.skip_score:
                continue
            weight = self.weights[name]
            scores = self._timed(
                "Score", name, _score_and_normalize, scorer, state, pod, snapshot, nodes
            )
            if scores.shape != (len(nodes),):
                raise ValueError(f"plugin {name}: {scores.shape} scores for {len(nodes)} nodes")
            if len(scores) and (scores.min() < 0 or scores.max() > MAX_NODE_SCORE):
                raise ValueError(
                    f"plugin {name}: normalized scores must be within 0..{MAX_NODE_SCORE}, "
                    f"got {int(scores.min())}..{int(scores.max())}"
                )
            total += weight * scores
        return total, Status.success()

    def select(self, nodes: NodeIds, totals: npt.NDArray[np.int64]) -> int:
        """The winning node id: best total, ties broken by the profile's rule."""
        best = totals.max()
        tied = nodes[totals == best]
        if len(tied) == 1 or self.profile.tie_break == "first":
            return int(tied.min())
        if self.profile.tie_break == "nodeOrder":
            if self.node_rank is None:
                raise ValueError(
                    f"profile {self.profile.name}: tieBreak nodeOrder needs a node order"
                )
            return int(tied[np.argmin(self.node_rank[tied])])
        return int(tied[self.rng.integers(len(tied))])

    # -- binding cycle ----------------------------------------------------------------------------
    def assume(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """Assume the pod on the node in the cache, then Reserve (undone together on failure)."""
        self.handle.cache.assume_pod(pod.key, node)
        status = self.reserve(state, pod, node)
        if not status.ok:
            self.handle.cache.forget_pod(pod.key)
        return status

    def forget(self, state: CycleState, pod: PodInfo, node: str) -> None:
        """Undo :meth:`assume`: Unreserve every plugin, then forget the pod."""
        self.unreserve(state, pod, node)
        self.handle.cache.forget_pod(pod.key)

    def reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """Reserve on every plugin; on failure, unreserve them all and return the failure."""
        for plugin in self.points.reserve:
            status = self._timed("Reserve", plugin.name, plugin.reserve, state, pod, node)
            if not status.ok:
                self.unreserve(state, pod, node)
                return status.with_plugin(plugin.name)
        return Status.success()

    def unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        """Unreserve every reserve plugin, in reverse order."""
        for plugin in reversed(self.points.reserve):
            self._timed("Unreserve", plugin.name, plugin.unreserve, state, pod, node)

    def permit(self, state: CycleState, pod: PodInfo, node: str) -> tuple[Status, float]:
        """Permit plugins: the first rejection wins; any WAIT makes the pod wait."""
        waiting: tuple[Status, float] | None = None
        for plugin in self.points.permit:
            status, timeout = self._timed("Permit", plugin.name, plugin.permit, state, pod, node)
            if status.code == Code.WAIT:
                waiting = (status.with_plugin(plugin.name), timeout)
            elif not status.ok:
                return status.with_plugin(plugin.name), 0.0
        return waiting or (Status.success(), 0.0)

    def bind(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """PreBind then Bind; a failure unreserves."""
        for plugin in self.points.pre_bind:
            status = self._timed("PreBind", plugin.name, plugin.pre_bind, state, pod, node)
            if not status.ok:
                self.forget(state, pod, node)
                return status.with_plugin(plugin.name)
        for binder in self.points.bind:
            status = self._timed("Bind", binder.name, binder.bind, state, pod, node)
            if status.code == Code.SKIP:
                continue
            if not status.ok:
                self.forget(state, pod, node)
                return status.with_plugin(binder.name)
            return Status.success()
        self.forget(state, pod, node)
        return Status.error("no Bind plugin bound the pod")

    # -- one pod ----------------------------------------------------------------------------------
    def schedule_one(self, pod: PodInfo, *, bind: bool = True) -> ScheduleResult:
        """One full cycle for a lone pod (see the module docstring)."""
        snapshot = self.handle.cache.snapshot()
        state = CycleState()
        known = self.filter_memo.get(pod, snapshot)
        if known is not None and len(known[0]) == 0:
            nodes, diagnosis = known  # a pod of this shape found no node at this generation
        else:
            nodes, diagnosis = self.find_feasible(state, pod, snapshot)
            self.filter_memo.put(pod, snapshot, nodes, diagnosis)
        if len(nodes) == 0:
            if diagnosis.prefilter is not None and diagnosis.prefilter.code == Code.ERROR:
                # an internal error is not a FitError: upstream runs no PostFilter for it
                return ScheduleResult(diagnosis.prefilter, diagnosis=diagnosis)
            result, status = self.post_filter(state, pod, snapshot, diagnosis)
            message = diagnosis.message(snapshot.size)
            return ScheduleResult(
                Status(Code.UNSCHEDULABLE, (message,)),
                diagnosis=diagnosis,
                nominated=result.nominated_node if result is not None else None,
                victims=result.victims if result is not None else (),
            )
        totals = np.zeros(1, dtype=np.int64)
        if len(nodes) > 1:
            totals, status = self.score(state, pod, snapshot, nodes)
            if not status.ok:
                return ScheduleResult(status, diagnosis=diagnosis, feasible=len(nodes))
        chosen = snapshot.node_names[self.select(nodes, totals)]
        status = self.assume(state, pod, chosen)
        if not status.ok:
            return ScheduleResult(status, diagnosis=diagnosis, feasible=len(nodes))
        status, _ = self.permit(state, pod, chosen)
        if status.code == Code.WAIT:
            return ScheduleResult(status, node=chosen, feasible=len(nodes))
        if not status.ok:
            self.forget(state, pod, chosen)
            return ScheduleResult(status, diagnosis=diagnosis, feasible=len(nodes))
        if bind:
            status = self.bind(state, pod, chosen)
            if not status.ok:
                return ScheduleResult(status, feasible=len(nodes))
        return ScheduleResult(Status.success(), node=chosen, feasible=len(nodes))

    def bind_reserved(self, pod: PodInfo) -> Status:
        """Bind a pod that arrived into a reservation (a gang member reserved before it
        existed): its node, resources and devices are already held; PreBind writes its
        claims, Bind binds it. Returns the status; on failure the reservation is released.
        """
        record = self.handle.cache.pods.get(pod.key)
        if record is None or record.node is None:
            return Status.error(f"Pod {pod.key}: no reservation to bind")
        return self.bind(CycleState(), pod, record.node)
