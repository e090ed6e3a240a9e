"""Lower bounds on the victim cost of making room in one domain (numpy only).

Who calls: ``preemption.prune_preemption``, to order candidate domains and to stop the
search once no untried domain can beat the best plan. Both bounds are valid for every plan
(a plan never costs less), so the search stays exact:

* aggregate: per dimension, the cheapest fractional way to free the summed demand the domain
  lacks now; the largest over dimensions;
* per node: on each node, the cheapest fractional way to free room for j more pods (each pod
  taking at least the gang's component-wise smallest demand), with a gang unit's cost shared
  out over the nodes it frees in that domain; then the P cheapest per-pod increments over
  the domain's nodes (any real plan is one choice of P increments, so it costs at least
  that much).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scheduler.solver.instance import IntArray

__all__ = ["aggregate_bound", "node_bounds"]

FloatArray = npt.NDArray[np.float64]


def aggregate_bound(costs: IntArray, units: IntArray, freed: IntArray, deficit: IntArray) -> int:
    """Largest over dimensions of the cheapest fractional way to free ``deficit``, given
    per (unit, node) pair the unit index and the supply freed, and the unit costs."""
    if not len(units) or not (deficit > 0).any():
        return 0
    ids, inverse = np.unique(units, return_inverse=True)
    amounts = np.zeros((len(ids), freed.shape[1]), dtype=np.float64)
    np.add.at(amounts, inverse.reshape(-1), freed)
    price = costs[ids].astype(np.float64)
    best = 0.0
    for d in np.flatnonzero(deficit > 0):
        useful = amounts[:, d] > 0
        if not useful.any():
            continue
        amount = amounts[useful, d]
        ratio = price[useful] / amount
        order = np.argsort(ratio, kind="stable")
        best = max(best, _fractional(amount[order], ratio[order], float(deficit[d])))
    return int(np.floor(best - 1e-9)) if best > 0 else 0


def _fractional(amount: FloatArray, ratio: FloatArray, need: float) -> float:
    got = np.cumsum(amount)
    k = int(np.searchsorted(got, need))
    spent = float((amount[:k] * ratio[:k]).sum())
    if k < len(amount):
        spent += (need - (got[k - 1] if k else 0.0)) * float(ratio[k])
    return spent


def node_bounds(
    base: IntArray,
    pairs: tuple[IntArray, IntArray, IntArray],
    price: FloatArray,
    mindem: IntArray,
    rows_info: tuple[IntArray, IntArray, int],
) -> dict[int, int]:
    """Per domain, the per-node bound (see the module overview).

    ``base[r]``: free supply now on candidate row r; ``pairs``: per victim on a candidate
    row, (row, unit, freed supply); ``price``: per victim, its unit's cost divided by the
    number of nodes that unit frees in the row's domain; ``rows_info``: per row the most
    pods of the gang it can take and its domain, and the gang size P.
    """
    cap, domain, size = rows_info
    rows = base.shape[0]
    jmax = int(min(size, int(cap.max(initial=0))))
    if rows == 0 or jmax == 0:
        return {}
    at, unit, freed = pairs
    width_u = int(unit.max(initial=0)) + 1
    key = at * width_u + unit
    keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    amount_pairs = np.zeros((len(keys), base.shape[1]), dtype=np.float64)
    np.add.at(amount_pairs, inverse, freed)
    pair_row = keys // width_u
    starts = np.searchsorted(pair_row, np.arange(rows))
    slot = np.arange(len(keys)) - starts[pair_row]
    width = int(slot.max(initial=-1)) + 1
    amount = np.zeros((rows, max(width, 1), base.shape[1]), dtype=np.float64)
    cost_of = np.zeros((rows, max(width, 1)), dtype=np.float64)
    amount[pair_row, slot] = amount_pairs
    cost_of[pair_row, slot] = price[first]
    counts = np.arange(1, jmax + 1, dtype=np.float64)
    cost = np.zeros((rows, jmax), dtype=np.float64)
    for d in np.flatnonzero(mindem > 0):
        a = amount[:, :, d]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(a > 0, cost_of / np.where(a > 0, a, 1.0), np.inf)
        order = np.argsort(ratio, axis=1, kind="stable")
        a_sorted = np.take_along_axis(a, order, axis=1)
        r_sorted = np.take_along_axis(ratio, order, axis=1)
        got = np.cumsum(a_sorted, axis=1)
        spent = np.cumsum(a_sorted * np.where(np.isfinite(r_sorted), r_sorted, 0.0), axis=1)
        need = np.maximum(counts[None, :] * float(mindem[d]) - base[:, d, None], 0.0)
        k = (got[:, None, :] < need[:, :, None]).sum(axis=2)
        idx = np.clip(k - 1, 0, None)
        before_got = np.where(k > 0, np.take_along_axis(got, idx, axis=1), 0.0)
        before_spent = np.where(k > 0, np.take_along_axis(spent, idx, axis=1), 0.0)
        nxt = np.take_along_axis(r_sorted, np.clip(k, 0, got.shape[1] - 1), axis=1)
        gap = need - before_got
        usable = (k < got.shape[1]) & np.isfinite(nxt)
        short = np.where(usable, gap * np.where(usable, nxt, 0.0), np.inf)
        here = np.where(need > 0, before_spent + np.where(gap > 0, short, 0.0), 0.0)
        cost = np.maximum(cost, here)
    with np.errstate(invalid="ignore"):
        marginal = np.diff(np.concatenate([np.zeros((rows, 1)), cost], axis=1), axis=1)
    marginal[np.isnan(marginal) | (counts[None, :] > cap[:, None])] = np.inf
    out: dict[int, int] = {}
    for d in np.unique(domain).tolist():
        values = marginal[domain == d].ravel()
        if values.size < size:
            continue
        low = np.partition(values, size - 1)[:size]
        if np.isfinite(low).all():
            out[int(d)] = int(np.floor(float(low.sum()) - 1e-6))
    return out
