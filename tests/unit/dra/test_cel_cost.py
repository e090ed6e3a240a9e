"""The static cost bound that stands in for cel-go's 1,000,000 runtime cost limit."""

from __future__ import annotations

from fractions import Fraction

import pytest

from scheduler.dra import cel_cost
from scheduler.dra.cel import CelDevice, CelEnvironment, CelError
from scheduler.dra.cel_cost import API_BOUNDS, COST_LIMIT, DeviceBounds
from scheduler.dra.cel_libs import library_functions

ENV = CelEnvironment(consumable_capacity=False)
SMALL = CelDevice("dra.example.com", {"n": 3, "name": "abc"}, {"memory": Fraction(1)})

ESTIMATES = [
    # expression, bound under the API limits (32 domains x 32 entries, keys <= 63 chars,
    # values <= 64 chars)
    ("true", 1),  # one constant
    # select device.driver: ident 1 + select 1 = 2; "ab": 1; call 1; equality charges
    # the operands' sizes 64 + 2 + 1 -> 2 + 1 + 1 + 67 = 71
    ('device.driver == "ab"', 71),
    # index: ident 1 + key 1 + call 1 + lookup 1 = 4; .a: +1 = 5; "x": 1; call 1;
    # equality 64 + 1 + 1 -> 5 + 1 + 1 + 66 = 73
    ('device.attributes["d"].a == "x"', 73),
    # membership: 32 entries x (element 1 + key 63) + 1 = 2049; operands 1 + 4; call 1
    ('"a" in device.attributes["d"]', 2055),
]


@pytest.mark.parametrize(("expression", "expected"), ESTIMATES)
def test_worst_case_estimates(expression: str, expected: float) -> None:
    """The static bound of simple selectors is the hand-summed value."""
    assert ENV.compile(expression).worst_case_cost == expected


def test_every_library_function_has_a_cost_rule() -> None:
    """No declared function would make the bound infinite by lacking a rule."""
    assert [f.name for f in library_functions() if not cel_cost.known_function(f.name)] == []


def test_device_bounds() -> None:
    """Bounds count domains, entries per domain, and the longest key and string value."""
    device = CelDevice(
        "drv.example",  # 11 characters
        {"a": "xyz", "other.example/bb": 1, "c": True},  # domains drv.example, other.example
        {"mem": Fraction(1)},
    )
    # drv.example holds a, c (attributes) -> 2 entries; longest key "other.example" = 13
    assert device.bounds() == DeviceBounds(domains=2, entries=2, key_length=13, value_length=11)
    assert device.bounds().within(API_BOUNDS)


def test_upstream_expensive_case_exceeds_the_limit() -> None:
    """32,000 attributes make the mapped lowerAscii()/size() pipeline exceed the limit."""
    attributes: dict[str, str | int | bool] = {}
    for i in range(1000 * 32):
        suffix = f"-{i}"
        attributes["dra.example.com/" + "x" * (32 - len(suffix)) + suffix] = "abc"
    huge = CelDevice("dra.example.com", attributes, {})
    expression = (
        'device.attributes["dra.example.com"].map(s, s.lowerAscii()).map(s, s.size()).sum() == 0'
    )
    selector = ENV.compile(expression)
    assert selector.worst_case_cost <= COST_LIMIT  # within API limits it is affordable
    assert selector.matches(SMALL) is False  # the one attribute name "n"/"name" sizes are > 0
    with pytest.raises(CelError, match="actual cost limit exceeded") as info:
        selector.matches(huge)
    assert info.value.kind == "runtime"


EXCEEDING = [
    # 200^3 iterations of a loop body costing more than 1 each: > 8,000,000
    "lists.range(200).all(x, lists.range(200).all(y, lists.range(200).all(z, z >= 0)))",
    # a list doubled 25 times has 2^26 elements; concatenating costs
    # sum over i of 0.1 * 2^(i+1), about 0.1 * 2^27 = 13.4 million
    "cel.bind(a0, [1, 2], "
    + "".join(f"cel.bind(a{i}, a{i - 1} + a{i - 1}, " for i in range(1, 26))
    + "a25.size() > 0"
    + ")" * 26,
    # lists.range of a runtime value has no static bound
    'lists.range(device.attributes["dra.example.com"].n).size() >= 0',
]


@pytest.mark.parametrize("expression", EXCEEDING)
def test_unbounded_or_expensive_selectors_fail_at_evaluation(expression: str) -> None:
    """Selectors whose worst case exceeds the limit fail with cel-go's cost error."""
    selector = ENV.compile(expression)
    assert selector.worst_case_cost > COST_LIMIT
    with pytest.raises(CelError, match="operation cancelled: actual cost limit exceeded"):
        selector.matches(SMALL)


AFFORDABLE = [
    "lists.range(20).all(x, lists.range(20).all(y, x + y >= 0))",  # 400 iterations
    "cel.bind(a0, [1, 2], "
    + "".join(f"cel.bind(a{i}, a{i - 1} + a{i - 1}, " for i in range(1, 8))
    + "a7.size() == 256"  # 2 * 2^7 elements
    + ")" * 8,
    "device.attributes.all(d, device.attributes[d].all(k, k.size() > 0))",
]


@pytest.mark.parametrize("expression", AFFORDABLE)
def test_affordable_selectors_evaluate(expression: str) -> None:
    """Selectors with a bound under the limit are evaluated normally."""
    selector = ENV.compile(expression)
    assert selector.worst_case_cost <= COST_LIMIT
    assert selector.matches(SMALL) is True
