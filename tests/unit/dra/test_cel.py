"""DRA selector semantics: the ``device`` variable, errors, features, caching (dra.md §3)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from scheduler.dra.cel import CelDevice, CelEnvironment, CelError, SemVer

GI = 2**30

ENV = CelEnvironment(consumable_capacity=False)
ENV_CC = CelEnvironment(consumable_capacity=True)

# Driver "dra.example.com": unqualified names live in that domain; "other.example.com/..."
# names live in their own domain.
DEVICE = CelDevice(
    driver="dra.example.com",
    attributes={
        "model": "a100",
        "cores": 108,
        "ecc": True,
        "version": SemVer.parse("1.2.3"),
        "other.example.com/family": "ampere",
    },
    capacity={"memory": Fraction(80 * GI), "other.example.com/slices": Fraction(7)},
)


def matches(expression: str, device: CelDevice = DEVICE, env: CelEnvironment = ENV) -> bool:
    return env.compile(expression).matches(device)


MATCH_TABLE = [
    ('device.driver == "dra.example.com"', True),
    ('device.driver == "other.example.com"', False),
    # unqualified "model" is device.attributes["dra.example.com"].model
    ('device.attributes["dra.example.com"].model == "a100"', True),
    ('device.attributes["dra.example.com"]["model"] == "a100"', True),
    ('device.attributes["other.example.com"].family == "ampere"', True),
    ('device.attributes["dra.example.com"].cores > 100', True),
    ("device.attributes['dra.example.com'].ecc", True),
    ('device.attributes["dra.example.com"].version.isGreaterThan(semver("1.2.2"))', True),
    ('device.attributes["dra.example.com"].version.major() == 1', True),
    # 80Gi = 85899345920 bytes >= 8Gi
    ('device.capacity["dra.example.com"].memory.compareTo(quantity("8Gi")) >= 0', True),
    ('device.capacity["dra.example.com"].memory.isLessThan(quantity("81Gi"))', True),
    ('device.capacity["other.example.com"].slices.asInteger() == 7', True),
    # unknown domain is an empty map, not an error
    ('device.attributes["no.such.domain"].size() == 0', True),
    ('device.capacity["no.such.domain"].size() == 0', True),
    ('"model" in device.attributes["no.such.domain"]', False),
    ("device.attributes.nodomain.size() == 0", True),
    ('device.attributes[?"no.such.domain"].hasValue()', True),
    # `in` on the domain map and on a domain
    ('"dra.example.com" in device.attributes', True),
    ('"no.such.domain" in device.attributes', False),
    ('"model" in device.attributes["dra.example.com"]', True),
    ('"family" in device.attributes["dra.example.com"]', False),
    ('"memory" in device.capacity["dra.example.com"]', True),
    # guarded lookups of a missing key short-circuit in both operand orders
    ('false && device.attributes["dra.example.com"].missing', False),
    ('device.attributes["dra.example.com"].missing && false', False),
    ('true || device.attributes["dra.example.com"].missing', True),
    ('device.attributes["dra.example.com"].missing || true', True),
    (
        '!("missing" in device.attributes["dra.example.com"]) || '
        'device.attributes["dra.example.com"].missing == 1',
        True,
    ),
    ('cel.bind(dra, device.attributes["dra.example.com"], dra.model == "a100" && dra.ecc)', True),
    ('cel.bind(d, device, d.driver == "dra.example.com")', True),
    # a bound device keeps the empty-map default of its domain maps
    ('cel.bind(d, device, d.attributes["no.such.domain"].size() == 0)', True),
    ('cel.bind(d, device, "no.such.domain" in d.attributes)', False),
    ('has(device.attributes["dra.example.com"].model)', True),
    ('has(device.attributes["dra.example.com"].missing)', False),
    ('device.attributes["dra.example.com"].exists(k, k == "cores")', True),
    ("device.attributes.all(dom, device.attributes[dom].size() > 0)", True),
    ('device.attributes["dra.example.com"][?"model"].orValue("") == "a100"', True),
    ('device.attributes["dra.example.com"][?"missing"].orValue("x") == "x"', True),
    ("true", True),
    ("false", False),
]


@pytest.mark.parametrize(("expression", "expected"), MATCH_TABLE)
def test_selector_results(expression: str, expected: bool) -> None:
    """Each selector evaluates on the sample device to the hand-derived result."""
    assert matches(expression) is expected


RUNTIME_ERRORS = [
    ('device.attributes["dra.example.com"].missing', "no such key: missing"),
    ('device.attributes["no-such-domain"].noSuchAttr.isGreaterThan(quantity("0"))', "no such key"),
    ('device.attributes["no-such-domain"]["noSuchAttr"] == 1', "no such key: noSuchAttr"),
    ('device.capacity["dra.example.com"].missing.isInteger()', "no such key: missing"),
    # an attribute value that is not bool is a runtime conversion error
    ('device.attributes["dra.example.com"].cores', "could not be converted to bool"),
    ('device.attributes["dra.example.com"].model', "type string could not be converted to bool"),
    # semver on the left of == against a string: cel-go reports no such overload
    ('device.attributes["dra.example.com"].version == "1.2.3"', "no such overload"),
    (
        'device.attributes["dra.example.com"].model.isGreaterThan(semver("1.0.0"))',
        "no such overload",
    ),
    ("1 / 0 == 1", "division by zero"),
    ("[1][3] == 1", "index '3' out of range in list size '1'"),
    ("9223372036854775807 + 1 > 0", "integer overflow"),
]


@pytest.mark.parametrize(("expression", "message"), RUNTIME_ERRORS)
def test_runtime_errors(expression: str, message: str) -> None:
    """Evaluation failures raise CelError("runtime") carrying cel-go's wording."""
    with pytest.raises(CelError) as info:
        matches(expression)
    assert info.value.kind == "runtime"
    assert str(info.value).startswith("CEL runtime error: ")
    assert message in str(info.value)


COMPILE_ERRORS = [
    ("noSuchVar", "undeclared reference to 'noSuchVar'"),
    ("?!", "Syntax error"),
    ("1", "must evaluate to bool or the unknown type, not int"),
    ('"x"', "must evaluate to bool or the unknown type, not string"),
    ("dyn(true)", "must evaluate to bool or the unknown type, not dyn"),
    ("device.foo", "undefined field 'foo'"),
    ("device.allowMultipleAllocations", "undefined field 'allowMultipleAllocations'"),
    ('device.driver + 1 == "x"', "no matching overload"),
    ('device.capacity["d"].memory > 5', "no matching overload"),
    ('quantity("1") == 1', "no matching overload"),
    ('[1, "a"].size() == 2', "expected type 'int' but found 'string'"),
    ('{"a": 1, "b": "x"}.size() == 2', "expected type 'int' but found 'string'"),
    ('"abc".matches("[")', "invalid matches argument"),
    ('duration("1x") > duration("1s")', "invalid duration argument"),
    ('ip("1.2.3.4").family() == 4', "undeclared reference to 'ip'"),
    ("[1, 2].all(i, v, v > i)", "undeclared reference"),
    ('kubernetes.Quantity{} == quantity("1")', "undeclared reference to 'kubernetes.Quantity'"),
    ('"abc".reverse() == "cba"', "no matching overload"),
]


@pytest.mark.parametrize(("expression", "message"), COMPILE_ERRORS)
def test_compile_errors(expression: str, message: str) -> None:
    """Invalid selectors raise CelError("compile") with the upstream phrase in the text."""
    with pytest.raises(CelError) as info:
        ENV.compile(expression)
    assert info.value.kind == "compile"
    assert str(info.value).startswith("CEL compile error: ")
    assert message in str(info.value)


def test_compile_error_layout() -> None:
    """A checker error keeps cel-go's layout: location, message, the line and a caret."""
    with pytest.raises(CelError) as info:
        ENV.compile("noSuchVar")
    assert info.value.detail == (
        "compilation failed: ERROR: <input>:1:1: undeclared reference to 'noSuchVar' "
        "(in container '')\n | noSuchVar\n | ^"
    )


def test_allow_multiple_allocations_only_with_consumable_capacity() -> None:
    """The field compiles only with DRAConsumableCapacity and reads the device's flag."""
    shared = CelDevice("driver-a", {}, {}, allow_multiple_allocations=True)
    dedicated = CelDevice("driver-a", {}, {})
    expression = 'device.driver == "driver-a" && device.allowMultipleAllocations == true'
    assert matches(expression, shared, ENV_CC) is True
    assert matches(expression, dedicated, ENV_CC) is False
    with pytest.raises(CelError, match="allowMultipleAllocations"):
        ENV.compile(expression)


CONFORMANCE_SELECTORS = [
    # expressions used by the DRA conformance case files (driver-a devices)
    ('device.driver == "driver-a"', True),
    ('device.driver == "driver-b"', False),
    ('device.capacity["driver-a"].memory.compareTo(quantity("8Gi")) >= 0', True),  # 8Gi >= 8Gi
    ('device.capacity["driver-a"].memory.compareTo(quantity("2Gi")) >= 0', True),
    ('device.capacity["driver-a"]["capacity-0"].compareTo(quantity("4")) >= 0', False),  # 2 < 4
    ('device.capacity["driver-a"]["capacity-0"].compareTo(quantity("2")) >= 0', True),
    ('device.attributes["driver-a"].special', True),
]


@pytest.mark.parametrize(("expression", "expected"), CONFORMANCE_SELECTORS)
def test_conformance_selectors(expression: str, expected: bool) -> None:
    """The selectors of the conformance cases give the expected answers."""
    device = CelDevice(
        driver="driver-a",
        attributes={"special": True},
        capacity={"memory": Fraction(8 * GI), "capacity-0": Fraction(2)},
    )
    assert matches(expression, device) is expected


def test_unsupported_attribute_value_fails_every_selector() -> None:
    """An attribute without a typed value makes each evaluation fail, even ``true``."""
    device = CelDevice("dra.example.com", {"broken": None, "ok": True}, {})  # type: ignore[dict-item]
    for expression in ("true", 'device.attributes["dra.example.com"].ok'):
        with pytest.raises(CelError, match="attribute broken: unsupported attribute value"):
            matches(expression, device)


def test_compile_is_cached_per_expression() -> None:
    """The same expression string yields the same compiled object; errors are cached too."""
    env = CelEnvironment(consumable_capacity=False)
    first = env.compile("device.driver == 'x'")
    assert env.compile("device.driver == 'x'") is first
    with pytest.raises(CelError) as one:
        env.compile("noSuchVar")
    with pytest.raises(CelError) as two:
        env.compile("noSuchVar")
    assert str(one.value) == str(two.value)
    assert isinstance(env._cache["noSuchVar"], CelError)
    assert first.expression == "device.driver == 'x'"


def test_expression_length_limit() -> None:
    """More than 10 KiB of expression text is a compile error; exactly 10 KiB compiles."""
    padding = "true"
    body = " || ".join([padding] * 2)
    at_limit = body + " " * (10 * 1024 - len(body))
    assert ENV.compile(at_limit).matches(DEVICE) is True
    with pytest.raises(CelError, match="10240 bytes") as info:
        ENV.compile(at_limit + " ")
    assert info.value.kind == "compile"


def test_too_deep_expressions_are_compile_errors() -> None:
    """Nesting beyond the runtime's parser or protobuf depth limits fails to compile."""
    parser_deep = "(" * 40 + "true" + ")" * 40
    macro_deep = "".join(f"[1].exists(x{i}, " for i in range(28)) + "true" + ")" * 28
    for expression in (parser_deep, macro_deep):
        with pytest.raises(CelError) as info:
            ENV.compile(expression)
        assert info.value.kind == "compile"


def test_capacity_must_be_exact() -> None:
    """A float capacity value is rejected naming the device, the capacity and the value."""
    with pytest.raises(ValueError, match=r"capacity 'memory'.*0\.5"):
        CelDevice("dra.example.com", {}, {"memory": 0.5})  # type: ignore[dict-item]


def test_duplicate_spellings_of_one_name() -> None:
    """``model`` and ``<driver>/model`` name the same attribute (the last one wins)."""
    device = CelDevice("d.example", {"model": "a", "d.example/model": "b"}, {})
    assert matches('device.attributes["d.example"].model == "b"', device) is True
