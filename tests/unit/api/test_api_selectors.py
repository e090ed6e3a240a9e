"""Node selector, label selector and node affinity matching, operator by operator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scheduler.api import (
    InvalidSelectorError,
    LabelSelector,
    Node,
    NodeSelector,
    Pod,
    compile_node_selector,
    label_selector_matches,
    node_selector_matches,
)
from scheduler.framework.cycle_state import CycleState
from scheduler.plugins.nodeaffinity import NodeAffinity
from tests.builders import info, make_handle

LABELS = {"zone": "a", "gpus": "8", "tier": "gold", "bad-int": "x8"}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": list(values)}


def term(
    *expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"matchExpressions": list(expressions)}
    if fields:
        out["matchFields"] = fields
    return out


def selector(*terms: dict[str, Any]) -> NodeSelector:
    return NodeSelector.model_validate({"nodeSelectorTerms": list(terms)})


# (requirement, matches node "n1" with LABELS?)
EXPRESSIONS = [
    (expr("zone", "In", "a", "b"), True),
    (expr("zone", "In", "b"), False),
    (expr("missing", "In", "a"), False),  # In needs the label
    (expr("zone", "NotIn", "b"), True),
    (expr("zone", "NotIn", "a"), False),
    (expr("missing", "NotIn", "a"), True),  # NotIn holds when the label is absent
    (expr("zone", "Exists"), True),
    (expr("missing", "Exists"), False),
    (expr("zone", "DoesNotExist"), False),
    (expr("missing", "DoesNotExist"), True),
    (expr("gpus", "Gt", "7"), True),  # 8 > 7
    (expr("gpus", "Gt", "8"), False),  # 8 > 8 is false
    (expr("gpus", "Lt", "9"), True),  # 8 < 9
    (expr("gpus", "Lt", "8"), False),
    (expr("gpus", "Gt", "+7"), False),  # ParseInt takes "+7", but it is not a valid label value
    (expr("bad-int", "Gt", "1"), False),  # label value not an integer -> no match
    (expr("missing", "Lt", "100"), False),  # Gt/Lt need the label
]


@pytest.mark.parametrize(("requirement", "expected"), EXPRESSIONS)
def test_match_expressions(requirement: dict[str, Any], expected: bool) -> None:
    """Each label operator follows labels.Requirement.Matches."""
    assert node_selector_matches(selector(term(requirement)), "n1", LABELS) is expected


# (invalid requirement) -> its term never matches, other terms still can
INVALID = [
    expr("zone", "In"),  # In without values
    expr("zone", "NotIn"),  # NotIn without values
    expr("zone", "Exists", "a"),  # Exists with values
    expr("zone", "DoesNotExist", "a"),
    expr("gpus", "Gt", "1", "2"),  # Gt with two values
    expr("gpus", "Gt", "many"),  # not an integer
    expr("gpus", "Lt"),
    expr("zone", "Equals", "a"),  # unknown operator
    expr("bad key!", "Exists"),  # invalid label key
    expr("zone", "In", "not a label value"),
]


@pytest.mark.parametrize("requirement", INVALID)
def test_invalid_requirement_disables_only_its_term(requirement: dict[str, Any]) -> None:
    """An invalid requirement makes its term match nothing; an OR-ed valid term still matches."""
    bad = term(requirement, expr("zone", "Exists"))
    assert not node_selector_matches(selector(bad), "n1", LABELS)
    assert node_selector_matches(selector(bad, term(expr("zone", "In", "a"))), "n1", LABELS)
    assert compile_node_selector(selector(bad)).problems


def test_terms_or_requirements_and() -> None:
    """Terms are ORed; requirements within a term are ANDed."""
    both = term(expr("zone", "In", "a"), expr("tier", "In", "silver"))
    assert not node_selector_matches(selector(both), "n1", LABELS)
    either = selector(term(expr("tier", "In", "silver")), term(expr("zone", "In", "a")))
    assert node_selector_matches(either, "n1", LABELS)


def test_empty_and_nil_selectors() -> None:
    """Nil matches all nodes; no terms, or only empty terms, match none."""
    assert node_selector_matches(None, "n1", LABELS)
    assert not node_selector_matches(selector(), "n1", LABELS)
    assert not node_selector_matches(selector({}), "n1", LABELS)
    assert not node_selector_matches(selector({}, {"matchExpressions": []}), "n1", LABELS)
    assert node_selector_matches(selector({}, term(expr("zone", "Exists"))), "n1", LABELS)


# (matchFields requirement, node name, matches?)
FIELDS = [
    (expr("metadata.name", "In", "n1"), "n1", True),
    (expr("metadata.name", "In", "n2"), "n1", False),
    (expr("metadata.name", "NotIn", "n2"), "n1", True),
    (expr("metadata.name", "NotIn", "n1"), "n1", False),
    (expr("metadata.name", "In", "n1", "n2"), "n1", False),  # needs exactly one value
    (expr("metadata.name", "Exists"), "n1", False),  # only In/NotIn
    (expr("spec.other", "In", "n1"), "n1", False),  # unknown field reads as ""
    (expr("spec.other", "NotIn", "n1"), "n1", True),
    (expr("metadata.name", "In", "n2"), "", True),  # nameless node skips matchFields
]


@pytest.mark.parametrize(("requirement", "node_name", "expected"), FIELDS)
def test_match_fields(requirement: dict[str, Any], node_name: str, expected: bool) -> None:
    """matchFields supports metadata.name with In/NotIn and one value."""
    sel = selector({"matchFields": [requirement]})
    assert node_selector_matches(sel, node_name, LABELS) is expected


def test_match_fields_and_expressions_are_anded() -> None:
    """A term with both matchExpressions and matchFields needs both."""
    both = term(expr("zone", "In", "a"), fields=[expr("metadata.name", "In", "n1")])
    assert node_selector_matches(selector(both), "n1", LABELS)
    assert not node_selector_matches(selector(both), "n2", LABELS)


def label_selector(data: dict[str, Any]) -> LabelSelector:
    return LabelSelector.model_validate(data)


# (selector, matches LABELS?)
LABEL_SELECTORS = [
    ({}, True),  # empty selector matches everything
    ({"matchLabels": {"zone": "a"}}, True),
    ({"matchLabels": {"zone": "a", "tier": "silver"}}, False),
    ({"matchExpressions": [expr("tier", "In", "gold", "silver")]}, True),
    ({"matchExpressions": [expr("tier", "NotIn", "gold")]}, False),
    ({"matchExpressions": [expr("other", "NotIn", "gold")]}, True),
    ({"matchExpressions": [expr("tier", "Exists")]}, True),
    ({"matchExpressions": [expr("tier", "DoesNotExist")]}, False),
    ({"matchLabels": {"zone": "a"}, "matchExpressions": [expr("x", "Exists")]}, False),
]


@pytest.mark.parametrize(("data", "expected"), LABEL_SELECTORS)
def test_label_selector(data: dict[str, Any], expected: bool) -> None:
    """Label selectors AND matchLabels and matchExpressions."""
    assert label_selector_matches(label_selector(data), LABELS) is expected


def test_nil_label_selector_matches_nothing() -> None:
    """A nil label selector selects no objects (LabelSelectorAsSelector -> Nothing)."""
    assert not label_selector_matches(None, LABELS)
    assert not label_selector_matches(None, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"matchExpressions": [expr("tier", "Gt", "1")]}, "matchExpressions[0].operator: 'Gt'"),
        ({"matchExpressions": [expr("tier", "In")]}, "values must be non-empty"),
        ({"matchExpressions": [expr("tier", "Exists", "x")]}, "values must be empty"),
        ({"matchLabels": {"a/b/c": "x"}}, "matchLabels[a/b/c]"),
        ({"matchLabels": {"zone": "-bad"}}, "label value '-bad'"),
    ],
)
def test_invalid_label_selector_raises(data: dict[str, Any], message: str) -> None:
    """Invalid label selectors raise InvalidSelectorError naming the field and value."""
    with pytest.raises(InvalidSelectorError, match=message.replace("[", r"\[").replace("]", r"\]")):
        label_selector_matches(label_selector(data), LABELS)


def pod(spec: dict[str, Any]) -> Pod:
    return Pod.model_validate({"metadata": {"name": "p"}, "spec": spec})


NODE = Node.model_validate({"metadata": {"name": "n1", "labels": LABELS}})
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"

# (pod spec, fits NODE?)
AFFINITY = [
    ({}, True),
    ({"nodeSelector": {"zone": "a"}}, True),
    ({"nodeSelector": {"zone": "b"}}, False),
    ({"nodeSelector": {"zone": "a", "missing": ""}}, False),  # absent label != ""
    (
        {
            "affinity": {
                "nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [term(expr("gpus", "Gt", "4"))]}}
            }
        },
        True,
    ),
    (
        {
            "affinity": {
                "nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [term(expr("gpus", "Gt", "9"))]}}
            }
        },
        False,
    ),
    (
        {"affinity": {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": []}}}},
        False,
    ),  # present, no terms
    ({"affinity": {"nodeAffinity": {}}}, True),  # no required part
    (  # both must hold
        {
            "nodeSelector": {"zone": "b"},
            "affinity": {
                "nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [term(expr("zone", "Exists"))]}}
            },
        },
        False,
    ),
]


@pytest.mark.parametrize(("spec", "expected"), AFFINITY)
def test_node_affinity_filter_table(spec: dict[str, Any], expected: bool) -> None:
    """NodeAffinity's filter: nodeSelector labels all equal, and the required affinity matches."""
    handle = make_handle([NODE])
    plugin = NodeAffinity({}, handle)
    snapshot = handle.snapshot()
    state = CycleState()
    candidate = info(pod(spec))
    narrowed, status = plugin.pre_filter(state, candidate, snapshot)
    if status.rejected:
        assert not expected
        return
    nodes = np.arange(snapshot.size, dtype=np.intp)
    if narrowed is not None and narrowed.nodes is not None:
        nodes = np.intersect1d(nodes, narrowed.nodes)
    passed = bool(plugin.filter(state, candidate, snapshot, nodes).passed.all()) and len(nodes) > 0
    assert passed is expected
