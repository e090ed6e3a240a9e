"""Scoring kernels of FGD and the baselines: hand-worked scores and GPU picks per rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.plugins.gpu.kernels import (
    SHARE_TAG,
    NodeView,
    PodRequest,
    _exclusive_gpus,
    bestfit_raw,
    dotprod_scores,
    exclusive_gpus_all,
    fgd_scores,
    gpu_clustering_scores,
    gpu_packing_scores,
    gpu_tag,
    minmax_normalize,
    pick_gpus,
)
from scheduler.plugins.gpu.measure import TaskShape, WorkloadMix, node_frag


def view_of(nodes: list[tuple[int, int, list[int], int, int]]) -> NodeView:
    """Build a NodeView from rows (cpu_free, mem_free, gpu_free padded to 4, gpu_count, model)."""
    return NodeView(
        cpu_free=np.array([n[0] for n in nodes], dtype=np.int64),
        mem_free=np.array([n[1] for n in nodes], dtype=np.int64),
        gpu_free=np.array([n[2] for n in nodes], dtype=np.int32),
        gpu_count=np.array([n[3] for n in nodes], dtype=np.int32),
        gpu_model=np.array([n[4] for n in nodes], dtype=np.int32),
    )


# n0: idle 4-GPU node of model 0; n1: 3 GPUs partly used; n2: 2 GPUs of model 1;
# n3: CPU-only; n4: 4 GPUs, one partly used.
NODES = [
    (32000, 1000, [1000, 1000, 1000, 1000], 4, 0),
    (8000, 1000, [200, 1000, 700, 0], 3, 0),
    (64000, 5000, [500, 300, 0, 0], 2, 1),
    (96000, 5000, [0, 0, 0, 0], 0, -1),
    (16000, 1000, [1000, 1000, 1000, 400], 4, 0),
]
SHARE = PodRequest(cpu_milli=4000, memory=100, gpu_milli=500, num_gpu=1)
WHOLE2 = PodRequest(cpu_milli=4000, memory=100, gpu_milli=1000, num_gpu=2)
CPU_ONLY = PodRequest(cpu_milli=50000, memory=2000)


@pytest.mark.parametrize(
    ("row", "pod", "expected"),
    [
        (
            [700, 500, 500, 1000],
            PodRequest(1, 0, 400, 1),
            (1,),
        ),  # least fitting (500), lowest index
        ([300, 200, 0, 0], PodRequest(1, 0, 400, 1), ()),  # nothing fits
        ([1000, 300, 1000, 1000], PodRequest(1, 0, 1000, 2), (0, 2)),  # lowest-index idle GPUs
        ([1000, 1000], PodRequest(1), ()),  # CPU-only pods get no GPU
    ],
)
def test_pick_gpus_best(row: list[int], pod: PodRequest, expected: tuple[int, ...]) -> None:
    """The "best" GPU choice: tightest fit for shares, lowest-index idle GPUs otherwise."""
    assert pick_gpus(row, pod, "best") == expected


def test_pick_gpus_random_is_uniform_over_fitting_gpus() -> None:
    """Reservoir choice: only fitting GPUs, each about 1/3 of the time over 3,000 draws."""
    rng = np.random.default_rng(7)
    row = [600, 100, 1000, 450]  # q=400 fits GPUs 0, 2, 3
    counts = {0: 0, 2: 0, 3: 0}
    for _ in range(3000):
        (gpu,) = pick_gpus(row, PodRequest(1, 0, 400, 1), "random", rng)
        counts[gpu] += 1
    assert all(900 <= c <= 1100 for c in counts.values()), counts
    assert pick_gpus([1000, 0, 1000], PodRequest(1, 0, 1000, 1), "random", rng) == (0,)


def test_pick_gpus_random_needs_a_generator() -> None:
    """Asking for a random pick without a Generator is a ValueError."""
    with pytest.raises(ValueError, match="Generator"):
        pick_gpus([1000], PodRequest(1, 0, 500, 1), "random")


def test_bestfit_table() -> None:
    """BestFit raw and normalised scores, and the best-fit GPU, on n0, n1, n2 (share q=500)."""
    view = view_of(NODES)
    idx = [0, 1, 2]
    # n0: 0.5*(32000-4000)/128000 + 0.5*(4000-500)/8000 = 0.109375 + 0.21875 = 0.328125
    #     -> 100*(1-0.328125) = 67.1875 -> 67
    # n1: 0.5*4000/128000 + 0.5*(1900-500)/8000 = 0.015625 + 0.0875 = 0.103125 -> 89.6875 -> 89
    # n2: 0.5*60000/128000 + 0.5*(800-500)/8000 = 0.234375 + 0.01875 = 0.253125 -> 74.6875 -> 74
    assert bestfit_raw(view, idx, SHARE).tolist() == [67, 89, 74]
    # lo=67, hi=89: (67-67)*100/22 = 0; 22*100/22 = 100; 7*100/22 = 31.8 -> 31
    assert minmax_normalize(bestfit_raw(view, idx, SHARE)).tolist() == [0, 100, 31]
    # GPU: n0 all idle -> 0; n1 fits 1000 (1) and 700 (2) -> 2; n2 fits 500 (0) -> 0.
    assert [pick_gpus(view.gpu_free[i], SHARE) for i in idx] == [(0,), (2,), (0,)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([5, 5, 5], [0, 0, 0]),  # hi == lo -> all 0
        ([10, 13, 40], [0, 10, 100]),  # (13-10)*100/30 = 10
        ([0, 1, 2], [0, 50, 100]),
        ([], []),
    ],
)
def test_minmax_normalize(raw: list[int], expected: list[int]) -> None:
    """Min-max normalisation with integer (truncating) division."""
    assert minmax_normalize(raw).tolist() == expected


def test_dotprod_table() -> None:
    """DotProd on n0, n1, n2 for the share pod (cpu 4000, G = 500)."""
    view = view_of(NODES)
    # d = (C/128000)*(4000/128000) + (R/8000)*(500/8000); score = trunc(100*(1 - d/2))
    # n0: 0.25*0.03125 + 0.5*0.0625 = 0.0390625 -> 100*(1-0.01953125) = 98.05 -> 98
    # n1: 0.0625*0.03125 + 0.2375*0.0625 = 0.016796875 -> 99.16 -> 99
    # n2: 0.5*0.03125 + 0.1*0.0625 = 0.021875 -> 98.90625 -> 98
    scored = dotprod_scores(view, [0, 1, 2], SHARE)
    assert scored.scores.tolist() == [98, 99, 98]
    assert scored.gpus == [(0,), (2,), (0,)]
    # A node short of CPU scores 0 (n1 has 8000 < 9000).
    assert dotprod_scores(view, [1], PodRequest(9000, 0, 500, 1)).scores.tolist() == [0]


def test_gpu_packing_table() -> None:
    """GpuPacking cases A/B/C and CPU-only pods."""
    view = view_of(NODES)
    # share q=500: n0 untouched (f=4=count) -> A: max(33-4, 4) = 29.
    # n1: ascending [0(pad), 200, 700, 1000] -> takes 700, not idle -> C: 700*100/1000 = 70,
    #     100 - 70/10 = 93.  n2: ascending [0, 0, 300, 500] -> 500 -> C: 100 - 50/10 = 95.
    # n4: ascending [400, 1000, 1000, 1000] -> takes a 1000 (idle, u=1) -> B: max(50-1, 33) = 49.
    assert gpu_packing_scores(view, [0, 1, 2, 4], SHARE).scores.tolist() == [29, 93, 95, 49]
    # 2 whole GPUs: n0 -> A: 29; n4 -> two idle GPUs (u=2) -> B: 48.
    assert gpu_packing_scores(view, [0, 4], WHOLE2).scores.tolist() == [29, 48]
    # CPU-only pods score 0 on every node.
    assert gpu_packing_scores(view, [2, 3], CPU_ONLY).scores.tolist() == [0, 0]
    # Case A bounds: an idle 8-GPU node max(33-8, 8) = 25; an idle 1-GPU node max(32, 1) = 32.
    big = view_of([(1000, 0, [1000] * 8, 8, 0), (1000, 0, [1000] + [0] * 7, 1, 0)])
    assert gpu_packing_scores(big, [0, 1], PodRequest(1, 0, 500, 1)).scores.tolist() == [25, 32]


def test_gpu_clustering_table() -> None:
    """GpuClustering: 75/50/25/0 + ⌊25·(8000−R)/8000⌋ by the node's tag set."""
    view = view_of(NODES)
    tags = np.zeros((len(NODES), 9), dtype=np.int64)
    tags[1, SHARE_TAG] = 2  # n1: {share: 2}
    tags[2, SHARE_TAG] = tags[2, 1] = 1  # n2: {share, 1-gpu}
    tags[4, 2] = 1  # n4: {2-gpu}
    # u: n0 R=4000 -> 25*4000/8000 = 12; n1 R=1900 -> 25*6100/8000 = 19.06 -> 19;
    #    n2 R=800 -> 25*7200/8000 = 22.5 -> 22; n4 R=3400 -> 25*4600/8000 = 14.375 -> 14.
    # share pod: n0 no GPU pods -> 25+12 = 37; n1 only share -> 75+19 = 94;
    #            n2 share among others -> 50+22 = 72; n4 only other tags -> 14.
    scored = gpu_clustering_scores(view, [0, 1, 2, 4], SHARE, tags)
    assert scored.scores.tolist() == [37, 94, 72, 14]
    # 2-GPU pod: n0 -> 37; n4 only 2-gpu -> 75+14 = 89.
    assert gpu_clustering_scores(view, [0, 4], WHOLE2, tags).scores.tolist() == [37, 89]
    assert gpu_clustering_scores(view, [2, 3], CPU_ONLY, tags).scores.tolist() == [0, 0]
    with pytest.raises(ValueError, match="outside"):
        gpu_clustering_scores(view, [0], WHOLE2, np.zeros((len(NODES), 2), dtype=np.int64))


def test_gpu_tags() -> None:
    """Tag ids: share -> SHARE_TAG, k whole GPUs -> k, CPU-only -> None."""
    assert gpu_tag(SHARE) == SHARE_TAG
    assert gpu_tag(WHOLE2) == 2
    assert gpu_tag(CPU_ONLY) is None


# FGD mix: X share q=500 (cpu 1000), p=0.5; Y CPU-only (cpu 2000), p=0.5.
# F_n = 0.5*F_X + 0.5*R.
FGD_MIX = WorkloadMix.from_shapes(
    [TaskShape(1000, 500, 1), TaskShape(2000, 0, 0)], [0.5, 0.5], ["M0"]
)
FGD_NODES = [
    (8000, 0, [1000, 700, 0, 0], 2, 0),  # a: R=1700, X fits, no GPU < 500 (pads 0) -> F=850
    (8000, 0, [600, 0, 0, 0], 1, 0),  # b: R=600, X fits -> F=300
    (8000, 0, [1000, 1000, 0, 0], 2, 0),  # c: R=2000 -> F=1000
]


def sig(delta: float) -> int:
    """trunc(100·σ(Δ/1000)) for the hand tables."""
    return int(100 / (1 + math.exp(-delta / 1000)))


def test_fgd_share_pod_table() -> None:
    """FGD for a share pod q=300 (cpu 1000): best GPU option, first GPU on ties."""
    view = view_of(FGD_NODES)
    pod = PodRequest(1000, 0, 300, 1)
    # a, GPU0 -> [700, 700]: R=1400, X fits, no GPU < 500 -> F'=700, Δ=150 -> 53.74 -> 53
    #    GPU1 -> [1000, 400]: R=1400, X fits, 400 < 500 -> F'=200+700=900, Δ=-50 -> 48
    #    -> 53 on GPU 0 (best-fit would have taken GPU 1).
    # b, GPU0 -> [300]: X no longer fits -> F'=150+150=300, Δ=0 -> 50.
    # c, GPU0 -> [700, 1000]: F'=850, Δ=150 -> 53; GPU1 the same -> first: GPU 0.
    assert (sig(150), sig(-50), sig(0)) == (53, 48, 50)
    scored = fgd_scores(view, [0, 1, 2], pod, FGD_MIX)
    assert scored.scores.tolist() == [53, 50, 53]
    assert scored.gpus == [(0,), (0,), (0,)]


def test_fgd_whole_and_cpu_only_table() -> None:
    """FGD for whole-GPU and CPU-only pods: n' from the ascending-milli scan."""
    view = view_of(FGD_NODES)
    # Whole GPU (cpu 1000) on a: scan [700 (GPU1), 1000 (GPU0)] -> takes GPU0 -> [0, 700]:
    # R=700, X fits (700), no GPU < 500 except 0 -> F'=350, Δ=500 -> 62.2 -> 62; device GPU 0.
    whole = fgd_scores(view, [0], PodRequest(1000, 0, 1000, 1), FGD_MIX)
    assert (whole.scores.tolist(), whole.gpus) == ([sig(500)], [(0,)])
    assert sig(500) == 62
    # CPU-only 7000 on a: CPU 1000 left, X still fits -> F'=850, Δ=0 -> 50.
    # CPU-only 7500 on a: CPU 500 < 1000, X lacks CPU -> F_X=R -> F'=1700, Δ=-850 -> 29.
    cpu_pods = [PodRequest(7000), PodRequest(7500)]
    got = [fgd_scores(view, [0], pod, FGD_MIX).scores.tolist() for pod in cpu_pods]
    assert got == [[50], [29]]
    assert sig(-850) == 29


def test_fgd_share_without_fitting_gpu_scores_zero() -> None:
    """A share pod on a node where no GPU fits scores 0 with no GPU (reference default)."""
    view = view_of(FGD_NODES)
    scored = fgd_scores(view, [1], PodRequest(1000, 0, 700, 1), FGD_MIX)
    assert (scored.scores.tolist(), scored.gpus) == ([0], [()])


def test_request_and_view_validation() -> None:
    """Inconsistent requests and mis-shaped views are refused with the field named."""
    with pytest.raises(ValueError, match="both zero"):
        PodRequest(1000, 0, 500, 0)
    with pytest.raises(ValueError, match="whole GPUs"):
        PodRequest(1000, 0, 500, 2)
    with pytest.raises(ValueError, match="cpu_milli"):
        PodRequest(-1)
    with pytest.raises(ValueError, match="cpu_free"):
        NodeView(
            cpu_free=np.zeros(2, np.int64),
            mem_free=np.zeros(1, np.int64),
            gpu_free=np.zeros((1, 4), np.int32),
            gpu_count=np.zeros(1, np.int32),
            gpu_model=np.zeros(1, np.int32),
        )


gpu_rows = st.lists(st.integers(0, 1000), min_size=4, max_size=4)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(gpu_rows, min_size=1, max_size=5), q=st.integers(1, 999))
def test_fgd_share_matches_scalar_option_scan(rows: list[list[int]], q: int) -> None:
    """The batched FGD share kernel equals a scalar scan: each fitting GPU scored alone with
    node_frag, the best score kept, the first GPU reaching it chosen."""
    view = NodeView(
        cpu_free=np.full(len(rows), 50_000, np.int64),
        mem_free=np.zeros(len(rows), np.int64),
        gpu_free=np.array(rows, np.int32),
        gpu_count=np.full(len(rows), 4, np.int32),
        gpu_model=np.zeros(len(rows), np.int32),
    )
    pod = PodRequest(1000, 0, q, 1)
    scored = fgd_scores(view, np.arange(len(rows)), pod, FGD_MIX)
    for i, row in enumerate(rows):
        now = float(node_frag(50_000, row, 0, FGD_MIX))
        options = []
        for g in range(4):
            if row[g] >= q:
                after = list(row)
                after[g] -= q
                delta = now - float(node_frag(50_000 - 1000, after, 0, FGD_MIX))
                options.append((int(100 * (1 / (1 + math.exp(-(delta / 1000))))), g))
        if not options:
            assert (scored.scores[i], scored.gpus[i]) == (0, ())
            continue
        top = max(score for score, _ in options)
        first = next(g for score, g in options if score == top)
        assert (int(scored.scores[i]), scored.gpus[i]) == (top, (first,))


def test_pick_gpus_rejects_unknown_rule() -> None:
    """An unknown GPU selection rule is a ValueError naming it."""
    with pytest.raises(ValueError, match="'worst'"):
        pick_gpus([1000], PodRequest(1), "worst")  # type: ignore[arg-type]


def test_exclusive_picks_of_all_rows_equal_the_per_row_rule() -> None:
    """The vectorised pick (lowest-index idle GPUs, at most num_gpu) equals the row rule."""
    rng = np.random.default_rng(7)
    for _ in range(500):
        n, width, k = int(rng.integers(1, 12)), int(rng.integers(0, 9)), int(rng.integers(0, 9))
        rows = rng.choice([0, 250, 1000, 1000], size=(n, width)).astype(np.int64)
        expected = [_exclusive_gpus(r.astype(np.int32), k) for r in rows]
        assert exclusive_gpus_all(rows, k) == expected
