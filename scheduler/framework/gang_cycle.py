"""The gang cycle: place a whole gang through a Framework, all members or none.

Who calls: the simulator's replay (and the webhook) when the first member of a gang reaches
the head of the queue. The cycle is built on the Framework's own steps (PreFilter, Filter,
assume/Reserve, Bind) and the profile's GangPlacement plugin; see :class:`GangCycle`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from typing import TYPE_CHECKING

import numpy as np

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import GangPlan, NodeIds
from scheduler.framework.podinfo import PodInfo, feasibility_key
from scheduler.framework.status import Status

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot
    from scheduler.framework.runtime import Framework


@dataclass(slots=True)
class GangResult:
    """The outcome of one gang cycle.

    On success ``assignments`` maps every member's key to its node; ``bound`` lists the
    members that existed and were bound, ``reserved`` those not created yet whose places
    (resources and devices) are now held in the cache under their future names.
    """

    status: Status
    assignments: dict[str, str] = field(default_factory=dict)
    bound: list[str] = field(default_factory=list)
    reserved: list[str] = field(default_factory=list)
    plan: GangPlan | None = None
    victims: tuple[str, ...] = ()


class GangCycle:
    """Places a whole gang through a :class:`Framework` (all members or none).

    Algorithm overview:

    1. members not created yet are *prepared*: the backend generates their template claims
       (so their devices can be reserved) — their pods get their future names;
    2. PreFilter + Filter once per distinct member shape gives each member's feasible nodes;
    3. the profile's GangPlacement plugin plans every member's node (topology, exclusivity,
       fragmentation; the exact allocator checks each chosen node);
    4. every member is assumed and reserved on its node, in plan order; any failure rolls
       back all of them (and the prepared claims) and the gang stays pending;
    5. members that exist are bound; the others stay reserved until they arrive
       (:meth:`Framework.bind_reserved`). A Bind failure releases every member not bound
       yet; members already bound cannot be undone and are reported in ``bound``.
    """

    def __init__(self, framework: Framework) -> None:
        self.framework = framework

    def run(
        self, members: Sequence[PodInfo], created: Collection[str], *, bind: bool = True
    ) -> GangResult:
        """One gang cycle (see the class docstring)."""
        fw = self.framework
        if not fw.points.gang:
            return GangResult(Status.error("the profile has no GangPlacement plugin"))
        cache = fw.handle.cache
        backend = fw.handle.cluster
        prepared: list[PodInfo] = []
        for member in members:
            if member.key in created:
                prepared.append(member)
            else:
                pod = backend.prepare_pod(member.pod)
                prepared.append(dataclass_replace(member, pod=pod))
        snapshot = cache.snapshot()
        feasible: list[NodeIds] = []
        seen: dict[tuple[object, ...], NodeIds] = {}
        for member in prepared:
            key = feasibility_key(member)
            if key not in seen:
                known = fw.filter_memo.get(member, snapshot)
                if known is None:
                    nodes, diagnosis = fw.find_feasible(CycleState(), member, snapshot)
                    fw.filter_memo.put(member, snapshot, nodes, diagnosis)
                else:
                    nodes = known[0]
                seen[key] = nodes
            feasible.append(seen[key])
        plugin = fw.points.gang[0]
        plan, status = fw._timed(
            "GangPlacement",
            plugin.name,
            plugin.place_gang,
            CycleState(),
            prepared,
            snapshot,
            feasible,
        )
        if plan is None or not status.ok:
            victims = self._preempt(prepared, snapshot)
            self._discard(prepared, created)
            return GangResult(status.with_plugin(plugin.name), victims=victims)
        where = dict(plan.assignments)
        done: list[tuple[PodInfo, CycleState, str]] = []
        for member in prepared:
            node = where[member.key]
            if member.key not in created:
                cache.add_pod(member.pod)
            state = CycleState()
            i = cache.node_index[node]
            fits, diagnosis = fw.find_feasible(
                state, member, cache.snapshot(), np.array([i], dtype=np.intp)
            )
            status = (
                fw.assume(state, member, node)
                if len(fits)
                else Status.unschedulable(
                    f"gang member {member.key} no longer fits node {node}: " + diagnosis.message(1)
                )
            )
            if not status.ok:
                for earlier, earlier_state, earlier_node in reversed(done):
                    fw.forget(earlier_state, earlier, earlier_node)
                self._discard(prepared, created, remove_pods=True)
                return GangResult(status)
            done.append((member, state, node))
        result = GangResult(Status.success(), where, plan=plan)
        for member, state, node in done:
            if member.key in created and bind:
                status = fw.bind(state, member, node)  # a failure forgets this member
                if not status.ok:
                    # bound members cannot be unbound: report them, release all the rest
                    for other, other_state, other_node in done:
                        if other is not member and other.key not in result.bound:
                            fw.forget(other_state, other, other_node)
                    self._discard(prepared, created, remove_pods=True)
                    return GangResult(status, where, bound=result.bound, plan=plan)
                result.bound.append(member.key)
            elif member.key not in created:
                result.reserved.append(member.key)
        return result

    def _preempt(self, members: Sequence[PodInfo], snapshot: Snapshot) -> tuple[str, ...]:
        """Ask gang-preemption plugins to make room; the victims they evicted."""
        fw = self.framework
        for plugin in fw.points.gang_preemption:
            result, status = fw._timed(
                "PostFilter", plugin.name, plugin.preempt_gang, CycleState(), members, snapshot
            )
            if status.ok and result is not None:
                return result.victims
        return ()

    def _discard(
        self, prepared: Sequence[PodInfo], created: Collection[str], *, remove_pods: bool = False
    ) -> None:
        backend = self.framework.handle.cluster
        for member in prepared:
            if member.key in created:
                continue
            if remove_pods:
                self.framework.handle.cache.remove_pod(member.key)
            backend.discard_prepared(member.pod)
