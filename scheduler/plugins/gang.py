"""GangTopology: whole-gang placement across topology domains (and the Kueue-style baseline).

The runtime's gang cycle (:class:`~scheduler.framework.runtime.GangCycle`) calls
:meth:`GangTopology.place_gang` with every member (existing or not yet created) and each
member's feasible nodes. The plugin turns the snapshot into the solver's instance:

* dimensions: ``cpu``, ``memory``, ``pods`` (free = allocatable - requested) and one
  ``dev:<n>`` per distinct device request among the members, whose supply is the number of
  matching devices available on the node (the DRA prefilter's counts) and whose demand is
  the request's count;
* topology: the configured levels (default DESIGN.md's), or the gang's own label key when it
  is not one of them (e.g. ``nvidia.com/gpu.clique``); required / preferred level and LWS
  exclusivity come from the gang's conventions (:mod:`scheduler.framework.podinfo`);
* exclusive gangs may not use a domain of their level that another exclusive gang's pods
  occupy (``blocked_domains``);
* each member may only use its feasible nodes.

``algorithm: solver`` (default) solves with CP-SAT (pruned to candidate domains first) and
lets the exact DRA allocator check every chosen node — all of a node's members' claims at
once — turning a refuted node into a cut and re-solving. ``algorithm: kueue`` is the
Kueue-TAS-style greedy BestFit baseline (no allocator check), for comparison.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scheduler.cluster.prefilter import PrefilterCache
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import Allocator, MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.claims import ClaimSpec, RequestSpec
from scheduler.dra.convert import claim_spec
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import GangPlan, Handle, NodeIds
from scheduler.framework.podinfo import PodInfo, gang_of
from scheduler.framework.status import Status
from scheduler.plugins.dynamicresources import pod_claim_keys
from scheduler.solver.config import SolverConfig
from scheduler.solver.greedy import kueue_best_fit
from scheduler.solver.instance import GangInstance, GangSolution, GangSpec, NodeTable, PodDemand
from scheduler.solver.solve import solve_gang_verified
from scheduler.topology.domains import DEFAULT_LEVELS, TopologyDomains


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


def _request_key(spec: RequestSpec) -> str:
    text = repr(
        (
            spec.class_name,
            spec.selectors,
            spec.mode,
            bool(spec.admin_access),
            tuple(sorted((spec.capacity_requests or {}).items())),
        )
    )
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:10]


class GangTopology:
    """GangPlacement plugin (see the module docstring)."""

    name = "GangTopology"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = GangTopologyArgs.model_validate(dict(args))
        self.handle = handle
        self._counts = PrefilterCache()
        self._match: dict[bool, MatchCache] = {}

    def _match_cache(self, consumable: bool) -> MatchCache:
        found = self._match.get(consumable)
        if found is None:
            found = MatchCache(CelEnvironment(consumable_capacity=consumable))
            self._match[consumable] = found
        return found

    # -- instance --------------------------------------------------------------------------------
    def _claims(self, member: PodInfo, snapshot: Snapshot) -> list[ClaimSpec]:
        out = []
        for _, key in pod_claim_keys(member):
            record = snapshot.claims.get(key) if key is not None else None
            if record is not None and not record.results:
                out.append(claim_spec(record.claim))
        return out

    def _levels(self, members: Sequence[PodInfo]) -> tuple[str, ...]:
        gang = members[0].gang
        levels = tuple(self.args.levels)
        if gang is not None:
            for key in (gang.required, gang.preferred):
                if key is not None and key not in levels:
                    return (key,)
        return levels

    def _blocked(
        self, snapshot: Snapshot, domains: TopologyDomains, level: int, own: str
    ) -> tuple[int, ...]:
        """Domains of ``level`` that pods of other exclusive gangs occupy."""
        key = domains.levels[level]
        blocked: set[int] = set()
        for record in snapshot.pods.values():
            if (
                record.node is None
                or "leaderworkerset.sigs.k8s.io/group-key" not in record.pod.metadata.labels
            ):
                continue
            gang = gang_of(record.pod)
            if gang is None or gang.key == own or not gang.exclusive or gang.required != key:
                continue
            i = snapshot.node_index.get(record.node)
            if i is not None and domains.domain_of[level][i] >= 0:
                blocked.add(int(domains.domain_of[level][i]))
        return tuple(sorted(blocked))

    def instance(
        self, members: Sequence[PodInfo], snapshot: Snapshot, feasible: Sequence[NodeIds]
    ) -> tuple[GangInstance, list[list[ClaimSpec]], np.ndarray]:
        """The solver instance of a gang; also each member's pending claims and node ids."""
        candidates = np.unique(np.concatenate([np.asarray(f, dtype=np.intp) for f in feasible]))
        claims = [self._claims(m, snapshot) for m in members]
        dims = ["cpu", "memory", "pods"]
        dev_dims: dict[str, tuple[RequestSpec, int]] = {}
        for member_claims in claims:
            for claim in member_claims:
                for group in claim.requests:
                    spec = group.exactly or (
                        group.first_available[0] if group.first_available else None
                    )
                    if spec is None:
                        continue
                    dev_dims.setdefault(_request_key(spec), (spec, len(dims) + len(dev_dims)))
        dims.extend(f"dev:{k}" for k in dev_dims)
        free = np.zeros((len(candidates), len(dims)), dtype=np.int64)
        for column, resource in enumerate(("cpu", "memory", "pods")):
            index = snapshot.column(resource)
            if index is not None:
                free[:, column] = snapshot.free[candidates, index]
        cache = self._match_cache(snapshot.features.consumable_capacity)
        for spec, column in dev_dims.values():
            cls = snapshot.classes.get(spec.class_name)
            if cls is None:
                continue
            counts = self._counts.counts(snapshot, spec, cls, cache)
            free[:, column] = (
                counts.counts[candidates] if not counts.everywhere else len(members) * 64
            )
        levels = self._levels(members)
        domains = snapshot.topology(levels)
        domain = np.stack(
            [domains.domain_of[level][candidates] for level in range(len(levels))], axis=1
        )
        table = NodeTable(
            dims=tuple(dims),
            levels=levels,
            ids=candidates.astype(np.int64),
            names=tuple(snapshot.node_names[i] for i in candidates),
            free=free,
            domain=domain,
            domain_names=domains.names,
        )
        pods = []
        for pid, (member, member_claims, allowed) in enumerate(
            zip(members, claims, feasible, strict=True)
        ):
            demand = [member.requests.get("cpu", 0), member.requests.get("memory", 0), 1]
            demand.extend([0] * len(dev_dims))
            for claim in member_claims:
                for group in claim.requests:
                    spec = group.exactly or (
                        group.first_available[0] if group.first_available else None
                    )
                    if spec is not None:
                        demand[dev_dims[_request_key(spec)][1]] += spec.count or 1
            pods.append(
                PodDemand(
                    id=pid,
                    name=member.key,
                    demand=tuple(demand),
                    allowed=tuple(int(i) for i in allowed),
                )
            )
        gang = members[0].gang
        required = (
            levels.index(gang.required) if gang is not None and gang.required in levels else None
        )
        preferred = (
            levels.index(gang.preferred) if gang is not None and gang.preferred in levels else None
        )
        if required is not None and preferred is not None and preferred <= required:
            preferred = None
        exclusive = bool(gang is not None and gang.exclusive and required is not None)
        gang_spec = GangSpec(
            key=gang.key if gang is not None else members[0].key,
            pods=tuple(pods),
            required_level=required,
            preferred_level=preferred,
            exclusive=exclusive,
            blocked_domains=self._blocked(snapshot, domains, required, gang.key)
            if exclusive and gang is not None and required is not None
            else (),
            priority=members[0].priority,
        )
        return GangInstance(table=table, gang=gang_spec), claims, candidates

    # -- GangPlacement -----------------------------------------------------------------------------
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
        instance, claims, _ = self.instance(members, snapshot, feasible)
        if self.args.algorithm == "kueue":
            solution = kueue_best_fit(instance)
        else:
            features = snapshot.features
            allocator = Allocator(
                features=features,
                classes=snapshot.classes,
                allocated=snapshot.cache.devices,
                cache=self._match_cache(features.consumable_capacity),
            )

            def verify(node: int, pods: tuple[int, ...]) -> bool:
                together = [c for p in pods for c in claims[p]]
                if not together:
                    return True
                outcome = allocator.allocate(
                    together,
                    snapshot.node_names[node],
                    snapshot.labels(node),
                    snapshot.node_pools(node),
                )
                return outcome.ok

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
