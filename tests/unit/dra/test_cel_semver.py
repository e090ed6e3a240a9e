"""SemVer values (DRA version attributes) and the Kubernetes CEL semver library."""

from __future__ import annotations

import itertools

import pytest

from scheduler.dra.cel import CelDevice, CelEnvironment, CelError, SemVer

ENV = CelEnvironment(consumable_capacity=False)
DEVICE = CelDevice("dra.example.com", {"version": SemVer.parse("1.2.3-rc.1+build.5")}, {})


def matches(expression: str) -> bool:
    return ENV.compile(expression).matches(DEVICE)


PARSE_VALID = [
    ("1.2.3", SemVer(1, 2, 3)),
    ("0.0.0", SemVer(0, 0, 0)),
    ("1.0.0-alpha.1", SemVer(1, 0, 0, ("alpha", 1))),
    ("1.0.0-x-y.0", SemVer(1, 0, 0, ("x-y", 0))),  # first "-" starts the prerelease
    ("1.0.0+build.01", SemVer(1, 0, 0, (), ("build", "01"))),  # build ids may have zeros
    ("1.0.0-rc.1+b", SemVer(1, 0, 0, ("rc", 1), ("b",))),
    ("18446744073709551615.0.0", SemVer(2**64 - 1, 0, 0)),  # uint64 max
]


@pytest.mark.parametrize(("text", "expected"), PARSE_VALID)
def test_parse_valid(text: str, expected: SemVer) -> None:
    """Strict semver 2.0.0 strings parse into their components and print back."""
    version = SemVer.parse(text)
    assert version == expected
    assert str(version) == text


PARSE_INVALID = [
    "",
    "1.2",
    "v1.2.3",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "1.2.3-",
    "1.2.3-01",
    "1.2.3-a..b",
    "1.2.3+",
    "1.2.3+a_b",
    "1.2.x",
    "18446744073709551616.0.0",
]


@pytest.mark.parametrize("text", PARSE_INVALID)
def test_parse_invalid(text: str) -> None:
    """Non-semver strings raise ValueError quoting the text."""
    with pytest.raises(ValueError, match="semver"):
        SemVer.parse(text)


PRECEDENCE = [
    # semver.org §11 example chain, lowest first
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "2.0.0",
]


def test_precedence_chain() -> None:
    """Every pair of the semver.org precedence chain compares in chain order."""
    versions = [SemVer.parse(v) for v in PRECEDENCE]
    for (i, a), (j, b) in itertools.product(enumerate(versions), repeat=2):
        assert a.compare(b) == (i > j) - (i < j), (a, b)


def test_build_metadata_ignored_by_precedence() -> None:
    """Build metadata does not change precedence but does change structural equality."""
    a, b = SemVer.parse("1.0.0+a"), SemVer.parse("1.0.0+b")
    assert a.compare(b) == 0
    assert a != b
    assert a <= b and a >= b and not a < b


NORMALIZED = [
    ("v1.2.3", "1.2.3"),
    ("1", "1.0.0"),
    ("1.2", "1.2.0"),
    ("01.02.03", "1.2.3"),
    ("v1.0.0-beta", "1.0.0-beta"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZED)
def test_normalized_parse(text: str, expected: str) -> None:
    """semver(x, true) strips ``v``, pads to three parts and drops leading zeros."""
    assert str(SemVer.parse_normalized(text)) == expected


def test_short_version_with_prerelease_is_rejected() -> None:
    """A padded short version may not carry prerelease or build data."""
    with pytest.raises(ValueError, match="short version"):
        SemVer.parse_normalized("1.0-beta")


SEMVER_TRUE = [
    'device.attributes["dra.example.com"].version.major() == 1',
    'device.attributes["dra.example.com"].version.minor() == 2',
    'device.attributes["dra.example.com"].version.patch() == 3',
    # 1.2.3-rc.1 < 1.2.3 (prerelease sorts before the release)
    'device.attributes["dra.example.com"].version.isLessThan(semver("1.2.3"))',
    'device.attributes["dra.example.com"].version.isGreaterThan(semver("1.2.3-rc.0"))',
    'device.attributes["dra.example.com"].version.compareTo(semver("1.2.3-rc.1")) == 0',
    'device.attributes["dra.example.com"].version == semver("1.2.3-rc.1")',  # build ignored
    'semver("1.2.3").compareTo(semver("2.0.0")) == -1',
    'semver("1.2.3").compareTo(semver("0.1.2")) == 1',
    'semver("1.0.0+a") == semver("1.0.0+b")',
    'semver("v1.0", true) == semver("1.0.0")',
    'semver("01.01.01", true).patch() == 1',
    'isSemver("1.0.0") && !isSemver("hello") && !isSemver("v1.0") && isSemver("v1.0", true)',
    'semver("18446744073709551615.0.0").major() == -1',  # Go's int64(uint64) wraps
]


@pytest.mark.parametrize("expression", SEMVER_TRUE)
def test_semver_functions(expression: str) -> None:
    """Semver functions give the hand-checked results on the sample device."""
    assert matches(expression) is True


SEMVER_ERRORS = [
    ('semver("200K").major() == 1', "semver '200K'"),
    ('semver("01.0.0").major() == 1', "leading zeroes"),
    ('semver("1.0-beta", true).major() == 1', "short version"),
]


@pytest.mark.parametrize(("expression", "message"), SEMVER_ERRORS)
def test_semver_errors(expression: str, message: str) -> None:
    """Unparsable versions are runtime errors naming the text."""
    with pytest.raises(CelError, match=message) as info:
        matches(expression)
    assert info.value.kind == "runtime"


def test_semver_is_not_orderable_with_operators() -> None:
    """``<`` between semvers does not type-check upstream, so it is a compile error."""
    with pytest.raises(CelError, match="no matching overload") as info:
        ENV.compile('semver("1.0.0") < semver("2.0.0")')
    assert info.value.kind == "compile"
