"""Tessera, tessera's default GPU score: its two terms, its kernel against FGD, and the plugin."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.framework.runtime import Framework
from scheduler.plugins.gpu import tessera as tessera_module
from scheduler.plugins.gpu.kernels import NodeView, PodRequest, fgd_scores
from scheduler.plugins.gpu.measure import TaskShape, WorkloadMix
from scheduler.plugins.gpu.tessera import (
    PLUGINS,
    Tessera,
    cpu_per_gpu,
    model_pressure,
    stranded_gpu,
    tessera_scores,
)
from scheduler.plugins.registry import REGISTRY
from simulator.traces.openb import OpenbPod
from tests.builders import openb_cluster, openb_pod, schedule_openb, spec_framework


def mix_of(classes: list[tuple[int, int, int, str, float]], models: tuple[str, ...]) -> WorkloadMix:
    """A WorkloadMix from (cpu, share, GPUs, spec, weight) rows over ``models``."""
    return WorkloadMix.from_shapes(
        [TaskShape(c, q, k, s) for c, q, k, s, _ in classes], [w for *_, w in classes], models
    )


def view_of(rows: list[tuple[int, list[int], int, int]]) -> NodeView:
    """A NodeView from (cpu_free, gpu_free padded to 8, gpu_count, model) rows; memory ample."""
    return NodeView(
        cpu_free=np.array([r[0] for r in rows], dtype=np.int64),
        mem_free=np.full(len(rows), 10**9, dtype=np.int64),
        gpu_free=np.array([r[1] for r in rows], dtype=np.int32),
        gpu_count=np.array([r[2] for r in rows], dtype=np.int32),
        gpu_model=np.array([r[3] for r in rows], dtype=np.int32),
    )


def expected(delta: float) -> int:
    """⌊100·σ(Δ/1000)⌋ computed independently of the module."""
    return math.floor(100.0 / (1.0 + math.exp(-delta / 1000.0)))


# ----------------------------------------------------------------------------------- terms


def test_cpu_per_gpu_averages_over_gpu_classes_only() -> None:
    """c̄ = Σ p·cpu / Σ p·k·q x 1000 over the GPU classes; a CPU-only class is left out."""
    # GPU classes: 0.5·8000 + 0.25·16000 = 8000 milli-CPU; 0.5·500 + 0.25·2·1000 = 750 milli-GPU
    # -> 8000 / 750 x 1000 = 10666.67 milli-CPU per GPU (the CPU-only class adds nothing).
    mix = mix_of([(8000, 500, 1, "", 0.5), (16000, 1000, 2, "", 0.25), (4000, 0, 0, "", 0.25)], ())
    assert cpu_per_gpu(mix) == pytest.approx(8000 / 750 * 1000)


def test_cpu_per_gpu_is_none_without_gpu_classes() -> None:
    """A workload of CPU-only classes has no CPU-per-GPU ratio (the term switches off)."""
    assert cpu_per_gpu(mix_of([(4000, 0, 0, "", 1.0)], ())) is None


def test_cpu_per_gpu_is_none_when_gpu_classes_ask_no_cpu() -> None:
    """GPU classes without CPU (pods with no CPU request; the default mix of an empty
    cluster) strand nothing: no ratio, instead of a zero the stranding term cannot use."""
    assert cpu_per_gpu(mix_of([(0, 1000, 1, "", 0.5), (4000, 0, 0, "", 0.5)], ())) is None


@pytest.mark.parametrize(
    ("cpu", "idle", "stranded"),
    [
        (20000, 8000, 6000.0),  # 20 cores feed 2 GPUs at 10 cores each: 8000 - 2000
        (100000, 8000, 0.0),  # 100 cores feed 10 GPUs >= 8 idle: nothing stranded
        (0, 1500, 1500.0),  # no CPU: every idle milli is stranded
        (5000, 0, 0.0),  # nothing idle
    ],
)
def test_stranded_gpu_table(cpu: int, idle: int, stranded: float) -> None:
    """S = max(0, idle - 1000·cpu / c̄) with c̄ = 10000 milli-CPU per GPU."""
    assert stranded_gpu([cpu], [idle], 10000.0).tolist() == [stranded]


def test_stranded_gpu_rejects_a_non_positive_ratio_and_ignores_none() -> None:
    """c̄ <= 0 is a ValueError naming the value; None means no term (zeros)."""
    with pytest.raises(ValueError, match=r"cpu per GPU 0\.0"):
        stranded_gpu([1], [1], 0.0)
    assert stranded_gpu([0, 1], [500, 700], None).tolist() == [0.0, 0.0]


def test_model_pressure_worked_example() -> None:
    """ρ of two models: the restricted class's demand falls on the small model only."""
    # caps A = 3000, B = 1000 milli; demands: any-model 0.5·1000 = 500, B-only 500.
    # average = 1000 / 4000 = 0.25 per milli; per unit: any 500/4000 = 0.125, B-only
    # 500/1000 = 0.5 -> ρ_A = 0.125/0.25 = 0.5, ρ_B = (0.125 + 0.5)/0.25 = 2.5.
    mix = mix_of([(1000, 1000, 1, "", 0.5), (1000, 1000, 1, "B", 0.5)], ("A", "B"))
    rho = model_pressure(mix, [3000, 1000])
    assert rho is not None
    assert rho.tolist() == pytest.approx([0.5, 2.5])
    # The capacity-weighted mean of ρ is 1: (0.5·3000 + 2.5·1000) / 4000.
    assert float(rho @ np.array([3000, 1000])) / 4000 == pytest.approx(1.0)


def test_model_pressure_is_none_without_restricted_classes() -> None:
    """No gpu_spec anywhere -> no model term at all (Tessera stays FGD + stranding)."""
    mix = mix_of([(1000, 1000, 1, "", 1.0)], ("A", "B"))
    assert model_pressure(mix, [3000, 1000]) is None


def test_model_pressure_rejects_a_capacity_per_wrong_model_count() -> None:
    """The capacity vector must have one entry per model id of the mix."""
    mix = mix_of([(1000, 1000, 1, "B", 1.0)], ("A", "B"))
    with pytest.raises(ValueError, match=r"capacity shape \(3,\)"):
        model_pressure(mix, [1, 2, 3])


# ----------------------------------------------------------------------------------- kernel

MODELS = ("A", "B")
FGD_MIX = mix_of(
    [
        (4000, 1000, 1, "", 0.4),
        (2000, 500, 1, "", 0.3),
        (8000, 0, 0, "", 0.2),
        (4000, 250, 1, "B", 0.1),
    ],
    MODELS,
)

row_strategy = st.tuples(
    st.integers(0, 64000),
    st.lists(st.sampled_from([0, 100, 250, 400, 500, 750, 1000]), min_size=8, max_size=8),
    st.integers(1, 8),
    st.sampled_from([0, 1]),
)
pod_strategy = st.sampled_from(
    [
        PodRequest(0, 0, 0, 0),
        PodRequest(4000, 0, 0, 0),
        PodRequest(2000, 0, 250, 1),
        PodRequest(4000, 0, 500, 1),
        PodRequest(4000, 0, 1000, 1),
        PodRequest(8000, 0, 1000, 2),
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=6), pod_strategy)
def test_zero_weights_are_fgd_exactly(
    rows: list[tuple[int, list[int], int, int]], pod: PodRequest
) -> None:
    """With both weights 0, Tessera's scores and GPU picks equal FGD's on any node states."""
    cleaned = [(c, [g if i < k else 0 for i, g in enumerate(gpus)], k, m) for c, gpus, k, m in rows]
    view = view_of(cleaned)
    fits = [
        i
        for i, (c, gpus, k, _) in enumerate(cleaned)
        if c >= pod.cpu_milli and sum(g >= pod.gpu_milli for g in gpus[:k]) >= pod.num_gpu
    ]
    idx = np.array(fits, dtype=np.intp)
    ours = tessera_scores(
        view, idx, pod, FGD_MIX, per_gpu=10000.0, stranding_weight=0.0, scarcity_weight=0.0
    )
    theirs = fgd_scores(view, idx, pod, FGD_MIX)
    assert ours.scores.tolist() == theirs.scores.tolist()
    assert ours.gpus == theirs.gpus


@settings(max_examples=80, deadline=None)
@given(
    st.lists(row_strategy, min_size=1, max_size=12),
    pod_strategy,
    st.booleans(),
    st.sampled_from([0.0, 1.0, 2.5]),
    st.sampled_from([0.0, 1.0, 0.5]),
)
def test_few_node_path_is_the_array_path_bit_for_bit(
    rows: list[tuple[int, list[int], int, int]],
    pod: PodRequest,
    given_now: bool,
    stranding: float,
    scarcity: float,
) -> None:
    """Up to FEW_NODES candidates are scored element by element in Python; scores and GPU
    picks equal the vectorised path's exactly, with and without the current F_n given."""
    cleaned = [(c, [g if i < k else 0 for i, g in enumerate(gpus)], k, m) for c, gpus, k, m in rows]
    view = view_of(cleaned)
    idx = np.arange(len(cleaned), dtype=np.intp)[::-1].copy()  # any order, as a score cache
    rho = model_pressure(FGD_MIX, [8000.0, 2000.0])
    now = np.linspace(0.0, 9000.0, len(cleaned)) if given_now else None  # any current F_n values
    kwargs: dict[str, Any] = {
        "now": now,
        "per_gpu": cpu_per_gpu(FGD_MIX),
        "pressure": rho,
        "stranding_weight": stranding,
        "scarcity_weight": scarcity,
    }
    few = tessera_scores(view, idx, pod, FGD_MIX, **kwargs)
    saved = tessera_module.FEW_NODES
    tessera_module.FEW_NODES = 0
    try:
        full = tessera_scores(view, idx, pod, FGD_MIX, **kwargs)
    finally:
        tessera_module.FEW_NODES = saved
    assert few.scores.dtype == full.scores.dtype
    assert few.scores.tolist() == full.scores.tolist()
    assert few.gpus == full.gpus


def test_stranding_term_moves_a_cpu_only_pod_off_a_cpu_poor_gpu_node() -> None:
    """FGD ties a CPU-only pod on two idle 8-GPU nodes; Tessera avoids stranding GPUs."""
    # Mix: one class, 10 cores per whole GPU -> c̄ = 10000. Pod: 30 cores, no GPU.
    # FGD: the class still fits on both nodes after the pod (10 and 170 cores >= 10) and the
    # CPU-only part is unchanged -> Δ = 0 on both, score ⌊100·σ(0)⌋ = 50: a tie.
    # Stranding on n0 (40 cores): before 8000 - 4000 = 4000, after 8000 - 1000 = 7000,
    # Δ = -3000 -> ⌊100·σ(-3)⌋ = ⌊4.74⌋ = 4. On n1 (200 cores) nothing is stranded: 50.
    mix = mix_of([(10000, 1000, 1, "", 1.0)], ("A",))
    view = view_of([(40000, [1000] * 8, 8, 0), (200000, [1000] * 8, 8, 0)])
    pod = PodRequest(30000, 0, 0, 0)
    idx = np.array([0, 1], dtype=np.intp)
    assert fgd_scores(view, idx, pod, mix).scores.tolist() == [50, 50]
    scored = tessera_scores(view, idx, pod, mix, per_gpu=cpu_per_gpu(mix))
    assert scored.scores.tolist() == [expected(-3000), 50] == [4, 50]


def test_pressure_term_keeps_an_unrestricted_pod_off_the_scarce_model() -> None:
    """FGD spends the scarce model on an unrestricted pod; Tessera keeps it for its class."""
    # Models A (one 8-GPU node) and B (one 2-GPU node); classes, all 1 core / 1 GPU:
    # any-model 0.4, A-only 0.4, B-only 0.2. FGD for a 1-GPU pod: on A the B-only class
    # counts A's idle GPUs as fragments, 8000 -> 7000: Δ = 0.2·1000 = 200 -> 54; on B the
    # A-only class does, 2000 -> 1000: Δ = 0.4·1000 = 400 -> 59. FGD picks B.
    # Pressure: demands 400, 400, 200; average 1000/10000 = 0.1; per unit: any 0.04,
    # A-only 400/8000 = 0.05, B-only 200/2000 = 0.1 -> ρ_A = 0.9, ρ_B = 1.4. With b = 1:
    # A: 200 - 1000·(0.9 - 1) = 300 -> ⌊57.44⌋ = 57; B: 400 - 1000·(1.4 - 1) = 0 -> 50.
    models = ("A", "B")
    mix = mix_of(
        [(1000, 1000, 1, "", 0.4), (1000, 1000, 1, "A", 0.4), (1000, 1000, 1, "B", 0.2)], models
    )
    view = view_of([(64000, [1000] * 8, 8, 0), (64000, [1000] * 2 + [0] * 6, 2, 1)])
    pod = PodRequest(1000, 0, 1000, 1)
    idx = np.array([0, 1], dtype=np.intp)
    assert fgd_scores(view, idx, pod, mix).scores.tolist() == [expected(200), expected(400)]
    rho = model_pressure(mix, [8000, 2000])
    assert rho is not None
    assert rho.tolist() == pytest.approx([0.9, 1.4])
    scored = tessera_scores(view, idx, pod, mix, per_gpu=cpu_per_gpu(mix), pressure=rho)
    assert scored.scores.tolist() == [expected(300), expected(0)] == [57, 50]
    assert scored.gpus == [(0,), (0,)]


def test_share_pod_takes_the_first_gpu_reaching_the_best_score() -> None:
    """A sharing pod's GPU is FGD's: the hole it fills exactly beats an idle GPU."""
    # One class 500 milli, 1 core. GPU 1 has 500 left: filling it leaves nothing (Δ = 0 on a
    # node whose other GPUs still fit the class); GPU 0 idle -> 500 left, still fits: Δ = 0
    # too, a tie -> the first GPU (index 0). With GPU 0 at 300 (a fragment for the class),
    # only GPU 1 fits.
    mix = mix_of([(1000, 500, 1, "", 1.0)], ("A",))
    pod = PodRequest(1000, 0, 500, 1)
    view = view_of(
        [(64000, [1000, 500, 1000] + [0] * 5, 3, 0), (64000, [300, 500] + [0] * 6, 2, 0)]
    )
    scored = tessera_scores(view, np.array([0, 1]), pod, mix, per_gpu=cpu_per_gpu(mix))
    assert scored.gpus == [(0,), (1,)]


# ----------------------------------------------------------------------------- the plugin


def framework_for(
    directory: Path, nodes: list[str], plugin: str, args: dict[str, Any]
) -> Framework:
    """A framework over openb nodes (DRA GPUs) scoring with ``plugin``; ties -> node order."""
    return spec_framework(openb_cluster(directory, nodes), {plugin: args})


def schedule(framework: Framework, row: OpenbPod) -> str | None:
    """Create the pod in the simulated cluster and run one cycle; the node it landed on."""
    return schedule_openb(framework, row).node


def test_plugin_places_a_cpu_only_pod_where_fgd_would_strand_gpus(tmp_path: Path) -> None:
    """Through the framework and DRA: FGD takes node order (a), Tessera the CPU-rich node (b)."""
    # Same numbers as the kernel test: workload 10 cores per GPU, pod 30 cores; node a has
    # 40 cores for 8 GPUs, node b 200. FGD ties at 50 and node order picks a.
    nodes = ["a,40000,1048576,8,G2", "b,200000,1048576,8,G2"]
    workload = [{"cpuMilli": 10000, "gpuMilli": 1000, "numGpu": 1, "weight": 1.0}]
    pod = openb_pod("p", 30000)
    fgd = framework_for(tmp_path / "fgd", nodes, "Fragmentation", {"workload": workload})
    ours = framework_for(tmp_path / "tessera", nodes, "Tessera", {"workload": workload})
    assert schedule(fgd, pod) == "a"
    assert schedule(ours, pod) == "b"


def test_plugin_rejects_a_negative_weight(tmp_path: Path) -> None:
    """Bad arguments fail at construction, naming the field."""
    with pytest.raises(ValueError, match="strandingWeight"):
        framework_for(tmp_path, ["a,1000,1024,1,T4"], "Tessera", {"strandingWeight": -1})


def test_plugin_is_registered_under_its_name() -> None:
    """Profiles reach the plugin by the name ``Tessera``."""
    assert list(PLUGINS) == ["Tessera"]
    assert REGISTRY["Tessera"] is Tessera
