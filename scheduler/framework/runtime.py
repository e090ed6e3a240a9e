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

The runtime times plugin calls (``timings``) in one lone-pod cycle out of
:data:`PLUGIN_METRICS_SAMPLE_EVERY`, as kube-scheduler samples its plugin metrics
(``pluginMetricsSamplePercent = 10`` in kubernetes/kubernetes ``pkg/scheduler/schedule_one.go``;
calls outside :meth:`Framework.schedule_one` are timed whenever the last cycle was), attributes
every status to its plugin, and never imports a plugin module: it receives instances.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.extenders import EXTENDER_NAME, SchedulerExtenders
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
from scheduler.framework.sampling import NodeSampler, zone_key
from scheduler.framework.status import Code, Status

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot
    from scheduler.framework.backend import BackendHandle

Params = ParamSpec("Params")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BindingCycle:
    """What is left of a pod's binding cycle once its scheduling cycle reserved ``node``:
    the cycle's state, the pod and the node (see :meth:`Framework.pre_bind` and
    :meth:`Framework.finish_bind`)."""

    state: CycleState
    pod: PodInfo
    node: str


@dataclass(slots=True)
class ScheduleResult:
    """The outcome of one cycle.

    ``status`` SUCCESS with ``node`` set when the pod was bound (or, with ``bind=False``,
    reserved: ``binding`` then holds what the binding cycle needs); otherwise the failure
    with its ``diagnosis``; ``nominated`` is the node preemption freed for the pod,
    ``victims`` the pods it evicted.
    """

    status: Status
    node: str | None = None
    diagnosis: Diagnosis | None = None
    nominated: str | None = None
    victims: tuple[str, ...] = ()
    feasible: int = 0
    binding: BindingCycle | None = None


PLUGIN_METRICS_SAMPLE_EVERY = 10
"""One lone-pod cycle in this many records :attr:`Framework.timings` (kube-scheduler's 10 %)."""


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
        extenders: SchedulerExtenders | None = None,
        sampler: NodeSampler | None = None,
    ) -> None:
        """Wire ``plugins`` (instances of the plugins ``profile`` enables) into the extension
        points as kube-scheduler does (:func:`~scheduler.framework.plugin_sets.expand_plugins`).

        With ``extenders`` or a ``sampler`` the framework runs kube-scheduler's own cycle
        (:meth:`schedule_one`): sampled filtering (a new :class:`NodeSampler` when only
        extenders are given), the extenders at their points. Without them it evaluates every
        node, as tessera's policies do.

        ValueError naming the profile when the profile enables a plugin missing from
        ``plugins``, enables one at a point it does not implement, registers one twice at a
        point, or runs more than one QueueSort plugin.
        """
        self.profile = profile
        self.handle = handle
        self.extenders = extenders
        self.sampler = sampler if sampler is not None or extenders is None else NodeSampler()
        handle.attach(self)
        self.plugins = list(plugins)
        self.node_rank = node_rank
        self.rng = np.random.default_rng(profile.seed)
        self.filter_memo = FilterMemo()
        """PreFilter + Filter verdicts of the current cache generation, per pod shape."""
        self.timings: dict[tuple[str, str], PluginTiming] = {}
        """Plugin calls timed so far (sampled: see the module docstring)."""
        self._cycles = 0
        self._sampled = True
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
        if not self._sampled:
            return call(*args, **kwargs)
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
        nodes = self._pre_filter(state, pod, snapshot, diagnosis, candidates)
        if nodes is None:
            return np.empty(0, dtype=np.intp), diagnosis
        return self._filter(state, pod, snapshot, nodes, diagnosis), diagnosis

    def _pre_filter(
        self,
        state: CycleState,
        pod: PodInfo,
        snapshot: Snapshot,
        diagnosis: Diagnosis,
        candidates: NodeIds | None = None,
    ) -> NodeIds | None:
        """PreFilter plugins: the candidates they leave (sorted), or None when one rejected
        the pod (``diagnosis.prefilter`` says why)."""
        nodes: NodeIds = (
            np.arange(snapshot.size, dtype=np.intp) if candidates is None else candidates
        )
        for plugin in self.points.pre_filter:
            result, status = (
                self._timed("PreFilter", plugin.name, plugin.pre_filter, state, pod, snapshot)
                if self._sampled
                else plugin.pre_filter(state, pod, snapshot)
            )
            if status.code == Code.SKIP:
                state.skip_filter.add(plugin.name)
                continue
            if not status.ok:
                diagnosis.prefilter = status.with_plugin(plugin.name)
                return None
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
        return nodes

    def _filter(
        self,
        state: CycleState,
        pod: PodInfo,
        snapshot: Snapshot,
        nodes: NodeIds,
        diagnosis: Diagnosis,
    ) -> NodeIds:
        """Filter plugins on ``nodes``: those every plugin accepts. A Filter ERROR sets
        ``diagnosis.prefilter`` and leaves no node."""
        for filter_plugin in self.points.filter:
            name = filter_plugin.name
            if name in state.skip_filter or len(nodes) == 0:
                continue
            verdict = (
                self._timed("Filter", name, filter_plugin.filter, state, pod, snapshot, nodes)
                if self._sampled
                else filter_plugin.filter(state, pod, snapshot, nodes)
            )
            for status, failed in verdict.failures:
                if status.code == Code.ERROR:
                    diagnosis.prefilter = status.with_plugin(name)
                    return np.empty(0, dtype=np.intp)
                diagnosis.record(status.with_plugin(name), nodes[failed])
            nodes = nodes[verdict.passed]
        return nodes

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
            scores = (
                self._timed(
                    "Score", name, _score_and_normalize, scorer, state, pod, snapshot, nodes
                )
                if self._sampled
                else scorer.normalize(state, pod, scorer.score(state, pod, snapshot, nodes))
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
        """The whole binding cycle at once: :meth:`pre_bind`, the extenders' bind when one
        binds the pod (:meth:`extender_bind`, synchronously), then :meth:`finish_bind`. A
        failure unreserves."""
        status = self.pre_bind(state, pod, node)
        if not status.ok:
            return status
        extender = None
        if self.extenders is not None and self.extenders.binds(pod):
            extender = self.extender_bind(pod, node)
        return self.finish_bind(state, pod, node, extender)

    def pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """PreBind plugins (DynamicResources writes the claims' allocations here, before any
        extender or Bind plugin binds); a failure unreserves."""
        for plugin in self.points.pre_bind:
            status = self._timed("PreBind", plugin.name, plugin.pre_bind, state, pod, node)
            if not status.ok:
                self.forget(state, pod, node)
                return status.with_plugin(plugin.name)
        return Status.success()

    def extender_bind(self, pod: PodInfo, node: str) -> Status:
        """``extendersBinding``: the extenders' bind of ``pod`` to ``node`` — SUCCESS when one
        bound it, SKIP when none did (the Bind plugins must), ERROR when a non-ignorable
        binder failed. Touches no framework or cache state, so a caller may run it on a
        binding thread while the scheduling loop goes on; pass the result to
        :meth:`finish_bind` on the scheduling thread."""
        if self.extenders is None:
            return Status.skip()
        return self.extenders.bind(pod, node)

    def finish_bind(
        self, state: CycleState, pod: PodInfo, node: str, extender: Status | None = None
    ) -> Status:
        """The rest of the binding cycle after :meth:`pre_bind`, given what
        :meth:`extender_bind` answered (None: no extender was asked).

        SUCCESS from an extender: it created the Binding, and the pod is recorded as bound in
        the cache (as the informer would report it). SKIP or None: the Bind plugins bind, the
        first that does not SKIP. Any failure unreserves the pod and is returned.
        """
        if extender is not None:
            if extender.code == Code.SUCCESS:
                self.handle.cache.bind_pod(pod.key, at=self.handle.backend.now())
                return Status.success()
            if extender.code != Code.SKIP:
                self.forget(state, pod, node)
                return extender.with_plugin(extender.plugin or EXTENDER_NAME)
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

    # -- kube-scheduler's cycle: sampling and extenders --------------------------------------------
    def find_nodes_that_fit(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[NodeIds, Diagnosis, Status | None]:
        """``findNodesThatFitPod`` (kube-scheduler mode): the feasible nodes in search order,
        the diagnosis, and the ERROR that ended the attempt (None if none did).

        PreFilter; the nominated node first when the pod has ``status.nominatedNodeName``
        (its filters, then the extenders: if it passes, it is the only feasible node); then
        the sampled search (:class:`~scheduler.framework.sampling.NodeSampler`) over the
        candidates in node-tree order, which stops after ``numFeasibleNodesToFind`` feasible
        nodes and advances the start index by the nodes it processed; then the extender
        filter chain on what it found. Only processed nodes get a status.
        """
        sampler = self.sampler
        assert sampler is not None
        diagnosis = Diagnosis()
        candidates = self._pre_filter(state, pod, snapshot, diagnosis)
        if candidates is None:
            prefilter = diagnosis.prefilter
            error = prefilter if prefilter is not None and prefilter.code == Code.ERROR else None
            return np.empty(0, dtype=np.intp), diagnosis, error
        nominated = Diagnosis()
        name = pod.pod.status.nominated_node_name
        tried = snapshot.node_index.get(name) if name else None
        if tried is not None:
            fits = self._filter(state, pod, snapshot, np.array([tried], dtype=np.intp), nominated)
            nominated.prefilter = None  # upstream logs such an error and searches every node
            if len(fits):
                passed, error = self._extender_filter(pod, snapshot, fits, nominated)
                if error is None and len(passed):
                    return passed, diagnosis, None
        order = sampler.tree_order(
            (snapshot.cache_id, snapshot.node_generation),
            lambda: [zone_key(snapshot.labels(i)) for i in range(snapshot.size)],
        )
        if len(candidates) < snapshot.size:
            order = order[np.isin(order, candidates, assume_unique=True)]
        search = sampler.search_order(order)
        extenders = self.extenders
        wanted = sampler.nodes_to_find(
            self.profile.percentage_of_nodes_to_score,
            len(search),
            has_extender_filters=extenders is not None and extenders.has_filters,
            has_scoring=bool(self.points.score)
            or (extenders is not None and extenders.has_prioritizers),
        )
        found = Diagnosis()
        passed_ids = self._filter(state, pod, snapshot, candidates, found)
        if found.prefilter is not None:
            diagnosis.prefilter = found.prefilter
            return np.empty(0, dtype=np.intp), diagnosis, found.prefilter
        result = sampler.cut(search, np.isin(search, passed_ids, assume_unique=True), wanted)
        for status, nodes in found.groups:
            diagnosis.record(status, nodes[np.isin(nodes, result.processed, assume_unique=True)])
        processed = len(result.processed)
        if tried is not None and nominated.groups and tried not in set(result.processed.tolist()):
            for status, nodes in nominated.groups:
                diagnosis.record(status, nodes)
                processed += len(nodes)
        sampler.advance(processed, snapshot.size)
        feasible, error = self._extender_filter(pod, snapshot, result.feasible, diagnosis)
        return feasible, diagnosis, error

    def _extender_filter(
        self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds, diagnosis: Diagnosis
    ) -> tuple[NodeIds, Status | None]:
        """``findNodesThatPassExtenders`` on ``nodes``: the survivors, and the ERROR of a
        non-ignorable extender that failed. Statuses the extenders set are recorded in
        ``diagnosis`` (grouped by status; a node that already has one keeps it)."""
        extenders = self.extenders
        if extenders is None or len(nodes) == 0:
            return nodes, None
        result, status = self._timed(
            "Filter", EXTENDER_NAME, extenders.filter, pod, snapshot, nodes
        )
        if not status.ok:
            return np.empty(0, dtype=np.intp), status.with_plugin(status.plugin or EXTENDER_NAME)
        if result.statuses:
            known = {int(i) for _, ids in diagnosis.groups for i in ids.tolist()}
            grouped: dict[Status, list[int]] = {}
            for i, node_status in result.statuses.items():
                if i not in known:
                    grouped.setdefault(node_status, []).append(i)
            for node_status, ids in grouped.items():
                diagnosis.record(node_status, np.asarray(sorted(ids), dtype=np.intp))
        return result.nodes, None

    def prioritize(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> tuple[npt.NDArray[np.int64], Status]:
        """``prioritizeNodes`` (kube-scheduler mode): every node scores 1 when there is
        neither a Score plugin nor an extender; otherwise PreScore + Score (:meth:`score`)
        plus the extenders' ``score x weight x 10`` per node."""
        extenders = self.extenders
        configured = extenders is not None and extenders.configured
        if not configured and not self.points.score:
            return np.ones(len(nodes), dtype=np.int64), Status.success()
        totals, status = self.score(state, pod, snapshot, nodes)
        if not status.ok or not configured:
            return totals, status
        assert extenders is not None
        extra = self._timed("Score", EXTENDER_NAME, extenders.prioritize, pod, snapshot, nodes)
        return totals + extra, status

    # -- one pod ----------------------------------------------------------------------------------
    def schedule_one(self, pod: PodInfo, *, bind: bool = True) -> ScheduleResult:
        """One full cycle for a lone pod (see the module docstring).

        With ``bind=False`` the cycle stops after Permit: the pod stays assumed and reserved
        on its node and ``ScheduleResult.binding`` holds what :meth:`pre_bind` and
        :meth:`finish_bind` need. In kube-scheduler mode (a sampler or extenders) the
        scheduling cycle is kube-scheduler's ``schedulePod``: :meth:`find_nodes_that_fit`,
        one feasible node taken without scoring, else :meth:`prioritize`.
        """
        self._sampled = self._cycles % PLUGIN_METRICS_SAMPLE_EVERY == 0
        self._cycles += 1
        if self.sampler is not None:
            return self._schedule_kube(pod, bind=bind)
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
            return self._unschedulable(state, pod, snapshot, diagnosis)
        totals = np.zeros(1, dtype=np.int64)
        if len(nodes) > 1:
            totals, status = self.score(state, pod, snapshot, nodes)
            if not status.ok:
                return ScheduleResult(status, diagnosis=diagnosis, feasible=len(nodes))
        chosen = snapshot.node_names[self.select(nodes, totals)]
        return self._reserve_and_bind(state, pod, chosen, diagnosis, len(nodes), bind=bind)

    def _schedule_kube(self, pod: PodInfo, *, bind: bool) -> ScheduleResult:
        snapshot = self.handle.cache.snapshot()
        if snapshot.size == 0:
            return ScheduleResult(Status.error("no nodes available to schedule pods"))
        state = CycleState()
        nodes, diagnosis, error = self.find_nodes_that_fit(state, pod, snapshot)
        if error is not None:
            return ScheduleResult(error, diagnosis=diagnosis)
        if len(nodes) == 0:
            return self._unschedulable(state, pod, snapshot, diagnosis)
        if len(nodes) == 1:
            chosen = snapshot.node_names[int(nodes[0])]
        else:
            totals, status = self.prioritize(state, pod, snapshot, nodes)
            if not status.ok:
                return ScheduleResult(status, diagnosis=diagnosis, feasible=len(nodes))
            chosen = snapshot.node_names[self.select(nodes, totals)]
        return self._reserve_and_bind(state, pod, chosen, diagnosis, len(nodes), bind=bind)

    def _unschedulable(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis
    ) -> ScheduleResult:
        """No feasible node: PostFilter (preemption), then the FitError."""
        result, _ = self.post_filter(state, pod, snapshot, diagnosis)
        message = diagnosis.message(snapshot.size)
        return ScheduleResult(
            Status(Code.UNSCHEDULABLE, (message,)),
            diagnosis=diagnosis,
            nominated=result.nominated_node if result is not None else None,
            victims=result.victims if result is not None else (),
        )

    def _reserve_and_bind(
        self,
        state: CycleState,
        pod: PodInfo,
        chosen: str,
        diagnosis: Diagnosis,
        feasible: int,
        *,
        bind: bool,
    ) -> ScheduleResult:
        """Assume + Reserve, Permit, then the binding cycle (unless ``bind`` is False)."""
        status = self.assume(state, pod, chosen)
        if not status.ok:
            return ScheduleResult(status, diagnosis=diagnosis, feasible=feasible)
        status, _ = self.permit(state, pod, chosen)
        if status.code == Code.WAIT:
            return ScheduleResult(status, node=chosen, feasible=feasible)
        if not status.ok:
            self.forget(state, pod, chosen)
            return ScheduleResult(status, diagnosis=diagnosis, feasible=feasible)
        if not bind:
            return ScheduleResult(
                Status.success(),
                node=chosen,
                feasible=feasible,
                binding=BindingCycle(state, pod, chosen),
            )
        status = self.bind(state, pod, chosen)
        if not status.ok:
            return ScheduleResult(status, feasible=feasible)
        return ScheduleResult(Status.success(), node=chosen, feasible=feasible)

    def bind_reserved(self, pod: PodInfo) -> Status:
        """Bind a pod that arrived into a reservation (a gang member reserved before it
        existed): its node, resources and devices are already held; PreBind writes its
        claims, Bind binds it. Returns the status; on failure the reservation is released.
        """
        record = self.handle.cache.pods.get(pod.key)
        if record is None or record.node is None:
            return Status.error(f"Pod {pod.key}: no reservation to bind")
        return self.bind(CycleState(), pod, record.node)
