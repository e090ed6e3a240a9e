"""Hypothesis properties of the DRA allocator and the vectorised prefilter on random clusters.

Shared strategies build a random cluster (2-3 nodes; node-local pools of three drivers,
some split over two slices, some incomplete, with counter sets, taints, binding conditions,
dedicated capacities and multi-allocatable devices; pools for all nodes, for a node
selector, with per-device node selection, and one spanning two nodes), a few background
claims allocated through the allocator and assumed in the cache, and the claims of one pod
(1-3 claims, 1-3 requests: ExactCount, All, firstAvailable, admin access, tolerations,
capacity requests, matchAttribute and distinctAttribute constraints).

Properties:

* every ``allocated`` outcome is valid: no counter overdrawn (recomputed from all
  allocations), no exclusive device handed out twice, every device satisfies its class and
  request selectors (re-evaluated with a fresh CEL environment), taints, node selection,
  constraints and capacities hold, and each request got the number of devices it asked for;
* no false "cannot allocate": without admin access and consumable capacity, the allocator
  succeeds exactly where an exhaustive combination search (written here from dra.md §4)
  finds an assignment;
* the prefilter never rejects a node the exact allocator accepts, and when it says
  ``exact`` its answer equals the allocator's on every node;
* the plugin's long-lived prefilter cache answers like a fresh one after device changes.

Explicit examples pin bugs found and fixed (a shared device serving several slots of one
request; an admin request on a multi-allocatable device held exclusively; cached counts of
pools that are not node-local).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from scheduler.api.loaders import load_object
from scheduler.api.taints import Toleration, find_untolerated
from scheduler.cluster.cache import ClusterCache
from scheduler.cluster.prefilter import PrefilterCache, prefilter
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import Allocator, MatchCache
from scheduler.dra.capacity import consumed_capacity
from scheduler.dra.cel import CelDevice, CelEnvironment, SemVer
from scheduler.dra.claims import (
    AllocationOutcome,
    ClaimAllocation,
    ClaimSpec,
    ConstraintSpec,
    DeviceResult,
    RequestGroup,
    RequestSpec,
)
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledDevice, CompiledSlice, lookup_attribute
from scheduler.dra.pools import Pool, device_matches_node
from tests.builders import make_node

PROFILE = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CLASSES: dict[str, tuple[str, ...]] = {
    "class-a": ('device.driver == "driver-a"',),
    "class-b": ('device.driver == "driver-b"',),
    "class-s": ('device.driver == "driver-s"',),  # the only class reaching shared devices
    "class-ab": ('device.driver != "driver-s"',),
}
SELECTORS: tuple[tuple[str, ...], ...] = (
    (),
    (),
    ('device.attributes[device.driver].model == "a"',),
    ("device.attributes[device.driver].numa == 1",),
    ('device.attributes[device.driver].model == "b"', "device.attributes[device.driver].numa == 0"),
)
CLASS_DRIVER = {"class-a": "driver-a", "class-b": "driver-b", "class-s": "driver-s"}
CLASS_DRIVER["class-ab"] = "driver-a"
CLASS_CHOICE = ("class-a", "class-a", "class-ab", "class-b", "class-s", "class-s")
BLOCKING = frozenset({"NoSchedule", "NoExecute"})
TOLERATE_K = Toleration(key="k", operator="Exists")


# -- scenario -------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """A cluster, background allocations and the claims of one pod."""

    features: Features
    nodes: list[tuple[str, dict[str, str]]]
    slices: list[dict[str, Any]]
    background: list[tuple[int, ClaimSpec]] = field(default_factory=list)
    claims: list[ClaimSpec] = field(default_factory=list)


def _slice(name: str, driver: str, pool: str, count: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {
            "driver": driver,
            "pool": {"name": pool, "generation": 1, "resourceSliceCount": count},
            **spec,
        },
    }


@st.composite
def devices(
    draw: st.DrawFn, driver: str, features: Features, sets: list[str], n: int
) -> list[dict[str, Any]]:
    """``n`` devices: model a/b, numa 0/1, link int 1 / string "1" / int 2; optional counter
    consumption, taints, binding conditions, a dedicated ``bw`` capacity; driver-s devices are
    multi-allocatable with a ``bw`` capacity of 100."""
    out = []
    for i in range(n):
        d: dict[str, Any] = {
            "name": f"d{i}",
            "attributes": {
                "model": {"string": draw(st.sampled_from(["a", "b"]))},
                "numa": {"int": draw(st.integers(0, 1))},
                "link": draw(st.sampled_from([{"int": 1}, {"string": "1"}, {"int": 2}])),
            },
        }
        if sets and draw(st.integers(0, 3)) > 0:
            d["consumesCounters"] = [
                {
                    "counterSet": draw(st.sampled_from(sets)),
                    "counters": {"mem": {"value": str(draw(st.integers(1, 4)))}},
                }
            ]
        if features.device_taints and draw(st.integers(0, 3)) == 0:
            effect = draw(st.sampled_from(["NoSchedule", "NoExecute", "None"]))
            d["taints"] = [{"key": "k", "value": "v", "effect": effect}]
        if draw(st.integers(0, 5)) == 0:
            d["bindingConditions"] = ["ready"]
            d["bindingFailureConditions"] = ["failed"]
            d["bindsToNode"] = draw(st.booleans())
        if driver == "driver-s":
            # with the gate off the flag is ignored and the device is held exclusively
            d["allowMultipleAllocations"] = True
            cap: dict[str, Any] = {"value": "100"}
            if draw(st.integers(0, 2)) == 0:
                cap["requestPolicy"] = {"default": "20", "validRange": {"min": "10", "step": "10"}}
            d["capacity"] = {"bw": cap}
        elif features.consumable_capacity and draw(st.integers(0, 2)) == 0:
            d["capacity"] = {"bw": {"value": str(draw(st.sampled_from([30, 100])))}}
        out.append(d)
    return out


@st.composite
def node_pool(draw: st.DrawFn, node: str, index: int, features: Features) -> list[dict[str, Any]]:
    """The slices of one node-local pool (maybe split, with counters, or incomplete)."""
    driver = draw(st.sampled_from(["driver-a", "driver-a", "driver-a", "driver-b", "driver-s"]))
    pool = f"{node}-p{index}"
    sets = []
    if features.partitionable_devices and draw(st.booleans()):
        sets = ["cs-0", "cs-1"][: draw(st.integers(1, 2))]
    devs = draw(devices(driver, features, sets, draw(st.integers(2, 6))))
    cut = draw(st.integers(0, len(devs) - 1)) if len(devs) > 1 else 0
    groups = [devs[:cut], devs[cut:]] if cut else [devs]
    bodies: list[dict[str, Any]] = [{"devices": g} for g in groups]
    if sets:
        totals = {s: {"mem": {"value": str(draw(st.integers(3, 10)))}} for s in sets}
        bodies.insert(0, {"sharedCounters": [{"name": s, "counters": totals[s]} for s in sets]})
    count = len(bodies) + (1 if draw(st.integers(0, 14)) == 0 else 0)  # 1 in 15: incomplete
    return [
        _slice(f"{pool}-s{k}", driver, pool, count, nodeName=node, **body)
        for k, body in enumerate(bodies)
    ]


@st.composite
def shared_pools(draw: st.DrawFn, features: Features) -> list[dict[str, Any]]:
    """Pools that are not node-local: allNodes, a region selector, or one spanning two nodes."""
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        devs = draw(devices("driver-a", features, [], draw(st.integers(1, 2))))
        out.append(_slice("all-s0", "driver-a", "all", 1, allNodes=True, devices=devs))
    if draw(st.booleans()):
        selector = {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "region", "operator": "In", "values": ["r1"]}]}
            ]
        }
        devs = draw(devices("driver-b", features, [], draw(st.integers(1, 2))))
        out.append(_slice("sel-s0", "driver-b", "sel", 1, nodeSelector=selector, devices=devs))
    if features.partitionable_devices and draw(st.booleans()):
        # per-device node selection: each device names node-0, node-1 or all nodes
        devs = draw(devices("driver-a", features, [], draw(st.integers(1, 3))))
        for d in devs:
            where = draw(st.sampled_from(["node-0", "node-1", "all"]))
            d.update({"allNodes": True} if where == "all" else {"nodeName": where})
        out.append(
            _slice("per-s0", "driver-a", "per", 1, perDeviceNodeSelection=True, devices=devs)
        )
    if features.partitionable_devices and draw(st.booleans()):
        # one pool, one counter set, devices on node-0 and node-1 drawing from it
        total = {"mem": {"value": str(draw(st.integers(2, 6)))}}
        out.append(
            _slice(
                "span-c",
                "driver-a",
                "span",
                3,
                nodeName="node-0",
                sharedCounters=[{"name": "cs", "counters": total}],
            )
        )
        for k, node in enumerate(("node-0", "node-1")):
            devs = draw(devices("driver-a", features, ["cs"], draw(st.integers(1, 2))))
            for d in devs:
                d["name"] = f"{node}-{d['name']}"
            out.append(_slice(f"span-s{k}", "driver-a", "span", 3, nodeName=node, devices=devs))
    return out


@st.composite
def request_spec(
    draw: st.DrawFn,
    name: str,
    base: str,
    sub: str,
    features: Features,
    shared_slots: bool,
    usual_class: str = "class-a",
    counts: tuple[int, ...] = (1, 1, 1, 2, 3),
) -> RequestSpec:
    """One request or subrequest: class (mostly ``usual_class``), selectors, ExactCount (count
    from ``counts``) or All, tolerations, capacity. ``shared_slots`` False keeps class-s
    requests at one device each (see test_prefilter_counts_shared_device_slots)."""
    cls = usual_class if draw(st.integers(0, 2)) else draw(st.sampled_from(CLASS_CHOICE))
    mode = "All" if draw(st.integers(0, 11)) == 0 else "ExactCount"
    count = draw(st.sampled_from(counts))
    if cls == "class-s" and not shared_slots:
        count = 1
    tolerations: tuple[Toleration, ...] = ()
    if features.device_taints and draw(st.booleans()):
        tolerations = (TOLERATE_K,)
    capacity = None
    if features.consumable_capacity and draw(st.integers(0, 2)) == 0:
        capacity = {"bw": draw(st.sampled_from([5, 15, 30, 60, 90]))}
    admin = None
    if features.admin_access and not sub and draw(st.integers(0, 5)) == 0:
        admin = True
    return RequestSpec(
        name=name,
        base=base,
        sub=sub,
        class_name=cls,
        selectors=draw(st.sampled_from(SELECTORS)),
        mode=mode,
        count=count if mode == "ExactCount" else None,
        admin_access=admin,
        tolerations=tolerations,
        capacity_requests=capacity,
    )


@st.composite
def claim_specs(
    draw: st.DrawFn, name: str, features: Features, shared_slots: bool, max_requests: int = 3
) -> ClaimSpec:
    """One claim: 1..max_requests requests (firstAvailable with the gate), constraints."""
    groups = []
    usual = draw(st.sampled_from(CLASS_CHOICE))
    for r in range(draw(st.sampled_from((1, 1, 2, 3)[: max_requests + 1]))):
        base = f"req-{r}"
        if features.prioritized_list and draw(st.integers(0, 2)) == 0:
            subs = tuple(
                draw(
                    request_spec(
                        f"{base}/sub-{s}",
                        base,
                        f"sub-{s}",
                        features,
                        shared_slots,
                        usual,
                        # earlier alternatives ask for more, so fallbacks happen
                        (2, 3, 4) if s == 0 else (1, 1, 2),
                    )
                )
                for s in range(draw(st.integers(1, 3)))
            )
            groups.append(RequestGroup(base, None, subs))
        else:
            groups.append(
                RequestGroup(
                    base, draw(request_spec(base, base, "", features, shared_slots, usual))
                )
            )
    constraints: list[ConstraintSpec] = []
    names = [g.name for g in groups]
    driver = CLASS_DRIVER[usual]
    if draw(st.integers(0, 3)) == 0:
        scope = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=2)))
        attribute = draw(st.sampled_from([f"{driver}/numa", f"{driver}/link", "driver-b/numa"]))
        constraints.append(ConstraintSpec(scope, match_attribute=attribute))
    if features.consumable_capacity and draw(st.integers(0, 3)) == 0:
        constraints.append(ConstraintSpec((), distinct_attribute=f"{driver}/model"))
    return ClaimSpec("default", name, f"uid-{name}", tuple(groups), tuple(constraints))


@st.composite
def scenarios(draw: st.DrawFn, shared_slots: bool = False, simple: bool = False) -> Scenario:
    """A random cluster, background allocations and one pod's claims (see the module).

    ``simple``: admin access and consumable capacity off (what the brute-force oracle models).
    """
    binding = draw(st.booleans())
    features = Features(
        binding_conditions=binding,
        claim_device_status=binding,
        admin_access=not simple and draw(st.booleans()),
        prioritized_list=draw(st.booleans()),
        partitionable_devices=draw(st.booleans()),
        device_taints=draw(st.booleans()),
        consumable_capacity=not simple and draw(st.booleans()),
    )
    nodes = [
        (f"node-{i}", {"region": draw(st.sampled_from(["r1", "r2"]))})
        for i in range(draw(st.integers(2, 3)))
    ]
    slices: list[dict[str, Any]] = []
    for name, _ in nodes:
        for p in range(draw(st.integers(1, 3))):
            slices.extend(draw(node_pool(name, p, features)))
    slices.extend(draw(shared_pools(features)))
    background = [
        (
            draw(st.integers(0, len(nodes) - 1)),
            draw(claim_specs(f"bg-{b}", features, shared_slots, max_requests=1)),
        )
        for b in range(draw(st.integers(0, 3)))
    ]
    claims = [
        draw(claim_specs(f"claim-{c}", features, shared_slots))
        for c in range(draw(st.sampled_from((1, 1, 2, 3))))
    ]
    return Scenario(features, nodes, slices, background, claims)


# -- building the cluster -------------------------------------------------------------------------
def _class_object(name: str, selectors: tuple[str, ...]) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": e}} for e in selectors]},
    }


def _claim_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"devices": {"requests": []}},
    }


SEARCH_SECONDS = 1.0
"""Per-node search limit: a random scenario can be an exponential worst case (the reason
the allocator has a deadline); such examples are discarded, not judged."""


def allocator_for(snapshot: Snapshot, match: MatchCache) -> Allocator:
    """The allocator the DynamicResources plugin would build for this snapshot (with a
    short deadline, see SEARCH_SECONDS)."""
    return Allocator(
        features=snapshot.features,
        classes=snapshot.classes,
        allocated=snapshot,
        cache=match,
        timeout_seconds=SEARCH_SECONDS,
    )


def build(scenario: Scenario) -> tuple[ClusterCache, MatchCache]:
    """The scenario's cluster, with its background claims allocated and assumed."""
    cache = ClusterCache(features=scenario.features)
    cache.add_nodes([make_node(name, labels=labels) for name, labels in scenario.nodes])
    for name, selectors in CLASSES.items():
        cache.add(load_object(_class_object(name, selectors), source="property"))
    for body in scenario.slices:
        cache.add(load_object(body, source="property"))
    match = MatchCache(CelEnvironment(consumable_capacity=scenario.features.consumable_capacity))
    for i, spec in scenario.background:
        snapshot = cache.snapshot()
        outcome = allocator_for(snapshot, match).allocate(
            [spec], snapshot.node_names[i], snapshot.labels(i), snapshot.node_pools(i)
        )
        if outcome.ok:
            cache.add(load_object(_claim_object(spec.name), source="property"))
            cache.assume_claim(f"default/{spec.name}", outcome.allocations[0])
    return cache, match


def outcomes(
    cache: ClusterCache, match: MatchCache, claims: list[ClaimSpec]
) -> list[AllocationOutcome]:
    """The exact allocator's outcome on every node of the current snapshot (the example is
    discarded when a search hits its deadline: its outcome says nothing about feasibility)."""
    snapshot = cache.snapshot()
    allocator = allocator_for(snapshot, match)
    found = [
        allocator.allocate(claims, name, snapshot.labels(i), snapshot.node_pools(i))
        for i, name in enumerate(snapshot.node_names)
    ]
    assume(not any(o.timed_out for o in found))
    return found


# -- checking an allocation -----------------------------------------------------------------------
def _cel_device(driver: str, d: CompiledDevice) -> CelDevice:
    attributes: dict[str, int | bool | str | SemVer] = {}
    for name, (kind, value) in d.attributes.items():
        assert value is not None
        attributes[name] = SemVer.parse(str(value)) if kind == "version" else value
    capacity = {name: Fraction(c.value) for name, c in d.capacity.items()}
    return CelDevice(driver, attributes, capacity, d.allow_multiple)


DeviceIndex = dict[tuple[str, str, str], tuple[Pool, CompiledSlice, CompiledDevice]]


def _device_index(pools: list[Pool]) -> DeviceIndex:
    out: DeviceIndex = {}
    for pool in pools:
        for s in pool.slices:
            for d in s.devices:
                out[(s.driver, s.pool, d.name)] = (pool, s, d)
    return out


def _requests(claim: ClaimSpec) -> dict[str, RequestSpec]:
    out: dict[str, RequestSpec] = {}
    for group in claim.requests:
        for spec in (group.exactly, *group.first_available):
            if spec is not None:
                out[spec.name] = spec
    return out


def _applies(constraint: ConstraintSpec, spec: RequestSpec) -> bool:
    names = set(constraint.requests)
    return not names or spec.base in names or (bool(spec.sub) and spec.name in names)


def _check_device(
    snapshot: Snapshot,
    i: int,
    spec: RequestSpec,
    r: DeviceResult,
    index: DeviceIndex,
    env: CelEnvironment,
) -> bool:
    """One result against its request; returns whether it pins the claim to the node."""
    features = snapshot.features
    pool, s, d = index[r.device_id]
    assert pool.usable, f"{r.device_id} from an unusable pool"
    cel = _cel_device(s.driver, d)
    for expression in (*snapshot.classes[spec.class_name].selectors, *spec.selectors):
        assert expression is not None
        assert env.compile(expression).matches(cel), (r.device_id, expression)
    if s.per_device_node_selection:
        assert device_matches_node(d, snapshot.node_names[i], snapshot.labels(i))
    if features.device_taints:
        assert not find_untolerated(d.taints, spec.tolerations, BLOCKING), r.device_id
    if d.binding_conditions:
        assert features.device_binding_and_status
        assert r.binding_conditions == d.binding_conditions
    assert r.admin_access == bool(spec.admin_access)
    if d.consumes:
        assert features.partitionable_devices
    if features.consumable_capacity:
        assert consumed_capacity(d, spec.capacity_requests, None, None) is not None
    if r.share_id is not None:
        assert features.consumable_capacity and d.allow_multiple
    elif not r.admin_access:
        assert not snapshot.is_allocated(r.device_id), f"{r.device_id} already held"
        assert snapshot.shared_consumed(r.device_id) is None
    local = bool(s.node_name) or bool(s.per_device_node_selection and d.node_name)
    return local or (features.device_binding_and_status and d.binds_to_node)


def _check_claim(
    snapshot: Snapshot,
    i: int,
    claim: ClaimSpec,
    allocation: ClaimAllocation,
    index: DeviceIndex,
    env: CelEnvironment,
) -> None:
    """Counts per request, devices, constraints and the node selector of one claim."""
    specs = _requests(claim)
    assert len(allocation.devices) <= 32
    in_claim = Counter(r.device_id for r in allocation.devices if r.share_id is None)
    assert all(n == 1 for n in in_claim.values()), f"device twice in {claim.name}"
    per_request = Counter(r.request for r in allocation.devices)
    for group in claim.requests:
        chosen = [s for s in (group.exactly, *group.first_available) if s and per_request[s.name]]
        assert len(chosen) == 1, f"{group.name}: {len(chosen)} alternatives used"
        if chosen[0].mode != "All":
            assert per_request[chosen[0].name] == (chosen[0].count or 1), chosen[0].name
    pinned = False
    for r in allocation.devices:
        pinned = _check_device(snapshot, i, specs[r.request], r, index, env) or pinned
    for constraint in claim.constraints:
        attribute = constraint.match_attribute or constraint.distinct_attribute
        assert attribute is not None
        values = [
            lookup_attribute(index[r.device_id][2], r.driver, attribute)
            for r in allocation.devices
            if _applies(constraint, specs[r.request])
        ]
        assert None not in values, (attribute, values)
        if constraint.match_attribute is not None:
            assert len(set(values)) <= 1, (attribute, values)
        else:
            assert len(set(values)) == len(values), (attribute, values)
    if pinned:
        assert allocation.node_selector is not None
        term = allocation.node_selector["nodeSelectorTerms"][0]
        assert term["matchFields"][0]["values"] == [snapshot.node_names[i]]


def _check_sharing(
    snapshot: Snapshot, allocations: tuple[ClaimAllocation, ...], index: DeviceIndex
) -> set[tuple[str, str, str]]:
    """No exclusive device twice across claims; shares within capacity. Returns the devices
    picked in this call (every result, admin included: admin picks charge counters)."""
    exclusive: Counter[tuple[str, str, str]] = Counter()
    shared_use: dict[tuple[str, str, str], dict[str, Any]] = {}
    picked: set[tuple[str, str, str]] = set()
    for allocation in allocations:
        for r in allocation.devices:
            picked.add(r.device_id)
            if r.admin_access:
                continue
            if r.share_id is None:
                exclusive[r.device_id] += 1
                continue
            total = shared_use.setdefault(r.device_id, {})
            for name, amount in (r.consumed_capacity or {}).items():
                total[name] = total.get(name, 0) + amount
    assert all(n == 1 for n in exclusive.values()), "exclusive device given twice"
    for key, use in shared_use.items():
        already: Mapping[str, Any] = snapshot.shared_consumed(key) or {}
        for name, capacity in index[key][2].capacity.items():
            assert already.get(name, 0) + use.get(name, 0) <= capacity.value, (key, name)
    return picked


def _check_counters(
    snapshot: Snapshot, pools: list[Pool], picked: set[tuple[str, str, str]]
) -> None:
    """Counter totals minus every held or picked device's consumption stay >= 0."""
    for pool in pools:
        if not pool.counter_sets:
            continue
        left = {n: dict(c) for n, c in pool.counter_sets.items()}
        for s in (*pool.slices, *pool.other_slices):
            for d in s.devices:
                key = (s.driver, s.pool, d.name)
                held = snapshot.is_allocated(key) or snapshot.shared_consumed(key) is not None
                if not (held or key in picked):
                    continue
                for set_name, counters in d.consumes:
                    for counter, amount in counters.items():
                        left[set_name][counter] -= amount
        for set_name, counters in left.items():
            assert all(v >= 0 for v in counters.values()), (pool.name, set_name, counters)


def check_allocation(
    snapshot: Snapshot,
    i: int,
    claims: list[ClaimSpec],
    allocations: tuple[ClaimAllocation, ...],
    env: CelEnvironment,
) -> None:
    """Assert every invariant of node ``i``'s allocation (see the module docstring)."""
    pools = snapshot.node_pools(i)
    index = _device_index(pools)
    for claim, allocation in zip(claims, allocations, strict=True):
        _check_claim(snapshot, i, claim, allocation, index, env)
    _check_counters(snapshot, pools, _check_sharing(snapshot, allocations, index))


@PROFILE
@given(scenarios(shared_slots=True))
def test_allocations_are_valid(scenario: Scenario) -> None:
    """Every allocated outcome, on every node, satisfies the allocation invariants."""
    cache, match = build(scenario)
    snapshot = cache.snapshot()
    env = CelEnvironment(consumable_capacity=scenario.features.consumable_capacity)
    for i, outcome in enumerate(outcomes(cache, match, scenario.claims)):
        if outcome.ok:
            check_allocation(snapshot, i, scenario.claims, outcome.allocations, env)
        else:
            assert outcome.status in ("unschedulable", "error")


# -- the prefilter --------------------------------------------------------------------------------
def check_prefilter(scenario: Scenario) -> None:
    """Prefilter possible >= allocated everywhere; == when exact (unless the pod errors)."""
    cache, match = build(scenario)
    snapshot = cache.snapshot()
    answer = prefilter(snapshot, scenario.claims, match, PrefilterCache())
    found = outcomes(cache, match, scenario.claims)
    allocated = np.array([o.ok for o in found], dtype=bool)
    missed = np.flatnonzero(allocated & ~answer.possible).tolist()
    assert not missed, f"prefilter rejected allocatable nodes {missed}"
    if answer.exact and not any(o.status == "error" and o.fatal for o in found):
        assert (answer.possible == allocated).all(), (answer.possible, [o.status for o in found])


@PROFILE
@given(scenarios())
def test_prefilter_never_rejects_an_allocatable_node(scenario: Scenario) -> None:
    """The prefilter is a sound (and, when it says so, exact) answer for the allocator."""
    check_prefilter(scenario)


def _partitioned_gpus(overlap: bool) -> Scenario:
    """Two nodes shaped like dynamic MIG: three whole devices (model a) each drawing on its
    own counter set, and two partitions (model b) per whole device drawing on the same set;
    on node-0 a background claim carves a partition of one device. The pod asks for three
    whole devices. With ``overlap`` the request matches the partitions too (picks may then
    collide on a counter set)."""

    def gpu(i: int, name: str, model: str, mem: int) -> dict[str, Any]:
        return {
            "name": name,
            "attributes": {"model": {"string": model}, "numa": {"int": 0}, "link": {"int": 1}},
            "consumesCounters": [
                {"counterSet": f"cs-{i}", "counters": {"mem": {"value": str(mem)}}}
            ],
        }

    def pool(node: str) -> dict[str, Any]:
        devices = []
        for i in range(3):
            devices.append(gpu(i, f"gpu-{i}", "a", 4))
            devices.extend(gpu(i, f"gpu-{i}-part-{j}", "b", 2) for j in range(2))
        sets = [{"name": f"cs-{i}", "counters": {"mem": {"value": "4"}}} for i in range(3)]
        return _slice(
            f"{node}-s0", "driver-a", node, 1, nodeName=node, sharedCounters=sets, devices=devices
        )

    def claim(name: str, selectors: tuple[str, ...], count: int) -> ClaimSpec:
        spec = RequestSpec(
            name="req-0",
            base="req-0",
            sub="",
            class_name="class-a",
            selectors=selectors,
            count=count,
        )
        return ClaimSpec("default", name, f"uid-{name}", (RequestGroup("req-0", spec),))

    whole = () if overlap else ('device.attributes[device.driver].model == "a"',)
    part = ('device.attributes[device.driver].model == "b"',)
    return Scenario(
        Features(partitionable_devices=True),
        [("node-0", {"region": "r1"}), ("node-1", {"region": "r2"})],
        [pool("node-0"), pool("node-1")],
        [(0, claim("bg-0", part, 1))],
        [claim("claim-0", whole, 3)],
    )


def test_prefilter_is_exact_for_whole_devices_on_their_own_counter_sets() -> None:
    """Whole devices that each draw on their own counter set cannot collide: the prefilter's
    count is sufficient (exact) and matches the allocator (node-0 lost one device to a
    partition, node-1 has all three). When the request also matches the partitions, two
    picks may draw on one set and the answer is only necessary."""
    for overlap in (False, True):
        scenario = _partitioned_gpus(overlap)
        cache, match = build(scenario)
        snapshot = cache.snapshot()
        answer = prefilter(snapshot, scenario.claims, match, PrefilterCache())
        allocator = allocator_for(snapshot, match)
        allocated = [
            allocator.allocate(scenario.claims, name, snapshot.labels(i), snapshot.node_pools(i)).ok
            for i, name in enumerate(snapshot.node_names)
        ]
        assert answer.exact is not overlap
        assert allocated == [overlap, True]  # overlapping: a partition may stand in
        assert answer.possible.tolist() == [overlap, True]


def _shared_device_two_slots() -> Scenario:
    """One node with one multi-allocatable device; one request for 2 shares of it."""
    device = {
        "name": "d0",
        "attributes": {"model": {"string": "a"}, "numa": {"int": 0}, "link": {"int": 1}},
        "allowMultipleAllocations": True,
        "capacity": {"bw": {"value": "100"}},
    }
    spec = RequestSpec(
        name="req-0",
        base="req-0",
        sub="",
        class_name="class-s",
        count=2,
        capacity_requests={"bw": 30},
    )
    return Scenario(
        Features(consumable_capacity=True),
        [("node-0", {"region": "r1"}), ("node-1", {"region": "r2"})],
        [_slice("n0-s0", "driver-s", "n0", 1, nodeName="node-0", devices=[device])],
        [],
        [ClaimSpec("default", "claim-0", "uid", (RequestGroup("req-0", spec),))],
    )


def _admin_shares_held_device() -> Scenario:
    """DRAConsumableCapacity off: another claim holds the one multi-allocatable device
    (tainted NoSchedule k, with binding conditions and counters); an admin request that
    tolerates k asks for it."""
    device = {
        "name": "d0",
        "attributes": {"model": {"string": "a"}, "numa": {"int": 0}, "link": {"int": 1}},
        "consumesCounters": [{"counterSet": "cs-0", "counters": {"mem": {"value": "1"}}}],
        "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
        "bindingConditions": ["ready"],
        "bindingFailureConditions": ["failed"],
        "bindsToNode": False,
        "allowMultipleAllocations": True,
        "capacity": {"bw": {"value": "100"}},
    }
    counters = {"sharedCounters": [{"name": "cs-0", "counters": {"mem": {"value": "4"}}}]}

    def claim(name: str, admin: bool | None) -> ClaimSpec:
        spec = RequestSpec(
            name="req-0",
            base="req-0",
            sub="",
            class_name="class-s",
            count=1,
            admin_access=admin,
            tolerations=(TOLERATE_K,),
        )
        return ClaimSpec("default", name, f"uid-{name}", (RequestGroup("req-0", spec),))

    return Scenario(
        Features(
            admin_access=True,
            partitionable_devices=True,
            device_taints=True,
            binding_conditions=True,
            claim_device_status=True,
        ),
        [("node-0", {"region": "r1"}), ("node-1", {"region": "r2"})],
        [
            _slice("n0-s0", "driver-s", "n0", 2, nodeName="node-0", **counters),
            _slice("n0-s1", "driver-s", "n0", 2, nodeName="node-0", devices=[device]),
        ],
        [(0, claim("bg-0", None))],
        [claim("claim-0", True)],
    )


@PROFILE
@example(_shared_device_two_slots())
@example(_admin_shares_held_device())
@given(scenarios(shared_slots=True))
def test_prefilter_counts_shared_device_slots(scenario: Scenario) -> None:
    """Same property, with requests for several shares of one multi-allocatable device.

    The explicit examples pin regressions: 'two shares of d0' must stay possible, since the
    allocator puts both slots of the request on that one multi-allocatable device; and an
    admin request may take a multi-allocatable device another claim holds exclusively.
    """
    check_prefilter(scenario)


# -- completeness against a brute-force oracle ---------------------------------------------------
def _eligible(
    snapshot: Snapshot,
    i: int,
    spec: RequestSpec,
    devices: list[tuple[Pool, CompiledSlice, CompiledDevice]],
    env: CelEnvironment,
) -> list[int]:
    """Indices of the devices one slot of ``spec`` could take on its own (no admin, no
    consumable capacity): free, selected, on this node, tolerated, allowed to use counters."""
    features = snapshot.features
    out = []
    for k, (_, s, d) in enumerate(devices):
        key = (s.driver, s.pool, d.name)
        if snapshot.is_allocated(key) or snapshot.shared_consumed(key) is not None:
            continue
        if d.binding_conditions and not features.device_binding_and_status:
            continue
        if s.per_device_node_selection and not device_matches_node(
            d, snapshot.node_names[i], snapshot.labels(i)
        ):
            continue
        if d.consumes and not features.partitionable_devices:
            continue
        if features.device_taints and find_untolerated(d.taints, spec.tolerations, BLOCKING):
            continue
        cel = _cel_device(s.driver, d)
        selectors = (*snapshot.classes[spec.class_name].selectors, *spec.selectors)
        if all(e is not None and env.compile(e).matches(cel) for e in selectors):
            out.append(k)
    return out


def feasible(snapshot: Snapshot, i: int, claims: list[ClaimSpec]) -> bool:
    """Whether any assignment of distinct free devices satisfies every claim on node ``i``
    (ExactCount requests, any firstAvailable alternative, matchAttribute, counters): an
    exhaustive search over device combinations written from dra.md §4, independent of the
    allocator's search."""
    env = CelEnvironment(consumable_capacity=False)
    pools = [p for p in snapshot.node_pools(i) if p.usable]
    devices = [(pool, s, d) for pool in pools for s, d in pool.devices_in_order()]
    left: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for pool in pools:
        totals = {n: dict(c) for n, c in pool.counter_sets.items()}
        for s in (*pool.slices, *pool.other_slices):
            for d in s.devices:
                key = (s.driver, s.pool, d.name)
                if snapshot.is_allocated(key) or snapshot.shared_consumed(key) is not None:
                    for set_name, counters in d.consumes:
                        for counter, amount in counters.items():
                            totals[set_name][counter] -= amount
        left[(pool.driver, pool.name)] = totals
    slots = [  # (claim index, group alternatives as (spec, eligible device indices))
        (ci, [(spec, _eligible(snapshot, i, spec, devices, env)) for spec in alternatives])
        for ci, claim in enumerate(claims)
        for group in claim.requests
        for alternatives in [[s for s in (group.exactly, *group.first_available) if s]]
    ]
    used: list[tuple[int, RequestSpec, int]] = []  # (claim, request, device index)

    def fits(k: int) -> bool:
        pool, _, d = devices[k]
        sets = left[(pool.driver, pool.name)]
        return all(
            sets.get(set_name, {}).get(counter, 0) >= amount
            for set_name, counters in d.consumes
            for counter, amount in counters.items()
        )

    def charge(k: int, sign: int) -> None:
        pool, _, d = devices[k]
        for set_name, counters in d.consumes:
            for counter, amount in counters.items():
                left[(pool.driver, pool.name)][set_name][counter] -= sign * amount

    def constraints_hold(ci: int) -> bool:
        picked = [(spec, devices[k]) for c, spec, k in used if c == ci]
        for constraint in claims[ci].constraints:
            assert constraint.match_attribute is not None
            values = {
                lookup_attribute(d, s.driver, constraint.match_attribute)
                for spec, (_, s, d) in picked
                if _applies(constraint, spec)
            }
            if None in values or len(values) > 1:
                return False
        return True

    def place(n: int, start: int, spec: RequestSpec, candidates: list[int], rest: int) -> bool:
        if n == 0:
            return search(rest)
        for pos in range(start, len(candidates)):
            k = candidates[pos]
            if any(k == u for _, _, u in used) or not fits(k):
                continue
            charge(k, +1)
            used.append((slots[rest - 1][0], spec, k))
            if constraints_hold(slots[rest - 1][0]) and place(
                n - 1, pos + 1, spec, candidates, rest
            ):
                return True
            used.pop()
            charge(k, -1)
        return False

    def search(g: int) -> bool:
        if g == len(slots):
            return True
        _, alternatives = slots[g]
        return any(place(spec.count or 1, 0, spec, found, g + 1) for spec, found in alternatives)

    return search(0)


@PROFILE
@given(scenarios(shared_slots=True, simple=True))
def test_allocator_finds_a_solution_whenever_one_exists(scenario: Scenario) -> None:
    """No false 'cannot allocate': the allocator succeeds exactly where brute force does."""
    assume(
        all(
            spec.mode != "All"
            for claim in scenario.claims
            for group in claim.requests
            for spec in (group.exactly, *group.first_available)
            if spec is not None
        )
    )
    cache, match = build(scenario)
    snapshot = cache.snapshot()
    for i, outcome in enumerate(outcomes(cache, match, scenario.claims)):
        if outcome.status == "error" and outcome.fatal:
            continue
        assert outcome.ok == feasible(snapshot, i, scenario.claims), (i, outcome.message)


# -- the prefilter's long-lived cache -------------------------------------------------------------
def check_cache_refresh(scenario: Scenario) -> None:
    """After each device change the plugin's long-lived PrefilterCache answers like a fresh one.

    Changes, in order: every background claim is released (forgotten), then the pod's claims
    are assumed on the first node where they allocate.
    """
    cache, match = build(scenario)
    counts = PrefilterCache()

    def same_as_fresh(step: str) -> None:
        snapshot = cache.snapshot()
        kept = prefilter(snapshot, scenario.claims, match, counts)
        fresh = prefilter(snapshot, scenario.claims, match, PrefilterCache())
        assert kept.possible.tolist() == fresh.possible.tolist(), step
        assert kept.exact == fresh.exact, step

    same_as_fresh("initial")
    for key, record in list(cache.claims.items()):
        if record.results:
            cache.forget_claim(key)
            same_as_fresh(f"released {key}")
    for i, outcome in enumerate(outcomes(cache, match, scenario.claims)):
        if outcome.ok:
            for claim, allocation in zip(scenario.claims, outcome.allocations, strict=True):
                cache.add(load_object(_claim_object(claim.name), source="property"))
                cache.assume_claim(f"default/{claim.name}", allocation)
            same_as_fresh(f"pod assumed on node {i}")
            break


def _held_all_nodes_device() -> Scenario:
    """An allNodes pool with one device that a background claim holds; the pod wants it."""
    device = {
        "name": "d0",
        "attributes": {"model": {"string": "a"}, "numa": {"int": 0}, "link": {"int": 1}},
    }
    spec = RequestSpec(name="req-0", base="req-0", sub="", class_name="class-a", count=1)
    claim = ClaimSpec("default", "bg-0", "uid-bg", (RequestGroup("req-0", spec),))
    return Scenario(
        Features(),
        [("node-0", {"region": "r1"}), ("node-1", {"region": "r2"})],
        [_slice("all-s0", "driver-a", "all", 1, allNodes=True, devices=[device])],
        [(0, claim)],
        [ClaimSpec("default", "claim-0", "uid", (RequestGroup("req-0", spec),))],
    )


@PROFILE
@example(_held_all_nodes_device())
@given(scenarios())
def test_prefilter_cache_follows_device_changes(scenario: Scenario) -> None:
    """The long-lived prefilter cache never answers differently from a fresh one.

    BUG (pinned by the explicit example): releasing the only device of an allNodes pool
    leaves the cached 'no device anywhere' answer in place.
    """
    check_cache_refresh(scenario)
