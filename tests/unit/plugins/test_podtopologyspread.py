"""PodTopologySpread: skew filtering with eligible domains, minDomains, inclusion policies,
matchLabelKeys, and the reverse-normalised score.

Cases follow kube-scheduler's podtopologyspread/filtering_test.go and scoring_test.go (1.35).
Nodes node-a, node-b are in zone1 and node-x, node-y in zone2 unless a case says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from scheduler.api.node import Node
from scheduler.api.pod import Pod
from scheduler.api.selectors import LabelSelector
from scheduler.framework.status import Code, Status
from scheduler.plugins.podtopologyspread import (
    ERR_REASON_CONSTRAINTS,
    ERR_REASON_LABEL,
    PodTopologySpread,
)
from tests.builders import (
    HOSTNAME_LABEL,
    filter_all,
    make_handle,
    make_node,
    make_pod,
    score_all,
)

SKEW = (Code.UNSCHEDULABLE, ERR_REASON_CONSTRAINTS)
LABEL = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_LABEL)
SKIP = "skip"
FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}


def spread(
    key: str,
    max_skew: int = 1,
    selector: Mapping[str, Any] | None = FOO,
    when: str = "DoNotSchedule",
    **extra: Any,
) -> dict[str, Any]:
    """A topologySpreadConstraint in API form (``extra``: minDomains, policies, …)."""
    out: dict[str, Any] = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when}
    if selector is not None:
        out["labelSelector"] = dict(selector)
    return {**out, **extra}


def incoming(
    *constraints: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Pod:
    """The pod to place (label foo unless ``labels``), with ``constraints``."""
    return make_pod(
        "incoming",
        labels={"foo": ""} if labels is None else labels,
        topology_spread=list(constraints),
        **kwargs,
    )


def placed(
    layout: Mapping[str, int], labels: Mapping[str, str] | None = None, **kw: Any
) -> list[Pod]:
    """``layout[node]`` pods labelled foo (or ``labels``) bound to each node."""
    return [
        make_pod(
            f"{node}-{i}", labels={"foo": ""} if labels is None else labels, node_name=node, **kw
        )
        for node, count in layout.items()
        for i in range(count)
    ]


def zones(b_zone: str | None = "zone1", taint_zone2: bool = False) -> list[Node]:
    """node-a, node-b (zone1; node-b's zone configurable), node-x, node-y (zone2)."""
    taints = ["dedicated=x:NoSchedule"] if taint_zone2 else []
    return [
        make_node("node-a", labels={"zone": "zone1"}),
        make_node("node-b", labels={"zone": b_zone} if b_zone else {}),
        make_node("node-x", labels={"zone": "zone2"}, taints=taints),
        make_node("node-y", labels={"zone": "zone2"}, taints=taints),
    ]


def run_filter(
    pod: Pod, nodes: Sequence[Node], existing: Sequence[Pod] = (), **plugin_kw: Any
) -> str | list[tuple[Code, str] | None]:
    """PreFilter + Filter over every node: "skip", or per node None / (code, reason)."""
    handle = make_handle(nodes, existing)
    args = plugin_kw.pop("args", {})
    plugin = PodTopologySpread(args, handle, **plugin_kw)
    got = filter_all(plugin, handle, pod)
    if isinstance(got, Status):
        assert got.code == Code.SKIP, got
        return SKIP
    return [None if s is None else (s.code, s.message()) for s in got]


@pytest.mark.parametrize(
    ("pod", "nodes", "existing", "expected"),
    [
        # no pods: every domain counts 0; 0 + 1 - 0 = 1 <= 1 everywhere
        (incoming(spread("zone")), zones(), [], [None] * 4),
        # zone1 = 3 (a:2, b:1), zone2 = 1 (x:1); min 1: zone1 3+1-1 = 3 > 1, zone2 1+1-1 = 1
        (
            incoming(spread("zone")),
            zones(),
            placed({"node-a": 2, "node-b": 1, "node-x": 1}),
            [SKEW, SKEW, None, None],
        ),
        # the same with maxSkew 2 and a pod that does not match itself: zone1 3+0-1 = 2 <= 2
        (
            incoming(spread("zone", 2), labels={}),
            zones(),
            placed({"node-a": 2, "node-b": 1, "node-x": 1}),
            [None] * 4,
        ),
        # ... but matching itself: 3+1-1 = 3 > 2
        (
            incoming(spread("zone", 2)),
            zones(),
            placed({"node-a": 2, "node-b": 1, "node-x": 1}),
            [SKEW, SKEW, None, None],
        ),
        # node-b has no zone: it is no domain and its 2 pods do not count; zone1 = 1 (a),
        # zone2 = 3 (x:1, y:2); min 1: a 1+1-1 = 1, x/y 3+1-1 = 3; node-b lacks the key
        (
            incoming(spread("zone")),
            zones(b_zone=None),
            placed({"node-a": 1, "node-b": 2, "node-x": 1, "node-y": 2}),
            [None, LABEL, SKEW, SKEW],
        ),
        # per hostname: a 2, b 1, x 0, y 3; min 0: a 3, b 2, x 1, y 4 against maxSkew 1 ...
        (
            incoming(spread(HOSTNAME_LABEL)),
            zones(),
            placed({"node-a": 2, "node-b": 1, "node-y": 3}),
            [SKEW, SKEW, None, SKEW],
        ),
        # ... and maxSkew 2: b (2) and x (1) fit
        (
            incoming(spread(HOSTNAME_LABEL, 2)),
            zones(),
            placed({"node-a": 2, "node-b": 1, "node-y": 3}),
            [SKEW, None, None, SKEW],
        ),
        # zone and hostname: zones 3/3 (skew 1 everywhere), hosts as above -> only x
        (
            incoming(spread("zone"), spread(HOSTNAME_LABEL)),
            zones(),
            placed({"node-a": 2, "node-b": 1, "node-y": 3}),
            [SKEW, SKEW, None, SKEW],
        ),
        # node-b lacks zone, so it is no hostname domain either: hosts a 1, x 1, y 1 -> min 1
        # (not 0): a 1+1-1 = 1 fits the hostname rule; zones: zone1 1, zone2 2 -> x, y skew 2
        (
            incoming(spread("zone"), spread(HOSTNAME_LABEL)),
            zones(b_zone=None),
            placed({"node-a": 1, "node-x": 1, "node-y": 1}),
            [None, LABEL, SKEW, SKEW],
        ),
        # pods in another namespace do not count: all domains 0
        (incoming(spread("zone")), zones(), placed({"node-a": 3}, namespace="other"), [None] * 4),
    ],
)
def test_filter_table(
    pod: Pod, nodes: list[Node], existing: list[Pod], expected: list[object]
) -> None:
    """Each row's arithmetic is in its comment: count(domain) + self - min <= maxSkew."""
    assert run_filter(pod, nodes, existing) == expected


def test_min_domains_treats_the_minimum_as_zero_below_the_domain_count() -> None:
    """zone1 = 2, zone2 = 1, maxSkew 2. minDomains 3 > 2 domains: min 0, zone1 2+1-0 = 3 > 2.
    Without minDomains: min 1, zone1 2+1-1 = 2 fits."""
    existing = placed({"node-a": 2, "node-x": 1})
    strict = incoming(spread("zone", 2, minDomains=3))
    assert run_filter(strict, zones(), existing) == [SKEW, SKEW, None, None]
    assert run_filter(incoming(spread("zone", 2)), zones(), existing) == [None] * 4


def test_node_affinity_policy() -> None:
    """The pod selects zone1 only; zone1 holds 2 pods, zone2 none.

    Honor (default): zone2 is no eligible domain, min = 2: zone1 2+1-2 = 1 fits (zone2 reads 0).
    Ignore: min 0, zone1 2+1-0 = 3 > 1."""
    selector = {"zone": "zone1"}
    existing = placed({"node-a": 1, "node-b": 1})
    honor = incoming(spread("zone"), node_selector=selector)
    assert run_filter(honor, zones(), existing) == [None] * 4
    ignore = incoming(spread("zone", nodeAffinityPolicy="Ignore"), node_selector=selector)
    assert run_filter(ignore, zones(), existing) == [SKEW, SKEW, None, None]


def test_node_taints_policy() -> None:
    """zone2's nodes carry an untolerated taint; zone1 holds 2 pods.

    Ignore (default): min 0 (zone2), zone1 3 > 1. Honor: zone2 is not eligible, min 2."""
    existing = placed({"node-a": 1, "node-b": 1})
    nodes = zones(taint_zone2=True)
    assert run_filter(incoming(spread("zone")), nodes, existing) == [SKEW, SKEW, None, None]
    honor = incoming(spread("zone", nodeTaintsPolicy="Honor"))
    assert run_filter(honor, nodes, existing) == [None] * 4
    tolerant = incoming(
        spread("zone", nodeTaintsPolicy="Honor"), tolerations=["dedicated=x:NoSchedule"]
    )
    assert run_filter(tolerant, nodes, existing) == [SKEW, SKEW, None, None]


def test_match_label_keys_count_only_the_same_revision() -> None:
    """app=web pods: rev 1 x2 in zone1, rev 2 x1 in zone2; the incoming pod is rev 2.

    matchLabelKeys [rev]: zone1 0, zone2 1, min 0 -> zone2 1+1-0 = 2 > 1.
    Without: zone1 2, zone2 1, min 1 -> zone1 2+1-1 = 2 > 1."""
    web = {"matchLabels": {"app": "web"}}
    existing = [
        *placed({"node-a": 2}, labels={"app": "web", "rev": "1"}),
        *placed({"node-x": 1}, labels={"app": "web", "rev": "2"}),
    ]
    labels = {"app": "web", "rev": "2"}
    keyed = incoming(spread("zone", selector=web, matchLabelKeys=["rev"]), labels=labels)
    assert run_filter(keyed, zones(), existing) == [None, None, SKEW, SKEW]
    plain = incoming(spread("zone", selector=web), labels=labels)
    assert run_filter(plain, zones(), existing) == [SKEW, SKEW, None, None]


def test_terminating_pods_do_not_count() -> None:
    """Three terminating pods on node-a: zone1 still counts 0."""
    existing = [
        p.model_copy(
            update={
                "metadata": p.metadata.model_copy(
                    update={"deletion_timestamp": "2026-01-01T00:00:00Z"}
                )
            }
        )
        for p in placed({"node-a": 3})
    ]
    assert run_filter(incoming(spread("zone")), zones(), existing) == [None] * 4


def test_selector_quirks() -> None:
    """labelSelector {} counts no pod but the pod matches it (skew 0+1-0 = 1 everywhere);
    a nil labelSelector counts nothing and the pod does not match it."""
    existing = placed({"node-a": 5})
    assert run_filter(incoming(spread("zone", selector={})), zones(), existing) == [None] * 4
    assert run_filter(incoming(spread("zone", selector=None)), zones(), existing) == [None] * 4


def test_prefilter_skips_without_hard_constraints() -> None:
    """Only ScheduleAnyway constraints, or none at all (no default selector): SKIP."""
    soft = incoming(spread("zone", when="ScheduleAnyway"))
    assert run_filter(soft, zones(), placed({"node-a": 3})) == SKIP
    assert run_filter(incoming(), zones(), placed({"node-a": 3})) == SKIP


def test_list_defaults_apply_with_the_default_selector() -> None:
    """defaultingType List, zone maxSkew 1 DoNotSchedule; the pod has no constraints and the
    default selector is foo exists: zone1 3 vs zone2 0 -> zone1 is skewed."""
    args = {
        "defaultingType": "List",
        "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
        ],
    }
    pod = incoming()
    existing = placed({"node-a": 3})
    chooser = lambda _: LabelSelector.model_validate(FOO)  # noqa: E731
    got = run_filter(pod, zones(), existing, args=args, default_selector=chooser)
    assert got == [SKEW, SKEW, None, None]
    assert run_filter(pod, zones(), existing, args=args) == SKIP  # no selector: no defaults


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (
            {"defaultingType": "System", "defaultConstraints": [spread("zone", selector=None)]},
            "defaultingType",
        ),
        (
            {"defaultingType": "List", "defaultConstraints": [spread("zone", 0, selector=None)]},
            "maxSkew",
        ),
        ({"defaultingType": "List", "defaultConstraints": [spread("zone")]}, "labelSelector"),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [spread("zone", when="Never", selector=None)],
            },
            "whenUnsatisfiable",
        ),
        (
            {"defaultingType": "List", "defaultConstraints": [spread("", selector=None)]},
            "topologyKey",
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    spread("zone", selector=None),
                    spread("zone", 2, selector=None),
                ],
            },
            "duplicate",
        ),
        ({"defaultingType": "Sometimes"}, "defaultingType"),
    ],
)
def test_args_are_validated(args: dict[str, Any], field: str) -> None:
    """Upstream's ValidatePodTopologySpreadArgs rules, each a ValueError naming the field."""
    with pytest.raises(ValueError, match=field):
        PodTopologySpread(args, make_handle(zones()))


# -- scoring ------------------------------------------------------------------------------------


def run_score(
    pod: Pod, nodes: Sequence[Node], existing: Sequence[Pod] = (), **plugin_kw: Any
) -> str | tuple[list[int], list[int]]:
    """PreScore + Score + normalize over every node: "skip" or (raw, normalized)."""
    handle = make_handle(nodes, existing)
    got = score_all(PodTopologySpread({}, handle, **plugin_kw), handle, pod)
    return SKIP if isinstance(got, Status) else got


def test_hostname_score() -> None:
    """Hostname, maxSkew 1; pods a 2, b 1, x 0, y 0. 4 feasible nodes: weight ln(6) = 1.7918.

    raw: a round(2 * 1.7918) = 4, b round(1.7918) = 2, x 0, y 0; max 4, min 0:
    a 100 * (4+0-4) // 4 = 0, b 100 * 2 // 4 = 50, x, y 100."""
    pod = incoming(spread(HOSTNAME_LABEL, when="ScheduleAnyway"))
    assert run_score(pod, zones(), placed({"node-a": 2, "node-b": 1})) == (
        [4, 2, 0, 0],
        [0, 50, 100, 100],
    )


def test_zone_score_ignores_nodes_without_the_key() -> None:
    """Zone, maxSkew 1; node-b has no zone (ignored: score 0). Pods a 1, b 5, x 1, y 1.

    Domains on the kept nodes: zone1, zone2 -> weight ln(4) = 1.3863. zone1 = 1 (b is not
    counted), zone2 = 2. raw a round(1.3863) = 1, x, y round(2.7726) = 3; min 1, max 3:
    a 100 * (3+1-1) // 3 = 100, x, y 100 * 1 // 3 = 33, b 0."""
    pod = incoming(spread("zone", when="ScheduleAnyway"))
    existing = placed({"node-a": 1, "node-b": 5, "node-x": 1, "node-y": 1})
    assert run_score(pod, zones(b_zone=None), existing) == ([1, -1, 3, 3], [100, 0, 33, 33])


def test_max_skew_softens_the_score() -> None:
    """Zone, maxSkew 3 adds 2 per node: a, b round(2 + 2 * ln(4)) = round(4.77) = 5,
    x, y 2; min 2, max 5: a, b 100 * 2 // 5 = 40, x, y 100 * 5 // 5 = 100."""
    pod = incoming(spread("zone", 3, when="ScheduleAnyway"))
    assert run_score(pod, zones(), placed({"node-a": 2})) == ([5, 5, 2, 2], [40, 40, 100, 100])


def test_all_zero_scores_normalise_to_100() -> None:
    """No matching pod anywhere and maxSkew 1: raw 0 everywhere, max 0 -> 100 everywhere."""
    pod = incoming(spread("zone", when="ScheduleAnyway"))
    assert run_score(pod, zones()) == ([0, 0, 0, 0], [100, 100, 100, 100])


def test_system_defaults_score_nodes_without_a_zone() -> None:
    """System defaults (hostname maxSkew 3, zone maxSkew 5) with a default selector foo.

    Nodes a, b in zone z1, c without a zone (not ignored: system defaulting). Pods a 3, c 2.
    hostname: weight ln(3+2) = 1.6094; zone: domains z1 and "" (c's missing label reads as
    "") -> weight ln(4) = 1.3863, z1 = 3, "" = 2 (never read back: c lacks the key).
    a: 3*1.6094 + 2 + 3*1.3863 + 4 = 14.987 -> 15; b: 0 + 2 + 8.1589 -> 10;
    c: 2*1.6094 + 2 = 5.2189 -> 5. min 5, max 15: a 100*5//15 = 33, b 1000//15 = 66, c 100.
    """
    nodes = [
        make_node("a", labels={"topology.kubernetes.io/zone": "z1"}),
        make_node("b", labels={"topology.kubernetes.io/zone": "z1"}),
        make_node("c"),
    ]
    chooser = lambda _: LabelSelector.model_validate(FOO)  # noqa: E731
    got = run_score(incoming(), nodes, placed({"a": 3, "c": 2}), default_selector=chooser)
    assert got == ([15, 10, 5], [33, 66, 100])
    assert run_score(incoming(), nodes, placed({"a": 3, "c": 2})) == SKIP


def test_score_only_counts_nodes_the_inclusion_policy_admits() -> None:
    """Zone, maxSkew 1; the pod's nodeSelector admits zone1 only; pods a 1, x 2.

    Honor (default): x's pods are not counted, zone1 = 1, zone2 = 0 -> raw a, b round(ln 4)
    = 1, x, y 0 -> a, b 0, x, y 100. Ignore: zone2 = 2 -> x, y round(2.77) = 3 ->
    a, b 100 * (3+1-1) // 3 = 100, x, y 100 * 1 // 3 = 33."""
    existing = placed({"node-a": 1, "node-x": 2})
    honor = incoming(spread("zone", when="ScheduleAnyway"), node_selector={"zone": "zone1"})
    assert run_score(honor, zones(), existing) == ([1, 1, 0, 0], [0, 0, 100, 100])
    ignore = incoming(
        spread("zone", when="ScheduleAnyway", nodeAffinityPolicy="Ignore"),
        node_selector={"zone": "zone1"},
    )
    assert run_score(ignore, zones(), existing) == ([1, 1, 3, 3], [100, 100, 33, 33])
