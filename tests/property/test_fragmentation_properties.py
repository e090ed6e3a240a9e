"""F_n(M) is one function however it is computed: the plain-Python row, the vectorised rows
and the memoised batch agree bit for bit, and node states F_n(M) cannot tell apart (CPU
between the same two class requests, GPUs in another order) share their value."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.plugins.gpu import measure
from scheduler.plugins.gpu.measure import TaskShape, WorkloadMix, node_frag

MODELS = ["M0", "M1", "M2"]
SHARES = [0, 100, 250, 500, 700, 1000]
PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mixes(draw: st.DrawFn) -> WorkloadMix:
    """2-8 task classes: CPU-only, sharing or whole-GPU, some restricted to models."""
    count = draw(st.integers(2, 8))
    shapes = []
    for _ in range(count):
        q = draw(st.sampled_from(SHARES))
        k = 0 if q == 0 else (1 if q < 1000 else draw(st.integers(1, 8)))
        spec = draw(st.sampled_from(["", "", "M0", "M1|M2", "M3"]))
        shapes.append(TaskShape(draw(st.integers(0, 64)) * 500, q, k, spec))
    weights = [float(draw(st.integers(1, 20))) for _ in shapes]
    total = sum(weights)
    return WorkloadMix.from_shapes(shapes, [w / total for w in weights], MODELS)


@st.composite
def states(draw: st.DrawFn) -> tuple[list[int], list[list[int]], list[int]]:
    """1-40 node states of 8 GPU slots (some repeated), CPU possibly negative (a
    hypothetical placement that overdraws)."""
    n = draw(st.integers(1, 40))
    rows = [draw(st.lists(st.sampled_from([0, 100, 300, 500, 750, 1000]), min_size=8, max_size=8))]
    for _ in range(n - 1):
        rows.append(rows[-1] if draw(st.booleans()) else draw(st.permutations(rows[0])))
    cpu = [draw(st.integers(-4, 80)) * 250 for _ in range(n)]
    model = [draw(st.integers(-1, 2)) for _ in range(n)]
    return cpu, rows, model


@PROFILE
@given(mix=mixes(), data=states())
def test_every_path_gives_the_same_bits(
    mix: WorkloadMix, data: tuple[list[int], list[list[int]], list[int]]
) -> None:
    """node_frag (memoised, cold and warm) == the vectorised rows == the scalar row, exactly."""
    cpu, rows, model = data
    measure._TABLES.clear()
    tables = measure._mix_tables(mix)
    scalar = [measure._frag_one(c, g, m, tables) for c, g, m in zip(cpu, rows, model, strict=True)]
    vector = measure._frag_rows(
        np.array(cpu, dtype=np.int64),
        np.array(rows, dtype=np.int64),
        np.array(model, dtype=np.int64),
        tables,
        mix,
    ).tolist()
    cold = node_frag(cpu, rows, model, mix).tolist()
    warm = node_frag(cpu, rows, model, mix).tolist()
    assert scalar == vector == cold == warm


@PROFILE
@given(mix=mixes(), data=states())
def test_states_the_memo_keys_alike_share_their_value(
    mix: WorkloadMix, data: tuple[list[int], list[list[int]], list[int]]
) -> None:
    """Moving a node's free CPU anywhere between the same two class requests, or reordering
    its GPUs, does not change F_n(M) (what lets the memo key the CPU by level and the GPUs
    sorted)."""
    cpu, rows, model = data
    levels = sorted({int(c) for c in mix.cpu_milli})
    tables = measure._mix_tables(mix)
    for c, g, m in zip(cpu, rows, model, strict=True):
        below = max((v for v in levels if v <= c), default=min(c, -1))
        above = min((v for v in levels if v > c), default=c + 1000)
        for other in {below, above - 1, c}:
            if other >= below and other < above:
                assert measure._frag_one(other, g, m, tables) == measure._frag_one(c, g, m, tables)
        for order in (sorted(g), sorted(g, reverse=True), g[1:] + g[:1]):
            assert measure._frag_one(c, order, m, tables) == measure._frag_one(c, g, m, tables)
