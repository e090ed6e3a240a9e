"""kube-scheduler's side of the extender protocol against a real HTTP server.

Each test scripts the server (``tests/extender/conftest.py``), runs one phase the way
kube-scheduler 1.35 runs it, and checks both what was sent and what the scheduler makes of
the reply.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from scheduler.extender import wire
from scheduler.extender.config import ExtenderConfig
from scheduler.framework.status import Code
from simulator.kubescheduler.extenders import EXTENDER_NAME, Extenders, extender_score
from simulator.kubescheduler.http_extender import ExtenderError, HTTPExtender, is_interested
from tests.extender.scripted_server import ExtenderServer


def pod(
    name: str = "web-0",
    *,
    uid: str = "uid-web-0",
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    init_requests: dict[str, str] | None = None,
    claims: bool = False,
) -> dict[str, Any]:
    """A v1 Pod as API JSON, with the given container/init-container resources."""
    container: dict[str, Any] = {"name": "main", "image": "busybox", "resources": {}}
    if requests:
        container["resources"]["requests"] = requests
    if limits:
        container["resources"]["limits"] = limits
    spec: dict[str, Any] = {"containers": [container]}
    if init_requests:
        spec["initContainers"] = [
            {"name": "init", "image": "busybox", "resources": {"requests": init_requests}}
        ]
    if claims:
        spec["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": "gpus-1"}]
        container["resources"]["claims"] = [{"name": "gpu"}]
    return {"metadata": {"name": name, "namespace": "default", "uid": uid}, "spec": spec}


def node(name: str) -> dict[str, Any]:
    """A v1 Node as API JSON."""
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}


NODES = [node("n1"), node("n2"), node("n3")]


def entry(server: ExtenderServer, prefix: str = "/ext", **fields: Any) -> ExtenderConfig:
    """An extender entry pointing at the test server (keys as in KubeSchedulerConfiguration)."""
    return ExtenderConfig.model_validate({"urlPrefix": server.url + prefix, **fields})


def filter_reply(**fields: Any) -> dict[str, Any]:
    """An ExtenderFilterResult as the JSON value a Go extender writes (every field present)."""
    result: dict[str, Any] = wire.ExtenderFilterResult.model_validate(fields).to_wire()
    return result


# -- filter ---------------------------------------------------------------------------------------
def test_node_cache_capable_sends_names_and_maps_names_back(server: ExtenderServer) -> None:
    """nodeCacheCapable: NodeNames out (Nodes null), NodeNames back to the caller's objects."""
    server.reply("/ext/filter", filter_reply(NodeNames=["n3", "n1"]))
    with HTTPExtender(entry(server, filterVerb="filter", nodeCacheCapable=True)) as ext:
        reply = ext.filter(pod(), NODES)
    sent = server.last("/ext/filter").json()
    assert sent["Nodes"] is None
    assert sent["NodeNames"] == ["n1", "n2", "n3"]
    assert sent["Pod"]["metadata"]["name"] == "web-0"
    assert reply.names == ("n3", "n1")
    assert reply.nodes[0] is NODES[2]
    assert not reply.from_reply_objects


def test_full_objects_mode_sends_a_node_list_and_uses_returned_objects(
    server: ExtenderServer,
) -> None:
    """nodeCacheCapable false: a NodeList out; the reply's Nodes items become the candidates."""
    returned = {"metadata": {"name": "n2", "labels": {"changed": "yes"}}}
    server.reply("/ext/filter", filter_reply(Nodes={"metadata": {}, "items": [returned]}))
    with HTTPExtender(entry(server, filterVerb="filter")) as ext:
        reply = ext.filter(pod(), NODES)
    sent = server.last("/ext/filter").json()
    assert sent["NodeNames"] is None
    assert sent["Nodes"] == {"metadata": {}, "items": NODES}
    assert reply.names == ("n2",)
    assert reply.nodes == (returned,)
    assert reply.from_reply_objects


def test_names_in_a_full_objects_reply_are_ignored(server: ExtenderServer) -> None:
    """Without nodeCacheCapable only Nodes is read: a reply with NodeNames alone passes none."""
    server.reply("/ext/filter", filter_reply(NodeNames=["n1"]))
    with HTTPExtender(entry(server, filterVerb="filter")) as ext:
        assert ext.filter(pod(), NODES).nodes == ()


def test_node_cache_reply_falls_back_to_nodes_when_names_are_null(server: ExtenderServer) -> None:
    """nodeCacheCapable with NodeNames null and Nodes set: the Nodes items are used."""
    server.reply("/ext/filter", filter_reply(Nodes={"items": [node("n1")]}))
    with HTTPExtender(entry(server, filterVerb="filter", nodeCacheCapable=True)) as ext:
        reply = ext.filter(pod(), NODES)
    assert reply.names == ("n1",)
    assert reply.from_reply_objects


def test_a_name_that_was_not_a_candidate_is_an_error(server: ExtenderServer) -> None:
    """Returning a node outside the input list fails the call with kube-scheduler's message."""
    server.reply("/ext/filter", filter_reply(NodeNames=["n1", "n9"]))
    with (
        HTTPExtender(entry(server, filterVerb="filter", nodeCacheCapable=True)) as ext,
        pytest.raises(ExtenderError) as caught,
    ):
        ext.filter(pod(), NODES)
    assert 'claims a filtered node "n9" which is not found in the input node list' in str(
        caught.value
    )


def test_lower_camel_replies_are_accepted_like_go_does(server: ExtenderServer) -> None:
    """Go matches keys case-insensitively, so a lowerCamel reply works with kube-scheduler."""
    server.reply("/ext/filter", {"nodeNames": ["n2"], "failedNodes": {"n1": "busy"}, "error": ""})
    with HTTPExtender(entry(server, filterVerb="filter", nodeCacheCapable=True)) as ext:
        reply = ext.filter(pod(), NODES)
    assert reply.names == ("n2",)
    assert reply.failed == {"n1": "busy"}


def test_request_is_a_json_post_to_prefix_slash_verb(server: ExtenderServer) -> None:
    """POST to TrimRight(urlPrefix, "/") + "/" + verb with Content-Type application/json."""
    server.reply("/ext/v1/filter", filter_reply(NodeNames=["n1"]))
    config = entry(server, prefix="/ext///", filterVerb="v1/filter", nodeCacheCapable=True)
    with HTTPExtender(config) as ext:
        ext.filter(pod(), NODES)
    assert server.paths() == ["/ext/v1/filter"]
    assert server.requests[0].content_type == "application/json"


def test_filter_chain_statuses_and_unresolvable_precedence(server: ExtenderServer) -> None:
    """Failed maps become statuses (unresolvable wins); the next extender sees survivors only."""
    server.reply(
        "/a/filter",
        filter_reply(
            NodeNames=["n1", "n2"],
            FailedNodes={"n3": "no GPU free", "n2": "ignored: also unresolvable"},
            FailedAndUnresolvableNodes={"n3": "wrong rack"},
        ),
    )
    server.reply("/b/filter", filter_reply(NodeNames=["n2"], FailedNodes={"n1": "busy"}))
    configs = [
        entry(server, "/a", filterVerb="filter", nodeCacheCapable=True),
        entry(server, "/b", filterVerb="filter", nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        outcome = extenders.filter(pod(), NODES)
    assert server.last("/b/filter").json()["NodeNames"] == ["n1", "n2"]
    assert outcome.names == ("n2",)
    assert outcome.rejected  # 3 in, 1 out -> "Extender" joins the unschedulable plugins
    assert outcome.statuses["n3"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert outcome.statuses["n3"].reasons == ("wrong rack",)
    assert outcome.statuses["n2"].code == Code.UNSCHEDULABLE  # listed by /a; /b kept it
    assert outcome.statuses["n1"].code == Code.UNSCHEDULABLE
    assert EXTENDER_NAME == "Extender"


def test_filter_chain_stops_when_no_node_is_left(server: ExtenderServer) -> None:
    """Once an extender leaves no node, later extenders are not called."""
    server.reply("/a/filter", filter_reply(NodeNames=[]))
    server.reply("/b/filter", filter_reply(NodeNames=["n1"]))
    configs = [
        entry(server, "/a", filterVerb="filter", nodeCacheCapable=True),
        entry(server, "/b", filterVerb="filter", nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        outcome = extenders.filter(pod(), NODES)
    assert outcome.nodes == ()
    assert server.paths() == ["/a/filter"]


def test_a_nodes_reply_marks_the_survivors_as_reply_objects(server: ExtenderServer) -> None:
    """Nodes that came back as objects are reported (1.34/1.35 score them as idle)."""
    server.reply("/a/filter", filter_reply(Nodes={"items": [node("n1"), node("n2")]}))
    server.reply("/b/filter", filter_reply(NodeNames=["n2"]))
    configs = [
        entry(server, "/a", filterVerb="filter"),
        entry(server, "/b", filterVerb="filter", nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        outcome = extenders.filter(pod(), NODES)
    assert outcome.names == ("n2",)
    assert outcome.reply_objects == frozenset({"n2"})


# -- errors and ignorable -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("script", "message"),
    [
        ({"body": {"Error": "inventory not synced"}}, "inventory not synced"),
        ({"body": {"Error": ""}, "status": 500}, "failed filter with extender at URL "),
        ({"body": b"<html>oops</html>"}, "ExtenderFilterResult: not JSON"),
        ({"body": {"NodeNames": "n1"}}, "NodeNames: expected an array"),
    ],
)
def test_failed_filter_calls(server: ExtenderServer, script: dict[str, Any], message: str) -> None:
    """Error set, non-200, or an undecodable body: the call fails with that message."""
    server.reply("/ext/filter", **script)
    with (
        HTTPExtender(entry(server, filterVerb="filter", nodeCacheCapable=True)) as ext,
        pytest.raises(ExtenderError) as caught,
    ):
        ext.filter(pod(), NODES)
    assert message in str(caught.value)


def test_non_200_message_names_verb_url_and_code(server: ExtenderServer) -> None:
    """kube-scheduler's text: 'failed <verb> with extender at URL <url>, code <n>'."""
    server.reply("/ext/filter", {}, status=503)
    with (
        HTTPExtender(entry(server, filterVerb="filter")) as ext,
        pytest.raises(ExtenderError) as caught,
    ):
        ext.filter(pod(), NODES)
    assert (
        str(caught.value) == f"failed filter with extender at URL {server.url}/ext/filter, code 503"
    )


def test_a_non_ignorable_filter_error_fails_the_cycle(server: ExtenderServer) -> None:
    """A failing non-ignorable filter extender aborts scheduling of the pod (raises)."""
    server.reply("/ext/filter", {"Error": "down"})
    with (
        Extenders.from_configs([entry(server, filterVerb="filter")]) as extenders,
        pytest.raises(ExtenderError, match="down"),
    ):
        extenders.filter(pod(), NODES)


def test_an_ignorable_filter_error_is_skipped_and_nodes_pass_through(
    server: ExtenderServer,
) -> None:
    """An ignorable extender's failure is skipped: its input passes on unchanged."""
    server.reply("/a/filter", {"Error": "down"})
    server.reply("/b/filter", filter_reply(NodeNames=["n1", "n3"]))
    configs = [
        entry(server, "/a", filterVerb="filter", nodeCacheCapable=True, ignorable=True),
        entry(server, "/b", filterVerb="filter", nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        outcome = extenders.filter(pod(), NODES)
    # ignorable entries are called last: /b first (all three nodes), then /a (its two survivors)
    assert server.paths() == ["/b/filter", "/a/filter"]
    assert server.last("/a/filter").json()["NodeNames"] == ["n1", "n3"]
    assert outcome.names == ("n1", "n3")
    assert [s.name for s in outcome.skipped] == [f"{server.url}/a"]


def test_timeouts_fail_the_call_within_the_budget(server: ExtenderServer) -> None:
    """httpTimeout bounds the call; an ignorable extender that times out is skipped."""
    server.reply("/slow/filter", filter_reply(NodeNames=[]), delay=1.0)
    config = entry(server, "/slow", filterVerb="filter", nodeCacheCapable=True, httpTimeout="150ms")
    with HTTPExtender(config) as ext:
        start = time.monotonic()
        with pytest.raises(ExtenderError, match="context deadline exceeded"):
            ext.filter(pod(), NODES)
        assert time.monotonic() - start < 0.9
    ignorable = config.model_copy(update={"ignorable": True})
    with Extenders([HTTPExtender(ignorable)]) as extenders:
        outcome = extenders.filter(pod(), NODES)
    assert outcome.names == ("n1", "n2", "n3")
    assert len(outcome.skipped) == 1


def test_an_unreachable_extender_is_a_transport_error() -> None:
    """Nothing listening: the call fails (and is skipped when ignorable)."""
    config = ExtenderConfig.model_validate(
        {"urlPrefix": "http://127.0.0.1:9/ext", "filterVerb": "filter", "httpTimeout": "2s"}
    )
    with (
        HTTPExtender(config) as ext,
        pytest.raises(ExtenderError, match=r'^Post "http://127.0.0.1:9/ext/filter": '),
    ):
        ext.filter(pod(), NODES)
    ignorable = config.model_copy(update={"ignorable": True})
    with Extenders([HTTPExtender(ignorable)]) as extenders:
        assert extenders.filter(pod(), NODES).names == ("n1", "n2", "n3")


def test_an_empty_url_prefix_fails_each_call_not_the_config() -> None:
    """kube-scheduler accepts any urlPrefix at startup; a bad one fails when called."""
    config = ExtenderConfig.model_validate({"filterVerb": "filter"})
    with HTTPExtender(config) as ext, pytest.raises(ExtenderError, match='Post "/filter"'):
        ext.filter(pod(), NODES)


# -- managedResources -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("the_pod", "interested"),
    [
        (pod(requests={"example.com/fpga": "1"}), True),
        (pod(limits={"example.com/fpga": "1"}), True),
        (pod(init_requests={"example.com/fpga": "1"}), True),
        (pod(requests={"cpu": "1", "nvidia.com/gpu": "1"}), False),
        (pod(claims=True), False),  # DRA claims are not extended resources
        (pod(), False),
    ],
)
def test_is_interested_looks_at_container_requests_and_limits(
    the_pod: dict[str, Any], interested: bool
) -> None:
    """A pod is sent only if a container or init container names a managed resource."""
    config = ExtenderConfig.model_validate({"managedResources": [{"name": "example.com/fpga"}]})
    assert is_interested(config, the_pod) is interested


def test_no_managed_resources_means_every_pod_is_sent() -> None:
    """With managedResources empty, IsInterested is true for any pod, DRA pods included."""
    assert is_interested(ExtenderConfig.model_validate({}), pod(claims=True))


def test_uninterested_extenders_are_not_called_in_any_phase(server: ExtenderServer) -> None:
    """A pod without the managed resource skips filter, prioritize, bind and preempt calls."""
    config = entry(
        server,
        filterVerb="filter",
        prioritizeVerb="prioritize",
        weight=1,
        bindVerb="bind",
        preemptVerb="preempt",
        managedResources=[{"name": "example.com/fpga"}],
    )
    plain = pod(requests={"cpu": "1"})
    with Extenders.from_configs([config]) as extenders:
        assert extenders.filter(plain, NODES).names == ("n1", "n2", "n3")
        assert extenders.prioritize(plain, NODES).total == {"n1": 0, "n2": 0, "n3": 0}
        assert extenders.bind(plain, "n1").binder is None
        victims = {"n1": wire.Victims(pods=(pod("v"),))}
        assert extenders.preempt(plain, victims, lambda _n: [pod("v")]).victims == victims
    assert server.requests == []


# -- prioritize -----------------------------------------------------------------------------------
def test_scores_are_score_times_weight_times_ten_summed_over_extenders(
    server: ExtenderServer,
) -> None:
    """Each extender adds score × weight × 10; hosts that are not candidates are dropped."""
    server.reply("/a/prioritize", [{"Host": "n1", "Score": 9}, {"Host": "n2", "Score": 2}])
    server.reply(
        "/b/prioritize",
        [{"Host": "n1", "Score": 3}, {"Host": "n3", "Score": 10}, {"Host": "n9", "Score": 10}],
    )
    configs = [
        entry(server, "/a", prioritizeVerb="prioritize", weight=2, nodeCacheCapable=True),
        entry(server, "/b", prioritizeVerb="prioritize", weight=5, nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        scores = extenders.prioritize(pod(), NODES)
    # n1: 9×2×10 + 3×5×10 = 180 + 150 = 330;  n2: 2×2×10 = 40;  n3: 10×5×10 = 500
    assert scores.total == {"n1": 330, "n2": 40, "n3": 500}
    assert scores.by_extender[f"{server.url}/a"] == {"n1": 180, "n2": 40}
    assert scores.by_extender[f"{server.url}/b"] == {"n1": 150, "n3": 500}
    assert server.last("/a/prioritize").json()["NodeNames"] == ["n1", "n2", "n3"]


def test_scores_are_not_clamped() -> None:
    """Out-of-range replies count as given: 50 × 1 × 10 = 500, -3 × 2 × 10 = -60."""
    assert extender_score(50, 1) == 500
    assert extender_score(-3, 2) == -60
    assert extender_score(2**62, 4) == 0  # 2^62 × 4 × 10 wraps around in int64 (2^64 × 10)


def test_a_failing_prioritizer_contributes_nothing(server: ExtenderServer) -> None:
    """Prioritize errors are ignored (even for non-ignorable extenders); others still count."""
    server.reply("/a/prioritize", {"oops": True})  # an object, not an array
    server.reply("/b/prioritize", [{"Host": "n2", "Score": 1}])
    configs = [
        entry(server, "/a", prioritizeVerb="prioritize", weight=3),
        entry(server, "/b", prioritizeVerb="prioritize", weight=1),
    ]
    with Extenders.from_configs(configs) as extenders:
        scores = extenders.prioritize(pod(), NODES)
    assert scores.total == {"n1": 0, "n2": 10, "n3": 0}
    assert [f.name for f in scores.failed] == [f"{server.url}/a"]
    assert server.last("/a/prioritize").json()["Nodes"]["items"] == NODES


def test_prioritizers_run_concurrently(server: ExtenderServer) -> None:
    """Two slow prioritizers take about one delay, not two (kube-scheduler uses goroutines)."""
    server.reply("/a/prioritize", [{"Host": "n1", "Score": 1}], delay=0.4)
    server.reply("/b/prioritize", [{"Host": "n1", "Score": 1}], delay=0.4)
    configs = [
        entry(server, "/a", prioritizeVerb="prioritize", weight=1),
        entry(server, "/b", prioritizeVerb="prioritize", weight=1),
    ]
    with Extenders.from_configs(configs) as extenders:
        start = time.monotonic()
        scores = extenders.prioritize(pod(), NODES)
        elapsed = time.monotonic() - start
    assert scores.total["n1"] == 20
    assert elapsed < 0.75


def test_an_extender_without_prioritize_verb_is_not_called(server: ExtenderServer) -> None:
    """No prioritize verb: zero contribution and no request."""
    with Extenders.from_configs([entry(server, filterVerb="filter")]) as extenders:
        assert extenders.prioritize(pod(), NODES).total == {"n1": 0, "n2": 0, "n3": 0}
    assert server.requests == []


# -- bind -----------------------------------------------------------------------------------------
def test_the_binder_receives_the_pod_identity_and_node(server: ExtenderServer) -> None:
    """Bind sends {PodName, PodNamespace, PodUID, Node}; success means the extender bound it."""
    server.reply("/gang/bind", {"Error": ""})
    configs = [entry(server, "/ext", filterVerb="filter"), entry(server, "/gang", bindVerb="bind")]
    with Extenders.from_configs(configs) as extenders:
        outcome = extenders.bind(pod("w-1", uid="u-1"), "n2")
    assert outcome.binder == f"{server.url}/gang"
    assert server.last("/gang/bind").json() == {
        "PodName": "w-1",
        "PodNamespace": "default",
        "PodUID": "u-1",
        "Node": "n2",
    }


def test_a_non_ignorable_bind_error_fails_the_binding(server: ExtenderServer) -> None:
    """A bind reply with Error from a non-ignorable binder fails the binding cycle."""
    server.reply("/gang/bind", {"Error": "gang default/g: 3 of 4 members after 90s"})
    with (
        Extenders.from_configs([entry(server, "/gang", bindVerb="bind")]) as extenders,
        pytest.raises(ExtenderError, match="3 of 4 members"),
    ):
        extenders.bind(pod(), "n1")


def test_an_ignorable_bind_error_falls_through_to_default_binder(server: ExtenderServer) -> None:
    """With ignorable: true a failing binder is skipped and DefaultBinder binds the pod."""
    server.reply("/gang/bind", {"Error": "held too long"})
    config = entry(server, "/gang", bindVerb="bind", ignorable=True)
    with Extenders.from_configs([config]) as extenders:
        outcome = extenders.bind(pod(), "n1")
    assert outcome.binder is None
    assert [s.error for s in outcome.skipped] == ["held too long"]


# -- preempt --------------------------------------------------------------------------------------
VICTIMS_N1 = (pod("low-a", uid="ua"), pod("low-b", uid="ub"))
VICTIMS_N2 = (pod("low-c", uid="uc"),)
ON_NODE = {"n1": [*VICTIMS_N1, pod("other", uid="uo")], "n2": list(VICTIMS_N2), "n3": []}


def _on_node(name: str) -> list[dict[str, Any]] | None:
    return ON_NODE.get(name)


CANDIDATES = {
    "n1": wire.Victims(pods=VICTIMS_N1, num_pdb_violations=1),
    "n2": wire.Victims(pods=VICTIMS_N2),
}


def test_node_cache_preemption_sends_uids_and_maps_the_reply_back(server: ExtenderServer) -> None:
    """nodeCacheCapable: victims go out as UIDs; the kept UIDs come back as the scheduler's pods."""
    server.reply(
        "/ext/preempt",
        {"NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "ub"}], "NumPDBViolations": 0}}},
    )
    config = entry(server, preemptVerb="preempt", nodeCacheCapable=True)
    with Extenders.from_configs([config]) as extenders:
        outcome = extenders.preempt(pod("high"), CANDIDATES, _on_node)
    sent = server.last("/ext/preempt").json()
    assert sent["NodeNameToVictims"] is None
    assert sent["NodeNameToMetaVictims"] == {
        "n1": {"Pods": [{"UID": "ua"}, {"UID": "ub"}], "NumPDBViolations": 1},
        "n2": {"Pods": [{"UID": "uc"}], "NumPDBViolations": 0},
    }
    assert dict(outcome.victims) == {"n1": wire.Victims(pods=(VICTIMS_N1[1],))}


def test_full_pod_preemption_sends_victim_objects(server: ExtenderServer) -> None:
    """Without nodeCacheCapable the victims go out as full pods; the reply is UIDs anyway."""
    server.reply("/ext/preempt", {"NodeNameToMetaVictims": {"n2": {"Pods": [{"UID": "uc"}]}}})
    with Extenders.from_configs([entry(server, preemptVerb="preempt")]) as extenders:
        outcome = extenders.preempt(pod("high"), CANDIDATES, _on_node)
    sent = server.last("/ext/preempt").json()
    assert sent["NodeNameToMetaVictims"] is None
    assert sent["NodeNameToVictims"]["n1"]["Pods"] == list(VICTIMS_N1)
    assert list(outcome.victims) == ["n2"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            {"NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "nope"}]}}},
            "claims to preempt pod (UID: &{nope}) on node: n1, but the pod is not found",
        ),
        ({"NodeNameToMetaVictims": {"n7": {"Pods": []}}}, 'nodeinfo not found for node name "n7"'),
        (
            {"NodeNameToMetaVictims": {"n3": {"Pods": []}}},
            'expected at least one victim pod on node "n3"',
        ),
        ({"NodeNameToMetaVictims": {"n1": None}}, "NodeNameToMetaVictims.n1: is null"),
    ],
)
def test_preemption_reply_errors(
    server: ExtenderServer, reply: dict[str, Any], message: str
) -> None:
    """Unknown victims or nodes, empty victim lists and nulls fail non-ignorable preemption."""
    server.reply("/ext/preempt", reply)
    config = entry(server, preemptVerb="preempt", nodeCacheCapable=True)
    with Extenders.from_configs([config]) as extenders, pytest.raises(ExtenderError) as caught:
        extenders.preempt(pod("high"), CANDIDATES, _on_node)
    assert message in str(caught.value)


def test_an_ignorable_preempter_drops_nodes_without_victims(server: ExtenderServer) -> None:
    """An ignorable extender's victim-less node is dropped instead of failing preemption."""
    server.reply(
        "/ext/preempt",
        {"NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "ua"}]}, "n3": {"Pods": []}}},
    )
    config = entry(server, preemptVerb="preempt", nodeCacheCapable=True, ignorable=True)
    with Extenders.from_configs([config]) as extenders:
        outcome = extenders.preempt(pod("high"), CANDIDATES, _on_node)
    assert list(outcome.victims) == ["n1"]


def test_an_empty_preemption_reply_ends_the_chain(server: ExtenderServer) -> None:
    """``{}`` means no preemption: later extenders are not asked, no candidate remains."""
    server.reply("/a/preempt", {"NodeNameToMetaVictims": {}})
    server.reply("/b/preempt", {"NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "ua"}]}}})
    configs = [
        entry(server, "/a", preemptVerb="preempt", nodeCacheCapable=True),
        entry(server, "/b", preemptVerb="preempt", nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        outcome = extenders.preempt(pod("high"), CANDIDATES, _on_node)
    assert dict(outcome.victims) == {}
    assert server.paths() == ["/a/preempt"]


def test_the_next_preempter_receives_the_previous_result(server: ExtenderServer) -> None:
    """Each preempting extender sees the candidates the previous one kept."""
    server.reply("/a/preempt", {"NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "ua"}]}}})
    server.reply("/b/preempt", {"NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "ua"}]}}})
    configs = [
        entry(server, "/a", preemptVerb="preempt", nodeCacheCapable=True),
        entry(server, "/b", preemptVerb="preempt", nodeCacheCapable=True),
    ]
    with Extenders.from_configs(configs) as extenders:
        extenders.preempt(pod("high"), CANDIDATES, _on_node)
    assert server.last("/b/preempt").json()["NodeNameToMetaVictims"] == {
        "n1": {"Pods": [{"UID": "ua"}], "NumPDBViolations": 0}
    }
