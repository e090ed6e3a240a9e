"""The pool-mix search (simulator.plans.search) on known pass/fail landscapes."""

from __future__ import annotations

import itertools

from simulator.plans.search import Mix, PoolBounds, PoolSearch


def _cheapest(pools: list[PoolBounds], passes: object) -> tuple[float, Mix]:
    """Brute force: the cheapest passing mix (ties: the smaller mix)."""
    best: tuple[float, Mix] | None = None
    for mix in itertools.product(*(range(p.min, p.max + 1) for p in pools)):
        if passes(mix):  # type: ignore[operator]
            cost = sum(n * p.cost_per_hour for n, p in zip(mix, pools, strict=True))
            if best is None or (cost, mix) < best:
                best = (cost, mix)
    assert best is not None
    return best


def test_one_pool_bisection_finds_the_least_count_and_asks_log_n() -> None:
    """A monotone landscape: the answer is the least passing count; bisection asks about
    O(log n) points and the point one below was asked and failed."""
    pools = [PoolBounds("h100", 4, 60, 88.0, 8)]
    asked: list[Mix] = []

    def passes(mix: Mix) -> bool:
        asked.append(mix)
        return mix[0] >= 37

    result = PoolSearch(pools, passes).run()
    assert result.best == (37,)
    assert result.binding == ("h100",)
    assert len(asked) == len(set(asked)) <= 8
    assert (36,) in asked
    phases = [s.phase for s in result.path]
    assert phases[0] == "top" and "bisect" in phases and phases[-1] == "local"


def test_two_pools_reach_the_brute_force_optimum_on_an_accelerator_landscape() -> None:
    """Passing = enough accelerators; a cheap capped pool and an expensive one: the search
    ends where brute force does, and every pool above its minimum is binding."""
    pools = [
        PoolBounds("committed", 0, 10, 60.0, 8),
        PoolBounds("on-demand", 0, 30, 90.0, 8),
    ]

    def passes(mix: Mix) -> bool:
        return 8 * (mix[0] + mix[1]) >= 8 * 23

    result = PoolSearch(pools, passes).run()
    cost, mix = _cheapest(pools, passes)
    assert result.best == mix == (10, 13)
    assert PoolSearch(pools, passes).cost(result.best) == cost
    assert set(result.binding) == {"committed", "on-demand"}  # one node fewer of either fails


def test_three_pools_of_different_sizes_match_brute_force() -> None:
    """8-, 4- and 8-GPU pools at different prices, with a node-count floor as well as a GPU
    floor: the answer is the brute-force optimum, and it passes."""
    pools = [
        PoolBounds("big", 0, 12, 100.0, 8),
        PoolBounds("small", 0, 6, 45.0, 4),
        PoolBounds("spot", 0, 3, 70.0, 8),
    ]

    def passes(mix: Mix) -> bool:
        gpus = 8 * mix[0] + 4 * mix[1] + 8 * mix[2]
        return gpus >= 72 and sum(mix) >= 11

    result = PoolSearch(pools, passes).run()
    assert result.best is not None and passes(result.best)
    assert result.best == _cheapest(pools, passes)[1]


def test_unreachable_stops_at_the_top() -> None:
    pools = [PoolBounds("a", 1, 5, 1.0, 8)]
    result = PoolSearch(pools, lambda mix: False).run()
    assert result.best is None
    assert [s.mix for s in result.path] == [(5,)]


def test_point_budget_truncates_with_a_passing_mix() -> None:
    pools = [PoolBounds("a", 0, 1000, 1.0, 1)]
    result = PoolSearch(pools, lambda mix: mix[0] >= 321, max_points=4).run()
    assert result.truncated
    assert result.best is not None and result.best[0] >= 321
