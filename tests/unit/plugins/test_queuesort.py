"""PrioritySort: higher priority first, then earlier enqueue time."""

from __future__ import annotations

import pytest

from scheduler.plugins.prioritysort import PrioritySort
from tests.builders import info, make_handle, make_pod


@pytest.mark.parametrize(
    ("a_priority", "a_time", "b_priority", "b_time", "a_first"),
    [
        (10, 5.0, 0, 1.0, True),  # higher priority wins over an earlier arrival
        (0, 1.0, 10, 5.0, False),
        (5, 1.0, 5, 2.0, True),  # equal priority: earlier first
        (5, 2.0, 5, 1.0, False),
        (5, 1.0, 5, 1.0, False),  # fully equal: not less (a strict order)
        (-1, 0.0, None, 9.0, False),  # no priority counts as 0 > -1
    ],
)
def test_priority_sort_table(
    a_priority: int | None, a_time: float, b_priority: int | None, b_time: float, a_first: bool
) -> None:
    """Each row's pair is ordered by priority, then enqueue time."""
    sort = PrioritySort({}, make_handle())
    a = info(make_pod("a", priority=a_priority))
    b = info(make_pod("b", priority=b_priority))
    assert sort.less(a, a_time, b, b_time) is a_first
