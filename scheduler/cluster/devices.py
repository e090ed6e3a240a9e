"""Allocation state of the devices of one template, as dense arrays.

One :class:`TemplateState` per :class:`~scheduler.cluster.templates.DeviceTemplate`; each
pool using the template is a row. The arrays are the single source of truth for which
devices are in use:

* ``allocated[R, K]`` — held exclusively by some claim;
* ``share_count[R, K]`` and ``shared_used[R, K, Q]`` — shares of multi-allocatable devices
  and the capacity they consume;
* ``counters_left[R, S, C]`` — counter totals minus what allocated devices consume
  (a multi-allocatable device is charged once, on its first share);
* ``available[R, K]`` — derived: the device could be allocated on its own right now
  (exclusive: not allocated and its counters fit; shared: already charged or its counters
  fit). The vectorised prefilter counts these.

Updates touch one row: ``O(K·S·C)`` numpy work per device allocated or released.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from scheduler.cluster.templates import DeviceTemplate
from scheduler.dra.inventory import Number

_GROW = 64

DeviceRelease = tuple[int, int, bool, Mapping[str, Number] | None]
"""One allocation result to give back: ``(row, kind, shared, consumed capacity)``."""


class TemplateState:
    """Mutable per-row allocation arrays of one template (owned by the ClusterCache)."""

    def __init__(self, template: DeviceTemplate) -> None:
        t = template
        self.template = t
        self.rows = 0
        self.row_node = np.full(0, -1, dtype=np.int32)
        self.row_alive = np.zeros(0, dtype=bool)
        self.allocated = np.zeros((0, t.kinds), dtype=bool)
        self.share_count = np.zeros((0, t.kinds), dtype=np.int32)
        # capacity held by shares, for multi-allocatable kinds only (column = shared_slot[kind])
        self.shared_used = np.zeros((0, len(t.shared_kinds), len(t.capacity_names)), dtype=np.int64)
        self.counters_left = np.zeros((0, *t.set_totals.shape), dtype=np.int64)
        self.available = np.zeros((0, t.kinds), dtype=bool)
        self._free_rows: list[int] = []
        self._static_ok = ~t.unknown_counters
        # False once a share with a fractional amount was recorded (shared_used truncates)
        self.exact_capacity = True

    # -- rows -------------------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        size = len(self.row_node)
        if need <= size:
            return
        new = max(need, size + max(_GROW, size // 2))
        extra = new - size
        t = self.template
        self.row_node = np.concatenate([self.row_node, np.full(extra, -1, dtype=np.int32)])
        self.row_alive = np.concatenate([self.row_alive, np.zeros(extra, dtype=bool)])
        self.allocated = np.concatenate([self.allocated, np.zeros((extra, t.kinds), dtype=bool)])
        self.share_count = np.concatenate(
            [self.share_count, np.zeros((extra, t.kinds), dtype=np.int32)]
        )
        self.shared_used = np.concatenate(
            [self.shared_used, np.zeros((extra, *self.shared_used.shape[1:]), dtype=np.int64)]
        )
        self.counters_left = np.concatenate(
            [self.counters_left, np.zeros((extra, *self.counters_left.shape[1:]), dtype=np.int64)]
        )
        self.available = np.concatenate([self.available, np.zeros((extra, t.kinds), dtype=bool)])

    def add_row(self, node_index: int) -> int:
        """Start tracking one more pool of this template (``node_index`` -1 if not node-local)."""
        if self._free_rows:
            row = self._free_rows.pop()
        else:
            row = self.rows
            self.rows += 1
            self._grow(self.rows)
        self.row_node[row] = node_index
        self.row_alive[row] = True
        self.allocated[row] = False
        self.share_count[row] = 0
        self.shared_used[row] = 0
        self.counters_left[row] = self.template.set_totals
        self._refresh(row)
        return row

    def add_rows(self, node_indexes: npt.NDArray[np.int32]) -> npt.NDArray[np.intp]:
        """Bulk :meth:`add_row` for many fresh pools (the cluster builder's fast path)."""
        start = self.rows
        count = len(node_indexes)
        self.rows += count
        self._grow(self.rows)
        rows = np.arange(start, start + count)
        self.row_node[rows] = node_indexes
        self.row_alive[rows] = True
        self.counters_left[rows] = self.template.set_totals
        self.available[rows] = self._fits(self.counters_left[start])[None, :]
        return rows

    def remove_row(self, row: int) -> None:
        """Stop tracking a pool (its node or slices went away)."""
        self.row_alive[row] = False
        self.row_node[row] = -1
        self.available[row] = False
        self._free_rows.append(row)

    def set_node(self, row: int, node_index: int) -> None:
        """Re-point a row after the cache renumbered its nodes."""
        self.row_node[row] = node_index

    # -- allocation -------------------------------------------------------------------------------
    def _fits(self, left: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        t = self.template
        if not t.integral or t.consumes.size == 0:
            return self._static_ok.copy()
        fits = np.asarray((t.consumes <= left[None, :, :]).all(axis=(1, 2)), dtype=bool)
        return fits & self._static_ok

    def _refresh(self, row: int) -> None:
        fits = self._fits(self.counters_left[row])
        t = self.template
        # a multi-allocatable device held exclusively (allocated before it became shareable,
        # or with the gate off) is not available either
        shared_ok = ((self.share_count[row] > 0) | fits) & ~self.allocated[row]
        self.available[row] = np.where(t.exclusive, fits & ~self.allocated[row], shared_ok)

    def allocate(
        self, row: int, kind: int, *, shared: bool, consumed: Mapping[str, Number] | None
    ) -> None:
        """Record one allocation result on device ``kind`` of pool ``row``."""
        t = self.template
        charge = False
        if shared:
            if self.share_count[row, kind] == 0:
                charge = True
            self.share_count[row, kind] += 1
            slot = t.shared_slot[kind]
            for name, amount in (consumed or {}).items():
                if int(amount) != amount:
                    self.exact_capacity = False
                self.shared_used[row, slot, t.capacity_names.index(name)] += int(amount)
        else:
            self.allocated[row, kind] = True
            charge = True
        if charge and t.uses_counters[kind] and t.integral:
            self.counters_left[row] -= t.consumes[kind]
        self._refresh(row)

    def release(
        self, row: int, kind: int, *, shared: bool, consumed: Mapping[str, Number] | None
    ) -> None:
        """Undo :meth:`allocate`."""
        t = self.template
        refund = False
        if shared:
            self.share_count[row, kind] -= 1
            slot = t.shared_slot[kind]
            for name, amount in (consumed or {}).items():
                self.shared_used[row, slot, t.capacity_names.index(name)] -= int(amount)
            refund = self.share_count[row, kind] == 0
        else:
            self.allocated[row, kind] = False
            refund = True
        if refund and t.uses_counters[kind] and t.integral:
            self.counters_left[row] += t.consumes[kind]
        self._refresh(row)

    def copy(self, *, frozen: bool = True) -> TemplateState:
        """A copy for a Snapshot (arrays copied, template shared); read-only when ``frozen``."""
        other = TemplateState.__new__(TemplateState)
        other.template = self.template
        other.rows = self.rows
        other._free_rows = []
        other._static_ok = self._static_ok
        other.exact_capacity = self.exact_capacity
        for name in _ARRAYS:
            array = getattr(self, name)[: self.rows].copy()
            array.setflags(write=not frozen)
            setattr(other, name, array)
        return other

    def released(self, changes: Sequence[DeviceRelease]) -> TemplateState:
        """A frozen copy with ``changes`` released, each ``(row, kind, shared, consumed)`` as
        :meth:`release` takes them: the device state of a what-if snapshot
        (:class:`~scheduler.cluster.whatif.WhatIfSnapshot`), by the cache's own bookkeeping."""
        other = self.copy(frozen=False)
        for row, kind, shared, consumed in changes:
            other.release(row, kind, shared=shared, consumed=consumed)
        for name in _ARRAYS:
            getattr(other, name).setflags(write=False)
        return other


_ARRAYS = (
    "row_node",
    "row_alive",
    "allocated",
    "share_count",
    "shared_used",
    "counters_left",
    "available",
)
