"""The pure parts of DRA-backed extended resources: which DeviceClass backs a name (explicit
and implicit names, clashes), which resources DRA serves on a node, the special claim's name,
and the cache's in-memory claim held from Reserve to PreBind."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api.dra import DeviceClass
from scheduler.api.loaders import load_object
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.claims import DeviceResult
from scheduler.dra.extended import (
    ExtendedResourceAllocation,
    extended_claim_key,
    extended_claim_name,
    extended_claim_object,
    extended_claim_requests,
    extended_resource_classes,
    served_on_node,
)
from tests.builders import make_pod


def device_class(name: str, resource: str | None = None, created: str | None = None) -> DeviceClass:
    """A DeviceClass ``name`` mapping ``resource``, created at ``created``."""
    metadata: dict[str, Any] = {"name": name}
    if created is not None:
        metadata["creationTimestamp"] = created
    spec = {"extendedResourceName": resource} if resource else {}
    found = load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": metadata,
            "spec": spec,
        }
    )
    assert isinstance(found, DeviceClass)
    return found


IMPLICIT = "deviceclass.resource.kubernetes.io/"


@pytest.mark.parametrize(
    ("classes", "winner"),
    [
        # newer creation wins, in either order
        ([("a", "2025-01-01T00:00:00Z"), ("b", "2025-02-01T00:00:00Z")], "b"),
        ([("b", "2025-02-01T00:00:00Z"), ("a", "2025-01-01T00:00:00Z")], "b"),
        # same time: lexicographically smaller name
        ([("b", "2025-01-01T00:00:00Z"), ("a", "2025-01-01T00:00:00Z")], "a"),
        # no timestamp counts as oldest
        ([("a", None), ("b", "2025-01-01T00:00:00Z")], "b"),
    ],
)
def test_a_clash_picks_the_newest_class_then_the_smallest_name(
    classes: list[tuple[str, str | None]], winner: str
) -> None:
    """Two classes naming example.com/gpu: one wins; both keep their implicit names."""
    mapping = extended_resource_classes(device_class(n, "example.com/gpu", t) for n, t in classes)
    assert mapping == {
        IMPLICIT + "a": "a",
        IMPLICIT + "b": "b",
        "example.com/gpu": winner,
    }


@pytest.mark.parametrize(
    ("allocatable", "served", "missing"),
    [
        ({}, {"example.com/gpu": "a"}, ("example.com/fpga",)),
        ({"example.com/gpu": "0", "example.com/fpga": "0"}, {"example.com/gpu": "a"}, ()),
        ({"example.com/gpu": "2", "example.com/fpga": "1"}, {}, ()),
    ],
)
def test_served_on_node(
    allocatable: dict[str, str], served: dict[str, str], missing: tuple[str, ...]
) -> None:
    """DRA serves a backed resource the node offers 0 of; an unbacked one must be listed."""
    classes = extended_resource_classes([device_class("a", "example.com/gpu")])
    requests = {"cpu": 1000, "example.com/gpu": 2, "example.com/fpga": 1}
    assert served_on_node(requests, classes, allocatable) == (served, missing)


def test_a_fractional_request_asks_for_no_device() -> None:
    """A quantity that is not a whole number (500m) is skipped, as upstream's AsInt64 does."""
    pod = make_pod("p", containers=[{"example.com/gpu": "500m"}, {"example.com/gpu": "2"}])
    requests, mappings = extended_claim_requests(pod, {"example.com/gpu": "a"})
    assert [(r.name, r.count) for r in requests] == [("container-1-request-0", 2)]
    assert [m.container_name for m in mappings] == ["c1"]


def test_claim_name_is_generated_from_the_pod_and_bounded() -> None:
    """<pod>-extended-resources-<5 chars>, base cut to 58 characters; stable per pod."""
    short = make_pod("web-0")
    assert extended_claim_name(short).startswith("web-0-extended-resources-")
    assert len(extended_claim_name(short)) == len("web-0-extended-resources-") + 5
    assert extended_claim_name(short) == extended_claim_name(make_pod("web-0"))
    assert extended_claim_name(short) != extended_claim_name(make_pod("web-1"))
    long = make_pod("x" * 60)
    assert len(extended_claim_name(long)) == 63
    assert extended_claim_key(short) == f"default/{extended_claim_name(short)}"


def test_cache_holds_an_in_memory_claim_until_forgotten() -> None:
    """assume_claim with an ExtendedResourceAllocation adds the claim (in memory) and holds
    its device; forget_claim drops both."""
    cache = ClusterCache()
    pod = make_pod("p", requests={"example.com/gpu": 1})
    requests, mappings = extended_claim_requests(pod, {"example.com/gpu": "a"})
    claim = extended_claim_object(pod, requests)
    device = DeviceResult(request="container-0-request-0", driver="d", pool="p", device="g0")
    key = extended_claim_key(pod)
    cache.assume_claim(
        key, ExtendedResourceAllocation(devices=(device,), claim=claim, mappings=mappings)
    )
    record = cache.claims[key]
    assert record.in_memory and record.assumed and record.results == [device]
    assert cache.devices.is_allocated(device.device_id)
    cache.forget_claim(key)
    assert key not in cache.claims
    assert not cache.devices.is_allocated(device.device_id)
