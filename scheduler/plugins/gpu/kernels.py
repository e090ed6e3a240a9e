"""Numpy kernels of FGD and the baseline GPU scoring policies, as the score plugins call them.

Who calls: the GPU score plugins (:mod:`scheduler.plugins.gpu.fragmentation`, ``baselines``,
``tessera``) from their Score, through :class:`~scheduler.plugins.gpu.base.GpuScorePlugin`,
which builds a `NodeView` of the cycle's snapshot and a `PodRequest` of the pod's GPU shape.
The framework has already filtered the nodes; a kernel scores a batch of those candidates
and says which GPUs the pod would get on each (`Scored`); scores are integers in [0, 100],
higher is better. Node choice, tie-breaking and binding are the framework's.

Kernels: `fgd_scores` (Fragmentation; `rows_after_whole` and `exclusive_gpus_all` are shared
with Tessera), `bestfit_raw` + `minmax_normalize` (BestFit), `dotprod_scores`,
`gpu_packing_scores`, `gpu_clustering_scores` (with `gpu_tag`), and `pick_gpus` (the GPU
choice: tightest fit, or uniform for Random).

The formulas, integer truncations and GPU choices are those of the FGD simulator
(hkust-adsl/kubernetes-scheduler-simulator), so that a replay picks the same nodes
(``tests/golden/test_fgd_fidelity.py`` replays its logged runs through the framework). Go
converts floats to integers by truncation; all quantities truncated here are non-negative,
where that is the floor. Kernels never mutate the view. Candidates passed to a kernel must be
feasible for the pod; scores on other nodes are meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.plugins.gpu.measure import GPU_MILLI, WorkloadMix, node_frag

__all__ = [
    "MAX_SPEC_CPU",
    "MAX_SPEC_GPU",
    "SHARE_TAG",
    "GpuSel",
    "NodeView",
    "PodRequest",
    "Scored",
    "bestfit_raw",
    "dotprod_scores",
    "exclusive_gpus_all",
    "fgd_scores",
    "gpu_clustering_scores",
    "gpu_packing_scores",
    "gpu_tag",
    "minmax_normalize",
    "pick_gpus",
    "rows_after_whole",
]

MAX_SPEC_CPU = 128_000
"""CPU normaliser of the reference (milli-CPU of its largest node shape)."""
MAX_SPEC_GPU = 8_000
"""GPU normaliser of the reference (milli-GPU of an 8-GPU node)."""
MAX_SCORE = 100
SHARE_TAG = 0
"""GpuClustering tag id of GPU-sharing pods; a pod of k whole GPUs has tag id k."""

GpuSel = Literal["best", "random"]
"""GPU choice on a node: "best" = least milli left that fits (lowest index on ties; whole GPUs
take the lowest-index idle ones); "random" = uniform over the GPUs that fit, by reservoir
sampling in index order (whole GPUs as for "best")."""


@dataclass(frozen=True)
class NodeView:
    """Dense per-node arrays of a cluster, owned and updated in place by the caller.

    `cpu_free: int64[N]` milli-CPU left; `mem_free: int64[N]` memory left (any unit, the same
    as `PodRequest.memory`); `gpu_free: int32[N, G]` milli-GPU left per GPU, zero beyond the
    node's GPU count; `gpu_count: int32[N]`; `gpu_model: int32[N]` model id, -1 = no GPU.
    Raises ValueError when the shapes disagree.
    """

    cpu_free: NDArray[np.int64]
    mem_free: NDArray[np.int64]
    gpu_free: NDArray[np.int32]
    gpu_count: NDArray[np.int32]
    gpu_model: NDArray[np.int32]

    def __post_init__(self) -> None:
        if self.gpu_free.ndim != 2:
            raise ValueError(f"NodeView.gpu_free: need shape (N, G), got {self.gpu_free.shape}")
        n = self.gpu_free.shape[0]
        for name in ("cpu_free", "mem_free", "gpu_count", "gpu_model"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"NodeView.{name}: shape {shape} != ({n},) of gpu_free")
        count = self.gpu_count
        if len(count) and (count.max() > self.gpu_free.shape[1] or count.min() < 0):
            raise ValueError(
                f"NodeView.gpu_count: values must be in 0..{self.gpu_free.shape[1]} (the GPU axis)"
            )

    @property
    def n_nodes(self) -> int:
        """N, the number of nodes."""
        return int(self.gpu_free.shape[0])


@dataclass(frozen=True)
class PodRequest:
    """What one pod asks for.

    `gpu_milli` is the share of each of its `num_gpu` GPUs (both zero for a CPU-only pod; a pod
    of several GPUs asks for whole ones, as in the reference, which rejects anything else).
    `allowed_models` holds the GPU model ids it may run on; None means any.
    Raises ValueError on a negative quantity or an inconsistent GPU request.
    """

    cpu_milli: int
    memory: int = 0
    gpu_milli: int = 0
    num_gpu: int = 0
    allowed_models: frozenset[int] | None = None

    def __post_init__(self) -> None:
        for name in ("cpu_milli", "memory", "gpu_milli", "num_gpu"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"PodRequest.{name}: {value!r} must be >= 0")
        if (self.gpu_milli == 0) != (self.num_gpu == 0):
            raise ValueError(
                f"PodRequest.gpu_milli {self.gpu_milli} / num_gpu {self.num_gpu}: "
                "both zero (CPU-only) or both positive"
            )
        if self.gpu_milli > GPU_MILLI:
            raise ValueError(f"PodRequest.gpu_milli: {self.gpu_milli} > 1000")
        if self.num_gpu > 1 and self.gpu_milli != GPU_MILLI:
            raise ValueError(
                f"PodRequest.gpu_milli: {self.gpu_milli} with num_gpu {self.num_gpu}: "
                "multi-GPU pods must ask for whole GPUs"
            )

    @property
    def is_share(self) -> bool:
        """True for a GPU-sharing pod (one GPU, less than all of it)."""
        return self.num_gpu == 1 and self.gpu_milli < GPU_MILLI

    @property
    def total_gpu_milli(self) -> int:
        """num_gpu · gpu_milli."""
        return self.num_gpu * self.gpu_milli


class Scored(NamedTuple):
    """Scores (int64, one per candidate) and the GPU indices the pod would get on each."""

    scores: NDArray[np.int64]
    gpus: list[tuple[int, ...]]


def _idx(idx: ArrayLike) -> NDArray[np.intp]:
    return np.asarray(idx, dtype=np.intp).reshape(-1)


def _trunc_div(a: NDArray[np.int64], b: int) -> NDArray[np.int64]:
    """Integer division rounding toward zero, as Go's `/` on int64."""
    q = np.abs(a) // abs(b)
    return np.asarray(np.where((a < 0) != (b < 0), -q, q), dtype=np.int64)


def _sigmoid_score(delta: NDArray[np.float64]) -> NDArray[np.int64]:
    """⌊100·σ(Δ/1000)⌋ with the reference's float steps (1/(1+e^-x), then ×100, truncate)."""
    sig = 1.0 / (1.0 + np.exp(-(delta / 1000.0)))
    return np.trunc(sig * float(MAX_SCORE)).astype(np.int64)


def _exclusive_gpus(row: NDArray[np.int32], num_gpu: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(row == GPU_MILLI)[:num_gpu])


def exclusive_gpus_all(rows: NDArray[np.int64], num_gpu: int) -> list[tuple[int, ...]]:
    """:func:`_exclusive_gpus` of every row at once."""
    if num_gpu == 0 or rows.shape[1] == 0:
        return [()] * rows.shape[0]
    idle = rows == GPU_MILLI
    first = np.argsort(~idle, axis=1, kind="stable")[:, :num_gpu]  # idle GPUs, index order
    counts = np.minimum(idle.sum(axis=1), num_gpu)
    return [tuple(r[:c]) for r, c in zip(first.tolist(), counts.tolist(), strict=True)]


def pick_gpus(
    row: ArrayLike, pod: PodRequest, sel: GpuSel = "best", rng: np.random.Generator | None = None
) -> tuple[int, ...]:
    """The GPU indices `pod` gets on a node whose per-GPU milli left is `row`.

    CPU-only pods get (). Whole-GPU pods get the lowest-index idle GPUs. A sharing pod gets,
    for "best", the fitting GPU with the least milli left (lowest index on ties) and, for
    "random", a uniform pick among fitting GPUs by reservoir sampling in index order: the j-th
    fitting GPU replaces the pick when `rng.integers(j) == 0` (one draw per fitting GPU).
    Returns () when nothing fits. Raises ValueError for "random" without a generator.
    """
    if sel not in ("best", "random"):
        raise ValueError(f"pick_gpus: unknown GPU selection {sel!r}; expected 'best' or 'random'")
    gpus = np.asarray(row, dtype=np.int64)
    if pod.num_gpu == 0:
        return ()
    if not pod.is_share:
        return _exclusive_gpus(gpus.astype(np.int32), pod.num_gpu)
    fits = np.flatnonzero(gpus >= pod.gpu_milli)
    if fits.size == 0:
        return ()
    if sel == "best":
        return (int(fits[np.argmin(gpus[fits])]),)
    if rng is None:
        raise ValueError("pick_gpus: sel 'random' needs a numpy Generator (rng)")
    chosen = -1
    for seen, gpu in enumerate(fits, start=1):
        if int(rng.integers(seen)) == 0:
            chosen = int(gpu)
    return (chosen,)


def _pick_all(view: NodeView, nodes: NDArray[np.intp], pod: PodRequest) -> list[tuple[int, ...]]:
    """:func:`pick_gpus` ("best") on every candidate, vectorised for sharing pods."""
    if pod.num_gpu == 0:
        return [() for _ in nodes]
    rows = view.gpu_free[nodes]
    if pod.is_share:
        masked = np.where(rows >= pod.gpu_milli, rows, GPU_MILLI + 1)
        best = np.argmin(masked, axis=1)
        has = masked[np.arange(len(nodes)), best] <= GPU_MILLI
        return [(int(b),) if h else () for b, h in zip(best, has, strict=True)]
    return [_exclusive_gpus(row, pod.num_gpu) for row in rows]


# --------------------------------------------------------------------------------------- FGD


DEDUPE_MIN_NODES = 32
"""From this many candidates on, :func:`fgd_scores` scores each distinct node state once."""


def fgd_scores(
    view: NodeView,
    idx: ArrayLike,
    pod: PodRequest,
    mix: WorkloadMix,
    now: NDArray[np.float64] | None = None,
    *,
    dedupe: bool = True,
) -> Scored:
    """FGD: score = ⌊100·σ((F_n(M) − F_n'(M))/1000)⌋, n' = n after placing the pod.

    A sharing pod is tried on every GPU with enough milli left; the node's score is the best
    option's and the pod gets the first GPU reaching it. Any other pod takes its GPUs by
    scanning them in ascending milli left (stable) and taking the first `num_gpu` that fit;
    its device ids are the lowest-index idle GPUs (the same set for whole GPUs). A sharing pod
    with no fitting GPU scores 0 with no GPU. ``now`` may pass the candidates' current
    F_n(M) when the caller already has them (it must equal ``node_frag`` of their state).
    With ``dedupe`` (the default), candidates in identical states are scored once (same
    result).
    """
    nodes = _idx(idx)
    cpu = view.cpu_free[nodes].astype(np.int64)
    rows = view.gpu_free[nodes].astype(np.int64)
    models = view.gpu_model[nodes]
    if dedupe and nodes.size >= DEDUPE_MIN_NODES:
        # the score and pick depend on (free CPU, model, free milli per GPU) only: score each
        # distinct node state once (a replay's candidates repeat states about 2x)
        key = np.column_stack([cpu, models.astype(np.int64), rows])
        _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
        if first.size < nodes.size:
            sub = fgd_scores(
                view, nodes[first], pod, mix, None if now is None else now[first], dedupe=False
            )
            inverse = inverse.reshape(-1)
            return Scored(sub.scores[inverse], [sub.gpus[j] for j in inverse.tolist()])
    if now is None:
        now = node_frag(cpu, rows, models, mix)
    if pod.is_share:
        return _fgd_share(cpu, rows, models, now, pod=pod, mix=mix)
    later = node_frag(cpu - pod.cpu_milli, rows_after_whole(rows, pod), models, mix)
    scores = _sigmoid_score(now - later)
    gpus = exclusive_gpus_all(rows, pod.num_gpu)
    return Scored(scores, gpus)


def rows_after_whole(rows: NDArray[np.int64], pod: PodRequest) -> NDArray[np.int64]:
    """Per-GPU milli left on each node after a non-sharing pod takes its GPUs there: the
    ``num_gpu`` fullest GPUs that fit (stable order), as FGD's "after" state measures it."""
    after = rows.copy()
    if pod.num_gpu > 0:
        order = np.argsort(rows, axis=1, kind="stable")
        ascending = np.take_along_axis(rows, order, axis=1)
        fits = ascending >= pod.gpu_milli
        take = fits & (np.cumsum(fits, axis=1) <= pod.num_gpu)
        np.put_along_axis(after, order, ascending - pod.gpu_milli * take, axis=1)
    return after


def _fgd_share(
    cpu: NDArray[np.int64],
    rows: NDArray[np.int64],
    models: NDArray[np.int32],
    now: NDArray[np.float64],
    *,
    pod: PodRequest,
    mix: WorkloadMix,
) -> Scored:
    n = rows.shape[0]
    scores = np.zeros(n, dtype=np.int64)
    gpus: list[tuple[int, ...]] = [() for _ in range(n)]
    cand, gpu = np.nonzero(rows >= pod.gpu_milli)  # options in (candidate, GPU) order
    if cand.size == 0:
        return Scored(scores, gpus)
    # F_n is symmetric in the GPUs, so GPUs of one node with the same milli left give the
    # same option: evaluate each (node, milli left) once, on its lowest-index GPU.
    _, first = np.unique(cand * (GPU_MILLI + 1) + rows[cand, gpu], return_index=True)
    cand, gpu = cand[first], gpu[first]
    states = rows[cand].copy()
    states[np.arange(cand.size), gpu] -= pod.gpu_milli
    later = node_frag(cpu[cand] - pod.cpu_milli, states, models[cand], mix)
    option = _sigmoid_score(now[cand] - later)
    best = np.full(n, -1, dtype=np.int64)
    np.maximum.at(best, cand, option)
    reach = option == best[cand]
    # the first GPU (in index order) whose option reaches the node's best score
    pick = np.full(n, rows.shape[1], dtype=np.int64)
    np.minimum.at(pick, cand[reach], gpu[reach])
    placed = np.flatnonzero(best >= 0)
    scores[placed] = best[placed]
    for c, g in zip(placed.tolist(), pick[placed].tolist(), strict=True):
        gpus[c] = (g,)
    return Scored(scores, gpus)


# --------------------------------------------------------------------------------- baselines


def bestfit_raw(view: NodeView, idx: ArrayLike, pod: PodRequest) -> NDArray[np.int64]:
    """BestFit before normalisation: ⌊100·(1 − [0.5·(C−cpu)/128000 + 0.5·(R−G)/8000])⌋."""
    nodes = _idx(idx)
    cpu_left = (view.cpu_free[nodes] - pod.cpu_milli).astype(np.float64)
    idle = view.gpu_free[nodes].sum(axis=1, dtype=np.int64)
    gpu_left = (idle - pod.total_gpu_milli).astype(np.float64)
    leftover = cpu_left / MAX_SPEC_CPU * 0.5
    leftover = leftover + gpu_left / MAX_SPEC_GPU * 0.5
    return np.asarray(np.trunc((1.0 - leftover) * float(MAX_SCORE)), dtype=np.int64)


def minmax_normalize(raw: ArrayLike) -> NDArray[np.int64]:
    """Min-max rescale to 0..100 over the given (feasible) set: (s−lo)·100/(hi−lo), integer
    division; all 0 when hi = lo (the reference's NormalizeScore)."""
    values = np.asarray(raw, dtype=np.int64).reshape(-1)
    if values.size == 0:
        return values.copy()
    lo, hi = int(values.min()), int(values.max())
    if hi == lo:
        return np.zeros_like(values)
    return _trunc_div((values - lo) * MAX_SCORE, hi - lo)


def dotprod_scores(
    view: NodeView,
    idx: ArrayLike,
    pod: PodRequest,
) -> Scored:
    """DotProd (merged GPU dimension, max-spec normalisation): with d = (C/128000)·(cpu/128000)
    + (R/8000)·(G/8000), score = ⌊100·(1 − d/2)⌋; a node short of CPU scores 0."""
    nodes = _idx(idx)
    cpu_free = view.cpu_free[nodes]
    idle = view.gpu_free[nodes].sum(axis=1, dtype=np.int64).astype(np.float64)
    dot = (cpu_free.astype(np.float64) / MAX_SPEC_CPU) * (pod.cpu_milli / MAX_SPEC_CPU)
    dot = dot + (idle / MAX_SPEC_GPU) * (pod.total_gpu_milli / MAX_SPEC_GPU)
    scores = np.trunc(float(MAX_SCORE) * (1.0 - dot / 2.0)).astype(np.int64)
    scores = np.where(cpu_free >= pod.cpu_milli, scores, 0)
    return Scored(scores, _pick_all(view, nodes, pod))


def gpu_packing_scores(
    view: NodeView,
    idx: ArrayLike,
    pod: PodRequest,
) -> Scored:
    """GpuPacking. CPU-only pods score 0 everywhere. Otherwise, with f = idle GPUs on the node:

    A. no GPU in use (f = GPU count): max(33 − f, f);
    then walk the GPUs in ascending milli left, taking the first `num_gpu` that fit, u = how
    many of them are idle:
    B. u > 0: max(50 − u, 33);
    C. u = 0: max(100 − ⌊Σ ⌊g·100/1000⌋ / 10⌋, 50) over the GPUs taken.
    """
    nodes = _idx(idx)
    gpus = _pick_all(view, nodes, pod)
    if pod.num_gpu == 0:
        return Scored(np.zeros(nodes.size, dtype=np.int64), gpus)
    rows = view.gpu_free[nodes].astype(np.int64)
    idle = (rows == GPU_MILLI).sum(axis=1)
    untouched = idle == view.gpu_count[nodes]
    case_a = np.maximum(MAX_SCORE // 3 - idle, idle)
    ascending = np.sort(rows, axis=1, kind="stable")
    fits = ascending >= pod.gpu_milli
    take = fits & (np.cumsum(fits, axis=1) <= pod.num_gpu)
    used_idle = (take & (ascending == GPU_MILLI)).sum(axis=1)
    case_b = np.maximum(MAX_SCORE // 2 - used_idle, MAX_SCORE // 3)
    percent = np.where(take, ascending * 100 // GPU_MILLI, 0).sum(axis=1)
    case_c = np.maximum(MAX_SCORE - percent // 10, MAX_SCORE // 2)
    scores = np.where(untouched, case_a, np.where(used_idle > 0, case_b, case_c))
    return Scored(scores.astype(np.int64), gpus)


def gpu_tag(pod: PodRequest) -> int | None:
    """The GpuClustering tag id of a pod: `SHARE_TAG` for a sharing pod, k for k whole GPUs,
    None for a CPU-only pod (which carries no tag)."""
    if pod.num_gpu == 0:
        return None
    return SHARE_TAG if pod.is_share else pod.num_gpu


def gpu_clustering_scores(
    view: NodeView,
    idx: ArrayLike,
    pod: PodRequest,
    tag_counts: NDArray[np.int64],
) -> Scored:
    """GpuClustering. CPU-only pods score 0 everywhere. Otherwise, with u = ⌊25·(8000 − R)/8000⌋
    and the node's tags from `tag_counts` (int[N, T]: pods of tag t on node n): 75 + u if the node
    holds only pods of the pod's tag, 50 + u if that tag among others, 25 + u if no GPU pod,
    u if only other tags."""
    nodes = _idx(idx)
    gpus = _pick_all(view, nodes, pod)
    tag = gpu_tag(pod)
    if tag is None:
        return Scored(np.zeros(nodes.size, dtype=np.int64), gpus)
    if not 0 <= tag < tag_counts.shape[1]:
        raise ValueError(f"gpu_clustering_scores: tag {tag} outside {tag_counts.shape[1]} tags")
    idle = view.gpu_free[nodes].sum(axis=1, dtype=np.int64)
    fill = _trunc_div((MAX_SCORE // 4) * (MAX_SPEC_GPU - idle), MAX_SPEC_GPU)
    held = tag_counts[nodes] > 0
    same = held[:, tag]
    kinds = held.sum(axis=1)
    bonus = np.where(
        same,
        np.where(kinds == 1, MAX_SCORE * 3 // 4, MAX_SCORE * 2 // 4),
        np.where(kinds == 0, MAX_SCORE // 4, 0),
    )
    return Scored((fill + bonus).astype(np.int64), gpus)
