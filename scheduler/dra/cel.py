"""DRA device selectors: CEL expressions evaluated exactly as kube-scheduler evaluates them.

Callers: the DRA allocator compiles every class and request selector with
:meth:`CelEnvironment.compile` and asks :meth:`CompiledSelector.matches` once per candidate
device. Outcomes: ``True`` / ``False`` (device matches or not); :class:`CelError` with
``kind == "compile"`` (bad expression) or ``kind == "runtime"`` (evaluation failed on this
device). Upstream treats both errors as fatal for the scheduling attempt, not as "no match".

The environment is kube-scheduler 1.35's (``k8s.io/dynamic-resource-allocation/cel``): the
apiserver "StoredExpressions" base environment at the default compatibility version (1.34)
plus ``cel.bind`` and one variable ``device``:

* ``device.driver``; ``device.attributes[domain][id]`` (int, bool, string, or a semver for
  version attributes); ``device.capacity[domain][id]`` (a quantity); names without a domain
  belong to the driver's domain; an unknown domain is an empty map, an unknown identifier a
  runtime error ``no such key: <id>``;
* ``device.allowMultipleAllocations`` only with DRAConsumableCapacity (else a compile error);
* CEL standard library and macros, optional types, cross-type numeric comparisons,
  ``cel.bind``, strings extension v2 (including ``format`` and ``strings.quote``), Kubernetes
  lists / regex / URL / quantity / semver libraries, sets extension, lists extension
  (see :mod:`scheduler.dra.cel_libs`);
* cel-go's AST validators (homogeneous list/map literals, literal arguments of ``matches``,
  ``duration``, ``timestamp``); the result must be ``bool`` or an attribute value (checked at
  compile time) and a ``bool`` at run time;
* the 1,000,000 runtime cost limit, enforced through a sound static bound
  (:mod:`scheduler.dra.cel_cost`); expressions longer than 10 KiB are rejected.

Evaluated through cel-expr-python (Google's C++ CEL runtime): each selector is type-checked in
an environment with upstream's declarations, validated, rewritten and evaluated in a runtime
environment (:mod:`scheduler.dra.cel_env`, :mod:`scheduler.dra.cel_transform`).

Not supported (each is an error, never a different answer):

* two-variable comprehensions (``all(i, v, ...)``, ``transformList`` ...) and the
  lists-extension ``sortBy`` macro - cel-expr-python has no such macros (compile error);
* the Kubernetes ``ip``, ``cidr`` and ``format`` libraries (compile error ``undeclared
  reference``);
* ``find`` / ``findAll`` patterns without a faithful Python translation (Unicode or POSIX
  classes, ``\\Q..\\E``, inline flags other than a leading ``(?ims)``, case folding of
  non-ASCII text): runtime error ``unsupported regular expression``;
* durations or timestamps returned by ``sum``/``min``/``max``/``slice``/``flatten``/
  ``distinct``/``reverse``/``sort``: runtime error;
* nesting deeper than cel-expr-python's limit of 32 levels, or a checked expression deeper
  than protobuf's 100 message levels (about 25 nested macros): compile error; quantity
  literals with a decimal exponent beyond ±1000: runtime error.

Known deviations (corner cases): ``uint`` results of ``sum``/``min``/``max`` come back as
``int``; ``has(device.attributes)`` is rejected as a non-bool result; a domain map re-bound
from a bound device (``cel.bind(d, device, cel.bind(a, d.attributes, a["x"]))``) errors on an
unknown domain instead of yielding an empty map; ``url(a) == url(b)`` compares the source
strings rather than Go's re-serialized form; ``lists.range`` with a non-constant argument has
no static cost bound and fails the cost check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

from cel_expr_python import cel
from google.protobuf.message import DecodeError

from scheduler.dra import cel_ast, cel_env, cel_transform
from scheduler.dra.cel_cost import (
    API_BOUNDS,
    COST_LIMIT,
    DeviceBounds,
    estimate,
    unknown_functions,
)
from scheduler.dra.cel_quantity import quantity_from_exact, quantity_to_cel
from scheduler.dra.cel_semver import SemVer, semver_to_cel
from scheduler.dra.cel_values import type_name

__all__ = [
    "AttributeValue",
    "CelDevice",
    "CelEnvironment",
    "CelError",
    "CompiledSelector",
    "SemVer",
]

AttributeValue = int | bool | str | SemVer
"""One typed attribute value (a DRA ``version`` attribute is a :class:`SemVer`)."""

MAX_EXPRESSION_BYTES = 10 * 1024
"""Upstream ``CELSelectorExpressionMaxLength``."""
_CACHE_SIZE = 4096
_COST_EXCEEDED = "operation cancelled: actual cost limit exceeded"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class CelError(Exception):
    """A selector failed: ``kind`` is ``"compile"`` or ``"runtime"``.

    ``str(err)`` is ``"CEL compile error: <detail>"`` or ``"CEL runtime error: <detail>"``;
    ``detail`` holds the part after the prefix.
    """

    def __init__(self, kind: Literal["compile", "runtime"], detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"CEL {kind} error: {detail}")


@dataclass(frozen=True)
class CelDevice:
    """The data the ``device`` variable is built from.

    ``attributes`` / ``capacity`` keys are qualified names as in the ResourceSlice (``model``
    or ``dom.example/model``). An attribute value that is not an int, bool, str or
    :class:`SemVer` (e.g. ``None`` for an attribute without a value) makes every evaluation on
    this device fail with ``attribute <name>: unsupported attribute value``, as upstream.
    """

    driver: str
    attributes: Mapping[str, AttributeValue]
    capacity: Mapping[str, Fraction]
    allow_multiple_allocations: bool = False
    _state: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.driver, str):
            raise ValueError(f"CelDevice.driver: expected a string, got {self.driver!r}")
        for name, value in self.capacity.items():
            if not _is_exact(value):
                raise ValueError(
                    f"CelDevice {self.driver}: capacity {name!r}: expected an exact quantity "
                    f"(Fraction), got {value!r}"
                )

    def bounds(self) -> DeviceBounds:
        """Size bounds of this device's data (for the cost guard)."""
        self._prepare()
        bounds: DeviceBounds = self._state["bounds"]
        return bounds

    def _prepare(self) -> None:
        if "bounds" not in self._state:
            _build_state(self)


def _is_exact(value: object) -> bool:
    return isinstance(value, Fraction | int) and not isinstance(value, bool)


@lru_cache(maxsize=4096)
def _capacity_value(amount: Fraction) -> Any:
    return quantity_to_cel(quantity_from_exact(amount))


@lru_cache(maxsize=4096)
def _version_value(version: SemVer) -> Any:
    return semver_to_cel(version)


def _split_name(name: str, driver: str) -> tuple[str, str]:
    slash = name.find("/")
    return (driver, name) if slash < 0 else (name[:slash], name[slash + 1 :])


def _attribute_value(name: str, value: Any) -> tuple[Any, int]:
    """(runtime value, string length) of one attribute; ValueError when unsupported."""
    if isinstance(value, bool):
        return value, 0
    if isinstance(value, str):
        return value, len(value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"attribute {name}: integer {value} out of int64 range")
        return value, 0
    if isinstance(value, SemVer):
        return _version_value(value), len(str(value))
    raise ValueError(f"attribute {name}: unsupported attribute value")


def _build_state(device: CelDevice) -> None:
    driver = device.driver
    attributes: dict[str, dict[str, Any]] = {}
    capacity: dict[str, dict[str, Any]] = {}
    key_length, value_length = 0, len(driver)
    error: str | None = None
    for name, value in device.attributes.items():
        domain, ident = _split_name(name, driver)
        key_length = max(key_length, len(domain), len(ident))
        try:
            converted, length = _attribute_value(name, value)
        except ValueError as exc:
            error = error or str(exc)
            continue
        value_length = max(value_length, length)
        attributes.setdefault(domain, {})[ident] = converted
    for name, amount in device.capacity.items():
        domain, ident = _split_name(name, driver)
        key_length = max(key_length, len(domain), len(ident))
        exact = amount if type(amount) is Fraction else Fraction(amount)
        capacity.setdefault(domain, {})[ident] = _capacity_value(exact)
    entries = 0
    for inner in (*attributes.values(), *capacity.values()):
        entries = max(entries, len(inner))
    state = device._state
    state["error"] = error
    state["bounds"] = DeviceBounds(
        domains=max(len(attributes), len(capacity)),
        entries=entries,
        key_length=key_length,
        value_length=value_length,
    )
    data = {
        "device": {
            "driver": driver,
            "attributes": attributes,
            "capacity": capacity,
            "allowMultipleAllocations": bool(device.allow_multiple_allocations),
        },
        "device.attributes": attributes,
        "device.capacity": capacity,
    }
    state["activation"] = cel_env.eval_env().Activation(data)


class CompiledSelector:
    """One compiled selector; created by :meth:`CelEnvironment.compile`."""

    def __init__(self, expression: str, program: Any, checked_expr: Any, api_cost: float) -> None:
        self.expression = expression
        self._program = program
        self._checked_expr = checked_expr
        self._api_cost = api_cost
        self._device_costs: dict[DeviceBounds, float] = {}

    @property
    def worst_case_cost(self) -> float:
        """Static cost bound for any device the resource.k8s.io/v1 API admits."""
        return self._api_cost

    def _within_cost(self, bounds: DeviceBounds) -> bool:
        if self._api_cost <= COST_LIMIT and bounds.within(API_BOUNDS):
            return True
        cost = self._device_costs.get(bounds)
        if cost is None:
            cost = estimate(self._checked_expr, bounds)
            if len(self._device_costs) < _CACHE_SIZE:
                self._device_costs[bounds] = cost
        return cost <= COST_LIMIT

    def matches(self, device: CelDevice) -> bool:
        """Evaluate on one device: True/False, or CelError("runtime") when evaluation fails
        (error in the expression, unsupported attribute value, non-bool result, cost limit)."""
        state = device._state
        if "activation" not in state:
            _build_state(device)
        if state["error"] is not None:
            raise CelError("runtime", state["error"])
        if not self._within_cost(state["bounds"]):
            raise CelError("runtime", _COST_EXCEEDED)
        try:
            result = self._program.eval(state["activation"])
        except Exception as exc:  # the runtime reports some failures by raising
            raise CelError("runtime", cel_env.runtime_message(str(exc))) from exc
        value = result.value()
        if value is True or value is False:
            return value
        if result.type() == cel.Type.ERROR:
            raise CelError("runtime", cel_env.runtime_message(str(value)))
        raise CelError(
            "runtime", f"CEL result of type {type_name(value)} could not be converted to bool"
        )


class CelEnvironment:
    """Compiles selectors for one feature setting; compiled selectors are cached.

    ``consumable_capacity`` enables DRAConsumableCapacity: it declares
    ``device.allowMultipleAllocations`` (without it, referencing that field is a compile
    error, as upstream).
    """

    def __init__(self, *, consumable_capacity: bool) -> None:
        self.consumable_capacity = consumable_capacity
        self._cache: OrderedDict[str, CompiledSelector | CelError] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, expression: str) -> CompiledSelector:
        """Compile (or fetch from the cache) one selector; raise CelError("compile")."""
        with self._lock:
            cached = self._cache.get(expression)
            if cached is not None:
                self._cache.move_to_end(expression)
        if cached is None:
            cached = self._compile(expression)
            with self._lock:
                self._cache[expression] = cached
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        if isinstance(cached, CelError):
            raise CelError(cached.kind, cached.detail)
        return cached

    def _compile(self, expression: str) -> CompiledSelector | CelError:
        size = len(expression.encode("utf-8"))
        if size > MAX_EXPRESSION_BYTES:
            return CelError(
                "compile",
                f"compilation failed: expression is {size} bytes long, "
                f"more than the limit of {MAX_EXPRESSION_BYTES} bytes",
            )
        check_env = cel_env.check_env(self.consumable_capacity)
        try:
            checked = check_env.compile(expression)
        except Exception as exc:  # cel-expr-python reports compile failures by raising
            return CelError("compile", cel_env.compile_message(exc))
        try:
            selector = cel_ast.CheckedSelector(checked.serialize())
        except DecodeError:
            return CelError(
                "compile",
                "compilation failed: expression nests too deeply (more than the protobuf "
                "decoding depth of 100 message levels)",
            )
        issues = cel_transform.validate(selector, cel_env.literal_problem)
        if issues:
            text = "\n".join(
                cel_ast.format_issue(expression, selector.offset(node_id), message)
                for node_id, message in issues
            )
            return CelError("compile", f"compilation failed: {text}")
        result_type = cel_ast.root_type(selector)
        if not cel_ast.is_bool_or_any(result_type):
            return CelError(
                "compile",
                "must evaluate to bool or the unknown type, not "
                f"{cel_ast.describe_type(result_type)}",
            )
        checked_expr = type(selector.checked.expr)()
        checked_expr.CopyFrom(selector.checked.expr)
        unknown = unknown_functions(checked_expr)
        if unknown:
            return CelError(
                "compile",
                f"compilation failed: unsupported function(s): {', '.join(sorted(unknown))}",
            )
        api_cost = estimate(checked_expr, API_BOUNDS)
        cel_transform.rewrite_for_evaluation(selector, cel_env.fold_constant)
        eval_env = cel_env.eval_env()
        try:
            program = eval_env.deserialize(selector.serialize())
        except Exception as exc:  # defensive: the rewrite produced something the runtime rejects
            return CelError("compile", cel_env.compile_message(exc))
        return CompiledSelector(expression, program, checked_expr, api_cost)
