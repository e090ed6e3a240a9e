"""Gathering the pools a node can use (docs/semantics/dra.md §4.1, §9.3): slice visibility,
generations, completeness over all slices of a pool, and pool validity."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api.loaders import load_object
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledSlice, compile_slice
from scheduler.dra.pools import Pool, gather_pools

NODE = "node-1"
LABELS = {"region": "region-1", "planet": "earth"}
OFF = Features()
PART = Features(partitionable_devices=True)


def rs(
    name: str,
    pool: str,
    devices: list[str | dict[str, Any]] | None = None,
    *,
    gen: int = 1,
    count: int = 1,
    driver: str = "driver-a",
    counters: dict[str, dict[str, str]] | None = None,
    **selection: Any,
) -> CompiledSlice:
    """A compiled slice; ``selection`` defaults to ``nodeName: node-1``; device entries are
    names or full device dicts; ``counters`` maps counter-set name -> {counter: quantity}."""
    spec: dict[str, Any] = {
        "driver": driver,
        "pool": {"name": pool, "generation": gen, "resourceSliceCount": count},
        **(selection or {"nodeName": NODE}),
    }
    if devices is not None:
        spec["devices"] = [{"name": d} if isinstance(d, str) else d for d in devices]
    if counters is not None:
        spec["sharedCounters"] = [
            {"name": n, "counters": {c: {"value": v} for c, v in cs.items()}}
            for n, cs in counters.items()
        ]
    body = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": spec,
    }
    compiled = compile_slice(load_object(body, source="test"))  # type: ignore[arg-type]
    return compiled


def consuming(name: str, counter_set: str, **counters: str) -> dict[str, Any]:
    """A device consuming ``counters`` of ``counter_set``."""
    return {
        "name": name,
        "consumesCounters": [
            {"counterSet": counter_set, "counters": {k: {"value": v} for k, v in counters.items()}}
        ],
    }


def summary(pools: list[Pool]) -> list[tuple[str, str, bool, bool, list[str]]]:
    """(driver, pool, incomplete, invalid, node-visible device names) per pool."""
    return [
        (
            p.driver,
            p.name,
            p.incomplete,
            p.invalid_reason is not None,
            [d.name for _, d in p.devices_in_order()],
        )
        for p in pools
    ]


REGION_1 = {
    "nodeSelectorTerms": [
        {"matchExpressions": [{"key": "region", "operator": "In", "values": ["region-1"]}]}
    ]
}
REGION_2 = {
    "nodeSelectorTerms": [
        {"matchExpressions": [{"key": "region", "operator": "In", "values": ["region-2"]}]}
    ]
}

GATHER_TABLE: list[tuple[str, list[CompiledSlice], Features, list[Any]]] = [
    # id, slices (input order), features, expected summary
    (
        "one-complete-pool",
        [rs("s1", "p", ["d1", "d2"])],
        OFF,
        [("driver-a", "p", False, False, ["d1", "d2"])],
    ),
    # generation 2 replaces what generation 1 collected (count 1 each)
    (
        "newer-replaces",
        [rs("s1", "p", ["old"]), rs("s2", "p", ["new"], gen=2)],
        OFF,
        [("driver-a", "p", False, False, ["new"])],
    ),
    # generation 1 after generation 2 is dropped
    (
        "older-dropped",
        [rs("s2", "p", ["new"], gen=2), rs("s1", "p", ["old"])],
        OFF,
        [("driver-a", "p", False, False, ["new"])],
    ),
    # node sees 1 of 2 slices at gen 1 and a gen-2 slice exists for node-2: obsolete, dropped
    (
        "obsolete",
        [rs("s1", "p", ["d1"], count=2), rs("s2", "p", ["d2"], gen=2, count=2, nodeName="node-2")],
        OFF,
        [],
    ),
    # 1 of 2 slices exists anywhere: incomplete (kept, flagged)
    ("incomplete", [rs("s1", "p", ["d1"], count=2)], OFF, [("driver-a", "p", True, False, ["d1"])]),
    # the node-2 slice completes the pool (2 of 2) but its device is not visible
    (
        "complete-across-nodes",
        [rs("s1", "p", ["d1"], count=2), rs("s2", "p", ["d2"], count=2, nodeName="node-2")],
        OFF,
        [("driver-a", "p", False, False, ["d1"])],
    ),
    # the complete-local exception: gen 1 (count 1) is complete on the node, gen 2 elsewhere
    (
        "complete-older-local-kept",
        [rs("s1", "p", ["d1"]), rs("s2", "p", ["d2"], gen=2, nodeName="node-2")],
        OFF,
        [("driver-a", "p", False, False, ["d1"])],
    ),
    (
        "duplicate-device",
        [rs("s1", "p", ["d1"], count=2), rs("s2", "p", ["d1"], count=2)],
        OFF,
        [("driver-a", "p", False, True, ["d1", "d1"])],
    ),
    # a duplicate name only in a slice for another node is not checked
    (
        "duplicate-on-other-node",
        [rs("s1", "p", ["d1"], count=2), rs("s2", "p", ["d1"], count=2, nodeName="node-2")],
        OFF,
        [("driver-a", "p", False, False, ["d1"])],
    ),
    ("node-name-other", [rs("s1", "p", ["d1"], nodeName="node-2")], OFF, []),
    (
        "all-nodes",
        [rs("s1", "p", ["d1"], allNodes=True)],
        OFF,
        [("driver-a", "p", False, False, ["d1"])],
    ),
    (
        "selector-match",
        [rs("s1", "p", ["d1"], nodeSelector=REGION_1)],
        OFF,
        [("driver-a", "p", False, False, ["d1"])],
    ),
    ("selector-mismatch", [rs("s1", "p", ["d1"], nodeSelector=REGION_2)], OFF, []),
    # per-device selection: kept when any device matches (devices still listed; checked later)
    (
        "per-device-some",
        [
            rs(
                "s1",
                "p",
                [{"name": "d1", "nodeName": "node-2"}, {"name": "d2", "allNodes": True}],
                perDeviceNodeSelection=True,
            )
        ],
        PART,
        [("driver-a", "p", False, False, ["d1", "d2"])],
    ),
    (
        "per-device-none",
        [rs("s1", "p", [{"name": "d1", "nodeName": "node-2"}], perDeviceNodeSelection=True)],
        PART,
        [],
    ),
    (
        "per-device-gate-off",
        [rs("s1", "p", [{"name": "d1", "allNodes": True}], perDeviceNodeSelection=True)],
        OFF,
        [],
    ),
    # no selection field at all: an unknown future mode, ignored
    ("no-selection", [rs("s1", "p", ["d1"], nodeName=None)], OFF, []),
    # a counter slice is kept whatever node it names (counters are pool-wide)
    (
        "counter-slice-kept",
        [
            rs("c", "p", None, count=2, nodeName="node-2", counters={"cs": {"mem": "4"}}),
            rs("s1", "p", [consuming("d1", "cs", mem="1")], count=2),
        ],
        PART,
        [("driver-a", "p", False, False, ["d1"])],
    ),
    (
        "duplicate-counter-set",
        [
            rs("c1", "p", None, count=3, counters={"cs": {"mem": "4"}}),
            rs("c2", "p", None, count=3, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", ["d1"], count=3),
        ],
        PART,
        [("driver-a", "p", False, True, ["d1"])],
    ),
    (
        "unknown-counter-set",
        [
            rs("c", "p", None, count=2, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", ["d0", consuming("d1", "other", mem="1")], count=2),
        ],
        PART,
        [("driver-a", "p", False, True, ["d0", "d1"])],
    ),
    (
        "unknown-counter",
        [
            rs("c", "p", None, count=2, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", [consuming("d1", "cs", cores="1")], count=2),
        ],
        PART,
        [("driver-a", "p", False, True, ["d1"])],
    ),
    # a device in another node's slice consuming an unknown set invalidates the pool here too
    (
        "unknown-counter-other-node",
        [
            rs("c", "p", None, count=3, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", ["d1"], count=3),
            rs("s2", "p", [consuming("d2", "nope", mem="1")], count=3, nodeName="node-2"),
        ],
        PART,
        [("driver-a", "p", False, True, ["d1"])],
    ),
    # gate off: counter slices are dropped but still complete the pool
    (
        "counter-slice-gate-off",
        [
            rs("c", "p", None, count=2, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", [consuming("d1", "cs", mem="1"), "d2"], count=2),
        ],
        OFF,
        [("driver-a", "p", False, False, ["d1", "d2"])],
    ),
    # pool identity is (driver, name)
    (
        "two-drivers",
        [rs("a", "p", ["d1"]), rs("b", "p", ["d1"], driver="driver-b")],
        OFF,
        [("driver-a", "p", False, False, ["d1"]), ("driver-b", "p", False, False, ["d1"])],
    ),
]


@pytest.mark.parametrize(
    ("slices", "features", "expected"),
    [pytest.param(s, f, e, id=i) for i, s, f, e in GATHER_TABLE],
)
def test_gather_pools(slices: list[CompiledSlice], features: Features, expected: list[Any]) -> None:
    """Pools, their state and their node-visible devices are judged as dra.md §4.1 says."""
    assert summary(gather_pools(slices, NODE, LABELS, features)) == expected


def test_counter_sets_collected_across_slices() -> None:
    """A complete pool knows the counter sets of all its slices, other nodes' included."""
    pools = gather_pools(
        [
            rs("c1", "p", None, count=3, counters={"a": {"mem": "4"}}),
            rs("s1", "p", ["d1"], count=3),
            rs("c2", "p", None, count=3, nodeName="node-2", counters={"b": {"mem": "8"}}),
        ],
        NODE,
        LABELS,
        PART,
    )
    assert [sorted(p.counter_sets) for p in pools] == [["a", "b"]]
    assert pools[0].counter_sets["b"] == {"mem": 8}


def test_other_node_slices_kept_for_accounting() -> None:
    """Same-generation slices for other nodes are remembered (for counters), not offered."""
    other = rs("s2", "p", [consuming("d2", "cs", mem="3")], count=3, nodeName="node-2")
    pools = gather_pools(
        [
            rs("c", "p", None, count=3, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", ["d1"], count=3),
            other,
        ],
        NODE,
        LABELS,
        PART,
    )
    assert pools[0].other_slices == [other]
    assert sorted(d.name for d in pools[0].all_devices()) == ["d1", "d2"]


def test_pool_slices_argument_judges_completeness() -> None:
    """With ``pool_slices``, completeness is judged on those, not on the candidate slices."""
    local = rs("s1", "p", ["d1"], count=2)
    remote = rs("s2", "p", ["d2"], count=2, nodeName="node-2")
    alone = gather_pools([local], NODE, LABELS, OFF)
    assert summary(alone) == [("driver-a", "p", True, False, ["d1"])]
    told = gather_pools([local], NODE, LABELS, OFF, {("driver-a", "p"): [local, remote]})
    assert summary(told) == [("driver-a", "p", False, False, ["d1"])]


def test_counters_not_validated_with_gate_off() -> None:
    """With DRAPartitionableDevices off a pool is only checked for duplicate device names.

    dra.md §4.4 step 4 and upstream 1.35 buildPool. Input: one complete slice; device d1
    consumes counter set ``cs`` that no slice publishes, device d2 consumes nothing.
    Expected: a valid pool (d1 is merely unallocatable).
    """
    pools = gather_pools([rs("s1", "p", [consuming("d1", "cs", mem="1"), "d2"])], NODE, LABELS, OFF)
    assert summary(pools) == [("driver-a", "p", False, False, ["d1", "d2"])]


def test_incomplete_pool_not_validated() -> None:
    """Only a complete pool can be invalid (dra.md §4.1: "A complete pool is invalid if").

    Input: 3 of 4 slices of a pool, two of them publishing counter set ``cs``.
    Expected: incomplete, no invalid reason. Got: invalid "duplicate counter set name cs".
    """
    pools = gather_pools(
        [
            rs("c1", "p", None, count=4, counters={"cs": {"mem": "4"}}),
            rs("c2", "p", None, count=4, counters={"cs": {"mem": "4"}}),
            rs("s1", "p", ["d1"], count=4),
        ],
        NODE,
        LABELS,
        PART,
    )
    assert summary(pools) == [("driver-a", "p", True, False, ["d1"])]
