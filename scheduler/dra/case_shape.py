"""The shape of a DRA case file's own fields, checked before any of them is used.

A case file (tests/conformance/README.md) mixes Kubernetes objects, which the API models
validate, with fields of its own: ``features``, ``allocatedDevices``, ``allocatedCapacity``
(with ``consumedCapacity``) and ``expect`` (outcome, error text and scope, per-claim
results with devices, node selectors and config, request mappings). :func:`case_problem`
walks those against :data:`CASE_SHAPE` and answers the first mismatch as
``field.path: expected <type>, got <value>``, so a list where a mapping belongs or a number
where a quantity belongs is reported on one line instead of failing deep inside a
comparison.

A shape is a Python type (``str``, ``bool``, ``int``), :data:`QUANTITY` (a Kubernetes
quantity: a string or a finite number), :data:`ANY`, a one-element list ``[shape]`` (a list
of that shape), a dict of field -> shape (a mapping; unknown fields are allowed, as the
case files carry notes), a :class:`MapOf` (a mapping with arbitrary string keys) or a
:class:`OneOf` (a string among given values). ``None`` is accepted for every field (absent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.api.errors import format_field_path
from scheduler.api.quantity import parse_quantity

__all__ = ["ANY", "CASE_SHAPE", "QUANTITY", "MapOf", "OneOf", "case_problem"]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name


ANY = _Marker("any value")
QUANTITY = _Marker("a quantity")


@dataclass(frozen=True, slots=True)
class MapOf:
    """A mapping from string keys to values of ``value``."""

    value: object


@dataclass(frozen=True, slots=True)
class OneOf:
    """A string among ``values``."""

    values: tuple[str, ...]


_REQUIREMENT = {"key": str, "operator": str, "values": [str]}
_NODE_SELECTOR = {
    "nodeSelectorTerms": [{"matchExpressions": [_REQUIREMENT], "matchFields": [_REQUIREMENT]}]
}
_DEVICE = {
    "request": str,
    "driver": str,
    "pool": str,
    "device": str,
    "shareID": str,
    "adminAccess": bool,
    "consumedCapacity": MapOf(QUANTITY),
    "tolerations": [MapOf(ANY)],
    "bindingConditions": [str],
    "bindingFailureConditions": [str],
}

CASE_SHAPE: dict[str, object] = {
    "name": str,
    "source": str,
    "features": [str],
    "allocatedDevices": [{"driver": str, "pool": str, "device": str}],
    "allocatedCapacity": [
        {"driver": str, "pool": str, "device": str, "consumedCapacity": MapOf(QUANTITY)}
    ],
    "expect": {
        "outcome": OneOf(("allocated", "unschedulable", "error")),
        "errorContains": str,
        "errorScope": OneOf(("node", "fatal")),
        "results": [
            {"claim": str, "devices": [_DEVICE], "nodeSelector": _NODE_SELECTOR, "config": [ANY]}
        ],
        "requestMappings": [MapOf(ANY)],
        "numAllocateOneInvocations": int,
    },
}
"""The case file's own fields (the Kubernetes objects are validated by their models)."""


def _got(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected(shape: object) -> str:
    if isinstance(shape, _Marker):
        return shape.name
    if isinstance(shape, OneOf):
        return "one of " + ", ".join(shape.values)
    if isinstance(shape, list):
        return "a list"
    if isinstance(shape, dict | MapOf):
        return "a mapping"
    assert isinstance(shape, type)
    return {str: "a string", bool: "a boolean", int: "an integer"}[shape]


def _quantity_problem(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return True
    try:
        parse_quantity(value if isinstance(value, str | int) else str(value))
    except ValueError:
        return True
    return False


def _problem(value: Any, shape: object, path: tuple[str | int, ...]) -> str | None:
    if value is None or shape is ANY:
        return None
    wrong = False
    if shape is QUANTITY:
        wrong = _quantity_problem(value)
    elif isinstance(shape, OneOf):
        wrong = value not in shape.values if isinstance(value, str) else True
    elif isinstance(shape, list):
        if not isinstance(value, list):
            wrong = True
        else:
            for i, item in enumerate(value):
                found = _problem(item, shape[0], (*path, i))
                if found is not None:
                    return found
    elif isinstance(shape, dict | MapOf):
        if not isinstance(value, Mapping):
            wrong = True
        else:
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{format_field_path(path)}: key {_got(key)} is not a string"
                inner = shape.value if isinstance(shape, MapOf) else shape.get(key, ANY)
                found = _problem(item, inner, (*path, key))
                if found is not None:
                    return found
    elif shape is int:
        wrong = isinstance(value, bool) or not isinstance(value, int)
    else:
        assert isinstance(shape, type)
        wrong = not isinstance(value, shape)
    if wrong:
        return f"{format_field_path(path)}: expected {_expected(shape)}, got {_got(value)}"
    return None


def case_problem(data: Mapping[str, Any]) -> str | None:
    """The first field of ``data`` (a parsed case file) that does not match
    :data:`CASE_SHAPE`, as ``path: expected ..., got ...``; None when all match."""
    return _problem(data, CASE_SHAPE, ())
