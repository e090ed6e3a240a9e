"""The accelerator view: per-node physical GPUs as dense arrays, maintained incrementally.

FGD and the paper's baselines reason about GPUs, not DRA devices. :class:`GpuViewTracker`
(owned by the ClusterCache) keeps ``gpu_free[N, G]`` up to date: a full rebuild when the
node set or the device inventory changes shape, otherwise only the rows of nodes whose
devices were allocated or released since the last read (one node per bind in a replay).

How a GPU's free share (milli-GPU) is read from its devices:

* shared GPU (multi-allocatable): its remaining ``compute`` capacity (thousandths);
* exclusive whole GPU: 1000 if free, else 0;
* dynamic MIG (whole GPU and partitions consume one counter set): 1000 x free memory-slice
  counters / all memory slices;
* static MIG (partitions only): 1000 x the free instances' memory / all instances' memory;
* device-plugin GPUs (a node offering the extended resource ``nvidia.com/gpu`` in its
  allocatable): that many whole GPUs after the node's DRA GPUs, of the model named by the
  node's ``nvidia.com/gpu.product`` label (the DRA ``productName`` it stands for when some
  template has one, GPU feature discovery writing spaces as dashes). The scheduler only
  counts them — the kubelet picks which device a pod gets — so the first ``allocatable -
  requested`` are free (1000) and the rest used (0). Their rows are refreshed for every
  node whose ``node_version`` moved, since binding a pod changes ``requested`` without
  touching a device.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from scheduler.cluster.devices import TemplateState
from scheduler.cluster.templates import DeviceTemplate

if TYPE_CHECKING:
    from scheduler.cluster.cache import ClusterCache

GPU_MILLI = 1000
GPU_RESOURCE = "nvidia.com/gpu"
"""The device plugin's whole-GPU extended resource (NVIDIA k8s-device-plugin)."""
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


@dataclass(frozen=True, slots=True)
class GpuView:
    """Per-node physical GPUs (the FGD measure's input).

    ``gpu_free[n, g]``: milli-GPU still free on GPU g of node n (zero-padded past
    ``gpu_count[n]``); ``gpu_model[n]``: index into ``models`` (-1 = no GPU);
    ``cpu_free[n]``: milli-CPU free. Arrays are read-only.
    """

    cpu_free: npt.NDArray[np.int64]
    gpu_free: npt.NDArray[np.int32]
    gpu_count: npt.NDArray[np.int32]
    gpu_model: npt.NDArray[np.int32]
    models: tuple[str, ...]


def gpu_free_rows(
    t: DeviceTemplate, state: TemplateState, rows: npt.NDArray[np.intp]
) -> npt.NDArray[np.int32]:
    """Free milli per GPU of the template for the given rows, ``int32[len(rows), G]``."""
    layout = t.gpus
    out = np.zeros((len(rows), layout.count), dtype=np.int64)
    compute = t.capacity_names.index("compute") if "compute" in t.capacity_names else -1
    memory = t.capacity_names.index("memory") if "memory" in t.capacity_names else -1
    slices = layout.slice_counters
    columns: Sequence[int] = range(layout.count)
    if compute >= 0:
        # shared GPUs, all at once: the same integer arithmetic as one column at a time
        shared_cols = [g for g in columns if layout.shared_kind[g] >= 0]
        if shared_cols:
            kinds = np.array([layout.shared_kind[g] for g in shared_cols], dtype=np.intp)
            total = t.capacity[kinds, compute]
            used = state.shared_used[rows][:, t.shared_slot[kinds], compute]
            out[:, shared_cols] = (total - used) * GPU_MILLI // np.maximum(total, 1)
            columns = [g for g in columns if layout.shared_kind[g] < 0]
    for g in columns:
        shared = layout.shared_kind[g]
        full = layout.full_kind[g]
        counter_set = layout.counter_set[g]
        if shared >= 0:
            slot = t.shared_slot[shared]
            if compute >= 0:
                total = t.capacity[shared, compute]
                used = state.shared_used[rows, slot, compute]
                out[:, g] = (total - used) * GPU_MILLI // max(total, 1)
            else:
                out[:, g] = np.where(state.share_count[rows, shared] > 0, 0, GPU_MILLI)
        elif full >= 0 and counter_set >= 0 and slices:
            left = state.counters_left[rows][:, counter_set, slices].sum(axis=1)
            whole = t.set_totals[counter_set, slices].sum()
            out[:, g] = left * GPU_MILLI // max(int(whole), 1)
        elif full >= 0:
            out[:, g] = np.where(state.allocated[rows, full], 0, GPU_MILLI)
        else:
            kinds = np.array(layout.kinds[g], dtype=np.intp)
            weight = (
                t.capacity[kinds, memory] if memory >= 0 else np.ones(len(kinds), dtype=np.int64)
            )
            weight = np.maximum(weight, 0)
            free_weight = (~state.allocated[rows][:, kinds] * weight[None, :]).sum(axis=1)
            out[:, g] = free_weight * GPU_MILLI // max(int(weight.sum()), 1)
    return out.astype(np.int32)


_RowPlan = tuple[tuple[int, ...], ...]
"""Per GPU column of a template, how :func:`gpu_free_row` reads it: ``(0, slot, compute,
total)`` shared with compute capacity, ``(1, kind)`` shared without, ``(2, set, whole)``
dynamic MIG, ``(3, kind)`` exclusive whole GPU, ``(4, whole, kind, weight, ...)`` static
MIG (kind/weight pairs)."""

_ROW_PLANS: weakref.WeakKeyDictionary[DeviceTemplate, _RowPlan] = weakref.WeakKeyDictionary()


def _row_plan(t: DeviceTemplate) -> _RowPlan:
    """The template's per-column reading plan (the branches of :func:`gpu_free_rows`)."""
    plan = _ROW_PLANS.get(t)
    if plan is not None:
        return plan
    layout = t.gpus
    compute = t.capacity_names.index("compute") if "compute" in t.capacity_names else -1
    memory = t.capacity_names.index("memory") if "memory" in t.capacity_names else -1
    slices = layout.slice_counters
    steps: list[tuple[int, ...]] = []
    for g in range(layout.count):
        shared, full, counter_set = (
            layout.shared_kind[g],
            layout.full_kind[g],
            layout.counter_set[g],
        )
        if shared >= 0 and compute >= 0:
            total = int(t.capacity[shared, compute])
            steps.append((0, int(t.shared_slot[shared]), compute, total))
        elif shared >= 0:
            steps.append((1, shared))
        elif full >= 0 and counter_set >= 0 and slices:
            steps.append((2, counter_set, int(t.set_totals[counter_set, slices].sum())))
        elif full >= 0:
            steps.append((3, full))
        else:
            kinds = layout.kinds[g]
            weight = [max(int(t.capacity[k, memory]), 0) if memory >= 0 else 1 for k in kinds]
            pairs = [x for k, w in zip(kinds, weight, strict=True) for x in (k, w)]
            steps.append((4, sum(weight), *pairs))
    plan = _ROW_PLANS[t] = tuple(steps)
    return plan


def gpu_free_row(t: DeviceTemplate, state: TemplateState, row: int) -> list[int]:
    """:func:`gpu_free_rows` of one row in plain Python: the same integers (the same floor
    divisions and clamps), without the per-call array set-up (one node per bind)."""
    out: list[int] = []
    slices = t.gpus.slice_counters
    for step in _row_plan(t):
        kind = step[0]
        if kind == 0:
            _, slot, compute, total = step
            used = int(state.shared_used[row, slot, compute])
            out.append((total - used) * GPU_MILLI // max(total, 1))
        elif kind == 1:
            out.append(0 if state.share_count[row, step[1]] > 0 else GPU_MILLI)
        elif kind == 2:
            left = int(state.counters_left[row, step[1], slices].sum())
            out.append(left * GPU_MILLI // max(step[2], 1))
        elif kind == 3:
            out.append(0 if state.allocated[row, step[1]] else GPU_MILLI)
        else:
            allocated = state.allocated[row]
            free = sum(step[j + 1] for j in range(2, len(step), 2) if not allocated[step[j]])
            out.append(free * GPU_MILLI // max(step[1], 1))
    return out


def node_gpu_free(
    templates: Sequence[DeviceTemplate],
    states: Sequence[TemplateState],
    rows: Iterable[tuple[int, int, tuple[str, str]]],
) -> npt.NDArray[np.int32]:
    """Free milli per physical GPU of one node, in the view's column order, from the node's
    templated pools ``(template index, row, pool)`` read in ``states``."""
    free: list[int] = []
    for t, row, _ in sorted(rows):
        if templates[t].gpus.count:
            free.extend(gpu_free_row(templates[t], states[t], row))
    return np.array(free, dtype=np.int32)


class GpuViewTracker:
    """Keeps the GPU arrays of one ClusterCache current (see the module docstring)."""

    def __init__(self) -> None:
        self._shape_key: tuple[int, ...] | None = None
        self.gpu_free = np.zeros((0, 0), dtype=np.int32)
        self.gpu_count = np.zeros(0, dtype=np.int32)
        self.gpu_model = np.zeros(0, dtype=np.int32)
        self.models: dict[str, int] = {}
        # device-plugin GPUs: nodes, their first column, their count, versions last written
        self._plugin_nodes = np.zeros(0, dtype=np.intp)
        self._plugin_start = np.zeros(0, dtype=np.int64)
        self._plugin_count = np.zeros(0, dtype=np.int64)
        self._plugin_versions = np.zeros(0, dtype=np.int64)

    def _plugin_gpus(self, cache: ClusterCache) -> npt.NDArray[np.int64]:
        """Device-plugin GPUs per node (allocatable ``nvidia.com/gpu``)."""
        column = cache.resources.index(GPU_RESOURCE) if GPU_RESOURCE in cache.resources else -1
        if column < 0:
            return np.zeros(len(cache.node_names), dtype=np.int64)
        return np.maximum(cache.allocatable[:, column], 0)

    def _rebuild(self, cache: ClusterCache) -> None:
        inventory = cache.devices
        size = len(cache.node_names)
        dra = np.zeros(size, dtype=np.int64)
        for template, state in zip(inventory.templates, inventory.states, strict=True):
            if template.gpus.count == 0 or state.rows == 0:
                continue
            alive = state.row_alive[: state.rows] & (state.row_node[: state.rows] >= 0)
            np.add.at(dra, state.row_node[: state.rows][alive], template.gpus.count)
        plugin = self._plugin_gpus(cache)
        width = int((dra + plugin).max(initial=0))
        self.gpu_free = np.zeros((size, width), dtype=np.int32)
        self.gpu_count = np.zeros(size, dtype=np.int32)
        self.gpu_model = np.full(size, -1, dtype=np.int32)
        self.models = {}
        for template, state in zip(inventory.templates, inventory.states, strict=True):
            layout = template.gpus
            if layout.count == 0 or state.rows == 0:
                continue
            alive = state.row_alive[: state.rows] & (state.row_node[: state.rows] >= 0)
            rows = np.flatnonzero(alive)
            if len(rows) == 0:
                continue
            nodes = state.row_node[rows]
            free = gpu_free_rows(template, state, rows)
            start = self.gpu_count[nodes]
            for g in range(layout.count):
                self.gpu_free[nodes, start + g] = free[:, g]
            self.gpu_count[nodes] += layout.count
            self.gpu_model[nodes] = self.models.setdefault(layout.model, len(self.models))
        inventory.dirty_nodes.clear()
        self._plugin_nodes = np.flatnonzero(plugin > 0)
        self._plugin_start = self.gpu_count[self._plugin_nodes].astype(np.int64)
        self._plugin_count = plugin[self._plugin_nodes]
        self._plugin_versions = np.full(len(self._plugin_nodes), -1, dtype=np.int64)
        dashed = {m.replace(" ", "-"): m for m in self.models}
        for i, count in zip(self._plugin_nodes.tolist(), self._plugin_count.tolist(), strict=True):
            self.gpu_count[i] += count
            label = cache.nodes[cache.node_names[i]].metadata.labels.get(GPU_PRODUCT_LABEL, "")
            if self.gpu_model[i] < 0:
                model = dashed.get(label, label)
                self.gpu_model[i] = self.models.setdefault(model, len(self.models))

    def _refresh_plugin(self, cache: ClusterCache) -> None:
        """Rewrite the device-plugin GPUs of nodes whose version moved (free ones first)."""
        if len(self._plugin_nodes) == 0:
            return
        versions = cache.node_version[self._plugin_nodes]
        stale = np.flatnonzero(versions != self._plugin_versions)
        if len(stale) == 0:
            return
        column = cache.resources.index(GPU_RESOURCE)
        nodes = self._plugin_nodes[stale]
        start, count = self._plugin_start[stale], self._plugin_count[stale]
        free = np.clip(cache.allocatable[nodes, column] - cache.requested[nodes, column], 0, count)
        width = self.gpu_free.shape[1]
        slot = np.arange(width)[None, :] - start[:, None]
        mine = (slot >= 0) & (slot < count[:, None])
        rows = self.gpu_free[nodes]
        rows[mine] = 0
        rows[mine & (slot < free[:, None])] = GPU_MILLI
        self.gpu_free[nodes] = rows
        self._plugin_versions[stale] = versions[stale]

    def _refresh(self, cache: ClusterCache) -> None:
        inventory = cache.devices
        for name in inventory.dirty_nodes:
            i = cache.node_index.get(name)
            if i is None:
                continue
            free = node_gpu_free(
                inventory.templates, inventory.states, inventory.rows_of_node.get(name, ())
            )
            self.gpu_free[i, : len(free)] = free
        inventory.dirty_nodes.clear()

    def view(self, cache: ClusterCache) -> GpuView:
        """The current view (read-only arrays; ``cpu_free`` from the cache's resources)."""
        key = (
            cache.node_generation,
            cache.node_spec_generation,
            cache.devices.generation,
            len(cache.devices.templates),
        )
        if key != self._shape_key:
            self._rebuild(cache)
            self._shape_key = key
        elif cache.devices.dirty_nodes:
            self._refresh(cache)
        self._refresh_plugin(cache)
        cpu = cache.resources.index("cpu")
        cpu_free = cache.allocatable[:, cpu] - cache.requested[:, cpu]
        return GpuView(
            cpu_free=_readonly(cpu_free),
            gpu_free=_readonly(self.gpu_free),
            gpu_count=_readonly(self.gpu_count),
            gpu_model=_readonly(self.gpu_model),
            models=tuple(self.models),
        )


_A = TypeVar("_A", bound=np.generic)


def _readonly(array: npt.NDArray[_A]) -> npt.NDArray[_A]:
    view = array.view()
    view.setflags(write=False)
    return view
