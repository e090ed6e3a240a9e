"""InterPodAffinity: required and preferred pod affinity / anti-affinity (kube-scheduler 1.35).

Upstream: ``pkg/scheduler/framework/plugins/interpodaffinity/{filtering,scoring,plugin}.go``;
the full account is ``docs/semantics/interpodaffinity-podtopologyspread.md``. Terms are
processed by :mod:`scheduler.plugins.helper.affinityterms`; "existing pods" are the pods bound or
assumed on nodes (:mod:`scheduler.plugins.helper.placedpods`), terminating ones included.

* PreFilter counts, per topology pair (label key, value) of the pods' nodes:
  the existing pods matching *all* of the incoming pod's required affinity terms (each
  term's key counted), the existing pods matching each required anti-affinity term, and the
  existing pods whose own required anti-affinity terms match the incoming pod. SKIP when
  the last is empty and the pod has no required terms; a term that does not parse makes
  the pod UNSCHEDULABLE_AND_UNRESOLVABLE ``parsing pod: …``.
* Filter, in this order, first failure wins:
  1. every required affinity term's key must be on the node, and every term's pair must
     count a matching pod, unless no existing pod matches the terms anywhere and the pod
     matches all its own terms (the first pod of a self-affine group) ->
     UNSCHEDULABLE_AND_UNRESOLVABLE ``node(s) didn't match pod affinity rules``;
  2. no required anti-affinity term's pair may count a matching pod -> UNSCHEDULABLE
     ``node(s) didn't match pod anti-affinity rules``;
  3. no pair of the node's labels may count an existing pod whose anti-affinity rejects
     the incoming pod (symmetry) -> UNSCHEDULABLE
     ``node(s) didn't satisfy existing pods anti-affinity rules``.
* PreScore sums, per topology pair of each existing pod's node: + weight of each of the
  incoming pod's preferred affinity terms the existing pod matches, - weight per preferred
  anti-affinity term; + ``hardPodAffinityWeight`` per required affinity term of the existing
  pod that the incoming pod matches; + / - the weights of the existing pod's preferred
  affinity / anti-affinity terms that the incoming pod matches. SKIP when
  ``ignorePreferredTermsOfExistingPods`` is set and the pod has no preferred terms, or when
  no term matched anywhere.
* Score: the sum of the pair sums of the node's labels; normalised min-max to 0..100
  (``floor(100 * (s - min) / (max - min))``, all 0 when max == min).

Algorithm overview: pair counts are kept as one integer array per topology key, indexed by
the value codes of ``Snapshot.label_column(key)``, so Filter and Score are array lookups
over the candidate nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.interfaces import (
    MAX_NODE_SCORE,
    FilterResult,
    Handle,
    NodeIds,
    PreFilterResult,
)
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.affinityterms import (
    AffinityTerm,
    NamespaceLabels,
    PodAffinityTerms,
    WeightedTerm,
    parse_pod_affinity,
)
from scheduler.plugins.helper.args import PluginArgs, parse_args
from scheduler.plugins.helper.placedpods import PlacedPod, PlacedPods

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = [
    "ERR_REASON_AFFINITY",
    "ERR_REASON_ANTI_AFFINITY",
    "ERR_REASON_EXISTING_ANTI_AFFINITY",
    "PLUGINS",
    "InterPodAffinity",
    "InterPodAffinityArgs",
]

ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

Counts = dict[str, npt.NDArray[np.int64]]
"""Per topology key, a count per distinct value of that node label (``label_column``)."""


class InterPodAffinityArgs(PluginArgs):
    """Args of InterPodAffinity (kube-scheduler's ``InterPodAffinityArgs``)."""

    hard_pod_affinity_weight: int = Field(
        default=1,
        ge=0,
        le=100,
        alias="hardPodAffinityWeight",
        description=(
            "Score weight of an existing pod's required affinity term that the incoming pod "
            "matches (0..100; 0 turns that part of the score off)."
        ),
    )
    ignore_preferred_terms_of_existing_pods: bool = Field(
        default=False,
        alias="ignorePreferredTermsOfExistingPods",
        description=(
            "Skip scoring when the incoming pod has no preferred terms, ignoring the "
            "existing pods' preferred terms and required affinity."
        ),
    )


@dataclass(frozen=True, slots=True)
class _FilterState:
    """PreFilter's counts: see the module docstring."""

    terms: PodAffinityTerms
    affinity: Counts
    anti_affinity: Counts
    existing_anti_affinity: Counts
    matches_own_terms: bool


@dataclass(frozen=True, slots=True)
class _ScoreState:
    """PreScore's sums per topology key and value."""

    sums: Counts


_FILTER_KEY = StateKey[_FilterState]("PreFilterInterPodAffinity")
_SCORE_KEY = StateKey[_ScoreState]("PreScoreInterPodAffinity")


def _add(counts: Counts, snapshot: Snapshot, key: str, node: int, amount: int) -> bool:
    """Add ``amount`` to the pair (key, node's value); False when the node lacks the key."""
    codes, values = snapshot.label_column(key)
    code = int(codes[node])
    if code < 0:
        return False
    found = counts.get(key)
    if found is None:
        found = counts[key] = np.zeros(len(values), dtype=np.int64)
    found[code] += amount
    return True


def _lookup(counts: Counts, snapshot: Snapshot, key: str, nodes: NodeIds) -> npt.NDArray[np.int64]:
    """Per node, the count of its (key, value) pair; 0 when absent or the node lacks the key."""
    found = counts.get(key)
    if found is None:
        return np.zeros(len(nodes), dtype=np.int64)
    codes = snapshot.label_column(key)[0][nodes]
    return np.append(found, 0)[codes]  # code -1 (no key) reads the 0 slot


def _total(counts: Counts) -> int:
    return sum(int(a.sum()) for a in counts.values())


class InterPodAffinity:
    """PreFilter + Filter + PreScore + Score on pod (anti-)affinity; see the module docstring.

    ``namespace_labels`` gives the labels of namespaces by name for ``namespaceSelector``
    terms (tessera's cache holds no Namespace objects; see
    :class:`~scheduler.plugins.helper.affinityterms.NamespaceLabels`).
    """

    name = "InterPodAffinity"

    def __init__(
        self,
        args: Mapping[str, Any],
        handle: Handle,
        *,
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.args = parse_args(self.name, InterPodAffinityArgs, args)
        self.handle = handle
        self.namespaces = NamespaceLabels(namespace_labels)
        self.placed = PlacedPods()

    def _matches_all(
        self, terms: tuple[AffinityTerm, ...], namespace: str, labels: Mapping[str, str]
    ) -> bool:
        """``podMatchesAllAffinityTerms``: false for no terms."""
        return bool(terms) and all(t.matches(namespace, labels, self.namespaces) for t in terms)

    # -- filtering --------------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        """Count the topology pairs Filter needs (see the module docstring)."""
        terms = parse_pod_affinity(pod.pod)
        if terms.problems:
            return None, Status.unresolvable(f"parsing pod: {'; '.join(terms.problems)}")
        self.placed.refresh(snapshot)
        namespace = pod.namespace
        labels = pod.pod.metadata.labels
        existing: Counts = {}
        for i in self.placed.with_required_anti_affinity():
            for other in self.placed.on(i):
                for term in other.terms.required_anti_affinity:
                    if term.matches(namespace, labels, self.namespaces):
                        _add(existing, snapshot, term.topology_key, i, 1)
        affinity: Counts = {}
        anti: Counts = {}
        required, forbidden = terms.required_affinity, terms.required_anti_affinity
        if required:  # pods matching every term: visit those carrying the narrowest label
            visit = min((self.placed.candidates(t.narrowing) for t in required), key=len)
            for i, other in visit:
                if self._matches_all(required, other.namespace, other.labels):
                    for term in required:
                        _add(affinity, snapshot, term.topology_key, i, 1)
        for term in forbidden:
            for i, other in self.placed.candidates(term.narrowing):
                if term.matches(other.namespace, other.labels, self.namespaces):
                    _add(anti, snapshot, term.topology_key, i, 1)
        if not _total(existing) and not required and not forbidden:
            return None, Status.skip()
        own = self._matches_all(required, namespace, labels)
        state.write(_FILTER_KEY, _FilterState(terms, affinity, anti, existing, own))
        return None, Status.success()

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Reject nodes breaking the pod's affinity, its anti-affinity, or an existing pod's
        anti-affinity, in that order (see the module docstring)."""
        count = len(nodes)
        found = state.get(_FILTER_KEY)
        if found is None:  # PreFilter did not run for this state: run it now
            _, status = self.pre_filter(state, pod, snapshot)
            if status.rejected:
                return FilterResult.from_checks([(status, np.ones(count, dtype=bool))], count)
            found = state.get(_FILTER_KEY)
            if found is None:
                return FilterResult.all(count)
        checks: list[tuple[Status, npt.NDArray[np.bool_]]] = []
        if found.terms.required_affinity:
            missing = np.zeros(count, dtype=bool)
            present = np.ones(count, dtype=bool)
            for term in found.terms.required_affinity:
                missing |= snapshot.label_column(term.topology_key)[0][nodes] < 0
                present &= _lookup(found.affinity, snapshot, term.topology_key, nodes) > 0
            first_of_group = _total(found.affinity) == 0 and found.matches_own_terms
            failed = missing | (~present & (not first_of_group))
            checks.append((Status.unresolvable(ERR_REASON_AFFINITY), failed))
        if _total(found.anti_affinity):
            hit = np.zeros(count, dtype=bool)
            for term in found.terms.required_anti_affinity:
                hit |= _lookup(found.anti_affinity, snapshot, term.topology_key, nodes) > 0
            checks.append((Status.unschedulable(ERR_REASON_ANTI_AFFINITY), hit))
        if _total(found.existing_anti_affinity):
            hit = np.zeros(count, dtype=bool)
            for key in found.existing_anti_affinity:
                hit |= _lookup(found.existing_anti_affinity, snapshot, key, nodes) > 0
            checks.append((Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY), hit))
        return FilterResult.from_checks(checks, count)

    # -- scoring ----------------------------------------------------------------------------------
    def _score_existing(
        self, sums: Counts, snapshot: Snapshot, node: int, other: PlacedPod, pod: PodInfo
    ) -> bool:
        """Add an existing pod's own terms that the incoming pod matches: its required
        affinity (``hardPodAffinityWeight`` each) and its preferred terms; True if any."""
        touched = False
        namespace = pod.namespace
        labels = pod.pod.metadata.labels
        hard = self.args.hard_pod_affinity_weight
        if hard > 0:
            for term in other.terms.required_affinity:
                if term.matches(namespace, labels, self.namespaces):
                    touched |= _add(sums, snapshot, term.topology_key, node, hard)
        theirs: tuple[tuple[tuple[WeightedTerm, ...], int], ...] = (
            (other.terms.preferred_affinity, 1),
            (other.terms.preferred_anti_affinity, -1),
        )
        for weighted, sign in theirs:
            for w in weighted:
                if w.term.matches(namespace, labels, self.namespaces):
                    touched |= _add(sums, snapshot, w.term.topology_key, node, sign * w.weight)
        return touched

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Sum the preferred terms both ways and the existing pods' required affinity per
        topology pair; SKIP when nothing can score (see the module docstring)."""
        affinity = pod.pod.spec.affinity
        preferred = affinity is not None and bool(
            (
                affinity.pod_affinity is not None
                and affinity.pod_affinity.preferred_during_scheduling_ignored_during_execution
            )
            or (
                affinity.pod_anti_affinity is not None
                and affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution
            )
        )
        if self.args.ignore_preferred_terms_of_existing_pods and not preferred:
            return Status.skip()
        mine = parse_pod_affinity(pod.pod)
        if mine.problems:
            return Status.error(f"Pod {pod.key}: parsing pod: {'; '.join(mine.problems)}")
        self.placed.refresh(snapshot)
        sums: Counts = {}
        touched = False
        # the incoming pod's preferred terms, against the pods that can match them
        mine_weighted: tuple[tuple[tuple[WeightedTerm, ...], int], ...] = (
            (mine.preferred_affinity, 1),
            (mine.preferred_anti_affinity, -1),
        )
        for weighted, sign in mine_weighted:
            for w in weighted:
                for i, other in self.placed.candidates(w.term.narrowing):
                    if snapshot.labels(i) and w.term.matches(
                        other.namespace, other.labels, self.namespaces
                    ):
                        touched |= _add(sums, snapshot, w.term.topology_key, i, sign * w.weight)
        # the existing pods' own terms, against the incoming pod
        for i in self.placed.with_affinity():
            if snapshot.labels(i):
                for other in self.placed.on(i):
                    if other.terms.has_affinity:
                        touched |= self._score_existing(sums, snapshot, i, other, pod)
        if not touched:
            return Status.skip()
        state.write(_SCORE_KEY, _ScoreState(sums))
        return Status.success()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """Raw score: the sums of the node's topology pairs (negative for anti-affinity)."""
        found = state.get(_SCORE_KEY)
        total = np.zeros(len(nodes), dtype=np.int64)
        if found is None:
            return total
        for key in found.sums:
            total += _lookup(found.sums, snapshot, key, nodes)
        return total

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Min-max to 0..100 with upstream's float arithmetic (all 0 when max == min)."""
        raw = np.asarray(scores, dtype=np.int64)
        if state.get(_SCORE_KEY) is None or len(raw) == 0:
            return raw.copy()
        low, high = int(raw.min()), int(raw.max())
        if high == low:
            return np.zeros(len(raw), dtype=np.int64)
        share = (raw - low).astype(np.float64) / float(high - low)
        return (float(MAX_NODE_SCORE) * share).astype(np.int64)


PLUGINS: dict[str, type] = {InterPodAffinity.name: InterPodAffinity}
