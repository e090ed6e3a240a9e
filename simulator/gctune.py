"""Garbage-collector settings for long simulation loops.

A replay or an inflation run allocates millions of short-lived objects (pods, claims, cycle
states) on top of a large, long-lived cluster model. With CPython's default thresholds the
collector keeps re-scanning that model; :func:`simulation_gc` moves everything alive at the
start into the permanent generation (``gc.freeze``) and collects the young generation less
often. Cycles are still collected; on exit the previous settings come back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (CPython's default is 700 or 2,000)."""


@contextmanager
def simulation_gc() -> Iterator[None]:
    """Run the body with the frozen heap and the larger young threshold (see module doc)."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
