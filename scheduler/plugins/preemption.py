"""Preemption: make room for serving work by evicting the cheapest lower-priority victims.

PostFilter for a lone pod, and :meth:`Preemption.preempt_gang` for a whole gang, when
nothing fits. The solver's preemption planner (:func:`scheduler.solver.solve.solve_preemption`)
chooses victims among running pods of *lower priority* so that the preemptor's pods fit in
one domain of their required level, at minimum cost: per evicted pod, by priority rank,
work lost since the pod started (``status.startTime``, else when tessera bound it:
:func:`~scheduler.plugins.helper.starttime.started_at`; against the backend's clock), per
batch gang broken, fragmentation created. A victim gang is evicted whole or not at all
(never half a gang). By tessera's convention only serving work preempts
(``batchMayPreempt`` turns that off); pods with ``preemptionPolicy: Never`` do not preempt.

Candidate nodes are decided as kube-scheduler's DefaultPreemption decides them: the profile's
own PreFilter and Filter plugins run for each preemptor pod (through the framework's Handle);
a node rejected as UNSCHEDULABLE_AND_UNRESOLVABLE (a taint, node affinity, a cordon, a device
class that does not exist, ...) is not a candidate (``nodesWherePreemptionMightHelp``), and a
node rejected as UNSCHEDULABLE is one only if the filters accept the pod there once every
lower-priority pod is removed (a what-if snapshot, :func:`scheduler.cluster.whatif.without`:
the first step of ``SelectVictimsOnNode``). For a gang, nodes that already take a member
are candidates too. Among the candidates, the planner's resource model (cpu, memory,
pods, devices and counters, extended resources such as ``nvidia.com/gpu`` freed by each
victim) chooses the victims; the property tests check that once they are gone the profile's
filters accept the preemptor on the nominated node. The victims are evicted through the
backend and the first pod's node is nominated; the preemptor retries once the victims are
gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from scheduler.api.pod import pod_claim_keys, pod_extended_claim_key
from scheduler.cluster.snapshot import Snapshot
from scheduler.cluster.whatif import without
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import Diagnosis, Handle, NodeIds, PostFilterResult
from scheduler.framework.podinfo import PodInfo, feasibility_key, gang_of, pod_priority
from scheduler.framework.status import Status
from scheduler.plugins.helper.solvertable import TableBuilder
from scheduler.plugins.helper.starttime import started_at
from scheduler.solver.config import SolverConfig
from scheduler.solver.instance import PreemptionInstance, Victim
from scheduler.topology.domains import DEFAULT_LEVELS

_Entry = tuple[str, int, int, float | None, str | None, tuple[str, ...]]
"""A running pod as a victim: key, node id, priority, start (:func:`started_at`), gang key,
claim keys."""


@dataclass(frozen=True, slots=True)
class _Running:
    """The running pods of one cache generation, as victim entries and arrays over them."""

    cache_id: int
    generation: int
    entries: list[_Entry]
    node: npt.NDArray[np.intp]
    priority: npt.NDArray[np.int64]
    in_gang: npt.NDArray[np.bool_]
    gangs: dict[str, list[int]]


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
        self._scan: _Running | None = None
        self._floor_key: tuple[int, int, int] | None = None
        self._floor_seen: tuple[int, int] | None = None
        self._floor_versions = np.zeros(0, dtype=np.int64)
        self._floor = np.zeros(0, dtype=np.int64)

    def post_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, diagnosis: Diagnosis
    ) -> tuple[PostFilterResult | None, Status]:
        """Preempt for one pod (the nodes of this cycle's diagnosis where it might help)."""
        return self._preempt(
            [pod],
            snapshot,
            lambda: [self._relieved(pod, snapshot, diagnosis.might_help(snapshot.size))],
        )

    def preempt_gang(
        self, state: CycleState, members: Sequence[PodInfo], snapshot: Snapshot
    ) -> tuple[PostFilterResult | None, Status]:
        """Preempt for a whole gang: each member's candidates are the nodes the profile's
        filters accept for it now, and those where removing lower-priority pods lets them."""

        def candidates() -> list[NodeIds]:
            seen: dict[tuple[object, ...], NodeIds] = {}
            allowed: list[NodeIds] = []
            for member in members:
                key = feasibility_key(member)
                if key not in seen:
                    # a gang fits nowhere as a whole although some nodes take a member: those
                    # nodes are candidates too, beside the ones preemption could open
                    fits, diagnosis = self.handle.find_feasible(CycleState(), member, snapshot)
                    helped = self._relieved(member, snapshot, diagnosis.might_help(snapshot.size))
                    seen[key] = np.union1d(fits, helped)
                allowed.append(seen[key])
            return allowed

        return self._preempt(members, snapshot, candidates)

    def _relieved(self, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds) -> NodeIds:
        """The ``nodes`` where the profile's filters accept ``pod`` once every pod of lower
        priority is gone (kube-scheduler's SelectVictimsOnNode first step, for all candidate
        nodes at once on a what-if snapshot): a reason no victim can remove — a taint, the
        anti-affinity of a pod as important as the preemptor — drops the node."""
        if len(nodes) == 0:
            return nodes
        running = self._running(snapshot)
        lower = [e[0] for e in running.entries if e[2] < pod.priority]
        if not lower:
            return np.empty(0, dtype=np.intp)
        fits, _ = self.handle.find_feasible(CycleState(), pod, without(snapshot, lower), nodes)
        return fits

    # -- planning ------------------------------------------------------------------------------
    def _priority_floor(self, snapshot: Snapshot) -> npt.NDArray[np.int64]:
        """The lowest priority among the pods bound or assumed on each node (int64 max on
        an empty node), recomputed only for nodes whose version moved: a cheap proof that
        a pod has no victim, which a saturated cluster asks for with every failing pod."""
        classes = snapshot.priority_classes
        seen = (snapshot.cache_id, snapshot.generation)
        if seen == self._floor_seen:
            return self._floor  # nothing changed since the last call
        key = (snapshot.cache_id, snapshot.node_generation, len(classes))
        if self._floor_key != key or len(self._floor) != snapshot.size:
            self._floor_key = key
            self._floor = np.full(snapshot.size, np.iinfo(np.int64).max, dtype=np.int64)
            self._floor_versions = np.full(snapshot.size, -1, dtype=np.int64)
        stale = np.flatnonzero(self._floor_versions != snapshot.node_version)
        for i in stale.tolist():
            records = snapshot.pods_on(snapshot.node_names[i]).values()
            self._floor[i] = min(
                (pod_priority(r.pod, classes) for r in records), default=np.iinfo(np.int64).max
            )
        self._floor_versions[stale] = snapshot.node_version[stale]
        self._floor_seen = seen
        return self._floor

    def _running(self, snapshot: Snapshot) -> _Running:
        """Every running pod as a victim entry, scanned once per cache generation (a
        scheduling pass retries preemption for many pods between two cluster changes)."""
        found = self._scan
        if (
            found is not None
            and found.cache_id == snapshot.cache_id
            and found.generation == snapshot.generation
        ):
            return found
        entries: list[_Entry] = []
        gangs: dict[str, list[int]] = {}
        for record in snapshot.pods.values():
            if record.node is None or record.assumed:
                continue
            i = snapshot.node_index.get(record.node)
            if i is None:
                continue
            victim_priority = pod_priority(record.pod, snapshot.priority_classes)
            gang = gang_of(record.pod, snapshot.pod_groups)
            info_claims = tuple(key for _, key in pod_claim_keys(record.pod) if key is not None)
            special = pod_extended_claim_key(record.pod)
            if special is not None:
                info_claims = (*info_claims, special)
            if gang is not None and gang.size > 1:
                gangs.setdefault(gang.key, []).append(len(entries))
            entries.append(
                (
                    record.key,
                    i,
                    victim_priority,
                    started_at(record),
                    gang.key if gang else None,
                    info_claims,
                )
            )
        in_gang = np.zeros(len(entries), dtype=bool)
        for members in gangs.values():
            in_gang[members] = True
        self._scan = _Running(
            snapshot.cache_id,
            snapshot.generation,
            entries,
            np.array([e[1] for e in entries], dtype=np.intp),
            np.array([e[2] for e in entries], dtype=np.int64),
            in_gang,
            gangs,
        )
        return self._scan

    def _victims(
        self, snapshot: Snapshot, priority: int, nodes: set[int]
    ) -> tuple[list[_Entry], set[int]]:
        """Eligible victims: (key, node, priority, start, gang, claims), and extra nodes
        that members of victim gangs run on."""
        # a victim, or a member of a victim gang, runs on a candidate node at lower priority
        ids = np.fromiter(nodes, dtype=np.intp, count=len(nodes))
        if not nodes or int(self._priority_floor(snapshot)[ids].min()) >= priority:
            return [], set()
        running = self._running(snapshot)
        if not running.entries or int(running.priority.min()) >= priority:
            return [], set()
        on_nodes = np.isin(running.node, ids)
        alone = on_nodes & (running.priority < priority) & ~running.in_gang
        lone = [running.entries[i] for i in np.flatnonzero(alone).tolist()]
        extra: set[int] = set()
        for members in running.gangs.values():
            if all(running.entries[m][2] < priority for m in members) and any(
                on_nodes[m] for m in members
            ):
                lone.extend(running.entries[m] for m in members)
                extra.update(running.entries[m][1] for m in members)
        return lone, extra

    def _preempt(
        self,
        members: Sequence[PodInfo],
        snapshot: Snapshot,
        candidates: Callable[[], list[NodeIds]],
    ) -> tuple[PostFilterResult | None, Status]:
        """Plan and evict; ``candidates()`` gives each member's candidate nodes (called only
        once the cheap "no lower-priority pod anywhere" checks have passed)."""
        first = members[0]
        if first.batch and not self.args.batch_may_preempt:
            return None, Status.unschedulable("batch pods do not preempt")
        if first.pod.spec.preemption_policy == "Never":
            return None, Status.unschedulable("preemptionPolicy is Never")
        if (
            int(self._priority_floor(snapshot).min(initial=np.iinfo(np.int64).max))
            >= first.priority
        ):
            return None, Status.unschedulable("no lower-priority pod to preempt")
        allowed = candidates()
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
        for key, node, priority, started, gang, claims in victims:
            record = snapshot.pods[key]
            freed = [record.requests.get("cpu", 0), record.requests.get("memory", 0), 1]
            freed.extend(self.tables.freed_devices(claims, snapshot, node, layout))
            freed.extend(
                self.tables.freed_resources(record.requests, claims, snapshot, node, layout)
            )
            victim_models.append(
                Victim(
                    key=key,
                    node=node,
                    priority=priority,
                    work_lost=int(max(now - started, 0.0)) if started is not None else 0,
                    gang=gang,
                    freed=tuple(freed),
                )
            )
        instance = PreemptionInstance(table=table, gang=spec, victims=tuple(victim_models))
        from scheduler.solver.solve import solve_preemption  # noqa: PLC0415 (OR-Tools: load on first solve)

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
