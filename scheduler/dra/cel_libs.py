"""The function libraries of the DRA selector environment beyond the CEL standard library.

Each :class:`Function` carries its check-time overloads (cel-go signatures and overload ids,
used to type-check selectors exactly as the apiserver base environment would) and, unless the
CEL runtime provides it natively, the Python implementation used at evaluation time.

Libraries (upstream ``k8s.io/apiserver/pkg/cel/environment`` base set at compatibility 1.34):

* CEL strings extension, version 2 (runtime: cel-expr-python's own ``ExtStrings(2)``);
* Kubernetes lists: ``isSorted``, ``sum``, ``min``, ``max``, ``indexOf``, ``lastIndexOf``;
* Kubernetes regex: ``find``, ``findAll``; URLs: ``url``, ``isURL``, ``get*``;
* Kubernetes quantity and semver libraries;
* CEL sets extension: ``sets.contains``, ``sets.equivalent``, ``sets.intersects``;
* CEL lists extension (version 3) except the ``sortBy`` macro: ``lists.range``, ``slice``,
  ``flatten``, ``distinct``, ``reverse``, ``sort`` here; ``first`` / ``last`` come with the
  runtime's optional library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.dra import cel_quantity as q
from scheduler.dra import cel_regex, cel_semver, cel_url
from scheduler.dra.cel_lists import (
    list_distinct,
    list_flatten,
    list_index_of,
    list_is_sorted,
    list_last_index_of,
    list_max,
    list_min,
    list_reverse,
    list_slice,
    list_sort,
    list_sum,
    lists_range,
    sets_contains,
    sets_equivalent,
    sets_intersects,
)
from scheduler.dra.cel_values import (
    cel_contains,
    cel_equal,
    cel_not_equal,
    no_such_overload,
)

QUANTITY = "kubernetes.Quantity"
SEMVER = "kubernetes.Semver"
URL = "kubernetes.URL"


@dataclass(frozen=True)
class Overload:
    """One check-time overload: ``args[0]`` is the receiver of a member overload."""

    overload_id: str
    args: tuple[str, ...]
    result: str
    member: bool = False
    native: bool = False


@dataclass(frozen=True)
class Function:
    """A declared function; ``impl`` None means the CEL runtime implements it natively."""

    name: str
    overloads: tuple[Overload, ...]
    impl: Callable[..., Any] | None = None


def _member(
    oid: str, receiver: str, args: Sequence[str], result: str, *, native: bool = False
) -> Overload:
    return Overload(oid, (receiver, *args), result, member=True, native=native)


def _global(oid: str, args: Sequence[str], result: str) -> Overload:
    return Overload(oid, tuple(args), result)


def _semver_or_quantity_compare(receiver: Any, other: Any) -> int:
    result = q.quantity_compare(receiver, other)
    if result is not None:
        return result
    first, second = cel_semver.semver_from_cel(receiver), cel_semver.semver_from_cel(other)
    if first is None or second is None:
        raise no_such_overload()
    return first.compare(second)


def compare_to(receiver: Any, other: Any) -> int:
    """Quantity and semver ``compareTo``."""
    return _semver_or_quantity_compare(receiver, other)


def is_greater_than(receiver: Any, other: Any) -> bool:
    """Quantity and semver ``isGreaterThan``."""
    return _semver_or_quantity_compare(receiver, other) == 1


def is_less_than(receiver: Any, other: Any) -> bool:
    """Quantity and semver ``isLessThan``."""
    return _semver_or_quantity_compare(receiver, other) == -1


_COMPARABLE = {
    "int": "int",
    "uint": "uint",
    "double": "double",
    "bool": "bool",
    "duration": "google.protobuf.Duration",
    "timestamp": "google.protobuf.Timestamp",
    "string": "string",
    "bytes": "bytes",
}
_SUMMABLE = ("int", "uint", "double", "duration")


def _per_type(
    name: str, kinds: Sequence[str], result: Callable[[str], str]
) -> tuple[Overload, ...]:
    return tuple(
        _member(f"list_{kind}_{name}", f"list({_COMPARABLE[kind]})", (), result(_COMPARABLE[kind]))
        for kind in kinds
    )


def _strings() -> list[Function]:
    s = "string"
    return [
        Function("charAt", (_member("string_char_at_int", s, ["int"], s),)),
        Function("lowerAscii", (_member("string_lower_ascii", s, [], s),)),
        Function("upperAscii", (_member("string_upper_ascii", s, [], s),)),
        Function("trim", (_member("string_trim", s, [], s),)),
        Function(
            "replace",
            (
                _member("string_replace_string_string", s, [s, s], s),
                _member("string_replace_string_string_int", s, [s, s, "int"], s),
            ),
        ),
        Function(
            "split",
            (
                _member("string_split_string", s, [s], "list(string)"),
                _member("string_split_string_int", s, [s, "int"], "list(string)"),
            ),
        ),
        Function(
            "substring",
            (
                _member("string_substring_int", s, ["int"], s),
                _member("string_substring_int_int", s, ["int", "int"], s),
            ),
        ),
        Function(
            "join",
            (
                _member("list_join", "list(string)", [], s),
                _member("list_join_string", "list(string)", [s], s),
            ),
        ),
        Function("format", (_member("string_format", s, ["list(dyn)"], s),)),
        Function("strings.quote", (_global("strings_quote", [s], s),)),
    ]


def _lists() -> list[Function]:
    la = "list(~A)"
    return [
        Function(
            "isSorted",
            _per_type("is_sorted_bool", list(_COMPARABLE), lambda _: "bool"),
            list_is_sorted,
        ),
        Function("sum", _per_type("sum", _SUMMABLE, lambda t: t), list_sum),
        Function("min", _per_type("min", list(_COMPARABLE), lambda t: t), list_min),
        Function("max", _per_type("max", list(_COMPARABLE), lambda t: t), list_max),
        Function(
            "indexOf",
            (
                _member("string_index_of_string", "string", ["string"], "int", native=True),
                _member(
                    "string_index_of_string_int", "string", ["string", "int"], "int", native=True
                ),
                _member("list_a_index_of_int", la, ["~A"], "int"),
            ),
            list_index_of,
        ),
        Function(
            "lastIndexOf",
            (
                _member("string_last_index_of_string", "string", ["string"], "int", native=True),
                _member(
                    "string_last_index_of_string_int",
                    "string",
                    ["string", "int"],
                    "int",
                    native=True,
                ),
                _member("list_a_last_index_of_int", la, ["~A"], "int"),
            ),
            list_last_index_of,
        ),
        Function(
            "sets.contains", (_global("list_sets_contains_list", [la, la], "bool"),), sets_contains
        ),
        Function(
            "sets.equivalent",
            (_global("list_sets_equivalent_list", [la, la], "bool"),),
            sets_equivalent,
        ),
        Function(
            "sets.intersects",
            (_global("list_sets_intersects_list", [la, la], "bool"),),
            sets_intersects,
        ),
        Function("lists.range", (_global("lists_range", ["int"], "list(int)"),), lists_range),
        Function("slice", (_member("list_slice", la, ["int", "int"], la),), list_slice),
        Function(
            "flatten",
            (
                _member("list_flatten", "list(list(~A))", [], la),
                _member("list_flatten_int", "list(dyn)", ["int"], "list(dyn)"),
            ),
            list_flatten,
        ),
        Function("distinct", (_member("list_distinct", la, [], la),), list_distinct),
        Function("reverse", (_member("list_reverse", la, [], la),), list_reverse),
        Function("sort", (_member("list_sort", la, [], la),), list_sort),
    ]


def _kubernetes_objects() -> list[Function]:
    s = "string"
    return [
        Function("quantity", (_global("string_to_quantity", [s], QUANTITY),), q.cel_quantity),
        Function("isQuantity", (_global("is_quantity_string", [s], "bool"),), q.cel_is_quantity),
        Function("sign", (_global("quantity_sign", [QUANTITY], "int"),), q.cel_sign),
        Function(
            "asApproximateFloat",
            (_member("quantity_get_float", QUANTITY, [], "double"),),
            q.cel_as_approximate_float,
        ),
        Function(
            "asInteger", (_member("quantity_get_int", QUANTITY, [], "int"),), q.cel_as_integer
        ),
        Function(
            "isInteger", (_member("quantity_is_integer", QUANTITY, [], "bool"),), q.cel_is_integer
        ),
        Function(
            "add",
            (
                _member("quantity_add", QUANTITY, [QUANTITY], QUANTITY),
                _member("quantity_add_int", QUANTITY, ["int"], QUANTITY),
            ),
            q.cel_add,
        ),
        Function(
            "sub",
            (
                _member("quantity_sub", QUANTITY, [QUANTITY], QUANTITY),
                _member("quantity_sub_int", QUANTITY, ["int"], QUANTITY),
            ),
            q.cel_sub,
        ),
        Function(
            "semver",
            (
                _global("string_to_semver", [s], SEMVER),
                _global("string_bool_to_semver", [s, "bool"], SEMVER),
            ),
            cel_semver.cel_semver,
        ),
        Function(
            "isSemver",
            (
                _global("is_semver_string", [s], "bool"),
                _global("is_semver_string_bool", [s, "bool"], "bool"),
            ),
            cel_semver.cel_is_semver,
        ),
        Function(
            "compareTo",
            (
                _member("quantity_compare_to", QUANTITY, [QUANTITY], "int"),
                _member("semver_compare_to", SEMVER, [SEMVER], "int"),
            ),
            compare_to,
        ),
        Function(
            "isGreaterThan",
            (
                _member("quantity_is_greater_than", QUANTITY, [QUANTITY], "bool"),
                _member("semver_is_greater_than", SEMVER, [SEMVER], "bool"),
            ),
            is_greater_than,
        ),
        Function(
            "isLessThan",
            (
                _member("quantity_is_less_than", QUANTITY, [QUANTITY], "bool"),
                _member("semver_is_less_than", SEMVER, [SEMVER], "bool"),
            ),
            is_less_than,
        ),
        Function(
            "major",
            (_member("semver_major", SEMVER, [], "int"),),
            lambda v: cel_semver.semver_component(v, "major"),
        ),
        Function(
            "minor",
            (_member("semver_minor", SEMVER, [], "int"),),
            lambda v: cel_semver.semver_component(v, "minor"),
        ),
        Function(
            "patch",
            (_member("semver_patch", SEMVER, [], "int"),),
            lambda v: cel_semver.semver_component(v, "patch"),
        ),
        Function("url", (_global("string_to_url", [s], URL),), cel_url.cel_url),
        Function("isURL", (_global("is_url_string", [s], "bool"),), cel_url.cel_is_url),
        Function(
            "getScheme",
            (_member("url_get_scheme", URL, [], s),),
            lambda v: cel_url.cel_url_part(v, "scheme"),
        ),
        Function(
            "getHost",
            (_member("url_get_host", URL, [], s),),
            lambda v: cel_url.cel_url_part(v, "host"),
        ),
        Function(
            "getHostname",
            (_member("url_get_hostname", URL, [], s),),
            lambda v: cel_url.cel_url_part(v, "hostname"),
        ),
        Function(
            "getPort",
            (_member("url_get_port", URL, [], s),),
            lambda v: cel_url.cel_url_part(v, "port"),
        ),
        Function(
            "getEscapedPath",
            (_member("url_get_escaped_path", URL, [], s),),
            lambda v: cel_url.cel_url_part(v, "path"),
        ),
        Function(
            "getQuery",
            (_member("url_get_query", URL, [], "map(string, list(string))"),),
            lambda v: cel_url.cel_url_part(v, "query"),
        ),
        Function("find", (_member("string_find_string", s, [s], s),), cel_regex.cel_find),
        Function(
            "findAll",
            (
                _member("string_find_all_string", s, [s], "list(string)"),
                _member("string_find_all_string_int", s, [s, "int"], "list(string)"),
            ),
            cel_regex.cel_find_all,
        ),
    ]


EQUALS_FUNCTION = "tessera.equals"
NOT_EQUALS_FUNCTION = "tessera.notEquals"
IN_FUNCTION = "tessera.in"

RUNTIME_ONLY: tuple[tuple[str, int, Callable[..., Any]], ...] = (
    (EQUALS_FUNCTION, 2, cel_equal),
    (NOT_EQUALS_FUNCTION, 2, cel_not_equal),
    (IN_FUNCTION, 2, cel_contains),
)
"""Functions the selector rewrite inserts (never visible to expression authors)."""

NUMERIC_CROSS_TYPE: tuple[tuple[str, str], ...] = (
    ("int", "double"),
    ("double", "int"),
    ("int", "uint"),
    ("uint", "int"),
    ("uint", "double"),
    ("double", "uint"),
)
"""Operand pairs cel-go's CrossTypeNumericComparisons adds to ``<``, ``<=``, ``>``, ``>=``."""


def library_functions() -> list[Function]:
    """Every non-standard function of the selector environment."""
    return [*_strings(), *_lists(), *_kubernetes_objects()]
