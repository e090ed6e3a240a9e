"""Look-ahead: the head of the queue (k lone pods and gangs) placed jointly.

Who calls: ``solve.solve_lookahead`` — the simulator's scheduling tick, offline (so the
answer repeats). Placing queue items one at a time lets an early item spoil the room a later,
more valuable one needed; here they are decided together.

Algorithm overview:

1. Prune each item alone against the current free supply (``candidates.prune_gang``); an item
   no domain can hold is unplaced with that reason. Each item keeps its ``lookahead_domains``
   best candidate domains.
2. Item weights: distinct priorities ranked; an item of a higher rank outweighs all items
   of lower ranks together, then more items beat fewer, then earlier items beat later ones.
3. Model: per item the gang families of ``gang.py`` scaled by a 0/1 ``placed`` variable;
   capacity per node and dimension shared by all items; exclusive items of the same level
   never share a domain; fragmentation growth per node looked up on the node's total pod
   count. Objective: the weight of the items left unplaced, scaled above everything else,
   then tightness, sub-domains and fragmentation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    add_subdomains,
    hint_gang,
)
from scheduler.solver.instance import LookaheadInstance

__all__ = [
    "LookaheadCandidates",
    "LookaheadVars",
    "add_exclusive",
    "add_shared_capacity",
    "add_shared_fragmentation",
    "build_lookahead",
    "hint_lookahead",
    "item_weights",
    "lookahead_objective",
    "prune_lookahead",
]

_OVERFLOW = 1 << 60
Entry = tuple[cp_model.IntVar, int]


def item_weights(instance: LookaheadInstance) -> tuple[int, ...]:
    """Placement weight per item: priority rank first, then count, then queue order."""
    items = instance.items
    n = len(items)
    ranks = sorted({it.priority for it in items})
    rank_weight: dict[int, int] = {}
    below = 0
    for p in ranks:
        rank_weight[p] = below + 1
        below += rank_weight[p] * sum(1 for it in items if it.priority == p)
    step = n * n + 1
    return tuple(rank_weight[it.priority] * step + (n - i) for i, it in enumerate(items))


@dataclass(frozen=True, slots=True)
class LookaheadCandidates:
    """Per item its pruned candidates (None: no domain can hold it alone)."""

    instance: LookaheadInstance
    items: tuple[GangCandidates | None, ...]
    reasons: Mapping[int, str]
    weights: tuple[int, ...]
    scale: int
    secondary: bool
    truncated: bool
    """some item had more candidate domains than ``lookahead_domains``."""
    gang_weights: GangWeights


def prune_lookahead(instance: LookaheadInstance, config: SolverConfig) -> LookaheadCandidates:
    """Prune every item alone and size the objective's scale."""
    table = instance.table
    items: list[GangCandidates | None] = []
    reasons: dict[int, str] = {}
    truncated = False
    span = 0
    w = config.gang
    for i, item in enumerate(instance.items):
        cands = prune_gang(table, item, w)
        if isinstance(cands, str):
            items.append(None)
            reasons[i] = cands
            continue
        if len(cands.domains) > config.lookahead_domains:
            truncated = True
            cands = cands.subset(cands.domains[: config.lookahead_domains])
        items.append(cands)
        span += w.tightness * max(cands.slack.values(), default=0)
        if cands.sub is not None:
            span += w.subdomains * (int(cands.sub.max()) + 1)
    rows = sorted({int(r) for c in items if c is not None for r in c.rows})
    if table.frag_cost is not None and w.fragmentation:
        frag = table.frag_cost[rows]
        span += w.fragmentation * int((frag.max(axis=1) - frag.min(axis=1)).sum()) if rows else 0
    weights = item_weights(instance)
    scale = span + 1
    secondary = scale * (sum(weights) + 1) <= _OVERFLOW
    return LookaheadCandidates(
        instance=instance,
        items=tuple(items),
        reasons=reasons,
        weights=weights,
        scale=scale if secondary else 1,
        secondary=secondary,
        truncated=truncated,
        gang_weights=w,
    )


@dataclass
class LookaheadVars:
    """Per item its gang variables (with ``placed``); shared per-row load and growth."""

    items: dict[int, GangVars] = field(default_factory=dict)
    load: dict[int, cp_model.IntVar] = field(default_factory=dict)
    frag: dict[int, cp_model.IntVar] = field(default_factory=dict)

    def on_row(self, lc: LookaheadCandidates) -> dict[int, list[tuple[int, int, Entry]]]:
        """table row -> (item, kind, (count variable, its upper bound)) for every count."""
        out: dict[int, list[tuple[int, int, Entry]]] = defaultdict(list)
        for i, v in self.items.items():
            cands = lc.items[i]
            assert cands is not None
            for (r, k), var in v.x.items():
                out[int(cands.rows[r])].append((i, k, (var, int(cands.cap[r, k]))))
        return out


def add_shared_capacity(
    model: cp_model.CpModel, lc: LookaheadCandidates, v: LookaheadVars
) -> list[Term]:
    """Capacity per node and dimension, shared by every item's pods."""
    free = lc.instance.table.free
    for row, entries in sorted(v.on_row(lc).items()):
        if len(entries) < 2:
            continue
        for d in range(free.shape[1]):
            users = []
            for i, k, (var, _) in entries:
                cands = lc.items[i]
                assert cands is not None
                c = int(cands.kinds.demand[k, d])
                if c > 0:
                    users.append(c * var)
            if len(users) > 1:
                model.add(sum(users) <= int(free[row, d]))
    return []


def add_exclusive(model: cp_model.CpModel, lc: LookaheadCandidates, v: LookaheadVars) -> list[Term]:
    """Exclusive items of the same level take distinct domains."""
    slots: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
    for i, gv in v.items.items():
        item = lc.instance.items[i]
        if item.exclusive and item.required_level is not None:
            for d, var in gv.use.items():
                slots[item.required_level, d].append(var)
    for vars_ in slots.values():
        if len(vars_) > 1:
            model.add_at_most_one(vars_)
    return []


def add_shared_fragmentation(
    model: cp_model.CpModel, lc: LookaheadCandidates, v: LookaheadVars
) -> list[Term]:
    """Fragmentation growth per node on the total pods all items put there."""
    frag = lc.instance.table.frag_cost
    weight = lc.gang_weights.fragmentation
    if frag is None or not weight:
        return []
    terms: list[Term] = []
    for row, entries in sorted(v.on_row(lc).items()):
        top = min(sum(ub for _, _, (_, ub) in entries), frag.shape[1] - 1)
        values = [int(c) for c in frag[row, : top + 1]]
        if not any(values):
            continue
        load = model.new_int_var(0, top, f"load{row}")
        model.add(load == sum(var for _, _, (var, _) in entries))
        cost = model.new_int_var(min(values), max(values), f"frag{row}")
        model.add_element(load, values, cost)
        v.load[row], v.frag[row] = load, cost
        terms.append(weight * cost)
    return terms


def build_lookahead(lc: LookaheadCandidates) -> tuple[cp_model.CpModel, LookaheadVars]:
    """The joint model of every item that can be placed alone."""
    model = cp_model.CpModel()
    v = LookaheadVars()
    w = lc.gang_weights
    primary: list[Term] = []
    secondary: list[Term] = []
    for i, cands in enumerate(lc.items):
        if cands is None:
            primary.append(lc.scale * lc.weights[i])
            continue
        prefix = f"i{i}_"
        gv = add_counts(model, cands, prefix)
        gv.placed = model.new_bool_var(f"{prefix}placed")
        v.items[i] = gv
        add_assignment(model, cands, gv, gv.placed)
        add_cuts(model, cands, gv)
        secondary += add_domain(model, cands, gv, w, gv.placed, prefix)
        secondary += add_subdomains(model, cands, gv, w, gv.placed, prefix)
        primary.append(lc.scale * lc.weights[i] * (1 - gv.placed))
    add_shared_capacity(model, lc, v)
    add_exclusive(model, lc, v)
    secondary += add_shared_fragmentation(model, lc, v)
    model.minimize(cp_model.LinearExpr.sum(primary + (secondary if lc.secondary else [])))
    return model, v


def hint_lookahead(
    model: cp_model.CpModel,
    lc: LookaheadCandidates,
    v: LookaheadVars,
    placements: Mapping[int, Mapping[int, int]],
) -> None:
    """Hint known placements (item index -> pod id -> node id; others unplaced)."""
    frag = lc.instance.table.frag_cost
    for i, gv in v.items.items():
        cands = lc.items[i]
        assert cands is not None
        hint_gang(model, cands, gv, placements.get(i, {}))
    totals = _row_totals(lc, placements)
    for row, var in v.load.items():
        model.add_hint(var, totals.get(row, 0))
        if frag is not None:
            model.add_hint(v.frag[row], int(frag[row, totals.get(row, 0)]))


def _row_totals(
    lc: LookaheadCandidates, placements: Mapping[int, Mapping[int, int]]
) -> dict[int, int]:
    table = lc.instance.table
    totals: dict[int, int] = {}
    for assignment in placements.values():
        for node in assignment.values():
            row = table.row(node)
            if row is not None:
                totals[row] = totals.get(row, 0) + 1
    return totals


def lookahead_objective(
    lc: LookaheadCandidates, placements: Mapping[int, Mapping[int, int]]
) -> int:
    """The model's objective for given placements: the plain-Python mirror."""
    w = lc.gang_weights
    no_frag = w.model_copy(update={"fragmentation": 0})
    unplaced = sum(wt for i, wt in enumerate(lc.weights) if i not in placements)
    secondary = 0
    for i, assignment in placements.items():
        cands = lc.items[i]
        if cands is None:
            raise ValueError(f"look-ahead item {i} has no candidates but is placed")
        secondary += sum(gang_terms(cands, assignment, no_frag).values())
    frag = lc.instance.table.frag_cost
    if frag is not None and w.fragmentation:
        totals = _row_totals(lc, placements)
        secondary += w.fragmentation * sum(int(frag[r, n]) for r, n in totals.items())
    return lc.scale * unplaced + (secondary if lc.secondary else 0)
