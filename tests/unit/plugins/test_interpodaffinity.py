"""InterPodAffinity: required (anti-)affinity filtering with symmetry, and scoring both ways.

Cases mirror kube-scheduler's interpodaffinity/filtering_test.go and scoring_test.go (1.35);
node labels are "region"/"zone" (hostname added by the builder).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.framework.status import Code, Status
from scheduler.plugins.interpodaffinity import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
)
from tests.builders import filter_all, make_handle, make_node, make_pod, score_all

UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE
U = Code.UNSCHEDULABLE
AFF = (UU, ERR_REASON_AFFINITY)
ANTI = (U, ERR_REASON_ANTI_AFFINITY)
EXISTING = (U, ERR_REASON_EXISTING_ANTI_AFFINITY)
SKIP = "skip"


def term(
    key: str,
    operator: str,
    values: Sequence[str],
    topology: str,
    **extra: Any,
) -> dict[str, Any]:
    """A PodAffinityTerm with one matchExpressions requirement (``extra``: namespaces, …)."""
    requirement: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        requirement["values"] = list(values)
    return {
        "labelSelector": {"matchExpressions": [requirement]},
        "topologyKey": topology,
        **extra,
    }


def affinity(
    required: Sequence[Mapping[str, Any]] = (),
    anti: Sequence[Mapping[str, Any]] = (),
    preferred: Sequence[tuple[int, Mapping[str, Any]]] = (),
    anti_preferred: Sequence[tuple[int, Mapping[str, Any]]] = (),
) -> dict[str, Any]:
    """``spec.affinity`` with pod affinity / anti-affinity terms."""

    def block(
        hard: Sequence[Mapping[str, Any]], soft: Sequence[tuple[int, Mapping[str, Any]]]
    ) -> dict[str, Any]:
        return {
            "requiredDuringSchedulingIgnoredDuringExecution": list(hard),
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": w, "podAffinityTerm": t} for w, t in soft
            ],
        }

    out: dict[str, Any] = {}
    if required or preferred:
        out["podAffinity"] = block(required, preferred)
    if anti or anti_preferred:
        out["podAntiAffinity"] = block(anti, anti_preferred)
    return out


def pod(
    name: str = "incoming",
    labels: Mapping[str, str] | None = None,
    spec: Mapping[str, Any] | None = None,
    node: str | None = None,
    namespace: str = "default",
) -> Pod:
    """A pod with labels, an affinity, optionally bound to ``node``."""
    return make_pod(name, labels=labels, affinity=spec, node_name=node, namespace=namespace)


def run_filter(
    incoming: Pod,
    nodes: Sequence[Node],
    existing: Sequence[Pod] = (),
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> str | Status | list[tuple[Code, str] | None]:
    """PreFilter then Filter over every node: "skip", the PreFilter rejection, or per node
    None (passes) / (code, reason)."""
    handle = make_handle(nodes, existing)
    plugin = InterPodAffinity({}, handle, namespace_labels=namespace_labels)
    got = filter_all(plugin, handle, incoming)
    if isinstance(got, Status):
        return SKIP if got.code == Code.SKIP else got
    return [None if s is None else (s.code, s.message()) for s in got]


NODE1 = [make_node("node1", labels={"region": "r1", "zone": "z11"})]
SECURITYSCAN = {"service": "securityscan"}
S1 = {"security": "S1"}
EXISTING_SCAN = pod("p", SECURITYSCAN, node="node1")


@pytest.mark.parametrize(
    ("incoming", "existing", "expected"),
    [
        # no required terms anywhere: nothing to check
        (pod(), [], SKIP),
        # the existing pod (service=securityscan) is in region r1, as is node1
        (
            pod(
                labels=S1, spec=affinity([term("service", "In", ["securityscan", "v2"], "region")])
            ),
            [EXISTING_SCAN],
            [None],
        ),
        (
            pod(labels=S1, spec=affinity([term("service", "NotIn", ["scan3"], "region")])),
            [EXISTING_SCAN],
            [None],
        ),
        # the term only looks in namespace DiffNameSpace: no pod matches, and the incoming pod
        # does not match its own term either (its labels differ) -> no first-pod exception
        (
            pod(
                labels=S1,
                spec=affinity(
                    [
                        term(
                            "service",
                            "In",
                            ["securityscan"],
                            "region",
                            namespaces=["DiffNameSpace"],
                        )
                    ]
                ),
            ),
            [pod("p", SECURITYSCAN, node="node1", namespace="ns")],
            [AFF],
        ),
        (
            pod(labels=SECURITYSCAN, spec=affinity([term("service", "In", ["antivirus"], "")])),
            [EXISTING_SCAN],
            [AFF],
        ),
        # two terms, both matched by the existing pod
        (
            pod(
                labels=S1,
                spec=affinity(
                    [
                        term("service", "Exists", [], "region"),
                        term("service", "In", ["securityscan"], "region"),
                    ]
                ),
            ),
            [EXISTING_SCAN],
            [None],
        ),
        # requirements are ANDed: the second term does not match
        (
            pod(
                labels=S1,
                spec=affinity(
                    [
                        term("service", "Exists", [], "region"),
                        term("service", "In", ["securityscan2"], "region"),
                    ]
                ),
            ),
            [EXISTING_SCAN],
            [AFF],
        ),
        # affinity satisfied, anti-affinity term (service=antivirus) matches no pod
        (
            pod(
                labels=S1,
                spec=affinity(
                    [term("service", "In", ["securityscan"], "region")],
                    [term("service", "In", ["antivirus"], "zone")],
                ),
            ),
            [EXISTING_SCAN],
            [None],
        ),
        # anti-affinity: the existing pod is in node1's zone
        (
            pod(
                labels=S1,
                spec=affinity(
                    [term("service", "In", ["securityscan"], "region")],
                    [term("service", "In", ["securityscan"], "zone")],
                ),
            ),
            [EXISTING_SCAN],
            [ANTI],
        ),
        # symmetry: the existing pod's anti-affinity selects the incoming pod's labels
        (
            pod(
                labels=SECURITYSCAN,
                spec=affinity([term("service", "In", ["securityscan"], "region")]),
            ),
            [
                pod(
                    "p",
                    SECURITYSCAN,
                    affinity(anti=[term("service", "In", ["securityscan"], "zone")]),
                    node="node1",
                )
            ],
            [EXISTING],
        ),
        # symmetry holds even when the incoming pod has no affinity at all
        (
            pod(labels=SECURITYSCAN),
            [
                pod(
                    "p",
                    SECURITYSCAN,
                    affinity(anti=[term("service", "In", ["securityscan"], "zone")]),
                    node="node1",
                )
            ],
            [EXISTING],
        ),
        # ... and the existing term that does not select the incoming pod leaves nothing to do
        (
            pod(labels=SECURITYSCAN),
            [
                pod(
                    "p",
                    SECURITYSCAN,
                    affinity(anti=[term("service", "NotIn", ["securityscan"], "zone")]),
                    node="node1",
                )
            ],
            SKIP,
        ),
        # the existing pod's anti-affinity key is missing on every node: no pair, no effect
        (
            pod(labels={"foo": ""}),
            [
                pod(
                    "p",
                    {},
                    affinity(anti=[term("foo", "Exists", [], "invalid-node-label")]),
                    node="node1",
                )
            ],
            SKIP,
        ),
        # own anti-affinity and the existing pod's both apply; anti-affinity is checked first
        (
            pod(
                labels={"abc": "", "xyz": ""},
                spec=affinity(
                    anti=[term("abc", "Exists", [], "zone"), term("def", "Exists", [], "zone")]
                ),
            ),
            [
                pod(
                    "p",
                    {"def": "", "xyz": ""},
                    affinity(
                        anti=[term("abc", "Exists", [], "zone"), term("def", "Exists", [], "zone")]
                    ),
                    node="node1",
                )
            ],
            [ANTI],
        ),
    ],
)
def test_required_single_node(incoming: Pod, existing: list[Pod], expected: object) -> None:
    """One node (region r1, zone z11): the PreFilter/Filter outcome of each upstream case."""
    assert run_filter(incoming, NODE1, existing) == expected


def test_unparsable_term_rejects_the_pod_in_prefilter() -> None:
    """An invalid selector value in a required term: UNSCHEDULABLE_AND_UNRESOLVABLE at PreFilter."""
    bad = pod(spec=affinity([term("service", "In", ["{{.bad-value.}}"], "region")]))
    status = run_filter(bad, NODE1)
    assert isinstance(status, Status)
    assert status.code == UU
    assert status.message().startswith("parsing pod: requiredAffinityTerms:")


TEAMS = {"subteam1.team1": {"team": "team1"}, "subteam2.team1": {"team": "team1"}}


def ns_term(selector: Mapping[str, Any] | None, topology: str) -> dict[str, Any]:
    """service In (securityscan) in the namespaces ``selector`` picks."""
    return term("service", "In", ["securityscan"], topology, namespaceSelector=selector)


TEAM1 = {"matchExpressions": [{"key": "team", "operator": "In", "values": ["team1"]}]}


@pytest.mark.parametrize(
    ("incoming", "existing_namespace", "expected"),
    [
        # affinity to pods of team1 namespaces: subteam2.team1 is one
        (pod(labels=S1, spec=affinity([ns_term(TEAM1, "region")])), "subteam2.team1", [None]),
        # subteam1.team2 has no labels tessera knows: not team1
        (pod(labels=S1, spec=affinity([ns_term(TEAM1, "region")])), "subteam1.team2", [AFF]),
        (
            pod(
                labels=S1, spec=affinity(anti=[ns_term(TEAM1, "zone")]), namespace="subteam1.team1"
            ),
            "subteam2.team1",
            [ANTI],
        ),
        # {} selects every namespace
        (
            pod(labels=S1, spec=affinity(anti=[ns_term({}, "zone")]), namespace="subteam1.team1"),
            "subteam1.team2",
            [ANTI],
        ),
        (
            pod(
                labels=S1, spec=affinity(anti=[ns_term(TEAM1, "zone")]), namespace="subteam1.team1"
            ),
            "subteam1.team2",
            [None],
        ),
        # every namespace carries kubernetes.io/metadata.name
        (
            pod(
                labels=S1,
                spec=affinity(
                    anti=[
                        ns_term({"matchLabels": {"kubernetes.io/metadata.name": "other"}}, "zone")
                    ]
                ),
            ),
            "other",
            [ANTI],
        ),
    ],
)
def test_namespace_selector(incoming: Pod, existing_namespace: str, expected: object) -> None:
    """namespaceSelector terms against the supplied namespace labels (upstream's cases)."""
    existing = [pod("p", SECURITYSCAN, node="node1", namespace=existing_namespace)]
    assert run_filter(incoming, NODE1, existing, namespace_labels=TEAMS) == expected


def test_existing_pod_namespace_selector_uses_the_incoming_pods_namespace_labels() -> None:
    """Symmetry with a namespaceSelector: the existing term is read against the labels of the
    incoming pod's namespace."""
    guard = pod("p", {}, affinity(anti=[ns_term(TEAM1, "zone")]), node="node1", namespace="x")
    assert run_filter(
        pod(labels=SECURITYSCAN, namespace="subteam1.team1"), NODE1, [guard], namespace_labels=TEAMS
    ) == [EXISTING]
    assert (
        run_filter(
            pod(labels=SECURITYSCAN, namespace="elsewhere"), NODE1, [guard], namespace_labels=TEAMS
        )
        == SKIP
    )


CHINA = {"region": "China"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
INDIA = {"region": "India"}


def test_affinity_admits_every_node_of_the_matching_domain() -> None:
    """node1 (China) holds foo=bar: node2 shares region China and fits; node3 (India) not."""
    nodes = [
        make_node("node1", labels=CHINA),
        make_node("node2", labels=CHINA_AZ1),
        make_node("node3", labels=INDIA),
    ]
    incoming = pod(spec=affinity([term("foo", "In", ["bar"], "region")]))
    existing = [pod("p1", {"foo": "bar"}, node="node1")]
    assert run_filter(incoming, nodes, existing) == [None, None, AFF]


def test_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_keys() -> None:
    """No pod matches both terms anywhere and the pod matches them itself: every node with
    the zone key passes; nodes without the key never do."""
    incoming = pod(
        labels={"foo": "bar", "service": "securityscan"},
        spec=affinity(
            [term("foo", "In", ["bar"], "zone"), term("service", "In", ["securityscan"], "zone")]
        ),
    )
    existing = [pod("p1", {"foo": "bar"}, node="a")]  # matches only the first term
    zoned = [make_node("a", labels={"zone": "az1"}), make_node("b", labels={"zone": "az2"})]
    assert run_filter(incoming, zoned, existing) == [None, None]
    unzoned = [
        make_node("a", labels={"zoneLabel": "az1"}),
        make_node("b", labels={"zoneLabel": "x"}),
    ]
    assert run_filter(incoming, unzoned, existing) == [AFF, AFF]


def test_first_pod_exception_needs_the_pod_to_match_its_own_terms() -> None:
    """No pod matches anywhere, but the pod's own labels do not match its term: no node fits."""
    incoming = pod(labels={"foo": "other"}, spec=affinity([term("foo", "In", ["bar"], "zone")]))
    nodes = [make_node("a", labels={"zone": "az1"})]
    assert run_filter(incoming, nodes) == [AFF]


def test_first_pod_exception_ends_once_a_matching_pod_exists() -> None:
    """A matching pod in zone az1 (even on a node without other keys) binds the group there."""
    incoming = pod(labels={"foo": "bar"}, spec=affinity([term("foo", "In", ["bar"], "zone")]))
    nodes = [make_node("a", labels={"zone": "az1"}), make_node("b", labels={"zone": "az2"})]
    existing = [pod("p1", {"foo": "bar"}, node="a")]
    assert run_filter(incoming, nodes, existing) == [None, AFF]


def test_anti_affinity_blocks_the_whole_domain_and_any_term_suffices() -> None:
    """nodeA holds foo=abc: region r1 (nodeA, nodeB) is excluded, India's nodeC is not; a pod
    in another namespace does not count."""
    nodes = [
        make_node("nodeA", labels=CHINA),
        make_node("nodeB", labels=CHINA_AZ1),
        make_node("nodeC", labels=INDIA),
    ]
    incoming = pod(
        labels={"foo": "123"},
        namespace="NS1",
        spec=affinity(anti=[term("foo", "In", ["bar"], "region")]),
    )
    existing = [
        pod("p1", {"foo": "bar"}, node="nodeA", namespace="NS1"),
        pod(
            "p2",
            {},
            affinity(anti=[term("foo", "In", ["123"], "region")]),
            node="nodeC",
            namespace="NS2",
        ),
    ]
    # p2's anti-affinity (namespace NS2 by default) does not select the NS1 pod
    assert run_filter(incoming, nodes, existing) == [ANTI, ANTI, None]


def test_existing_anti_affinity_per_topology_key() -> None:
    """Two existing pods on nodeA: anti foo per zone (z1), anti bar per region (r1). The pod
    (foo, bar) is rejected on nodeA and on nodeB (same region r1), whatever the zone."""
    nodes = [
        make_node("nodeA", labels={"region": "r1", "zone": "z1"}),
        make_node("nodeB", labels={"region": "r1", "zone": "z2"}),
        make_node("nodeC", labels={"region": "r2", "zone": "z3"}),
    ]
    existing = [
        pod("p1", {}, affinity(anti=[term("foo", "Exists", [], "zone")]), node="nodeA"),
        pod("p2", {}, affinity(anti=[term("bar", "Exists", [], "region")]), node="nodeA"),
    ]
    incoming = pod(labels={"foo": "", "bar": ""})
    assert run_filter(incoming, nodes, existing) == [EXISTING, EXISTING, None]


def test_match_label_keys_narrow_affinity_to_the_same_revision() -> None:
    """matchLabelKeys [rev]: only pods with the incoming pod's rev count; mismatchLabelKeys
    [rev] on anti-affinity: pods of the same rev are ignored."""
    nodes = [make_node("a", labels={"zone": "z1"}), make_node("b", labels={"zone": "z2"})]
    existing = [
        pod("old", {"app": "web", "rev": "1"}, node="a"),
        pod("new", {"app": "web", "rev": "2"}, node="b"),
    ]
    web = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}
    near = pod(
        labels={"app": "web", "rev": "2"}, spec=affinity([{**web, "matchLabelKeys": ["rev"]}])
    )
    assert run_filter(near, nodes, existing) == [AFF, None]
    far = pod(
        labels={"app": "web", "rev": "2"},
        spec=affinity(anti=[{**web, "mismatchLabelKeys": ["rev"]}]),
    )
    assert run_filter(far, nodes, existing) == [ANTI, None]


def test_terminating_and_unplaced_pods() -> None:
    """A terminating pod still counts for affinity (upstream keeps it in NodeInfo); a pod not
    placed on any node does not."""
    nodes = [make_node("a", labels={"zone": "z1"}), make_node("b", labels={"zone": "z2"})]
    going = pod("going", {"foo": "bar"}, node="a").model_copy(deep=True)
    meta = going.metadata.model_copy(update={"deletion_timestamp": "2026-01-01T00:00:00Z"})
    going = going.model_copy(update={"metadata": meta})
    pending = pod("pending", {"foo": "bar"})
    incoming = pod(labels={"x": "y"}, spec=affinity([term("foo", "In", ["bar"], "zone")]))
    assert run_filter(incoming, nodes, [going, pending]) == [None, AFF]
    assert run_filter(incoming, nodes, [pending]) == [AFF, AFF]


def test_args_are_validated() -> None:
    """hardPodAffinityWeight outside 0..100 and unknown fields are errors naming the field."""
    handle = make_handle(NODE1)
    with pytest.raises(ValueError, match=r"args\.hardPodAffinityWeight"):
        InterPodAffinity({"hardPodAffinityWeight": 101}, handle)
    with pytest.raises(ValueError, match=r"args\.bogus"):
        InterPodAffinity({"bogus": 1}, handle)


# -- scoring ------------------------------------------------------------------------------------

FOUR = [
    make_node("n1", labels={"region": "r1", "zone": "z1"}),
    make_node("n2", labels={"region": "r1", "zone": "z2"}),
    make_node("n3", labels={"region": "r2", "zone": "z3"}),
    make_node("n4", labels={"region": "r2", "zone": "z4"}),
]


def run_score(
    incoming: Pod, existing: Sequence[Pod], args: Mapping[str, Any] | None = None
) -> str | tuple[list[int], list[int]]:
    """PreScore + Score + normalize over the four nodes: "skip" or (raw, normalized)."""
    handle = make_handle(FOUR, existing)
    got = score_all(InterPodAffinity(args or {}, handle), handle, incoming)
    return SKIP if isinstance(got, Status) else got


def test_incoming_preferred_terms_score() -> None:
    """Affinity weight 5 to security=S1 per region, anti weight 3 to security=S2 per zone.

    p1 (S1) on n1 -> region r1 += 5; p2 (S2) on n3 -> zone z3 -= 3.
    raw n1 5, n2 5, n3 -3, n4 0; min -3, max 5, span 8:
    n1, n2 = 100 * 8/8 = 100; n3 = 0; n4 = floor(100 * 3/8) = 37.
    """
    incoming = pod(
        spec=affinity(
            preferred=[(5, term("security", "In", ["S1"], "region"))],
            anti_preferred=[(3, term("security", "In", ["S2"], "zone"))],
        )
    )
    existing = [pod("p1", {"security": "S1"}, node="n1"), pod("p2", {"security": "S2"}, node="n3")]
    assert run_score(incoming, existing) == ([5, 5, -3, 0], [100, 100, 0, 37])


def test_existing_pods_terms_score_with_hard_pod_affinity_weight() -> None:
    """p3 on n2 requires security=S1 per zone and prefers away from S1 per region (weight 4);
    the incoming pod is S1 with no terms.

    hardPodAffinityWeight 1: zone z2 += 1, region r1 -= 4 -> raw n1 -4, n2 -3, n3 0, n4 0;
    span 4: n1 0, n2 25, n3 100, n4 100. Weight 0 drops the +1: n1 -4, n2 -4 -> 0, 0.
    """
    existing = [
        pod(
            "p3",
            {},
            affinity(
                [term("security", "In", ["S1"], "zone")],
                anti_preferred=[(4, term("security", "In", ["S1"], "region"))],
            ),
            node="n2",
        )
    ]
    incoming = pod(labels={"security": "S1"})
    assert run_score(incoming, existing) == ([-4, -3, 0, 0], [0, 25, 100, 100])
    weightless = run_score(incoming, existing, {"hardPodAffinityWeight": 0})
    assert weightless == ([-4, -4, 0, 0], [0, 0, 100, 100])
    ignoring = run_score(incoming, existing, {"ignorePreferredTermsOfExistingPods": True})
    assert ignoring == SKIP


def test_existing_pods_preferred_affinity_scores() -> None:
    """p on n3 prefers security=S1 pods in its region (weight 7): r2 += 7 -> n3, n4 = 100."""
    existing = [
        pod("p", {}, affinity(preferred=[(7, term("security", "In", ["S1"], "region"))]), node="n3")
    ]
    assert run_score(pod(labels={"security": "S1"}), existing) == ([0, 0, 7, 7], [0, 0, 100, 100])


def test_prescore_skips_when_no_term_matches() -> None:
    """Preferred terms that match no existing pod leave nothing to score: SKIP."""
    incoming = pod(spec=affinity(preferred=[(5, term("security", "In", ["S9"], "region"))]))
    assert run_score(incoming, [pod("p1", {"security": "S1"}, node="n1")]) == SKIP


def test_equal_scores_normalise_to_zero() -> None:
    """All nodes get the same sum (the term matches in both regions): every node scores 0."""
    incoming = pod(spec=affinity(preferred=[(5, term("security", "In", ["S1"], "region"))]))
    existing = [pod("p1", {"security": "S1"}, node="n1"), pod("p2", {"security": "S1"}, node="n4")]
    assert run_score(incoming, existing) == ([5, 5, 5, 5], [0, 0, 0, 0])
