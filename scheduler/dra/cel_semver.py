"""Semantic versions for DRA ``version`` attributes and the Kubernetes CEL semver library.

:class:`SemVer` is the value type the allocator stores for a ``version`` attribute. Parsing
follows the strict semver 2.0.0 grammar exactly as ``blang/semver/v4`` ``Parse`` accepts it
(what kube-scheduler uses when it converts a device for CEL); :meth:`SemVer.parse` raises
:class:`ValueError` naming the offending text. Ordering is semver precedence (build metadata
ignored); ``==`` between two :class:`SemVer` objects is structural (build metadata included),
use :meth:`SemVer.compare` for precedence equality.

The CEL functions (``semver``, ``isSemver``, ``compareTo``, ``isGreaterThan``, ``isLessThan``,
``major``, ``minor``, ``patch``) are implemented here on the runtime encoding produced by
:func:`semver_to_cel`; :mod:`scheduler.dra.cel_libs` registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scheduler.dra import cel_objects

_DIGITS = frozenset("0123456789")
_ALNUM = frozenset("-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_UINT64_MAX = 2**64 - 1


def _parse_uint(part: str, what: str, text: str) -> int:
    if not part or not set(part) <= _DIGITS:
        raise ValueError(f"semver {text!r}: invalid character(s) found in {what} number {part!r}")
    if len(part) > 1 and part[0] == "0":
        raise ValueError(f"semver {text!r}: {what} number must not contain leading zeroes {part!r}")
    value = int(part)
    if value > _UINT64_MAX:
        raise ValueError(f"semver {text!r}: {what} number {part!r} out of range")
    return value


def _parse_prerelease(part: str, text: str) -> str | int:
    if not part:
        raise ValueError(f"semver {text!r}: prerelease is empty")
    if set(part) <= _DIGITS:
        if len(part) > 1 and part[0] == "0":
            raise ValueError(
                f"semver {text!r}: numeric prerelease version must not contain leading "
                f"zeroes {part!r}"
            )
        return int(part)
    if not set(part) <= _ALNUM:
        raise ValueError(f"semver {text!r}: invalid character(s) found in prerelease {part!r}")
    return part


def _compare_prerelease(left: tuple[str | int, ...], right: tuple[str | int, ...]) -> int:
    if not left and not right:
        return 0
    if not left:
        return 1
    if not right:
        return -1
    for a, b in zip(left, right, strict=False):
        if a == b:
            continue
        if isinstance(a, int) and isinstance(b, int):
            return 1 if a > b else -1
        if isinstance(a, int):
            return -1
        if isinstance(b, int):
            return 1
        return 1 if a > b else -1
    if len(left) == len(right):
        return 0
    return -1 if len(left) < len(right) else 1


@dataclass(frozen=True)
class SemVer:
    """One semantic version (semver 2.0.0).

    ``prerelease`` holds the dot-separated identifiers (numeric ones as ``int``); ``build`` the
    build-metadata identifiers. Construct with :meth:`parse`.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str | int, ...] = ()
    build: tuple[str, ...] = ()

    @staticmethod
    def parse(text: str) -> SemVer:
        """Parse strict semver 2.0.0 text; raise ValueError naming the offending part."""
        return _parse_strict(text)

    @staticmethod
    def parse_normalized(text: str) -> SemVer:
        """Parse like CEL ``semver(text, true)``: drop a leading ``v``, pad ``1`` / ``1.2``
        to three components and strip leading zeros before the strict parse."""
        return _parse_normalized(text)

    def compare(self, other: SemVer) -> int:
        """Semver precedence: -1, 0 or 1; build metadata is ignored."""
        mine = (self.major, self.minor, self.patch)
        theirs = (other.major, other.minor, other.patch)
        if mine != theirs:
            return 1 if mine > theirs else -1
        return _compare_prerelease(self.prerelease, other.prerelease)

    def __lt__(self, other: SemVer) -> bool:
        return self.compare(other) < 0

    def __le__(self, other: SemVer) -> bool:
        return self.compare(other) <= 0

    def __gt__(self, other: SemVer) -> bool:
        return self.compare(other) > 0

    def __ge__(self, other: SemVer) -> bool:
        return self.compare(other) >= 0

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


@lru_cache(maxsize=4096)
def _parse_strict(text: str) -> SemVer:
    if not isinstance(text, str):
        raise ValueError(f"semver {text!r}: expected a string")
    if not text:
        raise ValueError("semver '': version string empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise ValueError(f"semver {text!r}: no Major.Minor.Patch elements found")
    major = _parse_uint(parts[0], "major", text)
    minor = _parse_uint(parts[1], "minor", text)
    rest = parts[2]
    build: tuple[str, ...] = ()
    prerelease: tuple[str | int, ...] = ()
    plus = rest.find("+")
    if plus != -1:
        build_parts = rest[plus + 1 :].split(".")
        for item in build_parts:
            if not item:
                raise ValueError(f"semver {text!r}: build meta data is empty")
            if not set(item) <= _ALNUM:
                raise ValueError(
                    f"semver {text!r}: invalid character(s) found in build meta data {item!r}"
                )
        build = tuple(build_parts)
        rest = rest[:plus]
    dash = rest.find("-")
    if dash != -1:
        prerelease = tuple(_parse_prerelease(p, text) for p in rest[dash + 1 :].split("."))
        rest = rest[:dash]
    patch = _parse_uint(rest, "patch", text)
    return SemVer(major, minor, patch, prerelease, build)


@lru_cache(maxsize=1024)
def _parse_normalized(text: str) -> SemVer:
    stripped = text.removeprefix("v")
    parts = stripped.split(".", 2)
    for index, part in enumerate(parts):
        if len(part) > 1:
            trimmed = part.lstrip("0")
            if not trimmed or trimmed[0] not in _DIGITS:
                trimmed = "0" + trimmed
            parts[index] = trimmed
    if len(parts) < 3:
        if "+" in parts[-1] or "-" in parts[-1]:
            raise ValueError(
                f"semver {text!r}: short version cannot contain PreRelease/Build meta data"
            )
        parts.extend("0" for _ in range(3 - len(parts)))
    return _parse_strict(".".join(parts))


def semver_to_cel(version: SemVer) -> Any:
    """The CEL runtime object for a version."""
    return cel_objects.make(cel_objects.SEMVER, str(version))


def semver_from_cel(value: Any) -> SemVer | None:
    """Decode a runtime value produced by :func:`semver_to_cel`, else None."""
    text = cel_objects.encoded(value, cel_objects.SEMVER)
    return None if text is None else _parse_strict(text)


def _wrap64(value: int) -> int:
    """Go's ``int64(uint64)`` conversion."""
    value &= _UINT64_MAX
    return value - 2**64 if value >= 2**63 else value


def cel_semver(text: Any, normalize: Any = False) -> Any:
    """CEL ``semver(string[, bool])``."""
    if not isinstance(text, str) or not isinstance(normalize, bool):
        raise TypeError("no such overload")
    version = _parse_normalized(text) if normalize else _parse_strict(text)
    return semver_to_cel(version)


def cel_is_semver(text: Any, normalize: Any = False) -> bool:
    """CEL ``isSemver(string[, bool])``."""
    if not isinstance(text, str) or not isinstance(normalize, bool):
        raise TypeError("no such overload")
    try:
        if normalize:
            _parse_normalized(text)
        else:
            _parse_strict(text)
    except ValueError:
        return False
    return True


def semver_component(value: Any, which: str) -> int:
    """CEL ``major()`` / ``minor()`` / ``patch()`` (uint64 wrapped to int64 like Go)."""
    version = semver_from_cel(value)
    if version is None:
        raise TypeError("no such overload")
    number: int = getattr(version, which)
    return _wrap64(number)
