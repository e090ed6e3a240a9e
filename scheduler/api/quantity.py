"""Kubernetes resource quantities, parsed exactly.

A quantity string (``"500m"``, ``"1Gi"``, ``"1.5"``, ``"2e3"``) is parsed to an exact
:class:`fractions.Fraction`; the integer views follow ``resource.Quantity``:

* :func:`quantity_value` is ``Quantity.Value()``: the value rounded **up** to an integer
  (bytes, counts, devices).
* :func:`quantity_milli` is ``Quantity.MilliValue()``: thousandths, rounded **up**
  (CPU in milli-cores).

Grammar (``k8s.io/apimachinery/pkg/api/resource``)::

    quantity  ::= sign? number suffix
    number    ::= digits | digits "." digits? | "." digits
    suffix    ::= "" | binarySI | decimalSI | ("e" | "E") sign? digits
    binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI ::= n | u | m | k | M | G | T | P | E

Every parse failure raises :class:`ValueError` whose message quotes the offending value.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_PATTERN = re.compile(
    r"^(?P<sign>[+-])?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
# Quantities are capped like the Go implementation's int64 scaled range; anything
# beyond 2^63 in whole units is rejected rather than silently wrapped.
_MAX_ABS = Fraction(2**63 - 1)


@lru_cache(maxsize=65536)
def _parse(text: str) -> Fraction:
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"quantity {text!r}: not a Kubernetes quantity (e.g. 500m, 1Gi, 2)")
    number = Fraction(
        match["number"] if not match["number"].endswith(".") else match["number"][:-1]
    )
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        number *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= _DECIMAL[suffix]
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 30:
            raise ValueError(f"quantity {text!r}: exponent {exponent} out of range")
        number *= Fraction(10) ** exponent
    if match["sign"] == "-":
        number = -number
    if abs(number) > _MAX_ABS:
        raise ValueError(f"quantity {text!r}: out of range")
    return number


def parse_quantity(value: str | int | float) -> Fraction:
    """Return the exact value of a quantity given as a string or a plain number.

    Integers are taken as-is; floats only when they are integral (YAML ``1.0``), since a
    binary float cannot be an exact quantity otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"quantity {value!r}: booleans are not quantities")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"quantity {value!r}: write fractional quantities as strings")
        return Fraction(int(value))
    if not isinstance(value, str):
        raise ValueError(f"quantity {value!r}: expected a string or a number")
    return _parse(value.strip())


def quantity_value(value: str | int | float) -> int:
    """``Quantity.Value()``: the value rounded up to a whole unit (bytes, counts)."""
    return math.ceil(parse_quantity(value))


def quantity_milli(value: str | int | float) -> int:
    """``Quantity.MilliValue()``: the value in thousandths, rounded up (milli-CPU)."""
    return math.ceil(parse_quantity(value) * 1000)


def format_quantity(value: int | Fraction, *, binary: bool = False) -> str:
    """Render an exact value as a canonical quantity string.

    Integers render with the largest suffix that keeps them whole (``binary`` picks
    ``Ki``…``Ei`` for byte-like values, else ``k``…``E``); fractions of a unit render in
    milli (``"1500m"``) or, when not whole in milli, nano units.
    """
    value = Fraction(value)
    if value.denominator != 1:
        for suffix, scale in (("m", 10**3), ("u", 10**6), ("n", 10**9)):
            scaled = value * scale
            if scaled.denominator == 1:
                return f"{scaled.numerator}{suffix}"
        return f"{math.ceil(value * 10**9)}n"
    whole = value.numerator
    if whole == 0:
        return "0"
    if binary:
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            if whole % _BINARY[suffix] == 0:
                return f"{whole // _BINARY[suffix]}{suffix}"
        return str(whole)
    for suffix in ("E", "P", "T", "G", "M", "k"):
        scale = _DECIMAL[suffix].numerator
        if whole % scale == 0:
            return f"{whole // scale}{suffix}"
    return str(whole)
