"""Numeric bounds of the command-line options and of the spec fields that mean the same.

Every number a user types (or a spec holds) that sets how much work tessera does has one
documented window here, and every command checks it the same way: a value outside its
window, ``nan``, ``inf`` or a number too large to be meant (``1e300``) is a ``ValueError``
naming the option and the value — one line and exit code 2 under the CLI — before any input
is read. The windows are listed in ``docs/limits.md`` with their reasons.

Use a window as a typer option callback (``typer.Option("--ratio", callback=RATIO.option)``:
checked while the command line is parsed, ``None`` passes) or call :meth:`Window.check`
where the value is computed. Integer windows take :class:`int` values and refuse floats;
:func:`parse_seeds` is the ``--seeds`` syntax bounded by :data:`MAX_SEEDS`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TypeVar

from scheduler.api.limits import MAX_DURATION_SECONDS, MAX_TIMESTAMP, MIN_TIMESTAMP

__all__ = [
    "FAULT_TIME",
    "HORIZON",
    "MAX_SEED",
    "MAX_SEEDS",
    "PORT",
    "RATIO",
    "REALTIME",
    "SEED",
    "SIMULATED_SECONDS",
    "WORKERS",
    "Window",
    "check_timestamp",
    "parse_seeds",
]


_N = TypeVar("_N", int, float)


def _number(value: float) -> str:
    """A bound as people write it: ``315,360,000``, ``0.5``, ``1e+06``."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class Window:
    """A closed window ``[low, high]`` of an option (``low_open``: ``(low, high]``).

    ``name`` is what messages call the value (``--horizon``); ``unit`` follows the bounds
    in messages; ``integer`` refuses non-integers.
    """

    name: str
    low: float
    high: float
    unit: str = ""
    low_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        """The window as text: ``(0, 10] (a multiple of capacity)``."""
        left = "(" if self.low_open else "["
        unit = f" {self.unit}" if self.unit else ""
        return f"{left}{_number(self.low)}, {_number(self.high)}]{unit}"

    def problem(self, value: float) -> str | None:
        """Why ``value`` is outside the window, or None when it is inside."""
        if isinstance(value, bool):
            return "expected a number"
        if self.integer and not isinstance(value, int):
            return "expected an integer"
        if not isinstance(value, int) and not math.isfinite(value):
            return f"must be a finite number in {self.describe()}"
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            return f"must be in {self.describe()}"
        return None

    def check(self, value: float, shown: str | None = None, *, name: str | None = None) -> float:
        """``value`` when it is inside the window; ValueError ``<name> <value>: must be in
        ...`` otherwise (``shown``: the text the user typed, when it differs)."""
        found = self.problem(value)
        if found is not None:
            text = shown if shown is not None else _shown(value)
            raise ValueError(f"{name or self.name} {text}: {found}")
        return value

    def option(self, value: _N | None) -> _N | None:
        """A typer option callback: None passes, anything else is :meth:`check`-ed."""
        if value is not None:
            self.check(value)
        return value


def _shown(value: float) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return f"{value:g}" if abs(value) >= 1e16 else str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


SIMULATED_SECONDS = Window("simulated time", 0, MAX_DURATION_SECONDS, "seconds")
"""Any simulated time or duration: at most ten years (``MAX_DURATION_SECONDS``), the same
bound as trace durations, so times stay exact in a float and a replay stays bounded."""

HORIZON = Window("--horizon", 0, MAX_DURATION_SECONDS, "seconds", low_open=True)
"""``replay --horizon``: (0, ten years] of simulated time."""

FAULT_TIME = Window("--fault", 0, MAX_DURATION_SECONDS, "seconds")
"""The time of a ``replay --fault``: [0, ten years] of simulated time."""

MAX_SEED = 2**31 - 1
SEED = Window("--seed", 0, MAX_SEED, integer=True)
"""Seeds: [0, 2^31 − 1], what every random source tessera seeds (numpy, OR-Tools' CP-SAT
``random_seed``, an int32) accepts."""

MAX_SEEDS = 1_000
"""At most this many seeds in one ``--seeds`` matrix (each seed is a full run per policy)."""

RATIO = Window("--ratio", 0, 10, "x GPU capacity", low_open=True)
"""``inflate --ratio``: (0, 10] — the FGD experiment uses 1.3; the work grows with it."""

REALTIME = Window("--realtime", 0, 1e6, "x wall time", low_open=True)
"""``replay --realtime``: (0, 10^6]: simulated seconds per wall second."""

WORKERS = Window("--workers", 1, 1024, "processes", integer=True)
"""``--workers``: [1, 1024] processes."""

PORT = Window("--port", 0, 65535, integer=True)
"""TCP ports (``--port``, ``--api-port``): [0, 65535]; 0 picks a free port."""


def parse_seeds(text: str, option: str = "--seeds") -> tuple[int, ...]:
    """``42-51`` (inclusive), ``42,43`` or a mix such as ``1-3,7``; ascending, no repeats.

    Every seed is in :data:`SEED`'s window and there are at most :data:`MAX_SEEDS`, checked
    before any range is expanded. ValueError naming the option and the bad part.
    """
    parts: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        try:
            first, last = (int(low), int(high)) if dash else (int(part), int(part))
        except ValueError:
            raise ValueError(
                f"{option} {text!r}: {part!r} is not an integer or a range such as 42-51"
            ) from None
        for seed in (first, last):
            found = SEED.problem(seed)
            if found is not None:
                raise ValueError(f"{option} {text!r}: seed {seed} {found}")
        if first > last:
            raise ValueError(f"{option} {text!r}: {part!r} is not a range (first > last)")
        parts.append((first, last))
    merged: list[tuple[int, int]] = []
    for first, last in sorted(parts):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    count = sum(last - first + 1 for first, last in merged)
    if count > MAX_SEEDS:
        raise ValueError(f"{option} {text!r}: {count:,} seeds, at most {MAX_SEEDS:,}")
    return tuple(seed for first, last in merged for seed in range(first, last + 1))


def check_timestamp(value: dt.datetime, name: str) -> dt.datetime:
    """A timestamp inside [1970-01-01, 2200-01-01) (``MIN_TIMESTAMP`` .. ``MAX_TIMESTAMP``);
    ValueError naming ``name`` otherwise. (Readers turn Go's zero time into *unset* before
    calling this.)"""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if not MIN_TIMESTAMP <= moment < MAX_TIMESTAMP:
        raise ValueError(
            f"{name}: {value.isoformat()} is outside {MIN_TIMESTAMP.date()} .. "
            f"{MAX_TIMESTAMP.date()}"
        )
    return value
