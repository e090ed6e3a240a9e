"""Loading many ResourceSlices into a ClusterCache without a model per device.

Called by readers of cluster dumps (``simulator/clusters.py``) — and meant for the webhook's
initial list — with each ResourceSlice as a parsed dict. A fleet of identical nodes
publishes identical pools that differ only in the node's name and in per-device identifiers
(``uuid``, ``parentUUID``), and the cache already stores such pools as rows of one shared
device template (:mod:`scheduler.cluster.templates`). This module finds those pools in the
input directly.

Algorithm overview:

1. Slices are grouped by pool ``(driver, pool name)``. A pool is *complete* once it holds
   ``resourceSliceCount`` slices of one generation.
2. A complete pool is *templatable* when every slice is node-local to the node the pool is
   named after (the NVIDIA and TPU drivers' layout). Its *shape key* is the canonical JSON of
   its slices' ``spec`` with the node name and the values of instance attributes (string
   ``uuid``/``parentUUID`` in any domain) left out; the instance values are kept aside, in
   slot order.
3. The first pool of a shape goes through the full object path — model validation
   (including version conversion), the API rules of :mod:`scheduler.api.validation`,
   compilation — and becomes the shape's template. Every later pool with the same key has,
   by construction, the same validated content up to its node name and instance values,
   whose types are checked; it costs one JSON serialisation and a tuple of strings.
4. At :meth:`SliceLoader.finish`, each shape is added with one
   :meth:`~scheduler.cluster.cache.ClusterCache.add_templated_pools` call; pools that are
   not templatable (other layouts, incomplete or mid-update pools) are compiled one slice at
   a time and added as slices, exactly as the cache's ordinary path would.

``metadata`` of every slice is validated on its own (it differs per node and is not part of
the shape); slice names are recorded with the caller's duplicate check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from scheduler.api.dra import ResourceSlice
from scheduler.api.loaders import API_MODELS, Origin, validate_object
from scheduler.api.meta import ObjectMeta
from scheduler.api.validation import check_object
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.templates import InstanceAttributes
from scheduler.dra.inventory import (
    INSTANCE_ATTRIBUTES,
    CompiledSlice,
    TypedAttribute,
    compile_slice,
)

__all__ = ["SliceLoader"]

_PLACEHOLDER = "\0node"
_TYPES: dict[str, type] = {"string": str, "version": str, "int": int, "bool": bool}


@dataclass(slots=True)
class _Shape:
    """One pool shape: the compiled template, its placeholder node, instance slots and the
    nodes using it with their instance values."""

    template: list[CompiledSlice]
    placeholder: str
    slots: tuple[tuple[str, str, str], ...]  # (device, attribute, kind)
    nodes: list[str] = field(default_factory=list)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def factory(self, node: str) -> InstanceAttributes:
        """The instance attributes of ``node``'s pool."""
        out: dict[str, dict[str, TypedAttribute]] = {}
        for (device, name, kind), value in zip(self.slots, self.values[node], strict=True):
            out.setdefault(device, {})[name] = (kind, value)
        return out


@dataclass(slots=True)
class _Pending:
    """The slices of one pool seen so far, with where each was read."""

    slices: list[tuple[dict[str, Any], Origin]] = field(default_factory=list)


class SliceLoader:
    """Feeds parsed ResourceSlices into a cache (see the module docstring).

    ``record(name, where)`` is the caller's duplicate check for slice names (returns False
    when the name was seen before). Call :meth:`add` per slice, then :meth:`finish` once.
    """

    def __init__(self, cache: ClusterCache, record: Callable[[str, Origin], bool]) -> None:
        self._cache = cache
        self._record = record
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._shapes: dict[bytes, _Shape] = {}
        self._order: list[bytes] = []
        self._values: dict[str, str] = {}
        self.slices = 0

    def add(self, data: Mapping[str, Any], where: Origin) -> None:
        """Take one ResourceSlice (any served version) as parsed."""
        self.slices += 1
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if isinstance(name, str) and name and not self._record(name, where):
            raise where.error(
                f"duplicate object: ResourceSlice {name} appears twice in the input",
                kind="ResourceSlice",
                name=name,
            )
        spec = data.get("spec")
        pool = spec.get("pool") if isinstance(spec, Mapping) else None
        simple = (
            data.get("apiVersion") in ("resource.k8s.io/v1", "resource.k8s.io/v1beta2")
            and isinstance(name, str)
            and isinstance(pool, Mapping)
            and isinstance(pool.get("name"), str)
            and isinstance(spec.get("driver"), str)  # type: ignore[union-attr]
        )
        if not simple:
            self._add_slices([(dict(data), where)])
            return
        try:
            ObjectMeta.model_validate(metadata)
        except ValueError:
            self._add_slices([(dict(data), where)])  # the full path reports it
            return
        key = (str(spec["driver"]), str(pool["name"]))  # type: ignore[index]
        pending = self._pending.setdefault(key, _Pending())
        pending.slices.append((dict(data), where))
        count = pool.get("resourceSliceCount") if isinstance(pool, Mapping) else None
        if isinstance(count, int) and len(pending.slices) == count:
            del self._pending[key]
            self._complete(key, pending.slices)

    def _complete(
        self, pool_id: tuple[str, str], slices: list[tuple[dict[str, Any], Origin]]
    ) -> None:
        node = pool_id[1]
        generations = {s["spec"]["pool"].get("generation") for s, _ in slices}
        if len(generations) != 1 or any(s["spec"].get("nodeName") != node for s, _ in slices):
            self._add_slices(slices)
            return
        found = _shape_key(slices, node)
        if found is None:
            self._add_slices(slices)
            return
        key, slots, values = found
        shape = self._shapes.get(key)
        if shape is None:
            template = [self._compile(data, where) for data, where in slices]
            shape = _Shape(template, node, slots)
            self._shapes[key] = shape
            self._order.append(key)
        elif node in shape.values:
            self._add_slices(slices)  # a second pool for the same node: let the cache judge
            return
        shape.nodes.append(node)
        shape.values[node] = tuple(self._values.setdefault(v, v) for v in values)

    def _compile(self, data: Mapping[str, Any], where: Origin) -> CompiledSlice:
        obj = validate_object(data, where, API_MODELS)
        assert isinstance(obj, ResourceSlice)
        problem = check_object(obj)
        if problem is not None:
            raise where.error(problem[1], kind=obj.kind, name=obj.name, path=problem[0])
        return compile_slice(obj)

    def _add_slices(self, slices: list[tuple[dict[str, Any], Origin]]) -> None:
        for data, where in slices:
            self._cache.add_compiled_slice(self._compile(data, where))

    def finish(self) -> None:
        """Add every shape's pools and every incomplete pool's slices to the cache."""
        for key in self._order:
            shape = self._shapes[key]
            self._cache.add_templated_pools(
                shape.template, shape.placeholder, shape.nodes, shape.factory
            )
        for pending in self._pending.values():
            self._add_slices(pending.slices)
        self._pending.clear()


_INSTANCE_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _instance_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    """The instance attributes among a device's attribute names (memoised per name set:
    devices of one driver repeat a handful of them)."""
    found = _INSTANCE_KEYS.get(names)
    if found is None:
        found = tuple(n for n in names if n.rpartition("/")[2] in INSTANCE_ATTRIBUTES)
        if len(_INSTANCE_KEYS) < 4096:
            _INSTANCE_KEYS[names] = found
    return found


def _shape_key(
    slices: list[tuple[dict[str, Any], Origin]], node: str
) -> tuple[bytes, tuple[tuple[str, str, str], ...], list[Any]] | None:
    """``(key, slots, values)`` of a pool (module docstring, step 2); None when its instance
    attributes are not plain typed values (the pool then takes the ordinary path)."""
    parts = []
    slots: list[tuple[str, str, str]] = []
    values: list[Any] = []
    for data, _ in slices:
        spec = data["spec"]
        devices = spec.get("devices") or []
        canonical_devices = []
        for device in devices:
            attributes = device.get("attributes") if isinstance(device, dict) else None
            if not isinstance(attributes, dict):
                canonical_devices.append(device)
                continue
            keys = _instance_keys(tuple(attributes))
            if not keys:
                canonical_devices.append(device)
                continue
            plain = dict(attributes)
            for name in keys:
                value = attributes[name]
                if not isinstance(value, dict) or len(value) != 1:
                    return None
                ((kind, typed),) = value.items()
                if kind not in _TYPES or type(typed) is not _TYPES[kind]:
                    return None
                slots.append((str(device.get("name")), name, kind))
                values.append(typed)
                plain[name] = {kind: None}
            canonical_devices.append({**device, "attributes": plain})
        parts.append(
            {
                **spec,
                "nodeName": _PLACEHOLDER,
                "pool": {**spec["pool"], "name": _PLACEHOLDER},
                "devices": canonical_devices,
            }
        )
    try:
        key = orjson.dumps([data.get("apiVersion") for data, _ in slices] + parts)
    except TypeError:
        return None
    return key, tuple(slots), values
