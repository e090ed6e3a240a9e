"""The greedy preemption planner: CP-SAT's hint and its fallback.

Who calls: ``solve.solve_preemption``. Per candidate domain (lowest bound first): while the
preemptor's pods do not fit, take the cheapest-per-pod step over the domain's nodes — on one
node, evict the prefix of its victim units (cheapest first) that frees room for more pods at
the lowest cost per pod gained (a gang unit frees its other nodes too); then place the pods
first-fit, fill back every unit the placement does not need, and keep the domain with the
lowest objective. Pods are counted at the preemptor's component-wise largest demand while
evicting, so a plan found is real; a domain where this finds nothing may still have one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scheduler.solver.greedy import fill_domain, row_order
from scheduler.solver.instance import IntArray
from scheduler.solver.preemption import PreemptionCandidates, drop_unneeded, plan_objective

__all__ = ["greedy_preemption"]

Step = tuple[float, int, list[int]]


@dataclass
class _Domain:
    """Eviction state inside one candidate domain."""

    size: int
    maxdem: IntArray
    pos: IntArray
    costs: dict[int, int]
    unit_rows: dict[int, list[tuple[int, IntArray]]]
    rows: list[int]
    room: IntArray
    offers: dict[int, dict[int, IntArray]] = field(default_factory=dict)
    evicted: set[int] = field(default_factory=set)
    now: dict[int, int] = field(default_factory=dict)

    def podcaps(self, room: IntArray) -> IntArray:
        """Pods at the largest demand that fit in each row of ``room`` ([J, D])."""
        if not self.pos.size:
            return np.full(room.shape[0], self.size, dtype=np.int64)
        per = np.maximum(room[:, self.pos], 0) // self.maxdem[self.pos]
        caps: IntArray = np.minimum(per.min(axis=1), self.size)
        return caps

    def step_on(self, r: int) -> Step | None:
        """The cheapest-per-pod prefix of row r's remaining units."""
        avail = sorted((self.costs[u], u) for u in self.offers[r] if u not in self.evicted)
        if not avail:
            return None
        gained = self.room[r] + np.cumsum([self.offers[r][u] for _, u in avail], axis=0)
        gain = self.podcaps(gained) - self.now[r]
        if not (gain > 0).any():
            return None
        spent = np.cumsum([c for c, _ in avail]).astype(np.float64)
        ratio = np.where(gain > 0, spent / np.maximum(gain, 1), np.inf)
        j = int(np.argmin(ratio))
        return (float(ratio[j]), r, [u for _, u in avail[: j + 1]])

    def run(self) -> bool:
        """Evict step by step until the pods fit; False when the units run out first."""
        for u, spots in self.unit_rows.items():
            for r, f in spots:
                if r in self.offers:
                    self.offers[r][u] = self.offers[r].get(u, 0) + f
        caps = self.podcaps(self.room[self.rows]).tolist()
        self.now = {r: int(c) for r, c in zip(self.rows, caps, strict=True)}
        steps = {r: self.step_on(r) for r in self.rows}
        while sum(self.now.values()) < self.size:
            options = [s for s in steps.values() if s is not None]
            if not options:
                return False
            _, _, units = min(options, key=lambda s: (s[0], s[1]))
            touched: set[int] = set()
            for u in units:
                self.evicted.add(u)
                for r, f in self.unit_rows.get(u, ()):
                    if r in self.offers:
                        self.room[r] += f
                        touched.add(r)
            for r in touched:
                self.now[r] = int(self.podcaps(self.room[[r]])[0])
            for r in self.rows:
                if r in touched or any(u in self.offers[r] for u in units):
                    steps[r] = self.step_on(r)
        return True


def greedy_preemption(
    pc: PreemptionCandidates, limit: int | None = None
) -> tuple[dict[int, int], list[int], int] | None:
    """``(assignment, chosen unit indices, objective)`` of the best greedy plan over the
    first ``limit`` candidate domains, or None."""
    cands = pc.gang
    maxdem = cands.kinds.demand.max(axis=0)
    unit_rows: dict[int, list[tuple[int, IntArray]]] = {}
    for row, pairs in pc.freed.items():
        local = cands.local.get(row)
        if local is not None:
            for u, f in pairs:
                unit_rows.setdefault(u, []).append((local, f))
    costs = {u: pc.units[u].cost for u in unit_rows}
    best: tuple[int, int, dict[int, int], list[int]] | None = None
    for idx, d in enumerate(cands.domains[:limit]):
        rows = [int(r) for r in np.flatnonzero(cands.domain == d)]
        state = _Domain(
            size=cands.gang.size,
            maxdem=maxdem,
            pos=np.flatnonzero(maxdem > 0),
            costs=costs,
            unit_rows=unit_rows,
            rows=rows,
            room=np.array(pc.base, dtype=np.int64, copy=True),
            offers={r: {} for r in rows},
        )
        if not state.run():
            continue
        assignment = fill_domain(cands, row_order(cands, rows), free=state.room)
        if assignment is None:
            continue
        chosen = drop_unneeded(pc, assignment, sorted(state.evicted))
        obj, _ = plan_objective(pc, assignment, chosen)
        if best is None or (obj, idx) < best[:2]:
            best = (obj, idx, assignment, chosen)
    return None if best is None else (best[2], best[3], best[0])
