"""Filter and prioritize replies written straight to JSON bytes from per-node verdicts.

The result is byte for byte what :func:`scheduler.extender.wire.encode` writes for the same
reply built as wire models (``ExtenderFilterResult`` in node-name form; the bare
``HostPriorityList`` array of the nodes with a non-zero score) — Go's layout, every field
present, map keys sorted — but it is assembled from the pieces a
:class:`~scheduler.extender.candidates.Candidates` keeps (each name already encoded), so a
reply over 5,000 nodes costs a gather and a join instead of a Python object per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from scheduler.extender.candidates import Candidates

__all__ = ["PASSED", "UNKNOWN", "filter_json", "priorities_json"]

PASSED = -1
"""Verdict of a node that passes."""
UNKNOWN = -2
"""Verdict of a node the cache does not have (a ``FailedNodes`` entry)."""
_SCORES = np.array([f"{s}}}".encode() for s in range(11)], dtype=object)


def _wrap(pieces: list[bytes], open_: bytes, close: bytes) -> bytes:
    """``open_`` + the pieces (the first one's leading comma dropped) + ``close``."""
    if not pieces:
        return open_ + close
    pieces[0] = open_ + pieces[0][1:]
    pieces.append(close)
    return b"".join(pieces)


def _interleave(first: npt.NDArray[Any], second: npt.NDArray[Any]) -> list[bytes]:
    out = np.empty(2 * len(first), dtype=object)
    out[0::2] = first
    out[1::2] = second
    pieces: list[bytes] = out.tolist()
    return pieces


def filter_json(
    candidates: Candidates,
    verdict: npt.NDArray[np.int32],
    messages: Sequence[str],
    unresolvable: Sequence[bool],
    unknown_message: str,
) -> tuple[bytes, tuple[int, int, int]]:
    """The ``ExtenderFilterResult`` of a node-name request, and how many nodes passed,
    failed and failed unresolvably.

    ``verdict[p]`` is the verdict of the candidate at position ``p``: :data:`PASSED`,
    :data:`UNKNOWN`, or the index of its status in ``messages`` (that status's reason) and
    ``unresolvable`` (whether it goes to ``FailedAndUnresolvableNodes``). The candidates
    must be :attr:`~scheduler.extender.candidates.Candidates.unique` (a map holds a name
    once).
    """
    assert candidates.unique
    passed = verdict == PASSED
    n_passed = int(np.count_nonzero(passed))
    if n_passed == len(candidates):
        kept = candidates.raw
        failed_json = unresolvable_json = b"{}"
        return _filter(kept, failed_json, unresolvable_json), (n_passed, 0, 0)
    kept = _wrap(candidates.names_json()[passed].tolist(), b"[", b"]")
    # per verdict + 2: the map it goes to (0 none, 1 FailedNodes, 2 the unresolvable one)
    # and its message as JSON
    kind = np.array([1, 0, *(2 if u else 1 for u in unresolvable)], dtype=np.int8)
    text = np.empty(len(messages) + 2, dtype=object)
    text[:] = [orjson.dumps(unknown_message), b"", *map(orjson.dumps, messages)]
    order, keys = candidates.sorted_keys()
    codes = verdict[order] + 2
    kinds = kind[codes]
    maps = []
    for which in (1, 2):
        mask = kinds == which
        maps.append(_wrap(_interleave(keys[mask], text[codes[mask]]), b"{", b"}"))
    n_unresolvable = int(np.count_nonzero(kinds == 2))
    counts = (n_passed, len(candidates) - n_passed - n_unresolvable, n_unresolvable)
    return _filter(kept, maps[0], maps[1]), counts


def _filter(kept: bytes, failed: bytes, unresolvable: bytes) -> bytes:
    return b"".join(
        (
            b'{"Nodes":null,"NodeNames":',
            kept,
            b',"FailedNodes":',
            failed,
            b',"FailedAndUnresolvableNodes":',
            unresolvable,
            b',"Error":""}',
        )
    )


def priorities_json(candidates: Candidates, scores: npt.NDArray[np.int64]) -> bytes:
    """The ``HostPriorityList`` of ``scores`` (one per candidate position): the nodes with a
    non-zero score, in the candidates' order."""
    positions = np.flatnonzero(scores)
    chosen = scores[positions]
    if len(chosen) and (int(chosen.min()) < 0 or int(chosen.max()) >= len(_SCORES)):
        names = candidates.names
        return orjson.dumps(
            [{"Host": names[p], "Score": int(scores[p])} for p in positions.tolist()]
        )
    pieces = _interleave(candidates.hosts_json()[positions], _SCORES[chosen])
    return _wrap(pieces, b"[", b"]")
