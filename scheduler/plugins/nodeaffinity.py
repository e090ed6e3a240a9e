"""NodeAffinity: ``nodeSelector``, required and preferred node affinity (kube-scheduler 1.35).

* PreFilter: SKIP when the pod has no ``nodeSelector``, no required node affinity and the
  profile adds none. When every required term names nodes with ``matchFields``
  ``metadata.name In``, only those nodes are candidates; if the terms name no common node
  the pod is UNSCHEDULABLE_AND_UNRESOLVABLE ``pod affinity terms conflict``.
* Filter: a node must match the profile's ``addedAffinity`` (else
  ``node(s) didn't match scheduler-enforced node affinity``), every ``nodeSelector`` label,
  and one required term (else ``node(s) didn't match Pod's node affinity/selector``); both
  UNSCHEDULABLE_AND_UNRESOLVABLE. Invalid terms never match; the others still can.
* Score: the sum of the weights of the preferred terms (the pod's and the profile's) the
  node matches, normalised with :func:`~scheduler.plugins.helper.normalize.default_normalize`.
  An invalid preferred term in the pod is an ERROR (as upstream's PreScore).

Algorithm overview: each valid term is turned once per cycle into its label requirements
and its ``matchFields``. A label requirement is evaluated for all nodes at once as a
lookup table over the distinct values of ``Snapshot.label_column(key)`` (plus one slot for
"label absent"), indexed by the nodes' value codes; ``In``/``NotIn``/``Exists``/
``DoesNotExist`` are set tests over the distinct values, ``Gt``/``Lt`` run the compiled
upstream matcher once per distinct value. ``matchFields`` run the compiled matcher per
candidate node. Validity (which terms never match) comes from
:func:`~scheduler.api.selectors.compile_node_selector`, so both paths share one definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from scheduler.api.pod import NodeAffinity as NodeAffinitySpec
from scheduler.api.pod import PreferredSchedulingTerm
from scheduler.api.selectors import (
    CompiledNodeSelector,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    compile_node_selector,
)
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.interfaces import FilterResult, Handle, NodeIds, PreFilterResult
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import PluginArgs, parse_args
from scheduler.plugins.helper.normalize import default_normalize

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = ["ERR_REASON_POD", "PLUGINS", "NodeAffinity", "RequiredPlan", "required_plan"]

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
_OBJECT_NAME = "metadata.name"

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Term:
    """A valid, non-empty node selector term, split for vectorised evaluation."""

    expressions: tuple[NodeSelectorRequirement, ...]
    fields: CompiledNodeSelector | None


def _selector(*terms: NodeSelectorTerm) -> NodeSelector:
    return NodeSelector(node_selector_terms=terms)


def _plan_term(term: NodeSelectorTerm) -> _Term | str | None:
    """The term's plan; ``None`` for an empty term; the problems text for an invalid one."""
    compiled = compile_node_selector(_selector(term))
    if not compiled.terms:
        return None
    if compiled.problems:
        return "; ".join(compiled.problems)
    fields = (
        compile_node_selector(_selector(NodeSelectorTerm(match_fields=term.match_fields)))
        if term.match_fields
        else None
    )
    return _Term(term.match_expressions, fields)


def _plan_selector(selector: NodeSelector) -> tuple[_Term, ...]:
    """The terms of a required selector that can match (empty and invalid ones never do)."""
    planned = (_plan_term(term) for term in selector.node_selector_terms)
    return tuple(t for t in planned if isinstance(t, _Term))


@dataclass(frozen=True, slots=True)
class RequiredPlan:
    """A pod's hard node constraints, ready for :meth:`matches`.

    ``node_selector``: ``spec.nodeSelector`` pairs; ``terms``: the required affinity's
    matchable terms, or ``None`` when the pod has no required affinity (no constraint).
    """

    node_selector: tuple[tuple[str, str], ...]
    terms: tuple[_Term, ...] | None

    def matches(self, snapshot: Snapshot, nodes: NodeIds) -> Mask:
        """Which of ``nodes`` satisfy the ``nodeSelector`` and the required affinity."""
        mask = np.ones(len(nodes), dtype=bool)
        for key, value in self.node_selector:
            codes, values = snapshot.label_column(key)
            if value not in values:
                return np.zeros(len(nodes), dtype=bool)
            mask &= codes[nodes] == values.index(value)
        if self.terms is not None:
            mask &= _any_term(self.terms, snapshot, nodes)
        return mask


def required_plan(spec: NodeAffinitySpec | None, node_selector: Mapping[str, str]) -> RequiredPlan:
    """Plan ``nodeSelector`` + ``requiredDuringSchedulingIgnoredDuringExecution``."""
    required = spec.required_during_scheduling_ignored_during_execution if spec else None
    terms = _plan_selector(required) if required is not None else None
    return RequiredPlan(tuple(node_selector.items()), terms)


def _requirement_table(req: NodeSelectorRequirement, values: tuple[str, ...]) -> Mask:
    """Match per distinct label value, plus a last slot for nodes without the label."""
    operator = req.operator
    if operator in ("In", "NotIn"):
        listed = frozenset(req.values)
        inside = np.fromiter((v in listed for v in values), dtype=bool, count=len(values))
        if operator == "In":
            return np.append(inside, False)
        return np.append(~inside, True)
    if operator in ("Exists", "DoesNotExist"):
        table = np.full(len(values) + 1, operator == "Exists", dtype=bool)
        table[-1] = operator == "DoesNotExist"
        return table
    single = compile_node_selector(_selector(NodeSelectorTerm(match_expressions=(req,))))
    found = [single.matches("", {req.key: v}) for v in values]
    return np.array([*found, single.matches("", {})], dtype=bool)


def _term_matches(term: _Term, snapshot: Snapshot, nodes: NodeIds) -> Mask:
    mask = np.ones(len(nodes), dtype=bool)
    for req in term.expressions:
        codes, values = snapshot.label_column(req.key)
        table = _requirement_table(req, values)
        mine = codes[nodes]
        mask &= table[np.where(mine < 0, len(values), mine)]
    if term.fields is not None:
        fields = term.fields
        names = snapshot.node_names
        for i in np.flatnonzero(mask):
            mask[i] = fields.matches(names[int(nodes[i])], {})
    return mask


def _any_term(terms: Sequence[_Term], snapshot: Snapshot, nodes: NodeIds) -> Mask:
    mask = np.zeros(len(nodes), dtype=bool)
    for term in terms:
        rest = ~mask
        if not rest.any():
            break
        mask[rest] = _term_matches(term, snapshot, nodes[rest])
    return mask


def _node_affinity(pod: PodInfo) -> NodeAffinitySpec | None:
    affinity = pod.pod.spec.affinity
    return affinity.node_affinity if affinity is not None else None


def _plan_preferred(
    terms: Sequence[PreferredSchedulingTerm], owner: str
) -> tuple[tuple[int, _Term], ...]:
    """Weighted preferred terms (weight 0 and empty terms dropped); ValueError when invalid."""
    planned: list[tuple[int, _Term]] = []
    problems: list[str] = []
    for i, term in enumerate(terms):
        if term.weight == 0:
            continue
        plan = _plan_term(term.preference)
        if isinstance(plan, str):
            problems.append(f"[{i}].preference: {plan}")
        elif plan is not None:
            planned.append((term.weight, plan))
    if problems:
        raise ValueError(f"{owner}: {'; '.join(problems)}")
    return tuple(planned)


def _preferred_score(
    terms: Sequence[tuple[int, _Term]], snapshot: Snapshot, nodes: NodeIds
) -> npt.NDArray[np.int64]:
    total = np.zeros(len(nodes), dtype=np.int64)
    for weight, term in terms:
        total += np.where(_term_matches(term, snapshot, nodes), weight, 0)
    return total


class NodeAffinityArgs(PluginArgs):
    """Args of NodeAffinity (kube-scheduler's ``NodeAffinityArgs``)."""

    added_affinity: NodeAffinitySpec | None = Field(
        default=None,
        alias="addedAffinity",
        description=(
            "Node affinity applied to every pod on top of its own: the required part filters, "
            "the preferred terms add to the score."
        ),
    )

    @field_validator("added_affinity")
    @classmethod
    def _valid(cls, added: NodeAffinitySpec | None) -> NodeAffinitySpec | None:
        if added is None:
            return added
        required = added.required_during_scheduling_ignored_during_execution
        if required is not None:
            problems = compile_node_selector(required).problems
            if problems:
                raise ValueError(
                    "requiredDuringSchedulingIgnoredDuringExecution: " + "; ".join(problems)
                )
        _plan_preferred(
            added.preferred_during_scheduling_ignored_during_execution,
            "preferredDuringSchedulingIgnoredDuringExecution",
        )
        return added


_FILTER_KEY = StateKey[RequiredPlan]("PreFilterNodeAffinity")
_SCORE_KEY = StateKey[tuple[tuple[int, _Term], ...]]("PreScoreNodeAffinity")


class NodeAffinity:
    """PreFilter + Filter + PreScore + Score on node labels; see the module docstring."""

    name = "NodeAffinity"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parsed = parse_args(self.name, NodeAffinityArgs, args)
        self.handle = handle
        added = parsed.added_affinity
        required = added.required_during_scheduling_ignored_during_execution if added else None
        self._added_required = _plan_selector(required) if required is not None else None
        preferred = added.preferred_during_scheduling_ignored_during_execution if added else ()
        self._added_preferred = _plan_preferred(preferred, "addedAffinity") if preferred else None

    # -- filtering --------------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        """Plan the pod's hard constraints; narrow to named nodes when the terms allow it."""
        spec = pod.pod.spec
        affinity = _node_affinity(pod)
        required = (
            affinity.required_during_scheduling_ignored_during_execution if affinity else None
        )
        if required is None and self._added_required is None and not spec.node_selector:
            return None, Status.skip()
        state.write(_FILTER_KEY, required_plan(affinity, spec.node_selector))
        if required is None or not required.node_selector_terms:
            return None, Status.success()
        named: set[str] = set()
        for term in required.node_selector_terms:
            in_term: set[str] | None = None
            for req in term.match_fields:
                if req.key == _OBJECT_NAME and req.operator == "In":
                    in_term = set(req.values) if in_term is None else in_term & set(req.values)
            if in_term is None:
                return None, Status.success()
            named |= in_term
        if not named:
            return None, Status.unresolvable(ERR_REASON_CONFLICT)
        ids = sorted(snapshot.node_index[n] for n in named if n in snapshot.node_index)
        return PreFilterResult(np.array(ids, dtype=np.intp)), Status.success()

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Profile-enforced affinity first, then the pod's nodeSelector and required terms."""
        checks: list[tuple[Status, Mask]] = []
        if self._added_required is not None:
            enforced = _any_term(self._added_required, snapshot, nodes)
            checks.append((Status.unresolvable(ERR_REASON_ENFORCED), ~enforced))
        plan = state.get(_FILTER_KEY)
        if plan is None:
            plan = required_plan(_node_affinity(pod), pod.pod.spec.node_selector)
        checks.append((Status.unresolvable(ERR_REASON_POD), ~plan.matches(snapshot, nodes)))
        return FilterResult.from_checks(checks, len(nodes))

    # -- scoring ----------------------------------------------------------------------------------
    def _pod_preferred(self, pod: PodInfo) -> tuple[tuple[int, _Term], ...] | None:
        affinity = _node_affinity(pod)
        terms = affinity.preferred_during_scheduling_ignored_during_execution if affinity else ()
        if not terms:
            return None
        where = f"Pod {pod.key}: spec.affinity.nodeAffinity.preferredDuringScheduling"
        return _plan_preferred(terms, where + "IgnoredDuringExecution")

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Plan the preferred terms; SKIP when neither the pod nor the profile has any;
        ERROR naming the pod and term when a preferred term is invalid."""
        try:
            preferred = self._pod_preferred(pod)
        except ValueError as err:
            return Status.error(str(err))
        if preferred is None and self._added_preferred is None:
            return Status.skip()
        state.write(_SCORE_KEY, preferred or ())
        return Status.success()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """Raw score: the summed weights of the matching preferred terms.

        Raises ValueError (naming the pod and the term) when PreScore did not run and a
        preferred term is invalid.
        """
        preferred = state.get(_SCORE_KEY)
        if preferred is None:
            preferred = self._pod_preferred(pod) or ()
        total = _preferred_score(preferred, snapshot, nodes)
        if self._added_preferred is not None:
            total += _preferred_score(self._added_preferred, snapshot, nodes)
        return total

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Default normalisation: the best-matching node scores 100."""
        return default_normalize(scores)


PLUGINS: dict[str, type] = {NodeAffinity.name: NodeAffinity}
