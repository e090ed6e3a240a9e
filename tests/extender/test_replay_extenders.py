"""The simulator playing kube-scheduler with HTTP extenders (``replay --extender``).

Each test replays a tiny trace under the kube-default profile with extenders pointing at the
scripted server (``tests/extender/conftest.py``), and checks what kube-scheduler 1.35 would
have sent and what it makes of the replies: the order of the verbs, the weights, ignorable
and non-ignorable failures, ``nodeCacheCapable`` both ways, ``percentageOfNodesToScore``
sampling, preemption through the extender, binds in flight and their timeout, and — against
the replay's served API — bindings POSTed by the extender, pod UIDs, claims written before the
bind, and the sync probe with its progress bookmarks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from scheduler.api.pod import Pod
from scheduler.extender.config import ExtenderConfig
from simulator.apiserver.live import LiveReplay, run_replay_served
from simulator.cli import app
from simulator.clusters import LoadedCluster, cluster_from_spec
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import ReplayConfig, ReplayResult, run_replay
from simulator.kubescheduler import binding
from simulator.kubescheduler.session import ExtenderSetup, load_extender_setup
from simulator.kubescheduler.sync import ExtenderSyncError
from simulator.traces.model import Trace, TraceItem
from tests.builders import gpu_claim_pod, gpu_claim_template, h100_rack_spec, make_pod
from tests.extender.scripted_server import ExtenderServer

NODES4 = ["gpu-0000", "gpu-0001", "gpu-0002", "gpu-0003"]


# -- helpers --------------------------------------------------------------------------------------
def entry(server: ExtenderServer, prefix: str, **fields: Any) -> ExtenderConfig:
    """An extender entry on the scripted server (keys as in a KubeSchedulerConfiguration)."""
    return ExtenderConfig.model_validate({"urlPrefix": server.url + prefix, **fields})


def filter_and_prioritize(server: ExtenderServer) -> ExtenderConfig:
    """The ``/e`` entry: filter and prioritize (weight 1), node names only."""
    return entry(
        server,
        "/e",
        filterVerb="filter",
        prioritizeVerb="prioritize",
        weight=1,
        nodeCacheCapable=True,
    )


def filter_reply(
    names: Sequence[str] | None = None,
    *,
    failed: dict[str, str] | None = None,
    unresolvable: dict[str, str] | None = None,
    nodes: list[dict[str, Any]] | None = None,
    error: str = "",
) -> dict[str, Any]:
    """An ExtenderFilterResult as a Go extender writes it."""
    return {
        "Nodes": None if nodes is None else {"metadata": {}, "items": nodes},
        "NodeNames": None if names is None else list(names),
        "FailedNodes": failed,
        "FailedAndUnresolvableNodes": unresolvable,
        "Error": error,
    }


def cpu_pod(name: str, cpu: str = "4", *, priority: int | None = None, uid: bool = True) -> Pod:
    """A cpu-only pod (no claims)."""
    return make_pod(name, cpu=cpu, priority=priority, uid=f"uid-{name}" if uid else None)


def loaded_cluster(nodes: int = 4, per_rack: int = 2) -> LoadedCluster:
    """``nodes`` nodes of 64 cpu and 8 H100s, one zone."""
    return cluster_from_spec(h100_rack_spec(nodes, per_rack, name="ext"))


def trace_of(items: Sequence[TraceItem]) -> Trace:
    return Trace("ext", list(items), [gpu_claim_template(n) for n in (1, 2, 8)])


def setup(
    extenders: Sequence[ExtenderConfig], percentage: int | None = None, **extra: Any
) -> ReplayConfig:
    """A replay configuration playing kube-scheduler with ``extenders``."""
    return ReplayConfig(
        kube_scheduler=ExtenderSetup(
            extenders=tuple(extenders), percentage_of_nodes_to_score=percentage, **extra
        )
    )


def replay(
    items: Sequence[TraceItem],
    extenders: Sequence[ExtenderConfig],
    *,
    loaded: LoadedCluster | None = None,
    percentage: int | None = None,
) -> ReplayResult:
    """Replay ``items`` under kube-default, playing kube-scheduler with ``extenders``."""
    cluster = loaded if loaded is not None else loaded_cluster()
    profile = replay_profile("kube-default", levels=cluster.levels)
    return run_replay(cluster, trace_of(items), profile, setup(extenders, percentage))


def events(result: ReplayResult) -> list[tuple[float, str, str, str | None]]:
    """Placements as ``(t, event, pod name, node)``."""
    return [(p["t"], p["event"], p["pod"].split("/")[1], p["node"]) for p in result.placements]


def bind_ok(_args: Any) -> dict[str, str]:
    return {"Error": ""}


def slow_first(seconds: float) -> Callable[[Any], Awaitable[dict[str, str]]]:
    """A bind handler whose first reply comes ``seconds`` late; the others at once."""
    calls = {"n": 0}

    async def bind(_args: Any) -> dict[str, str]:
        calls["n"] += 1
        if calls["n"] == 1:
            await asyncio.sleep(seconds)
        return {"Error": ""}

    return bind


# -- the verbs, in order --------------------------------------------------------------------------
def test_filter_prioritize_bind_in_order_with_the_pod_and_the_survivors(
    server: ExtenderServer,
) -> None:
    """Filter on the in-tree survivors, prioritize on the filter's survivors, bind after
    them; the extender's choice wins; the bind names the pod's UID and the chosen node."""
    server.reply("/e/filter", filter_reply(["gpu-0001", "gpu-0002"], failed={"gpu-0000": "no"}))
    server.reply(
        "/e/prioritize", [{"Host": "gpu-0001", "Score": 0}, {"Host": "gpu-0002", "Score": 10}]
    )
    server.reply("/b/bind", handler=bind_ok)
    result = replay(
        [TraceItem(gpu_claim_pod("p", 2), 0.0, 50.0)],
        [
            filter_and_prioritize(server),
            entry(server, "/b", bindVerb="bind", nodeCacheCapable=True),
        ],
    )
    assert server.paths() == ["/e/filter", "/e/prioritize", "/b/bind"]
    sent = server.last("/e/filter").json()
    assert sent["NodeNames"] == NODES4 and sent["Nodes"] is None
    assert sent["Pod"]["metadata"]["uid"] == "uid-p"
    assert server.last("/e/prioritize").json()["NodeNames"] == ["gpu-0001", "gpu-0002"]
    assert server.last("/b/bind").json() == {
        "PodName": "p",
        "PodNamespace": "default",
        "PodUID": "uid-p",
        "Node": "gpu-0002",
    }
    assert events(result) == [(0.0, "bind", "p", "gpu-0002")]
    calls = result.summary["extenders"]["calls"]
    assert [calls[v]["calls"] for v in ("filter", "prioritize", "preempt", "bind")] == [1, 1, 0, 1]


@pytest.mark.parametrize(("w1", "w2", "winner"), [(1, 3, "gpu-0003"), (3, 1, "gpu-0000")])
def test_scores_are_weighted_and_summed_across_extenders(
    server: ExtenderServer, w1: int, w2: int, winner: str
) -> None:
    """Two prioritizers: node totals get score x weight x 10 from each (10 x 1 x 10 = 100
    for gpu-0000 against 5 x 3 x 10 = 150 for gpu-0003, and the other way round)."""
    server.reply("/a/prioritize", [{"Host": "gpu-0000", "Score": 10}])
    server.reply("/b/prioritize", [{"Host": "gpu-0003", "Score": 5}])
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [
            entry(server, "/a", prioritizeVerb="prioritize", weight=w1, nodeCacheCapable=True),
            entry(server, "/b", prioritizeVerb="prioritize", weight=w2, nodeCacheCapable=True),
        ],
    )
    assert events(result) == [(0.0, "bind", "p", winner)]
    assert sorted(server.paths()) == ["/a/prioritize", "/b/prioritize"]


def test_one_feasible_node_is_taken_without_prioritize(server: ExtenderServer) -> None:
    """With one node left after the filters, kube-scheduler scores nothing."""
    server.reply("/e/filter", filter_reply(["gpu-0001"]))
    server.reply("/e/prioritize", [])
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [filter_and_prioritize(server)],
    )
    assert server.paths() == ["/e/filter"]
    assert events(result) == [(0.0, "bind", "p", "gpu-0001")]


# -- failures -------------------------------------------------------------------------------------
def test_non_ignorable_filter_failure_fails_the_attempt_and_backs_off(
    server: ExtenderServer,
) -> None:
    """A filter reply with ``Error`` from a non-ignorable extender ends the attempt with that
    error (an error, not "unschedulable": no preemption); the pod is retried after its 1 s
    backoff and binds once the extender answers. kube-scheduler 1.35 (SchedulerPopFromBackoffQ)
    truncates the expiry (1.0) to its second and flushes the pod at the next whole second
    after that window: 2.0."""
    calls = {"n": 0}

    def flaky(args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return filter_reply(error="not ready")
        return filter_reply(args["NodeNames"])

    server.reply("/e/filter", handler=flaky)
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
    )
    assert events(result)[0][:3] == (0.0, "fail", "p")
    assert result.placements[0]["reason"] == "not ready"
    assert events(result)[1][:3] == (2.0, "bind", "p")
    filters = result.summary["extenders"]["calls"]["filter"]
    assert (filters["calls"], filters["failures"]) == (2, 1)


def test_non_200_filter_reply_names_the_extender_url(server: ExtenderServer) -> None:
    """A non-200 status fails the attempt with kube-scheduler's wording."""
    server.reply("/e/filter", {"Error": ""}, status=503)
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, None)],
        [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
    )
    first = result.placements[0]
    assert first["event"] == "fail"
    assert first["reason"] == f"failed filter with extender at URL {server.url}/e/filter, code 503"
    assert result.summary["pods_scheduled"] == 0


def test_ignorable_filter_failure_passes_the_nodes_through(server: ExtenderServer) -> None:
    """An ignorable extender that fails is skipped: the in-tree survivors go on, and the
    non-ignorable one (called first, although listed second) still filters."""
    server.reply("/ign/filter", {"Error": ""}, status=500)
    server.reply("/strict/filter", handler=lambda a: filter_reply(a["NodeNames"][-1:]))
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [
            entry(server, "/ign", filterVerb="filter", nodeCacheCapable=True, ignorable=True),
            entry(server, "/strict", filterVerb="filter", nodeCacheCapable=True),
        ],
    )
    assert server.paths() == ["/strict/filter", "/ign/filter"]
    assert server.last("/ign/filter").json()["NodeNames"] == ["gpu-0003"]
    assert events(result) == [(0.0, "bind", "p", "gpu-0003")]
    assert result.summary["extenders"]["calls"]["filter"]["failures"] == 1


def test_unresolvable_nodes_count_in_the_fit_error(server: ExtenderServer) -> None:
    """Nodes the extender fails are counted in the FitError with its reasons."""
    server.reply(
        "/e/filter",
        filter_reply(
            [],
            failed={"gpu-0000": "busy", "gpu-0001": "busy"},
            unresolvable={"gpu-0002": "wrong rack", "gpu-0003": "wrong rack"},
        ),
    )
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, None)],
        [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
    )
    assert result.placements[0]["reason"] == "0/4 nodes are available: 2 busy, 2 wrong rack."


def test_prioritize_failure_is_ignored(server: ExtenderServer) -> None:
    """A failed prioritize call, even of a non-ignorable extender, only adds nothing."""
    server.reply("/e/filter", handler=lambda a: filter_reply(a["NodeNames"]))
    server.reply("/e/prioritize", b"not json")
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [filter_and_prioritize(server)],
    )
    assert [e[1] for e in events(result)] == ["bind"]
    assert result.summary["extenders"]["calls"]["prioritize"]["failures"] == 1


# -- nodeCacheCapable -----------------------------------------------------------------------------
def test_full_nodes_out_and_nodes_back_without_node_cache(server: ExtenderServer) -> None:
    """``nodeCacheCapable: false``: full Node objects out (NodeNames null); the reply's
    ``Nodes`` are the survivors."""

    def keep_last(args: Any) -> Any:
        return filter_reply(None, nodes=args["Nodes"]["items"][-1:])

    server.reply("/e/filter", handler=keep_last)
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [entry(server, "/e", filterVerb="filter")],
    )
    sent = server.last("/e/filter").json()
    assert sent["NodeNames"] is None
    items = sent["Nodes"]["items"]
    assert [n["metadata"]["name"] for n in items] == NODES4
    assert items[0]["kind"] == "Node" and "allocatable" in items[0]["status"]
    assert events(result) == [(0.0, "bind", "p", "gpu-0003")]


def test_node_cache_reply_must_name_candidates(server: ExtenderServer) -> None:
    """A node-cache reply naming a node that was not a candidate fails the call."""
    server.reply("/e/filter", filter_reply(["gpu-0009"]))
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, None)],
        [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
    )
    assert 'claims a filtered node "gpu-0009"' in result.placements[0]["reason"]


# -- percentageOfNodesToScore -------------------------------------------------------------------
def test_sampling_bounds_what_the_filter_extender_sees(server: ExtenderServer) -> None:
    """150 nodes, adaptive: max(150 x 49 / 100, 100) = 100 nodes found per pod, and the next
    pod's search starts where the previous one stopped; with 100 % every node is sent."""
    server.reply("/e/filter", handler=lambda a: filter_reply(a["NodeNames"][:1]))
    loaded = loaded_cluster(nodes=150, per_rack=10)
    names = sorted(loaded.cache.node_names)
    items = [TraceItem(cpu_pod(f"p{i}", "1"), float(i), None) for i in range(2)]
    ext = [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)]
    replay(items, ext, loaded=loaded)
    sent = [r.json()["NodeNames"] for r in server.requests]
    assert [len(s) for s in sent] == [100, 100]
    assert sent[0] == names[:100]
    assert sent[1] == names[100:] + names[:50]
    server.requests.clear()
    replay(items, ext, loaded=loaded_cluster(nodes=150, per_rack=10), percentage=100)
    assert [len(r.json()["NodeNames"]) for r in server.requests] == [150, 150]


# -- preemption -----------------------------------------------------------------------------------
def test_preempt_sends_victim_uids_and_the_reply_picks_the_node(server: ExtenderServer) -> None:
    """DefaultPreemption asks the extender after its dry run (victims as UIDs in node-cache
    mode); the extender keeps the node of ``low1`` only, whose victim is evicted, and the
    preemptor binds there once it is gone."""

    def keep_low1(args: Any) -> Any:
        offered = args["NodeNameToMetaVictims"]
        return {
            "NodeNameToMetaVictims": {
                node: victims
                for node, victims in offered.items()
                if victims["Pods"] == [{"UID": "uid-low1"}]
            }
        }

    server.reply("/e/preempt", handler=keep_low1)
    server.reply("/e/filter", handler=lambda a: filter_reply(a["NodeNames"]))
    result = replay(
        [
            TraceItem(cpu_pod("low0", "60", priority=0), 0.0, None),
            TraceItem(cpu_pod("low1", "60", priority=0), 0.0, None),
            TraceItem(cpu_pod("high", "60", priority=1000), 10.0, None),
        ],
        [entry(server, "/e", preemptVerb="preempt", filterVerb="filter", nodeCacheCapable=True)],
        loaded=loaded_cluster(nodes=2, per_rack=2),
    )
    where = {e[2]: e[3] for e in events(result) if e[1] == "bind" and e[0] == 0.0}
    sent = server.last("/e/preempt").json()
    assert sent["NodeNameToVictims"] is None
    assert sent["NodeNameToMetaVictims"] == {
        where["low0"]: {"Pods": [{"UID": "uid-low0"}], "NumPDBViolations": 0},
        where["low1"]: {"Pods": [{"UID": "uid-low1"}], "NumPDBViolations": 0},
    }
    evicted = [e for e in events(result) if e[1] == "evict"]
    assert [(e[2], e[3]) for e in evicted] == [("low1", where["low1"])]
    assert (10.0, "bind", "high", where["low1"]) in events(result)
    # the retry tries the nominated node first, alone (filters, then the extender)
    last = server.last("/e/filter").json()
    assert last["Pod"]["metadata"]["name"] == "high"
    assert last["Pod"]["status"]["nominatedNodeName"] == where["low1"]
    assert last["NodeNames"] == [where["low1"]]


def test_an_empty_preempt_reply_means_no_preemption(server: ExtenderServer) -> None:
    """An extender that keeps no candidate stops the preemption: nobody is evicted."""
    server.reply("/e/preempt", {"NodeNameToMetaVictims": {}})
    result = replay(
        [
            TraceItem(cpu_pod("low0", "60", priority=0), 0.0, None),
            TraceItem(cpu_pod("high", "60", priority=1000), 10.0, None),
        ],
        [entry(server, "/e", preemptVerb="preempt", nodeCacheCapable=True)],
        loaded=loaded_cluster(nodes=1, per_rack=1),
    )
    assert server.paths()[:1] == ["/e/preempt"]
    assert not [e for e in events(result) if e[1] == "evict"]
    assert result.summary["preemptions"] == 0


# -- bind -----------------------------------------------------------------------------------------
def test_bind_timeout_fails_the_binding_and_the_pod_retries(server: ExtenderServer) -> None:
    """The bind entry's httpTimeout bounds the call: a reply later than it fails the
    binding (Unreserve, backoff) and the pod binds on its retry at t = 2 s (its 1 s backoff
    ends in the 1 s window, flushed at the next: SchedulerPopFromBackoffQ's windows)."""
    server.reply("/b/bind", handler=slow_first(1.0))
    start = time.monotonic()
    result = replay(
        [TraceItem(gpu_claim_pod("p", 2), 0.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True, httpTimeout="200ms")],
    )
    got = events(result)
    assert got[0][:3] == (0.0, "fail", "p")
    assert "context deadline exceeded" in result.placements[0]["reason"]
    assert got[1][:3] == (2.0, "bind", "p")
    assert time.monotonic() - start < 5.0
    assert result.summary["extenders"]["calls"]["bind"]["failures"] == 1


def test_ignorable_binder_failure_falls_through_to_default_binder(
    server: ExtenderServer,
) -> None:
    """An ignorable binder's failure is skipped: DefaultBinder binds the pod."""
    server.reply("/b/bind", {"Error": "cannot bind"})
    result = replay(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True, ignorable=True)],
    )
    assert [e[1] for e in events(result)] == ["bind"]
    assert server.paths() == ["/b/bind"]


def test_non_ignorable_binder_error_fails_the_binding(server: ExtenderServer) -> None:
    """A bind reply with ``Error`` fails the binding; the devices it reserved are freed
    (the retry, at the 2 s window after its backoff, gets the same first-fit devices)."""
    calls = {"n": 0}

    def once(_args: Any) -> dict[str, str]:
        calls["n"] += 1
        return {"Error": "not now" if calls["n"] == 1 else ""}

    server.reply("/b/bind", handler=once)
    result = replay(
        [TraceItem(gpu_claim_pod("p", 8), 0.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True)],
        loaded=loaded_cluster(nodes=1, per_rack=1),
    )
    assert events(result)[0][1] == "fail" and result.placements[0]["reason"] == "not now"
    assert events(result)[1][:3] == (2.0, "bind", "p")


def hold_until_two(
    arrived: list[str], timeout: float
) -> Callable[[Any], Awaitable[dict[str, str]]]:
    """A bind handler holding each bind until two have arrived (a gang of two), appending
    each pod's name to ``arrived``; a bind still alone after ``timeout`` s raises."""
    both = asyncio.Event()

    async def hold(args: Any) -> dict[str, str]:
        arrived.append(args["PodName"])
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=timeout)
        return {"Error": ""}

    return hold


def test_binds_are_in_flight_together_and_complete_at_the_same_instant(
    server: ExtenderServer,
) -> None:
    """Like a gang hold: the extender answers the first bind only once the second arrived.
    Both are in flight at once (one thread each) and both pods bind at t = 0."""
    arrived: list[str] = []
    server.reply("/b/bind", handler=hold_until_two(arrived, timeout=5.0))
    result = replay(
        [TraceItem(cpu_pod("a"), 0.0, 50.0), TraceItem(cpu_pod("b"), 0.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True, httpTimeout="3s")],
    )
    assert sorted(arrived) == ["a", "b"]
    assert [(e[0], e[1], e[2]) for e in events(result)] == [(0.0, "bind", "a"), (0.0, "bind", "b")]
    assert result.summary["extenders"]["binds_in_flight_total"] == 2


def test_a_held_bind_lets_virtual_time_run_until_its_partner_arrives(
    server: ExtenderServer,
) -> None:
    """A gang hold whose other member is created later (or retried after a backoff): the
    first bind stays in flight past its settle window, the replay goes on to t = 10 s, the
    second pod's bind releases both, and both bind there — without waiting for the hold's
    deadline."""
    server.reply("/b/bind", handler=hold_until_two([], timeout=25.0))
    start = time.monotonic()
    result = replay(
        [TraceItem(cpu_pod("a"), 0.0, 50.0), TraceItem(cpu_pod("b"), 10.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True, httpTimeout="30s")],
    )
    assert [(e[0], e[1], e[2]) for e in events(result)] == [
        (10.0, "bind", "a"),
        (10.0, "bind", "b"),
    ]
    assert time.monotonic() - start < 15.0


def test_held_binds_released_by_a_new_one_complete_at_its_instant(
    server: ExtenderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gang hold released by its last member's bind: the webhook answers the held member
    too, just after the new one (here 0.2 s, within a straggler window widened to 1 s so
    that a loaded machine cannot make the test flaky). Both complete at the instant of the
    new bind (t = 10 s), not at the next event (t = 25 s, before the held bind's due time),
    as kube-scheduler's binding goroutines both return then."""
    monkeypatch.setattr(binding, "BIND_STRAGGLER_SECONDS", 1.0)
    both = asyncio.Event()

    async def hold(args: Any) -> dict[str, str]:
        if args["PodName"] == "b":
            both.set()
            return {"Error": ""}
        await asyncio.wait_for(both.wait(), timeout=25.0)
        await asyncio.sleep(0.2)  # its reply goes out just after the new bind's
        return {"Error": ""}

    server.reply("/b/bind", handler=hold)
    result = replay(
        [
            TraceItem(cpu_pod("a"), 0.0, 100.0),
            TraceItem(cpu_pod("b"), 10.0, 100.0),
            TraceItem(cpu_pod("c"), 25.0, 100.0),
        ],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True, httpTimeout="30s")],
    )
    assert sorted((e[0], e[1], e[2]) for e in events(result)) == [
        (10.0, "bind", "a"),
        (10.0, "bind", "b"),
        (25.0, "bind", "c"),
    ]


def test_a_held_bind_is_waited_for_before_its_timeout_passes(server: ExtenderServer) -> None:
    """Virtual time never runs past a held bind's issue plus its ``httpTimeout``: a bind
    held beyond the timeout fails there, not when a much later event comes."""
    server.reply("/b/bind", handler=slow_first(4.0))
    result = replay(
        [TraceItem(cpu_pod("a"), 0.0, 50.0), TraceItem(cpu_pod("b"), 1000.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True, httpTimeout="3s")],
    )
    got = events(result)
    assert got[0][1:3] == ("fail", "a") and got[0][0] < 1000.0
    assert "context deadline exceeded" in result.placements[0]["reason"]
    assert ("bind", "a") in [(e[1], e[2]) for e in got if e[0] < 1000.0]


# -- against the served API -----------------------------------------------------------------------
class Api:
    """The served replay's URL, once known (the bind handler POSTs bindings to it)."""

    url = ""


def served(
    items: Sequence[TraceItem],
    extenders: Sequence[ExtenderConfig],
    api: Api,
    *,
    sync_url: str | None = None,
    sync_timeout: float = 5.0,
) -> ReplayResult:
    loaded = loaded_cluster()
    profile = replay_profile("kube-default", levels=loaded.levels)
    config = setup(extenders, sync_url=sync_url, sync_timeout=sync_timeout)

    def note(live: LiveReplay) -> None:
        api.url = live.url

    return run_replay_served(loaded, trace_of(items), profile, config, port=0, on_serving=note)


def test_extender_binds_through_the_served_api_after_prebind(server: ExtenderServer) -> None:
    """The extender's bind POSTs a Binding to the replay's API (accepted although the API is
    otherwise read-only); pods without a UID in the trace get one, the same in the API and in
    the bind request; the pod's claim is already allocated and reserved when bind is called
    (DynamicResources PreBind ran first)."""
    api = Api()
    seen: dict[str, Any] = {}

    async def bind_via_api(args: Any) -> dict[str, str]:
        async with httpx.AsyncClient(base_url=api.url) as client:
            ns, name = args["PodNamespace"], args["PodName"]
            claim = await client.get(
                f"/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims/{name}-gpu"
            )
            seen[name] = claim.json()["status"]
            pod = (await client.get(f"/api/v1/namespaces/{ns}/pods/{name}")).json()
            seen[f"{name}/uid"] = pod["metadata"]["uid"]
            answer = await client.post(
                f"/api/v1/namespaces/{ns}/pods/{name}/binding",
                json={
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": name, "uid": args["PodUID"]},
                    "target": {"kind": "Node", "name": args["Node"]},
                },
            )
            if answer.status_code != 201:
                return {"Error": answer.text}
        return {"Error": ""}

    server.reply("/b/bind", handler=bind_via_api)
    pod = gpu_claim_pod("p", 2)
    pod = pod.model_copy(update={"metadata": pod.metadata.model_copy(update={"uid": None})})
    result = served(
        [TraceItem(pod, 0.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True)],
        api,
    )
    bind_args = server.last("/b/bind").json()
    assert bind_args["PodUID"] and bind_args["PodUID"] == seen["p/uid"]
    status = seen["p"]
    assert status["allocation"]["devices"]["results"]
    assert [r["uid"] for r in status["reservedFor"]] == [bind_args["PodUID"]]
    assert events(result) == [(0.0, "bind", "p", bind_args["Node"])]
    summary = result.summary["extenders"]
    assert (summary["binds_unconfirmed"], summary["binds_elsewhere"]) == (0, 0)


def test_a_bind_success_without_a_binding_is_counted(server: ExtenderServer) -> None:
    """An extender that answers success without creating the Binding: kube-scheduler
    trusts it (the pod counts as bound) and the summary counts it as unconfirmed."""
    server.reply("/b/bind", handler=bind_ok)
    result = served(
        [TraceItem(cpu_pod("p"), 0.0, 50.0)],
        [entry(server, "/b", bindVerb="bind", nodeCacheCapable=True)],
        Api(),
    )
    assert [e[1] for e in events(result)] == ["bind"]
    assert result.summary["extenders"]["binds_unconfirmed"] == 1


def test_a_failed_attempt_is_written_to_the_served_api(server: ExtenderServer) -> None:
    """As kube-scheduler's handleSchedulingFailure: the pod gets ``PodScheduled=False``
    (reason Unschedulable, the FitError message) and a FailedScheduling Event is recorded;
    an extender error gives reason SchedulerError."""
    calls = {"n": 0}

    def reject(args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return filter_reply(error="webhook restarting")
        return filter_reply([], unresolvable=dict.fromkeys(args["NodeNames"], "waiting for gang"))

    server.reply("/e/filter", handler=reject)
    seen: dict[str, Any] = {}

    def inspect_api(live: LiveReplay) -> None:
        store = live.cluster.store
        pod = store.get(live.cluster.resource("pods"), "default", "p")
        assert pod is not None
        seen["pod"] = pod.obj()
        seen["events"] = [
            e.obj() for e in store.list_page(live.cluster.resource("events"), "default").entries
        ]

    loaded = loaded_cluster()
    run_replay_served(
        loaded,
        trace_of([TraceItem(cpu_pod("p"), 0.0, None)]),
        replay_profile("kube-default", levels=loaded.levels),
        setup([entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)]),
        port=0,
        linger=inspect_api,
    )
    conditions = seen["pod"]["status"]["conditions"]
    scheduled = [c for c in conditions if c["type"] == "PodScheduled"]
    assert scheduled == [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/4 nodes are available: 4 waiting for gang.",
            "lastTransitionTime": scheduled[0]["lastTransitionTime"],
        }
    ]
    reasons = [(e["reason"], e["type"], e["involvedObject"]["name"]) for e in seen["events"]]
    assert reasons[0] == ("FailedScheduling", "Warning", "p")
    assert seen["events"][0]["message"] == "webhook restarting"
    assert seen["events"][0]["involvedObject"]["uid"] == "uid-p"
    assert seen["events"][1]["message"] == "0/4 nodes are available: 4 waiting for gang."


def test_sync_probe_precedes_each_cycle_with_the_served_version(server: ExtenderServer) -> None:
    """``--extender-sync``: before each cycle after a change, ``GET ?resourceVersion=N``
    with the served API's version; the versions grow."""
    server.reply("/sync", body={})
    server.reply("/e/filter", handler=lambda a: filter_reply(a["NodeNames"]))
    result = served(
        [TraceItem(cpu_pod("a"), 0.0, 50.0), TraceItem(cpu_pod("b"), 5.0, 50.0)],
        [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
        Api(),
        sync_url=server.url + "/sync",
    )
    assert server.paths() == ["/sync", "/e/filter", "/sync", "/e/filter"]
    versions = [int(r.query["resourceVersion"]) for r in server.requests if r.path == "/sync"]
    assert versions[0] < versions[1]
    assert result.summary["extenders"]["sync"]["probes"] == 2


def test_sync_probe_follows_a_failed_attempt_at_its_instant(server: ExtenderServer) -> None:
    """A failed attempt is written and probed at once, at the failure's virtual time (a
    preempting webhook's evictions then land before the replay moves on), not first at the
    next cycle's later time."""
    server.reply("/sync", body={})

    def reject_a(args: Any) -> Any:
        names = args["NodeNames"]
        if args["Pod"]["metadata"]["name"] == "a":
            return filter_reply([], unresolvable=dict.fromkeys(names, "no room"))
        return filter_reply(names)

    server.reply("/e/filter", handler=reject_a)
    served(
        [TraceItem(cpu_pod("a"), 0.0, 50.0), TraceItem(cpu_pod("b"), 5.0, 50.0)],
        [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
        Api(),
        sync_url=server.url + "/sync",
    )
    paths = server.paths()
    assert paths[:4] == ["/sync", "/e/filter", "/sync", "/sync"]
    probes = [r.query for r in server.requests if r.path == "/sync"]
    # the failure's probe: a newer version (the failure's writes), the same instant
    assert int(probes[1]["resourceVersion"]) > int(probes[0]["resourceVersion"])
    assert probes[1]["time"] == probes[0]["time"]
    assert probes[2]["time"] > probes[1]["time"]


def test_served_objects_are_stamped_in_virtual_time_and_the_probe_tells_it(
    server: ExtenderServer,
) -> None:
    """The served replay's clock is its virtual time dated from the second it started: a pod
    bound at t = 5 s has ``status.startTime`` 5 s after one bound at t = 0, and each sync
    probe sends the replay's time (``time``, RFC 3339); a cycle at a later instant is probed
    although the API did not change."""
    server.reply("/sync", body={})
    server.reply("/e/filter", handler=lambda a: filter_reply(a["NodeNames"]))
    seen: dict[str, Any] = {}

    def inspect_api(live: LiveReplay) -> None:
        pods = live.cluster.resource("pods")
        for name in ("a", "b"):
            found = live.cluster.store.get(pods, "default", name)
            assert found is not None
            seen[name] = found.obj()

    loaded = loaded_cluster()
    run_replay_served(
        loaded,
        trace_of([TraceItem(cpu_pod("a"), 0.0, None), TraceItem(cpu_pod("b"), 5.0, None)]),
        replay_profile("kube-default", levels=loaded.levels),
        setup(
            [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
            sync_url=server.url + "/sync",
            sync_timeout=5.0,
        ),
        port=0,
        linger=inspect_api,
    )

    def seconds(text: str) -> float:
        return dt.datetime.fromisoformat(text).timestamp()

    start_a = seconds(seen["a"]["status"]["startTime"])
    start_b = seconds(seen["b"]["status"]["startTime"])
    assert start_b - start_a == 5.0
    assert seconds(seen["b"]["metadata"]["creationTimestamp"]) - start_a == 5.0
    told = [seconds(r.query["time"]) for r in server.requests if r.path == "/sync"]
    assert told[0] == start_a and told[-1] == start_b


def test_sync_probe_that_never_confirms_stops_the_replay(server: ExtenderServer) -> None:
    """A webhook that never reaches the version: the replay stops with one clear error."""
    server.reply("/sync", {"waiting": True}, status=503)
    with pytest.raises(ExtenderSyncError, match="did not reach resourceVersion"):
        served(
            [TraceItem(cpu_pod("a"), 0.0, 50.0)],
            [entry(server, "/e", filterVerb="filter", nodeCacheCapable=True)],
            Api(),
            sync_url=server.url + "/sync",
            sync_timeout=0.3,
        )


def test_progress_request_sends_a_bookmark_on_quiet_watches() -> None:
    """A progress request makes every bookmark-enabled watch send a BOOKMARK at once, at a
    version no older than the store's when it was asked."""
    from simulator.apiserver.cluster import ServedCluster
    from simulator.apiserver.resources import TABLE
    from simulator.apiserver.server import ApiServer
    from simulator.apiserver.store import Store
    from simulator.backend import SimulatedCluster

    loaded = loaded_cluster(nodes=2)
    cluster = ServedCluster(Store(TABLE), SimulatedCluster(loaded.cache))
    cluster.load_cluster(loaded)
    server = ApiServer(cluster, port=0, bookmark_interval=3600.0).start()
    try:
        rv = cluster.store.rv
        lines: list[dict[str, Any]] = []
        got = threading.Event()

        def watch() -> None:
            with httpx.stream(
                "GET",
                f"{server.url}/api/v1/nodes",
                params={"watch": "1", "resourceVersion": str(rv), "allowWatchBookmarks": "true"},
                timeout=10.0,
            ) as response:
                for line in response.iter_lines():
                    if line:
                        lines.append(orjson.loads(line))
                        got.set()
                        return

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        time.sleep(0.3)
        assert not got.is_set()
        cluster.store.request_progress()
        assert got.wait(5.0)
        assert lines[0]["type"] == "BOOKMARK"
        assert int(lines[0]["object"]["metadata"]["resourceVersion"]) >= rv
    finally:
        server.stop()


# -- the command ----------------------------------------------------------------------------------
def write_config(path: Path, extenders: list[dict[str, Any]], percentage: int = 100) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "percentageOfNodesToScore": percentage,
                "extenders": extenders,
            }
        )
    )
    return path


ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "traces/clusters/two-rack-h100-dynamic-mig.yaml"
SCENARIO = ROOT / "traces/scenarios/serving-batch-small.yaml"


def test_cli_replay_with_extender_file(server: ExtenderServer, tmp_path: Path) -> None:
    """``tessera replay --policy kube-default --extender FILE``: every pod's filter goes to
    the extender, and the summary has the extenders section."""
    server.reply("/e/filter", handler=lambda a: filter_reply(a["NodeNames"]))
    config = write_config(
        tmp_path / "ext.yaml",
        [{"urlPrefix": server.url + "/e", "filterVerb": "filter", "nodeCacheCapable": True}],
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--trace",
            str(SCENARIO),
            "--cluster",
            str(CLUSTER),
            "--policy",
            "kube-default",
            "--extender",
            str(config),
            "--horizon",
            "600",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["extenders"]["percentage_of_nodes_to_score"] == 100
    assert summary["extenders"]["calls"]["filter"]["calls"] >= summary["pods_scheduled"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--extender-sync", "http://127.0.0.1:1/sync"],
            "--extender-sync: only with --api-port (the webhook must watch the served API)",
        ),
        (
            ["--extender-sync", "ftp://x", "--api-port", "0"],
            "--extender-sync 'ftp://x': expected an http(s) URL",
        ),
    ],
)
def test_cli_bad_sync_option_is_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    config = write_config(tmp_path / "ext.yaml", [])
    result = CliRunner().invoke(
        app,
        ["replay", "--trace", str(SCENARIO), "--extender", str(config), *extra],
    )
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {message}"


def test_cli_bad_extender_file_is_one_line(tmp_path: Path) -> None:
    """A misspelt key or an invalid value: one line naming the file and the field."""
    bad = write_config(
        tmp_path / "bad.yaml", [{"urlPrefix": "http://x", "prioritizeVerb": "p", "weight": 0}]
    )
    result = CliRunner().invoke(app, ["replay", "--trace", str(SCENARIO), "--extender", str(bad)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith(f"error: {bad}: extenders[0].weight: ")
    assert "must have a positive weight" in line and "\n" not in line
    typo = write_config(tmp_path / "typo.yaml", [{"urlPrefix": "http://x", "enableHttps": True}])
    result = CliRunner().invoke(app, ["replay", "--trace", str(SCENARIO), "--extender", str(typo)])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: {typo}: extenders[0].enableHttps: unknown")


def test_shipped_extender_configuration_loads() -> None:
    """traces/schedulers/tessera-extender.yaml: two entries on one server, the binder last
    in its own entry with the long timeout, every node searched."""
    setup = load_extender_setup(ROOT / "traces/schedulers/tessera-extender.yaml")
    assert setup.percentage_of_nodes_to_score == 100
    placement, binding = setup.extenders
    assert (placement.weight, placement.timeout_seconds, placement.node_cache_capable) == (
        24,
        3.0,
        True,
    )
    assert binding.is_binder and binding.timeout_seconds == 120.0 and not binding.ignorable


def test_cli_help_describes_the_extender_options() -> None:
    result = CliRunner().invoke(app, ["replay", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--extender" in result.output and "--extender-sync" in result.output
    assert "KubeSchedulerConfiguration" in result.output


# -- a webhook honouring the whole contract --------------------------------------------------------
class ContractWebhook:
    """A minimal webhook as tessera serve would behave against a replay: an informer (list,
    then watch with bookmarks) of the served pods, a sync route that waits for its informer
    to reach the asked version, a filter that checks it knows the pod, and a bind that holds
    the members of gang ``g`` until both asked, then POSTs every Binding."""

    def __init__(self) -> None:
        self.url = ""
        self.rv = 0
        self.known: set[str] = set()
        self.filter_knew: list[bool] = []
        self.held: dict[str, tuple[str, str, str, str]] = {}
        self.release = asyncio.Event()
        self.stop = threading.Event()

    def start(self, api_url: str) -> None:
        self.url = api_url
        threading.Thread(target=self._informer, daemon=True).start()

    def _informer(self) -> None:
        try:
            self._list_and_watch()
        except httpx.HTTPError:
            if not self.stop.is_set():
                raise

    def _list_and_watch(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            listed = client.get("/api/v1/pods").json()
            self.known = {
                f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in listed["items"]
            }
            self.rv = int(listed["metadata"]["resourceVersion"])
            params = {
                "watch": "1",
                "allowWatchBookmarks": "true",
                "resourceVersion": str(self.rv),
                "timeoutSeconds": "60",
            }
            with client.stream("GET", "/api/v1/pods", params=params) as response:
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if not line:
                        continue
                    event = orjson.loads(line)
                    meta = event["object"]["metadata"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.known.add(f"{meta['namespace']}/{meta['name']}")
                    self.rv = max(self.rv, int(meta["resourceVersion"]))

    async def filter(self, args: Any) -> dict[str, Any]:
        meta = args["Pod"]["metadata"]
        self.filter_knew.append(f"{meta['namespace']}/{meta['name']}" in self.known)
        return filter_reply(args["NodeNames"])

    async def bind(self, args: Any) -> dict[str, str]:
        name = args["PodName"]
        entry = (args["PodNamespace"], name, args["PodUID"], args["Node"])
        if not name.startswith("g-"):
            return await self._post([entry])
        self.held[name] = entry
        if len(self.held) == 2:
            answer = await self._post(list(self.held.values()))
            self.release.set()
            return answer
        await asyncio.wait_for(self.release.wait(), timeout=5.0)
        return {"Error": ""}

    async def _post(self, entries: list[tuple[str, str, str, str]]) -> dict[str, str]:
        async with httpx.AsyncClient(base_url=self.url) as client:
            for namespace, name, uid, node in entries:
                answer = await client.post(
                    f"/api/v1/namespaces/{namespace}/pods/{name}/binding",
                    json={
                        "kind": "Binding",
                        "apiVersion": "v1",
                        "metadata": {"name": name, "uid": uid},
                        "target": {"kind": "Node", "name": node},
                    },
                )
                if answer.status_code != 201:
                    return {"Error": answer.text}
        return {"Error": ""}


def test_a_webhook_honouring_the_contract_holds_a_gang_and_binds_it(
    server: ExtenderServer,
) -> None:
    """End to end against the served replay: with the sync probe the webhook's informer
    knows every pod it is asked to filter; a held gang binds whole in one pass; bindings
    are POSTed by the webhook and confirmed."""
    hook = ContractWebhook()

    async def sync(_args: Any) -> Any:
        wanted = int(server.requests[-1].query["resourceVersion"])
        deadline = time.monotonic() + 5.0
        while hook.rv < wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        return {"reached": hook.rv >= wanted}

    server.reply("/sync", handler=sync)
    server.reply("/t/filter", handler=hook.filter)
    server.reply("/t/bind", handler=hook.bind)
    items = [
        TraceItem(cpu_pod("lone", uid=False), 0.0, 100.0),
        TraceItem(cpu_pod("g-0", uid=False), 10.0, 100.0),
        TraceItem(cpu_pod("g-1", uid=False), 10.0, 100.0),
    ]
    loaded = loaded_cluster()
    profile = replay_profile("kube-default", levels=loaded.levels)
    config = setup(
        [
            entry(server, "/t", filterVerb="filter", nodeCacheCapable=True),
            entry(server, "/t", bindVerb="bind", nodeCacheCapable=True, httpTimeout="10s"),
        ],
        sync_url=server.url + "/sync",
    )
    result = run_replay_served(
        loaded,
        trace_of(items),
        profile,
        config,
        port=0,
        on_serving=lambda live: hook.start(live.url),
        linger=lambda live: hook.stop.set(),
    )
    assert hook.filter_knew == [True, True, True]
    binds = [(e[0], e[2]) for e in events(result) if e[1] == "bind"]
    assert binds == [(0.0, "lone"), (10.0, "g-0"), (10.0, "g-1")]
    summary = result.summary["extenders"]
    assert (summary["binds_unconfirmed"], summary["binds_elsewhere"]) == (0, 0)
    assert summary["sync"]["probes"] >= 2
