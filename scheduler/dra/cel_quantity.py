"""Kubernetes ``resource.Quantity`` as the CEL quantity library sees it.

The CEL quantity functions (``quantity``, ``isQuantity``, ``sign``, ``compareTo``,
``isGreaterThan``, ``isLessThan``, ``add``, ``sub``, ``asInteger``, ``isInteger``,
``asApproximateFloat``) are implemented on :class:`GoQuantity`, which keeps the two internal
representations of the Go type because ``isInteger``/``asInteger`` depend on them:

* ``int64Amount{value, scale}`` (value × 10^scale, value fits int64) - what ``ParseQuantity``
  builds for ordinary strings and what integer arithmetic keeps while it does not overflow;
* ``inf.Dec`` (unscaled × 10^-scale, unbounded) - used for everything else; ``AsInt64`` on it
  always fails, exactly as in Go.

``quantity("1000m").isInteger()`` is therefore ``false`` (as upstream: value 1000 at scale -3)
while ``quantity("1").isInteger()`` is ``true``. Values compare exactly.

:func:`parse_go_quantity` reproduces ``ParseQuantity`` (grammar, nano round-up, BinarySI cap)
and agrees with :func:`scheduler.api.quantity.parse_quantity` on every string the latter
accepts, up to the nano round-up; it additionally accepts the odd inputs Go accepts
(``"1e40"``, ``"."``, ``"-"``) so that ``isQuantity`` answers as upstream does. The one
deliberate difference: decimal exponents beyond ±:data:`MAX_EXPONENT` are rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from scheduler.dra import cel_objects

MAX_EXPONENT = 1000
"""Largest decimal exponent magnitude accepted (Go accepts any int32; such values would make
exact arithmetic here build numbers with billions of digits)."""
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_NANO = -9
_MAX_INT64_FACTORS = 18
_DEC_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")


def _wrap(value: int) -> int:
    value &= 2**64 - 1
    return value - 2**64 if value >= 2**63 else value


def _int64_multiply(a: int, b: int) -> tuple[int, bool]:
    if a == 0 or b == 0:
        return 0, True
    if a == 1:
        return b, True
    if b == 1:
        return a, True
    if _INT64_MIN in (a, b):
        return 0, False
    product = a * b
    return _wrap(product), _INT64_MIN <= product <= _INT64_MAX


def _int64_add(a: int, b: int) -> tuple[int, bool]:
    total = a + b
    return _wrap(total), _INT64_MIN <= total <= _INT64_MAX


def _positive_scale(base: int, scale: int) -> tuple[int, bool]:
    value = base
    for _ in range(scale):
        value, ok = _int64_multiply(value, 10)
        if not ok:
            return 0, False
    return value, True


@dataclass(frozen=True)
class GoQuantity:
    """One quantity in Go's representation.

    ``is_dec`` False: ``value`` × 10^``scale`` with ``value`` in int64 range (int64Amount).
    ``is_dec`` True: ``value`` × 10^``scale`` with unbounded ``value`` (inf.Dec; Go stores the
    negated scale).
    """

    value: int
    scale: int
    is_dec: bool

    @property
    def exact(self) -> Fraction:
        """The exact numeric value."""
        return Fraction(self.value) * Fraction(10) ** self.scale

    def as_int64(self) -> int | None:
        """``Quantity.AsInt64``: the integer value, or None when Go reports failure."""
        if self.is_dec or self.scale < 0:
            return None
        if self.scale == 0:
            return self.value
        result, ok = _positive_scale(self.value, self.scale)
        return result if ok else None

    def sign(self) -> int:
        """``Quantity.Sign``."""
        return (self.value > 0) - (self.value < 0)

    def compare(self, other: GoQuantity) -> int:
        """``Quantity.Cmp``: exact comparison."""
        scale = min(self.scale, other.scale)
        left: int = self.value * 10 ** (self.scale - scale)
        right: int = other.value * 10 ** (other.scale - scale)
        return (left > right) - (left < right)

    def add(self, other: GoQuantity) -> GoQuantity:
        """``Quantity.Add`` (receiver copy), keeping Go's representation rules."""
        if not self.is_dec and not other.is_dec:
            summed = _int_amount_add(self.value, self.scale, other.value, other.scale)
            if summed is not None:
                return GoQuantity(summed[0], summed[1], is_dec=False)
        return _dec_add(self, other)

    def sub(self, other: GoQuantity) -> GoQuantity:
        """``Quantity.Sub`` (receiver copy); int64Amount negation wraps like Go."""
        if not self.is_dec and not other.is_dec:
            summed = _int_amount_add(self.value, self.scale, _wrap(-other.value), other.scale)
            if summed is not None:
                return GoQuantity(summed[0], summed[1], is_dec=False)
        return _dec_add(self, GoQuantity(-other.value, other.scale, is_dec=True))

    def approximate_float(self) -> float:
        """``Quantity.AsApproximateFloat64``: base × Pow10(exponent) in float64."""
        try:
            base = float(self.value)
        except OverflowError:
            base = math.copysign(math.inf, self.value)
        if self.scale == 0:
            return base
        return base * _pow10(self.scale)


def _int_amount_add(a: int, a_scale: int, b: int, b_scale: int) -> tuple[int, int] | None:
    if b == 0:
        return a, a_scale
    if a == 0:
        return b, b_scale
    if a_scale == b_scale:
        total, ok = _int64_add(a, b)
        return (total, a_scale) if ok else None
    if a_scale > b_scale:
        scaled, ok = _positive_scale(a, a_scale - b_scale)
        if not ok:
            return None
        total, ok = _int64_add(scaled, b)
        return (total, b_scale) if ok else None
    scaled, ok = _positive_scale(b, b_scale - a_scale)
    if not ok:
        return None
    total, ok = _int64_add(a, scaled)
    return (total, a_scale) if ok else None


def _dec_add(a: GoQuantity, b: GoQuantity) -> GoQuantity:
    scale = min(a.scale, b.scale)
    total = a.value * 10 ** (a.scale - scale) + b.value * 10 ** (b.scale - scale)
    return GoQuantity(total, scale, is_dec=True)


_POW10 = [float(10**i) for i in range(32)]
_POW10_POS32 = [1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288]
_POW10_NEG32 = [1e-0, 1e-32, 1e-64, 1e-96, 1e-128, 1e-160, 1e-192, 1e-224, 1e-256, 1e-288, 1e-320]


def _pow10(n: int) -> float:
    """Go's ``math.Pow10`` (table based, same rounding)."""
    if 0 <= n <= 308:
        return _POW10_POS32[n // 32] * _POW10[n % 32]
    if -323 <= n <= 0:
        return _POW10_NEG32[(-n) // 32] / _POW10[(-n) % 32]
    return math.inf if n > 0 else 0.0


def _split_quantity(text: str) -> tuple[bool, str, str, str, str]:
    """Go's ``parseQuantityString``: (positive, value, num, denom, suffix)."""
    pos, end, positive = 0, len(text), True
    if text[0] == "-":
        positive, pos = False, 1
    elif text[0] == "+":
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, text, "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(f"quantity {text!r}: quantities must match the regular expression")
    return positive, value, num, denom, text[suffix_start:]


def _interpret_suffix(suffix: str, text: str) -> tuple[int, int, str]:
    """(base, exponent, format) like Go's suffixHandler.interpret."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        if body and set(body) <= _DIGITS:
            exponent = int(digits)
            if -(2**63) <= exponent < 2**63:
                exponent = _wrap(exponent) & 0xFFFFFFFF
                exponent = exponent - 2**32 if exponent >= 2**31 else exponent
                if abs(exponent) > MAX_EXPONENT:
                    raise ValueError(
                        f"quantity {text!r}: exponent {exponent} beyond the supported "
                        f"±{MAX_EXPONENT}"
                    )
                return 10, exponent, "DecimalExponent"
    raise ValueError(f"quantity {text!r}: unable to parse quantity's suffix")


@lru_cache(maxsize=4096)
def parse_go_quantity(text: str) -> GoQuantity:
    """``resource.ParseQuantity``; raise ValueError naming the offending text."""
    if not text:
        raise ValueError("quantity '': quantities must match the regular expression")
    if text == "0":
        return GoQuantity(0, 0, is_dec=False)
    positive, value, num, denom, suffix = _split_quantity(text)
    base, exponent, fmt = _interpret_suffix(suffix, text)
    precision, scale, mantissa = 0, 0, 1
    if fmt in ("DecimalSI", "DecimalExponent"):
        scale = exponent
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
    elif exponent >= 0 and not denom:
        mantissa = 1 << exponent
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        precision = -1
    if precision >= 0:
        scale -= len(denom)
        if scale >= _NANO:
            shifted = int(num + denom)
            if shifted > _INT64_MAX:
                raise ValueError(f"quantity {text!r}: unable to parse numeric part of quantity")
            result, ok = _int64_multiply(shifted, mantissa)
            if ok:
                return GoQuantity(result if positive else -result, scale, is_dec=False)
    return _parse_dec(text, value, base, exponent, fmt)


def _parse_dec(text: str, value: str, base: int, exponent: int, fmt: str) -> GoQuantity:
    body = value.lstrip("+-")
    negative = value.startswith("-")
    whole, _, frac = body.partition(".")
    if not (whole + frac) or not set(whole + frac) <= _DIGITS:
        raise ValueError(f"quantity {text!r}: unable to parse numeric part of quantity")
    unscaled, scale = int(whole + frac), -len(frac)
    if base == 10:
        scale += exponent
    else:
        unscaled <<= exponent
    if unscaled != 0:
        # inf.Dec.Round(amount, 9, RoundUp): always ends at nano scale, rounding away from 0.
        nanos = Fraction(unscaled) * Fraction(10) ** (scale + 9)
        unscaled, scale = math.ceil(nanos), _NANO
    if fmt == "BinarySI" and Fraction(unscaled) * Fraction(10) ** scale > _INT64_MAX:
        unscaled, scale = _INT64_MAX, 0
    return GoQuantity(-unscaled if negative else unscaled, scale, is_dec=True)


@lru_cache(maxsize=4096)
def quantity_from_exact(value: Fraction) -> GoQuantity:
    """The quantity Go would hold for an exact slice capacity value.

    Integers in int64 range become ``int64Amount{v, 0}``; other values that are whole in
    milli/micro/nano units become ``int64Amount`` at that scale; anything else is rounded up
    (away from zero) to nano like ``ParseQuantity`` and held as ``inf.Dec``.
    """
    for scale in (0, -3, -6, -9):
        scaled = value * Fraction(10) ** (-scale)
        if scaled.denominator == 1 and _INT64_MIN <= scaled.numerator <= _INT64_MAX:
            return GoQuantity(scaled.numerator, scale, is_dec=False)
    nanos = value * 10**9
    rounded = math.ceil(abs(nanos)) * (1 if nanos >= 0 else -1)
    return GoQuantity(rounded, _NANO, is_dec=True)


def quantity_encoding(quantity: GoQuantity) -> str:
    """The text a runtime ``kubernetes.Quantity`` object carries."""
    kind = "D" if quantity.is_dec else "I"
    return f"{kind}:{quantity.value}:{quantity.scale}"


def quantity_to_cel(quantity: GoQuantity) -> Any:
    """The CEL runtime object for a quantity."""
    return cel_objects.make(cel_objects.QUANTITY, quantity_encoding(quantity))


@lru_cache(maxsize=8192)
def _decode(text: str) -> GoQuantity:
    kind, value, scale = text.split(":")
    return GoQuantity(int(value), int(scale), is_dec=kind == "D")


def quantity_from_cel(value: Any) -> GoQuantity | None:
    """Decode a runtime value produced by :func:`quantity_to_cel`, else None."""
    text = cel_objects.encoded(value, cel_objects.QUANTITY)
    return None if text is None else _decode(text)


def _require(value: Any) -> GoQuantity:
    quantity = quantity_from_cel(value)
    if quantity is None:
        raise TypeError("no such overload")
    return quantity


def cel_quantity(text: Any) -> Any:
    """CEL ``quantity(string)``."""
    if not isinstance(text, str):
        raise TypeError("no such overload")
    return quantity_to_cel(parse_go_quantity(text))


def cel_is_quantity(text: Any) -> bool:
    """CEL ``isQuantity(string)``."""
    if not isinstance(text, str):
        raise TypeError("no such overload")
    try:
        parse_go_quantity(text)
    except ValueError:
        return False
    return True


def cel_sign(value: Any) -> int:
    """CEL ``sign(Quantity)``."""
    return _require(value).sign()


def cel_is_integer(value: Any) -> bool:
    """CEL ``<Quantity>.isInteger()``."""
    return _require(value).as_int64() is not None


def cel_as_integer(value: Any) -> int:
    """CEL ``<Quantity>.asInteger()``; error when Go's AsInt64 fails."""
    result = _require(value).as_int64()
    if result is None:
        raise ValueError("cannot convert value to integer")
    return result


def cel_as_approximate_float(value: Any) -> float:
    """CEL ``<Quantity>.asApproximateFloat()``."""
    return _require(value).approximate_float()


def _operand(value: Any) -> GoQuantity:
    if isinstance(value, bool):
        raise TypeError("no such overload")
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("integer overflow")
        return GoQuantity(value, 0, is_dec=False)
    return _require(value)


def cel_add(receiver: Any, other: Any) -> Any:
    """CEL ``<Quantity>.add(Quantity|int)``."""
    return quantity_to_cel(_require(receiver).add(_operand(other)))


def cel_sub(receiver: Any, other: Any) -> Any:
    """CEL ``<Quantity>.sub(Quantity|int)``."""
    return quantity_to_cel(_require(receiver).sub(_operand(other)))


def quantity_compare(receiver: Any, other: Any) -> int | None:
    """Cmp of two encoded quantities, or None when either is not a quantity."""
    left, right = quantity_from_cel(receiver), quantity_from_cel(other)
    if left is None or right is None:
        return None
    return left.compare(right)
