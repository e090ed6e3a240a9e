"""CEL value semantics shared by the Python-implemented CEL functions.

Values arrive from the CEL runtime as plain Python objects (``int`` for int and uint, ``float``,
``str``, ``bytes``, ``bool``, ``None``, ``list``, ``dict``, ``datetime``/``timedelta``).
Kubernetes objects (quantity, semver, URL) are messages of :mod:`scheduler.dra.cel_objects`.

:func:`cel_equal`, :func:`cel_contains` and :func:`cel_compare` reproduce cel-go's semantics
(heterogeneous numeric equality, ``bool`` distinct from numbers, lists compared element-wise,
a Kubernetes object on the left of ``==`` against another type is a "no such overload" error,
on the right it is simply unequal). The rewritten ``==``, ``!=`` and ``in`` of selectors whose
operands may hold such objects call them (see :mod:`scheduler.dra.cel_ast`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from scheduler.dra.cel_objects import encoded, object_kind
from scheduler.dra.cel_quantity import quantity_from_cel
from scheduler.dra.cel_semver import semver_from_cel

_INT64_LIMIT = 2.0**63


class CelEvalError(Exception):
    """An error raised by a Python-implemented CEL function; becomes a CEL error value."""


def no_such_overload() -> CelEvalError:
    """The error cel-go reports when a function gets operands of the wrong type."""
    return CelEvalError("no such overload")


def special_kind(value: Any) -> str | None:
    """The Kubernetes type name of a runtime object, or None for ordinary values."""
    return object_kind(value)


# cel-go's type names, looked up in order (bool before int: a Python bool is an int). The
# Kubernetes object kinds (quantity, semver, ...) are tried between the two tables.
_NUMBER_NAMES: tuple[tuple[type, str], ...] = ((bool, "bool"), (int, "int"), (float, "double"))
_OTHER_NAMES: tuple[tuple[type, str], ...] = (
    (str, "string"),
    (bytes, "bytes"),
    (list, "list"),
    (dict, "map"),
    (datetime, "google.protobuf.Timestamp"),
    (timedelta, "google.protobuf.Duration"),
)


def _table_name(value: Any, table: tuple[tuple[type, str], ...]) -> str | None:
    return next((name for kind, name in table if isinstance(value, kind)), None)


def type_name(value: Any) -> str:
    """cel-go's type name of a runtime value (for error messages)."""
    if value is None:
        return "null_type"
    return (
        _table_name(value, _NUMBER_NAMES)
        or object_kind(value)
        or _table_name(value, _OTHER_NAMES)
        or type(value).__name__
    )


def _numeric_equal(a: int | float, b: int | float) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, int):
        a, b = b, a
    if isinstance(b, int):
        if math.isnan(a) or a < -_INT64_LIMIT or a >= _INT64_LIMIT:
            return False
        return float(b) == a
    return a == b


def _special_equal(kind: str, a: Any, b: Any) -> bool:
    if kind == "kubernetes.Quantity":
        left, right = quantity_from_cel(a), quantity_from_cel(b)
        return left is not None and right is not None and left.compare(right) == 0
    if kind == "kubernetes.Semver":
        first, second = semver_from_cel(a), semver_from_cel(b)
        return first is not None and second is not None and first.compare(second) == 0
    return encoded(a, kind) == encoded(b, kind)


def _key_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return _numeric_equal(a, b)
    return type(a) is type(b) and a == b


def map_find(mapping: dict[Any, Any], key: Any) -> tuple[bool, Any]:
    """Look a key up with CEL key semantics (numeric keys match across int/uint/double)."""
    if isinstance(key, list | dict) or special_kind(key) is not None:
        raise CelEvalError(f"unsupported key type: {type_name(key)}")
    if type(key) is str:
        return (True, mapping[key]) if key in mapping else (False, None)
    for candidate, value in mapping.items():
        if _key_equal(candidate, key):
            return True, value
    return False, None


def cel_equal(a: Any, b: Any) -> bool:
    """cel-go ``a == b``; raises :class:`CelEvalError` where cel-go yields an error."""
    if a is None or b is None:
        return a is None and b is None
    left_kind = special_kind(a)
    if left_kind is not None:
        if special_kind(b) != left_kind:
            raise no_such_overload()
        return _special_equal(left_kind, a, b)
    if special_kind(b) is not None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return _numeric_equal(a, b)
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(_element_not_false(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        for key, value in a.items():
            found, other = map_find(b, key)
            if not found or not _element_not_false(value, other):
                return False
        return True
    return type(a) is type(b) and bool(a == b)


def _element_not_false(a: Any, b: Any) -> bool:
    """cel-go aggregate equality only stops on an element that is definitely unequal."""
    try:
        return cel_equal(a, b)
    except CelEvalError:
        return True


def cel_not_equal(a: Any, b: Any) -> bool:
    """cel-go ``a != b``."""
    return not cel_equal(a, b)


def cel_contains(element: Any, collection: Any) -> bool:
    """cel-go ``element in collection`` for lists (element equality) and maps (keys)."""
    if isinstance(collection, list):
        error: CelEvalError | None = None
        for item in collection:
            try:
                if cel_equal(element, item):
                    return True
            except CelEvalError as exc:
                error = error or exc
        if error is not None:
            raise error
        return False
    if isinstance(collection, dict):
        return map_find(collection, element)[0]
    raise no_such_overload()


def cel_compare(a: Any, b: Any) -> int | None:
    """cel-go ordering of two values: -1, 0, 1, or None when they are not comparable
    (Kubernetes objects have no ordering)."""
    if special_kind(a) is not None or special_kind(b) is not None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        if type(a) is bool and type(b) is bool:
            return (a > b) - (a < b)
        return None
    if isinstance(a, int | float) and isinstance(b, int | float):
        if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            return None
        if isinstance(a, int) and isinstance(b, float):
            if b < -_INT64_LIMIT:
                return 1
            if b >= _INT64_LIMIT:
                return -1
            left: float | int = float(a)
            return (left > b) - (left < b)
        if isinstance(a, float) and isinstance(b, int):
            result = cel_compare(b, a)
            return None if result is None else -result
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if isinstance(a, bytes) and isinstance(b, bytes):
        return (a > b) - (a < b)
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return (a > b) - (a < b)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (a > b) - (a < b)
    return None
