"""CycleState: per-pod, per-cycle scratch data shared between a plugin's extension points.

Each plugin keeps its data under its own private :class:`StateKey`, created once at module
level with the type of the value; :meth:`CycleState.read` returns that type, so data flows
from PreFilter to Filter to Reserve without casts. Plugins never read each other's keys.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class StateKey(Generic[T]):
    """A typed key; identity (not the name) is what matters."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StateKey({self.name!r})"


class CycleState:
    """A typed dictionary scoped to one scheduling cycle of one pod (or gang)."""

    __slots__ = ("_data", "skip_filter", "skip_score")

    def __init__(self) -> None:
        self._data: dict[object, object] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def write(self, key: StateKey[T], value: T) -> None:
        """Store a value under a plugin's key."""
        self._data[key] = value

    def read(self, key: StateKey[T]) -> T:
        """The value under ``key``; KeyError naming the key when absent."""
        try:
            return self._data[key]  # type: ignore[return-value]  # keys are typed by construction
        except KeyError:
            raise KeyError(f"cycle state has no {key.name!r} (did PreFilter run?)") from None

    def get(self, key: StateKey[T]) -> T | None:
        """The value under ``key``, or None."""
        return self._data.get(key)  # type: ignore[return-value]  # keys are typed by construction
