"""The vectorised prefilter on admin-access requests, against the exact allocator.

An admin request may take a device another claim holds (upstream ``allocateDevice`` skips
its in-use check for admin requests) but still charges counters. One node, one device of
driver-a, held by another claim or not; the prefilter must pass the node whenever the
allocator allocates there, and keeps rejecting where nothing could serve the request.
"""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api.loaders import load_object
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.prefilter import PrefilterCache, prefilter
from scheduler.dra.allocator import Allocator, MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.claims import ClaimAllocation, ClaimSpec, DeviceResult, RequestGroup, RequestSpec
from scheduler.dra.features import Features
from tests.builders import make_node, rslice


def node_with_device(features: Features, device: dict[str, Any], mem: int = 4) -> ClusterCache:
    """node-1 with pool p1 of driver-a: a counter set ``cs`` (``mem``) and ``device``;
    class-a selects driver-a."""
    cache = ClusterCache(features=features)
    cache.add_nodes([make_node("node-1")])
    cache.add(
        load_object(
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "DeviceClass",
                "metadata": {"name": "class-a"},
                "spec": {"selectors": [{"cel": {"expression": 'device.driver == "driver-a"'}}]},
            },
            source="test",
        )
    )
    counters = [{"name": "cs", "counters": {"mem": {"value": str(mem)}}}]
    slice_ = rslice("s1", "p1", [device], nodeName="node-1", sharedCounters=counters)
    cache.add(load_object(slice_, source="test"))
    return cache


def hold(cache: ClusterCache) -> None:
    """Claim ``default/other`` holds p1/d1 by an exclusive result (no shareID)."""
    body = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "other", "namespace": "default"},
        "spec": {
            "devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "class-a"}}]}
        },
    }
    cache.add(load_object(body, source="test"))
    result = DeviceResult("r", "driver-a", "p1", "d1")
    cache.assume_claim("default/other", ClaimAllocation(devices=(result,)))


def verdicts(cache: ClusterCache, admin: bool) -> tuple[bool, str]:
    """(prefilter passes node-1, allocator status on node-1) for one class-a request."""
    spec = RequestSpec(
        name="req", base="req", sub="", class_name="class-a", count=1, admin_access=admin or None
    )
    claims = [ClaimSpec("default", "pod-claim", "uid", (RequestGroup("req", spec),))]
    snapshot = cache.snapshot()
    match = MatchCache(CelEnvironment(consumable_capacity=snapshot.features.consumable_capacity))
    answer = prefilter(snapshot, claims, match, PrefilterCache())
    allocator = Allocator(
        features=snapshot.features,
        classes=snapshot.classes,
        allocated=snapshot,
        cache=match,
    )
    outcome = allocator.allocate(claims, "node-1", snapshot.labels(0), snapshot.node_pools(0))
    return bool(answer.possible[0]), outcome.status


DEVICE = {
    "name": "d1",
    "consumesCounters": [{"counterSet": "cs", "counters": {"mem": {"value": "1"}}}],
}
SHAREABLE = {**DEVICE, "allowMultipleAllocations": True}


@pytest.mark.parametrize(
    ("device", "consumable", "admin", "expected"),
    [
        # held device, admin request: the allocator takes it (counters 4 - 1 held >= 1 more)
        (DEVICE, False, True, (True, "allocated")),
        # multi-allocatable, gate off: every hold is exclusive (was a bug: prefilter rejected)
        (SHAREABLE, False, True, (True, "allocated")),
        # multi-allocatable held without a shareID while the gate is on (was a bug, same cause)
        (SHAREABLE, True, True, (True, "allocated")),
        # the same holds stop a request without admin access, and the prefilter says so
        (DEVICE, False, False, (False, "unschedulable")),
        (SHAREABLE, False, False, (False, "unschedulable")),
        (SHAREABLE, True, False, (False, "unschedulable")),
    ],
    ids=[
        "exclusive",
        "shareable-gate-off",
        "shareable-gate-on",
        "exclusive-no-admin",
        "shareable-gate-off-no-admin",
        "shareable-gate-on-no-admin",
    ],
)
def test_admin_request_may_take_a_held_device(
    device: dict[str, Any], consumable: bool, admin: bool, expected: tuple[bool, str]
) -> None:
    """A device held by another claim passes the prefilter for admin requests only."""
    features = Features(
        admin_access=True, partitionable_devices=True, consumable_capacity=consumable
    )
    cache = node_with_device(features, device)
    hold(cache)
    assert verdicts(cache, admin) == expected


def test_admin_request_still_needs_counters_for_a_free_shareable_device() -> None:
    """A free multi-allocatable device whose counters do not fit stays rejected for admin
    requests: counters 0 left < 1 consumed, and the allocator charges admin picks too."""
    cache = node_with_device(Features(admin_access=True, partitionable_devices=True), SHAREABLE, 0)
    assert verdicts(cache, admin=True) == (False, "unschedulable")
