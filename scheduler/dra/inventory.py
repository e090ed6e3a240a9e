"""Compiled ResourceSlices: the immutable device inventory the allocator searches.

A ResourceSlice model is compiled once (:func:`compile_slice`) into plain slotted objects
with exact numbers, so the per-claim search never touches pydantic or re-parses a
quantity. Compilation keeps *shape*, not validity: a device whose attribute has no typed
value, or a device consuming an unknown counter set, compiles fine and is reported by the
allocator exactly where upstream reports it (docs/semantics/dra.md §3, §4.1).

Identifiers: a device is ``(driver, pool, device)``; counter values and capacities are
exact (``int`` where integral, else :class:`fractions.Fraction`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from scheduler.api.quantity import parse_quantity

if TYPE_CHECKING:
    from scheduler.api.dra import Device, ResourceSlice
    from scheduler.api.selectors import NodeSelector
    from scheduler.api.taints import Taint

Number = int | Fraction
DeviceID = tuple[str, str, str]
"""``(driver, pool, device)``."""

AttrKind = str
"""One of ``"int"``, ``"bool"``, ``"string"``, ``"version"``; ``""`` = no typed value."""

TypedAttribute = tuple[AttrKind, int | bool | str | None]

EMPTY_MAP: Mapping[str, Any] = {}


def exact(value: str | int | float) -> Number:
    """Parse a quantity to an int when integral, else an exact Fraction."""
    parsed = parse_quantity(value)
    return parsed.numerator if parsed.denominator == 1 else parsed


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """``capacity.requestPolicy`` (DRAConsumableCapacity): how requests are rounded."""

    default: Number | None = None
    valid_values: tuple[Number, ...] | None = None
    range_min: Number | None = None
    range_max: Number | None = None
    range_step: Number | None = None

    @property
    def has_range(self) -> bool:
        """True when the policy is a ``validRange`` (min is required by the API)."""
        return self.range_min is not None


@dataclass(frozen=True, slots=True)
class Capacity:
    """One device capacity: its total value and optional request policy."""

    value: Number
    policy: RequestPolicy | None = None


class CompiledDevice:
    """One device of a slice, with exact numbers and typed attributes.

    ``attributes`` maps the qualified name as written in the slice (``"model"`` or
    ``"dom.example/model"``) to ``(kind, value)``. ``consumes`` lists
    ``(counterSet, {counter: amount})`` in slice order. ``node_*`` fields are only
    meaningful under ``perDeviceNodeSelection``.
    """

    __slots__ = (
        "all_nodes",
        "allow_multiple",
        "attributes",
        "binding_conditions",
        "binding_failure_conditions",
        "binds_to_node",
        "capacity",
        "consumes",
        "instance_names",
        "name",
        "node_name",
        "node_selector",
        "shape_of",
        "taints",
    )

    def __init__(
        self,
        *,
        name: str,
        attributes: Mapping[str, TypedAttribute],
        capacity: Mapping[str, Capacity],
        consumes: tuple[tuple[str, Mapping[str, Number]], ...] = (),
        node_name: str | None = None,
        node_selector: NodeSelector | None = None,
        all_nodes: bool | None = None,
        taints: tuple[Taint, ...] = (),
        binds_to_node: bool = False,
        binding_conditions: tuple[str, ...] = (),
        binding_failure_conditions: tuple[str, ...] = (),
        allow_multiple: bool = False,
        shape_of: CompiledDevice | None = None,
        instance_names: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.shape_of = shape_of
        self.instance_names = instance_names
        self.attributes = attributes
        self.capacity = capacity
        self.consumes = consumes
        self.node_name = node_name
        self.node_selector = node_selector
        self.all_nodes = all_nodes
        self.taints = taints
        self.binds_to_node = binds_to_node
        self.binding_conditions = binding_conditions
        self.binding_failure_conditions = binding_failure_conditions
        self.allow_multiple = allow_multiple

    def __repr__(self) -> str:
        return f"CompiledDevice({self.name!r})"

    def evolve(
        self,
        *,
        attributes: Mapping[str, TypedAttribute] | None = None,
        taints: tuple[Taint, ...] | None = None,
        shape_of: CompiledDevice | None = None,
        instance_names: frozenset[str] | None = None,
    ) -> CompiledDevice:
        """A copy of this device with the named fields replaced; a field left ``None``
        keeps this device's value (shared, not copied)."""
        return CompiledDevice(
            name=self.name,
            attributes=self.attributes if attributes is None else attributes,
            capacity=self.capacity,
            consumes=self.consumes,
            node_name=self.node_name,
            node_selector=self.node_selector,
            all_nodes=self.all_nodes,
            taints=self.taints if taints is None else taints,
            binds_to_node=self.binds_to_node,
            binding_conditions=self.binding_conditions,
            binding_failure_conditions=self.binding_failure_conditions,
            allow_multiple=self.allow_multiple,
            shape_of=self.shape_of if shape_of is None else shape_of,
            instance_names=self.instance_names if instance_names is None else instance_names,
        )

    def match_key(self, expression: str) -> CompiledDevice:
        """The device whose selector result this device shares for ``expression``.

        A device materialised from a template (``shape_of``) differs from the template's
        device only in ``instance_names`` attributes; unless the expression may read those,
        the template device's result is this device's result.
        """
        shape = self.shape_of
        if shape is None or instance_sensitive(expression, self.instance_names):
            return self
        return shape


def with_taints(device: CompiledDevice, taints: tuple[Taint, ...]) -> CompiledDevice:
    """A copy of ``device`` whose taints are ``taints`` (everything else shared)."""
    return device.evolve(taints=taints)


@dataclass(frozen=True, slots=True)
class CompiledSlice:
    """A ResourceSlice reduced to what allocation reads.

    Exactly one node-selection field is normally set; ``None`` means "absent" (the
    gathering rules of dra.md §4.1 distinguish absent from false).
    """

    name: str
    driver: str
    pool: str
    generation: int
    slice_count: int
    node_name: str | None
    node_selector: NodeSelector | None
    all_nodes: bool | None
    per_device_node_selection: bool | None
    devices: tuple[CompiledDevice, ...]
    shared_counters: tuple[tuple[str, Mapping[str, Number]], ...]

    @property
    def pool_id(self) -> tuple[str, str]:
        """``(driver, pool name)``: the pool's identity."""
        return (self.driver, self.pool)


def _typed_attribute(attr: Any) -> TypedAttribute:
    """Pick the one typed value of a DeviceAttribute (``("", None)`` when none is set)."""
    kind = attr.type_name
    if kind is None:
        return ("", None)
    return (kind, attr.value)


def _policy(raw: Any) -> RequestPolicy | None:
    if raw is None:
        return None
    valid_range = raw.valid_range
    return RequestPolicy(
        default=exact(raw.default) if raw.default is not None else None,
        valid_values=tuple(exact(v) for v in raw.valid_values) if raw.valid_values else None,
        range_min=exact(valid_range.min)
        if valid_range is not None and valid_range.min is not None
        else None,
        range_max=exact(valid_range.max)
        if valid_range is not None and valid_range.max is not None
        else None,
        range_step=exact(valid_range.step)
        if valid_range is not None and valid_range.step is not None
        else None,
    )


def compile_device(device: Device) -> CompiledDevice:
    """Compile one ``Device`` of a v1 ResourceSlice."""
    return CompiledDevice(
        name=device.name,
        attributes={name: _typed_attribute(a) for name, a in (device.attributes or {}).items()},
        capacity={
            name: Capacity(exact(c.value), _policy(c.request_policy))
            for name, c in (device.capacity or {}).items()
        },
        consumes=tuple(
            (cc.counter_set, {n: exact(c.value) for n, c in (cc.counters or {}).items()})
            for cc in (device.consumes_counters or ())
        ),
        node_name=device.node_name,
        node_selector=device.node_selector,
        all_nodes=device.all_nodes,
        taints=tuple(device.taints or ()),
        binds_to_node=bool(device.binds_to_node),
        binding_conditions=tuple(device.binding_conditions or ()),
        binding_failure_conditions=tuple(device.binding_failure_conditions or ()),
        allow_multiple=bool(device.allow_multiple_allocations),
    )


def compile_slice(rs: ResourceSlice) -> CompiledSlice:
    """Compile a ResourceSlice model (any accepted API version, already converted to v1)."""
    spec = rs.spec
    return CompiledSlice(
        name=rs.metadata.name or "",
        driver=spec.driver,
        pool=spec.pool.name,
        generation=int(spec.pool.generation or 0),
        slice_count=int(spec.pool.resource_slice_count or 0),
        node_name=spec.node_name,
        node_selector=spec.node_selector,
        all_nodes=spec.all_nodes,
        per_device_node_selection=spec.per_device_node_selection,
        devices=tuple(compile_device(d) for d in (spec.devices or ())),
        shared_counters=tuple(
            (cs.name, {n: exact(c.value) for n, c in (cs.counters or {}).items()})
            for cs in (spec.shared_counters or ())
        ),
    )


def compile_slices(slices: Sequence[ResourceSlice]) -> list[CompiledSlice]:
    """Compile many slices, keeping their order (informer order matters for ties)."""
    return [compile_slice(s) for s in slices]


INSTANCE_ATTRIBUTES = frozenset({"uuid", "parentUUID"})
"""Identifier names (bare, or the last element of a qualified name) that vary per node
between otherwise identical pools."""

_MACROS = re.compile(r"\b(exists|exists_one|all|map|filter|bind)\s*\(")


def instance_sensitive(expression: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a CEL selector might depend on instance attribute values.

    Sound by construction: it says True whenever the expression names an instance attribute
    (``uuid``, ``parentUUID`` or the ``extra`` names) anywhere, even inside a string, or uses
    a macro that could iterate attribute maps.
    """
    if _MACROS.search(expression):
        return True
    names = INSTANCE_ATTRIBUTES | {n.rpartition("/")[2] for n in extra}
    return any(name in expression for name in names)


def lookup_attribute(device: CompiledDevice, driver: str, qualified: str) -> TypedAttribute | None:
    """The attribute a constraint names (dra.md §4.5).

    ``dom/id`` matches an attribute written exactly so; failing that, when ``dom`` is the
    device's driver, the bare ``id``. Returns None when absent.
    """
    found = device.attributes.get(qualified)
    if found is not None:
        return found
    domain, sep, ident = qualified.partition("/")
    if sep and domain == driver:
        return device.attributes.get(ident)
    return None
