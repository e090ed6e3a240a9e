"""The vectorised DRA prefilter against the exact allocator, on small hand-built clusters.

The contract (scheduler/cluster/prefilter.py): ``possible`` never rejects a node where the
allocator (on ``snapshot.node_pools(i)``) allocates; when ``exact`` is True, ``possible``
equals "allocated" on every node.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from scheduler.api.loaders import load_object
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.prefilter import PrefilterAnswer, PrefilterCache, prefilter
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import Allocator, MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.claims import (
    ClaimAllocation,
    ClaimSpec,
    ConstraintSpec,
    DeviceResult,
    RequestGroup,
    RequestSpec,
)
from scheduler.dra.features import Features
from tests.builders import make_node, rslice

CLASS = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "DeviceClass",
    "metadata": {"name": "class-a"},
    "spec": {"selectors": [{"cel": {"expression": 'device.driver == "driver-a"'}}]},
}


def cluster(
    features: Features, slices: list[dict[str, Any]], nodes: int = 2, labels: Any = None
) -> ClusterCache:
    """Nodes node-1..node-N, class-a and the slices."""
    cache = ClusterCache(features=features)
    cache.add_nodes([make_node(f"node-{i}", labels=labels) for i in range(1, nodes + 1)])
    cache.add(load_object(CLASS, source="test"))
    for s in slices:
        cache.add(load_object(s, source="test"))
    return cache


def hold(cache: ClusterCache, name: str, *results: DeviceResult) -> None:
    """A claim ``default/<name>`` holding ``results`` (assumed, as after Reserve)."""
    body = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "class-a"}}]}
        },
    }
    cache.add(load_object(body, source="test"))
    cache.assume_claim(f"default/{name}", ClaimAllocation(devices=results))


def request(name: str = "req-0", count: int = 1, **extra: Any) -> RequestSpec:
    """An ExactCount request of class-a."""
    return RequestSpec(name=name, base=name, sub="", class_name="class-a", count=count, **extra)


def claim(*requests: RequestSpec, constraints: tuple[ConstraintSpec, ...] = ()) -> ClaimSpec:
    """A pod claim with plain requests."""
    groups = tuple(RequestGroup(r.name, r) for r in requests)
    return ClaimSpec("default", "pod-claim", "uid", groups, constraints=constraints)


def answers(
    cache: ClusterCache, claims: list[ClaimSpec], counts: PrefilterCache | None = None
) -> tuple[PrefilterAnswer, list[str]]:
    """The prefilter's answer and the allocator's status per node, on one snapshot."""
    snapshot: Snapshot = cache.snapshot()
    match = MatchCache(CelEnvironment(consumable_capacity=snapshot.features.consumable_capacity))
    answer = prefilter(snapshot, claims, match, counts or PrefilterCache())
    allocator = Allocator(
        features=snapshot.features,
        classes=snapshot.classes,
        allocated=snapshot,
        cache=match,
    )
    statuses = [
        allocator.allocate(claims, name, snapshot.labels(i), snapshot.node_pools(i)).status
        for i, name in enumerate(snapshot.node_names)
    ]
    return answer, statuses


def assert_sound(answer: PrefilterAnswer, statuses: list[str]) -> None:
    """Never reject an allocatable node; exact answers equal the allocator's."""
    allocated = np.array([s == "allocated" for s in statuses])
    assert not (allocated & ~answer.possible).any(), (answer.possible, statuses)
    if answer.exact:
        assert (answer.possible == allocated).all(), (answer.possible, statuses)


def gpu(name: str, **fields: Any) -> dict[str, Any]:
    """A device entry."""
    return {"name": name, **fields}


def test_node_local_counts_exact() -> None:
    """Free devices per node decide; a single-request claim gets an exact answer."""
    cache = cluster(
        Features(),
        [
            rslice("s1", "p1", [gpu("d1"), gpu("d2")], nodeName="node-1"),
            rslice("s2", "p2", [gpu("d1")], nodeName="node-2"),
        ],
    )
    hold(cache, "other", DeviceResult("r", "driver-a", "p2", "d1"))
    answer, statuses = answers(cache, [claim(request())])
    assert answer.possible.tolist() == [True, False]  # node-1: 2 free; node-2: 1 - 1 held = 0
    assert answer.exact
    assert statuses == ["allocated", "unschedulable"]
    answer, statuses = answers(cache, [claim(request(count=2))])
    assert answer.possible.tolist() == [True, False]  # node-1: 2 >= 2
    answer, statuses = answers(cache, [claim(request(count=3))])
    assert answer.possible.tolist() == [False, False]  # 3 > 2 anywhere
    assert_sound(answer, statuses)


def test_counters_decide_availability() -> None:
    """A device whose counters are used up by an allocated device is not counted."""
    counters = {"name": "cs", "counters": {"mem": {"value": "4"}}}
    consume = [{"counterSet": "cs", "counters": {"mem": {"value": "3"}}}]
    features = Features(partitionable_devices=True)
    slices = []
    for node in ("node-1", "node-2"):
        slices.append(
            rslice(f"{node}-c", node, None, nodeName=node, count=2, sharedCounters=[counters])
        )
        slices.append(
            rslice(
                f"{node}-d",
                node,
                [gpu("a", consumesCounters=consume), gpu("b", consumesCounters=consume)],
                nodeName=node,
                count=2,
            )
        )
    cache = cluster(features, slices)
    hold(cache, "other", DeviceResult("r", "driver-a", "node-2", "a"))
    answer, statuses = answers(cache, [claim(request())])
    # node-1: a and b fit on their own (3 <= 4); node-2: 4 - 3 = 1 < 3 for b
    assert answer.possible.tolist() == [True, False]
    assert statuses == ["allocated", "unschedulable"]
    assert_sound(answer, statuses)
    answer, statuses = answers(cache, [claim(request(count=2))])
    # node-1 counts 2 devices but 3 + 3 > 4: counters make a count of 2 inexact
    assert answer.possible.tolist() == [True, False]
    assert not answer.exact
    assert statuses == ["unschedulable", "unschedulable"]


def test_inexact_shapes() -> None:
    """Constraints, several requests, several claims and admin access are never exact."""
    cache = cluster(
        Features(admin_access=True), [rslice("s1", "p1", [gpu("d1")], nodeName="node-1")]
    )
    match = ConstraintSpec((), "driver-a/numa")
    for claims in (
        [claim(request(), constraints=(match,))],
        [claim(request("req-0"), request("req-1"))],
        [claim(request()), claim(request())],
        [claim(request(admin_access=True))],
    ):
        answer, statuses = answers(cache, claims)
        assert not answer.exact
        assert_sound(answer, statuses)


def test_pools_mid_update_and_shared_pools_pass() -> None:
    """An incomplete pool's node, and every node for an allNodes pool, pass (inexact)."""
    cache = cluster(Features(), [rslice("s1", "p1", [gpu("d1")], nodeName="node-1", count=2)])
    answer, statuses = answers(cache, [claim(request())])
    assert answer.possible.tolist() == [True, False] and not answer.exact
    assert statuses == ["unschedulable", "unschedulable"]  # incomplete pools are never used
    cache = cluster(Features(), [rslice("s1", "p1", [gpu("d1")], allNodes=True)])
    answer, statuses = answers(cache, [claim(request())])
    assert answer.possible.tolist() == [True, True] and not answer.exact
    assert statuses == ["allocated", "allocated"]


def test_shared_device_serves_several_slots() -> None:
    """One shared device can serve several slots of a request, so the node is possible.

    Input: one multi-allocatable device (bw 100), one request for 2 devices of bw 30 (gate
    on). Expected: possible (the allocator puts both slots on the device, dra.md §4.4 step 1).
    Got: possible False with exact True.
    """
    device = gpu("d1", allowMultipleAllocations=True, capacity={"bw": {"value": "100"}})
    cache = cluster(
        Features(consumable_capacity=True), [rslice("s1", "p1", [device], nodeName="node-1")], 1
    )
    answer, statuses = answers(cache, [claim(request(count=2, capacity_requests={"bw": 30}))])
    assert statuses == ["allocated"]
    assert_sound(answer, statuses)


def test_release_of_shared_pool_device_is_seen() -> None:
    """Releasing a device of a pool that is not node-local reaches the cached counts.

    Input: an allNodes pool with one device held by a claim; prefilter; release; prefilter
    with the same PrefilterCache. Expected: both nodes possible (the allocator allocates on
    both). Got: the cached entry still says 'no device anywhere' (possible False, exact True).
    """
    cache = cluster(Features(), [rslice("s1", "p1", [gpu("d1")], allNodes=True)])
    hold(cache, "other", DeviceResult("r", "driver-a", "p1", "d1"))
    counts = PrefilterCache()
    answer, statuses = answers(cache, [claim(request())], counts)
    assert statuses == ["unschedulable", "unschedulable"]
    cache.forget_claim("default/other")
    answer, statuses = answers(cache, [claim(request())], counts)
    assert statuses == ["allocated", "allocated"]
    assert_sound(answer, statuses)


@pytest.mark.parametrize("consumable", [False, True], ids=["gate-off", "gate-on"])
def test_multi_allocatable_device_held_exclusively(consumable: bool) -> None:
    """A multi-allocatable device held by an exclusive result (no shareID: gate off, or
    written before the device became shareable) is not available (was a bug: exact True but
    wrong)."""
    device = gpu("d1", allowMultipleAllocations=True)
    features = Features(consumable_capacity=consumable)
    cache = cluster(features, [rslice("s1", "p1", [device], nodeName="node-1")], 1)
    hold(cache, "other", DeviceResult("r", "driver-a", "p1", "d1"))
    answer, statuses = answers(cache, [claim(request())])
    assert statuses == ["unschedulable"]
    assert_sound(answer, statuses)


def test_fractional_capacity_exact() -> None:
    """Fractional shares are not truncated into an exact answer: cores=1 with 0.5 held and
    0.6 requested is 1.1 > 1, unschedulable (was a bug: int truncation said 0 + 0 <= 1)."""
    device = gpu("d1", allowMultipleAllocations=True, capacity={"cores": {"value": "1"}})
    cache = cluster(
        Features(consumable_capacity=True), [rslice("s1", "p1", [device], nodeName="node-1")], 1
    )
    hold(
        cache,
        "other",
        DeviceResult(
            "r", "driver-a", "p1", "d1", share_id="s", consumed_capacity={"cores": Fraction(1, 2)}
        ),
    )
    answer, statuses = answers(cache, [claim(request(capacity_requests={"cores": Fraction(3, 5)}))])
    assert statuses == ["unschedulable"]
    assert_sound(answer, statuses)


def test_node_label_change_reaches_pool_gathering() -> None:
    """Relabelling a node re-gathers its pools: a region-1 nodeSelector slice stops being
    offered once node-1 is region-2 (was a bug: pools were cached without the labels)."""
    selector = {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "region", "operator": "In", "values": ["region-1"]}]}
        ]
    }
    cache = cluster(
        Features(),
        [rslice("s1", "p1", [gpu("d1")], nodeSelector=selector)],
        1,
        {"region": "region-1"},
    )
    assert [p.name for p in cache.snapshot().node_pools(0)] == ["p1"]
    cache.add_node(make_node("node-1", labels={"region": "region-2"}))
    assert cache.snapshot().node_pools(0) == []


@pytest.mark.parametrize("admin", [False, True], ids=["plain", "admin"])
def test_incremental_counts_equal_a_full_recount(admin: bool) -> None:
    """After each allocation on one node, the cached counts (recounted for that node alone,
    :func:`~scheduler.cluster.prefilter._count_few`) equal a fresh full count on every node.

    Input: 16 nodes, each with a node-local pool of two shared devices (bw 100) and one
    exclusive device; shares of bw 30 and 45 and the exclusive device taken one node at a
    time. Expected: the same per-node counts from the kept cache as from a new one.
    """
    devices = [
        gpu("s0", allowMultipleAllocations=True, capacity={"bw": {"value": "100"}}),
        gpu("s1", allowMultipleAllocations=True, capacity={"bw": {"value": "100"}}),
        gpu("x0"),
    ]
    slices = [rslice(f"sl{i}", f"p{i}", devices, nodeName=f"node-{i}") for i in range(1, 17)]
    cache = cluster(Features(consumable_capacity=True), slices, 16)
    spec = request(capacity_requests={"bw": 30}, admin_access=admin or None)
    kept = PrefilterCache()
    match = MatchCache(CelEnvironment(consumable_capacity=True))
    takes = [("s0", 30), ("s1", 45), ("x0", 0), ("s0", 45), ("s0", 30), ("s1", 30)]
    seen: set[tuple[int, ...]] = set()
    for step, (device, amount) in enumerate(takes * 3):
        node = 1 + (step * 5) % 16
        result = (
            DeviceResult(
                "r",
                "driver-a",
                f"p{node}",
                device,
                share_id=f"h{step}",
                consumed_capacity={"bw": amount},
            )
            if amount
            else DeviceResult("r", "driver-a", f"p{node}", device)
        )
        if amount or not cache.snapshot().is_allocated(("driver-a", f"p{node}", device)):
            hold(cache, f"c{step}", result)
        snapshot = cache.snapshot()
        cls = snapshot.classes["class-a"]
        ours = kept.counts(snapshot, spec, cls, match).counts.tolist()
        fresh = PrefilterCache().counts(snapshot, spec, cls, match).counts.tolist()
        assert ours == fresh, (step, ours, fresh)
        seen.add(tuple(fresh))
    assert len(seen) > 3  # the counts did move
