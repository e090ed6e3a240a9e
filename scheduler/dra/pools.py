"""Gathering the resource pools a node can use (docs/semantics/dra.md §4.1, 1.35 semantics).

:func:`gather_pools` is called once per (node, slice-set generation) by the allocator's
caller; its result is immutable and can be cached. A pool is usable only when it is
complete (its slice count is reached at its newest generation, counted over *all* slices of
the pool, not only the node's) and valid. Incomplete pools are never used by ExactCount
requests (1.35 ``no-allocation-from-incomplete-pools``); invalid pools are skipped and only
surface as ``invalid resource pools were encountered`` when nothing else works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from scheduler.api.selectors import node_selector_matches
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledDevice, CompiledSlice, Number


@dataclass(slots=True)
class Pool:
    """One resource pool as seen from one node.

    ``slices`` are the node-visible slices at the pool's generation, in input order
    (counter-only slices included); ``other_slices`` are same-generation slices that target
    other nodes, kept for counter accounting and validation. ``counter_sets`` maps a counter
    set name to its counter totals.
    """

    driver: str
    name: str
    generation: int
    slices: list[CompiledSlice] = field(default_factory=list)
    other_slices: list[CompiledSlice] = field(default_factory=list)
    incomplete: bool = False
    invalid_reason: str | None = None
    counter_sets: dict[str, Mapping[str, Number]] = field(default_factory=dict)
    candidates: list[tuple[CompiledSlice, CompiledDevice]] | None = None

    @property
    def usable(self) -> bool:
        """True when ExactCount requests may take devices from this pool."""
        return not self.incomplete and self.invalid_reason is None

    def devices_in_order(self) -> list[tuple[CompiledSlice, CompiledDevice]]:
        """Node-visible ``(slice, device)`` pairs in search order (computed once per pool)."""
        if self.candidates is None:
            self.candidates = [(s, d) for s in self.device_slices() for d in s.devices]
        return self.candidates

    def device_slices(self) -> Iterable[CompiledSlice]:
        """Node-visible slices that carry devices, in order."""
        return (s for s in self.slices if s.devices)

    def all_devices(self) -> Iterable[CompiledDevice]:
        """Every device of the pool at its generation, other nodes' slices included."""
        for s in self.slices:
            yield from s.devices
        for s in self.other_slices:
            yield from s.devices


def device_matches_node(
    device: CompiledDevice, node_name: str, node_labels: Mapping[str, str]
) -> bool:
    """Per-device node selection under ``perDeviceNodeSelection`` (dra.md §4.1 step 4)."""
    if device.node_name:
        return device.node_name == node_name
    if device.all_nodes:
        return True
    if device.node_selector is not None:
        return node_selector_matches(device.node_selector, node_name, node_labels)
    return False


def slice_visible(
    s: CompiledSlice, node_name: str, node_labels: Mapping[str, str], features: Features
) -> bool:
    """Whether a slice is kept for this node (dra.md §4.1 steps 1-5)."""
    if not features.partitionable_devices and (
        s.per_device_node_selection is not None or s.shared_counters
    ):
        return False
    if s.shared_counters:
        return True
    if s.node_name is not None and s.node_name != "":
        return s.node_name == node_name
    if s.all_nodes:
        return True
    if s.node_selector is not None:
        return node_selector_matches(s.node_selector, node_name, node_labels)
    if s.per_device_node_selection:
        return any(device_matches_node(d, node_name, node_labels) for d in s.devices)
    return False


def gather_pools(
    slices: Sequence[CompiledSlice],
    node_name: str,
    node_labels: Mapping[str, str],
    features: Features,
    pool_slices: Mapping[tuple[str, str], Sequence[CompiledSlice]] | None = None,
) -> list[Pool]:
    """Group the node-visible slices into pools and judge each pool.

    ``slices`` are all slices that may be visible to the node; ``pool_slices`` (optional)
    maps a pool id to *all* slices of that pool cluster-wide, used to judge completeness
    and counters across nodes. Without it, ``slices`` is taken to be the whole slice set.
    Pools come back ordered by first appearance in ``slices``.
    """
    kept: dict[tuple[str, str], Pool] = {}
    for s in slices:
        if not slice_visible(s, node_name, node_labels, features):
            continue
        key = s.pool_id
        pool = kept.get(key)
        if pool is None:
            kept[key] = Pool(driver=s.driver, name=s.pool, generation=s.generation, slices=[s])
        elif s.generation > pool.generation:
            pool.generation = s.generation
            pool.slices = [s]
        elif s.generation == pool.generation:
            pool.slices.append(s)

    every = pool_slices
    if every is None:
        grouped: dict[tuple[str, str], list[CompiledSlice]] = {}
        for s in slices:
            grouped.setdefault(s.pool_id, []).append(s)
        every = grouped

    pools: list[Pool] = []
    for key, pool in kept.items():
        wanted = pool.slices[0].slice_count
        if len(pool.slices) != wanted:
            everything = every.get(key, ())
            if any(s.generation > pool.generation for s in everything):
                continue  # obsolete: a newer generation exists elsewhere
            same_gen = [s for s in everything if s.generation == pool.generation]
            if len(same_gen) == wanted:
                visible = {id(s) for s in pool.slices}
                pool.other_slices = [s for s in same_gen if id(s) not in visible]
            else:
                pool.incomplete = True
        _judge(pool, features)
        pools.append(pool)
    return pools


def _judge(pool: Pool, features: Features) -> None:
    """Collect counter sets and set ``invalid_reason`` (dra.md §4.1, last bullet).

    Only a complete pool is judged. Counter sets and counter references are checked only
    with DRAPartitionableDevices on (with the gate off, upstream 1.35 checks device names
    only, and counter-consuming devices are simply never allocated).
    """
    if pool.incomplete:
        return
    seen: set[str] = set()
    for s in pool.device_slices():
        for d in s.devices:
            if d.name in seen:
                pool.invalid_reason = f"duplicate device name {d.name}"
                return
            seen.add(d.name)
    if not features.partitionable_devices:
        return
    for s in (*pool.slices, *pool.other_slices):
        for name, counters in s.shared_counters:
            if name in pool.counter_sets:
                pool.invalid_reason = f"duplicate counter set name {name}"
                return
            pool.counter_sets[name] = counters
    for d in pool.all_devices():
        for set_name, counters in d.consumes:
            available = pool.counter_sets.get(set_name)
            if available is None:
                pool.invalid_reason = (
                    f"device {d.name} consumes counters of unknown counter set {set_name}"
                )
                return
            for counter in counters:
                if counter not in available:
                    pool.invalid_reason = (
                        f"device {d.name} consumes unknown counter {counter} "
                        f"of counter set {set_name}"
                    )
                    return
