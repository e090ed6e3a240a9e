"""The candidate node list of a filter or prioritize request, kept across requests.

kube-scheduler sends the same ``NodeNames`` list again and again: every pod's filter carries
the nodes its own filters passed (all of them, on an idle cluster), and the prioritize that
follows carries the filter's survivors. With 5,000 nodes, decoding that list, mapping each
name to the cache's dense node id and encoding names back into the reply cost more than the
decisions themselves. A :class:`Candidates` is one list, decoded once: its names, their node
ids (recomputed when the cache's node set changes), and the JSON pieces the replies are
assembled from (:mod:`scheduler.extender.replies`).

:class:`RecentCandidates` recognises a list already seen from the request's bytes alone.
kube-scheduler (Go's ``encoding/json``) writes ``ExtenderArgs`` as
``{"Pod":{...},"Nodes":null,"NodeNames":[...]}``: the list is the body's tail. A body whose
tail is byte for byte ``,"NodeNames":<a known list>}`` is decoded by parsing only the head
(the head with the closing ``}``), and the request is taken only when that head is exactly
what the general decoder's fast form accepts — a ``Pod`` object and a null or absent
``Nodes`` — so the result is the one decoding the whole body gives (see
:func:`RecentCandidates.match`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from scheduler.cluster.cache import ClusterCache

__all__ = ["Candidates", "RecentCandidates"]

_TAIL_HEAD = b',"NodeNames":'
_HEAD_KEYS = frozenset({"Pod", "Nodes"})


def _quoted(names: Sequence[str], raw: bytes) -> list[bytes]:
    """Each name as its JSON string (orjson's encoding), split from ``raw`` — the list's
    orjson encoding. ``","`` cannot occur inside an encoded string (a quote in a string is
    always written ``\\"``), so it separates the elements exactly."""
    if not names:
        return []
    inner = raw[2:-2].split(b'","')
    assert len(inner) == len(names)
    return [b'"' + piece + b'"' for piece in inner]


class Candidates:
    """One candidate list: ``names`` (as sent, duplicates kept), their dense node ids in a
    cache (:meth:`ids`), and reply pieces built on first use.

    ``raw`` is the list's JSON as orjson writes it (the form kube-scheduler sends).
    """

    __slots__ = (
        "_host",
        "_ids",
        "_keys",
        "_names_json",
        "_order",
        "_stamp",
        "names",
        "raw",
        "unique",
    )

    def __init__(self, names: Sequence[str], raw: bytes | None = None) -> None:
        self.names: tuple[str, ...] = tuple(names)
        self.raw: bytes = orjson.dumps(list(self.names)) if raw is None else raw
        self.unique: bool = len(set(self.names)) == len(self.names)
        """No name twice: a reply's maps then have one entry per position."""
        self._stamp: tuple[int, int] | None = None
        self._ids: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._names_json: npt.NDArray[Any] | None = None
        self._host: npt.NDArray[Any] | None = None
        self._order: npt.NDArray[np.intp] | None = None
        self._keys: npt.NDArray[Any] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def ids(self, cache: ClusterCache) -> npt.NDArray[np.intp]:
        """Dense node ids of the names in ``cache`` (-1 for a node it lacks), read-only;
        recomputed only when the cache's node set changed."""
        stamp = (cache.cache_id, cache.node_generation)
        if stamp != self._stamp:
            index = cache.node_index
            ids = np.fromiter(
                (index.get(n, -1) for n in self.names), dtype=np.intp, count=len(self.names)
            )
            ids.flags.writeable = False
            self._ids, self._stamp = ids, stamp
        return self._ids

    # -- reply pieces ---------------------------------------------------------------------------
    def names_json(self) -> npt.NDArray[Any]:
        """Object array: ``,"name"`` per position (the list's elements, comma first)."""
        if self._names_json is None:
            self._names_json = _objects([b"," + q for q in _quoted(self.names, self.raw)])
        return self._names_json

    def hosts_json(self) -> npt.NDArray[Any]:
        """Object array: ``,{"Host":"name","Score":`` per position."""
        if self._host is None:
            self._host = _objects(
                [b',{"Host":' + q + b',"Score":' for q in _quoted(self.names, self.raw)]
            )
        return self._host

    def sorted_keys(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[Any]]:
        """The positions in name order (Go writes map keys sorted) and, in that order, the
        map keys ``,"name":``."""
        if self._order is None or self._keys is None:
            quoted = _quoted(self.names, self.raw)
            order = sorted(range(len(self.names)), key=self.names.__getitem__)
            self._order = np.array(order, dtype=np.intp)
            self._keys = _objects([b"," + quoted[p] + b":" for p in order])
        return self._order, self._keys


def _objects(items: list[bytes]) -> npt.NDArray[Any]:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class RecentCandidates:
    """The last few candidate lists seen in canonical bodies (see the module docstring)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._recent: list[tuple[bytes, Candidates]] = []

    def match(self, body: bytes) -> tuple[dict[str, Any], Candidates] | None:
        """``(pod, candidates)`` when ``body`` ends with a known list and its head is a
        ``Pod`` object with a null or absent ``Nodes`` and no other key; else None (decode
        the whole body).

        Why this equals decoding the body: the head plus ``}`` parsed as one JSON object,
        so the head ends outside any string, after a complete member of the top-level
        object; appending the tail adds one last member, ``NodeNames``, whose value is the
        known list (a duplicate key keeps its last value, for orjson as for Go).
        """
        for i, (tail, candidates) in enumerate(self._recent):
            if not body.endswith(tail):
                continue
            try:
                head = orjson.loads(body[: len(body) - len(tail)] + b"}")
            except orjson.JSONDecodeError:
                return None
            if type(head) is not dict or not head.keys() <= _HEAD_KEYS:
                return None
            pod = head.get("Pod")
            if type(pod) is not dict or head.get("Nodes") is not None:
                return None
            if i:
                self._recent.insert(0, self._recent.pop(i))
            return pod, candidates
        return None

    def register(self, body: bytes, names: Sequence[str]) -> Candidates:
        """The Candidates of ``names``, decoded from ``body`` in full: kept for the next
        requests when ``body`` ends with the list in canonical form, else used once."""
        raw = orjson.dumps(list(names))
        candidates = Candidates(names, raw)
        tail = _TAIL_HEAD + raw + b"}"
        if body.endswith(tail):
            self._recent.insert(0, (tail, candidates))
            del self._recent[self.size :]
        return candidates
