"""DefaultPreemption: kube-scheduler 1.35's PostFilter preemption, for one pod.

What a stock cluster does when a pod fits nowhere (docs/semantics/defaultpreemption.md, after
upstream ``pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go`` and
``pkg/scheduler/framework/preemption/preemption.go``). tessera's own ``Preemption`` plugin
(victim planning with CP-SAT, whole gangs, serving/batch) is a different policy.

Algorithm overview of :meth:`DefaultPreemption.post_filter`:

1. **Eligibility** (``PodEligibleToPreemptOthers``): a pod with ``preemptionPolicy: Never``
   does not preempt; nor does a pod whose ``status.nominatedNodeName`` names a node, not
   rejected as UNSCHEDULABLE_AND_UNRESOLVABLE this cycle, on which a lower-priority pod is
   still terminating from an earlier preemption.
2. **Potential nodes** (``nodesWherePreemptionMightHelp``): those this cycle's filters
   rejected as UNSCHEDULABLE (:meth:`Diagnosis.might_help`).
3. **Dry run** (``DryRunPreemption``): from a random offset, round the potential nodes until
   ``numCandidates`` of them are candidates (10 % of them but at least 100, at most all;
   ``calculateNumCandidates``). On each node (``SelectVictimsOnNode``): remove every pod of
   lower priority and run the profile's PreFilter + Filter on that node alone, over a
   what-if snapshot (:func:`scheduler.cluster.whatif.without`); if the pod still does not
   fit, the node is no candidate and keeps the filter's status. Otherwise add the removed
   pods back one at a time, most important first (higher priority, then earlier start),
   keeping each whose return still lets the pod fit (the *reprieve*); the others are the
   node's victims.
4. **Pick one** (``pickOneNodeForPreemption``): fewest PDB violations, then the lowest
   highest-victim priority, then the smallest sum of (priority + 2^31), then the fewest
   victims, then the latest "earliest start among the highest-priority victims", then the
   first in dry-run order.
5. **Prepare** (``prepareCandidate``): evict the victims through the backend and nominate
   the node (``PostFilterResult.nominated_node``); the pod is retried.

With kube-scheduler's HTTP extenders (``Handle.extenders``), step 4 is preceded by
``callExtenders`` (:meth:`DefaultPreemption.call_extenders`): preempting extenders may drop
candidates or change their victims; none left means "no candidate node for preemption".

Not modelled, because tessera has no such objects: PodDisruptionBudgets (every victim counts
as non-violating), pods nominated by earlier cycles, waiting (Permit) pods — pods assumed
but not bound are never victims.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from scheduler.api.pod import Pod
from scheduler.cluster.snapshot import Snapshot
from scheduler.cluster.whatif import without
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.extenders import EXTENDER_NAME, PreemptionVictims
from scheduler.framework.interfaces import Diagnosis, Handle, NodeIds, PostFilterResult
from scheduler.framework.podinfo import PodInfo, pod_priority
from scheduler.framework.status import Code, Status
from scheduler.plugins.helper.args import PluginArgs, parse_args
from scheduler.plugins.helper.starttime import start_time

__all__ = [
    "NOT_HELPFUL",
    "NO_VICTIMS",
    "PLUGINS",
    "Candidate",
    "DefaultPreemption",
    "DefaultPreemptionArgs",
    "Victim",
    "num_candidates",
    "pick_one_node",
    "start_time",
]

NO_VICTIMS = "No preemption victims found for incoming pod"
"""SelectVictimsOnNode's UNSCHEDULABLE_AND_UNRESOLVABLE status: no lower-priority pod."""
NOT_HELPFUL = "Preemption is not helpful for scheduling"
"""The status of the nodes the dry run did not try (in the "no candidate" message)."""
_PRIORITY_SHIFT = 2**31  # MaxInt32 + 1: makes every priority positive in the sum criterion


class DefaultPreemptionArgs(PluginArgs):
    """Args of DefaultPreemption (kube-scheduler's ``DefaultPreemptionArgs``, plus a seed)."""

    min_candidate_nodes_percentage: int = Field(
        default=10,
        ge=0,
        le=100,
        alias="minCandidateNodesPercentage",
        description="Candidates wanted from the dry run, as a percentage of the potential nodes.",
    )
    min_candidate_nodes_absolute: int = Field(
        default=100,
        ge=0,
        alias="minCandidateNodesAbsolute",
        description="At least this many candidates are wanted (at most all potential nodes).",
    )
    seed: int = Field(
        default=0,
        description=(
            "tessera's: seed of the dry run's random starting offset (kube-scheduler draws it "
            "from Go's global random source)."
        ),
    )

    @model_validator(mode="after")
    def _not_both_zero(self) -> DefaultPreemptionArgs:
        if self.min_candidate_nodes_percentage == 0 and self.min_candidate_nodes_absolute == 0:
            raise ValueError(
                "minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be zero"
            )
        return self


@dataclass(frozen=True, slots=True)
class Victim:
    """A pod to preempt: its key, priority, and start time (seconds; see :func:`start_time`)."""

    key: str
    priority: int
    start: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node the pod fits on once ``victims`` (most important first) are gone."""

    node: int
    name: str
    victims: tuple[Victim, ...]
    pdb_violations: int = 0


def num_candidates(potential: int, percentage: int, absolute: int) -> int:
    """``calculateNumCandidates``: ``potential × percentage / 100`` (integer), at least
    ``absolute``, at most ``potential``."""
    return min(max(potential * percentage // 100, absolute), potential)


def _earliest_top_start(candidate: Candidate) -> float:
    """``GetEarliestPodStartTime``: the earliest start among the highest-priority victims."""
    top = max(v.priority for v in candidate.victims)
    return min(v.start for v in candidate.victims if v.priority == top)


_CRITERIA: tuple[Callable[[Candidate], float], ...] = (
    lambda c: -c.pdb_violations,
    lambda c: -c.victims[0].priority,
    lambda c: -sum(v.priority + _PRIORITY_SHIFT for v in c.victims),
    lambda c: -len(c.victims),
    _earliest_top_start,
)


def pick_one_node(candidates: Sequence[Candidate]) -> Candidate:
    """``pickOneNodeForPreemption``: each criterion in turn keeps the candidates with the
    best score (see the module docstring); the first left wins. ``candidates`` non-empty,
    each with victims."""
    left = list(candidates)
    for score in _CRITERIA:
        if len(left) == 1:
            break
        scores = [score(c) for c in left]
        best = max(scores)
        left = [c for c, s in zip(left, scores, strict=True) if s == best]
    return left[0]


def _terminating_by_preemption(pod: Pod) -> bool:
    """``podTerminatingByPreemption``: being deleted, and the first ``DisruptionTarget``
    condition is True with reason ``PreemptionByScheduler``."""
    if pod.metadata.deletion_timestamp is None:
        return False
    for condition in pod.status.conditions:
        if isinstance(condition, Mapping) and condition.get("type") == "DisruptionTarget":
            return bool(
                condition.get("status") == "True"
                and condition.get("reason") == "PreemptionByScheduler"
            )
    return False


def _status_of(diagnosis: Diagnosis, node: int | None) -> Status:
    """A node's status in the diagnosis (``NodeToStatus.Get``): the PreFilter rejection for
    every node, else its group's, else (absent) UNSCHEDULABLE_AND_UNRESOLVABLE."""
    if diagnosis.prefilter is not None:
        return diagnosis.prefilter
    if node is not None:
        for status, nodes in diagnosis.groups:
            if node in nodes:
                return status
    return Status.unresolvable()


def _fit_message(size: int, statuses: Mapping[int, Status]) -> str:
    """The "no candidate" FitError: the dry run's statuses, the nodes it did not try counted
    as :data:`NOT_HELPFUL`."""
    diagnosis = Diagnosis()
    for i, status in statuses.items():
        diagnosis.record(status, np.array([i], dtype=np.intp))
    untried = np.setdiff1d(np.arange(size, dtype=np.intp), np.fromiter(statuses, dtype=np.intp))
    diagnosis.record(Status.unresolvable(NOT_HELPFUL), untried)
    return diagnosis.message(size)


class DefaultPreemption:
    """PostFilter: kube-scheduler's default preemption (see the module docstring)."""

    name = "DefaultPreemption"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = parse_args(self.name, DefaultPreemptionArgs, args)
        self.handle = handle
        self._rng = np.random.default_rng(self.args.seed)

    # -- PostFilter -------------------------------------------------------------------------------
    def post_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis
    ) -> tuple[PostFilterResult | None, Status]:
        """Preempt for ``pod``, which this cycle's filters rejected on every node.

        SUCCESS: the victims were evicted and the result nominates their node. Otherwise
        UNSCHEDULABLE ``preemption: <why>`` with no result (not eligible: a nomination is
        kept) or an empty one (no candidate: a nomination is cleared), or ERROR when trying
        nodes failed and none was a candidate.
        """
        refusal = self.ineligible(pod, snapshot, diagnosis)
        if refusal is not None:
            return None, Status.unschedulable(f"preemption: {refusal}")
        if snapshot.size == 0:
            return None, Status.error("preemption: no nodes available")
        now = self.handle.backend.now()
        candidates, statuses, errors = self.dry_run(
            pod, snapshot, diagnosis.might_help(snapshot.size), now
        )
        if not candidates:
            if errors:
                messages = [e.message() for e in errors]
                text = messages[0] if len(messages) == 1 else f"[{', '.join(messages)}]"
                return None, Status.error(f"preemption: {text}")
            message = _fit_message(snapshot.size, statuses)
            return PostFilterResult(), Status.unschedulable(f"preemption: {message}")
        candidates, status = self.call_extenders(pod, snapshot, candidates, now)
        if not status.ok:
            return None, status
        if not candidates:
            return None, Status.unschedulable("preemption: no candidate node for preemption")
        best = pick_one_node(candidates)
        for victim in best.victims:
            self.handle.backend.evict(victim.key, f"preempted by {pod.key} on node {best.name}")
        victims = tuple(v.key for v in best.victims)
        return PostFilterResult(nominated_node=best.name, victims=victims), Status.success()

    def ineligible(self, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis) -> str | None:
        """Why ``pod`` may not preempt (``PodEligibleToPreemptOthers``), or None."""
        if pod.pod.spec.preemption_policy == "Never":
            return "not eligible due to preemptionPolicy=Never."
        nominated = pod.pod.status.nominated_node_name
        if not nominated:
            return None
        i = snapshot.node_index.get(nominated)
        if _status_of(diagnosis, i).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE or i is None:
            return None
        classes = snapshot.priority_classes
        for record in snapshot.pods_on(nominated).values():
            if pod_priority(record.pod, classes) < pod.priority and _terminating_by_preemption(
                record.pod
            ):
                return "not eligible due to a terminating pod on the nominated node."
        return None

    # -- extenders --------------------------------------------------------------------------------
    def call_extenders(
        self, pod: PodInfo, snapshot: Snapshot, candidates: Sequence[Candidate], now: float
    ) -> tuple[list[Candidate], Status]:
        """``callExtenders``: the candidates kube-scheduler's preempting extenders keep (all of
        them without extenders), with the victims they chose.

        Candidates keep the dry run's order (upstream rebuilds them from a Go map, in random
        order); a node an extender adds comes after, in its reply's order. Victims are in the
        extender's order, as upstream keeps them. ERROR when an extender failed.
        """
        extenders = self.handle.extenders
        if extenders is None or not candidates:
            return list(candidates), Status.success()
        offered = {
            c.name: PreemptionVictims(tuple(v.key for v in c.victims), c.pdb_violations)
            for c in candidates
        }
        kept, status = extenders.preempt(pod, snapshot, offered)
        if not status.ok:
            return [], status.with_plugin(status.plugin or EXTENDER_NAME)
        known = {v.key: v for c in candidates for v in c.victims}
        order = [c.name for c in candidates if c.name in kept]
        order += [name for name in kept if name not in offered]
        out: list[Candidate] = []
        classes = snapshot.priority_classes
        for name in order:
            i = snapshot.node_index.get(name)
            if i is None:
                return [], Status.error(f'preemption: nodeinfo not found for node name "{name}"')
            records = {r.key: r for r in snapshot.pods_on(name).values()}
            victims: list[Victim] = []
            for key in kept[name].pods:
                victim = known.get(key)
                if victim is None:
                    record = records.get(key)
                    if record is None:
                        return [], Status.error(f"preemption: pod {key} is not on node {name}")
                    victim = Victim(key, pod_priority(record.pod, classes), start_time(record, now))
                victims.append(victim)
            out.append(Candidate(i, name, tuple(victims), kept[name].pdb_violations))
        return out, Status.success()

    # -- dry run ----------------------------------------------------------------------------------
    def dry_run(
        self, pod: PodInfo, snapshot: Snapshot, potential: NodeIds, now: float
    ) -> tuple[list[Candidate], dict[int, Status], list[Status]]:
        """``DryRunPreemption`` over ``potential`` from a random offset: the candidates
        (at most ``numCandidates``), the status of each node tried that is no candidate,
        and the ERROR statuses among those.

        Upstream tries nodes in parallel and stops once enough candidates are found; this
        tries them in order and stops at the same condition. (``numCandidates`` 0, possible
        with ``minCandidateNodesAbsolute: 0``, keeps no candidate at all, as upstream.)
        """
        count = len(potential)
        if count == 0:
            return [], {}, []
        offset = int(self._rng.integers(count))
        wanted = num_candidates(
            count, self.args.min_candidate_nodes_percentage, self.args.min_candidate_nodes_absolute
        )
        candidates: list[Candidate] = []
        statuses: dict[int, Status] = {}
        errors: list[Status] = []
        for step in range(count):
            i = int(potential[(offset + step) % count])
            victims, status = self.select_victims(pod, snapshot, i, now)
            if status.ok and victims:
                if len(candidates) < wanted:  # upstream's candidate list holds ``wanted``
                    candidates.append(Candidate(i, snapshot.node_names[i], victims))
                if candidates and len(candidates) >= wanted:
                    break
                continue
            if status.ok:
                name = snapshot.node_names[i]
                status = Status.error(f'expected at least one victim pod on node "{name}"')
            if status.code == Code.ERROR:
                errors.append(status)
            statuses[i] = status
        return candidates, statuses, errors

    def select_victims(
        self, pod: PodInfo, snapshot: Snapshot, node: int, now: float
    ) -> tuple[tuple[Victim, ...], Status]:
        """``SelectVictimsOnNode``: the fewest pods of ``node`` to remove, found greedily (see
        the module docstring), most important first; or the status that rules the node out
        (:data:`NO_VICTIMS`, or the filters' verdict with every lower-priority pod gone)."""
        classes = snapshot.priority_classes
        potential: list[Victim] = []
        for record in snapshot.pods_on(snapshot.node_names[node]).values():
            priority = pod_priority(record.pod, classes)
            if not record.assumed and priority < pod.priority:
                potential.append(Victim(record.key, priority, start_time(record, now)))
        if not potential:
            return (), Status.unresolvable(NO_VICTIMS)
        removed = {v.key for v in potential}
        status = self.fits(pod, without(snapshot, removed), node)
        if not status.ok:
            return (), status
        # MoreImportantPod, descending; a stable sort keeps the node's order among equals
        potential.sort(key=lambda v: (-v.priority, v.start))
        victims: list[Victim] = []
        for victim in potential:
            removed.discard(victim.key)
            if not self.fits(pod, without(snapshot, removed), node).ok:
                removed.add(victim.key)
                victims.append(victim)
        return tuple(victims), Status.success()

    def fits(self, pod: PodInfo, view: Snapshot, node: int) -> Status:
        """The profile's PreFilter + Filter verdict on ``node`` alone in ``view``: SUCCESS,
        or the status that rejected it."""
        ids = np.array([node], dtype=np.intp)
        feasible, diagnosis = self.handle.find_feasible(CycleState(), pod, view, ids)
        if len(feasible):
            return Status.success()
        if diagnosis.prefilter is not None:
            return diagnosis.prefilter
        for status, nodes in diagnosis.groups:
            if node in nodes:
                return status
        return Status.error(f'node "{view.node_names[node]}": rejected without a status')


PLUGINS: dict[str, type] = {DefaultPreemption.name: DefaultPreemption}
