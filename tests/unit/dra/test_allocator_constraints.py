"""Claim constraints (docs/semantics/dra.md §4.5): which requests a constraint affects, attribute
lookup by fully-qualified name, and incremental add/remove as the search backtracks."""

from __future__ import annotations

import pytest

from scheduler.dra.constraints import DistinctAttribute, MatchAttribute
from scheduler.dra.inventory import CompiledDevice, TypedAttribute, lookup_attribute

DRIVER = "driver-a"


def dev(name: str, **attributes: TypedAttribute) -> CompiledDevice:
    """A device with the given attributes (keyword ``x__y`` stands for ``x/y``)."""
    attrs = {k.replace("__", "/").replace("_DOT_", "."): v for k, v in attributes.items()}
    return CompiledDevice(name=name, attributes=attrs, capacity={})


SCOPE_TABLE = [
    # constraint requests, (base, sub) of the device's request, affected
    ((), ("req-0", ""), True),  # empty list: every request
    ((), ("req-0", "sub-1"), True),
    (("req-0",), ("req-0", ""), True),
    (("req-0",), ("req-1", ""), False),
    (("req-0",), ("req-0", "sub-1"), True),  # base name covers every alternative
    (("req-0/sub-1",), ("req-0", "sub-1"), True),
    (("req-0/sub-1",), ("req-0", "sub-0"), False),  # another alternative
    (("req-0/sub-1",), ("req-0", ""), False),  # a plain request is not its subrequest
]


@pytest.mark.parametrize(("requests", "who", "affected"), SCOPE_TABLE)
def test_scope(requests: tuple[str, ...], who: tuple[str, str], affected: bool) -> None:
    """A constraint applies to listed requests, ``req`` covering ``req/sub`` (not vice versa)."""
    base, sub = who
    lacking = dev("lacking")  # no attribute: rejected exactly when the constraint applies
    assert MatchAttribute(requests, f"{DRIVER}/numa").add(base, sub, DRIVER, lacking) is (
        not affected
    )
    assert DistinctAttribute(requests, f"{DRIVER}/numa").add(base, sub, DRIVER, lacking) is (
        not affected
    )


LOOKUP_TABLE = [
    # device attributes, constraint name, found value
    ({"numa": ("int", 0)}, "driver-a/numa", ("int", 0)),  # bare id in the driver's domain
    ({"driver-a/numa": ("int", 1)}, "driver-a/numa", ("int", 1)),  # written qualified
    ({"numa": ("int", 0)}, "other.example.com/numa", None),  # no fallback to a foreign domain
    ({"other.example.com/numa": ("int", 2)}, "other.example.com/numa", ("int", 2)),
    ({"numa": ("int", 0), "driver-a/numa": ("int", 3)}, "driver-a/numa", ("int", 3)),  # exact first
    ({}, "driver-a/numa", None),
]


@pytest.mark.parametrize(("attributes", "name", "found"), LOOKUP_TABLE)
def test_lookup(
    attributes: dict[str, TypedAttribute], name: str, found: TypedAttribute | None
) -> None:
    """``dom/id`` is looked up exactly, then as ``id`` only when ``dom`` is the driver."""
    d = CompiledDevice(name="d", attributes=attributes, capacity={})
    assert lookup_attribute(d, DRIVER, name) == found


def test_match_attribute_add_remove_sequence() -> None:
    """The first device fixes the value; type and value must then match; undo frees it."""
    c = MatchAttribute((), f"{DRIVER}/numa")
    assert c.add("req-0", "", DRIVER, dev("a", numa=("int", 1)))  # first: fixes int 1
    assert not c.add("req-0", "", DRIVER, dev("b", numa=("string", "1")))  # string "1" != int 1
    assert not c.add("req-0", "", DRIVER, dev("c", numa=("int", 2)))  # int 2 != int 1
    assert c.add("req-0", "", DRIVER, dev("d", numa=("int", 1)))  # second device, same value
    c.remove("req-0", "")
    assert c.add("req-1", "", DRIVER, dev("e", numa=("int", 1)))  # still fixed to int 1
    c.remove("req-1", "")
    c.remove("req-0", "")  # the set is empty again
    assert c.add("req-0", "", DRIVER, dev("f", numa=("int", 7)))  # a new first value


def test_match_attribute_missing_rejects_even_first() -> None:
    """A device lacking the attribute is rejected even when the set is empty."""
    c = MatchAttribute((), f"{DRIVER}/numa")
    assert not c.add("req-0", "", DRIVER, dev("a"))
    assert c.add("req-0", "", DRIVER, dev("b", numa=("int", 0)))


@pytest.mark.parametrize(
    ("first", "second", "equal"),
    [
        (("bool", True), ("bool", True), True),
        (("bool", True), ("int", 1), False),  # same Python truthiness, different types
        (("version", "1.0.0"), ("version", "1.0.0"), True),
        (("version", "1.0.0"), ("version", "1.0.0+build.1"), False),  # compared as strings
        (("version", "1.0.0"), ("string", "1.0.0"), False),
        (("int", 0), ("bool", False), False),
    ],
)
def test_match_attribute_typed_equality(
    first: TypedAttribute, second: TypedAttribute, equal: bool
) -> None:
    """Equality is type + value (versions as strings)."""
    c = MatchAttribute((), f"{DRIVER}/x")
    assert c.add("req-0", "", DRIVER, dev("a", x=first))
    assert c.add("req-0", "", DRIVER, dev("b", x=second)) is equal


def test_distinct_attribute_add_remove_sequence() -> None:
    """Values must differ from every accepted one; remove undoes the latest accepted add."""
    c = DistinctAttribute((), f"{DRIVER}/root")
    assert c.add("req-0", "", DRIVER, dev("a", root=("string", "r0")))
    assert not c.add("req-0", "", DRIVER, dev("b", root=("string", "r0")))  # duplicate
    assert c.add("req-0", "", DRIVER, dev("c", root=("string", "r1")))
    assert c.add("req-1", "", DRIVER, dev("d", root=("int", 0)))  # int 0 differs from strings
    c.remove("req-1", "")  # drops int 0
    c.remove("req-0", "")  # drops r1
    assert c.add("req-0", "", DRIVER, dev("e", root=("string", "r1")))  # r1 free again
    assert not c.add("req-0", "", DRIVER, dev("f", root=("string", "r0")))  # r0 still held
    assert not c.add("req-0", "", DRIVER, dev("g"))  # lacking the attribute


def test_unaffected_requests_do_not_touch_state() -> None:
    """add/remove for a request outside the constraint's list change nothing."""
    m = MatchAttribute(("req-0",), f"{DRIVER}/numa")
    assert m.add("req-1", "", DRIVER, dev("a", numa=("int", 5)))  # not affected
    m.remove("req-1", "")
    assert m.add("req-0", "", DRIVER, dev("b", numa=("int", 1)))  # still the first device
    assert not m.add("req-0", "", DRIVER, dev("c", numa=("int", 5)))
    d = DistinctAttribute(("req-0",), f"{DRIVER}/numa")
    assert d.add("req-0", "", DRIVER, dev("a", numa=("int", 1)))
    assert d.add("req-1", "", DRIVER, dev("b", numa=("int", 1)))  # not affected
    d.remove("req-1", "")  # must not pop req-0's value
    assert not d.add("req-0", "", DRIVER, dev("c", numa=("int", 1)))
