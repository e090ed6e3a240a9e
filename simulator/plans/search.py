"""The search for the cheapest pool mix that meets every target: bisection, then local search.

Who calls: :mod:`simulator.plans.run`, which supplies ``passes(mix)`` (evaluate the point —
every policy on every seed — and say whether some policy meets every target on every seed;
memoised there, so asking twice costs nothing).

Algorithm (``n`` candidate pools, counts ``min_i <= c_i <= max_i``, price ``cost_i`` per node):

1. **the top** — every pool at its maximum. If it fails, no mix within the bounds can be
   expected to pass: the search ends with no recommendation (an *unreachable* result, not an
   error; the caller reports how close the top came).
2. **bisection per pool** — pools in order of decreasing price per accelerator (ties: plan
   order); for each, with the others at their current counts, binary search for the least
   count that still passes (the current count passes; the range below it is halved until
   ``lo = hi``). Each pool's count is fixed before the next is searched, so the mix passes
   throughout and the expensive capacity is cut first.
3. **local search on the mix** — from the current mix, try its cheaper neighbours, cheapest
   first: one node fewer in a pool; one node of a pool traded for as many nodes of another
   as carry the same accelerators (rounded up), when that is cheaper. Move to the first
   neighbour that passes and repeat; stop when none does.

Bisection assumes that more nodes never hurt; local search only moves to points that pass,
so the answer passes even where that is not quite so. At the answer every pool above its
minimum fails with one node fewer (step 3 tried it): those pools are *binding*.

Every point asked is recorded in order with its phase (:attr:`PoolSearch.path`); at most
``max_points`` distinct points are evaluated (then the search stops with the best passing
mix so far and ``truncated`` set).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Mix", "PoolBounds", "PoolSearch", "SearchResult", "Step"]

Mix = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PoolBounds:
    """What the search knows of a candidate pool."""

    name: str
    min: int
    max: int
    cost_per_hour: float
    accelerators: int
    """Accelerators per node (GPUs or TPU chips)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One point the search asked about, in order."""

    phase: str
    mix: Mix
    cost: float
    passed: bool
    note: str = ""


@dataclass(slots=True)
class SearchResult:
    """The answer (None: unreachable), the pools whose count binds, and the path taken."""

    best: Mix | None
    binding: tuple[str, ...]
    path: list[Step] = field(default_factory=list)
    truncated: bool = False


class _Budget(Exception):
    """The point budget is spent."""


class PoolSearch:
    """One search (see the module docstring)."""

    def __init__(
        self,
        pools: Sequence[PoolBounds],
        passes: Callable[[Mix], bool],
        *,
        max_points: int = 80,
    ) -> None:
        self.pools = tuple(pools)
        self._passes = passes
        self.max_points = max_points
        self.path: list[Step] = []
        self._seen: dict[Mix, bool] = {}

    def cost(self, mix: Mix) -> float:
        """Price of a mix per hour."""
        return round(sum(n * p.cost_per_hour for n, p in zip(mix, self.pools, strict=True)), 6)

    def ask(self, mix: Mix, phase: str, note: str = "") -> bool:
        """Whether ``mix`` passes (evaluated once; every question is recorded)."""
        if mix not in self._seen:
            if len(self._seen) >= self.max_points:
                raise _Budget
            self._seen[mix] = self._passes(mix)
        passed = self._seen[mix]
        self.path.append(Step(phase, mix, self.cost(mix), passed, note))
        return passed

    def run(self) -> SearchResult:
        """Search (see the module docstring)."""
        top: Mix = tuple(p.max for p in self.pools)
        current = top
        try:
            if not self.ask(top, "top", "every pool at its maximum"):
                return SearchResult(None, (), self.path)
            current = self._bisect_all(current)
            current = self._local(current)
        except _Budget:
            return SearchResult(current, self._binding(current), self.path, truncated=True)
        return SearchResult(current, self._binding(current), self.path)

    def _order(self) -> list[int]:
        def price(i: int) -> float:
            pool = self.pools[i]
            return pool.cost_per_hour / max(pool.accelerators, 1)

        return sorted(range(len(self.pools)), key=lambda i: (-price(i), i))

    def _bisect_all(self, current: Mix) -> Mix:
        for i in self._order():
            pool = self.pools[i]
            lo, hi = pool.min, current[i]
            while lo < hi:
                mid = (lo + hi) // 2
                probe = _with(current, i, mid)
                if self.ask(probe, "bisect", f"{pool.name} in [{lo}, {hi}]"):
                    hi = mid
                else:
                    lo = mid + 1
            current = _with(current, i, hi)
        return current

    def _neighbours(self, mix: Mix) -> list[tuple[Mix, str]]:
        out: list[tuple[Mix, str]] = []
        for i, pool in enumerate(self.pools):
            if mix[i] > pool.min:
                out.append((_with(mix, i, mix[i] - 1), f"one {pool.name} node fewer"))
        for i, give in enumerate(self.pools):
            if mix[i] <= give.min:
                continue
            for j, take in enumerate(self.pools):
                if i == j:
                    continue
                k = max(1, math.ceil(give.accelerators / max(take.accelerators, 1)))
                if mix[j] + k > take.max:
                    continue
                trade = _with(_with(mix, i, mix[i] - 1), j, mix[j] + k)
                out.append((trade, f"one {give.name} node for {k} {take.name}"))
        base = self.cost(mix)
        cheaper = [(m, note) for m, note in out if self.cost(m) < base - 1e-9]
        cheaper.sort(key=lambda item: (self.cost(item[0]), item[0]))
        return cheaper

    def _local(self, current: Mix) -> Mix:
        while True:
            for mix, note in self._neighbours(current):
                if self.ask(mix, "local", note):
                    current = mix
                    break
            else:
                return current

    def _binding(self, mix: Mix) -> tuple[str, ...]:
        """Pools whose count cannot drop by one (known failing, or at their minimum with
        no evaluation needed) — the ones the answer is tight on."""
        out = []
        for i, pool in enumerate(self.pools):
            if mix[i] > pool.min and self._seen.get(_with(mix, i, mix[i] - 1)) is False:
                out.append(pool.name)
        return tuple(out)


def _with(mix: Mix, i: int, value: int) -> Mix:
    return (*mix[:i], value, *mix[i + 1 :])
