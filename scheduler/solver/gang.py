"""CP-SAT model of whole-gang placement over pruned candidates.

Who calls: ``solve.solve_gang`` (and the preemption builder, which reuses the families
here). :func:`build_gang` returns ``(model, vars)``; each ``add_*`` function adds one
constraint family and returns its weighted objective terms (habit 8).

Variables: ``x[r, k]`` = pods of kind k on candidate row r (kinds are interchangeable pods,
so an LWS group of identical workers plus a leader is two integers per node, not 2 x P
booleans); ``use[d]`` = the gang takes required-level domain d; ``sub[s]`` = the gang uses
preferred-level sub-domain s; ``load[r]``/``frag[r]`` = pods on row r and the fragmentation
growth that count costs (from ``NodeTable.frag_cost``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from scheduler.solver.candidates import GangCandidates
from scheduler.solver.config import GangWeights

__all__ = [
    "GangVars",
    "add_assignment",
    "add_capacity",
    "add_counts",
    "add_cuts",
    "add_domain",
    "add_fragmentation",
    "add_subdomains",
    "build_gang",
    "decode_gang",
    "hint_gang",
]

Term = cp_model.LinearExprT


@dataclass
class GangVars:
    """The variables of one gang's model, keyed by candidate row index and kind."""

    x: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    by_row: dict[int, list[tuple[int, cp_model.IntVar]]] = field(default_factory=dict)
    use: dict[int, cp_model.IntVar] = field(default_factory=dict)
    sub: dict[int, cp_model.IntVar] = field(default_factory=dict)
    load: dict[int, cp_model.IntVar] = field(default_factory=dict)
    frag: dict[int, cp_model.IntVar] = field(default_factory=dict)

    def row_sum(self, r: int) -> cp_model.LinearExpr:
        """Pods of this gang on row r."""
        return cp_model.LinearExpr.sum([v for _, v in self.by_row.get(r, [])])


def add_counts(model: cp_model.CpModel, cands: GangCandidates, prefix: str = "") -> GangVars:
    """One integer per (row, kind) with room: 0..pods of the kind that fit alone there."""
    v = GangVars()
    for r in range(len(cands.rows)):
        for k in range(cands.kinds.size):
            ub = int(cands.cap[r, k])
            if ub > 0:
                var = model.new_int_var(0, ub, f"{prefix}x{r}_{k}")
                v.x[r, k] = var
                v.by_row.setdefault(r, []).append((k, var))
    return v


def add_assignment(model: cp_model.CpModel, cands: GangCandidates, v: GangVars) -> list[Term]:
    """Every pod placed exactly once: the kind counts add up to the kind sizes."""
    per_kind: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for (_, k), var in v.x.items():
        per_kind[k].append(var)
    for k in range(cands.kinds.size):
        model.add(sum(per_kind[k]) == int(cands.kinds.count[k]))
    return []


def add_capacity(model: cp_model.CpModel, cands: GangCandidates, v: GangVars) -> list[Term]:
    """Node capacity per dimension where several kinds compete (one kind alone is already
    bounded by its count variable's upper bound)."""
    dem = cands.kinds.demand
    for r, pairs in v.by_row.items():
        if len(pairs) < 2:
            continue
        for d in range(dem.shape[1]):
            users = [(int(dem[k, d]), var) for k, var in pairs if dem[k, d] > 0]
            if len(users) > 1:
                model.add(sum(c * var for c, var in users) <= int(cands.free[r, d]))
    return []


def add_cuts(model: cp_model.CpModel, cands: GangCandidates, v: GangVars) -> list[Term]:
    """Allocator cuts: at most ``max_pods`` of the cut's kinds on the cut's node."""
    for cut, scope in zip(cands.gang.cuts, cands.kinds.cut_kinds, strict=True):
        row = cands.table.row(cut.node)
        r = cands.local.get(row) if row is not None else None
        if r is None:
            continue
        vars_ = [var for k, var in v.by_row.get(r, []) if k in scope]
        if len(vars_) > 1:
            model.add(sum(vars_) <= cut.max_pods)
    return []


def add_domain(
    model: cp_model.CpModel,
    cands: GangCandidates,
    v: GangVars,
    weights: GangWeights,
    prefix: str = "",
) -> list[Term]:
    """Exactly one required-level domain; pods only on its rows.
    Objective: BestFit tightness, the chosen domain's slack in pods."""
    if cands.level is None:
        return []
    for d in cands.domains:
        v.use[d] = model.new_bool_var(f"{prefix}use{d}")
    model.add(sum(v.use.values()) == 1)
    cap_total = cands.cap_total
    for r in v.by_row:
        d = int(cands.domain[r])
        model.add(v.row_sum(r) <= int(cap_total[r]) * v.use[d])
    if not weights.tightness:
        return []
    return [weights.tightness * cands.slack[d] * var for d, var in v.use.items() if cands.slack[d]]


def add_subdomains(
    model: cp_model.CpModel,
    cands: GangCandidates,
    v: GangVars,
    weights: GangWeights,
    prefix: str = "",
) -> list[Term]:
    """Preferred level: mark each sub-domain holding a pod. Objective: sub-domains used.
    Also adds the valid cut "at least the per-domain lower bound of sub-domains"."""
    if cands.sub is None:
        return []
    cap_total = cands.cap_total
    members: dict[int, int] = {}
    for r in v.by_row:
        s = int(cands.sub[r])
        if s not in v.sub:
            v.sub[s] = model.new_bool_var(f"{prefix}sub{s}")
            members[s] = int(cands.domain[r])
        model.add(v.row_sum(r) <= int(cap_total[r]) * v.sub[s])
    if cands.level is None:
        model.add(sum(v.sub.values()) >= cands.sub_lb.get(0, 0))
    else:
        per_domain: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for s, var in v.sub.items():
            d = members[s]
            model.add_implication(var, v.use[d])
            per_domain[d].append(var)
        for d, vars_ in per_domain.items():
            need = cands.sub_lb.get(d, 0)
            if need > 1:
                model.add(sum(vars_) >= need * v.use[d])
    return [weights.subdomains * var for var in v.sub.values()]


def add_fragmentation(
    model: cp_model.CpModel,
    cands: GangCandidates,
    v: GangVars,
    weights: GangWeights,
    prefix: str = "",
) -> list[Term]:
    """Fragmentation growth per row as a table lookup on the row's pod count.
    Objective: summed growth."""
    if cands.frag is None or weights.fragmentation == 0:
        return []
    cap_total = cands.cap_total
    terms: list[Term] = []
    for r in v.by_row:
        top = int(cap_total[r])
        values = [int(c) for c in cands.frag[r, : top + 1]]
        if not any(values):
            continue
        load = model.new_int_var(0, top, f"{prefix}load{r}")
        model.add(load == v.row_sum(r))
        cost = model.new_int_var(min(values), max(values), f"{prefix}frag{r}")
        model.add_element(load, values, cost)
        v.load[r], v.frag[r] = load, cost
        terms.append(weights.fragmentation * cost)
    return terms


def build_gang(cands: GangCandidates, weights: GangWeights) -> tuple[cp_model.CpModel, GangVars]:
    """The whole-gang placement model over ``cands`` (minimise the weighted terms)."""
    model = cp_model.CpModel()
    v = add_counts(model, cands)
    terms: list[Term] = []
    terms += add_assignment(model, cands, v)
    terms += add_capacity(model, cands, v)
    terms += add_cuts(model, cands, v)
    terms += add_domain(model, cands, v, weights)
    terms += add_subdomains(model, cands, v, weights)
    terms += add_fragmentation(model, cands, v, weights)
    model.minimize(sum(terms))
    return model, v


def _row_kind_counts(cands: GangCandidates, assignment: Mapping[int, int]) -> dict[int, list[int]]:
    kind_of = {p: k for k, pods in enumerate(cands.kinds.pods) for p in pods}
    counts: dict[int, list[int]] = {}
    for pod, node in assignment.items():
        row = cands.table.row(node)
        r = cands.local.get(row) if row is not None else None
        if r is None:
            raise ValueError(f"gang {cands.gang.key}: hint node {node} is not a candidate")
        counts.setdefault(r, [0] * cands.kinds.size)[kind_of[pod]] += 1
    return counts


def hint_gang(
    model: cp_model.CpModel,
    cands: GangCandidates,
    v: GangVars,
    assignment: Mapping[int, int],
) -> None:
    """Hint a known placement (the greedy's) for every variable of the gang's model."""
    counts = _row_kind_counts(cands, assignment)
    for (r, k), var in v.x.items():
        model.add_hint(var, counts.get(r, [0] * cands.kinds.size)[k])
    rows = list(counts)
    chosen = {int(cands.domain[r]) for r in rows}
    for d, var in v.use.items():
        model.add_hint(var, int(d in chosen))
    if cands.sub is not None:
        subs = {int(cands.sub[r]) for r in rows}
        for s, var in v.sub.items():
            model.add_hint(var, int(s in subs))
    for r, var in v.load.items():
        n = sum(counts.get(r, []))
        model.add_hint(var, n)
        if cands.frag is not None:
            model.add_hint(v.frag[r], int(cands.frag[r, n]))


def decode_gang(cands: GangCandidates, v: GangVars, solver: cp_model.CpSolver) -> dict[int, int]:
    """Pod id -> node id from solved counts: each kind's pods, ascending, fill rows in order."""
    queues = [list(pods) for pods in cands.kinds.pods]
    out: dict[int, int] = {}
    for (r, k), var in sorted(v.x.items()):
        n = int(solver.value(var))
        node = int(cands.table.ids[cands.rows[r]])
        for _ in range(n):
            out[queues[k].pop(0)] = node
    return out
