"""Score normalisation shared by the score plugins (kube-scheduler's DefaultNormalizeScore).

Who calls: a score plugin's ``normalize`` (TaintToleration with ``reverse=True``,
NodeAffinity with ``reverse=False``). Raw scores are non-negative integers; the result is
within ``0..max_priority`` and aligned with the input.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scheduler.framework.interfaces import MAX_NODE_SCORE

__all__ = ["default_normalize"]


def default_normalize(
    scores: npt.NDArray[np.int64], reverse: bool = False, max_priority: int = MAX_NODE_SCORE
) -> npt.NDArray[np.int64]:
    """Scale ``scores`` so the highest becomes ``max_priority``, with integer arithmetic.

    Exactly ``helper.DefaultNormalizeScore``: each score becomes
    ``floor(max_priority * score / max(scores))``; with ``reverse`` it then becomes
    ``max_priority - that``. When every score is zero (or there are none), scores stay zero
    without ``reverse`` and all become ``max_priority`` with it (no node is worse than another).
    Returns a new array; the input is not modified.
    """
    raw = np.asarray(scores, dtype=np.int64)
    if raw.ndim != 1:
        raise ValueError(f"default_normalize: scores must be 1-dimensional, got shape {raw.shape}")
    if len(raw) and raw.min() < 0:
        raise ValueError(f"default_normalize: scores must be non-negative, got {int(raw.min())}")
    highest = int(raw.max()) if len(raw) else 0
    if highest == 0:
        fill = max_priority if reverse else 0
        return np.full(len(raw), fill, dtype=np.int64)
    scaled = max_priority * raw // highest
    if reverse:
        scaled = max_priority - scaled
    return scaled.astype(np.int64, copy=False)
