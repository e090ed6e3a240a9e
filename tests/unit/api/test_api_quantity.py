"""Quantities: exact parsing, integer views, formatting, and the ``Quantity`` field type."""

from __future__ import annotations

from fractions import Fraction

import pytest
from pydantic import ValidationError

from scheduler.api import Counter, format_quantity, parse_quantity, quantity_milli, quantity_value

# (input, exact value, Value() rounded up, MilliValue() rounded up)
VALID = [
    ("0", Fraction(0), 0, 0),
    ("1", Fraction(1), 1, 1000),
    ("500m", Fraction(1, 2), 1, 500),  # 0.5 -> Value() rounds up to 1
    ("1500m", Fraction(3, 2), 2, 1500),
    ("0.1", Fraction(1, 10), 1, 100),
    ("1.", Fraction(1), 1, 1000),  # trailing dot is allowed by the grammar
    (".5", Fraction(1, 2), 1, 500),
    ("1Ki", Fraction(1024), 1024, 1024_000),
    ("1Mi", Fraction(2**20), 2**20, 2**20 * 1000),
    ("80Gi", Fraction(80 * 2**30), 80 * 2**30, 80 * 2**30 * 1000),
    ("81152Mi", Fraction(81152 * 2**20), 81152 * 2**20, 81152 * 2**20 * 1000),
    ("1Ti", Fraction(2**40), 2**40, 2**40 * 1000),
    ("1k", Fraction(1000), 1000, 10**6),
    ("1M", Fraction(10**6), 10**6, 10**9),
    ("2G", Fraction(2 * 10**9), 2 * 10**9, 2 * 10**12),
    ("1u", Fraction(1, 10**6), 1, 1),  # 1e-6 -> milli 0.001 rounds up to 1
    ("1n", Fraction(1, 10**9), 1, 1),
    ("2e3", Fraction(2000), 2000, 2_000_000),
    ("1E-3", Fraction(1, 1000), 1, 1),
    ("1.5e1", Fraction(15), 15, 15000),
    ("+2", Fraction(2), 2, 2000),
    ("-1", Fraction(-1), -1, -1000),  # ceil(-1) stays -1
    ("-500m", Fraction(-1, 2), 0, -500),  # ceil(-0.5) = 0
    (" 4 ", Fraction(4), 4, 4000),  # surrounding blanks are stripped
    (7, Fraction(7), 7, 7000),  # YAML int
    (2.0, Fraction(2), 2, 2000),  # YAML integral float
]

INVALID = [
    "",
    "abc",
    "1.2.3",
    "1Kb",
    "1ki",
    "Gi",
    "1 Gi",
    "--1",
    "1e",
    "1e99",  # exponent beyond the accepted range
    "99999999999999999999E",  # beyond int64 scale
    True,
    None,
    1.5,  # a fractional float is not exact
    float("nan"),
]


@pytest.mark.parametrize(("text", "exact", "value", "milli"), VALID)
def test_valid_quantities(text: str | int | float, exact: Fraction, value: int, milli: int) -> None:
    """Each valid quantity parses to its exact value and rounds up in both integer views."""
    assert parse_quantity(text) == exact
    assert quantity_value(text) == value
    assert quantity_milli(text) == milli


@pytest.mark.parametrize("text", INVALID)
def test_invalid_quantities(text: object) -> None:
    """Each invalid quantity raises ValueError whose message quotes the value."""
    with pytest.raises(ValueError, match="quantity") as info:
        parse_quantity(text)  # type: ignore[arg-type]
    assert repr(text) in str(info.value) or repr(str(text).strip()) in str(info.value)


# (value, binary?, text)
FORMAT = [
    (0, False, "0"),
    (1000, False, "1k"),
    (1500, False, "1500"),
    (2**30, True, "1Gi"),
    (3 * 2**20, True, "3Mi"),
    (1000, True, "1000"),  # not a multiple of 1024
    (Fraction(1, 2), False, "500m"),
    (Fraction(1, 3), False, "333333334n"),  # rounded up to the next nano
]


@pytest.mark.parametrize(("value", "binary", "text"), FORMAT)
def test_format_quantity(value: int | Fraction, binary: bool, text: str) -> None:
    """format_quantity renders the canonical text, which parses back (up to nano rounding)."""
    assert format_quantity(value, binary=binary) == text
    assert abs(parse_quantity(text) - Fraction(value)) < Fraction(1, 10**9)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("10Gi", "10Gi"), (8, "8"), (2.0, "2.0"), (1.5, "1.5"), ("500m", "500m")],
)
def test_quantity_field_keeps_text(raw: object, stored: str) -> None:
    """The Quantity field stores the original string; numbers become their decimal text."""
    assert Counter.model_validate({"value": raw}).value == stored


@pytest.mark.parametrize("raw", ["abc", True, [1], {"a": 1}, float("inf")])
def test_quantity_field_rejects(raw: object) -> None:
    """The Quantity field rejects non-quantities with a message naming the value."""
    with pytest.raises(ValidationError) as info:
        Counter.model_validate({"value": raw})
    assert "quantity" in str(info.value)
