"""The extender's decisions: filter, prioritize and preempt through the framework.

:class:`Decisions` answers the three scheduling-cycle verbs of kube-scheduler's extender
protocol (docs/extender.md) with tessera's framework over the webhook's cache. Callers hold
nothing: each method takes the state's lock.

* **filter** — every feasible node among those given passes (never just one: kube-scheduler's
  own scores still count among them); each rejected node carries the reason of the framework
  plugin that rejected it, in ``FailedNodes`` (preemption may help: ``UNSCHEDULABLE``) or
  ``FailedAndUnresolvableNodes`` (it cannot); a node tessera does not know gets a
  ``FailedNodes`` reason. A gang member passes only its planned node
  (:mod:`scheduler.extender.gangs`). With gang preemption on, a gang whose victims are gone
  is planned first (:mod:`scheduler.extender.evictions`); a lone pod no node takes has the
  PostFilter's victims evicted and fails with ``waiting for N preemption victims to
  terminate`` until they are gone. The same preemption starts when the pod's failed attempt
  (``PodScheduled=False``) is seen in the API — kube-scheduler skips the extenders when no
  node passes its own filters (:meth:`Decisions.pod_changed`).
* **prioritize** — the framework's weighted Score total over the nodes given, scaled to the
  protocol's integer 0..10: the node tessera itself would pick (its tie-break) gets 10, the
  others ``9 * (total - min) / (max - min)`` rounded down (0 when all totals are equal), so
  that an extender weight that leads kube-scheduler's in-tree scores makes kube-scheduler
  pick tessera's node. A planned gang member: 10 for its node, 0 elsewhere. Returned as a
  bare array in the order of the nodes given; nodes scoring 0 are left out (kube-scheduler
  adds nothing for an absent node, as for 0).
* **preempt** — the victims come from the profile's preemption planner (tessera's
  ``Preemption`` plugin: cheapest lower-priority victims, a victim gang whole or not at all),
  run on the candidate nodes kube-scheduler proposes, as ``NodeNameToMetaVictims`` (UIDs).
  kube-scheduler evicts the victims of *one* node it picks among those returned, so a node is
  returned only when every victim gang among its victims lies wholly on it: a victim gang
  is never half evicted. An empty map means no preemption.

Hot path (filter, then prioritize, of the same pod): the request's pod is converted once per
content (its JSON bytes are the cache key); PreFilter + Filter run once over *all* nodes per
pod and cache generation (:class:`_Feasibility`: a per-node verdict array, the statuses, the
CycleState that scoring needs), and each request only indexes it with the node ids it names.
The candidate list arrives decoded once (:class:`~scheduler.extender.candidates.Candidates`,
kept across requests with its node ids), and the replies are written from its pre-encoded
pieces (:mod:`scheduler.extender.replies`; :meth:`Decisions.filter_json`,
:meth:`Decisions.prioritize_json`) — byte for byte what encoding the wire models gives
(:meth:`Decisions.filter`, :meth:`Decisions.prioritize`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from scheduler.api.errors import LoadError
from scheduler.api.pod import Pod
from scheduler.extender import replies
from scheduler.extender.candidates import Candidates
from scheduler.extender.cluster import TemplateMissingError, WebhookCluster
from scheduler.extender.evictions import waiting_message
from scheduler.extender.gangs import GangPlanner, failed_condition
from scheduler.extender.metrics import WebhookMetrics
from scheduler.extender.state import ClusterState
from scheduler.extender.wire import (
    MAX_EXTENDER_PRIORITY,
    ExtenderArgs,
    ExtenderFilterResult,
    ExtenderPreemptionArgs,
    ExtenderPreemptionResult,
    InvalidPayloadError,
    MetaPod,
    MetaVictims,
    NodeList,
    RawObject,
    encode,
)
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import GangPreemptionPlugin, PostFilterResult
from scheduler.framework.podinfo import GangSpecError, PodInfo, gang_of
from scheduler.framework.runtime import Framework
from scheduler.framework.status import Code, Status

__all__ = ["UNKNOWN_NODE", "Decisions"]

log = logging.getLogger(__name__)

UNKNOWN_NODE = "node is not in tessera's cache"
_POD_CACHE_SIZE = 2048


@dataclass(slots=True)
class _Feasibility:
    """PreFilter + Filter of one pod over every node at one cache generation.

    ``verdict[i]`` is -1 when node ``i`` passes, else the index into ``statuses`` of the
    status that rejected it; ``state`` is the cycle state Score needs.
    """

    generation: tuple[int, int]
    verdict: npt.NDArray[np.int32]
    statuses: list[Status]
    messages: list[str]
    state: CycleState
    error: Status | None = None


class Decisions:
    """filter / prioritize / preempt (see the module docstring)."""

    def __init__(
        self,
        state: ClusterState,
        cluster: WebhookCluster,
        framework: Framework,
        planner: GangPlanner,
        metrics: WebhookMetrics,
    ) -> None:
        self.state = state
        self.cluster = cluster
        self.framework = framework
        self.planner = planner
        self.metrics = metrics
        self._pods: OrderedDict[bytes, PodInfo] = OrderedDict()
        self._feasible: OrderedDict[bytes, _Feasibility] = OrderedDict()

    # -- shared ---------------------------------------------------------------------------------
    def pod_info(self, raw: RawObject) -> PodInfo:
        """The request's pod as a PodInfo (cached per pod content, see :meth:`identified`)."""
        return self.identified(raw)[0]

    def identified(self, raw: RawObject) -> tuple[PodInfo, bytes]:
        """The request's pod as a PodInfo, and the key of its content (the raw JSON bytes):
        a pod sent again unchanged is converted once.

        InvalidPayloadError when the pod cannot be read or its gang annotations are wrong.
        """
        key = orjson.dumps(raw)
        found = self._pods.get(key)
        if found is not None:
            self._pods.move_to_end(key)
            return found, key
        try:
            pod = self.state.read_object("Pod", raw)
            assert isinstance(pod, Pod)
            info = self.planner.info(pod)
        except (LoadError, GangSpecError) as err:
            raise InvalidPayloadError("ExtenderArgs", str(err), ("Pod",)) from err
        self._pods[key] = info
        if len(self._pods) > _POD_CACHE_SIZE:
            self._pods.popitem(last=False)
        return info, key

    def _gang_member(self, info: PodInfo) -> bool:
        return info.gang is not None and info.gang.size > 1 and bool(self.framework.points.gang)

    def feasibility(self, info: PodInfo, key: bytes | None = None) -> _Feasibility:
        """PreFilter + Filter over all nodes, cached per pod content ``key`` and cache
        generation."""
        cache = self.state.cache
        generation = (cache.cache_id, cache.generation)
        if key is not None:
            found = self._feasible.get(key)
            if found is not None and found.generation == generation:
                return found
        snapshot = cache.snapshot()
        state = CycleState()
        _, diagnosis = self.framework.find_feasible(state, info, snapshot)
        verdict = np.full(snapshot.size, -1, dtype=np.int32)
        statuses: list[Status] = []
        error: Status | None = None
        if diagnosis.prefilter is not None:
            if diagnosis.prefilter.code == Code.ERROR:
                error = diagnosis.prefilter
            statuses.append(diagnosis.prefilter)
            verdict[:] = 0
        else:
            for status, nodes in diagnosis.groups:
                verdict[nodes] = len(statuses)
                statuses.append(status)
        result = _Feasibility(
            generation,
            verdict,
            statuses,
            [_reason(s) for s in statuses],
            state,
            error,
        )
        if key is not None:
            self._feasible[key] = result
            if len(self._feasible) > 64:
                self._feasible.popitem(last=False)
        return result

    # -- filter ---------------------------------------------------------------------------------
    def filter(
        self, args: ExtenderArgs, candidates: Candidates | None = None
    ) -> ExtenderFilterResult:
        """The filter verb (see the module docstring), as a wire model. ``candidates`` are
        the request's candidate names when the caller has them decoded already."""
        if candidates is None:
            candidates = Candidates(args.candidate_names())
        decided = self._filter_decide(args, candidates)
        if isinstance(decided, ExtenderFilterResult):
            return decided
        return self._filter_result(args, candidates, decided)

    def filter_json(self, args: ExtenderArgs, candidates: Candidates) -> tuple[bytes, bool]:
        """The filter verb's reply as JSON bytes (exactly ``encode(self.filter(args))``),
        and whether it carries an ``Error``. A node-name request over distinct names is
        written from the candidates' pieces (:func:`~scheduler.extender.replies.filter_json`)."""
        decided = self._filter_decide(args, candidates)
        if isinstance(decided, ExtenderFilterResult):
            return encode(decided), bool(decided.error)
        if not _names_form(args) or not candidates.unique:
            return encode(self._filter_result(args, candidates, decided)), False
        verdict, feasible = decided
        body, counts = replies.filter_json(
            candidates,
            verdict,
            feasible.messages,
            [s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in feasible.statuses],
            UNKNOWN_NODE,
        )
        self._count(*counts)
        return body, False

    def _filter_decide(
        self, args: ExtenderArgs, candidates: Candidates
    ) -> ExtenderFilterResult | tuple[npt.NDArray[np.int32], _Feasibility]:
        """A complete reply (an error, a gang member, a pod waiting for its victims), or the
        verdict of each candidate position (:data:`~scheduler.extender.replies.PASSED`,
        :data:`~scheduler.extender.replies.UNKNOWN`, else the index of its status in the
        feasibility) with the feasibility."""
        assert args.pod is not None
        with self.state.lock:
            info, key = self.identified(args.pod)
            self.planner.plan_preempted()
            if self._gang_member(info):
                node, status = self.planner.filter_member(info)
                return self._gang_filter(args, list(candidates.names), info, node, status)
            preemptions = self.planner.preemptions
            if preemptions is not None:
                left = preemptions.waiting(info.key)
                if left:
                    return self._lone_waiting(
                        args, list(candidates.names), Status.unschedulable(waiting_message(left))
                    )
            feasible = self.feasibility(info, key)
            if feasible.error is not None:
                return ExtenderFilterResult(error=_reason(feasible.error))
            if preemptions is not None and not bool((feasible.verdict == -1).any()):
                started = self._preempt_lone(info)
                if started is not None:
                    return self._lone_waiting(args, list(candidates.names), started)
            ids = candidates.ids(self.state.cache)
            known = ids >= 0
            if bool(known.all()):
                verdict = feasible.verdict[ids]
            else:
                verdict = np.full(len(ids), replies.UNKNOWN, dtype=np.int32)
                verdict[known] = feasible.verdict[ids[known]]
        return verdict, feasible

    def _filter_result(
        self,
        args: ExtenderArgs,
        candidates: Candidates,
        decided: tuple[npt.NDArray[np.int32], _Feasibility],
    ) -> ExtenderFilterResult:
        """The reply of per-position verdicts as a wire model (the reference form)."""
        verdict, feasible = decided
        names = candidates.names
        passed = verdict == replies.PASSED
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        for code in np.unique(verdict[~passed]).tolist():
            positions = np.flatnonzero(verdict == code).tolist()
            if code == replies.UNKNOWN:
                message, target = UNKNOWN_NODE, failed
            else:
                status = feasible.statuses[code]
                message = feasible.messages[code]
                target = (
                    unresolvable if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE else failed
                )
            for p in positions:
                target[names[p]] = message
        kept = [names[p] for p in np.flatnonzero(passed).tolist()]
        self._count(len(kept), len(failed), len(unresolvable))
        return _filter_reply(args, kept, failed, unresolvable)

    def _lone_waiting(
        self, args: ExtenderArgs, names: list[str], status: Status
    ) -> ExtenderFilterResult:
        """Every node fails with ``status`` (a lone pod waiting for its victims)."""
        message = _reason(status)
        failed = dict.fromkeys(names, message)
        self._count(0, len(failed), 0)
        return _filter_reply(args, [], failed, {})

    def _preempt_lone(self, info: PodInfo) -> Status | None:
        """A lone pod that fits on no node: the profile's PostFilter (tessera's Preemption
        plugin, as the native scheduler runs it) chooses victims over the whole cluster, and
        :class:`~scheduler.extender.evictions.GangPreemptions` evicts them. The filter
        status while they terminate, or None when preemption cannot help (or the pod fits
        somewhere). Under the state's lock."""
        preemptions = self.planner.preemptions
        if preemptions is None:
            return None
        snapshot = self.state.cache.snapshot()
        state = CycleState()
        self.cluster.take_evicted()
        try:
            fits, diagnosis = self.framework.find_feasible(state, info, snapshot)
            if len(fits):
                return None
            result, status = self.framework.post_filter(state, info, snapshot, diagnosis)
        except TemplateMissingError:
            return None
        finally:
            self.cluster.take_evicted()  # the dry run's record: result.victims has them
        if not status.ok or result is None or not result.victims:
            return None
        return preemptions.start(info, result.victims)

    # -- failed attempts (StateListener, with preemption on) ------------------------------------
    def pod_changed(self, key: str, old: Pod | None, new: Pod | None) -> None:
        """A pending pod newly marked ``PodScheduled=False`` (``Unschedulable``): preempt
        for it (a gang: its cycle; a lone pod: the PostFilter). kube-scheduler calls the
        extender only with the nodes its own filters pass, and DynamicResources rejects every
        node whose devices are all taken, so a pod that only preemption can place fails
        without a filter request: the failure written to the API is what the webhook sees."""
        if new is None or new.spec.node_name or self.planner.preemptions is None:
            return
        condition = failed_condition(new)
        if condition is None or condition == failed_condition(old):
            return
        if new.spec.preemption_policy == "Never":
            return
        try:
            info = self.planner.info(new)
        except GangSpecError:
            return
        if self._gang_member(info):
            self.planner.preempt_failed(info)
        elif info.key not in self.planner.preemptions.gangs:  # not already preempting
            self._preempt_lone(info)

    def claim_changed(self, key: str, claim: object) -> None:
        """Claims need nothing here."""

    def _gang_filter(
        self,
        args: ExtenderArgs,
        names: list[str],
        info: PodInfo,
        node: str | None,
        status: Status,
    ) -> ExtenderFilterResult:
        gang = info.gang
        assert gang is not None
        if status.code == Code.ERROR:
            return ExtenderFilterResult(error=_reason(status))
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        if node is None:
            target = failed if status.code == Code.UNSCHEDULABLE else unresolvable
            message = f"gang {gang.key}: {_reason(status)}"
            for name in names:
                target[name] = message
            self._count(0, len(failed), len(unresolvable))
            return _filter_reply(args, [], failed, unresolvable)
        if node in names:
            message = f"gang {gang.key}: member {info.key} is planned on node {node}"
        else:
            message = (
                f"gang {gang.key}: member {info.key} is planned on node {node}, which is not "
                "among the candidates"
            )
        kept = [name for name in names if name == node][:1]
        for name in names:
            if name != node:
                unresolvable[name] = message
        self._count(len(kept), 0, len(unresolvable))
        return _filter_reply(args, kept, failed, unresolvable)

    def _count(self, passed: int, failed: int, unresolvable: int) -> None:
        nodes = self.metrics.filter_nodes
        nodes.labels(result="passed").inc(passed)
        nodes.labels(result="failed").inc(failed)
        nodes.labels(result="unresolvable").inc(unresolvable)

    # -- prioritize -----------------------------------------------------------------------------
    def prioritize(
        self, args: ExtenderArgs, candidates: Candidates | None = None
    ) -> list[dict[str, Any]]:
        """The prioritize verb (see the module docstring), as the wire's bare array of
        ``{"Host", "Score"}`` objects."""
        if candidates is None:
            candidates = Candidates(args.candidate_names())
        scores = self._scores(args, candidates)
        return _priorities(candidates.names, scores.tolist())

    def prioritize_json(self, args: ExtenderArgs, candidates: Candidates) -> bytes:
        """The prioritize reply as JSON bytes (exactly ``orjson.dumps(self.prioritize(args))``),
        written from the candidates' pieces."""
        return replies.priorities_json(candidates, self._scores(args, candidates))

    def _scores(self, args: ExtenderArgs, candidates: Candidates) -> npt.NDArray[np.int64]:
        """The 0..10 score of each candidate position."""
        assert args.pod is not None
        names = candidates.names
        with self.state.lock:
            info, key = self.identified(args.pod)
            if self._gang_member(info):
                found = self.planner.member(info.key)
                planned = found[1].node if found is not None else None
                return np.array(
                    [MAX_EXTENDER_PRIORITY if n == planned else 0 for n in names], dtype=np.int64
                )
            ids = candidates.ids(self.state.cache)
            feasible = self.feasibility(info, key)
            usable = np.zeros(len(names), dtype=bool)
            known = ids >= 0
            usable[known] = feasible.verdict[ids[known]] == -1
            out = np.zeros(len(names), dtype=np.int64)
            positions = np.flatnonzero(usable)
            nodes = ids[positions]
            if feasible.error is None and len(nodes):
                snapshot = self.state.cache.snapshot()
                totals, status = self.framework.score(feasible.state, info, snapshot, nodes)
                if status.ok:
                    out[positions] = _scale(self.framework, nodes, totals)
        return out

    # -- preempt --------------------------------------------------------------------------------
    def preempt(self, args: ExtenderPreemptionArgs) -> ExtenderPreemptionResult:
        """The preempt verb (see the module docstring)."""
        assert args.pod is not None
        proposals = _proposals(args)
        with self.state.lock:
            info = self.pod_info(args.pod)
            cache = self.state.cache
            candidates = np.array(
                sorted({cache.node_index[n] for n in proposals if n in cache.node_index}),
                dtype=np.intp,
            )
            if len(candidates) == 0:
                return self._no_preemption()
            snapshot = cache.snapshot()
            self.cluster.take_evicted()
            result: PostFilterResult | None = None
            status = Status.unschedulable("no preemption plugin")
            try:
                if self._gang_member(info):
                    members = self.planner.members_of(info)
                    infos = (
                        [self.planner.info(p) for p in [*members.pending, *members.standins]]
                        if members is not None and members.waiting is None
                        else []
                    )
                    for plugin in self.framework.points.post_filter:
                        if isinstance(plugin, GangPreemptionPlugin) and infos:
                            result, status = plugin.preempt_gang(CycleState(), infos, snapshot)
                            if status.ok:
                                break
                else:
                    state = CycleState()
                    fits, diagnosis = self.framework.find_feasible(
                        state, info, snapshot, candidates
                    )
                    if len(fits) == 0:
                        result, status = self.framework.post_filter(
                            state, info, snapshot, diagnosis
                        )
            finally:
                self.cluster.take_evicted()
            if not status.ok or result is None or not result.victims:
                return self._no_preemption()
            reply = self._gang_safe(result.victims, proposals)
        self.metrics.preemptions.labels(result="victims" if reply else "none").inc()
        return ExtenderPreemptionResult(node_name_to_meta_victims=reply)

    def _no_preemption(self) -> ExtenderPreemptionResult:
        self.metrics.preemptions.labels(result="none").inc()
        return ExtenderPreemptionResult(node_name_to_meta_victims={})

    def _gang_safe(
        self, victims: Sequence[str], proposals: Mapping[str, int]
    ) -> dict[str, MetaVictims]:
        """The planner's victims grouped by node, keeping only nodes whose victims contain
        every member of each victim gang (kube-scheduler evicts one node's victims)."""
        cache = self.state.cache
        by_node: dict[str, list[str]] = {}
        for key in victims:
            record = cache.pods.get(key)
            if record is not None and record.node is not None:
                by_node.setdefault(record.node, []).append(key)
        running: dict[str, set[str]] = {}
        for record in cache.pods.values():
            if record.node is None or record.assumed:
                continue
            try:
                gang = gang_of(record.pod, cache.pod_groups)
            except GangSpecError:
                continue
            if gang is not None and gang.size > 1:
                running.setdefault(gang.key, set()).add(record.key)
        out: dict[str, MetaVictims] = {}
        for node, keys in by_node.items():
            chosen = set(keys)
            whole = True
            for key in keys:
                try:
                    gang = gang_of(cache.pods[key].pod, cache.pod_groups)
                except GangSpecError:
                    gang = None
                if gang is not None and not running.get(gang.key, set()) <= chosen:
                    whole = False
                    break
            if not whole:
                continue
            uids = [cache.pods[k].pod.metadata.uid or "" for k in sorted(keys)]
            if not all(uids):
                continue
            out[node] = MetaVictims(
                pods=tuple(MetaPod(uid=u) for u in uids),
                num_pdb_violations=proposals.get(node, 0),
            )
        return out


def _reason(status: Status) -> str:
    """A status as one reason line (its plugin's reasons)."""
    return status.message() or f"rejected by {status.plugin or 'the framework'}"


def _scale(
    framework: Framework, nodes: npt.NDArray[np.intp], totals: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Totals as 0..10: the node the framework would select gets 10, the others
    ``9 * (total - min) / (max - min)`` rounded down (0 when all totals are equal)."""
    low = int(totals.min())
    high = int(totals.max())
    if high > low:
        scaled = (totals - low) * (MAX_EXTENDER_PRIORITY - 1) // (high - low)
    else:
        scaled = np.zeros(len(totals), dtype=np.int64)
    best = framework.select(nodes, totals)
    scaled[np.flatnonzero(nodes == best)[:1]] = MAX_EXTENDER_PRIORITY
    return scaled.astype(np.int64)


def _priorities(names: Sequence[str], scores: Sequence[int]) -> list[dict[str, Any]]:
    """A ``HostPriorityList`` in wire form, built directly (thousands of entries per call).
    Nodes scoring 0 are left out: kube-scheduler adds nothing for a node the reply does not
    list, exactly as for a 0 — and the reply is often a fraction of the size."""
    return [{"Host": n, "Score": s} for n, s in zip(names, scores, strict=True) if s]


def _filter_reply(
    args: ExtenderArgs, kept: list[str], failed: dict[str, str], unresolvable: dict[str, str]
) -> ExtenderFilterResult:
    """The filter reply in the request's form: ``NodeNames`` (node-cache mode), else the
    kept items of ``Nodes``."""
    if _names_form(args):
        return ExtenderFilterResult.model_construct(
            nodes=None,
            node_names=tuple(kept),
            failed_nodes=failed,
            failed_and_unresolvable_nodes=unresolvable,
            error="",
        )
    assert args.nodes is not None
    wanted = set(kept)
    items = tuple(item for item in args.nodes.items if _item_name(item) in wanted)
    return ExtenderFilterResult.model_construct(
        nodes=NodeList.model_construct(
            kind=args.nodes.kind,
            api_version=args.nodes.api_version,
            metadata=args.nodes.metadata,
            items=items,
        ),
        node_names=None,
        failed_nodes=failed,
        failed_and_unresolvable_nodes=unresolvable,
        error="",
    )


def _names_form(args: ExtenderArgs) -> bool:
    """Whether the filter reply is in node-name form (see :func:`_filter_reply`)."""
    return args.node_names is not None or args.nodes is None


def _item_name(item: dict[str, Any]) -> str:
    meta = item.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _proposals(args: ExtenderPreemptionArgs) -> dict[str, int]:
    """Node -> NumPDBViolations of kube-scheduler's candidate nodes."""
    if args.node_name_to_meta_victims is not None:
        return {n: v.num_pdb_violations for n, v in args.node_name_to_meta_victims.items()}
    return {n: v.num_pdb_violations for n, v in (args.node_name_to_victims or {}).items()}
