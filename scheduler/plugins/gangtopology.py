"""GangTopology: whole-gang placement across topology domains (and the Kueue-style baseline).

The runtime's gang cycle (:class:`~scheduler.framework.gang_cycle.GangCycle`) calls
:meth:`GangTopology.place_gang` with every member (existing or not yet created) and each
member's feasible nodes. The plugin turns the snapshot into the solver's instance:

* dimensions: ``cpu``, ``memory``, ``pods`` (free = allocatable - requested), one
  ``dev:<n>`` per distinct device request among the members, whose supply is the number of
  matching devices available on the node (the DRA prefilter's counts) and whose demand is
  the request's count, and one ``res:<name>`` per requested extended resource such as
  ``nvidia.com/gpu`` (device-plugin supply, or DRA devices where a DeviceClass serves it;
  :mod:`scheduler.plugins.helper.solvertable`);
* topology: the configured levels (default: docs/conventions.md), or the gang's own label key
  when it is not one of them (e.g. ``nvidia.com/gpu.clique``); required / preferred level and LWS
  exclusivity come from the gang's conventions (:mod:`scheduler.framework.podinfo`);
* exclusive gangs may not use a domain of their level that another exclusive gang's pods
  occupy (``blocked_domains``);
* each member may only use its feasible nodes.

``algorithm: solver`` (default) solves with CP-SAT (pruned to candidate domains first) and
lets the exact DRA allocator check every chosen node — all of a node's members' claims at
once, with their DRA-backed extended-resource claims — turning a refuted node into a cut
and re-solving. ``algorithm: kueue`` is the Kueue-TAS-style greedy BestFit baseline (no
allocator check), for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import Allocator
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import GangPlan, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.solvertable import Layout, TableBuilder
from scheduler.solver.config import SolverConfig
from scheduler.solver.greedy import kueue_best_fit
from scheduler.solver.instance import GangInstance, GangSolution
from scheduler.topology.domains import DEFAULT_LEVELS


class GangTopologyArgs(BaseModel):
    """Arguments of GangTopology."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    algorithm: Literal["solver", "kueue"] = Field(
        default="solver", description="solver: CP-SAT + allocator cuts; kueue: greedy BestFit"
    )
    levels: tuple[str, ...] = Field(
        default=DEFAULT_LEVELS, description="Topology level label keys, coarse to fine."
    )
    solver: SolverConfig = Field(default_factory=SolverConfig, description="Solver limits.")


class GangTopology:
    """GangPlacement plugin (see the module docstring)."""

    name = "GangTopology"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = GangTopologyArgs.model_validate(dict(args))
        self.handle = handle
        self.tables = TableBuilder(self.args.levels)

    def instance(
        self, members: Sequence[PodInfo], snapshot: Snapshot, feasible: Sequence[NodeIds]
    ) -> tuple[GangInstance, Layout]:
        """The solver instance of a gang, and its layout (each member's claims per node)."""
        candidates = np.unique(np.concatenate([np.asarray(f, dtype=np.intp) for f in feasible]))
        layout = self.tables.layout(members, snapshot)
        table, domains = self.tables.table(members, snapshot, candidates, layout)
        spec = self.tables.gang_spec(
            members, snapshot, layout, domains, list(feasible), len(candidates)
        )
        return GangInstance(table=table, gang=spec), layout

    def place_gang(
        self,
        state: CycleState,
        members: Sequence[PodInfo],
        snapshot: Snapshot,
        feasible: Sequence[NodeIds],
    ) -> tuple[GangPlan | None, Status]:
        """Plan every member's node, or say why the gang fits nowhere."""
        empty = [m.key for m, f in zip(members, feasible, strict=True) if len(f) == 0]
        if empty:
            return None, Status.unschedulable(
                f"gang member(s) {', '.join(empty[:3])} fit no node on their own"
            )
        instance, layout = self.instance(members, snapshot, feasible)
        if self.args.algorithm == "kueue":
            solution = kueue_best_fit(instance)
        else:
            features = snapshot.features
            allocator = Allocator(
                features=features,
                classes=snapshot.classes,
                allocated=snapshot,
                cache=self.tables.match_cache(features.consumable_capacity),
            )

            def verify(node: int, pods: tuple[int, ...]) -> bool:
                together = [
                    c for p in pods for c in layout.claims_on(p, members[p], snapshot, node)
                ]
                if not together:
                    return True
                outcome = allocator.allocate(
                    together,
                    snapshot.node_names[node],
                    snapshot.labels(node),
                    snapshot.node_pools(node),
                )
                return outcome.ok

            from scheduler.solver.solve import solve_gang_verified  # noqa: PLC0415 (OR-Tools: load on first solve)

            solution = solve_gang_verified(instance, verify, self.args.solver)
        return self._plan(members, snapshot, solution)

    @staticmethod
    def _plan(
        members: Sequence[PodInfo], snapshot: Snapshot, solution: GangSolution
    ) -> tuple[GangPlan | None, Status]:
        if not solution.placed:
            reason = solution.reason or f"gang does not fit ({solution.status})"
            return None, Status.unschedulable(reason)
        assignments = tuple(
            (members[pid].key, snapshot.node_names[node])
            for pid, node in sorted(solution.assignment.items())
        )
        return (
            GangPlan(
                assignments=assignments,
                domain=solution.domain_name,
                optimal=solution.proven_optimal,
            ),
            Status.success(),
        )


PLUGINS: dict[str, type] = {GangTopology.name: GangTopology}
