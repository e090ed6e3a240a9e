"""The API driven by the unmodified official kubernetes Python client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, watch

from tests.apiserver.conftest import Served, serve


@pytest.fixture(scope="module")
def api(served: Served) -> client.ApiClient:
    """An ApiClient configured from the served kubeconfig."""
    return config.new_client_from_config(str(served.kubeconfig))


def _pod(name: str, **spec: object) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="main", image="busybox")],
            scheduler_name="none",
            **spec,
        ),
    )


def test_list_nodes_with_label_selector_and_pages(api: client.ApiClient) -> None:
    """Label selectors filter nodes; limit + continue pages through all 36 without overlap."""
    v1 = client.CoreV1Api(api)
    racks = v1.list_node(label_selector="topology.tessera.io/rack=r000")
    assert len(racks.items) == 16
    names: list[str] = []
    token = None
    while True:
        page = v1.list_node(limit=10, _continue=token)
        names.extend(n.metadata.name for n in page.items)
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 36 - len(names)
    assert len(names) == len(set(names)) == 36


def test_resource_slices_by_node(api: client.ApiClient) -> None:
    """ResourceV1Api lists a node's slices with the spec.nodeName field selector."""
    slices = client.ResourceV1Api(api).list_resource_slice(field_selector="spec.nodeName=h100-0003")
    assert len(slices.items) == 9
    assert {s.spec.node_name for s in slices.items} == {"h100-0003"}


def test_unsupported_field_selector_is_400(api: client.ApiClient) -> None:
    """An unknown field label is a 400 BadRequest, as upstream."""
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).list_node(field_selector="spec.nodeName=x")
    assert err.value.status == 400
    assert "field label not supported" in err.value.body


def test_binding_then_conflict(api: client.ApiClient, served: Served) -> None:
    """pods/binding binds once (the cache sees it), a second binding is 409 Conflict."""
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_pod("default", _pod("bind-me"))
    body = client.V1Binding(
        metadata=client.V1ObjectMeta(name="bind-me"),
        target=client.V1ObjectReference(kind="Node", name="h100-0005"),
    )
    resp = v1.create_namespaced_pod_binding("bind-me", "default", body, _preload_content=False)
    assert resp.status == 201
    pod = v1.read_namespaced_pod("bind-me", "default")
    assert pod.spec.node_name == "h100-0005"
    assert pod.status.phase == "Running"
    cache = served.cluster.cache
    assert cache is not None and cache.pods["default/bind-me"].node == "h100-0005"
    with pytest.raises(client.ApiException) as err:
        v1.create_namespaced_pod_binding("bind-me", "default", body, _preload_content=False)
    assert err.value.status == 409
    listed = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=h100-0005")
    assert [p.metadata.name for p in listed.items] == ["bind-me"]
    v1.delete_namespaced_pod("bind-me", "default")
    assert "default/bind-me" not in cache.pods


def test_a_pod_or_binding_without_a_name_is_422(api: client.ApiClient) -> None:
    """Creating a pod, or binding through the namespace's bindings, with no name is upstream's
    422 FieldValueRequired on metadata.name (one check serves both)."""
    v1 = client.CoreV1Api(api)
    nameless_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], "schedulerName": "none"},
    }
    nameless_binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {},
        "target": {"kind": "Node", "name": "h100-0005"},
    }
    for create, body in (
        (v1.create_namespaced_pod, nameless_pod),
        (v1.create_namespaced_binding, nameless_binding),
    ):
        with pytest.raises(client.ApiException) as err:
            create("default", body, _preload_content=False)
        assert err.value.status == 422
        assert "metadata.name: Required value: name or generateName is required" in str(
            err.value.body
        )


def test_stale_update_is_409_and_fresh_update_succeeds(api: client.ApiClient) -> None:
    """An update carrying an old resourceVersion is 409 Conflict; the current one works."""
    v1 = client.CoreV1Api(api)
    created = v1.create_namespaced_pod("default", _pod("conflicted"))
    created.metadata.labels["v"] = "1"
    updated = v1.replace_namespaced_pod("conflicted", "default", created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    created.metadata.labels["v"] = "2"
    with pytest.raises(client.ApiException) as err:
        v1.replace_namespaced_pod("conflicted", "default", created)
    assert err.value.status == 409
    assert '"reason":"Conflict"' in err.value.body
    patched = v1.patch_namespaced_pod("conflicted", "default", {"metadata": {"labels": {"v": "3"}}})
    assert patched.metadata.labels == {"app": "conflicted", "v": "3"}
    v1.delete_namespaced_pod("conflicted", "default")
    with pytest.raises(client.ApiException) as err:
        v1.read_namespaced_pod("conflicted", "default")
    assert err.value.status == 404


def test_claim_status_update_reaches_the_cache(api: client.ApiClient, served: Served) -> None:
    """PUT resourceclaims/status with an allocation is stored and holds the device in the cache;
    changing an allocation once set is 422, as upstream."""
    res = client.ResourceV1Api(api)
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "manual"},
        "spec": {
            "devices": {
                "requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]
            }
        },
    }
    created = res.create_namespaced_resource_claim("default", claim)
    allocation = {
        "devices": {
            "results": [
                {
                    "request": "gpu",
                    "driver": "gpu.nvidia.com",
                    "pool": "h100-0007",
                    "device": "gpu-3",
                }
            ]
        },
        "nodeSelector": {
            "nodeSelectorTerms": [
                {
                    "matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["h100-0007"]}
                    ]
                }
            ]
        },
    }
    body = {
        **claim,
        "metadata": {"name": "manual", "resourceVersion": created.metadata.resource_version},
        "status": {"allocation": allocation},
    }
    updated = res.replace_namespaced_resource_claim_status("manual", "default", body)
    assert updated.status.allocation.devices.results[0].device == "gpu-3"
    cache = served.cluster.cache
    assert cache is not None
    assert [r.device for r in cache.claims["default/manual"].results] == ["gpu-3"]
    other = {
        "status": {
            "allocation": {
                **allocation,
                "devices": {
                    "results": [
                        {
                            "request": "gpu",
                            "driver": "gpu.nvidia.com",
                            "pool": "h100-0007",
                            "device": "gpu-4",
                        }
                    ]
                },
            }
        }
    }
    with pytest.raises(client.ApiException) as err:
        res.patch_namespaced_resource_claim_status("manual", "default", other)
    assert err.value.status == 422
    res.delete_namespaced_resource_claim("manual", "default")
    assert "default/manual" not in cache.claims


def test_scheduler_allocates_template_claims(api: client.ApiClient) -> None:
    """A pod with a ResourceClaimTemplate gets a generated claim that the in-process scheduler
    allocates and reserves, and the pod is bound and Running."""
    v1, res = client.CoreV1Api(api), client.ResourceV1Api(api)
    res.create_namespaced_resource_claim_template(
        "default",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": "gpu1"},
            "spec": {
                "spec": {
                    "devices": {
                        "requests": [
                            {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}
                        ]
                    }
                }
            },
        },
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="trainer"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox",
                    resources=client.V1ResourceRequirements(
                        claims=[client.CoreV1ResourceClaim(name="gpu")]
                    ),
                )
            ],
            resource_claims=[
                client.V1PodResourceClaim(name="gpu", resource_claim_template_name="gpu1")
            ],
        ),
    )
    v1.create_namespaced_pod("default", pod)
    w = watch.Watch()
    for event in w.stream(
        v1.list_namespaced_pod,
        "default",
        field_selector="metadata.name=trainer",
        timeout_seconds=20,
    ):
        if event["object"].spec.node_name:
            w.stop()
    claim = res.read_namespaced_resource_claim("trainer-gpu", "default")
    node = v1.read_namespaced_pod("trainer", "default").spec.node_name
    assert claim.status.allocation.devices.results[0].pool == node
    assert [r.name for r in claim.status.reserved_for] == ["trainer"]


def test_watch_gap_410_then_relist(tmp_path: Path) -> None:
    """A watch from a version the event log no longer reaches gets an ERROR event with a 410
    Status (the client raises ApiException 410 without retrying); a re-list gives a fresh
    version from which the watch sees new events."""
    s = serve(tmp_path, capacity=5)
    try:
        v1 = client.CoreV1Api(config.new_client_from_config(str(s.kubeconfig)))
        start = v1.list_namespaced_pod("default").metadata.resource_version
        for i in range(8):
            v1.create_namespaced_pod("default", _pod(f"gap-{i}"))
        with pytest.raises(client.ApiException) as err:
            for _ in watch.Watch().stream(
                v1.list_namespaced_pod, "default", resource_version=start, timeout_seconds=2
            ):
                pass
        assert err.value.status == 410
        relisted = v1.list_namespaced_pod("default")
        assert len(relisted.items) == 8
        seen: list[tuple[str, str]] = []

        def later() -> None:
            v1.create_namespaced_pod("default", _pod("after"))

        timer = threading.Timer(0.3, later)
        timer.start()
        w = watch.Watch()
        for event in w.stream(
            v1.list_namespaced_pod,
            "default",
            resource_version=relisted.metadata.resource_version,
            timeout_seconds=5,
        ):
            seen.append((event["type"], event["object"].metadata.name))
            w.stop()
        timer.join()
        assert seen == [("ADDED", "after")]
    finally:
        s.server.stop()


def test_watch_bookmarks_and_selector_transitions(api: client.ApiClient) -> None:
    """With allowWatchBookmarks a BOOKMARK arrives; a label change out of the selector is
    delivered as DELETED, back into it as ADDED."""
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_pod("default", _pod("watched"))
    rv = v1.list_namespaced_pod("default").metadata.resource_version
    events: list[tuple[str, str]] = []

    def flip() -> None:
        v1.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"app": "other"}}})
        v1.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"app": "watched"}}})

    timer = threading.Timer(0.2, flip)
    timer.start()
    w = watch.Watch()
    stream: Iterator[dict[str, object]] = w.stream(
        v1.list_namespaced_pod,
        "default",
        label_selector="app=watched",
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=3,
    )
    for event in stream:
        events.append((str(event["type"]), str(event["raw_object"]["metadata"].get("name", ""))))
        if len(events) >= 3 and any(t == "BOOKMARK" for t, _ in events):
            w.stop()
    timer.join()
    kinds = [t for t, _ in events]
    assert kinds.index("DELETED") < kinds.index("ADDED")
    assert "BOOKMARK" in kinds
    v1.delete_namespaced_pod("watched", "default")
