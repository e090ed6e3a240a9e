"""kube-scheduler's node sampling: how many feasible nodes a cycle looks for, and where.

kube-scheduler does not filter every node for every pod. ``findNodesThatPassFilters``
(``pkg/scheduler/schedule_one.go``, 1.35) walks the nodes from where the previous pod's search
stopped and stops once it has found ``numFeasibleNodesToFind`` feasible ones; only those go on
to the filter extenders and to scoring. :class:`NodeSampler` reproduces that search for the
framework's kube-scheduler mode (``Framework(sampler=...)``):

* **How many** (:func:`num_feasible_nodes_to_find`): with ``n`` candidate nodes and
  ``percentageOfNodesToScore`` ``p`` (the profile's, else the global one; unset is 0), all of
  them when ``n < 100``; ``p = 0`` means adaptive, ``50 - n/125`` percent but at least 5; the
  result ``n x p / 100`` is at least 100. A scheduler with no filter extender and no scoring
  at all (no Score plugin, no prioritizing extender) stops at the first feasible node.
* **In which order** (:func:`node_tree_order`): the scheduler's snapshot lists nodes zone by
  zone in round robin (``nodeTree.list`` in ``pkg/scheduler/backend/cache/node_tree.go``): the
  first node of every zone, then the second of every zone, ...; a node's zone is
  ``<region>:\\x00:<zone>`` from the ``failure-domain.beta.kubernetes.io`` labels, else the
  ``topology.kubernetes.io`` ones (``GetZoneKey``), zones in order of first appearance.
* **From where**: the search starts at ``nextStartNodeIndex`` (modulo the number of candidate
  nodes) and, once done, that index advances by the number of nodes it *processed* (the
  feasible ones found plus those it rejected) modulo the number of all nodes, so that every
  node gets its turn across pods. A PreFilter result that narrows the candidates narrows the
  list the search walks, not the modulus of the advance (upstream does the same).

Deliberate difference: upstream checks nodes with 16 parallel workers and cancels them once
enough are found, so the nodes it processed beyond the last feasible one vary from run to
run; tessera processes them in order, as one worker would. Upstream also walks a narrowed
candidate list in Go map order (random); tessera walks it in node-tree order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND",
    "MIN_FEASIBLE_NODES_TO_FIND",
    "NodeSampler",
    "SampledSearch",
    "node_tree_order",
    "num_feasible_nodes_to_find",
    "zone_key",
]

MIN_FEASIBLE_NODES_TO_FIND = 100
"""``minFeasibleNodesToFind``: below this many nodes, all are searched."""

MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
"""``minFeasibleNodesPercentageToFind``: the floor of the adaptive percentage."""

_ZONE_LABELS = ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone")
_REGION_LABELS = ("failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region")

NodeIds = npt.NDArray[np.intp]


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """``numFeasibleNodesToFind``: after how many feasible nodes filtering stops.

    ``percentage`` is the profile's ``percentageOfNodesToScore`` if set, else the global one
    (0 when unset). Under 100 nodes all are searched. Otherwise 0 means adaptive:
    ``50 - nodes/125`` percent, at least 5; the result is at least 100 nodes. Integer
    arithmetic truncates as Go's ``int32`` does. ValueError outside 0..100.

    Example: 5 000 nodes, adaptive -> 50 - 40 = 10 % -> 500 nodes.
    """
    if not 0 <= percentage <= 100:
        raise ValueError(f"percentageOfNodesToScore {percentage} is not in the range 0..100")
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage == 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def zone_key(labels: Mapping[str, str]) -> str:
    """``GetZoneKey``: ``<region>:\\x00:<zone>`` from a node's labels, ``""`` without either."""
    zone = next((labels[k] for k in _ZONE_LABELS if k in labels), "")
    region = next((labels[k] for k in _REGION_LABELS if k in labels), "")
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def node_tree_order(zones: Sequence[str]) -> NodeIds:
    """The node ids in kube-scheduler's snapshot order (``nodeTree.list``), given each node's
    zone key in tessera's node order: zones in order of first appearance, then round robin —
    the first node of each zone, then the second of each, and so on."""
    members: dict[str, list[int]] = {}
    for i, zone in enumerate(zones):
        members.setdefault(zone, []).append(i)
    groups = list(members.values())
    if len(groups) <= 1:
        return np.arange(len(zones), dtype=np.intp)
    order: list[int] = []
    longest = max(len(g) for g in groups)
    for depth in range(longest):
        order.extend(g[depth] for g in groups if depth < len(g))
    return np.asarray(order, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class SampledSearch:
    """The outcome of one sampled search over the candidate nodes.

    ``feasible`` are the feasible nodes found, in search order (at most the number wanted);
    ``processed`` every node the search looked at, in search order (the feasible ones and the
    ones it rejected); nodes after the last one processed were never looked at.
    """

    feasible: NodeIds
    processed: NodeIds


class NodeSampler:
    """The sampling state of one kube-scheduler: ``nextStartNodeIndex`` and the global
    ``percentageOfNodesToScore`` (see the module docstring).

    kube-scheduler keeps one start index for all its profiles; share one sampler between the
    frameworks of a run to do the same.
    """

    __slots__ = ("_order", "next_start", "percentage")

    def __init__(self, percentage: int | None = None) -> None:
        if percentage is not None and not 0 <= percentage <= 100:
            raise ValueError(f"percentageOfNodesToScore {percentage} is not in the range 0..100")
        self.percentage = percentage or 0
        self.next_start = 0
        self._order: tuple[object, NodeIds] | None = None

    def nodes_to_find(
        self,
        profile_percentage: int | None,
        num_nodes: int,
        *,
        has_extender_filters: bool,
        has_scoring: bool,
    ) -> int:
        """How many feasible nodes to look for among ``num_nodes`` candidates: the profile's
        percentage if set, else the global one; 1 with neither a filter extender nor any
        scoring."""
        if not has_extender_filters and not has_scoring:
            return 1
        percentage = self.percentage if profile_percentage is None else profile_percentage
        return num_feasible_nodes_to_find(percentage, num_nodes)

    def tree_order(self, key: object, zones: Callable[[], Sequence[str]]) -> NodeIds:
        """:func:`node_tree_order`, memoised under ``key`` (e.g. the cache's node generation);
        ``zones()`` (each node's zone key) is only called when the key changed."""
        if self._order is not None and self._order[0] == key:
            return self._order[1]
        order = node_tree_order(zones())
        self._order = (key, order)
        return order

    def search_order(self, candidates: NodeIds) -> NodeIds:
        """``candidates`` (in snapshot order) rotated to start at ``nextStartNodeIndex``."""
        if len(candidates) == 0:
            return candidates
        start = self.next_start % len(candidates)
        return np.concatenate((candidates[start:], candidates[:start]))

    def cut(self, order: NodeIds, passed: npt.NDArray[np.bool_], wanted: int) -> SampledSearch:
        """The search over ``order`` (as :meth:`search_order` gives it) with ``passed[i]``
        telling whether ``order[i]`` is feasible: it stops right after the ``wanted``-th
        feasible node."""
        if wanted <= 0 or len(order) == 0:
            return SampledSearch(order[:0], order[:0])
        found = np.cumsum(passed, dtype=np.int64)
        enough = np.flatnonzero(found >= wanted)
        end = int(enough[0]) + 1 if len(enough) else len(order)
        processed = order[:end]
        return SampledSearch(processed[passed[:end]], processed)

    def advance(self, processed: int, num_all_nodes: int) -> None:
        """After a search: the next one starts ``processed`` nodes further (modulo all nodes)."""
        if num_all_nodes > 0:
            self.next_start = (self.next_start + processed) % num_all_nodes
