"""Go durations (``metav1.Duration``): ``"30s"``, ``"1m30s"``, ``"1.5h"``, ``"300ms"``.

Kubernetes configuration files write durations as Go ``time.Duration`` strings;
``metav1.Duration`` decodes them with ``time.ParseDuration`` and encodes them with
``Duration.String()``. :func:`parse_go_duration` and :func:`format_go_duration` reproduce both
(Go ``src/time/format.go``), in integer nanoseconds, including Go's error texts. A YAML number
is not a duration (``metav1.Duration`` only accepts a JSON string), nor is ``null`` (it reaches
``ParseDuration`` as the empty string).

:data:`GoDuration` is the pydantic field type: it validates a string into nanoseconds and
dumps nanoseconds back to the Go string.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

__all__ = [
    "NANOSECONDS_PER_SECOND",
    "GoDuration",
    "format_go_duration",
    "parse_go_duration",
]

NANOSECONDS_PER_SECOND = 1_000_000_000

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # U+00B5 micro sign
    "\u03bcs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": NANOSECONDS_PER_SECOND,
    "m": 60 * NANOSECONDS_PER_SECOND,
    "h": 3600 * NANOSECONDS_PER_SECOND,
}
_LIMIT = 1 << 63
_DIGITS = "0123456789"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _leading_int(text: str, orig: str) -> tuple[int, str]:
    """Go ``leadingInt``: the leading digits as an integer and the rest (error on overflow)."""
    i = 0
    value = 0
    while i < len(text) and text[i] in _DIGITS:
        if value > _LIMIT // 10:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        value = value * 10 + ord(text[i]) - ord("0")
        if value > _LIMIT:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        i += 1
    return value, text[i:]


def _leading_fraction(text: str) -> tuple[int, float, str]:
    """Go ``leadingFraction``: digits after the point, their scale, the rest.

    Digits past int64 precision are consumed but dropped, as in Go.
    """
    i = 0
    value = 0
    scale = 1.0
    overflow = False
    while i < len(text) and text[i] in _DIGITS:
        if not overflow:
            if value > (_LIMIT - 1) // 10:
                overflow = True
            else:
                candidate = value * 10 + ord(text[i]) - ord("0")
                if candidate > _LIMIT:
                    overflow = True
                else:
                    value = candidate
                    scale *= 10
        i += 1
    return value, scale, text[i:]


def parse_go_duration(text: str) -> int:
    """Go ``time.ParseDuration``: nanoseconds, or ValueError with Go's message.

    A sequence of decimal numbers, each with an optional fraction and a unit (``ns``, ``us``,
    ``µs``, ``ms``, ``s``, ``m``, ``h``), optionally signed; ``"0"`` needs no unit.
    """
    orig = text
    negative = False
    if text and text[0] in "-+":
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    total = 0
    while text:
        if text[0] != "." and text[0] not in _DIGITS:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        before = len(text)
        whole, text = _leading_int(text, orig)
        has_whole = before != len(text)
        frac, scale, has_frac = 0, 1.0, False
        if text.startswith("."):
            text = text[1:]
            before = len(text)
            frac, scale, text = _leading_fraction(text)
            has_frac = before != len(text)
        if not has_whole and not has_frac:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        i = 0
        while i < len(text) and text[i] != "." and text[i] not in _DIGITS:
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        unit_text, text = text[:i], text[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"time: unknown unit {_quote(unit_text)} in duration {_quote(orig)}")
        if whole > _LIMIT // unit:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        value = whole * unit
        if frac > 0:
            # Go computes the fractional part in float64, then truncates.
            value += int(float(frac) * (float(unit) / scale))
            if value > _LIMIT:
                raise ValueError(f"time: invalid duration {_quote(orig)}")
        total += value
        if total > _LIMIT:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
    if negative:
        return -total
    if total > _LIMIT - 1:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    return total


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go ``fmtFrac``: ``.ddd`` of ``value / 10**precision`` without trailing zeros, and the
    integer part."""
    digits = ""
    printed = False
    for _ in range(precision):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printed else ""), value


def format_go_duration(nanoseconds: int) -> str:
    """Go ``Duration.String()``: ``"0s"``, ``"300ms"``, ``"1.5s"``, ``"1m30s"``, ``"2h0m0s"``."""
    if nanoseconds == 0:
        return "0s"
    u = abs(nanoseconds)
    sign = "-" if nanoseconds < 0 else ""
    if u < NANOSECONDS_PER_SECOND:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _fraction(u, 3)
            return f"{sign}{whole}{frac}\u00b5s"
        frac, whole = _fraction(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, seconds = _fraction(u, 9)
    out = f"{seconds % 60}{frac}s"
    minutes = seconds // 60
    if minutes > 0:
        out = f"{minutes % 60}m{out}"
        hours = minutes // 60
        if hours > 0:
            out = f"{hours}h{out}"
    return sign + out


def _duration_input(value: object) -> int:
    """Accept what ``metav1.Duration.UnmarshalJSON`` accepts: a string; ``null`` is ``""``."""
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"duration must be a string such as '30s' or '1m30s', got {type(value).__name__} "
            f"{value!r}"
        )
    return parse_go_duration(value)


GoDuration = Annotated[
    int,
    BeforeValidator(_duration_input),
    PlainSerializer(format_go_duration, return_type=str),
]
"""A ``metav1.Duration`` field: a Go duration string in, integer nanoseconds inside."""
