"""Claim constraints: matchAttribute and distinctAttribute (docs/semantics/dra.md §4.5).

Constraints are checked incrementally while devices are picked and are assumed
monotonic (a rejected device is never accepted later in the same branch). Each constraint
object supports ``add`` (returns False to reject) and ``remove`` (undo of the most recent
accepted ``add`` for that device), mirroring the search's backtracking.
"""

from __future__ import annotations

from scheduler.dra.inventory import CompiledDevice, TypedAttribute, lookup_attribute


class _Scoped:
    """Which requests a constraint applies to (empty list = all requests)."""

    __slots__ = ("requests",)

    def __init__(self, requests: tuple[str, ...]) -> None:
        self.requests = frozenset(requests)

    def applies(self, base: str, sub: str) -> bool:
        """A device for ``base`` (or ``base/sub``) is affected by this constraint."""
        if not self.requests:
            return True
        if base in self.requests:
            return True
        return bool(sub) and f"{base}/{sub}" in self.requests


class MatchAttribute(_Scoped):
    """All affected devices must carry the same typed value of one attribute."""

    __slots__ = ("attribute", "count", "value")

    def __init__(self, requests: tuple[str, ...], attribute: str) -> None:
        super().__init__(requests)
        self.attribute = attribute
        self.value: TypedAttribute | None = None
        self.count = 0

    def add(self, base: str, sub: str, driver: str, device: CompiledDevice) -> bool:
        """Accept the device if it has the attribute and (after the first) the same value."""
        if not self.applies(base, sub):
            return True
        found = lookup_attribute(device, driver, self.attribute)
        if found is None:
            return False
        if self.count == 0:
            self.value = found
            self.count = 1
            return True
        kind, value = found
        assert self.value is not None
        if kind == "" or kind != self.value[0] or value != self.value[1]:
            return False
        self.count += 1
        return True

    def remove(self, base: str, sub: str) -> None:
        """Undo one accepted add."""
        if self.applies(base, sub):
            self.count -= 1


class DistinctAttribute(_Scoped):
    """Every affected device must carry a different typed value of one attribute.

    tessera keeps every accepted value (a multiset), so two devices of the same request
    are also kept distinct; upstream 1.35 remembers one value per request name
    (dra.md §9.5 quirk 7), which tessera deliberately does not reproduce.
    """

    __slots__ = ("attribute", "values")

    def __init__(self, requests: tuple[str, ...], attribute: str) -> None:
        super().__init__(requests)
        self.attribute = attribute
        self.values: list[TypedAttribute] = []

    def add(self, base: str, sub: str, driver: str, device: CompiledDevice) -> bool:
        """Accept the device if it has the attribute and no accepted device has its value."""
        if not self.applies(base, sub):
            return True
        found = lookup_attribute(device, driver, self.attribute)
        if found is None:
            return False
        if found[0] != "" and found in self.values:
            return False
        self.values.append(found)
        return True

    def remove(self, base: str, sub: str) -> None:
        """Undo the most recent accepted add."""
        if self.applies(base, sub):
            self.values.pop()


Constraint = MatchAttribute | DistinctAttribute
