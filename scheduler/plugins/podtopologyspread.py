"""PodTopologySpread: ``topologySpreadConstraints`` (kube-scheduler 1.35).

Upstream: ``pkg/scheduler/framework/plugins/podtopologyspread/{filtering,scoring,common,
plugin}.go``; the full account is ``docs/semantics/interpodaffinity-podtopologyspread.md``.
Constraints are parsed by :mod:`scheduler.plugins.helper.spreadconstraints`.

Which constraints: the pod's own (``DoNotSchedule`` ones filter, ``ScheduleAnyway`` ones
score); when it has none, the profile's defaults (``defaultingType: System`` = hostname
maxSkew 3 and zone maxSkew 5, both ScheduleAnyway), with the selector of the pod's Services
and controller. tessera's cache holds no Service, ReplicationController, ReplicaSet or
StatefulSet, so that selector comes from the optional ``default_selector`` callable; without
one it is empty and, as upstream for a pod nothing selects, no default constraint applies.

* PreFilter (DoNotSchedule): a node is *eligible* for a constraint if it has the topology
  keys of **all** constraints and passes the constraint's inclusion policies. Each
  constraint counts, per domain (value of its key), the matching pods on its eligible
  nodes; the global minimum is the least count over the eligible domains, or 0 when there
  are fewer eligible domains than ``minDomains``. SKIP without constraints.
* Filter: per constraint in order, a node without the key is UNSCHEDULABLE_AND_UNRESOLVABLE
  ``node(s) didn't match pod topology spread constraints (missing required label)``; a node
  where ``count(domain) + (1 if the pod matches its own selector) - minimum > maxSkew`` is
  UNSCHEDULABLE ``node(s) didn't match pod topology spread constraints``.
* PreScore (ScheduleAnyway): feasible nodes missing a key are ignored (score 0) unless the
  constraints are the system defaults; each constraint's domains are the values on the
  remaining feasible nodes, weighted ``ln(domains + 2)`` (hostname: the number of those
  nodes), and count matching pods over all nodes that pass the inclusion policies.
* Score: ``round(sum(count * weight + maxSkew - 1))`` over the constraints whose key the
  node has (hostname: the pods on the node itself); normalised in reverse,
  ``100 * (max + min - s) // max`` (100 for all when max is 0), ignored nodes 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scheduler.api.errors import InvalidSelectorError
from scheduler.api.pod import Pod
from scheduler.api.selectors import LabelSelector, compile_label_selector
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    FilterResult,
    Handle,
    NodeIds,
    PreFilterResult,
)
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Code, Status
from scheduler.plugins.helper.affinityterms import narrowing, selects_everything
from scheduler.plugins.helper.args import parse_args
from scheduler.plugins.helper.placedpods import PlacedPods
from scheduler.plugins.helper.spreadconstraints import (
    DO_NOT_SCHEDULE,
    HOSTNAME,
    SCHEDULE_ANYWAY,
    SYSTEM_DEFAULT_CONSTRAINTS,
    PodTopologySpreadArgs,
    SpreadConstraint,
    has_all_keys,
    matching_pods,
    node_inclusion,
    spread_constraints,
)

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["ERR_REASON_CONSTRAINTS", "ERR_REASON_LABEL", "PLUGINS", "PodTopologySpread"]

ERR_REASON_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_REASON_LABEL = ERR_REASON_CONSTRAINTS + " (missing required label)"
_IGNORED = -1
_NO_DOMAIN = 2**31 - 1  # upstream's minimum when no domain is eligible and minDomains <= 0

DefaultSelector = Callable[[Pod], LabelSelector | None]
"""The selector of a pod's Services and controller (upstream ``helper.DefaultSelector``)."""


@dataclass(frozen=True, slots=True)
class _Domains:
    """One DoNotSchedule constraint's counts per domain value and its global minimum."""

    constraint: SpreadConstraint
    counts: npt.NDArray[np.int64]
    minimum: int
    self_match: int


@dataclass(frozen=True, slots=True)
class _Scoring:
    """One ScheduleAnyway constraint: its weight, and the count a node scores as
    ``counts[ids[node]]``: per value id of the node's domain (nodes without the key read as
    the value "", as upstream's map lookup does), or per node id for hostname."""

    constraint: SpreadConstraint
    weight: float
    counts: npt.NDArray[np.int64]
    ids: npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class _ScoreState:
    """PreScore's result for the feasible ``nodes``; ``ignored`` is aligned with them."""

    constraints: tuple[_Scoring, ...]
    nodes: NodeIds
    ignored: npt.NDArray[np.bool_]


_FILTER_KEY = StateKey[tuple[_Domains, ...]]("PreFilterPodTopologySpread")
_SCORE_KEY = StateKey[_ScoreState]("PreScorePodTopologySpread")


def _value_ids(snapshot: Snapshot, key: str) -> tuple[npt.NDArray[np.intp], int]:
    """Per node, an id of its value of ``key``; nodes without it share the id of ""."""
    codes, values = snapshot.label_column(key)
    absent = values.index("") if "" in values else len(values)
    return np.where(codes >= 0, codes, absent).astype(np.intp), len(values) + 1


def _round_half_away(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Go's ``math.Round`` for non-negative values (halves round up), exactly."""
    floor = np.floor(values)
    return (floor + (values - floor >= 0.5)).astype(np.int64)


class PodTopologySpread:
    """PreFilter + Filter + PreScore + Score on topology spread; see the module docstring."""

    name = "PodTopologySpread"

    def __init__(
        self,
        args: Mapping[str, Any],
        handle: Handle,
        *,
        default_selector: DefaultSelector | None = None,
    ) -> None:
        parsed = parse_args(self.name, PodTopologySpreadArgs, args)
        self.handle = handle
        self.system_defaulted = parsed.defaulting_type == "System"
        self.defaults = (
            SYSTEM_DEFAULT_CONSTRAINTS if self.system_defaulted else parsed.default_constraints
        )
        self.default_selector = default_selector
        self.placed = PlacedPods()

    def constraints(self, pod: Pod, action: str) -> tuple[SpreadConstraint, ...]:
        """The pod's constraints of ``action``, or the defaults when it defines none.

        Raises :class:`~scheduler.api.errors.InvalidSelectorError` for a bad selector.
        """
        own = pod.spec.topology_spread_constraints
        if own:
            return spread_constraints(own, pod, action)
        if self.default_selector is None:
            return ()
        defaults = spread_constraints(self.defaults, pod, action)
        if not defaults:
            return ()
        chosen = self.default_selector(pod)
        selector = compile_label_selector(chosen)
        if selector.match_nothing or selects_everything(selector):
            return ()
        focus = narrowing(chosen)
        return tuple(replace(c, selector=selector, narrowing=focus) for c in defaults)

    # -- filtering --------------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        """Count matching pods per eligible domain and the global minimums."""
        try:
            constraints = self.constraints(pod.pod, DO_NOT_SCHEDULE)
        except InvalidSelectorError as err:
            return None, Status.error(f"Pod {pod.key}: hard topology spread constraints: {err}")
        if not constraints:
            return None, Status.skip()
        self.placed.refresh(snapshot)
        everyone = np.arange(snapshot.size, dtype=np.intp)
        keyed = has_all_keys(snapshot, constraints, everyone)
        inclusion = node_inclusion(snapshot, pod.pod, constraints)
        labels = pod.pod.metadata.labels
        domains: list[_Domains] = []
        for c, admitted in zip(constraints, inclusion, strict=True):
            eligible = keyed & admitted
            codes, values = snapshot.label_column(c.topology_key)
            pods = matching_pods(self.placed, c, pod.namespace, eligible)
            where = codes[eligible]
            counts = np.bincount(where, weights=pods[eligible], minlength=len(values))
            present = np.bincount(where, minlength=len(values)) > 0
            minimum = 0  # fewer eligible domains than minDomains: the minimum is 0
            if int(present.sum()) >= c.min_domains:
                minimum = int(counts[present].min()) if present.any() else _NO_DOMAIN
            matches = 1 if c.selector.matches(labels) else 0
            domains.append(_Domains(c, counts.astype(np.int64), minimum, matches))
        state.write(_FILTER_KEY, tuple(domains))
        return None, Status.success()

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Per constraint in order: the node's key must exist, and the skew stay within
        ``maxSkew`` once the pod is placed there."""
        count = len(nodes)
        domains = state.get(_FILTER_KEY)
        if domains is None:  # PreFilter did not run for this state: run it now
            _, status = self.pre_filter(state, pod, snapshot)
            if not status.ok:
                return FilterResult.from_checks([(status, np.ones(count, dtype=bool))], count)
            domains = state.get(_FILTER_KEY)
            if domains is None:
                return FilterResult.all(count)
        missing = np.zeros(count, dtype=bool)
        skewed = np.zeros(count, dtype=bool)
        for d in domains:
            codes = snapshot.label_column(d.constraint.topology_key)[0][nodes]
            undecided = ~(missing | skewed)
            missing |= undecided & (codes < 0)
            in_domain = np.append(d.counts, 0)[codes]  # code -1 (no key) reads the 0 slot
            skew = in_domain + d.self_match - d.minimum
            skewed |= undecided & (codes >= 0) & (skew > d.constraint.max_skew)
        return FilterResult.from_checks(
            [
                (Status.unresolvable(ERR_REASON_LABEL), missing),
                (Status.unschedulable(ERR_REASON_CONSTRAINTS), skewed),
            ],
            count,
        )

    # -- scoring ----------------------------------------------------------------------------------
    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Domains, weights and counts of the soft constraints; SKIP without any."""
        if snapshot.size == 0:
            return Status.skip()
        try:
            constraints = self.constraints(pod.pod, SCHEDULE_ANYWAY)
        except InvalidSelectorError as err:
            return Status.error(f"Pod {pod.key}: soft topology spread constraints: {err}")
        if not constraints:
            return Status.skip()
        self.placed.refresh(snapshot)
        require_all = bool(pod.pod.spec.topology_spread_constraints) or not self.system_defaulted
        everyone = np.arange(snapshot.size, dtype=np.intp)
        ignored = np.zeros(len(nodes), dtype=bool)
        keyed = np.ones(snapshot.size, dtype=bool)
        if require_all:
            ignored = ~has_all_keys(snapshot, constraints, nodes)
            keyed = has_all_keys(snapshot, constraints, everyone)
        kept = nodes[~ignored]
        inclusion = node_inclusion(snapshot, pod.pod, constraints)
        scoring: list[_Scoring] = []
        for c, admitted in zip(constraints, inclusion, strict=True):
            if c.topology_key == HOSTNAME:
                mask = np.zeros(snapshot.size, dtype=bool)
                mask[nodes] = True
                on_node = matching_pods(self.placed, c, pod.namespace, mask)
                scoring.append(_Scoring(c, math.log(len(kept) + 2), on_node, everyone))
                continue
            ids, width = _value_ids(snapshot, c.topology_key)
            registered = np.zeros(width, dtype=bool)
            registered[ids[kept]] = True
            contributing = keyed & admitted & registered[ids]
            pods = matching_pods(self.placed, c, pod.namespace, contributing)
            counts = np.bincount(ids[contributing], weights=pods[contributing], minlength=width)
            weight = math.log(int(registered.sum()) + 2)
            scoring.append(_Scoring(c, weight, counts.astype(np.int64), ids))
        state.write(_SCORE_KEY, _ScoreState(tuple(scoring), nodes.copy(), ignored))
        return Status.success()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """Raw score: weighted matching pods of the node's domains, rounded; -1 marks the
        nodes PreScore ignored (they normalise to 0)."""
        found = state.get(_SCORE_KEY)
        if found is None or not np.array_equal(found.nodes, nodes):  # PreScore ran elsewhere
            status = self.pre_score(state, pod, snapshot, nodes)
            found = state.get(_SCORE_KEY) if status.code == Code.SUCCESS else None
            if found is None:  # nothing to score (an ERROR was already PreScore's to report)
                return np.zeros(len(nodes), dtype=np.int64)
        total = np.zeros(len(nodes), dtype=np.float64)
        for s in found.constraints:
            c = s.constraint
            has = snapshot.label_column(c.topology_key)[0][nodes] >= 0
            per_node = s.counts[s.ids[nodes]]
            total += np.where(has, per_node * s.weight + float(c.max_skew - 1), 0.0)
        raw = _round_half_away(total)
        raw[found.ignored] = _IGNORED
        return raw

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Reverse min-max (fewest matching pods = 100); ignored nodes score 0."""
        raw = np.asarray(scores, dtype=np.int64)
        valid = raw != _IGNORED
        out = np.zeros(len(raw), dtype=np.int64)
        if not valid.any():
            return out
        low = int(raw[valid].min())
        high = max(int(raw[valid].max()), 0)
        if high == 0:
            out[valid] = MAX_NODE_SCORE
            return out
        out[valid] = MAX_NODE_SCORE * (high + low - raw[valid]) // high
        return out


PLUGINS: dict[str, type] = {PodTopologySpread.name: PodTopologySpread}
