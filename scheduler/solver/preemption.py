"""Preemption planning: candidates (numpy) and the CP-SAT model.

Who calls: ``solve.solve_preemption`` (and ``preemption_greedy``). When serving work (a pod
or a whole gang) does not fit, pick victims among lower-priority pods so that it fits in one
domain of its required level, at least cost.

Algorithm overview:

1. Victim *units*: a lone victim pod, or a whole victim gang (evicted entirely or not at all).
   A unit is eligible only if every member's priority is below the preemptor's.
2. Unit cost (``PreemptionWeights``): per pod, per priority rank (lowest priorities first),
   per unit of work lost, per gang broken, per unit of fragmentation the eviction creates;
   never below 1, so an optimal victim set is also inclusion-minimal.
3. Prune as for a gang (``candidates.prune_gang``), with every eligible victim gone: domains
   that cannot hold the preemptor even then are dropped (and if none is left the answer is
   INFEASIBLE with the level and the shortfall). Per surviving domain, a lower bound on the
   victim cost (``preemption_bounds``) orders the domains and lets the search stop early.
4. Model (per batch of domains): the gang families of ``gang.py`` on the evictable
   capacities, one boolean per unit, and per node and dimension
   ``demand placed <= free now + freed by the chosen units``. Objective: victim cost first
   (scaled by more than the whole range of the placement terms), then the placement's
   fragmentation and preferred-level sub-domains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from scheduler.solver.candidates import GangCandidates, gang_terms, prune_gang
from scheduler.solver.config import GangWeights, SolverConfig
from scheduler.solver.gang import (
    GangVars,
    Term,
    add_assignment,
    add_counts,
    add_cuts,
    add_domain,
    add_fragmentation,
    add_subdomains,
    hint_gang,
)
from scheduler.solver.instance import IntArray, PreemptionInstance
from scheduler.solver.preemption_bounds import aggregate_bound, node_bounds

__all__ = [
    "PreemptionCandidates",
    "PreemptionVars",
    "VictimUnit",
    "add_eviction_capacity",
    "build_preemption",
    "drop_unneeded",
    "eligible_units",
    "hint_preemption",
    "plan_objective",
    "prune_preemption",
]

_OVERFLOW = 1 << 60


@dataclass(frozen=True, slots=True)
class VictimUnit:
    """Victims evicted together: a lone pod, or every member of a victim gang."""

    key: str
    members: tuple[int, ...]
    """indices into ``PreemptionInstance.victims``."""
    cost: int


def eligible_units(instance: PreemptionInstance, config: SolverConfig) -> list[VictimUnit]:
    """The evictable units, sorted by key, with their costs."""
    return _units(instance, config)[0]


def _units(instance: PreemptionInstance, config: SolverConfig) -> tuple[list[VictimUnit], IntArray]:
    """The eligible units and, per victim, its unit's index (-1: not evictable)."""
    w = config.preemption
    victims = instance.victims
    if not victims:
        return [], np.zeros(0, dtype=np.int64)
    top = instance.gang.priority
    prio = np.array([v.priority for v in victims], dtype=np.int64)
    keys = np.array([v.gang if v.gang is not None else f"pod:{v.key}" for v in victims])
    names, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    groups = len(names)
    worst = np.full(groups, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(worst, inverse, prio)
    ranks = np.searchsorted(np.unique(prio[prio < top]), prio)
    each = (
        w.per_pod
        + w.per_priority_rank * ranks
        + w.per_work * np.array([v.work_lost for v in victims], dtype=np.int64)
        + w.fragmentation * np.array([v.frag_cost for v in victims], dtype=np.int64)
    )
    cost = np.zeros(groups, dtype=np.int64)
    np.add.at(cost, inverse, each)
    in_gang = np.array([v.gang is not None for v in victims])
    is_gang = np.zeros(groups, dtype=bool)
    is_gang[inverse[in_gang]] = True
    cost = np.maximum(cost + w.per_gang * is_gang, 1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(groups + 1)).tolist()
    flat, labels, costs = order.tolist(), names.tolist(), cost.tolist()
    eligible = np.flatnonzero(worst < top)
    index = np.full(groups, -1, dtype=np.int64)
    index[eligible] = np.arange(len(eligible))
    units = [
        VictimUnit(key=labels[g], members=tuple(flat[bounds[g] : bounds[g + 1]]), cost=costs[g])
        for g in eligible.tolist()
    ]
    return units, index[inverse]


@dataclass(frozen=True, slots=True)
class PreemptionCandidates:
    """The pruned preemption instance (see the module overview)."""

    instance: PreemptionInstance
    gang: GangCandidates
    """the preemptor on the capacities left once every eligible victim is gone."""
    base: IntArray
    """int64[R, D]: free supply now on the candidate rows."""
    units: tuple[VictimUnit, ...]
    freed: Mapping[int, tuple[tuple[int, IntArray], ...]]
    """table row -> (unit index, supply that unit frees there) for candidate rows."""
    scale: int
    """victim cost multiplier: larger than the whole range of the placement terms."""
    secondary: bool
    """False when scaling would overflow: the placement terms are then left out."""
    weights: GangWeights
    """placement weights (no tightness: the victim cost decides the domain)."""
    victim_lb: Mapping[int, int] = field(default_factory=dict)

    def subset(self, domains: Sequence[int]) -> PreemptionCandidates:
        """Restricted to some candidate domains."""
        gang = self.gang.subset(domains)
        keep = np.isin(self.gang.rows, gang.rows)
        return replace(self, gang=gang, base=self.base[keep])

    def units_in(self) -> list[int]:
        """Units that free something on the current candidate rows, ascending."""
        return sorted({u for r in self.gang.rows.tolist() for u, _ in self.freed.get(r, ())})


def prune_preemption(
    instance: PreemptionInstance, config: SolverConfig
) -> PreemptionCandidates | str:
    """Candidates for the preemptor, or the reason nothing can make room."""
    table, gang = instance.table, instance.gang
    units, unit_of = _units(instance, config)
    vrow = table.rows([v.node for v in instance.victims])
    vfreed = np.array([v.freed for v in instance.victims], dtype=np.int64).reshape(
        len(instance.victims), len(table.dims)
    )
    pick = np.flatnonzero((unit_of >= 0) & (vrow >= 0))
    evictable = np.array(table.free, dtype=np.int64, copy=True)
    np.add.at(evictable, vrow[pick], vfreed[pick])
    by_row: dict[int, list[tuple[int, IntArray]]] = {}
    for i, u, r in zip(pick.tolist(), unit_of[pick].tolist(), vrow[pick].tolist(), strict=True):
        by_row.setdefault(r, []).append((u, vfreed[i]))
    weights = GangWeights(
        fragmentation=config.gang.fragmentation, tightness=0, subdomains=config.gang.subdomains
    )
    context = " even after evicting every lower-priority pod"
    cands = prune_gang(table, gang, weights, free=evictable, context=context)
    if isinstance(cands, str):
        return cands
    rows = cands.rows.tolist()
    freed = {r: tuple(by_row[r]) for r in rows if r in by_row}
    span = 0
    if cands.frag is not None and weights.fragmentation:
        for r, top in enumerate(cands.cap_total.tolist()):
            values = cands.frag[r, : top + 1]
            span += weights.fragmentation * int(values.max() - values.min())
    if cands.sub is not None:
        span += weights.subdomains * (int(cands.sub.max()) + 1)
    scale = span + 1
    secondary = scale * (sum(u.cost for u in units) + 1) <= _OVERFLOW
    if not secondary:
        scale = 1
    base = np.asarray(table.free[cands.rows], dtype=np.int64)
    costs = np.array([u.cost for u in units], dtype=np.int64)
    local = np.full(len(table.ids), -1, dtype=np.int64)
    local[cands.rows] = np.arange(len(cands.rows))
    at = local[vrow[pick]]
    kept = at >= 0
    pair_dom = cands.domain[at[kept]]
    pair_unit, pair_freed = unit_of[pick][kept], vfreed[pick][kept]
    per_node = node_bounds(
        base,
        (at[kept], pair_unit, pair_freed),
        _shares(costs, pair_unit, at[kept], cands.domain),
        cands.kinds.demand.min(axis=0),
        (cands.cap_total, cands.domain, gang.size),
    )
    need = (cands.kinds.demand * cands.kinds.count[:, None]).sum(axis=0)
    victim_lb: dict[int, int] = {}
    bound: dict[int, int] = {}
    for d in cands.domains:
        in_d = np.flatnonzero(cands.domain == d)
        deficit = need - np.maximum(base[in_d], 0).sum(axis=0)
        mine = pair_dom == d
        agg = aggregate_bound(costs, pair_unit[mine], pair_freed[mine], deficit)
        victim_lb[d] = max(agg, per_node.get(d, 0))
        bound[d] = scale * victim_lb[d] + cands.lower_bound[d]
    order = tuple(sorted(bound, key=lambda d: (bound[d], d)))
    return PreemptionCandidates(
        instance=instance,
        gang=replace(cands, domains=order, lower_bound=bound),
        base=base,
        units=tuple(units),
        freed=freed,
        scale=scale,
        secondary=secondary,
        weights=weights,
        victim_lb=victim_lb,
    )


def _shares(
    costs: IntArray, unit: IntArray, row: IntArray, domain: IntArray
) -> npt.NDArray[np.float64]:
    """Per (unit, candidate row) pair, the unit's cost divided by the number of distinct
    candidate rows it frees in that row's domain (only those can help a plan there)."""
    if not len(unit):
        return np.zeros(0, dtype=np.float64)
    dom = domain[row]
    triples = np.unique(np.stack([unit, dom, row], axis=1), axis=0)
    groups, counts = np.unique(triples[:, :2], axis=0, return_counts=True)
    lookup = {(int(u), int(d)): int(n) for (u, d), n in zip(groups, counts, strict=True)}
    spread = np.array([lookup[int(u), int(d)] for u, d in zip(unit, dom, strict=True)])
    share: npt.NDArray[np.float64] = costs[unit] / spread
    return share


@dataclass
class PreemptionVars:
    """The preemptor's placement variables plus one boolean per victim unit."""

    gang: GangVars
    evict: dict[int, cp_model.IntVar] = field(default_factory=dict)


def add_eviction_capacity(
    model: cp_model.CpModel, pc: PreemptionCandidates, v: PreemptionVars
) -> list[Term]:
    """Per node and dimension: demand placed <= free now + freed by the chosen units.
    Objective: the scaled victim cost."""
    cands = pc.gang
    dem = cands.kinds.demand
    for u in pc.units_in():
        v.evict[u] = model.new_bool_var(f"evict{u}")
    for r, pairs in v.gang.by_row.items():
        gains: dict[int, IntArray] = {}
        for u, f in pc.freed.get(int(cands.rows[r]), ()):
            gains[u] = gains.get(u, 0) + f
        for d in _binding_dims(pc.base[r], gains, dem, [k for k, _ in pairs]):
            users = [(int(dem[k, d]), var) for k, var in pairs if dem[k, d] > 0]
            extra = [(int(f[d]), v.evict[u]) for u, f in sorted(gains.items()) if f[d] > 0]
            if not extra and len(users) == 1:
                continue
            model.add(
                sum(c * var for c, var in users)
                <= int(pc.base[r, d]) + sum(c * var for c, var in extra)
            )
    return [pc.scale * pc.units[u].cost * var for u, var in v.evict.items()]


def _binding_dims(
    base: IntArray, gains: Mapping[int, IntArray], dem: IntArray, kinds: Sequence[int]
) -> list[int]:
    """Dimensions whose capacity row can bind. With one kind on the node, the row of a
    dimension d reads ``x <= (base_d + sum f_ud e_u) / dem_d``; it is implied by another
    dimension whose normalised free and freed supplies are all no larger, and dropped."""
    dims = [d for d in range(dem.shape[1]) if any(dem[k, d] > 0 for k in kinds)]
    if len(kinds) != 1 or len(dims) < 2:
        return dims
    k = kinds[0]
    units = sorted(gains)
    norm = np.array(
        [[base[d], *(gains[u][d] for u in units)] for d in dims], dtype=np.float64
    ) / dem[k, dims][:, None].astype(np.float64)
    keep = []
    for i, d in enumerate(dims):
        le = (norm <= norm[i]).all(axis=1)
        lt = le & ((norm < norm[i]).any(axis=1) | (np.arange(len(dims)) < i))
        lt[i] = False
        if not lt.any():
            keep.append(d)
    return keep


def build_preemption(
    pc: PreemptionCandidates,
) -> tuple[cp_model.CpModel, PreemptionVars]:
    """The preemption model over ``pc`` (minimise scaled victim cost + placement terms)."""
    model = cp_model.CpModel()
    cands = pc.gang
    v = PreemptionVars(gang=add_counts(model, cands))
    terms: list[Term] = []
    terms += add_assignment(model, cands, v.gang)
    terms += add_cuts(model, cands, v.gang)
    terms += add_domain(model, cands, v.gang, pc.weights)
    placement: list[Term] = []
    placement += add_subdomains(model, cands, v.gang, pc.weights)
    placement += add_fragmentation(model, cands, v.gang, pc.weights)
    terms += add_eviction_capacity(model, pc, v)
    if pc.secondary:
        terms += placement
    model.minimize(sum(terms))
    return model, v


def hint_preemption(
    model: cp_model.CpModel,
    pc: PreemptionCandidates,
    v: PreemptionVars,
    assignment: Mapping[int, int],
    chosen: Sequence[int],
) -> None:
    """Hint a known plan (the greedy's)."""
    hint_gang(model, pc.gang, v.gang, assignment)
    picked = set(chosen)
    for u, var in v.evict.items():
        model.add_hint(var, int(u in picked))


def _loads(pc: PreemptionCandidates, assignment: Mapping[int, int]) -> dict[int, IntArray]:
    demand = {p.id: np.asarray(p.demand, dtype=np.int64) for p in pc.instance.gang.pods}
    loads: dict[int, IntArray] = {}
    for pod, node in assignment.items():
        row = pc.instance.table.row(node)
        if row is not None:
            loads[row] = loads.get(row, 0) + demand[pod]
    return loads


def drop_unneeded(
    pc: PreemptionCandidates, assignment: Mapping[int, int], chosen: Sequence[int]
) -> list[int]:
    """Fill back: with the placement fixed, spare every chosen unit (costliest first) whose
    eviction the placement does not need. The result is inclusion-minimal for the placement."""
    loads = _loads(pc, assignment)
    table = pc.instance.table
    keep = set(chosen)

    def fits(units: set[int], rows: set[int]) -> bool:
        for row in rows:
            room = np.array(table.free[row], dtype=np.int64)
            for u, f in pc.freed.get(row, ()):
                if u in units:
                    room += f
            need = loads.get(row)
            if need is not None and ((need > 0) & (need > room)).any():
                return False
        return True

    for u in sorted(keep, key=lambda u: (-pc.units[u].cost, u)):
        rows = {
            row
            for i in pc.units[u].members
            if (row := table.row(pc.instance.victims[i].node)) is not None
        }
        if fits(keep - {u}, rows):
            keep.discard(u)
    return sorted(keep)


def plan_objective(
    pc: PreemptionCandidates, assignment: Mapping[int, int], chosen: Sequence[int]
) -> tuple[int, int]:
    """``(objective, victim cost)`` of a plan: the plain-Python mirror of the model's."""
    cost = sum(pc.units[u].cost for u in chosen)
    placement = sum(gang_terms(pc.gang, assignment, pc.weights).values()) if pc.secondary else 0
    return pc.scale * cost + placement, cost
