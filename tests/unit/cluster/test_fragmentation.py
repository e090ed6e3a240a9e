"""FGD fragmentation measure: hand-worked F_n(M) tables, the reference's float order, and the
typical-pods target workload."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.plugins.gpu.measure import TaskShape, WorkloadMix, node_frag, typical_mix

REPO = Path(__file__).parents[3]
MODELS = ["M0", "M1"]

# A: CPU-only (cpu 4000), p=0.2; B: share q=500 (cpu 2000), p=0.5;
# C: 2 whole GPUs (cpu 8000) on model M1 only, p=0.3.
MIX = WorkloadMix.from_shapes(
    [TaskShape(4000, 0, 0), TaskShape(2000, 500, 1), TaskShape(8000, 1000, 2, "M1")],
    [0.2, 0.5, 0.3],
    MODELS,
)

FRAG_TABLE = [
    # (cpu_free, gpu_free, model, F_n(M), arithmetic)
    (16000, [1000, 1000, 1000, 1000], 1, 800.0),
    # R=4000. A: CPU-only -> R: 0.2*4000=800. B fits (4 GPUs >= 500, CPU ok), no GPU < 500 -> 0.
    # C allowed, 4 GPUs >= 1000 >= 2, CPU ok -> no GPU < 1000 -> 0. F = 800.
    (16000, [300, 600, 1000, 0], 0, 1100.0),
    # R=1900. A: 0.2*1900=380. B fits (600, 1000) -> GPUs < 500: 300+0 -> 0.5*300=150.
    # C: model M0 not allowed -> R: 0.3*1900=570. F = 380+150+570 = 1100.
    (1000, [300, 600, 1000, 0], 1, 1900.0),
    # R=1900. A: 380 (CPU-only counts R whether or not CPU fits). B: GPUs fit, CPU 1000 < 2000
    # -> R: 950. C: only one GPU >= 1000 < 2 -> R: 570. F = 380+950+570 = 1900.
    (16000, [300, 400, 0, 0], 1, 700.0),
    # R=700. A: 140. B: no GPU >= 500 -> R: 350. C: -> R: 210. F = 700.
    (16000, [0, 0, 0, 0], -1, 0.0),
    # CPU-only node: R=0, every class contributes 0.
    (16000, [1000, 1000, 1000, 1000], 0, 2000.0),
    # R=4000. A: 800. B fits -> 0. C: M0 not allowed -> 0.3*4000=1200. F = 2000.
    (4000, [1000, 1000, 1000, 1000], 1, 2000.0),
    # R=4000. A: 800. B fits (CPU 4000 >= 2000) -> 0. C: GPUs fit but CPU 4000 < 8000 -> R:
    # 1200. F = 2000.
]


@pytest.mark.parametrize(("cpu", "gpus", "model", "expected"), FRAG_TABLE)
def test_node_frag_table(cpu: int, gpus: list[int], model: int, expected: float) -> None:
    """F_n(M) follows the four cases of the measure on hand-worked nodes."""
    assert node_frag(cpu, gpus, model, MIX) == pytest.approx(expected, rel=1e-12)


def test_node_frag_vectorises_over_any_batch_shape() -> None:
    """A [2, 3] batch of node states gives the per-state values in the same positions."""
    cpu = np.array([row[0] for row in FRAG_TABLE[:6]]).reshape(2, 3)
    gpus = np.array([row[1] for row in FRAG_TABLE[:6]], dtype=np.int32).reshape(2, 3, 4)
    model = np.array([row[2] for row in FRAG_TABLE[:6]]).reshape(2, 3)
    got = node_frag(cpu, gpus, model, MIX)
    assert got.shape == (2, 3)
    singles = [node_frag(c, g, m, MIX) for c, g, m, _ in FRAG_TABLE[:6]]
    assert got.reshape(-1).tolist() == [float(s) for s in singles]


def test_node_frag_broadcasts_shared_model_and_cpu() -> None:
    """One CPU value and model broadcast against many GPU states (the FGD option batch)."""
    states = np.array([[1000, 1000, 1000, 1000], [300, 400, 0, 0]])
    # Same as rows 1 and 4 of the table: 800 and 700.
    assert node_frag(16000, states, 1, MIX).tolist() == pytest.approx([800.0, 700.0])


def test_node_frag_of_nodes_without_gpus() -> None:
    """A cluster without any GPU (a zero-width GPU axis) has no fragmentation on any node."""
    gpus = np.zeros((3, 0), dtype=np.int32)
    assert node_frag(np.array([1000, 0, 5]), gpus, np.full(3, -1), MIX).tolist() == [0.0] * 3


def test_node_frag_rejects_bad_input() -> None:
    """Out-of-range model ids and GPU shares are refused with the offending range named."""
    with pytest.raises(ValueError, match="gpu_model"):
        node_frag(1000, [1000], 2, MIX)
    with pytest.raises(ValueError, match="gpu_free"):
        node_frag(1000, [1200], 0, MIX)
    with pytest.raises(ValueError, match="trailing GPU axis"):
        node_frag(1000, 5, 0, MIX)


def _reference_frag(cpu: int, gpus: list[int], model: int, mix: WorkloadMix) -> float:
    """Scalar transcription of the reference: per-outcome buckets in class order, then summed
    in bucket order (lack both, lack GPU, lack CPU, CPU-only fits, CPU-only lacks, no access)."""
    buckets = [0.0] * 7
    idle = sum(gpus)
    for m in range(mix.n_classes):
        p = float(mix.weight[m])
        q, k, c = int(mix.gpu_milli[m]), int(mix.num_gpu[m]), int(mix.cpu_milli[m])
        if q == 0:
            buckets[4 if cpu >= c else 5] += p * float(idle)
            continue
        access = mix.allowed[m].all() if model < 0 else mix.allowed[m, model]
        if not access:
            buckets[6] += p * float(idle)
            continue
        fits = sum(1 for g in gpus if g >= q) >= k
        if fits and cpu >= c:
            buckets[1] += p * float(sum(g for g in gpus if g < q))
        elif fits:
            buckets[3] += p * float(idle)
        elif cpu >= c:
            buckets[1] += p * float(idle)
        else:
            buckets[0] += p * float(idle)
    out = 0.0
    for b in (0, 1, 3, 4, 5, 6):
        out += buckets[b]
    return out


@settings(max_examples=150, deadline=None)
@given(
    cpu=st.integers(0, 20_000),
    gpus=st.lists(st.integers(0, 1000), min_size=4, max_size=4),
    model=st.integers(-1, 1),
)
def test_node_frag_is_bit_identical_to_reference_order(
    cpu: int, gpus: list[int], model: int
) -> None:
    """The vectorised sum equals the reference's bucketed float sum exactly (no tolerance)."""
    assert float(node_frag(cpu, gpus, model, MIX)) == _reference_frag(cpu, gpus, model, MIX)


@settings(max_examples=100, deadline=None)
@given(
    cpu=st.integers(0, 20_000),
    gpus=st.lists(st.integers(0, 1000), min_size=4, max_size=4),
    model=st.integers(0, 1),
)
def test_node_frag_lies_between_zero_and_idle(cpu: int, gpus: list[int], model: int) -> None:
    """0 <= F_n(M) <= R_n: fragments are a part of the idle GPU milli."""
    value = float(node_frag(cpu, gpus, model, MIX))
    assert 0.0 <= value <= sum(gpus) * (1 + 1e-12)


def test_workload_mix_validation() -> None:
    """Bad mixes are refused with the field and value named."""
    shapes = [TaskShape(1000, 500, 1)]
    with pytest.raises(ValueError, match="weight"):
        WorkloadMix.from_shapes(shapes, [0.9])
    with pytest.raises(ValueError, match="gpu_milli"):
        WorkloadMix.from_shapes([TaskShape(1000, 1200, 1)], [1.0])
    with pytest.raises(ValueError, match="both be zero"):
        WorkloadMix.from_shapes([TaskShape(1000, 0, 1)], [1.0])
    with pytest.raises(ValueError, match="cpu_milli"):
        WorkloadMix(
            cpu_milli=np.array([1, 2]),
            gpu_milli=np.array([0]),
            num_gpu=np.array([0]),
            allowed=np.ones((1, 0), bool),
            weight=np.array([1.0]),
        )


def test_workload_mix_arrays_are_read_only_copies() -> None:
    """The mix copies its inputs and cannot be changed afterwards."""
    weights = np.array([1.0])
    mix = WorkloadMix.from_shapes([TaskShape(1000, 500, 1)], weights)
    weights[0] = 5.0
    assert mix.weight[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        mix.weight[0] = 2.0


def test_from_shapes_allowed_matrix() -> None:
    """Spec strings map onto model ids; unknown names match nothing; '' allows all."""
    mix = WorkloadMix.from_shapes(
        [TaskShape(1, 500, 1, "M1"), TaskShape(1, 500, 1, "X|M0"), TaskShape(1, 500, 1)],
        [0.25, 0.25, 0.5],
        MODELS,
    )
    assert mix.allowed.tolist() == [[False, True], [True, False], [True, True]]


def test_typical_mix_hand_table() -> None:
    """Counts 50/30/10/10 at 85%: take a, b, then the tie (larger cpu first), renormalise."""
    a, b = TaskShape(1000, 0, 0), TaskShape(2000, 500, 1)
    c_small, c_large = TaskShape(3000, 1000, 1), TaskShape(9000, 1000, 1)
    mix = typical_mix({a: 50, b: 30, c_small: 10, c_large: 10}, 0.85)
    # expected = 85*100/100 = 85; cumulative 50 -> 80 -> 90 >= 85 after 3 classes.
    # Ties (10, 10) order by (cpu, q, k, spec) descending: c_large (cpu 9000) first.
    assert mix.cpu_milli.tolist() == [1000, 2000, 9000]
    # weights (n/100)/(90/100): 0.5/0.9, 0.3/0.9, 0.1/0.9.
    assert mix.weight.tolist() == [(50 / 100) / (90 / 100), (30 / 100) / (90 / 100), 0.1 / 0.9]


def test_typical_mix_keeps_everything_at_threshold_one() -> None:
    """At 100% every class is kept with weight count/total and repeated shapes add up."""
    a, b = TaskShape(1000, 0, 0), TaskShape(2000, 500, 1)
    mix = typical_mix([(a, 1), (b, 2), (a, 1)], 1.0)
    # a: 2 of 4, b: 2 of 4; tie -> b (cpu 2000) first.
    assert mix.cpu_milli.tolist() == [2000, 1000]
    assert mix.weight.tolist() == [0.5, 0.5]


def test_typical_mix_rejects_bad_input() -> None:
    """Thresholds outside (0, 1], negative counts and empty inputs are refused."""
    with pytest.raises(ValueError, match="threshold"):
        typical_mix({TaskShape(1, 0, 0): 1}, 0.0)
    with pytest.raises(ValueError, match="negative"):
        typical_mix({TaskShape(1, 0, 0): -1})
    with pytest.raises(ValueError, match="positive count"):
        typical_mix({})


def test_typical_mix_reproduces_the_logged_run_classes() -> None:
    """On the default openb trace: the 35 classes of typical_pods_default.csv, same order, same
    counts, and p_m equal to the CSV within one unit in the last place.

    The CSV prints count/kept; the reference computes (count/total)/(kept/total), which differs
    from it in the last bit for 10 classes. We keep the reference's arithmetic: the golden
    replay matches the Go run on every step only with it (see test_fgd_fidelity).
    """
    from simulator.traces.openb import read_pods

    pods = read_pods(REPO / "traces/openb/openb_pod_list_default.csv.gz")
    counts: dict[TaskShape, int] = {}
    for p in pods:
        shape = TaskShape(p.cpu_milli, p.gpu_milli, p.num_gpu, p.gpu_spec_key)
        counts[shape] = counts.get(shape, 0) + 1
    mix = typical_mix(counts, 0.95)
    with (REPO / "tests/golden/fgd/typical_pods_default.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(counts) == 91 and mix.n_classes == len(rows) == 35
    kept = sum(int(r["count"]) for r in rows)  # 7766 of 8152 pods = 95.26%
    for i, row in enumerate(rows):
        shape = TaskShape(
            int(row["cpu_milli"]), int(row["gpu_milli"]), int(row["num_gpu"]), row["gpu_spec"]
        )
        got = TaskShape(
            int(mix.cpu_milli[i]), int(mix.gpu_milli[i]), int(mix.num_gpu[i]), mix.gpu_spec[i]
        )
        assert got == shape
        assert counts[shape] == int(row["count"])
        n = int(row["count"])
        assert float(mix.weight[i]) == (n / len(pods)) / (kept / len(pods))
        assert math.isclose(float(mix.weight[i]), float(row["p_m"]), rel_tol=2.3e-16)
