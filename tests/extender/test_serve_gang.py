"""tessera serve: whole-gang plans on the first member's filter, bind holds, releases."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from scheduler.extender.binding import InMemoryBindings
from scheduler.extender.cluster import PREDICTED_SUFFIX
from scheduler.extender.state import ClusterState
from scheduler.extender.wire import decode_filter_result, decode_host_priority_list
from tests.extender.serve_harness import (
    Served,
    bind_args,
    claim_template,
    filter_args,
    gpu_allocation,
    gpu_pod,
    pods_and_claims,
    write_cluster,
    write_objects,
)

H100 = [f"h100-{i:04d}" for i in range(32)]
RACK = "topology.tessera.io/rack"
LWS = "leaderworkerset.sigs.k8s.io/"


def _gang(name: str, size: int = 4) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    notes = {
        "tessera.io/gang": name,
        "tessera.io/gang-size": str(size),
        "tessera.io/topology-required": RACK,
    }
    return [gpu_pod(f"{name}-{i}", gpus=8, annotations=notes) for i in range(size)]


TRAIN = _gang("train")
GROUP = [
    gpu_pod(f"pg-{i}", gpus=1, labels={"scheduling.x-k8s.io/pod-group": "pg"}) for i in range(2)
]
LEADER_NAME = "serve-0"
LWS_LABELS = {
    LWS + "name": "serve",
    LWS + "group-index": "0",
    LWS + "group-key": "0123456789abcdef",
    LWS + "template-revision-hash": "rev1",
}
LWS_NOTES = {LWS + "size": "4", LWS + "exclusive-topology": RACK}


def _lws_pod(index: int) -> dict[str, Any]:
    name = LEADER_NAME if index == 0 else f"{LEADER_NAME}-{index}"
    notes = dict(LWS_NOTES)
    if index:
        notes[LWS + "leader-name"] = LEADER_NAME
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "labels": {**LWS_LABELS, LWS + "worker-index": str(index)},
            "annotations": notes,
        },
        "spec": {
            "schedulerName": "tessera",
            "containers": [
                {
                    "name": "main",
                    "resources": {"requests": {"cpu": "4"}, "claims": [{"name": "gpu"}]},
                }
            ],
            "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu8"}],
        },
        "status": {
            "phase": "Pending",
            "resourceClaimStatuses": [{"name": "gpu", "resourceClaimName": f"{name}-gpu-k8s7x"}],
        },
    }


def _generated_claim(pod: dict[str, Any], node: str | None = None) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    claim: dict[str, Any] = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {
            "name": f"{name}-gpu-k8s7x",
            "namespace": "default",
            "uid": f"uid-claim-{name}",
            "annotations": {"resource.kubernetes.io/pod-claim-name": "gpu"},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": name,
                    "uid": pod["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": claim_template("gpu8", 8)["spec"]["spec"],
    }
    if node is not None:
        claim["status"] = {"allocation": gpu_allocation(node, range(8), pinned=False)}
    return claim


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("gangs")
    write_cluster(directory)
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "serve", "namespace": "default", "annotations": LWS_NOTES},
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": 4,
                "workerTemplate": {"spec": _lws_pod(1)["spec"]},
            },
        },
    }
    pod_group = {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": "pg", "namespace": "default"},
        "spec": {"minMember": 3},
    }
    leader = _lws_pod(0)
    objects = [
        *pods_and_claims([*TRAIN, *_gang("late"), *GROUP]),
        claim_template("gpu8", 8),
        lws,
        pod_group,
        leader,
        _generated_claim(leader),
    ]
    write_objects(directory, "work", objects)
    return directory


class CountingBindings(InMemoryBindings):
    """In-memory bindings that count the writes per pod."""

    def __init__(self, state: ClusterState) -> None:
        super().__init__(state)
        self.calls: Counter[str] = Counter()

    def bind(self, namespace: str, name: str, uid: str, node: str) -> str:
        self.calls[f"{namespace}/{name}"] += 1
        return super().bind(namespace, name, uid, node)


def _served(snapshot: Path, hold: float) -> Served:
    served = Served(snapshot, gang_hold=hold)
    writer = CountingBindings(served.state)
    served.webhook.binder.writer = writer
    return served


@pytest.fixture
def served(snapshot: Path) -> Iterator[Served]:
    with _served(snapshot, 10.0) as s:
        yield s


def _filter(served: Served, pod: dict[str, Any], names: list[str] = H100) -> Any:
    response = served.post("filter", filter_args(pod, names))
    assert response.status_code == 200
    return decode_filter_result(response.content)


def _bind_async(
    pool: ThreadPoolExecutor, served: Served, pod: dict[str, Any], node: str
) -> Future[str]:
    def call() -> str:
        with httpx.Client(base_url=served.url, timeout=60) as client:
            response = client.post(served.path("bind"), content=orjson.dumps(bind_args(pod, node)))
            assert response.status_code == 200
            return str(orjson.loads(response.content)["Error"])

    return pool.submit(call)


def _plan_nodes(served: Served, gang: str) -> dict[str, str]:
    plan = served.webhook.binder.planner.plans[gang]
    return {key: m.node for key, m in plan.members.items()}


def _rack(served: Served, node: str) -> str:
    return served.state.cache.nodes[node].metadata.labels[RACK]


def _assumed(served: Served) -> set[str]:
    return {k for k, r in served.state.cache.pods.items() if r.assumed}


def test_first_filter_plans_the_whole_gang_and_binds_are_held_until_all_asked(
    served: Served,
) -> None:
    pods = [p for p, _ in TRAIN]
    first = _filter(served, pods[0])
    assert len(first.node_names) == 1
    planned = _plan_nodes(served, "default/tessera/train")
    assert set(planned) == {f"default/train-{i}" for i in range(4)}
    assert len(set(planned.values())) == 4
    assert len({_rack(served, n) for n in planned.values()}) == 1
    assert first.node_names == (planned["default/train-0"],)
    assert set(first.failed_and_unresolvable_nodes or {}) == set(H100) - set(first.node_names)
    assert _assumed(served) == set(planned)
    for i in (1, 2, 3):
        result = _filter(served, pods[i])
        assert result.node_names == (planned[f"default/train-{i}"],)
    scores = decode_host_priority_list(
        served.post("prioritize", filter_args(pods[1], H100)).content
    ).root
    assert {h.host: h.score for h in scores if h.score} == {planned["default/train-1"]: 10}
    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        held = [_bind_async(pool, served, pods[i], planned[f"default/train-{i}"]) for i in range(3)]
        time.sleep(0.5)
        assert not any(f.done() for f in held)
        metrics = served.client.get("/metrics").text  # type: ignore[union-attr]
        assert "tessera_extender_gang_held_binds 3.0" in metrics
        # other requests are served while binds are held
        assert _filter(served, gpu_pod("lone")[0], H100[:2]).error == ""
        last = _bind_async(pool, served, pods[3], planned["default/train-3"])
        assert [f.result(10) for f in [*held, last]] == ["", "", "", ""]
    assert time.monotonic() - start < 5
    for i in range(4):
        record = served.state.cache.pods[f"default/train-{i}"]
        assert record.pod.spec.node_name == planned[f"default/train-{i}"]
    writer = served.webhook.binder.writer
    assert isinstance(writer, CountingBindings)
    assert all(writer.calls[f"default/train-{i}"] == 1 for i in range(4))
    assert "default/tessera/train" not in served.webhook.binder.planner.plans
    # idempotent: bound already to that node is a success, another node an error
    again = served.post("bind", bind_args(pods[0], planned["default/train-0"]))
    assert orjson.loads(again.content) == {"Error": ""}
    moved = served.post(
        "bind",
        bind_args(
            pods[0], "h100-0031" if planned["default/train-0"] != "h100-0031" else "h100-0030"
        ),
    )
    assert "already bound" in orjson.loads(moved.content)["Error"]
    assert all(writer.calls[f"default/train-{i}"] == 1 for i in range(4))


def test_hold_deadline_fails_every_held_member_and_binds_none(snapshot: Path) -> None:
    with _served(snapshot, 1.0) as served:
        pods = [p for p, _ in TRAIN]
        for pod in pods:
            _filter(served, pod)
        planned = _plan_nodes(served, "default/tessera/train")
        start = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            held = [
                _bind_async(pool, served, pods[i], planned[f"default/train-{i}"]) for i in range(3)
            ]
            errors = [f.result(10) for f in held]
        elapsed = time.monotonic() - start
        assert 0.9 < elapsed < 3.0
        assert all("3 of 4 members asked to bind within the 1s hold" in e for e in errors)
        assert not any(served.state.cache.pods[f"default/train-{i}"].node for i in range(4))
        assert _assumed(served) == set()
        assert served.webhook.binder.planner.plans == {}
        metrics = served.client.get("/metrics").text  # type: ignore[union-attr]
        assert 'tessera_extender_gang_releases_total{outcome="expired"} 1.0' in metrics
        assert "tessera_extender_gang_held_binds 0.0" in metrics
        # kube-scheduler retries: the next filter plans the gang again
        assert len(_filter(served, pods[0]).node_names) == 1
        assert len(served.webhook.binder.planner.plans["default/tessera/train"].members) == 4


def test_a_member_filtered_again_replans_without_leaking_reservations(served: Served) -> None:
    pods = [p for p, _ in TRAIN]
    _filter(served, pods[0])
    first = served.webhook.binder.planner.plans["default/tessera/train"]
    _filter(served, pods[0])
    second = served.webhook.binder.planner.plans["default/tessera/train"]
    assert second is not first
    assert _assumed(served) == {f"default/train-{i}" for i in range(4)}
    held = [k for k, r in served.state.cache.claims.items() if r.results]
    assert sorted(held) == [f"default/train-{i}-gpu" for i in range(4)]


def test_deleting_a_member_releases_the_plan(served: Served) -> None:
    pods = [p for p, _ in TRAIN]
    _filter(served, pods[0])
    served.state.apply("Pod", "DELETED", pods[2])
    assert served.webhook.binder.planner.plans == {}
    assert _assumed(served) == set()
    assert not [k for k, r in served.state.cache.claims.items() if r.assumed]


def test_a_gang_short_of_members_waits(served: Served) -> None:
    result = _filter(served, GROUP[0][0], H100[:4])
    assert result.node_names == ()
    reasons = set((result.failed_and_unresolvable_nodes or {}).values())
    assert reasons == {
        "gang default/podgroup/pg: waiting for gang default/podgroup/pg: 2 of 3 members exist"
    }


def test_members_seen_before_their_pod_group_are_planned_together(served: Served) -> None:
    """Informers list kinds in parallel: a PodGroup's pods may arrive before the PodGroup
    (their size still reads as 1). Once it arrives, the first member's filter plans all
    three members — none waits for pods it has already seen."""
    state = served.state
    group = {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": "pg", "namespace": "default"},
        "spec": {"minMember": 3},
    }
    state.apply("PodGroup", "DELETED", group)
    third = gpu_pod("pg-2", gpus=1, labels={"scheduling.x-k8s.io/pod-group": "pg"})
    for pod, claim in [*GROUP, third]:
        if claim is not None:
            state.apply("ResourceClaim", "ADDED", claim)
        state.apply("Pod", "MODIFIED", pod)
    state.apply("PodGroup", "ADDED", group)
    result = _filter(served, GROUP[0][0], H100[:4])
    assert len(result.node_names) == 1, result
    assert set(_plan_nodes(served, "default/podgroup/pg")) == {
        "default/pg-0",
        "default/pg-1",
        "default/pg-2",
    }


def test_a_duplicate_bind_supersedes_the_held_request_and_binds_once(served: Served) -> None:
    pods = [p for p, _ in _gang("late")]
    for pod in pods:
        _filter(served, pod)
    planned = _plan_nodes(served, "default/tessera/late")
    with ThreadPoolExecutor(5) as pool:
        first = _bind_async(pool, served, pods[0], planned["default/late-0"])
        time.sleep(0.3)
        second = _bind_async(pool, served, pods[0], planned["default/late-0"])
        time.sleep(0.3)
        assert "superseded" in first.result(5)
        rest = [_bind_async(pool, served, pods[i], planned[f"default/late-{i}"]) for i in (1, 2, 3)]
        assert [f.result(10) for f in [second, *rest]] == ["", "", "", ""]
    writer = served.webhook.binder.writer
    assert isinstance(writer, CountingBindings)
    assert writer.calls["default/late-0"] == 1


def test_lws_workers_not_created_yet_are_reserved_and_join_their_plan(served: Served) -> None:
    leader = _lws_pod(0)
    gang = "default/lws/serve/0123456789abcdef/rev1"
    result = _filter(served, leader)
    planned = _plan_nodes(served, gang)
    assert set(planned) == {"default/serve-0", *(f"default/serve-0-{i}" for i in (1, 2, 3))}
    assert len({_rack(served, n) for n in planned.values()}) == 1
    assert result.node_names == (planned["default/serve-0"],)
    cluster = served.webhook.decisions.cluster
    # the workers' devices are held under predicted claims until their pods exist
    assert sorted(cluster.predicted) == sorted(
        f"default/serve-0-{i}-gpu{PREDICTED_SUFFIX}" for i in (1, 2, 3)
    )
    assert _assumed(served) == set(planned)
    # the leader is bound at once: LWS creates an exclusive group's workers after that
    reply = served.post("bind", bind_args(leader, planned["default/serve-0"]))
    assert orjson.loads(reply.content) == {"Error": ""}
    rack_value = _rack(served, planned["default/serve-0"])
    workers = []
    for i in (1, 2, 3):
        worker = _lws_pod(i)
        worker["spec"]["nodeSelector"] = {RACK: rack_value}
        served.state.apply("Pod", "ADDED", worker)
        served.state.apply("ResourceClaim", "ADDED", _generated_claim(worker))
        workers.append(worker)
    for i, worker in enumerate(workers, start=1):
        assert _filter(served, worker).node_names == (planned[f"default/serve-0-{i}"],)
    # kube-scheduler's DynamicResources wrote the first worker's allocation: it replaces the
    # prediction (same devices: first fit on an empty node)
    node = planned["default/serve-0-1"]
    served.state.apply("ResourceClaim", "MODIFIED", _generated_claim(workers[0], node))
    assert f"default/serve-0-1-gpu{PREDICTED_SUFFIX}" not in cluster.predicted
    assert served.state.predictions == 1
    assert served.state.mismatches == 0
    with ThreadPoolExecutor(3) as pool:
        binds = [
            _bind_async(pool, served, w, planned[f"default/serve-0-{i}"])
            for i, w in enumerate(workers, start=1)
        ]
        assert [f.result(10) for f in binds] == ["", "", ""]
    for key, node in planned.items():
        assert served.state.cache.pods[key].pod.spec.node_name == node
    assert gang not in served.webhook.binder.planner.plans
