"""default_normalize: kube-scheduler's DefaultNormalizeScore, row by row and by property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.plugins.helper.normalize import default_normalize


@pytest.mark.parametrize(
    ("raw", "reverse", "expected"),
    [
        # max 4: 100*0//4=0, 100*1//4=25, 100*3//4=75, 100*4//4=100
        ([0, 1, 3, 4], False, [0, 25, 75, 100]),
        # same scaling, then 100 - s: 100, 75, 25, 0
        ([0, 1, 3, 4], True, [100, 75, 25, 0]),
        # max 3: 100*1//3=33 (floor of 33.3), 100*2//3=66 (floor of 66.6)
        ([1, 2, 3], False, [33, 66, 100]),
        # reverse of the above: 100-33=67, 100-66=34, 100-100=0
        ([1, 2, 3], True, [67, 34, 0]),
        # all zero: unchanged without reverse
        ([0, 0], False, [0, 0]),
        # all zero with reverse: every node gets the maximum (upstream's special case)
        ([0, 0], True, [100, 100]),
        # already on scale: 100*100//100 = 100, 100*50//100 = 50
        ([50, 100], False, [50, 100]),
        ([], True, []),
    ],
)
def test_default_normalize_table(raw: list[int], reverse: bool, expected: list[int]) -> None:
    """Each row's scores scale to max 100 with floor division, reversed when asked."""
    out = default_normalize(np.array(raw, dtype=np.int64), reverse=reverse)
    assert out.dtype == np.int64
    assert out.tolist() == expected


def test_default_normalize_rejects_negative_scores() -> None:
    """A negative raw score is a plugin bug and raises ValueError naming the value."""
    with pytest.raises(ValueError, match="non-negative, got -1"):
        default_normalize(np.array([3, -1], dtype=np.int64))


def _reference(scores: list[int], reverse: bool) -> list[int]:
    """Plain-Python transcription of the upstream loop."""
    highest = max([0, *scores])
    if highest == 0:
        return [100 if reverse else s for s in scores]
    out = []
    for s in scores:
        v = 100 * s // highest
        out.append(100 - v if reverse else v)
    return out


@given(st.lists(st.integers(0, 10**9), max_size=30), st.booleans())
def test_default_normalize_matches_reference(scores: list[int], reverse: bool) -> None:
    """For any non-negative scores the vectorised result equals the upstream loop, within 0..100."""
    out = default_normalize(np.array(scores, dtype=np.int64), reverse=reverse).tolist()
    assert out == _reference(scores, reverse)
    assert all(0 <= v <= 100 for v in out)
