"""Property tests: quantity and semver ordering through CEL, quantity parsing consistency."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from scheduler.api.quantity import parse_quantity
from scheduler.dra.cel import CelDevice, CelEnvironment, SemVer
from scheduler.dra.cel_quantity import parse_go_quantity

ENV = CelEnvironment(consumable_capacity=False)
INT64 = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
QUANTITY_ORDER = ENV.compile(
    'quantity(device.attributes["d"].a).compareTo(quantity(device.attributes["d"].b))'
    ' == device.attributes["d"].want'
)
SEMVER_ORDER = ENV.compile(
    'cel.bind(d, device.attributes["d"], '
    "d.a.compareTo(d.b) == d.want && d.a.isLessThan(d.b) == (d.want == -1))"
)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


@settings(max_examples=150, deadline=None)
@given(a=INT64, b=INT64)
def test_quantity_compare_matches_integer_order(a: int, b: int) -> None:
    """quantity(str(a)).compareTo(quantity(str(b))) is the sign of a - b."""
    device = CelDevice("d", {"a": str(a), "b": str(b), "want": _sign(a - b)}, {})
    assert QUANTITY_ORDER.matches(device) is True


SEMVER_PART = st.integers(min_value=0, max_value=2**40)


@settings(max_examples=150, deadline=None)
@given(
    a=st.tuples(SEMVER_PART, SEMVER_PART, SEMVER_PART),
    b=st.tuples(SEMVER_PART, SEMVER_PART, SEMVER_PART),
)
def test_semver_triples_order_like_tuples(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    """Release versions compare exactly like their (major, minor, patch) tuples."""
    want = (a > b) - (a < b)
    device = CelDevice("d", {"a": SemVer(*a), "b": SemVer(*b), "want": want}, {})
    assert SEMVER_ORDER.matches(device) is True


QUANTITY_TEXT = st.builds(
    lambda sign, whole, frac, suffix: f"{sign}{whole}{frac}{suffix}",
    st.sampled_from(["", "-", "+"]),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.one_of(st.just(""), st.integers(min_value=0, max_value=10**6).map(lambda f: f".{f}")),
    st.sampled_from(
        ["", "m", "u", "n", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti", "e3", "e-2", "E6"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(text=QUANTITY_TEXT)
def test_go_parse_agrees_with_api_parser(text: str) -> None:
    """Where the API parser accepts a string, Go's parse gives the same value rounded up to
    a nano (away from zero)."""
    try:
        exact = parse_quantity(text)
    except ValueError:
        reject()
    parsed = parse_go_quantity(text).exact
    nanos = exact * 10**9
    away_from_zero = math.ceil(abs(nanos)) * (1 if nanos >= 0 else -1)
    assert parsed == (exact if nanos.denominator == 1 else Fraction(away_from_zero, 10**9))
