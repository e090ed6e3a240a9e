"""Dense topology domain ids per level, from node labels.

Levels are an ordered list of node-label keys, coarse to fine (docs/conventions.md:
``topology.kubernetes.io/zone``, ``topology.tessera.io/block``, ``topology.tessera.io/rack``,
``kubernetes.io/hostname``). As in Kueue's Topology, a domain at level ``l`` is identified by
the node's label values at levels ``0..l`` (rack ``r1`` in block ``b1`` differs from rack
``r1`` in block ``b2``). A node without the label of some level belongs to no domain at that
level or any finer one (id -1).

Built once per node-set generation; algorithms index the arrays by dense node id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_LEVELS = (
    "topology.kubernetes.io/zone",
    "topology.tessera.io/block",
    "topology.tessera.io/rack",
    "kubernetes.io/hostname",
)
CLIQUE_LABEL = "nvidia.com/gpu.clique"


@dataclass(frozen=True, slots=True)
class TopologyDomains:
    """``domain_of[l][n]``: node n's domain id at level l (-1 = none); ``names[l][d]``: the
    domain's label value path joined by ``/``; ``parent[l][d]``: the enclosing domain at
    level l-1 (-1 at level 0)."""

    levels: tuple[str, ...]
    domain_of: tuple[npt.NDArray[np.int32], ...]
    names: tuple[tuple[str, ...], ...]
    parent: tuple[npt.NDArray[np.int32], ...]

    @classmethod
    def build(
        cls,
        node_labels: Sequence[Mapping[str, str]],
        levels: Sequence[str] = DEFAULT_LEVELS,
    ) -> TopologyDomains:
        """Number the domains of every level for the given nodes (in dense node order)."""
        n = len(node_labels)
        domain_of: list[npt.NDArray[np.int32]] = []
        names: list[tuple[str, ...]] = []
        parents: list[npt.NDArray[np.int32]] = []
        paths: list[tuple[str, ...] | None] = [() for _ in range(n)]
        for level, key in enumerate(levels):
            ids = np.full(n, -1, dtype=np.int32)
            index: dict[tuple[str, ...], int] = {}
            parent: list[int] = []
            for i, labels in enumerate(node_labels):
                path = paths[i]
                value = labels.get(key)
                if path is None or value is None:
                    paths[i] = None
                    continue
                path = (*path, value)
                paths[i] = path
                found = index.get(path)
                if found is None:
                    found = len(index)
                    index[path] = found
                    parent.append(int(domain_of[level - 1][i]) if level > 0 else -1)
                ids[i] = found
            domain_of.append(ids)
            names.append(tuple("/".join(p) for p in index))
            parents.append(np.array(parent, dtype=np.int32))
        return cls(tuple(levels), tuple(domain_of), tuple(names), tuple(parents))

    def level(self, key: str) -> int:
        """Index of a level by its label key (ValueError naming the key and the levels)."""
        try:
            return self.levels.index(key)
        except ValueError:
            raise ValueError(
                f"topology level {key!r} is not one of the cluster's levels {list(self.levels)}"
            ) from None

    def count(self, level: int) -> int:
        """Number of domains at a level."""
        return len(self.names[level])

    def members(self, level: int) -> list[npt.NDArray[np.intp]]:
        """Dense node ids of each domain of a level."""
        ids = self.domain_of[level]
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        out: list[npt.NDArray[np.intp]] = []
        for d in range(self.count(level)):
            lo, hi = np.searchsorted(sorted_ids, [d, d + 1])
            out.append(order[lo:hi])
        return out
