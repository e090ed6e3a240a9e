"""Tessera: tessera's default GPU placement score — FGD that also prices CPU and GPU models.

Who calls it: the framework, as the Score plugin of tessera's default profile (the
simulator's ``tessera`` policy and the webhook). For a pod and its feasible nodes it returns
integer scores in 0..100 (higher is better) and, with ``deviceChoice: policy``, the GPU(s)
the pod should get on each node. Ties are left to the profile's tie-break.

Why not plain FGD. FGD (docs/semantics/openb-fgd.md §2-§3) scores a placement by how much it
grows the node's expected fragmentation F_n(M) against the target workload M. F_n(M) asks
one question per task class: does *one more* task fit? It is blind to two slow leaks that
dominate what FGD leaves unallocated on the openb traces:

* **GPUs stranded by CPU.** A node with 8 idle GPUs and 20 cores left fits every class, so
  F_n(M) sees no fragment, yet it can feed about two 11-core tasks: six GPUs are lost. FGD
  scores a CPU-only pod there "no change" and lets it land on any node.
* **Scarce GPU models.** A class restricted to some models (``gpu_spec``) counts every idle
  GPU of other models as a fragment, so FGD *prefers* spending the restricted models' GPUs
  on unrestricted pods — exactly the GPUs the restricted classes will lack.

The score (all quantities in milli-GPU, as F_n(M)):

1. **Stranded GPU** S_n = max(0, R_n − 1000·C_n / c̄): the idle GPU milli R_n that the
   node's free CPU C_n cannot feed at the workload's CPU per GPU
   c̄ = Σ p_m·cpu_m / Σ p_m·k_m·q_m × 1000 (over the GPU classes of M).
2. **Model pressure** ρ_t = (Σ_{m: t ∈ S_m} d_m / cap(S_m)) / (Σ_m d_m / cap), with
   d_m = p_m·k_m·q_m the class's GPU demand and cap(S) the installed GPU milli of the models
   in S: how much more of the workload's demand falls on each unit of model t than on the
   average unit. ρ_t = 1 for every model when no class is restricted.
3. Δ = (F_n − F_n') + a·(S_n − S_n') − b·G·(ρ_t − 1), where n' is the node after placing
   the pod, G = k·q its GPU milli and t the node's model; score = ⌊100·σ(Δ/1000)⌋, FGD's
   sigmoid and integer truncation. a = ``strandingWeight`` and b = ``scarcityWeight`` are
   1 by default: the three terms share FGD's unit (milli-GPU), and other weights measured
   no better overall. a = b = 0 is FGD exactly.

Kept from FGD on purpose: the truncation and leaving its ties to the profile's tie-break.
In the replay of the paper's experiment, ranking FGD by the exact Δ, or breaking its ties
by best fit, most/least CPU left, fewest idle GPUs or balanced CPU/GPU use, all left more
GPUs unallocated than FGD's node-order ties.

GPU choice is FGD's: a sharing pod takes the first GPU reaching its node's best score; a
whole-GPU pod the lowest-index idle GPUs. The target workload is the Fragmentation
plugin's (``workload`` argument, else the pods in the cluster). Measured against FGD on the
17 openb traces: ``bench/results/fgd_reproduction.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.interfaces import Handle, NodeIds
from scheduler.plugins.gpu.fragmentation import Fragmentation, FragmentationArgs
from scheduler.plugins.gpu.kernels import (
    NodeView,
    PodRequest,
    Scored,
    exclusive_gpus_all,
    rows_after_whole,
)
from scheduler.plugins.gpu.measure import GPU_MILLI, WorkloadMix, node_frag, node_frag_states

MAX_SCORE = 100
FEW_NODES = 32
"""Up to this many candidates, :func:`tessera_scores` works on Python lists (the same
arithmetic, element by element) instead of arrays: a replay rescores only the few nodes that
changed since a shape was last scored, where numpy's per-call set-up costs more than the
work."""

FloatArray = npt.NDArray[np.float64]


class TesseraArgs(FragmentationArgs):
    """Arguments of the Tessera plugin (the Fragmentation plugin's, plus two weights)."""

    stranding_weight: float = Field(
        default=1.0,
        ge=0.0,
        alias="strandingWeight",
        description="Weight a of the CPU-stranded GPU term (0 = off).",
    )
    scarcity_weight: float = Field(
        default=1.0,
        ge=0.0,
        alias="scarcityWeight",
        description="Weight b of the GPU-model pressure term (0 = off).",
    )


def cpu_per_gpu(mix: WorkloadMix) -> float | None:
    """c̄: the workload's milli-CPU per whole GPU over its GPU classes (None: no GPU class,
    or GPU classes that ask for no CPU — then no free CPU can strand a GPU)."""
    gpu = (mix.num_gpu * mix.gpu_milli).astype(np.float64)
    demand = float((mix.weight * gpu).sum())
    if demand <= 0.0:
        return None
    has_gpu = gpu > 0
    cpu = float((mix.weight * mix.cpu_milli)[has_gpu].sum())
    if cpu <= 0.0:
        return None
    return cpu / demand * GPU_MILLI


def stranded_gpu(
    cpu_free: npt.ArrayLike, idle_gpu: npt.ArrayLike, per_gpu: float | None
) -> FloatArray:
    """S = max(0, idle − 1000·cpu / c̄) per node (all zero when ``per_gpu`` is None).

    Raises ValueError when ``per_gpu`` is not positive.
    """
    idle = np.asarray(idle_gpu, dtype=np.float64)
    if per_gpu is None:
        return np.zeros_like(idle)
    if per_gpu <= 0.0:
        raise ValueError(f"stranded_gpu: cpu per GPU {per_gpu!r} must be > 0")
    cpu = np.asarray(cpu_free, dtype=np.float64)
    return np.asarray(np.maximum(0.0, idle - GPU_MILLI * cpu / per_gpu), dtype=np.float64)


def model_pressure(mix: WorkloadMix, capacity: npt.ArrayLike) -> FloatArray | None:
    """ρ_t per model id (see the module docstring), or None when no class is restricted.

    ``capacity[t]`` is the installed GPU milli of model t (the ids of ``mix.allowed``).
    A class whose allowed models have no capacity adds nothing (it can never run).
    Raises ValueError when ``capacity`` does not have one entry per model.
    """
    cap = np.asarray(capacity, dtype=np.float64)
    if cap.shape != (mix.allowed.shape[1],):
        raise ValueError(
            f"model_pressure: capacity shape {cap.shape} != ({mix.allowed.shape[1]},) models"
        )
    if bool(mix.allowed.all()) or cap.sum() <= 0.0:
        return None
    allowed = mix.allowed.astype(np.float64)
    demand = mix.weight * (mix.num_gpu * mix.gpu_milli).astype(np.float64)
    reachable = allowed @ cap
    per_unit = np.where(reachable > 0.0, demand / np.where(reachable > 0.0, reachable, 1.0), 0.0)
    average = float(demand[reachable > 0.0].sum()) / float(cap.sum())
    if average <= 0.0:
        return None
    return np.asarray((per_unit @ allowed) / average, dtype=np.float64)


def _truncated(delta: FloatArray) -> npt.NDArray[np.int64]:
    """⌊100·σ(Δ/1000)⌋, FGD's score of a fragmentation change."""
    sig = 1.0 / (1.0 + np.exp(-(delta / 1000.0)))
    return np.trunc(sig * float(MAX_SCORE)).astype(np.int64)


def tessera_scores(
    view: NodeView,
    idx: npt.ArrayLike,
    pod: PodRequest,
    mix: WorkloadMix,
    *,
    now: FloatArray | None = None,
    per_gpu: float | None = None,
    pressure: FloatArray | None = None,
    stranding_weight: float = 1.0,
    scarcity_weight: float = 1.0,
) -> Scored:
    """Tessera scores and GPU picks for feasible candidates ``idx`` (module docstring, 3.).

    ``now`` may pass the candidates' current F_n(M); ``per_gpu`` is c̄ (None: no stranding
    term); ``pressure`` is ρ per model id (None: no model term).
    """
    nodes = np.asarray(idx, dtype=np.intp).reshape(-1)
    if len(nodes) <= FEW_NODES:
        return _few_scores(
            view, nodes, pod, mix, now, per_gpu, pressure, stranding_weight, scarcity_weight
        )
    cpu = view.cpu_free[nodes].astype(np.int64)
    rows = view.gpu_free[nodes].astype(np.int64)
    models = view.gpu_model[nodes]
    if now is None:
        now = node_frag(cpu, rows, models, mix)
    idle = rows.sum(axis=1)
    gpu_total = pod.total_gpu_milli
    offset = np.zeros(len(nodes), dtype=np.float64)
    if stranding_weight and per_gpu is not None:
        before = stranded_gpu(cpu, idle, per_gpu)
        after = stranded_gpu(cpu - pod.cpu_milli, idle - gpu_total, per_gpu)
        offset += stranding_weight * (before - after)
    if scarcity_weight and pressure is not None and gpu_total:
        rho = np.where(models >= 0, pressure[np.maximum(models, 0)], 1.0)
        offset -= scarcity_weight * gpu_total * (rho - 1.0)
    base = now + offset
    if pod.is_share:
        return _share_scores(cpu, rows, models, base, pod, mix)
    later = node_frag(cpu - pod.cpu_milli, rows_after_whole(rows, pod), models, mix)
    return Scored(_truncated(base - later), exclusive_gpus_all(rows, pod.num_gpu))


def _stranded_one(cpu: int, idle: int, per_gpu: float) -> float:
    """:func:`stranded_gpu` of one node (the same float64 operations in the same order)."""
    return max(0.0, float(idle) - GPU_MILLI * float(cpu) / per_gpu)


def _after_whole(row: list[int], pod: PodRequest) -> list[int]:
    """:func:`~scheduler.plugins.gpu.kernels.rows_after_whole` of one node: the ``num_gpu``
    fullest GPUs that fit (stable ascending order) lose ``gpu_milli``."""
    after = list(row)
    taken = 0
    if pod.num_gpu > 0:
        for g in sorted(range(len(row)), key=row.__getitem__):
            if taken == pod.num_gpu:
                break
            if row[g] >= pod.gpu_milli:
                after[g] -= pod.gpu_milli
                taken += 1
    return after


def _idle_gpus(row: list[int], num_gpu: int) -> tuple[int, ...]:
    """The lowest-index wholly idle GPUs, at most ``num_gpu`` (``exclusive_gpus_all``)."""
    if num_gpu == 0:
        return ()
    return tuple([g for g, free in enumerate(row) if free == GPU_MILLI][:num_gpu])


def _few_scores(
    view: NodeView,
    nodes: npt.NDArray[np.intp],
    pod: PodRequest,
    mix: WorkloadMix,
    now: FloatArray | None,
    per_gpu: float | None,
    pressure: FloatArray | None,
    stranding_weight: float,
    scarcity_weight: float,
) -> Scored:
    """:func:`tessera_scores` of a few candidates, element by element in Python: the same
    float64 operations in the same order per node, F_n(M) through the same memo
    (:func:`~scheduler.plugins.gpu.measure.node_frag_states`) and the same vectorised
    sigmoid, so scores and picks are bit for bit the array path's."""
    cpus: list[int] = view.cpu_free[nodes].tolist()
    rows: list[list[int]] = view.gpu_free[nodes].tolist()
    models: list[int] = view.gpu_model[nodes].tolist()
    if now is None:
        current = node_frag_states(cpus, rows, models, mix)
    else:
        current = np.asarray(now, dtype=np.float64).reshape(-1).tolist()
    gpu_total = pod.total_gpu_milli
    strand = bool(stranding_weight) and per_gpu is not None
    if per_gpu is not None and strand and per_gpu <= 0.0:
        raise ValueError(f"stranded_gpu: cpu per GPU {per_gpu!r} must be > 0")
    scarce = bool(scarcity_weight) and pressure is not None and bool(gpu_total)
    weight = scarcity_weight * gpu_total
    bases: list[float] = []
    for cpu, row, model, value in zip(cpus, rows, models, current, strict=True):
        offset = 0.0
        if strand:
            assert per_gpu is not None
            idle = sum(row)
            before = _stranded_one(cpu, idle, per_gpu)
            after = _stranded_one(cpu - pod.cpu_milli, idle - gpu_total, per_gpu)
            offset += stranding_weight * (before - after)
        if scarce:
            assert pressure is not None
            rho = float(pressure[model]) if model >= 0 else 1.0
            offset -= weight * (rho - 1.0)
        bases.append(value + offset)
    n = len(cpus)
    if not pod.is_share:
        later = node_frag_states(
            [c - pod.cpu_milli for c in cpus], [_after_whole(r, pod) for r in rows], models, mix
        )
        delta = np.array([b - v for b, v in zip(bases, later, strict=True)], dtype=np.float64)
        return Scored(_truncated(delta), [_idle_gpus(r, pod.num_gpu) for r in rows])
    share = pod.gpu_milli
    owner: list[int] = []
    which: list[int] = []
    states: list[list[int]] = []
    for j, row in enumerate(rows):
        for g, free in enumerate(row):
            if free >= share:
                state = list(row)
                state[g] -= share
                owner.append(j)
                which.append(g)
                states.append(state)
    scores = np.zeros(n, dtype=np.int64)
    gpus: list[tuple[int, ...]] = [() for _ in range(n)]
    if not owner:
        return Scored(scores, gpus)
    later = node_frag_states(
        [cpus[j] - pod.cpu_milli for j in owner], states, [models[j] for j in owner], mix
    )
    delta = np.array([bases[j] - v for j, v in zip(owner, later, strict=True)], dtype=np.float64)
    option: list[int] = _truncated(delta).tolist()
    best: dict[int, tuple[int, int]] = {}
    for j, g, value in zip(owner, which, option, strict=True):
        found = best.get(j)
        if found is None or value > found[0]:
            best[j] = (value, g)
    for j, (value, g) in best.items():
        scores[j] = value
        gpus[j] = (g,)
    return Scored(scores, gpus)


def _share_scores(
    cpu: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    models: npt.NDArray[np.int32],
    base: FloatArray,
    pod: PodRequest,
    mix: WorkloadMix,
) -> Scored:
    """A sharing pod: every GPU that fits is an option; the node keeps its best option."""
    n = rows.shape[0]
    cand, gpu = np.nonzero(rows >= pod.gpu_milli)
    states = rows[cand].copy()
    states[np.arange(cand.size), gpu] -= pod.gpu_milli
    later = node_frag(cpu[cand] - pod.cpu_milli, states, models[cand], mix)
    option = _truncated(base[cand] - later)
    scores = np.zeros(n, dtype=np.int64)
    gpus: list[tuple[int, ...]] = [() for _ in range(n)]
    if cand.size == 0:
        return Scored(scores, gpus)
    best = np.full(n, -1, dtype=np.int64)
    np.maximum.at(best, cand, option)
    reach = np.flatnonzero(option == best[cand])
    first_cand, first = np.unique(cand[reach], return_index=True)
    for c, j in zip(first_cand.tolist(), reach[first].tolist(), strict=True):
        scores[c] = option[j]
        gpus[c] = (int(gpu[j]),)
    return Scored(scores, gpus)


class Tessera(Fragmentation):
    """tessera's default placement score (see the module docstring)."""

    name = "Tessera"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        super().__init__(args, handle)
        self._terms: tuple[int, WorkloadMix, float | None, FloatArray | None] | None = None

    def parse_args(self, args: Mapping[str, Any]) -> TesseraArgs:
        """Validate the arguments."""
        return TesseraArgs.model_validate(dict(args))

    def terms(self, snapshot: Snapshot, mix: WorkloadMix) -> tuple[float | None, FloatArray | None]:
        """(c̄, ρ) of ``mix`` on this snapshot's GPUs (kept per node set and mix)."""
        found = self._terms
        if found is None or found[0] != snapshot.node_generation or found[1] is not mix:
            gpus = snapshot.gpus
            capacity = np.zeros(len(gpus.models), dtype=np.float64)
            has_model = gpus.gpu_model >= 0
            np.add.at(
                capacity,
                gpus.gpu_model[has_model],
                gpus.gpu_count[has_model].astype(np.float64) * GPU_MILLI,
            )
            found = (snapshot.node_generation, mix, cpu_per_gpu(mix), model_pressure(mix, capacity))
            self._terms = found
        return found[2], found[3]

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """Tessera scores and GPU picks."""
        assert isinstance(self.args, TesseraArgs)
        tracker = self.tracker(snapshot)
        per_gpu, pressure = self.terms(snapshot, tracker.mix)
        return tessera_scores(
            view,
            idx,
            pod,
            tracker.mix,
            now=tracker.values(snapshot)[idx],
            per_gpu=per_gpu,
            pressure=pressure,
            stranding_weight=self.args.stranding_weight,
            scarcity_weight=self.args.scarcity_weight,
        )


PLUGINS = {Tessera.name: Tessera}
