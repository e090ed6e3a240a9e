"""One Protocol per extension point (kube-scheduler's framework, vectorised where it pays).

The runtime calls these in kube-scheduler's order: PreEnqueue -> QueueSort -> PreFilter ->
Filter -> PostFilter (when nothing fits) -> PreScore -> Score (+ normalize) -> Reserve ->
Permit -> PreBind -> Bind; Unreserve on any failure after Reserve. GangPlacement is
tessera's extension point: it places a whole gang before its members are reserved.

**Deliberate difference from kube-scheduler:** Filter and Score take the *array of candidate
node ids* and answer for all of them at once (boolean mask / integer scores), instead of one
call per node. In Python this is the difference between a numpy expression and a loop of
thousands of interpreted calls; the semantics per node are unchanged. Plugins whose check is
inherently per node (the exact DRA allocator) loop inside.

Contracts common to all: plugins read the frozen ``Snapshot``; they mutate cluster state
only in Reserve/Unreserve/PreBind/Bind, through the :class:`Handle`; they never call each
other; "does not fit" is a returned Status, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Code, Status

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot
    from scheduler.dra.claims import ClaimAllocation
    from scheduler.framework.backend import BindSink
    from scheduler.framework.extenders import SchedulerExtenders

NodeIds = npt.NDArray[np.intp]
MAX_NODE_SCORE = 100


@dataclass(frozen=True, slots=True)
class FilterResult:
    """One Filter plugin's verdict on the candidate nodes it was given.

    ``passed[i]`` answers for ``nodes[i]``; ``failures`` groups the rejected nodes by status
    (each mask is aligned with ``nodes``), so a diagnosis can say "3,000 nodes: Insufficient
    cpu" without one object per node.
    """

    passed: npt.NDArray[np.bool_]
    failures: tuple[tuple[Status, npt.NDArray[np.bool_]], ...] = ()

    @classmethod
    def all(cls, count: int) -> FilterResult:
        """Every candidate passes."""
        return cls(np.ones(count, dtype=bool))

    @classmethod
    def from_checks(
        cls, checks: Sequence[tuple[Status, npt.NDArray[np.bool_]]], count: int
    ) -> FilterResult:
        """Build from ``(status, failed_mask)`` pairs; a node fails with the first that hits it."""
        passed = np.ones(count, dtype=bool)
        failures: list[tuple[Status, npt.NDArray[np.bool_]]] = []
        for status, failed in checks:
            fresh = failed & passed
            if fresh.any():
                failures.append((status, fresh))
                passed &= ~failed
        return cls(passed, tuple(failures))


@dataclass(frozen=True, slots=True)
class PreFilterResult:
    """Optional narrowing from PreFilter: only these node ids can possibly fit (None = all)."""

    nodes: NodeIds | None = None


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    """PostFilter's answer: the node nominated for the pod after preemption, and the victims."""

    nominated_node: str | None = None
    victims: tuple[str, ...] = ()


@dataclass(slots=True)
class Diagnosis:
    """Why nodes were rejected in one PreFilter + Filter pass.

    ``groups`` holds each (plugin-tagged) status with the dense node ids it rejected; a node
    is in at most one group, that of the first plugin that rejected it (kube-scheduler's
    ``NodeToStatus``). ``prefilter`` is a PreFilter rejection, or a Filter ERROR, that ended
    the pass for every node. Read for kube-scheduler's FitError message, by preemption
    (:meth:`might_help`) and by the extender (per-node reasons).
    """

    groups: list[tuple[Status, NodeIds]] = field(default_factory=list)
    prefilter: Status | None = None

    def record(self, status: Status, nodes: NodeIds) -> None:
        """Note that ``status`` (tagged with its plugin) rejected ``nodes``."""
        if len(nodes):
            self.groups.append((status, nodes))

    @property
    def failed(self) -> dict[tuple[str, str, int], int]:
        """Rejected node counts per (plugin, reason, code), one entry per reason."""
        out: dict[tuple[str, str, int], int] = {}
        for status, nodes in self.groups:
            for reason in status.reasons or ("",):
                key = (status.plugin, reason, int(status.code))
                out[key] = out.get(key, 0) + len(nodes)
        return out

    def message(self, total: int) -> str:
        """kube-scheduler's ``0/N nodes are available: …`` sentence (FitError.Error).

        Counts are summed per reason text across plugins; the ``"<count> <reason>"`` strings
        are sorted, as upstream sorts them.
        """
        if self.prefilter is not None and not self.prefilter.ok:
            return f"0/{total} nodes are available: {self.prefilter.message()}."
        counts: dict[str, int] = {}
        for (_, reason, _), count in self.failed.items():
            counts[reason] = counts.get(reason, 0) + count
        parts = sorted(f"{count} {reason}" for reason, count in counts.items())
        return f"0/{total} nodes are available: " + ", ".join(parts) + "."

    @property
    def resolvable(self) -> bool:
        """Whether some node failed only for a reason preemption could fix."""
        if self.prefilter is not None:
            return self.prefilter.code == Code.UNSCHEDULABLE
        return any(status.code == Code.UNSCHEDULABLE for status, _ in self.groups)

    def might_help(self, size: int) -> NodeIds:
        """Nodes where removing pods might let the pod fit: those rejected as UNSCHEDULABLE
        (kube-scheduler's ``nodesWherePreemptionMightHelp``). A PreFilter UNSCHEDULABLE
        rejection leaves every node; UNSCHEDULABLE_AND_UNRESOLVABLE or ERROR leaves none."""
        if self.prefilter is not None:
            if self.prefilter.code == Code.UNSCHEDULABLE:
                return np.arange(size, dtype=np.intp)
            return np.empty(0, dtype=np.intp)
        found = [nodes for status, nodes in self.groups if status.code == Code.UNSCHEDULABLE]
        if not found:
            return np.empty(0, dtype=np.intp)
        return np.unique(np.concatenate(found)).astype(np.intp)

    def node_statuses(self) -> dict[int, Status]:
        """Each rejected node id with the status that rejected it."""
        return {int(i): status for status, nodes in self.groups for i in nodes.tolist()}


class Handle(Protocol):
    """What plugins may reach besides the snapshot (given to them at construction).

    Narrow on purpose: plugins read the cluster only through a :class:`Snapshot` and change
    it only through these calls, in Reserve/Unreserve/PreBind/Bind/PostFilter.
    """

    @property
    def backend(self) -> BindSink:
        """The bind sink, clock and evictions of the webhook or the simulator."""
        ...

    def snapshot(self) -> Snapshot:
        """The current snapshot (for Reserve, which runs after the cycle's snapshot)."""
        ...

    def assume_claim(self, key: str, allocation: ClaimAllocation) -> None:
        """Hold a claim's devices as in-flight until PreBind writes them (DRA Reserve)."""
        ...

    def forget_claim(self, key: str) -> None:
        """Release what :meth:`assume_claim` held (DRA Unreserve); idempotent."""
        ...

    def find_feasible(
        self,
        state: CycleState,
        pod: PodInfo,
        snapshot: Snapshot,
        candidates: NodeIds | None = None,
    ) -> tuple[NodeIds, Diagnosis]:
        """Run the profile's PreFilter + Filter plugins (what kube-scheduler's framework
        handle offers preemption): the feasible node ids and why the others were rejected."""
        ...

    @property
    def extenders(self) -> SchedulerExtenders | None:
        """kube-scheduler's HTTP extenders (``Handle.Extenders()``), for preemption's
        ``callExtenders``; None when the framework runs without them."""
        ...


@runtime_checkable
class Plugin(Protocol):
    """Every plugin has a stable registry name."""

    name: str


@runtime_checkable
class PreEnqueuePlugin(Plugin, Protocol):
    """Called before a pod enters the active queue; non-success parks it as unschedulable."""

    def pre_enqueue(self, pod: PodInfo) -> Status: ...


@runtime_checkable
class QueueSortPlugin(Plugin, Protocol):
    """Orders the active queue; exactly one per profile."""

    def less(self, a: PodInfo, a_time: float, b: PodInfo, b_time: float) -> bool: ...


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    """Once per cycle before Filter: precompute into CycleState, optionally narrow nodes.

    Returning a rejected status stops the cycle (the pod fits nowhere); SKIP disables this
    plugin's Filter for the cycle.
    """

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    """Which of ``nodes`` can run the pod. Called with the nodes still feasible, in order."""

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult: ...


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    """When no node passed Filter: try to make room (preemption). Success nominates a node."""

    def post_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis
    ) -> tuple[PostFilterResult | None, Status]: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    """Once per cycle before Score, with the feasible nodes; SKIP disables this plugin's Score."""

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    """Integer scores for the feasible nodes (aligned with ``nodes``).

    Scores are 0..100 after :meth:`normalize`; the runtime multiplies by the profile weight
    and sums. Plugins without a meaningful normalisation return the scores unchanged.
    """

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]: ...

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]: ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    """Hold what the pod will use on ``node`` (assume into the cache); undo in unreserve.

    ``unreserve`` must be idempotent and must not fail: it runs for every Reserve plugin,
    in reverse order, whenever the cycle fails after Reserve started.
    """

    def reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None: ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    """Allow, deny or hold (WAIT, with a timeout in seconds) the binding."""

    def permit(self, state: CycleState, pod: PodInfo, node: str) -> tuple[Status, float]: ...


@runtime_checkable
class PreBindPlugin(Plugin, Protocol):
    """Before binding: write what the pod needs (claim allocations, reservations)."""

    def pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status: ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    """Bind the pod; SKIP passes to the next bind plugin."""

    def bind(self, state: CycleState, pod: PodInfo, node: str) -> Status: ...


@dataclass(frozen=True, slots=True)
class GangPlan:
    """Where every member of a gang goes. ``assignments[i]`` is member i's node; members
    not yet created (LWS workers) are placeholders keyed by index."""

    assignments: tuple[tuple[str, str], ...]
    level: str | None = None
    domain: str | None = None
    optimal: bool | None = None
    victims: tuple[str, ...] = ()


@runtime_checkable
class GangPlacementPlugin(Plugin, Protocol):
    """tessera's extension point: place a whole gang at once.

    ``members`` are the gang's known pods plus stand-ins for members not created yet (same
    spec as a known member of the same role). Returns a plan, or a rejected status whose
    reasons name the topology level and the shortfall.
    """

    def place_gang(
        self,
        state: CycleState,
        members: Sequence[PodInfo],
        snapshot: Snapshot,
        feasible: Sequence[NodeIds],
    ) -> tuple[GangPlan | None, Status]: ...


@runtime_checkable
class GangPreemptionPlugin(Plugin, Protocol):
    """Make room for a whole gang that fits nowhere (called by the gang cycle on failure).

    Success evicts the victims (through the backend) and names them; the gang retries once
    they are gone. Rejection says why no victim set helps.
    """

    def preempt_gang(
        self, state: CycleState, members: Sequence[PodInfo], snapshot: Snapshot
    ) -> tuple[PostFilterResult | None, Status]: ...
