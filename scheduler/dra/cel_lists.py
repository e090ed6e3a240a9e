"""Kubernetes lists library, CEL sets extension and CEL lists extension, in Python.

Callers: the evaluation environment (functions registered by :mod:`scheduler.dra.cel_libs`).
Arguments arrive as plain Python values; element equality and ordering follow cel-go
(:mod:`scheduler.dra.cel_values`). A function raises :class:`CelEvalError` where cel-go returns
an error value; the message is cel-go's.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any, TypeVar

from scheduler.dra.cel_values import (
    CelEvalError,
    cel_compare,
    cel_contains,
    cel_equal,
    no_such_overload,
    type_name,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_T = TypeVar("_T")


def _returnable(result: _T) -> _T:
    """Reject results the Python bridge cannot hand back to CEL as ``dyn`` values."""
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, timedelta | datetime):
            raise CelEvalError(
                "durations and timestamps cannot be returned by tessera's list library "
                "functions (sum, min, max, slice, flatten, distinct, reverse, sort)"
            )
    return result


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise no_such_overload()
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise no_such_overload()
    return value


def list_is_sorted(items: Any) -> bool:
    """Kubernetes ``<list>.isSorted()``."""
    values = _list(items)
    for left, right in itertools.pairwise(values):
        order = cel_compare(left, right)
        if order is None:
            raise no_such_overload()
        if order > 0:
            return False
    return True


def list_sum(items: Any) -> Any:
    """Kubernetes ``<list>.sum()`` over int, uint, double or duration elements."""
    values = _list(items)
    if not values:
        return 0
    total = values[0]
    for value in values[1:]:
        if isinstance(total, bool) or type(value) is not type(total):
            raise no_such_overload()
        if not isinstance(total, int | float | timedelta):
            raise no_such_overload()
        total = total + value
        if isinstance(total, int) and not _INT64_MIN <= total <= _INT64_MAX:
            raise CelEvalError("integer overflow")
    if isinstance(total, bool) or not isinstance(total, int | float | timedelta):
        raise no_such_overload()
    return _returnable(total)


def _extreme(items: Any, name: str, sign: int) -> Any:
    values = _list(items)
    if not values:
        raise CelEvalError(f"{name} called on empty list")
    best = values[0]
    for value in values[1:]:
        if cel_compare(value, best) == sign:
            best = value
    return _returnable(best)


def list_min(items: Any) -> Any:
    """Kubernetes ``<list>.min()``."""
    return _extreme(items, "min", -1)


def list_max(items: Any) -> Any:
    """Kubernetes ``<list>.max()``."""
    return _extreme(items, "max", 1)


def _safe_equal(a: Any, b: Any) -> bool:
    try:
        return cel_equal(a, b)
    except CelEvalError:
        return False


def list_index_of(items: Any, element: Any) -> int:
    """Kubernetes ``<list>.indexOf(x)`` (element equality; -1 when absent)."""
    for index, value in enumerate(_list(items)):
        if _safe_equal(value, element):
            return index
    return -1


def list_last_index_of(items: Any, element: Any) -> int:
    """Kubernetes ``<list>.lastIndexOf(x)``."""
    values = _list(items)
    for index in range(len(values) - 1, -1, -1):
        if _safe_equal(values[index], element):
            return index
    return -1


def _contains_all(container: list[Any], items: list[Any]) -> bool:
    for item in items:
        try:
            if not cel_contains(item, container):
                return False
        except CelEvalError:
            return False
    return True


def sets_contains(left: Any, right: Any) -> bool:
    """``sets.contains(a, b)``: every element of b is in a."""
    return _contains_all(_list(left), _list(right))


def sets_equivalent(left: Any, right: Any) -> bool:
    """``sets.equivalent(a, b)``: a and b contain each other."""
    first, second = _list(left), _list(right)
    return _contains_all(first, second) and _contains_all(second, first)


def sets_intersects(left: Any, right: Any) -> bool:
    """``sets.intersects(a, b)``: some element of b is in a."""
    first = _list(left)
    return any(_contains_all(first, [item]) for item in _list(right))


def lists_range(count: Any) -> list[int]:
    """``lists.range(n)``: ``[0, 1, ..., n-1]``."""
    return list(range(_int(count)))


def list_slice(items: Any, start: Any, end: Any) -> list[Any]:
    """``<list>.slice(start, end)``."""
    values, first, last = _list(items), _int(start), _int(end)
    if first < 0 or last < 0:
        raise CelEvalError(f"cannot slice({first}, {last}), negative indexes not supported")
    if first > last:
        raise CelEvalError(
            f"cannot slice({first}, {last}), start index must be less than or equal to end index"
        )
    if last > len(values):
        raise CelEvalError(f"cannot slice({first}, {last}), list is length {len(values)}")
    return _returnable(values[first:last])


def _flatten(values: list[Any], depth: int) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list) and depth > 0:
            out.extend(_flatten(value, depth - 1))
        else:
            out.append(value)
    return out


def list_flatten(items: Any, depth: Any = 1) -> list[Any]:
    """``<list>.flatten([depth])``."""
    level = _int(depth)
    if level < 0:
        raise CelEvalError("level must be non-negative")
    return _returnable(_flatten(_list(items), level))


def list_distinct(items: Any) -> list[Any]:
    """``<list>.distinct()``: first occurrences, CEL equality."""
    out: list[Any] = []
    for value in _list(items):
        if not any(_safe_equal(value, seen) for seen in out):
            out.append(value)
    return _returnable(out)


def list_reverse(items: Any) -> list[Any]:
    """``<list>.reverse()``."""
    return _returnable(list(reversed(_list(items))))


def list_sort(items: Any) -> list[Any]:
    """``<list>.sort()`` of comparable elements of one type."""
    values = _list(items)
    kinds = {type_name(value) for value in values}
    if len(kinds) > 1 and not kinds <= {"int", "double"}:
        raise CelEvalError("list elements must have the same type")
    if values and cel_compare(values[0], values[0]) is None:
        raise CelEvalError(f"list elements of type {type_name(values[0])} are not comparable")
    return _returnable(sorted(values, key=_SortKey))


class _SortKey:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _SortKey) -> bool:
        return cel_compare(self.value, other.value) == -1
