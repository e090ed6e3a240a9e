"""SchedulerExtenders: kube-scheduler's HTTP extenders, as the framework consults them.

kube-scheduler keeps one list of extenders (``sched.Extenders``, shared by all profiles) and
consults it at four places of a pod's cycles (``pkg/scheduler/schedule_one.go`` and
``framework/preemption/preemption.go``, 1.35; docs/extender.md):

1. **filter** — after the in-tree Filter plugins, on the (sampled) feasible nodes, and on the
   nominated node in the nominated-node fast path (``findNodesThatPassExtenders``);
2. **prioritize** — after the in-tree Score plugins, only with two or more feasible nodes;
   each extender's scores become ``score x weight x 10`` added to the node totals
   (``prioritizeNodes``);
3. **preempt** — inside DefaultPreemption, between the dry run and picking the best
   candidate (``callExtenders``);
4. **bind** — in the binding cycle after PreBind: the first interested binder extender binds
   the pod; only if none does do the Bind plugins run (``extendersBinding``).

The framework only knows this protocol (:class:`SchedulerExtenders`); the HTTP client that
implements it lives with the simulator (``simulator.kubescheduler``), so ``scheduler/`` never
speaks HTTP. A ``Framework`` built with extenders runs kube-scheduler's cycle (sampled
filtering, the nominated-node fast path); see :mod:`scheduler.framework.runtime`.

Failures: a non-ignorable extender's failed filter call aborts the attempt with an ERROR
status (retried with backoff, no preemption); prioritize failures are ignored; a failed
preempt call of a non-ignorable extender ends the preemption attempt; a failed bind fails the
binding (Unreserve, retry). Ignorable extenders are skipped when they fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from scheduler.framework.status import Status

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot
    from scheduler.framework.podinfo import PodInfo

__all__ = [
    "EXTENDER_NAME",
    "ExtenderFilterResult",
    "PreemptionVictims",
    "SchedulerExtenders",
]

NodeIds = npt.NDArray[np.intp]

EXTENDER_NAME = "Extender"
"""``framework.ExtenderName``: the pseudo-plugin kube-scheduler counts among a pod's
unschedulable plugins when an extender removed nodes (the pod is then retried on any cluster
event, extenders having no queueing hints)."""


@dataclass(frozen=True, slots=True)
class ExtenderFilterResult:
    """What the extender filter chain left.

    ``nodes`` pass every interested extender, in the last extender's order; ``statuses``
    are the nodes an extender listed as failed (``FailedNodes`` -> UNSCHEDULABLE,
    ``FailedAndUnresolvableNodes`` -> UNSCHEDULABLE_AND_UNRESOLVABLE), by node id; a node an
    extender dropped without listing it gets no status. ``rejected``: some node was removed.
    """

    nodes: NodeIds
    statuses: Mapping[int, Status] = field(default_factory=dict)
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class PreemptionVictims:
    """One preemption candidate as the extenders see it: the victims' pod keys (in the order
    the dry run or the extender listed them) and the PodDisruptionBudget violations."""

    pods: tuple[str, ...]
    pdb_violations: int = 0


class SchedulerExtenders(Protocol):
    """kube-scheduler's extender list (see the module docstring).

    Every method but :meth:`bind` is called from the scheduling loop; :meth:`bind` may be
    called from binding threads, concurrently with the others, and must not touch the
    framework's state.
    """

    @property
    def configured(self) -> bool:
        """At least one extender is configured (``len(sched.Extenders) != 0``): scoring then
        runs even without Score plugins and every interested extender is asked to
        prioritize."""
        ...

    @property
    def has_filters(self) -> bool:
        """``hasExtenderFilters``: some extender has a filter verb."""
        ...

    @property
    def has_prioritizers(self) -> bool:
        """Some extender has a prioritize verb (it counts as scoring in ``hasScoring``)."""
        ...

    def filter(
        self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> tuple[ExtenderFilterResult, Status]:
        """``findNodesThatPassExtenders`` on ``nodes`` (the in-tree survivors, in search
        order). The status is an ERROR naming the extender when a non-ignorable one failed
        (the result is then empty); otherwise SUCCESS."""
        ...

    def prioritize(self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds) -> npt.NDArray[np.int64]:
        """The extenders' share of each node's total (aligned with ``nodes``): every
        interested extender's ``score x weight x 10``, summed; failed calls add nothing."""
        ...

    def preempt(
        self,
        pod: PodInfo,
        snapshot: Snapshot,
        candidates: Mapping[str, PreemptionVictims],
    ) -> tuple[dict[str, PreemptionVictims], Status]:
        """``callExtenders``: the candidates (node name -> victims) the preempting extenders
        keep, in their order; an empty map means no preemption. ERROR when a non-ignorable
        extender failed or kept a node without victims."""
        ...

    def binds(self, pod: PodInfo) -> bool:
        """Whether an extender with a bind verb is interested in ``pod`` (its bind then goes
        to the extenders before any Bind plugin)."""
        ...

    def bind(self, pod: PodInfo, node: str) -> Status:
        """``extendersBinding``: SUCCESS when an extender bound the pod (it created the
        Binding itself), SKIP when none did (only ignorable binders, which failed: the Bind
        plugins bind), ERROR when a non-ignorable binder failed. Thread-safe."""
        ...
