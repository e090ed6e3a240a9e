"""Device templates: one compiled device shape shared by many identical node pools.

Real fleets are made of identical nodes: every 8xH100 dynamic-MIG node publishes the same
208 devices with the same names, attributes, capacities and counters; only the pool name
(= node name), the slices' ``nodeName`` and per-GPU identifiers (``uuid``,
``parentUUID``) differ. A :class:`DeviceTemplate` holds that shape once — compiled devices
plus dense numpy tables — and every pool using it is one *row* of the template's state
arrays. This is what lets a 10,000-node, 2-million-device cluster live in a Snapshot as
arrays instead of Python objects (the memory budget in docs/development.md).

*Kinds*: the template's devices in slice order (slice 0's devices, then slice 1's, …);
kind ``k`` of every row is "the same device" on a different node.

*Instance attributes*: attributes whose values may differ between pools of one template.
tessera treats ``uuid`` and ``parentUUID`` (in any domain) this way; a CEL selector that may
read them is *instance-sensitive* and the vectorised prefilter then does not use the
template's per-kind answer (see :func:`instance_sensitive`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from scheduler.dra.inventory import (
    INSTANCE_ATTRIBUTES,
    CompiledDevice,
    CompiledSlice,
    Number,
    TypedAttribute,
    instance_sensitive,
)

__all__ = [
    "INSTANCE_ATTRIBUTES",
    "DeviceTemplate",
    "GpuLayout",
    "InstanceAttributes",
    "TemplateFactory",
    "instance_sensitive",
    "pool_signature",
]

InstanceAttributes = Mapping[str, Mapping[str, TypedAttribute]]
"""device name -> {attribute name -> typed value}: the instance values of one pool."""


def _is_instance(name: str) -> bool:
    return name.rpartition("/")[2] in INSTANCE_ATTRIBUTES


def _device_signature(d: CompiledDevice) -> Hashable:
    attrs = tuple(
        sorted(
            (name, kind, None if _is_instance(name) else value)
            for name, (kind, value) in d.attributes.items()
        )
    )
    caps = tuple(sorted((name, c.value, c.policy) for name, c in d.capacity.items()))
    consumes = tuple((s, tuple(sorted(c.items()))) for s, c in d.consumes)
    selector = None
    if d.node_selector is not None:
        selector = d.node_selector.model_dump_json()
    return (
        d.name,
        attrs,
        caps,
        consumes,
        d.node_name,
        selector,
        d.all_nodes,
        tuple((t.key, t.value, t.effect) for t in d.taints),
        d.binds_to_node,
        d.binding_conditions,
        d.binding_failure_conditions,
        d.allow_multiple,
    )


def pool_signature(slices: Sequence[CompiledSlice], node_name: str | None) -> Hashable:
    """Identity of a pool's shape: equal signatures may share a template.

    ``node_name`` is the node a node-local pool belongs to (its slices' ``nodeName``);
    it is abstracted away, as are slice names, the pool name and instance attributes.
    """
    parts = []
    for s in slices:
        local = s.node_name is not None and s.node_name == node_name
        parts.append(
            (
                s.driver,
                s.generation,
                s.slice_count,
                "<node>" if local else s.node_name,
                s.node_selector.model_dump_json() if s.node_selector is not None else None,
                s.all_nodes,
                s.per_device_node_selection,
                tuple(_device_signature(d) for d in s.devices),
                tuple((n, tuple(sorted(c.items()))) for n, c in s.shared_counters),
            )
        )
    return tuple(parts)


@dataclass(slots=True)
class GpuLayout:
    """How a template's devices map onto physical GPUs (for the accelerator view).

    ``kinds[g]`` are the kinds that live on GPU ``g`` (full device and partitions);
    ``full_kind[g]`` is the whole-GPU device (or -1), ``counter_set[g]`` the counter set the
    full device consumes (dynamic MIG; -1 otherwise) and ``slice_counters`` the counter
    columns named ``memory-slice-*`` (the MIG geometry), ``shared_kind[g]`` the
    multi-allocatable device standing for the whole GPU (shared GPUs; -1 otherwise).
    """

    model: str = ""
    full_kind: list[int] = field(default_factory=list)
    shared_kind: list[int] = field(default_factory=list)
    counter_set: list[int] = field(default_factory=list)
    kinds: list[list[int]] = field(default_factory=list)
    slice_counters: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of physical GPUs in one pool of the template."""
        return len(self.full_kind)


class DeviceTemplate:
    """The shared, immutable part of a group of identical pools.

    Dense tables (``K`` kinds, ``S`` counter sets, ``C`` counter names, ``Q`` capacity
    names): ``consumes[K, S, C]`` and ``set_totals[S, C]`` (int64; ``integral`` is False
    when some counter is not a whole number, in which case the counter tables are zero and
    the prefilter ignores counters), ``capacity[K, Q]`` (int64 totals, -1 where absent),
    ``exclusive[K]`` (not multi-allocatable), ``uses_counters[K]``.
    """

    def __init__(
        self,
        index: int,
        slices: Sequence[CompiledSlice],
        node_local: bool,
        instance_names: frozenset[str],
    ) -> None:
        self.index = index
        self.slices = tuple(slices)
        self.node_local = node_local
        self.instance_names = instance_names
        self.driver_of_slice = [s.driver for s in slices]
        self.devices: list[CompiledDevice] = []
        self.kind_slice: list[int] = []
        self.kind_of: dict[tuple[str, str], int] = {}
        for si, s in enumerate(slices):
            for d in s.devices:
                self.kind_of.setdefault((s.driver, d.name), len(self.devices))
                self.kind_slice.append(si)
                self.devices.append(d)
        self.set_names: list[str] = []
        counter_names: list[str] = []
        totals: list[Mapping[str, Number]] = []
        for s in slices:
            for name, counters in s.shared_counters:
                self.set_names.append(name)
                totals.append(counters)
                counter_names.extend(c for c in counters if c not in counter_names)
        for d in self.devices:
            for _, counters in d.consumes:
                counter_names.extend(c for c in counters if c not in counter_names)
        self.counter_names = counter_names
        set_index = {n: i for i, n in enumerate(self.set_names)}
        counter_index = {n: i for i, n in enumerate(counter_names)}
        k, s_count, c_count = len(self.devices), len(self.set_names), len(counter_names)
        self.consumes = np.zeros((k, s_count, c_count), dtype=np.int64)
        self.set_totals = np.zeros((s_count, c_count), dtype=np.int64)
        self.integral = True
        self.uses_counters = np.zeros(k, dtype=bool)
        self.unknown_counters = np.zeros(k, dtype=bool)
        for si_, counters in enumerate(totals):
            for name, value in counters.items():
                self._put(self.set_totals, (si_, counter_index[name]), value)
        for ki, d in enumerate(self.devices):
            if d.consumes:
                self.uses_counters[ki] = True
            for set_name, counters in d.consumes:
                if set_name not in set_index:
                    self.unknown_counters[ki] = True
                    continue
                for name, value in counters.items():
                    self._put(self.consumes, (ki, set_index[set_name], counter_index[name]), value)
        self.capacity_names: list[str] = []
        for d in self.devices:
            self.capacity_names.extend(n for n in d.capacity if n not in self.capacity_names)
        cap_index = {n: i for i, n in enumerate(self.capacity_names)}
        self.capacity = np.full((k, len(self.capacity_names)), -1, dtype=np.int64)
        self.capacity_integral = True
        for ki, d in enumerate(self.devices):
            for name, c in d.capacity.items():
                value = c.value
                if isinstance(value, int):
                    self.capacity[ki, cap_index[name]] = value
                else:
                    # a fractional capacity cannot be tracked exactly in int64: the
                    # prefilter then skips the room check (sound) and is not exact
                    self.capacity_integral = False
                    self.capacity[ki, cap_index[name]] = int(Fraction(value))
        self.exclusive = np.array([not d.allow_multiple for d in self.devices], dtype=bool)
        self.shared_kinds = np.flatnonzero(~self.exclusive)
        self.shared_slot = np.full(k, -1, dtype=np.int64)
        self.shared_slot[self.shared_kinds] = np.arange(len(self.shared_kinds))
        self.gpus = _gpu_layout(self)
        self._sets_of_kind = [np.flatnonzero(self.consumes[ki].any(axis=1)) for ki in range(k)]

    def _put(self, table: npt.NDArray[np.int64], at: tuple[int, ...], value: Number) -> None:
        if isinstance(value, Fraction) and value.denominator != 1:
            self.integral = False
            return
        table[at] = int(value)

    @property
    def kinds(self) -> int:
        """Number of devices per pool."""
        return len(self.devices)

    def kinds_sharing_sets(self, kind: int) -> npt.NDArray[np.intp]:
        """Kinds whose counter consumption touches a counter set that ``kind`` consumes."""
        sets = self._sets_of_kind[kind]
        if len(sets) == 0:
            return np.empty(0, dtype=np.intp)
        touched = self.consumes[:, sets, :].any(axis=(1, 2))
        return np.flatnonzero(touched)

    def materialize(
        self, node_name: str, pool_name: str, instance: InstanceAttributes | None
    ) -> list[CompiledSlice]:
        """The compiled slices of one pool of this template (for the exact allocator).

        Devices are shared with the template unless ``instance`` overrides attributes.
        """
        out: list[CompiledSlice] = []
        for s in self.slices:
            devices = s.devices
            if instance:
                devices = tuple(_with_instance(d, instance.get(d.name)) for d in s.devices)
            out.append(
                replace(
                    s,
                    name=f"{pool_name}/{len(out)}",
                    pool=pool_name,
                    node_name=node_name
                    if (self.node_local and s.node_name is not None)
                    else s.node_name,
                    devices=devices,
                )
            )
        return out


def _with_instance(
    d: CompiledDevice, values: Mapping[str, TypedAttribute] | None
) -> CompiledDevice:
    if not values:
        return d
    names = frozenset(values)
    attrs = dict(d.attributes)
    attrs.update(values)
    return d.evolve(attributes=attrs, shape_of=d, instance_names=names)


def _attr_str(d: CompiledDevice, driver: str, name: str) -> str | None:
    for key in (name, f"{driver}/{name}"):
        found = d.attributes.get(key)
        if found is not None and found[0] == "string":
            return str(found[1])
    return None


def _gpu_layout(t: DeviceTemplate) -> GpuLayout:
    """Group kinds into physical GPUs by the NVIDIA driver's conventions.

    A device with attribute ``type == "gpu"`` is a physical GPU (exclusive, or shared when
    multi-allocatable); a device with ``type == "mig"`` belongs to the GPU whose ``uuid``
    is its ``parentUUID``, or whose counter set it consumes (dynamic MIG, where partitions
    and the full GPU consume the same counter set). Devices of other types are not GPUs.
    """
    layout = GpuLayout()
    by_uuid: dict[str, int] = {}
    by_set: dict[str, int] = {}
    migs: list[tuple[int, CompiledDevice, str]] = []
    for ki, d in enumerate(t.devices):
        driver = t.driver_of_slice[t.kind_slice[ki]]
        kind = _attr_str(d, driver, "type")
        if kind == "gpu":
            g = layout.count
            layout.full_kind.append(ki if not d.allow_multiple else -1)
            layout.shared_kind.append(ki if d.allow_multiple else -1)
            set_name = d.consumes[0][0] if d.consumes else None
            layout.counter_set.append(
                t.set_names.index(set_name) if set_name in t.set_names else -1
            )
            layout.kinds.append([ki])
            if not layout.model:
                layout.model = _attr_str(d, driver, "productName") or ""
            uuid = _attr_str(d, driver, "uuid")
            if uuid is not None:
                by_uuid[uuid] = g
            if set_name is not None:
                by_set[set_name] = g
        elif kind == "mig":
            migs.append((ki, d, driver))
    for ki, d, driver in migs:
        parent = _attr_str(d, driver, "parentUUID")
        found = by_uuid.get(parent) if parent is not None else None
        if found is None and d.consumes:
            found = by_set.get(d.consumes[0][0])
        if found is None:
            # static MIG: the parent GPU is not published; group by parent UUID alone
            key = parent or f"mig:{d.name.split('-mig-')[0]}"
            found = by_uuid.get(key)
            if found is None:
                found = layout.count
                by_uuid[key] = found
                layout.full_kind.append(-1)
                layout.shared_kind.append(-1)
                layout.counter_set.append(-1)
                layout.kinds.append([])
                if not layout.model:
                    layout.model = _attr_str(d, driver, "productName") or ""
        layout.kinds[found].append(ki)
    layout.slice_counters = [
        i for i, name in enumerate(t.counter_names) if name.startswith("memory-slice-")
    ]
    return layout


TemplateFactory = Callable[[str], InstanceAttributes]
"""Given a node name, the instance attributes of that node's pool."""
