"""Preemption: make room for serving work by evicting the cheapest lower-priority victims.

PostFilter for a lone pod, and :meth:`Preemption.preempt_gang` for a whole gang, when
nothing fits. The solver's preemption planner (:func:`scheduler.solver.solve.solve_preemption`)
chooses victims among running pods of *lower priority* so that the preemptor's pods fit in
one domain of their required level, at minimum cost: per evicted pod, by priority rank,
work lost since the pod started, per batch gang broken, fragmentation created. A victim
gang is evicted whole or not at all (never half a gang). By tessera's convention only
serving work preempts (``batchMayPreempt`` turns that off); pods with ``preemptionPolicy:
Never`` do not preempt.

Candidate nodes are those the preemptor could use if room were made: schedulable,
tolerated taints, matching node affinity. The victims are evicted through the backend and
the first pod's node is nominated, as kube-scheduler's DefaultPreemption does; the
preemptor retries once the victims are gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scheduler.api.selectors import pod_matches_node_affinity
from scheduler.api.taints import find_untolerated
from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import Diagnosis, Handle, PostFilterResult
from scheduler.framework.podinfo import PodInfo, gang_of, pod_priority
from scheduler.framework.status import Status
from scheduler.plugins.dynamicresources import pod_claim_keys
from scheduler.plugins.solvertable import TableBuilder
from scheduler.solver.config import SolverConfig
from scheduler.solver.instance import PreemptionInstance, Victim
from scheduler.solver.solve import solve_preemption
from scheduler.topology.domains import DEFAULT_LEVELS

_UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


class PreemptionArgs(BaseModel):
    """Arguments of the Preemption plugin."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    batch_may_preempt: bool = Field(
        default=False, alias="batchMayPreempt", description="Let batch pods preempt too."
    )
    levels: tuple[str, ...] = Field(
        default=DEFAULT_LEVELS, description="Topology level label keys, coarse to fine."
    )
    solver: SolverConfig = Field(
        default_factory=lambda: SolverConfig(time_limit_s=0.15),
        description="Solver limits (planning over thousands of victims needs ~150 ms).",
    )


class Preemption:
    """PostFilter + gang preemption (see the module docstring)."""

    name = "Preemption"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = PreemptionArgs.model_validate(dict(args))
        self.handle = handle
        self.tables = TableBuilder(self.args.levels)

    def post_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis
    ) -> tuple[PostFilterResult | None, Status]:
        """Preempt for one pod."""
        return self._preempt([pod], snapshot)

    def preempt_gang(
        self, state: CycleState, members: Sequence[PodInfo], snapshot: Snapshot
    ) -> tuple[PostFilterResult | None, Status]:
        """Preempt for a whole gang."""
        return self._preempt(members, snapshot)

    # -- planning ------------------------------------------------------------------------------
    def _candidates(self, pod: PodInfo, snapshot: Snapshot) -> np.ndarray:
        """Nodes the pod could use if room were made (static filters only)."""
        ok = np.zeros(snapshot.size, dtype=bool)
        tolerations = pod.pod.spec.tolerations
        unschedulable_tolerated = any(
            t.key in (None, "", _UNSCHEDULABLE_TAINT) and (t.operator == "Exists" or not t.key)
            for t in tolerations
        )
        groups, group_of = snapshot.taint_groups
        tolerated = [
            not find_untolerated(taints, tolerations, {"NoSchedule", "NoExecute"})
            for taints in groups
        ]
        for i, name in enumerate(snapshot.node_names):
            node = snapshot.nodes[name]
            if node.spec.unschedulable and not unschedulable_tolerated:
                continue
            if not tolerated[group_of[i]]:
                continue
            ok[i] = pod_matches_node_affinity(pod.pod, node)
        return np.flatnonzero(ok)

    def _victims(
        self, snapshot: Snapshot, priority: int, nodes: set[int]
    ) -> tuple[list[tuple[str, int, int, float | None, str | None, tuple[str, ...]]], set[int]]:
        """Eligible victims: (key, node, priority, bound_at, gang, claims), and extra nodes
        that members of victim gangs run on."""
        by_gang: dict[
            str, list[tuple[str, int, int, float | None, str | None, tuple[str, ...]]]
        ] = {}
        lone = []
        for record in snapshot.pods.values():
            if record.node is None or record.assumed:
                continue
            i = snapshot.node_index.get(record.node)
            if i is None:
                continue
            victim_priority = pod_priority(record.pod, snapshot.cache.priority_classes)
            gang = gang_of(record.pod, snapshot.cache.pod_groups)
            info_claims = tuple(
                key
                for _, key in pod_claim_keys(
                    PodInfo(
                        record.key, record.pod, record.requests, victim_priority, False, gang, ()
                    )
                )
                if key is not None
            )
            entry = (
                record.key,
                i,
                victim_priority,
                record.bound_at,
                gang.key if gang else None,
                info_claims,
            )
            if gang is not None and gang.size > 1:
                by_gang.setdefault(gang.key, []).append(entry)
            elif i in nodes and victim_priority < priority:
                lone.append(entry)
        extra: set[int] = set()
        for members in by_gang.values():
            if all(m[2] < priority for m in members) and any(m[1] in nodes for m in members):
                lone.extend(members)
                extra.update(m[1] for m in members)
        return lone, extra

    def _preempt(
        self, members: Sequence[PodInfo], snapshot: Snapshot
    ) -> tuple[PostFilterResult | None, Status]:
        first = members[0]
        if first.batch and not self.args.batch_may_preempt:
            return None, Status.unschedulable("batch pods do not preempt")
        if first.pod.spec.preemption_policy == "Never":
            return None, Status.unschedulable("preemptionPolicy is Never")
        allowed = [self._candidates(m, snapshot) for m in members]
        nodes = {int(i) for a in allowed for i in a}
        if not nodes:
            return None, Status.unschedulable("no node could take the pod even after preemption")
        victims, extra = self._victims(snapshot, first.priority, nodes)
        if not victims:
            return None, Status.unschedulable("no lower-priority pod to preempt")
        table_nodes = np.array(sorted(nodes | extra), dtype=np.intp)
        layout = self.tables.layout(members, snapshot)
        table, domains = self.tables.table(members, snapshot, table_nodes, layout)
        spec = self.tables.gang_spec(members, snapshot, layout, domains, allowed, len(table_nodes))
        now = self.handle.backend.now()
        victim_models = []
        for key, node, priority, bound_at, gang, claims in victims:
            record = snapshot.pods[key]
            freed = [record.requests.get("cpu", 0), record.requests.get("memory", 0), 1]
            freed.extend(self.tables.freed_devices(claims, snapshot, node, layout))
            victim_models.append(
                Victim(
                    key=key,
                    node=node,
                    priority=priority,
                    work_lost=int(max(now - bound_at, 0.0)) if bound_at is not None else 0,
                    gang=gang,
                    freed=tuple(freed),
                )
            )
        instance = PreemptionInstance(table=table, gang=spec, victims=tuple(victim_models))
        solution = solve_preemption(instance, self.args.solver)
        if not solution.placed or not solution.victims:
            return None, Status.unschedulable(solution.reason or "preemption cannot make room")
        reason = f"preempted by {first.key}" + (f" (gang {first.gang.key})" if first.gang else "")
        for key in solution.victims:
            self.handle.backend.evict(key, reason)
        nominated = (
            snapshot.node_names[solution.assignment[0]] if 0 in solution.assignment else None
        )
        return PostFilterResult(
            nominated_node=nominated, victims=tuple(solution.victims)
        ), Status.success()


PLUGINS: dict[str, type] = {Preemption.name: Preemption}
