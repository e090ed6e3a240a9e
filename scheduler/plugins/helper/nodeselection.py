"""Node selection evaluated for many nodes at once: ``nodeSelector`` and node selector terms.

Who calls: NodeAffinity (its Filter and Score) and PodTopologySpread (its nodeAffinityPolicy:
Honor). A term is planned once (:func:`plan_selector`, :func:`required_plan`); a label
requirement is evaluated for all nodes as a lookup table over the distinct values of
``Snapshot.label_column(key)`` plus a slot for "label absent"; ``In``/``NotIn``/``Exists``/
``DoesNotExist`` are set tests, ``Gt``/``Lt`` run the compiled upstream matcher once per
distinct value; ``matchFields`` run the compiled matcher per candidate node. Validity (which
terms never match) comes from :func:`~scheduler.api.selectors.compile_node_selector`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scheduler.api.pod import NodeAffinity as NodeAffinitySpec
from scheduler.api.selectors import (
    CompiledNodeSelector,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    compile_node_selector,
)
from scheduler.framework.interfaces import NodeIds

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Term:
    """A valid, non-empty node selector term, split for vectorised evaluation."""

    expressions: tuple[NodeSelectorRequirement, ...]
    fields: CompiledNodeSelector | None


def _selector(*terms: NodeSelectorTerm) -> NodeSelector:
    return NodeSelector(node_selector_terms=terms)


def plan_term(term: NodeSelectorTerm) -> Term | str | None:
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
    return Term(term.match_expressions, fields)


def plan_selector(selector: NodeSelector) -> tuple[Term, ...]:
    """The terms of a required selector that can match (empty and invalid ones never do)."""
    planned = (plan_term(term) for term in selector.node_selector_terms)
    return tuple(t for t in planned if isinstance(t, Term))


@dataclass(frozen=True, slots=True)
class RequiredPlan:
    """A pod's hard node constraints, ready for :meth:`matches`.

    ``node_selector``: ``spec.nodeSelector`` pairs; ``terms``: the required affinity's
    matchable terms, or ``None`` when the pod has no required affinity (no constraint).
    """

    node_selector: tuple[tuple[str, str], ...]
    terms: tuple[Term, ...] | None

    def matches(self, snapshot: Snapshot, nodes: NodeIds) -> Mask:
        """Which of ``nodes`` satisfy the ``nodeSelector`` and the required affinity."""
        mask = np.ones(len(nodes), dtype=bool)
        for key, value in self.node_selector:
            codes, values = snapshot.label_column(key)
            if value not in values:
                return np.zeros(len(nodes), dtype=bool)
            mask &= codes[nodes] == values.index(value)
        if self.terms is not None:
            mask &= any_term(self.terms, snapshot, nodes)
        return mask


def required_plan(spec: NodeAffinitySpec | None, node_selector: Mapping[str, str]) -> RequiredPlan:
    """Plan ``nodeSelector`` + ``requiredDuringSchedulingIgnoredDuringExecution``."""
    required = spec.required_during_scheduling_ignored_during_execution if spec else None
    terms = plan_selector(required) if required is not None else None
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


def term_matches(term: Term, snapshot: Snapshot, nodes: NodeIds) -> Mask:
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


def any_term(terms: Sequence[Term], snapshot: Snapshot, nodes: NodeIds) -> Mask:
    mask = np.zeros(len(nodes), dtype=bool)
    for term in terms:
        rest = ~mask
        if not rest.any():
            break
        mask[rest] = term_matches(term, snapshot, nodes[rest])
    return mask
