"""NodeAffinity: nodeSelector, required and preferred node affinity, vectorised over labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.status import Code
from scheduler.plugins.nodeaffinity import ERR_REASON_POD, NodeAffinity
from tests.builders import info, make_handle, make_node, make_pod, reference_node_affinity

UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE
NODES = [
    make_node("a", labels={"zone": "z1", "gen": "3"}),
    make_node("b", labels={"zone": "z2", "gen": "5"}),
    make_node("c"),
]


def required(*terms: Sequence[Mapping[str, Any]], fields: bool = False) -> dict[str, Any]:
    """``spec.affinity`` with required terms; each term is a list of requirements."""
    kind = "matchFields" if fields else "matchExpressions"
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{kind: list(t)} for t in terms]
            }
        }
    }


def req(key: str, operator: str, *values: str) -> dict[str, Any]:
    """One node selector requirement."""
    return {"key": key, "operator": operator, "values": list(values)}


def run_filter(
    pod: Pod, nodes: Sequence[Node] = NODES, args: Mapping[str, Any] | None = None
) -> tuple[list[bool], set[tuple[Code, str]]]:
    """PreFilter (must not reject) + Filter over every node: (passed, distinct failures)."""
    handle = make_handle(nodes)
    plugin = NodeAffinity(args or {}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    _, status = plugin.pre_filter(state, info(pod), snapshot)
    assert not status.rejected
    result = plugin.filter(state, info(pod), snapshot, np.arange(snapshot.size, dtype=np.intp))
    return result.passed.tolist(), {(s.code, s.message()) for s, _ in result.failures}


@pytest.mark.parametrize(
    ("pod", "passed"),
    [
        (make_pod("p", node_selector={"zone": "z1"}), [True, False, False]),
        (make_pod("p", node_selector={"zone": "z9"}), [False, False, False]),
        (make_pod("p", affinity=required([req("zone", "In", "z1", "z2")])), [True, True, False]),
        # NotIn also matches nodes without the label
        (make_pod("p", affinity=required([req("zone", "NotIn", "z1")])), [False, True, True]),
        (make_pod("p", affinity=required([req("zone", "Exists")])), [True, True, False]),
        (make_pod("p", affinity=required([req("zone", "DoesNotExist")])), [False, False, True]),
        # Gt/Lt compare the label as an integer: 5 > 4, 3 < 4; absent never matches
        (make_pod("p", affinity=required([req("gen", "Gt", "4")])), [False, True, False]),
        (make_pod("p", affinity=required([req("gen", "Lt", "4")])), [True, False, False]),
        # requirements in a term are ANDed
        (
            make_pod("p", affinity=required([req("zone", "Exists"), req("gen", "Lt", "4")])),
            [True, False, False],
        ),
        # terms are ORed
        (
            make_pod("p", affinity=required([req("zone", "In", "z1")], [req("gen", "Gt", "4")])),
            [True, True, False],
        ),
        # an invalid term (In without values) never matches, the other term still can
        (
            make_pod("p", affinity=required([req("zone", "In")], [req("zone", "In", "z2")])),
            [False, True, False],
        ),
        # a required affinity with no terms matches no node
        (make_pod("p", affinity=required()), [False, False, False]),
        # nodeSelector AND required affinity
        (
            make_pod("p", node_selector={"zone": "z1"}, affinity=required([req("gen", "Gt", "4")])),
            [False, False, False],
        ),
        # matchFields on metadata.name
        (
            make_pod("p", affinity=required([req("metadata.name", "NotIn", "a")], fields=True)),
            [False, True, True],
        ),
        (
            make_pod("p", affinity=required([req("metadata.name", "In", "b")], fields=True)),
            [False, True, False],
        ),
    ],
)
def test_required_filter_table(pod: Pod, passed: list[bool]) -> None:
    """Nodes a {zone z1, gen 3}, b {zone z2, gen 5}, c {}: each row's matching nodes."""
    got, failures = run_filter(pod)
    assert got == passed
    assert failures == ({(UU, ERR_REASON_POD)} if not all(passed) else set())


def test_prefilter_skips_pods_without_constraints() -> None:
    """No nodeSelector, no required affinity, no added affinity: the Filter is skipped."""
    handle = make_handle(NODES)
    status = NodeAffinity({}, handle).pre_filter(
        CycleState(), info(make_pod("p")), handle.cache.snapshot()
    )[1]
    assert status.code == Code.SKIP


def test_prefilter_narrows_to_named_nodes() -> None:
    """Terms naming nodes by metadata.name In narrow the candidates to the union of names."""
    handle = make_handle(NODES)
    pod = make_pod(
        "p",
        affinity=required(
            [req("metadata.name", "In", "c", "missing")],
            [req("metadata.name", "In", "a")],
            fields=True,
        ),
    )
    result, status = NodeAffinity({}, handle).pre_filter(
        CycleState(), info(pod), handle.cache.snapshot()
    )
    assert status.ok
    assert result is not None and result.nodes is not None
    # union {c, missing} | {a} -> ids of the existing nodes a=0, c=2
    assert result.nodes.tolist() == [0, 2]


def test_prefilter_rejects_conflicting_names() -> None:
    """A term whose metadata.name In requirements share no name conflicts: unresolvable."""
    handle = make_handle(NODES)
    pod = make_pod(
        "p",
        affinity=required(
            [req("metadata.name", "In", "a"), req("metadata.name", "In", "b")], fields=True
        ),
    )
    _, status = NodeAffinity({}, handle).pre_filter(
        CycleState(), info(pod), handle.cache.snapshot()
    )
    assert (status.code, status.message()) == (UU, "pod affinity terms conflict")


def test_added_affinity_is_enforced_first() -> None:
    """The profile's required affinity rejects with its own reason before the pod's own check."""
    args = {"addedAffinity": required([req("zone", "Exists")])["nodeAffinity"]}
    passed, failures = run_filter(make_pod("p", node_selector={"zone": "z1"}), args=args)
    # c fails the added affinity (no zone); b fails the pod's nodeSelector
    assert passed == [True, False, False]
    assert failures == {
        (UU, "node(s) didn't match scheduler-enforced node affinity"),
        (UU, ERR_REASON_POD),
    }


def preferred(*terms: tuple[int, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """``nodeAffinity`` with preferred (weight, requirements) terms."""
    return {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "preference": {"matchExpressions": list(t)}} for w, t in terms
        ]
    }


def run_score(pod: Pod, args: Mapping[str, Any] | None = None) -> tuple[Code, list[int], list[int]]:
    """PreScore + Score + normalize over NODES: (prescore code, raw, normalized)."""
    handle = make_handle(NODES)
    plugin = NodeAffinity(args or {}, handle)
    snapshot = handle.cache.snapshot()
    ids = np.arange(snapshot.size, dtype=np.intp)
    state = CycleState()
    code = plugin.pre_score(state, info(pod), snapshot, ids).code
    raw = plugin.score(state, info(pod), snapshot, ids)
    return code, raw.tolist(), plugin.normalize(state, info(pod), raw).tolist()


def test_preferred_score() -> None:
    """Raw score sums matching weights; normalized against the best node."""
    terms = preferred((5, [req("zone", "In", "z1")]), (3, [req("gen", "Gt", "4")]), (0, []))
    pod = make_pod("p", affinity={"nodeAffinity": terms})
    # a: zone z1 -> 5; b: gen 5 > 4 -> 3; c: 0. Normalized: 100*5//5=100, 100*3//5=60, 0
    assert run_score(pod) == (Code.SUCCESS, [5, 3, 0], [100, 60, 0])


def test_added_preferred_terms_add_to_the_score() -> None:
    """The profile's preferred terms add their weights to the pod's."""
    args = {"addedAffinity": preferred((2, [req("zone", "Exists")]))}
    terms = preferred((5, [req("zone", "In", "z1")]), (3, [req("gen", "Gt", "4")]))
    pod = make_pod("p", affinity={"nodeAffinity": terms})
    # a: 5+2=7, b: 3+2=5, c: 0 -> 100*7//7=100, 100*5//7=71, 0
    assert run_score(pod, args) == (Code.SUCCESS, [7, 5, 0], [100, 71, 0])
    # a pod without preferences still gets the added terms: a 2, b 2, c 0 -> 100, 100, 0
    assert run_score(make_pod("q"), args) == (Code.SUCCESS, [2, 2, 0], [100, 100, 0])


def test_prescore_skips_and_errors() -> None:
    """No preferred terms anywhere: SKIP. An invalid preferred term: ERROR naming the pod."""
    assert run_score(make_pod("p"))[0] == Code.SKIP
    handle = make_handle(NODES)
    bad = make_pod("bad", affinity={"nodeAffinity": preferred((1, [req("zone", "In")]))})
    status = NodeAffinity({}, handle).pre_score(
        CycleState(), info(bad), handle.cache.snapshot(), np.arange(3, dtype=np.intp)
    )
    assert status.code == Code.ERROR
    assert "Pod default/bad" in status.message() and "values must be non-empty" in status.message()


def test_added_affinity_args_are_validated() -> None:
    """An invalid added affinity is a configuration error naming the plugin and the field."""
    args = {"addedAffinity": required([req("zone", "Bogus", "x")])["nodeAffinity"]}
    with pytest.raises(
        ValueError, match=r"plugin NodeAffinity: args\.addedAffinity: requiredDuring.*'Bogus'"
    ):
        NodeAffinity(args, make_handle())


# -- property: vectorised filter == the per-node reference matcher -----------------------------
KEYS = ("k1", "k2")
VALUES = ("1", "5", "x", "-3", "")
label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


@st.composite
def requirement(draw: st.DrawFn) -> dict[str, Any]:
    """A random (possibly invalid) label requirement."""
    key = draw(st.sampled_from((*KEYS, "bad key!")))
    operator = draw(st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus")))
    values = draw(st.lists(st.sampled_from(VALUES), max_size=2))
    return req(key, operator, *values)


@st.composite
def field_requirement(draw: st.DrawFn) -> dict[str, Any]:
    """A random matchFields requirement on the node name (or another key)."""
    key = draw(st.sampled_from(("metadata.name", "metadata.uid")))
    operator = draw(st.sampled_from(("In", "NotIn", "Exists")))
    values = draw(st.lists(st.sampled_from(("n0", "n1", "n2")), max_size=2))
    return req(key, operator, *values)


@st.composite
def affinity_pod(draw: st.DrawFn) -> Pod:
    """A pod with a random nodeSelector and 0-3 random required terms."""
    selector = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=1))
    terms = draw(
        st.lists(
            st.tuples(
                st.lists(requirement(), max_size=2), st.lists(field_requirement(), max_size=1)
            ),
            max_size=3,
        )
    )
    has_affinity = draw(st.booleans())
    affinity = None
    if has_affinity:
        affinity = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": exprs, "matchFields": fields}
                        for exprs, fields in terms
                    ]
                }
            }
        }
    return make_pod("p", node_selector=selector, affinity=affinity)


@settings(max_examples=150, deadline=None)
@given(st.lists(label_sets, min_size=1, max_size=3), affinity_pod())
def test_filter_matches_reference_matcher(labels: list[dict[str, str]], pod: Pod) -> None:
    """For random labels and selectors, Filter passes exactly the nodes the API matcher accepts."""
    nodes = [make_node(f"n{i}", labels=lab) for i, lab in enumerate(labels)]
    handle = make_handle(nodes)
    plugin = NodeAffinity({}, handle)
    snapshot = handle.cache.snapshot()
    state = CycleState()
    narrowed, status = plugin.pre_filter(state, info(pod), snapshot)
    expected = [reference_node_affinity(pod, n) for n in nodes]
    if status.code == Code.SKIP:
        assert all(expected)
        return
    if status.rejected:
        assert not any(expected)
        return
    ids = np.arange(snapshot.size, dtype=np.intp)
    if narrowed is not None and narrowed.nodes is not None:
        assert set(np.flatnonzero(expected)) <= set(narrowed.nodes.tolist())
    passed = plugin.filter(state, info(pod), snapshot, ids).passed.tolist()
    assert passed == expected
