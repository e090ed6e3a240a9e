"""The FGD fragmentation measure over a dense array view of the cluster's GPUs.

Who uses it: the FGD score kernel (`scheduler.plugins.gpu.kernels`) to rank placements,
and the simulator's metrics to report cluster fragmentation. Both hand it plain numpy arrays:

- `cpu_free: int64[...]` — milli-CPU left on each node;
- `gpu_free: int32[..., G]` — milli-GPU left on each GPU (1000 = idle), zero-padded beyond the
  node's GPU count (a padded slot holds nothing and can never fit a GPU task);
- `gpu_model: int32[...]` — the node's GPU model id (an index into the model list the workload
  mix was built with), -1 for a node without GPUs.

Algorithm overview (FGD, Weng et al., USENIX ATC'23, as implemented by its simulator). For a
node n with idle GPU total R_n and a task class m (cpu_m, per-GPU share q_m, k_m GPUs, allowed
models S_m), the fragment F_n(m) is:

1. CPU-only class (k_m·q_m = 0): R_n — every idle GPU is a fragment, whether or not CPU fits.
2. The node's model is not allowed for m: R_n.
3. At least k_m GPUs have g_i >= q_m and C_n >= cpu_m (m fits): the sum of the g_i < q_m.
4. Otherwise (short of GPU, of CPU or of both): R_n.

F_n(M) = Σ_m p_m·F_n(m). The reference accumulates p_m·F_n(m) into one bucket per outcome
(lack both / lack GPU / lack CPU / CPU-only fits / CPU-only lacks CPU / no access; the fitting
case adds its small-GPU part to "lack GPU"), in class order, and then sums the buckets. We add
in exactly that order so that float results — and therefore score ties after truncation — are
bit-for-bit those of the reference.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = [
    "GPU_MILLI",
    "TaskShape",
    "WorkloadMix",
    "node_frag",
    "node_frag_states",
    "typical_mix",
]

GPU_MILLI = 1000
"""One whole GPU in milli-GPU."""

# Outcome buckets of the reference, in its summation order (index 2, "fits", is never summed).
_LACK_BOTH, _LACK_GPU, _FITS, _LACK_CPU, _CPU_ONLY_FITS, _CPU_ONLY_LACKS, _NO_ACCESS = range(7)
_N_BUCKETS = 7
SCALAR_BATCH = 4
"""Batches of at most this many node states take the plain-Python path (same result)."""

FEW_STALE = 16
"""A :class:`FragTracker` refresh of at most this many nodes goes through
:func:`node_frag_states` (plain Python through the memo; bit for bit :func:`node_frag`)."""


class TaskShape(NamedTuple):
    """The grouping key of a task class: requests per pod and the trace's `gpu_spec` string.

    `gpu_milli` is the share of each requested GPU; `gpu_spec` lists allowed GPU models
    separated by '|', '' meaning any model.
    """

    cpu_milli: int
    gpu_milli: int
    num_gpu: int
    gpu_spec: str = ""


def _frozen(values: ArrayLike, dtype: type[np.generic], what: str) -> NDArray[np.generic]:
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    if array.size and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"WorkloadMix.{what}: values must be finite, got {array.tolist()}")
    return array


@dataclass(frozen=True, eq=False)
class WorkloadMix:
    """A target workload: task classes with their popularity p_m.

    Arrays are per class (length M): `cpu_milli`, `gpu_milli` (the per-GPU share q),
    `num_gpu` (k), `weight` (p, summing to 1); `allowed` is bool[M, T] over the T GPU model ids
    (a row of all True, including the T = 0 case, means any model). `gpu_spec` optionally keeps
    each class's trace spec string for reports. The arrays are copied and made read-only.

    Raises ValueError when lengths disagree, a weight is negative or the weights do not sum to
    1 (within 1e-9), a share is outside [0, 1000], or exactly one of q and k is zero.
    """

    cpu_milli: NDArray[np.int64]
    gpu_milli: NDArray[np.int64]
    num_gpu: NDArray[np.int64]
    allowed: NDArray[np.bool_]
    weight: NDArray[np.float64]
    gpu_spec: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        arrays = {
            "cpu_milli": _frozen(self.cpu_milli, np.int64, "cpu_milli"),
            "gpu_milli": _frozen(self.gpu_milli, np.int64, "gpu_milli"),
            "num_gpu": _frozen(self.num_gpu, np.int64, "num_gpu"),
            "allowed": _frozen(self.allowed, np.bool_, "allowed"),
            "weight": _frozen(self.weight, np.float64, "weight"),
        }
        for name, array in arrays.items():
            object.__setattr__(self, name, array)
        m = self.weight.shape[0] if self.weight.ndim == 1 else -1
        if m < 1:
            raise ValueError(f"WorkloadMix.weight: need a non-empty 1-D array, got {self.weight!r}")
        for name in ("cpu_milli", "gpu_milli", "num_gpu"):
            shape = getattr(self, name).shape
            if shape != (m,):
                raise ValueError(f"WorkloadMix.{name}: shape {shape} != ({m},) of weight")
        if self.allowed.ndim != 2 or self.allowed.shape[0] != m:
            raise ValueError(f"WorkloadMix.allowed: shape {self.allowed.shape} is not ({m}, T)")
        if self.gpu_spec and len(self.gpu_spec) != m:
            raise ValueError(f"WorkloadMix.gpu_spec: {len(self.gpu_spec)} labels for {m} classes")
        if np.any(self.weight < 0) or abs(float(self.weight.sum()) - 1.0) > 1e-9:
            raise ValueError(f"WorkloadMix.weight: {self.weight.tolist()} must be >= 0, sum 1")
        if np.any(self.cpu_milli < 0) or np.any(self.num_gpu < 0):
            raise ValueError("WorkloadMix: cpu_milli and num_gpu must be >= 0")
        bad = (self.gpu_milli < 0) | (self.gpu_milli > GPU_MILLI)
        if np.any(bad):
            raise ValueError(
                f"WorkloadMix.gpu_milli: {self.gpu_milli[bad].tolist()} not in 0..1000"
            )
        mismatch = (self.gpu_milli == 0) != (self.num_gpu == 0)
        if np.any(mismatch):
            i = int(np.argmax(mismatch))
            raise ValueError(
                f"WorkloadMix class {i}: gpu_milli {int(self.gpu_milli[i])} and num_gpu "
                f"{int(self.num_gpu[i])} must both be zero (CPU-only) or both positive"
            )

    @property
    def key(self) -> tuple[object, ...]:
        """The mix's content (equal mixes have equal keys)."""
        return (
            self.cpu_milli.tobytes(),
            self.gpu_milli.tobytes(),
            self.num_gpu.tobytes(),
            self.allowed.shape,
            self.allowed.tobytes(),
            self.weight.tobytes(),
        )

    @property
    def n_classes(self) -> int:
        """M, the number of task classes."""
        return int(self.weight.shape[0])

    @classmethod
    def from_shapes(
        cls, shapes: Sequence[TaskShape], weights: Sequence[float], models: Sequence[str] = ()
    ) -> WorkloadMix:
        """Build a mix from class shapes; `models[i]` is the name of GPU model id i.

        A spec model absent from `models` matches no node; an empty spec allows every model.
        """
        index = {name: i for i, name in enumerate(models)}
        allowed = np.zeros((len(shapes), len(models)), dtype=np.bool_)
        for row, shape in enumerate(shapes):
            if shape.gpu_spec == "":
                allowed[row, :] = True
                continue
            for name in shape.gpu_spec.split("|"):
                if name in index:
                    allowed[row, index[name]] = True
        return cls(
            cpu_milli=np.array([s.cpu_milli for s in shapes], dtype=np.int64),
            gpu_milli=np.array([s.gpu_milli for s in shapes], dtype=np.int64),
            num_gpu=np.array([s.num_gpu for s in shapes], dtype=np.int64),
            allowed=allowed,
            weight=np.array(weights, dtype=np.float64),
            gpu_spec=tuple(s.gpu_spec for s in shapes),
        )


def typical_mix(
    shapes_with_counts: Iterable[tuple[TaskShape, int]] | Mapping[TaskShape, int],
    threshold: float = 0.95,
    *,
    models: Sequence[str] = (),
) -> WorkloadMix:
    """The target workload of FGD (the reference's "typical pods"), from the original trace.

    Pods are grouped by `TaskShape` (memory is not part of the key; repeated shapes in the input
    are added up). Classes are sorted by count, descending; equal counts are ordered by
    (cpu_milli, gpu_milli, num_gpu, gpu_spec) descending — the reference's reversed tie order,
    which reproduces its published class list. Classes are taken, in that order, until their
    cumulative count reaches `threshold` of all pods; the kept counts are renormalised so that
    the weights sum to 1. The float arithmetic (count/total, then divided by kept/total) mirrors
    the reference so that the weights are bit-identical to its.

    Raises ValueError on a negative count, an empty or all-zero input, or a threshold outside
    (0, 1].
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"typical_mix: threshold {threshold!r} must be in (0, 1]")
    items = (
        shapes_with_counts.items()
        if isinstance(shapes_with_counts, Mapping)
        else shapes_with_counts
    )
    counts: dict[TaskShape, int] = {}
    for shape, count in items:
        if count < 0:
            raise ValueError(f"typical_mix: count {count!r} of shape {shape!r} is negative")
        key = TaskShape(*shape)
        counts[key] = counts.get(key, 0) + int(count)
    ranked = sorted(
        ((shape, n) for shape, n in counts.items() if n > 0),
        key=lambda item: (item[1], *item[0]),
        reverse=True,
    )
    total = float(sum(n for _, n in ranked))
    if total <= 0:
        raise ValueError("typical_mix: no task with a positive count")
    # The reference works with an integer percentage: expected = pct * total / 100.
    expected = round(threshold * 100.0, 9) * total / 100.0
    kept = 0
    cumulative = 0.0
    while cumulative < expected and kept < len(ranked):
        cumulative += float(ranked[kept][1])
        kept += 1
    chosen = ranked[:kept]
    shares = [float(n) / total for _, n in chosen]
    if kept < len(ranked):
        kept_share = cumulative / total
        shares = [share / kept_share for share in shares]
    return WorkloadMix.from_shapes([shape for shape, _ in chosen], shares, models)


@dataclass(frozen=True, slots=True)
class _Tables:
    """Per-mix constants of node_frag, computed once per mix object."""

    q_axis: NDArray[np.int64]  # distinct shares as a column
    q_index: NDArray[np.intp]  # each class's share index
    table_t: NDArray[np.bool_]  # access: models x classes, last row for nodes without a model
    cpu_only: NDArray[np.bool_]
    cpu_levels: NDArray[np.int64]  # the classes' distinct CPU requests, ascending
    cpu_level_list: tuple[int, ...]  # the same, for the scalar path
    # plain-Python copies for the scalar path
    shares: tuple[int, ...]
    classes: tuple[
        tuple[int, int, int, float, bool], ...
    ]  # (cpu, share index, k, weight, cpu-only)
    access: tuple[tuple[bool, ...], ...]


_Memo = dict[bytes | tuple[int, ...], float]
_TABLES: dict[int, tuple[WorkloadMix, _Tables, _Memo]] = {}
MEMO_MAX = 200_000
"""F_n(M) values remembered per mix (node states recur: a cluster runs few distinct shapes);
past this many the memo starts over (its values never change, only its size is bounded)."""


def _mix_tables(mix: WorkloadMix) -> _Tables:
    """The constants of ``mix`` (cached by object identity)."""
    return _mix_entry(mix)[0]


def _mix_entry(mix: WorkloadMix) -> tuple[_Tables, _Memo]:
    """The constants of ``mix`` and its memo of F_n(M) per node state key (cached by object
    identity)."""
    found = _TABLES.get(id(mix))
    if found is not None and found[0] is mix:
        return found[1], found[2]
    shares, q_index = np.unique(mix.gpu_milli, return_inverse=True)
    any_model = np.asarray(np.all(mix.allowed, axis=1), dtype=np.bool_)
    table = np.concatenate([mix.allowed, any_model[:, None]], axis=1)  # [M, T + 1]
    cpu_only = mix.num_gpu * mix.gpu_milli == 0
    tables = _Tables(
        q_axis=shares.reshape((len(shares), 1)),
        q_index=q_index.astype(np.intp),
        table_t=np.ascontiguousarray(table.T),
        cpu_only=cpu_only,
        cpu_levels=np.unique(mix.cpu_milli),
        cpu_level_list=tuple(int(c) for c in np.unique(mix.cpu_milli)),
        shares=tuple(int(q) for q in shares),
        classes=tuple(
            (int(c), int(i), int(k), float(w), bool(o))
            for c, i, k, w, o in zip(
                mix.cpu_milli, q_index, mix.num_gpu, mix.weight, cpu_only, strict=True
            )
        ),
        access=tuple(tuple(bool(v) for v in row) for row in table.T),
    )
    if len(_TABLES) > 64:
        _TABLES.clear()
    memo: _Memo = {}
    _TABLES[id(mix)] = (mix, tables, memo)
    return tables, memo


def _frag_one(cpu: int, gpus: Sequence[int], model: int, t: _Tables) -> float:
    """F_n(M) of one node state in plain Python, summed in exactly node_frag's order.

    For tiny batches this is several times faster than the vectorised form; a property
    test checks that the two agree bit for bit.
    """
    idle = float(sum(gpus))
    fits: list[int] = []
    small: list[float] = []
    for q in t.shares:
        count = 0
        rest = 0
        for g in gpus:
            if g >= q:
                count += 1
            else:
                rest += g
        fits.append(count)
        small.append(float(rest))
    row = t.access[model if model >= 0 else len(t.access) - 1]
    sums = [0.0] * _N_BUCKETS
    for m, (cpu_m, qi, k, weight, cpu_only) in enumerate(t.classes):
        cpu_ok = cpu >= cpu_m
        if cpu_only:
            sums[_CPU_ONLY_FITS if cpu_ok else _CPU_ONLY_LACKS] += weight * idle
        elif not row[m]:
            sums[_NO_ACCESS] += weight * idle
        elif fits[qi] >= k:
            if cpu_ok:
                sums[_LACK_GPU] += weight * small[qi]
            else:
                sums[_LACK_CPU] += weight * idle
        else:
            sums[_LACK_GPU if cpu_ok else _LACK_BOTH] += weight * idle
    total = sums[_LACK_BOTH] + sums[_LACK_GPU]
    for index in (_LACK_CPU, _CPU_ONLY_FITS, _CPU_ONLY_LACKS, _NO_ACCESS):
        total = total + sums[index]
    return total


def node_frag(
    cpu_free: ArrayLike,
    gpu_free: ArrayLike,
    gpu_model: ArrayLike,
    mix: WorkloadMix,
) -> NDArray[np.float64]:
    """F_n(M) in milli-GPU for every node state of a batch.

    `cpu_free` and `gpu_model` have the batch shape (any leading shape, broadcast together),
    `gpu_free` has the batch shape plus the GPU axis last. Callers evaluate hypothetical states
    (a pod placed on one GPU or another) by stacking them along extra batch axes. Returns a
    float64 array of the batch shape. Raises ValueError when a model id is outside
    [-1, T) for the mix's T models or a GPU holds a share outside [0, 1000].
    """
    cpu = np.asarray(cpu_free, dtype=np.int64)
    gpu = np.asarray(gpu_free, dtype=np.int64)
    model = np.asarray(gpu_model, dtype=np.int64)
    if gpu.ndim < 1:
        raise ValueError(f"node_frag: gpu_free needs a trailing GPU axis, got shape {gpu.shape}")
    batch = np.broadcast_shapes(cpu.shape, gpu.shape[:-1], model.shape)
    count = math.prod(batch)
    width = gpu.shape[-1]
    flat_cpu = np.broadcast_to(cpu, batch).reshape(-1)
    flat_gpu = np.broadcast_to(gpu, (*batch, width)).reshape(count, width)
    flat_model = np.broadcast_to(model, batch).reshape(-1)
    tables, memo = _mix_entry(mix)
    n_models = mix.allowed.shape[1]
    if count <= SCALAR_BATCH:
        values = _frag_few(
            flat_cpu.tolist(), flat_gpu.tolist(), flat_model.tolist(), tables, memo, n_models
        )
        return np.array(values, dtype=np.float64).reshape(batch)
    _check_states(gpu.min() if gpu.size else 0, gpu.max() if gpu.size else 0, model, n_models)
    keys = _state_keys(flat_cpu, flat_gpu, flat_model, tables)
    found = [memo.get(k) for k in keys]
    missing = [i for i, v in enumerate(found) if v is None]
    if missing:
        if len(memo) + len(missing) > MEMO_MAX:
            memo.clear()
        rows = np.array(missing, dtype=np.intp)
        if len(missing) <= SCALAR_BATCH:
            fresh = [
                _frag_one(c, g, m, tables)
                for c, g, m in zip(
                    flat_cpu[rows].tolist(),
                    flat_gpu[rows].tolist(),
                    flat_model[rows].tolist(),
                    strict=True,
                )
            ]
        else:
            fresh = _frag_rows(
                flat_cpu[rows], flat_gpu[rows], flat_model[rows], tables, mix
            ).tolist()
        for i, value in zip(missing, fresh, strict=True):
            found[i] = memo[keys[i]] = value
    return np.array(found, dtype=np.float64).reshape(batch)


def node_frag_states(
    cpu: list[int], gpus: list[list[int]], models: list[int], mix: WorkloadMix
) -> list[float]:
    """:func:`node_frag` of a few node states given as Python lists (``gpus[i]`` the free
    milli of each GPU of state ``i``), in plain Python through the same memo: bit for bit
    the values :func:`node_frag` gives, without its array set-up (callers with a handful of
    states). Raises ValueError as :func:`node_frag` does."""
    tables, memo = _mix_entry(mix)
    return _frag_few(cpu, gpus, models, tables, memo, mix.allowed.shape[1])


def _check_states(low: int, high: int, model: NDArray[np.int64], n_models: int) -> None:
    """ValueError for a GPU share outside 0..1000 (``low``/``high``: the batch's extremes) or
    a model id outside -1..T-1."""
    if low < 0 or high > GPU_MILLI:
        raise ValueError(f"node_frag: gpu_free values must be in 0..1000, got {low}..{high}")
    if model.size and (model.min() < -1 or model.max() >= n_models):
        raise ValueError(
            f"node_frag: gpu_model ids must be in -1..{n_models - 1}, "
            f"got {model.min()}..{model.max()}"
        )


def _frag_few(
    cpu: list[int],
    gpus: list[list[int]],
    models: list[int],
    tables: _Tables,
    memo: _Memo,
    n_models: int,
) -> list[float]:
    """F_n(M) of a few node states in plain Python, through the memo (tuple keys: the CPU
    level, the model, the GPUs' free milli in ascending order; see :func:`_state_keys`)."""
    flat = [g for row in gpus for g in row]
    low, high = min(flat, default=0), max(flat, default=0)
    if (
        low < 0 or high > GPU_MILLI or (models and (min(models) < -1 or max(models) >= n_models))
    ):  # the error, worded once
        _check_states(low, high, np.asarray(models, dtype=np.int64), n_models)
    levels = tables.cpu_level_list
    out: list[float] = []
    for c, g, m in zip(cpu, gpus, models, strict=True):
        key = (bisect_right(levels, c), m, *sorted(g))
        value = memo.get(key)
        if value is None:
            if len(memo) >= MEMO_MAX:
                memo.clear()
            value = memo[key] = _frag_one(c, g, m, tables)
        out.append(value)
    return out


def _state_keys(
    cpu: NDArray[np.int64], gpu: NDArray[np.int64], model: NDArray[np.int64], tables: _Tables
) -> list[bytes]:
    """One key per node state, equal for states F_n(M) cannot tell apart: the model, the
    GPUs' free milli in ascending order (F_n(M) reads them only through integer sums and
    counts, which ignore the order), the CPU as how many of the classes' CPU requests it
    meets (F_n(M) reads the CPU only through ``cpu >= cpu_m``)."""
    level = np.searchsorted(tables.cpu_levels, cpu, side="right")
    packed = np.empty((len(cpu), gpu.shape[1] + 2), dtype=np.int16)  # all below 2**15
    packed[:, 0] = level
    packed[:, 1] = model
    packed[:, 2:] = np.sort(gpu, axis=1)
    row = np.dtype((np.void, packed.shape[1] * packed.itemsize))
    return cast("list[bytes]", np.ascontiguousarray(packed).view(row).ravel().tolist())


def _frag_rows(
    cpu: NDArray[np.int64],
    gpu: NDArray[np.int64],
    model: NDArray[np.int64],
    tables: _Tables,
    mix: WorkloadMix,
) -> NDArray[np.float64]:
    """F_n(M) of node states given as rows (``cpu[n]``, ``gpu[n, G]``, ``model[n]``),
    vectorised; bit for bit :func:`_frag_one` of each row."""
    n_models = mix.allowed.shape[1]
    idle = gpu.sum(axis=-1).astype(np.float64)  # R_n
    # Per distinct share q: how many GPUs fit q, and the idle milli on GPUs too small for q.
    q_axis, q_index, table_t, cpu_only = (
        tables.q_axis,
        tables.q_index,
        tables.table_t,
        tables.cpu_only,
    )
    fits_q = gpu[..., None, :] >= q_axis  # [..., U, G]
    fit_count = fits_q.sum(axis=-1)[..., q_index]  # [..., M]
    small = np.where(fits_q, 0, gpu[..., None, :]).sum(axis=-1)[..., q_index].astype(np.float64)

    # Access: column T of the extended table answers for nodes without a model (-1).
    access = table_t[np.where(model < 0, n_models, model)]  # [..., M]

    cpu_ok = cpu[..., None] >= mix.cpu_milli  # [..., M]
    gpu_ok = fit_count >= mix.num_gpu

    bucket = np.where(
        gpu_ok,
        np.where(cpu_ok, _FITS, _LACK_CPU),
        np.where(cpu_ok, _LACK_GPU, _LACK_BOTH),
    )
    bucket = np.where(access, bucket, _NO_ACCESS)
    bucket = np.where(cpu_only, np.where(cpu_ok, _CPU_ONLY_FITS, _CPU_ONLY_LACKS), bucket)
    value = np.where(bucket == _FITS, mix.weight * small, mix.weight * idle[..., None])
    bucket = np.where(bucket == _FITS, _LACK_GPU, bucket)

    # Sequential (class-order) sum per bucket: cumsum accumulates strictly left to right.
    one_hot = bucket[..., None, :] == np.arange(_N_BUCKETS)[:, None]  # [..., 7, M]
    per_bucket = np.cumsum(np.where(one_hot, value[..., None, :], 0.0), axis=-1)[..., -1]
    total = per_bucket[..., _LACK_BOTH] + per_bucket[..., _LACK_GPU]
    for index in (_LACK_CPU, _CPU_ONLY_FITS, _CPU_ONLY_LACKS, _NO_ACCESS):
        total = total + per_bucket[..., index]
    return np.asarray(total, dtype=np.float64)


class FragTracker:
    """F_n(M) of every node for one workload mix, kept current one node at a time.

    :meth:`values` recomputes only nodes whose ``node_version`` moved since the last call
    (everything after a node-set change or on another cache). Each user owns its tracker:
    the FGD and Tessera plugins (the "before" term of every score) and the simulator's
    fragmentation metrics.
    """

    def __init__(self, mix: WorkloadMix) -> None:
        self.mix = mix
        self._values = np.zeros(0, dtype=np.float64)
        self._versions = np.zeros(0, dtype=np.int64)
        self._generation: tuple[int, int] = (0, -1)

    def values(self, snapshot: Snapshot) -> NDArray[np.float64]:
        """Current F_n(M) per node (read-only; valid for this snapshot)."""
        gpus = snapshot.gpus
        generation = (snapshot.cache_id, snapshot.node_generation)
        if generation != self._generation or len(self._values) != snapshot.size:
            self._values = node_frag(gpus.cpu_free, gpus.gpu_free, gpus.gpu_model, self.mix)
            self._versions = snapshot.node_version.copy()
            self._generation = generation
        else:
            stale = np.flatnonzero(self._versions != snapshot.node_version)
            if len(stale) > FEW_STALE:
                self._values[stale] = node_frag(
                    gpus.cpu_free[stale], gpus.gpu_free[stale], gpus.gpu_model[stale], self.mix
                )
            elif len(stale):  # one node per bind: lists, no array set-up
                self._values[stale] = node_frag_states(
                    gpus.cpu_free[stale].tolist(),
                    gpus.gpu_free[stale].tolist(),
                    gpus.gpu_model[stale].tolist(),
                    self.mix,
                )
            self._versions[stale] = snapshot.node_version[stale]
        view = self._values.view()
        view.setflags(write=False)
        return view
