"""Worst-case cost of a selector, standing in for cel-go's runtime cost limit.

cel-expr-python has no cost tracking, so tessera bounds the cost *before* evaluating: a
static walk over the checked expression computes an upper bound on the cost cel-go would
charge (every node costs at least 1; size-dependent functions are charged their size with
factor 1 where cel-go uses 0.1-0.25, concatenation with cel-go's own 0.1; comprehensions cost
their range size times the loop body; literals cost cel-go's creation costs) given upper
bounds on the sizes of everything the ``device`` variable exposes (:class:`DeviceBounds`).

:class:`scheduler.dra.cel.CompiledSelector` computes the bound once for the API's limits
(:data:`API_BOUNDS`) and, for a device beyond them or a selector over the limit there, again
for that device's own sizes.

Guarantee: if :func:`estimate` returns at most :data:`COST_LIMIT` for bounds that hold for a
device, cel-go's actual cost on that device is within the limit, so evaluating it here cannot
differ from upstream by a cost-limit error. When the bound exceeds the limit the selector is
reported as exceeding it (``operation cancelled: actual cost limit exceeded``) - conservative:
upstream may still finish when its actual path is cheaper than the worst case. Functions whose
cost cannot be bounded statically (``lists.range`` with a non-constant argument, more than
:data:`MAX_LOOP_NESTING` nested ``map``/``filter`` comprehensions) make the bound infinite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from scheduler.dra.cel_ast import children, walk

COST_LIMIT = 1_000_000
"""Upstream ``CELSelectorExpressionMaxCost``."""
MAX_LOOP_NESTING = 8
INF = math.inf


@dataclass(frozen=True)
class DeviceBounds:
    """Upper bounds on one device's data as seen through ``device``."""

    domains: int
    entries: int
    key_length: int
    value_length: int

    def within(self, other: DeviceBounds) -> bool:
        """Whether every bound here is at most the corresponding bound of ``other``."""
        return (
            self.domains <= other.domains
            and self.entries <= other.entries
            and self.key_length <= other.key_length
            and self.value_length <= other.value_length
        )


API_BOUNDS = DeviceBounds(domains=32, entries=32, key_length=63, value_length=64)
"""What the resource.k8s.io/v1 validation allows: ≤32 attributes+capacities per device,
domain ≤63 and identifier ≤32 characters, string/version values ≤64, driver ≤63."""


@dataclass(frozen=True)
class Shape:
    """Upper bound on a value's size: string length or entry count (1 for scalars)."""

    size: float = 1.0
    elem: Shape | None = None
    key: Shape | None = None
    fields: tuple[tuple[str, Shape], ...] | None = None
    unbounded: bool = False


SCALAR = Shape()
UNBOUNDED = Shape(INF, unbounded=True)


def _mul(a: float, b: float) -> float:
    return 0.0 if a == 0 or b == 0 else a * b


def total(shape: Shape | None) -> float:
    """Upper bound on the number of scalar cells and characters inside a value."""
    if shape is None:
        return 1.0
    if shape.unbounded:
        return INF
    if shape.fields is not None:
        return sum(total(s) for _, s in shape.fields) + 1
    if shape.elem is None and shape.key is None:
        return shape.size
    return _mul(shape.size, 1 + total(shape.elem) + (total(shape.key) if shape.key else 0))


def join(*shapes: Shape | None) -> Shape | None:
    """The smallest shape bounding all of ``shapes``."""
    present = [s for s in shapes if s is not None]
    if not present:
        return None
    if any(s.unbounded for s in present):
        return UNBOUNDED
    if len(present) == 1:
        return present[0]
    fields = present[0].fields if all(s.fields == present[0].fields for s in present) else None
    return Shape(
        size=max(s.size for s in present),
        elem=join(*(s.elem for s in present)),
        key=join(*(s.key for s in present)),
        fields=fields,
    )


def _elem(shape: Shape) -> Shape:
    if shape.unbounded:
        return UNBOUNDED
    return shape.elem or SCALAR


def device_shapes(bounds: DeviceBounds) -> dict[str, Shape]:
    """Shapes of the variables ``device``, ``device.attributes`` and ``device.capacity``."""
    key = Shape(bounds.key_length)
    attributes = Shape(
        bounds.domains,
        key=key,
        elem=Shape(bounds.entries, key=key, elem=Shape(bounds.value_length)),
    )
    capacity = Shape(bounds.domains, key=key, elem=Shape(bounds.entries, key=key, elem=SCALAR))
    device = Shape(
        4,
        fields=(
            ("allowMultipleAllocations", SCALAR),
            ("attributes", attributes),
            ("capacity", capacity),
            ("driver", Shape(bounds.value_length)),
        ),
    )
    return {"device": device, "device.attributes": attributes, "device.capacity": capacity}


Estimate = tuple[float, Shape]
_Rule = Callable[[list[Shape], list[Any]], Estimate]


def _concat(args: list[Shape], _: list[Any]) -> Estimate:
    a, b = args[0], args[1]
    size = a.size + b.size
    # cel-go charges ceil(0.1 * (lhs + rhs)) for concatenation (StringTraversalCostFactor).
    cost = math.ceil(size * 0.1) if math.isfinite(size) else INF
    return cost, Shape(size, elem=join(a.elem, b.elem), key=join(a.key, b.key))


def _scalar_cost(cost: Callable[[list[Shape]], float]) -> _Rule:
    return lambda args, _: (cost(args), SCALAR)


def _same(index: int, cost: Callable[[list[Shape]], float] = lambda a: 1.0) -> _Rule:
    return lambda args, _: (cost(args), args[index] if index < len(args) else SCALAR)


def _string(size: Callable[[list[Shape]], float], cost: Callable[[list[Shape]], float]) -> _Rule:
    return lambda args, _: (cost(args), Shape(size(args)))


def _repr_size(shape: Shape | None) -> float:
    if shape is None:
        return 40.0
    return max(40.0, 4 * total(shape))


def _range(args: list[Shape], nodes: list[Any]) -> Estimate:
    node = nodes[0]
    if (
        node.WhichOneof("expr_kind") == "const_expr"
        and node.const_expr.WhichOneof("constant_kind") == "int64_value"
    ):
        count = max(0, int(node.const_expr.int64_value))
        return float(count), Shape(count, elem=SCALAR)
    return INF, UNBOUNDED


def _flatten(args: list[Shape], _: list[Any]) -> Estimate:
    size = total(args[0])
    elem: Shape | None = args[0].elem
    nested = elem
    while nested is not None and nested.elem is not None:
        nested = nested.elem
        elem = join(elem, nested)
    return size, Shape(size, elem=elem)


def _split(args: list[Shape], _: list[Any]) -> Estimate:
    s = args[0].size
    return s + args[1].size, Shape(s + 1, elem=Shape(s))


def _replace(args: list[Shape], _: list[Any]) -> Estimate:
    s, old, new = args[0].size, args[1].size, args[2].size
    return _mul(s + 1, old + new + 1), Shape(s + _mul(s + 1, new))


def _join(args: list[Shape], _: list[Any]) -> Estimate:
    items = args[0]
    sep = args[1].size if len(args) > 1 else 0.0
    size = _mul(items.size, _elem(items).size + sep)
    return size + 1, Shape(size)


def _format(args: list[Shape], _: list[Any]) -> Estimate:
    size = args[0].size + _mul(args[1].size, _repr_size(args[1].elem))
    return size + 1, Shape(size)


def _find_all(args: list[Shape], _: list[Any]) -> Estimate:
    s, pattern = args[0].size, args[1].size
    return _mul((s + 1) ** 2, pattern + 1), Shape(s + 1, elem=Shape(s))


def _query(args: list[Shape], _: list[Any]) -> Estimate:
    s = args[0].size
    return s + 1, Shape(s, key=Shape(s), elem=Shape(s, elem=Shape(s)))


def _membership(args: list[Shape], _: list[Any]) -> Estimate:
    element, collection = args[0], args[1]
    inner = total(collection.key if collection.key is not None else collection.elem)
    return _mul(collection.size, total(element) + inner) + 1, SCALAR


def _sets(args: list[Shape], _: list[Any]) -> Estimate:
    a, b = args[0], args[1]
    return _mul(_mul(a.size, b.size), total(a.elem) + total(b.elem)) + 1, SCALAR


def _quadratic_same(args: list[Shape], _: list[Any]) -> Estimate:
    shape = args[0]
    return _mul(_mul(shape.size, shape.size), total(shape.elem)) + 1, shape


def _lookup(args: list[Shape], _: list[Any]) -> Estimate:
    return 1.0, _elem(args[0])


def _first_size(args: list[Shape]) -> float:
    return args[0].size + 1


def _sizes(args: list[Shape]) -> float:
    return sum(a.size for a in args) + 1


def _totals(args: list[Shape]) -> float:
    return sum(total(a) for a in args) + 1


_CONSTANT_SCALAR = {
    "_&&_",
    "_||_",
    "!_",
    "-_",
    "@not_strictly_false",
    "__not_strictly_false__",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "size",
    "int",
    "uint",
    "double",
    "bool",
    "type",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "optional.none",
    "hasValue",
    "charAt",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "compareTo",
    "isGreaterThan",
    "isLessThan",
    "major",
    "minor",
    "patch",
}
"""Functions with a scalar result whose cost does not depend on operand sizes."""
_LINEAR_SCALAR = {"isQuantity", "isSemver", "isURL", "sum", "isSorted"}
"""Functions with a scalar result whose cost is bounded by the operands' total size."""
_RULES: dict[str, _Rule] = {
    "_+_": _concat,
    "_?_:_": lambda args, _: (1.0, join(args[1], args[2]) or SCALAR),
    "_==_": _scalar_cost(_totals),
    "_!=_": _scalar_cost(_totals),
    "_<_": _scalar_cost(_sizes),
    "_<=_": _scalar_cost(_sizes),
    "_>_": _scalar_cost(_sizes),
    "_>=_": _scalar_cost(_sizes),
    "@in": _membership,
    "_[_]": _lookup,
    "_[?_]": _lookup,
    "_?._": _lookup,
    "first": _lookup,
    "last": _lookup,
    "dyn": _same(0),
    "string": lambda args, _: (args[0].size + 1, Shape(max(args[0].size, 40.0))),
    "bytes": lambda args, _: (args[0].size + 1, Shape(4 * args[0].size)),
    "matches": _scalar_cost(lambda a: _mul(a[0].size + 1, a[1].size + 1)),
    "contains": _scalar_cost(_sizes),
    "startsWith": _scalar_cost(_sizes),
    "endsWith": _scalar_cost(_sizes),
    "optional.of": _same(0),
    "optional.ofNonZeroValue": _same(0),
    "value": _same(0),
    "or": lambda args, _: (1.0, join(*args) or SCALAR),
    "orValue": lambda args, _: (1.0, join(*args) or SCALAR),
    "indexOf": _scalar_cost(_totals),
    "lastIndexOf": _scalar_cost(_totals),
    "lowerAscii": _string(lambda a: a[0].size, _first_size),
    "upperAscii": _string(lambda a: a[0].size, _first_size),
    "trim": _string(lambda a: a[0].size, _first_size),
    "substring": _string(lambda a: a[0].size, _first_size),
    "replace": _replace,
    "split": _split,
    "join": _join,
    "format": _format,
    "strings.quote": _string(lambda a: 2 + 10 * a[0].size, _first_size),
    "min": lambda args, _: (total(args[0]) + 1, _elem(args[0])),
    "max": lambda args, _: (total(args[0]) + 1, _elem(args[0])),
    "sets.contains": _sets,
    "sets.equivalent": _sets,
    "sets.intersects": _sets,
    "lists.range": _range,
    "slice": _same(0, _first_size),
    "flatten": _flatten,
    "distinct": _quadratic_same,
    "sort": _quadratic_same,
    "reverse": _same(0, _first_size),
    "quantity": _scalar_cost(_first_size),
    "semver": _scalar_cost(_first_size),
    "url": _same(0, _first_size),
    "getScheme": _same(0, _first_size),
    "getHost": _same(0, _first_size),
    "getHostname": _same(0, _first_size),
    "getPort": _same(0, _first_size),
    "getEscapedPath": _same(0, _first_size),
    "getQuery": _query,
    "find": _string(lambda a: a[0].size, lambda a: _mul(a[0].size + 1, a[1].size + 1)),
    "findAll": _find_all,
}


class _Estimator:
    def __init__(self, variables: dict[str, Shape]) -> None:
        self.variables = variables
        self.loop_depth = 0

    def node(self, node: Any, scope: dict[str, Shape]) -> Estimate:
        kind = node.WhichOneof("expr_kind")
        if kind == "const_expr":
            constant = node.const_expr
            which = constant.WhichOneof("constant_kind")
            if which == "string_value":
                return 1.0, Shape(len(constant.string_value))
            if which == "bytes_value":
                return 1.0, Shape(len(constant.bytes_value))
            return 1.0, SCALAR
        if kind == "ident_expr":
            name = node.ident_expr.name
            return 1.0, scope.get(name, self.variables.get(name, SCALAR))
        if kind == "select_expr":
            cost, shape = self.node(node.select_expr.operand, scope)
            if node.select_expr.test_only:
                return cost + 1, SCALAR
            if shape.fields is not None:
                return cost + 1, dict(shape.fields).get(node.select_expr.field, SCALAR)
            return cost + 1, _elem(shape)
        if kind == "list_expr":
            parts = [self.node(e, scope) for e in node.list_expr.elements]
            cost = 10 + sum(c for c, _ in parts) + len(parts)
            return cost, Shape(len(parts), elem=join(*(s for _, s in parts)))
        if kind == "struct_expr":
            return self._struct(node, scope)
        if kind == "call_expr":
            return self._call(node, scope)
        if kind == "comprehension_expr":
            return self._comprehension(node, scope)
        return 1.0, SCALAR

    def _struct(self, node: Any, scope: dict[str, Shape]) -> Estimate:
        keys, values, cost = [], [], 40.0 if node.struct_expr.message_name else 30.0
        for entry in node.struct_expr.entries:
            if entry.HasField("map_key"):
                key_cost, key_shape = self.node(entry.map_key, scope)
                cost += key_cost
                keys.append(key_shape)
            value_cost, value_shape = self.node(entry.value, scope)
            cost += value_cost + 1
            values.append(value_shape)
        return cost, Shape(len(values), key=join(*keys), elem=join(*values))

    def _call(self, node: Any, scope: dict[str, Shape]) -> Estimate:
        arg_nodes = children(node)
        parts = [self.node(a, scope) for a in arg_nodes]
        cost = 1 + sum(c for c, _ in parts)
        shapes = [s for _, s in parts]
        function = node.call_expr.function
        if function in _CONSTANT_SCALAR:
            return cost + 1, SCALAR
        if function in _LINEAR_SCALAR:
            return cost + _totals(shapes), SCALAR
        rule = _RULES.get(function)
        if rule is None or not shapes:
            return INF, UNBOUNDED
        extra, shape = rule(shapes, arg_nodes)
        return cost + extra, shape

    def _comprehension(self, node: Any, scope: dict[str, Shape]) -> Estimate:
        c = node.comprehension_expr
        range_cost, range_shape = self.node(c.iter_range, scope)
        init_cost, init_shape = self.node(c.accu_init, scope)
        if range_shape.unbounded:
            return INF, UNBOUNDED
        count = range_shape.size
        iter_shape = range_shape.key if range_shape.key is not None else _elem(range_shape)
        inner = dict(scope)
        inner[c.iter_var] = iter_shape
        if count > 0:
            collects = c.accu_init.WhichOneof("expr_kind") in ("list_expr", "struct_expr")
            if collects:
                # map()/filter(): the accumulator grows; bound it by probing the loop step.
                self.loop_depth += 1
                try:
                    if self.loop_depth > MAX_LOOP_NESTING:
                        return INF, UNBOUNDED
                    inner[c.accu_var] = self._accumulator(c, inner, init_shape, count)
                finally:
                    self.loop_depth -= 1
            else:
                # all()/exists()/exists_one(): a bool or int accumulator.
                inner[c.accu_var] = init_shape
            cond_cost, _ = self.node(c.loop_condition, inner)
            step_cost, _ = self.node(c.loop_step, inner)
            loop_cost = _mul(count, cond_cost + step_cost + 1)
        else:
            inner[c.accu_var] = init_shape
            loop_cost = 0.0
        result_cost, result_shape = self.node(c.result, inner)
        return range_cost + init_cost + loop_cost + result_cost + 1, result_shape

    def _accumulator(self, c: Any, scope: dict[str, Shape], init: Shape, count: float) -> Shape:
        """Bound the accumulator after ``count`` iterations, assuming linear growth."""
        if init.unbounded:
            return UNBOUNDED
        first_scope = {**scope, c.accu_var: init}
        _, first = self.node(c.loop_step, first_scope)
        probe = replace(
            init,
            size=init.size + 1000,
            elem=join(init.elem, first.elem),
            key=join(init.key, first.key),
        )
        _, second = self.node(c.loop_step, {**scope, c.accu_var: probe})
        if first.unbounded or second.unbounded:
            return UNBOUNDED
        growth_first = first.size - init.size
        growth_second = second.size - probe.size
        if growth_first <= 0 and growth_second <= 0:
            growth = 0.0
        elif math.isclose(growth_first, growth_second):
            growth = growth_first
        else:
            return UNBOUNDED
        return Shape(
            size=init.size + _mul(count, growth),
            elem=join(init.elem, first.elem, second.elem),
            key=join(init.key, first.key, second.key),
            fields=init.fields,
        )


def known_function(name: str) -> bool:
    """Whether the estimator has a cost rule for a function name."""
    return name in _CONSTANT_SCALAR or name in _LINEAR_SCALAR or name in _RULES


def unknown_functions(expr: Any) -> set[str]:
    """Functions in ``expr`` the estimator has no cost rule for (each would make the bound
    infinite); callers reject such expressions at compile time."""
    names = set()
    for node in walk(expr):
        if node.WhichOneof("expr_kind") == "call_expr":
            function = str(node.call_expr.function)
            if not known_function(function):
                names.add(function)
    return names


def estimate(expr: Any, bounds: DeviceBounds) -> float:
    """Upper bound on cel-go's cost of evaluating ``expr`` on any device within ``bounds``."""
    cost, _ = _Estimator(device_shapes(bounds)).node(expr, {})
    return cost
