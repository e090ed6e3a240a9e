"""tessera serve against the simulated Kubernetes API server: informers feed its state, the
verbs answer from it, binds are real ``pods/binding`` POSTs.

The API server is the simulator's facade (``tessera cluster serve``, in-process, over the
two-rack H100 cluster, its own scheduler off); the webhook's state is filled by
:class:`~scheduler.extender.informers.Informers` through the official client, and its
binder is :class:`~scheduler.extender.binding.ApiBindings`. Pods, claims and templates are
created through the API, and the resourceclaim controller of the facade generates each
pod's claim from its template.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kubernetes import client

from scheduler.extender.binding import ApiBindings
from scheduler.extender.informers import Informers
from scheduler.extender.server import api_client
from scheduler.extender.state import ClusterState
from scheduler.extender.wire import decode_filter_result, decode_host_priority_list
from tests.apiserver.conftest import Served as Api
from tests.apiserver.conftest import serve as serve_api
from tests.extender.serve_harness import FEATURES, Served, bind_args, filter_args

H100 = [f"h100-{i:04d}" for i in range(32)]
RACK = "topology.tessera.io/rack"


@dataclass
class Stack:
    """The API server, the webhook over it, and clients."""

    api: Api
    webhook: Served
    core: client.CoreV1Api
    resource: client.ResourceV1Api


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    api = serve_api(tmp_path_factory.mktemp("api"), bookmarks=0.5)
    kube = api_client(api.kubeconfig)
    state = ClusterState(features=FEATURES)
    informers = Informers(kube, state, min_watch_timeout=5.0)
    informers.start()
    assert informers.wait_synced(60)
    state.loaded = True
    resource = client.ResourceV1Api(kube)
    resource.create_namespaced_resource_claim_template(
        "default",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": "gpus"},
            "spec": {
                "spec": {
                    "devices": {
                        "requests": [
                            {
                                "name": "gpu",
                                "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 8},
                            }
                        ]
                    }
                }
            },
        },
    )
    with Served(None, state=state, informers=informers, writer=ApiBindings(kube)) as webhook:
        yield Stack(api, webhook, client.CoreV1Api(kube), resource)
    informers.stop()
    api.server.stop()


def _eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _create_pod(stack: Stack, name: str, annotations: dict[str, str] | None = None) -> Any:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {
            "schedulerName": "tessera",
            "containers": [
                {
                    "name": "main",
                    "image": "trainer:1",
                    "resources": {"requests": {"cpu": "4"}, "claims": [{"name": "gpu"}]},
                }
            ],
            "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpus"}],
        },
    }
    stack.core.create_namespaced_pod("default", pod)
    key = f"default/{name}"

    def seen() -> bool:
        with stack.webhook.state.lock:
            found = stack.webhook.state.pod(key)
            if found is None or not found.status.resource_claim_statuses:
                return False
            claim = found.status.resource_claim_statuses[0].resource_claim_name
            return f"default/{claim}" in stack.webhook.state.cache.claims

    _eventually(seen, f"the webhook to see {key} and its claim")
    raw = stack.core.read_namespaced_pod(name, "default", _preload_content=False)
    return orjson.loads(raw.data)


def _node_in_api(stack: Stack, name: str) -> str | None:
    node = stack.core.read_namespaced_pod(name, "default").spec.node_name
    return str(node) if node else None


def test_informers_fill_the_state(stack: Stack) -> None:
    state = stack.webhook.state
    with state.lock:
        assert set(state.cache.nodes) == {*H100, *(f"system-{i:04d}" for i in range(4))}
        assert len(state.cache.devices.pools) == 32
        assert "default/gpus" in state.templates
    client_ = stack.webhook.client
    assert client_ is not None
    assert client_.get("/readyz").status_code == 200


def test_lone_pod_filter_prioritize_and_a_real_binding(stack: Stack) -> None:
    pod = _create_pod(stack, "solo")
    webhook = stack.webhook
    result = decode_filter_result(webhook.post("filter", filter_args(pod, H100)).content)
    assert result.error == ""
    assert set(result.node_names or ()) == set(H100)
    scores = decode_host_priority_list(webhook.post("prioritize", filter_args(pod, H100)).content)
    best = next(h.host for h in scores.root if h.score == 10)
    reply = orjson.loads(webhook.post("bind", bind_args(pod, best)).content)
    assert reply == {"Error": ""}
    assert _node_in_api(stack, "solo") == best

    def bound_in_state() -> bool:
        with webhook.state.lock:
            record = webhook.state.cache.pods["default/solo"]
            return record.node == best and not record.assumed

    _eventually(bound_in_state, "the binding to come back through the watch")
    # the claim's devices stay assumed (predicted first fit) until kube-scheduler's PreBind
    # writes them; here nobody does, so they stay held
    with webhook.state.lock:
        claim = webhook.state.cache.claims["default/solo-gpu"]
        assert claim.assumed and {r.pool for r in claim.results} == {best}
    # idempotent, and a second POST for the same node is a 409 that counts as success
    assert orjson.loads(webhook.post("bind", bind_args(pod, best)).content) == {"Error": ""}
    writer = webhook.webhook.binder.writer
    assert writer.bind("default", "solo", pod["metadata"]["uid"], best) == ""
    other = H100[0] if best != H100[0] else H100[1]
    assert "409" in writer.bind("default", "solo", pod["metadata"]["uid"], other)
    assert "Precondition" in writer.bind("default", "solo", "not-the-uid", best) or "409" in (
        writer.bind("default", "solo", "not-the-uid", best)
    )


def test_written_allocation_is_checked_against_the_prediction(stack: Stack) -> None:
    pod = _create_pod(stack, "dra")
    webhook = stack.webhook
    node = H100[5]
    assert orjson.loads(webhook.post("bind", bind_args(pod, node)).content) == {"Error": ""}
    with webhook.state.lock:
        predicted = sorted(r.device for r in webhook.state.cache.claims["default/dra-gpu"].results)
        checked = webhook.state.predictions
    claim = stack.resource.read_namespaced_resource_claim("dra-gpu", "default")
    allocation = {
        "devices": {
            "results": [
                {"request": "gpu", "driver": "gpu.nvidia.com", "pool": node, "device": d}
                for d in predicted
            ]
        }
    }
    body = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "dra-gpu", "resourceVersion": claim.metadata.resource_version},
        "spec": stack.resource.api_client.sanitize_for_serialization(claim.spec),
        "status": {"allocation": allocation},
    }
    stack.resource.replace_namespaced_resource_claim_status("dra-gpu", "default", body)

    def written() -> bool:
        with webhook.state.lock:
            return not webhook.state.cache.claims["default/dra-gpu"].assumed

    _eventually(written, "the written allocation")
    assert webhook.state.predictions == checked + 1
    assert webhook.state.mismatches == 0


def _bind_error(webhook: Served, pod: dict[str, Any], node: str) -> str:
    """POST bind for ``pod`` on ``node`` on a client of its own (binds may be held, so each
    runs in its own thread); the reply's Error ("" on success)."""
    with httpx.Client(base_url=webhook.url, timeout=60) as c:
        reply = c.post(webhook.path("bind"), content=orjson.dumps(bind_args(pod, node)))
        return str(orjson.loads(reply.content)["Error"])


def test_gang_is_planned_held_and_bound_through_the_api(stack: Stack) -> None:
    notes = {
        "tessera.io/gang": "api-gang",
        "tessera.io/gang-size": "4",
        "tessera.io/topology-required": RACK,
    }
    pods = [_create_pod(stack, f"g-{i}", notes) for i in range(4)]
    webhook = stack.webhook
    planned = []
    for pod in pods:
        result = decode_filter_result(webhook.post("filter", filter_args(pod, H100)).content)
        assert len(result.node_names or ()) == 1
        planned.append((result.node_names or ())[0])
    assert len(set(planned)) == 4
    with webhook.state.lock:
        racks = {webhook.state.cache.nodes[n].metadata.labels[RACK] for n in planned}
    assert len(racks) == 1

    def bind(i: int) -> str:
        return _bind_error(webhook, pods[i], planned[i])

    with ThreadPoolExecutor(4) as pool:
        first = [pool.submit(bind, i) for i in range(3)]
        time.sleep(0.5)
        assert not any(f.done() for f in first)
        assert all(_node_in_api(stack, f"g-{i}") is None for i in range(4))
        last = pool.submit(bind, 3)
        assert [f.result(30) for f in [*first, last]] == ["", "", "", ""]
    assert [_node_in_api(stack, f"g-{i}") for i in range(4)] == planned


def test_a_deleted_member_fails_the_held_binds(stack: Stack) -> None:
    notes = {"tessera.io/gang": "doomed", "tessera.io/gang-size": "3"}
    pods = [_create_pod(stack, f"d-{i}", notes) for i in range(3)]
    webhook = stack.webhook
    planned = []
    for pod in pods:
        result = decode_filter_result(webhook.post("filter", filter_args(pod, H100)).content)
        planned.append((result.node_names or ())[0])

    def bind(i: int) -> str:
        return _bind_error(webhook, pods[i], planned[i])

    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(bind, i) for i in range(2)]
        time.sleep(0.5)
        stack.core.delete_namespaced_pod("d-2", "default")
        errors = [f.result(30) for f in held]
    assert all("member default/d-2 was deleted" in e for e in errors)
    assert [_node_in_api(stack, f"d-{i}") for i in range(2)] == [None, None]
    with webhook.state.lock:
        assert not any(
            r.assumed for k, r in webhook.state.cache.pods.items() if k.startswith("default/d-")
        )


def test_the_webhook_command_serves_the_api_cluster(stack: Stack, tmp_path: Path) -> None:
    """``tessera serve --kubeconfig`` (the CLI, its own process) gets ready and filters."""
    import http.client
    import socket
    import subprocess
    import sys

    from tests.extender.serve_harness import ROOT

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator.cli",
                "serve",
                "--kubeconfig",
                str(stack.api.kubeconfig),
                "--port",
                str(port),
                "--prefix",
                "/tessera",
                "--feature-gates",
                "DRAPartitionableDevices=true",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> bool:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                return c.getresponse().status == 200
            except OSError:
                return False

        _eventually(ready, "tessera serve --kubeconfig to get ready", timeout=90)
        pod = _create_pod(stack, "cli-pod")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        deadline = time.monotonic() + 20
        while True:
            c.request("POST", "/tessera/filter", body=orjson.dumps(filter_args(pod, H100[:4])))
            result = decode_filter_result(c.getresponse().read())
            if result.node_names or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # its own informers may not have the new claim yet
        assert result.error == ""
        assert len(result.node_names or ()) == 4
    finally:
        process.terminate()
        process.wait(20)
    assert "Traceback" not in log.read_text()


def test_sync_probe_waits_for_the_informers(stack: Stack) -> None:
    """``GET /sync?resourceVersion=N`` (the simulator's probe): 200 once every informer has
    processed the API up to N — a write's resourceVersion is reached shortly after it — 503
    for a version the API has not issued yet, 400 for a version that is not a number."""
    client_ = stack.webhook.client
    assert client_ is not None
    raw = stack.core.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sync-probe", "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "x"}]},
        },
        _preload_content=False,
    )
    written = int(orjson.loads(raw.data)["metadata"]["resourceVersion"])
    reply = client_.get("/sync", params={"resourceVersion": str(written)})
    assert reply.status_code == 200, reply.text
    with stack.webhook.state.lock:
        assert stack.webhook.state.pod("default/sync-probe") is not None
    started = time.monotonic()
    ahead = client_.get("/sync", params={"resourceVersion": str(written + 10**9)})
    assert ahead.status_code == 503
    assert time.monotonic() - started >= 4.0  # held for SYNC_WAIT before giving up
    assert client_.get("/sync", params={"resourceVersion": "abc"}).status_code == 400
    assert client_.get("/sync").status_code == 200  # without a version: readiness
