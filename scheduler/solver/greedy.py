"""Fast paths without a solver: the greedy fallback of each problem, and the Kueue-style
BestFit gang placement baseline.

Who calls: ``solve.py`` uses :func:`greedy_gang` as the CP-SAT hint and as the fallback when
the solver gives nothing usable in time (the preemption greedy lives in
``preemption_greedy.py``). The plugins register
:func:`kueue_best_fit` as the ``kueue-bestfit`` baseline policy.

None of these proves anything: a greedy that finds nothing is not a proof that nothing fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from scheduler.solver.candidates import GangCandidates, gang_terms
from scheduler.solver.config import GangWeights
from scheduler.solver.instance import (
    GangInstance,
    GangSolution,
    GangSpec,
    IntArray,
    NodeTable,
    SolveStatus,
    level_label,
)

__all__ = [
    "fill_domain",
    "greedy_gang",
    "kueue_best_fit",
    "max_pod_caps",
    "row_order",
]


def _kind_order(cands: GangCandidates) -> list[int]:
    """Kinds, largest first (demand as a share of the largest free value per dimension)."""
    scale = np.maximum(cands.free.max(axis=0, initial=1), 1)
    size = (cands.kinds.demand / scale).sum(axis=1)
    return sorted(range(cands.kinds.size), key=lambda k: (-size[k], k))


def row_order(cands: GangCandidates, rows: Sequence[int]) -> list[int]:
    """Rows of one domain in fill order: sub-domains with the most room first, then within a
    sub-domain the row with the best fragmentation per pod, then the least room (BestFit)."""
    total = cands.cap_total
    sub_room: dict[int, int] = {}
    if cands.sub is not None:
        for r in rows:
            s = int(cands.sub[r])
            sub_room[s] = sub_room.get(s, 0) + int(total[r])

    def key(r: int) -> tuple[int, int, float, int, int]:
        s = int(cands.sub[r]) if cands.sub is not None else 0
        per_pod = 0.0
        if cands.frag is not None and total[r] > 0:
            per_pod = float(cands.frag[r, total[r]]) / float(total[r])
        return (-sub_room.get(s, 0), s, per_pod, int(total[r]), r)

    return sorted(rows, key=key)


def fill_domain(
    cands: GangCandidates, rows: Sequence[int], free: IntArray | None = None
) -> dict[int, int] | None:
    """First-fit of the gang's pods (largest kind first) onto ``rows`` in the given order,
    with real demands, cuts and per-kind capacity; None when some pod finds no row. ``free``
    (int64[R, D], candidate rows) overrides the candidates' free supply."""
    room = np.array(cands.free if free is None else free, dtype=np.int64, copy=True)
    dem = cands.kinds.demand
    cuts: list[tuple[int, frozenset[int], list[int]]] = []
    for cut, scope in zip(cands.gang.cuts, cands.kinds.cut_kinds, strict=True):
        row = cands.table.row(cut.node)
        if row is not None and row in cands.local:
            cuts.append((cands.local[row], frozenset(scope), [cut.max_pods]))
    out: dict[int, int] = {}
    for k in _kind_order(cands):
        queue = list(cands.kinds.pods[k])
        pos = np.flatnonzero(dem[k] > 0)
        for r in rows:
            if not queue:
                break
            n = min(len(queue), int(cands.cap[r, k]))
            if pos.size:
                n = min(n, int((np.maximum(room[r, pos], 0) // dem[k, pos]).min()))
            hits = [c for c in cuts if c[0] == r and k in c[1]]
            for c in hits:
                n = min(n, c[2][0])
            if n <= 0:
                continue
            for c in hits:
                c[2][0] -= n
            room[r] -= n * dem[k]
            node = int(cands.table.ids[cands.rows[r]])
            for pod in queue[:n]:
                out[pod] = node
            queue = queue[n:]
        if queue:
            return None
    return out


def greedy_gang(
    cands: GangCandidates, weights: GangWeights, limit: int | None = None
) -> tuple[dict[int, int], int] | None:
    """Best first-fit placement over the first ``limit`` candidate domains (all when None):
    ``(assignment, objective)``, or None when none of them takes the gang."""
    best: tuple[int, int, dict[int, int]] | None = None
    for idx, d in enumerate(cands.domains[:limit]):
        rows = [int(r) for r in np.flatnonzero(cands.domain == d)]
        got = fill_domain(cands, row_order(cands, rows))
        if got is None:
            continue
        obj = sum(gang_terms(cands, got, weights).values())
        if best is None or (obj, idx) < best[:2]:
            best = (obj, idx, got)
    return None if best is None else (best[2], best[0])


def max_pod_caps(table: NodeTable, gang: GangSpec, free: IntArray | None = None) -> IntArray:
    """int64[N]: pods of the gang each node takes if every pod demanded the component-wise
    largest demand of the gang, on nodes every pod may use, lowered by any cut on the node."""
    supply = np.maximum(table.free if free is None else free, 0)
    demand = np.array([p.demand for p in gang.pods], dtype=np.int64).max(axis=0)
    pos = np.flatnonzero(demand > 0)
    if pos.size:
        caps = np.minimum((supply[:, pos] // demand[pos]).min(axis=1), gang.size)
    else:
        caps = np.full(len(table.ids), gang.size, dtype=np.int64)
    for pod in gang.pods:
        if pod.allowed is not None:
            caps[~np.isin(table.ids, np.asarray(pod.allowed, dtype=np.int64))] = 0
    for cut in gang.cuts:
        row = table.row(cut.node)
        if row is not None:
            caps[row] = min(int(caps[row]), cut.max_pods)
    out: IntArray = caps.astype(np.int64)
    return out


def _spread(caps: Mapping[int, int], need: int) -> list[tuple[int, int]] | None:
    """Kueue's BestFit split of ``need`` pods over child domains: the tightest single child
    that holds all; otherwise the most-free children whole, best-fitting the last one."""
    order = sorted(caps, key=lambda c: (-caps[c], c))
    out: list[tuple[int, int]] = []
    left = need
    for i, child in enumerate(order):
        rest = order[i:]
        fitting = [c for c in rest if caps[c] >= left]
        if fitting:
            tight = min(fitting, key=lambda c: (caps[c], c))
            return [*out, (tight, left)]
        if caps[child] <= 0:
            break
        out.append((child, caps[child]))
        left -= caps[child]
    return None


def kueue_best_fit(instance: GangInstance) -> GangSolution:
    """The Kueue TAS-style baseline (greedy, BestFit profile).

    Algorithm overview (after Kueue's TAS flavor snapshot): count, bottom-up, how many pods
    of the gang each domain holds (every pod taken at the gang's largest demand, as Kueue's
    PodSets are identical pods); at the starting level — the required level, else the
    preferred one, else the node level — take the domain with the smallest count that holds
    the whole gang (BestFit). With no such domain a required gang fails; otherwise climb a
    level and retry, and at the top level split over the most-free domains, best-fitting the
    last. Then descend level by level, splitting each domain's count over its children the
    same way, down to nodes, and give the pods (largest first) to the nodes in that order.
    """
    table, gang = instance.table, instance.gang
    caps = max_pod_caps(table, gang)
    level = gang.required_level
    if level is not None and gang.blocked_domains:
        caps[np.isin(table.domain[:, level], np.asarray(gang.blocked_domains))] = 0
    nlev = len(table.levels)
    start = level if level is not None else gang.preferred_level
    start = nlev if start is None else start

    def domain_caps(lv: int, within: IntArray) -> dict[int, int]:
        """Pods held per domain of level ``lv`` (node rows at the node level)."""
        ids = within if lv == nlev else table.domain[within, lv]
        out: dict[int, int] = {}
        for d, c in zip(ids.tolist(), caps[within].tolist(), strict=True):
            if d >= 0:
                out[d] = out.get(d, 0) + c
        return out

    everyone = np.arange(len(table.ids), dtype=np.int64)
    plan: list[tuple[int, int]] | None = None
    lv = start
    while True:
        counts = domain_caps(lv, everyone)
        fitting = [d for d, c in counts.items() if c >= gang.size]
        if fitting:
            plan = [(min(fitting, key=lambda d: (counts[d], d)), gang.size)]
            break
        if level is not None or lv == 0:
            plan = None if level is not None else _spread(counts, gang.size)
            break
        lv -= 1
    if plan is None:
        where = level_label(table.levels[level]) if level is not None else "domain set"
        best = max(domain_caps(lv, everyone).values(), default=0)
        return GangSolution(
            key=gang.key,
            status=SolveStatus.UNPLACED,
            level=level,
            reason=f"kueue-bestfit: no {where} holds {gang.size} pods (best holds {best})",
        )
    while lv < nlev:
        nxt: list[tuple[int, int]] = []
        for d, count in plan:
            within = np.flatnonzero(table.domain[:, lv] == d)
            split = _spread(domain_caps(lv + 1, within), count)
            if split is None:
                raise AssertionError(f"kueue-bestfit: domain {d} lost capacity on descent")
            nxt += split
        plan, lv = nxt, lv + 1
    pods = sorted(gang.pods, key=lambda p: (tuple(-v for v in p.demand), p.id))
    assignment: dict[int, int] = {}
    for row, count in plan:
        for _ in range(count):
            assignment[pods[len(assignment)].id] = int(table.ids[row])
    dom = None if level is None else int(table.domain[plan[0][0], level])
    return GangSolution(
        key=gang.key,
        status=SolveStatus.FALLBACK,
        assignment=assignment,
        level=level,
        domain=dom,
        domain_name=None if dom is None or level is None else table.domain_name(level, dom),
        reason="kueue-bestfit baseline",
    )
