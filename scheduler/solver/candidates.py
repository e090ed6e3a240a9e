"""Pruning to candidate domains and nodes, before any model is built (numpy only).

Who calls: ``solve.py`` (gang, preemption) and ``greedy.py``. Both the CP-SAT
builders and the greedy routines work on the :class:`GangCandidates` this module returns.

Algorithm overview (whole-gang placement):

1. Group the gang's pods into *kinds* — pods with equal demand, equal allowed nodes and equal
   membership in the allocator cuts are interchangeable, so the models count "pods of kind k
   on node n" instead of pod x node booleans.
2. Per node and kind, the pods of that kind that fit alone (``free // demand`` over the kind's
   positive dimensions, 0 on nodes the kind may not use, lowered by cuts).
3. Per domain of the required level (the whole table when there is none): the pods of each
   kind that fit, and the summed free supply against the gang's summed demand. A domain that
   is blocked (exclusive gangs), or lacks room for some kind, or lacks some dimension in total,
   is dropped. These are necessary conditions, exact for a gang of one kind without cuts.
   If no domain is left the answer is INFEASIBLE, with a reason that names the level, the best
   domain, its room in pods and the shortfall per dimension.
4. A lower bound of the objective per surviving domain — its slack in pods (BestFit
   tightness, exact), the fewest preferred-level sub-domains that can hold each kind (largest
   first), and the P smallest per-pod fragmentation increments. Domains are ordered by
   this bound; ``search.py`` solves them in batches of ``max_domains`` and stops as soon as
   the next batch's bound cannot beat the best answer found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from scheduler.solver.config import GangWeights
from scheduler.solver.instance import GangSpec, IntArray, NodeTable, level_label

__all__ = [
    "SATURATED",
    "GangCandidates",
    "PodKinds",
    "gang_terms",
    "group_kinds",
    "node_caps",
    "prune_gang",
]

BoolArray = npt.NDArray[np.bool_]

SATURATED = 1 << 20
"""Capacity of a node for pods that demand nothing it counts."""


@dataclass(frozen=True, slots=True)
class PodKinds:
    """Interchangeable pod groups of one gang, in order of their smallest pod id."""

    demand: IntArray
    """int64[K, D]: demand of one pod of each kind."""
    count: IntArray
    """int64[K]: pods of each kind."""
    pods: tuple[tuple[int, ...], ...]
    """pod ids of each kind, ascending."""
    allowed: tuple[frozenset[int] | None, ...]
    """allowed node ids of each kind (None = all)."""
    cut_kinds: tuple[tuple[int, ...], ...]
    """per gang cut, the kinds it covers (each kind lies wholly inside or outside a cut)."""

    @property
    def size(self) -> int:
        """Number of kinds."""
        return len(self.pods)

    @property
    def main(self) -> int:
        """The kind with the most pods (lowest index on ties): tightness is counted in it."""
        return int(np.argmax(self.count))


def group_kinds(gang: GangSpec) -> PodKinds:
    """Group a gang's pods into kinds (equal demand, allowed nodes and cut membership)."""
    groups: dict[tuple[object, ...], list[int]] = {}
    allowed_of: dict[tuple[object, ...], frozenset[int] | None] = {}
    for pod in sorted(gang.pods, key=lambda p: p.id):
        allowed = None if pod.allowed is None else frozenset(pod.allowed)
        cuts = tuple(i for i, c in enumerate(gang.cuts) if c.pods is not None and pod.id in c.pods)
        key = (pod.demand, None if allowed is None else tuple(sorted(allowed)), cuts)
        groups.setdefault(key, []).append(pod.id)
        allowed_of[key] = allowed
    keys = list(groups)
    demand = np.array([k[0] for k in keys], dtype=np.int64).reshape(len(keys), -1)
    kind_of = {pod: k for k, key in enumerate(keys) for pod in groups[key]}
    cut_kinds = tuple(
        tuple(range(len(keys)))
        if cut.pods is None
        else tuple(sorted({kind_of[p] for p in cut.pods}))
        for cut in gang.cuts
    )
    return PodKinds(
        demand=demand,
        count=np.array([len(groups[k]) for k in keys], dtype=np.int64),
        pods=tuple(tuple(groups[k]) for k in keys),
        allowed=tuple(allowed_of[k] for k in keys),
        cut_kinds=cut_kinds,
    )


def node_caps(
    table: NodeTable, gang: GangSpec, kinds: PodKinds, free: IntArray | None = None
) -> IntArray:
    """int64[N, K]: pods of each kind that fit alone on each node of the table (saturated at
    :data:`SATURATED`), honouring allowed nodes and the cuts. ``free`` overrides the table's
    free supply (the preemption planner passes free + everything evictable)."""
    supply = np.maximum(table.free if free is None else free, 0)
    caps = np.empty((supply.shape[0], kinds.size), dtype=np.int64)
    for k in range(kinds.size):
        dem = kinds.demand[k]
        pos = np.flatnonzero(dem > 0)
        if pos.size:
            caps[:, k] = np.minimum((supply[:, pos] // dem[pos]).min(axis=1), SATURATED)
        else:
            caps[:, k] = SATURATED
        allowed = kinds.allowed[k]
        if allowed is not None:
            caps[~np.isin(table.ids, np.fromiter(allowed, dtype=np.int64)), k] = 0
    for cut, scope in zip(gang.cuts, kinds.cut_kinds, strict=True):
        row = table.row(cut.node)
        if row is not None:
            caps[row, list(scope)] = np.minimum(caps[row, list(scope)], cut.max_pods)
    return caps


@dataclass(frozen=True, slots=True)
class GangCandidates:
    """The pruned view of one gang on one table: candidate rows (table row indices, sorted)
    with their per-kind capacity, their required-level domain (0 when the gang has none) and
    dense preferred-level sub-domain, plus per-domain slack and lower bounds."""

    table: NodeTable
    gang: GangSpec
    kinds: PodKinds
    level: int | None
    rows: IntArray
    cap: IntArray
    """int64[R, K]: pods of each kind that fit alone, clipped to the kind's count."""
    domain: IntArray
    sub: IntArray | None
    frag: IntArray | None
    domains: tuple[int, ...]
    """candidate domains, lowest bound first (ties: lowest id)."""
    slack: Mapping[int, int]
    sub_lb: Mapping[int, int]
    lower_bound: Mapping[int, int]
    free: IntArray
    """int64[R, D]: the free supply the capacities were computed from."""
    local: Mapping[int, int] = field(default_factory=dict)
    """table row -> index into rows."""

    @property
    def cap_total(self) -> IntArray:
        """int64[R]: most pods of this gang one row can take (ignoring cross-kind limits)."""
        total: IntArray = np.minimum(self.cap.sum(axis=1), self.gang.size)
        return total

    def subset(self, domains: Sequence[int]) -> GangCandidates:
        """The same candidates restricted to some of the domains (kept in the given order)."""
        keep = np.isin(self.domain, np.asarray(domains, dtype=np.int64))
        rows = self.rows[keep]
        return replace(
            self,
            rows=rows,
            cap=self.cap[keep],
            domain=self.domain[keep],
            sub=None if self.sub is None else self.sub[keep],
            frag=None if self.frag is None else self.frag[keep],
            free=self.free[keep],
            domains=tuple(domains),
            local={int(r): i for i, r in enumerate(rows.tolist())},
        )


def _domain_sums(ids: IntArray, values: IntArray, size: int) -> IntArray:
    out = np.zeros((size, values.shape[1]), dtype=np.int64)
    np.add.at(out, ids, values)
    return out


def _fewest_subdomains(
    sub: IntArray, dom: IntArray, cap: IntArray, count: IntArray
) -> dict[int, int]:
    """Per domain, the fewest sub-domains (largest first) holding every kind's count."""
    nsub = int(sub.max()) + 1
    parent = np.zeros(nsub, dtype=np.int64)
    parent[sub] = dom
    subcap = _domain_sums(sub, cap, nsub)
    need: dict[int, int] = {}
    for k in range(cap.shape[1]):
        order = np.lexsort((-subcap[:, k], parent))
        p, c = parent[order], subcap[order, k]
        csum = np.cumsum(c)
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        base = np.repeat(csum[starts] - c[starts], np.diff(np.r_[starts, len(p)]))
        before = csum - c - base
        taken = p[before < count[k]]
        ids, counts = np.unique(taken, return_counts=True)
        for d, n in zip(ids.tolist(), counts.tolist(), strict=True):
            need[d] = max(need.get(d, 0), n)
    return need


def _frag_bound(frag: IntArray, total: IntArray, dom: IntArray, size: int) -> dict[int, int]:
    """Per domain: the sum of the ``size`` smallest per-pod growth increments
    ``frag[r, j] - frag[r, j-1]`` (j up to the row's capacity) over its rows. A placement's
    growth is the sum of one prefix of increments per row — ``size`` increments in all — so
    it is never below this."""
    steps = np.diff(frag, axis=1).astype(np.float64)
    counts = np.arange(1, frag.shape[1])
    steps[counts[None, :] > total[:, None]] = np.inf
    out: dict[int, int] = {}
    for d in np.unique(dom).tolist():
        values = steps[dom == d].ravel()
        if values.size >= size:
            low = np.partition(values, size - 1)[:size]
            if np.isfinite(low).all():
                out[int(d)] = int(low.sum())
    return out


def prune_gang(
    table: NodeTable,
    gang: GangSpec,
    weights: GangWeights,
    *,
    free: IntArray | None = None,
    context: str = "",
) -> GangCandidates | str:
    """Candidate domains and rows for ``gang``, or the reason no domain can take it.

    ``free`` overrides the table's free supply (preemption: free + evictable); ``context`` is
    added to the reason (``" even after evicting every lower-priority pod"``).
    """
    kinds = group_kinds(gang)
    supply = table.free if free is None else free
    caps = node_caps(table, gang, kinds, supply)
    clipped = np.minimum(caps, kinds.count[None, :])
    level = gang.required_level
    dom_all = np.zeros(len(table.ids), dtype=np.int64) if level is None else table.domain[:, level]
    valid = np.flatnonzero(dom_all >= 0)
    ndom = int(dom_all.max()) + 1 if valid.size else 0
    d_valid = dom_all[valid]
    room_k = _domain_sums(d_valid, clipped[valid], ndom)
    total_free = _domain_sums(d_valid, np.maximum(supply[valid], 0), ndom)
    need = (kinds.demand * kinds.count[:, None]).sum(axis=0)
    fits_kinds = (room_k >= kinds.count[None, :]).all(axis=1)
    fits_total = (total_free >= need[None, :]).all(axis=1)
    blocked = np.zeros(ndom, dtype=bool)
    blocked[[d for d in gang.blocked_domains if 0 <= d < ndom]] = True
    present = np.zeros(ndom, dtype=bool)
    present[d_valid] = True
    ok = fits_kinds & fits_total & ~blocked & present
    if not ok.any():
        return _reason(table, gang, kinds, room_k, total_free, need, blocked, present, context)

    candidates = np.flatnonzero(ok)
    keep = valid[np.isin(d_valid, candidates) & (clipped[valid].sum(axis=1) > 0)]
    rows = keep
    cap = clipped[rows]
    dom = dom_all[rows]
    main = kinds.main
    unclipped = _domain_sums(dom, caps[rows][:, [main]], ndom)[:, 0]
    slack = {int(d): int(unclipped[d] - kinds.count[main]) for d in candidates}
    if level is None:
        slack = {0: 0}
    sub = None
    sub_lb: dict[int, int] = {}
    pref = gang.preferred_level
    if pref is not None:
        raw = table.domain[rows, pref]
        raw = np.where(raw >= 0, raw, -2 - np.arange(len(rows), dtype=np.int64))
        _, sub_dense = np.unique(raw, return_inverse=True)
        sub = sub_dense.astype(np.int64).reshape(-1)
        sub_lb = _fewest_subdomains(sub, dom, cap, kinds.count)
    frag = None if table.frag_cost is None else table.frag_cost[rows]
    total = np.minimum(cap.sum(axis=1), gang.size)
    frag_lb = _frag_bound(frag, total, dom, gang.size) if frag is not None else {}
    bound = {
        int(d): weights.tightness * slack[int(d)]
        + weights.subdomains * sub_lb.get(int(d), 0)
        + weights.fragmentation * frag_lb.get(int(d), 0)
        for d in candidates
    }
    order = tuple(sorted(bound, key=lambda d: (bound[d], d)))
    return GangCandidates(
        table=table,
        gang=gang,
        kinds=kinds,
        level=level,
        rows=rows.astype(np.int64),
        cap=cap,
        domain=dom,
        sub=sub,
        frag=frag,
        domains=order,
        slack=slack,
        sub_lb=sub_lb,
        lower_bound=bound,
        free=np.asarray(supply[rows], dtype=np.int64),
        local={int(r): i for i, r in enumerate(rows.tolist())},
    )


def _reason(
    table: NodeTable,
    gang: GangSpec,
    kinds: PodKinds,
    room_k: IntArray,
    total_free: IntArray,
    need: IntArray,
    blocked: BoolArray,
    present: BoolArray,
    context: str,
) -> str:
    size = gang.size
    level = gang.required_level
    room = np.minimum(room_k, kinds.count[None, :]).sum(axis=1)
    open_ = np.flatnonzero(present & ~blocked)
    what = "the gang" + context
    if level is None:
        if not present.any():
            return f"the cluster cannot take {what}: no candidate nodes"
        best = 0
        scope = f"the cluster cannot take {what}: its nodes have"
    else:
        lvl = level_label(table.levels[level])
        if not present.any():
            return f"no {lvl} can take {what}: no candidate node has a {lvl}"
        if not open_.size:
            return f"no {lvl} can take {what}: every {lvl} is used by another exclusive gang"
        best = int(open_[np.lexsort((open_, -room[open_]))[0]])
        scope = f"no {lvl} can take {what}: best {lvl} {table.domain_name(level, best)} has"
    short = [
        f"{table.dims[d]} short by {int(need[d] - total_free[best, d])}"
        for d in range(len(table.dims))
        if need[d] > total_free[best, d]
    ]
    got = int(room[best])
    if got >= size:
        text = f"{scope} room for each kind of pod but not for all {size} together"
    else:
        text = f"{scope} room for {got} of {size} pods"
    if short:
        text += f" ({', '.join(short)})"
    else:
        limits = any(p.allowed is not None for p in gang.pods) or bool(gang.cuts)
        text += " (enough in total, but split across nodes too small for a pod"
        text += ", or on nodes excluded by allowed nodes or allocator cuts)" if limits else ")"
    if level is not None:
        lvl = level_label(table.levels[level])
        fit = (room >= size) & blocked & present
        if fit.any():
            text += f"; {int(fit.sum())} {lvl}(s) with room are used by other exclusive gangs"
    return text


def gang_terms(
    cands: GangCandidates, assignment: Mapping[int, int], weights: GangWeights
) -> dict[str, int]:
    """Weighted objective terms of a placement (pod id -> node id) on the candidates: the
    plain-Python mirror of the CP-SAT objective, used by the greedy and by the tests."""
    table = cands.table
    per_row: dict[int, int] = {}
    for node in assignment.values():
        row = table.row(node)
        if row is None or row not in cands.local:
            raise ValueError(f"gang {cands.gang.key}: node {node} is not a candidate")
        local = cands.local[row]
        per_row[local] = per_row.get(local, 0) + 1
    terms = {"fragmentation": 0, "tightness": 0, "subdomains": 0}
    if cands.frag is not None:
        terms["fragmentation"] = weights.fragmentation * sum(
            int(cands.frag[r, n]) for r, n in per_row.items()
        )
    if cands.level is not None and per_row:
        d = int(cands.domain[next(iter(per_row))])
        terms["tightness"] = weights.tightness * cands.slack[d]
    if cands.sub is not None:
        terms["subdomains"] = weights.subdomains * len({int(cands.sub[r]) for r in per_row})
    return terms
