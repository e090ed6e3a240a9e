"""Kubernetes quantity library in DRA selectors (representation, arithmetic, comparisons)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from scheduler.dra.cel import CelDevice, CelEnvironment, CelError
from scheduler.dra.cel_quantity import GoQuantity, parse_go_quantity, quantity_from_exact

ENV = CelEnvironment(consumable_capacity=False)
DEVICE = CelDevice("dra.example.com", {}, {"memory": Fraction(80 * 2**30), "half": Fraction(1, 2)})


def matches(expression: str) -> bool:
    return ENV.compile(expression).matches(DEVICE)


PARSE_TABLE = [
    # text, (value, scale, is_dec) as Go's ParseQuantity stores it
    ("1", (1, 0, False)),
    ("0", (0, 0, False)),
    ("-1", (-1, 0, False)),
    ("+5", (5, 0, False)),
    ("1000m", (1000, -3, False)),  # not reduced: value 1000 at scale -3
    ("1.5", (15, -1, False)),  # "1"+"5" shifted, scale 0-1
    ("1k", (1, 3, False)),
    ("1e3", (1, 3, False)),
    ("1Gi", (2**30, 0, False)),  # mantissa 2^30, precision 15-1-9-1 = 4 >= 0
    ("1.5Gi", (1610612736 * 10**9, -9, True)),  # binary with a fraction: inf.Dec at nano
    ("0.1n", (1, -9, True)),  # scale -10 < nano: rounded up to 1n
    ("100000000000000000", (10**17, 0, False)),  # 18 digits: precision 0
    ("9223372036854775807", (9223372036854775807 * 10**9, -9, True)),  # 19 digits: inf.Dec
    ("8Ei", (2**63 - 1, 0, True)),  # 2^63 overflows int64: BinarySI capped at MaxInt64
    ("", None),
    ("1K", None),
    ("Mi", (0, 0, False)),  # Go's scanner reads an empty numerator as 0 (mantissa 2^20 * 0)
    ("1.2.3", None),
    ("1e", None),
    ("1e+", None),
    ("abc", None),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_TABLE)
def test_parse_representation(text: str, expected: tuple[int, int, bool] | None) -> None:
    """ParseQuantity's representation is reproduced (or the string is rejected)."""
    if expected is None:
        with pytest.raises(ValueError, match="quantity"):
            parse_go_quantity(text)
        return
    value, scale, is_dec = expected
    assert parse_go_quantity(text) == GoQuantity(value, scale, is_dec=is_dec)


QUANTITY_TRUE = [
    # comparisons (hand-checked values)
    'quantity("200M").compareTo(quantity("0.2G")) == 0',  # 2e8 == 2e8
    'quantity("50M").compareTo(quantity("50Mi")) == -1',  # 5e7 < 52428800
    'quantity("50Mi").compareTo(quantity("50M")) == 1',
    'quantity("150Mi").isGreaterThan(quantity("100Mi"))',
    '!quantity("50Mi").isGreaterThan(quantity("100Mi"))',
    'quantity("50M").isLessThan(quantity("100M"))',
    'quantity("1") == quantity("1000m")',  # equality is numeric
    'quantity("1Ki") != quantity("1k")',  # 1024 != 1000
    'quantity("0.1n") == quantity("1n")',  # both round up to one nano
    'quantity("8Ei") == quantity("9223372036854775807")',  # BinarySI cap
    # arithmetic: 50000 + 20 = 50020; 50020 - 100000 = -49980; -49980 + 50000 = 20
    'quantity("50k").add(20).sub(quantity("100k")).sub(-50000) == quantity("20")',
    'quantity("50k").add(quantity("20k")) == quantity("70k")',
    'quantity("50k").sub(20000) == quantity("30k")',
    'quantity("1.5").add(quantity("0.5")) == quantity("2")',
    # isInteger follows Go's representation
    'quantity("50k").isInteger()',
    'quantity("50000000G").isInteger()',  # 5e16 fits int64
    '!quantity("9999999999999999999999999999999999999G").isInteger()',
    '!quantity("1000m").isInteger()',  # value 1000 at scale -3
    '!quantity("1.5").add(quantity("0.5")).isInteger()',  # 15+5 = 20 at scale -1
    '!quantity("1").add(quantity("1000m")).isInteger()',  # 1000+1000 at scale -3
    'quantity("1Gi").isInteger()',
    'quantity("50k").asInteger() == 50000',
    'quantity("-3").asInteger() == -3',
    # asApproximateFloat is base * Pow10(exponent) in float64
    'quantity("50k").sub(20000).asApproximateFloat() == 30000.0',
    'quantity("0.3").asApproximateFloat() == 0.30000000000000004',  # 3 * 0.1 in binary64
    'quantity("1Gi").asApproximateFloat() == 1073741824.0',
    'sign(quantity("-3")) == -1 && sign(quantity("0")) == 0 && sign(quantity("2m")) == 1',
    'isQuantity("1.3Gi") && isQuantity("10000k") && !isQuantity("200K") && !isQuantity("1,3G")',
    'isQuantity(".") && isQuantity("-")',  # Go accepts these as zero
    # capacity values
    'device.capacity["dra.example.com"].memory == quantity("80Gi")',
    'device.capacity["dra.example.com"].memory.isInteger()',
    'device.capacity["dra.example.com"].half == quantity("500m")',
    'device.capacity["dra.example.com"].half.asApproximateFloat() == 0.5',  # 500 * 0.001
    '[quantity("1")] == [quantity("1000m")]',
    'quantity("1") in [quantity("1000m"), quantity("2")]',
    'cel.bind(q, quantity("3"), q.add(q).asInteger() == 6)',
]


@pytest.mark.parametrize("expression", QUANTITY_TRUE)
def test_quantity_functions(expression: str) -> None:
    """Quantity functions give the hand-checked Kubernetes results."""
    assert matches(expression) is True


QUANTITY_ERRORS = [
    ('quantity("9999999999999999999999999999999999999G").asInteger() == 0', "cannot convert"),
    ('quantity("9223372036854775807").asInteger() == 0', "cannot convert value to integer"),
    ('quantity("200K").isInteger()', "unable to parse quantity's suffix"),
    ('quantity("Three").isInteger()', "quantity 'Three'"),
]


@pytest.mark.parametrize(("expression", "message"), QUANTITY_ERRORS)
def test_quantity_errors(expression: str, message: str) -> None:
    """Failing quantity operations are runtime errors with Go's message."""
    with pytest.raises(CelError, match=message) as info:
        matches(expression)
    assert info.value.kind == "runtime"


def test_invalid_literal_only_fails_when_evaluated() -> None:
    """A bad quantity literal behind a false guard is never evaluated (no error)."""
    assert matches('false && quantity("bad").isInteger()') is False


FROM_EXACT = [
    (Fraction(80 * 2**30), GoQuantity(80 * 2**30, 0, is_dec=False)),
    (Fraction(1, 2), GoQuantity(500, -3, is_dec=False)),  # 1/2 = 500m
    (Fraction(1, 8), GoQuantity(125, -3, is_dec=False)),  # 1/8 = 125m
    (Fraction(1, 80), GoQuantity(12500, -6, is_dec=False)),  # 1/80 = 0.0125 = 12500u
    (Fraction(1, 3), GoQuantity(333333334, -9, is_dec=True)),  # rounded up to nano
    (Fraction(2**63), GoQuantity(2**63 * 10**9, -9, is_dec=True)),  # beyond int64
]


@pytest.mark.parametrize(("value", "expected"), FROM_EXACT)
def test_capacity_representation(value: Fraction, expected: GoQuantity) -> None:
    """Exact capacity values map to the quantity Go holds for their canonical spelling."""
    assert quantity_from_exact(value) == expected
