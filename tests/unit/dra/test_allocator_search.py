"""The allocator's search bookkeeping: the filter deadline (docs/semantics/dra.md §4.3, §5),
the already-allocated state (§4.0), and the selector cache's error handling (§3)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from scheduler.api.loaders import load_object
from scheduler.dra.allocator import Allocator, MatchCache
from scheduler.dra.cel import CelEnvironment, CelError
from scheduler.dra.claims import (
    AllocatedState,
    AllocationOutcome,
    ClaimSpec,
    ClassSpec,
    DeviceResult,
    RequestGroup,
    RequestSpec,
)
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledDevice, compile_slice
from scheduler.dra.pools import Pool, gather_pools
from tests.builders import rslice

CLASS = ClassSpec("class-a", ('device.driver == "driver-a"',))


def eight_devices() -> list[Pool]:
    """One complete node-local pool with 8 identical devices."""
    body = rslice("s", "p", [{"name": f"device-{i}"} for i in range(8)], nodeName="node-1")
    return gather_pools([compile_slice(load_object(body, source="test"))], "node-1", {}, Features())  # type: ignore[arg-type]


def claim_for(count: int) -> ClaimSpec:
    """One claim with one ExactCount request of ``count`` devices of class-a."""
    spec = RequestSpec(name="req-0", base="req-0", sub="", class_name="class-a", count=count)
    return ClaimSpec("default", "claim-0", "uid-0", (RequestGroup("req-0", spec),))


def allocate(
    count: int, timeout: float | None, clock: Callable[[], float] | None = None
) -> AllocationOutcome:
    """Allocate ``count`` devices on the 8-device node."""
    allocator = Allocator(
        features=Features(),
        classes={"class-a": CLASS},
        allocated=AllocatedState(),
        cache=MatchCache(CelEnvironment(consumable_capacity=False)),
        timeout_seconds=timeout,
        clock=clock or time.monotonic,
    )
    return allocator.allocate([claim_for(count)], "node-1", {}, eight_devices())


def test_deadline_turns_long_search_into_timeout() -> None:
    """9 of 8 devices under a tiny timeout: unschedulable 'timed out trying to allocate devices'."""
    outcome = allocate(9, 1e-9)
    assert outcome.status == "unschedulable"
    assert outcome.message == "timed out trying to allocate devices"
    # a node-scoped failure, not an error (conformance README: errorScope "node")
    assert outcome.timed_out and not outcome.fatal


def test_deadline_with_injected_clock() -> None:
    """The deadline is read from the injected clock: past it, the search stops."""
    ticks = iter([0.0])  # construction reads 0.0; every later read is 5.0 > 0 + 1.0

    def clock() -> float:
        return next(ticks, 5.0)

    outcome = allocate(9, 1.0, clock)
    assert outcome.timed_out
    assert outcome.message == "timed out trying to allocate devices"


def test_same_search_without_deadline_finds_no_solution() -> None:
    """Without a deadline the search ends normally: 'cannot allocate all claims'."""
    outcome = allocate(9, None)
    assert (outcome.status, outcome.message, outcome.timed_out) == (
        "unschedulable",
        "cannot allocate all claims",
        False,
    )
    # every subset of the 8 devices is tried once (combination search): > 256 steps, so
    # the timed-out runs above really reached a deadline check
    assert outcome.steps > 256


def test_generous_deadline_does_not_interfere() -> None:
    """A solvable request finishes well inside the default deadline."""
    outcome = allocate(8, 10.0)
    assert outcome.ok
    assert sorted(r.device for r in outcome.allocations[0].devices) == [
        f"device-{i}" for i in range(8)
    ]


def result(
    device: str, *, admin: bool = False, share: str | None = None, **used: int
) -> DeviceResult:
    """An allocation result on driver-a/p/<device>."""
    return DeviceResult(
        request="r",
        driver="driver-a",
        pool="p",
        device=device,
        admin_access=admin,
        share_id=share,
        consumed_capacity=dict(used) or None,
    )


def test_allocated_state_exclusive() -> None:
    """Exclusive results are held and released by device ID; admin results never count."""
    state = AllocatedState()
    state.add_result(result("d1"))
    state.add_result(result("d2", admin=True))
    assert state.is_allocated(("driver-a", "p", "d1"))
    assert not state.is_allocated(("driver-a", "p", "d2"))
    state.remove_result(result("d2", admin=True))  # no-op
    state.remove_result(result("d1"))
    assert not state.is_allocated(("driver-a", "p", "d1"))
    assert state.exclusive == set()


def test_allocated_state_shared() -> None:
    """Shares sum their consumed capacity per device and vanish with the last share."""
    key = ("driver-a", "p", "d1")
    state = AllocatedState()
    state.add_result(result("d1", share="s1", bw=30))
    state.add_result(result("d1", share="s2", bw=45, mem=2))
    assert not state.is_allocated(key)  # shares are not exclusive holds
    assert state.shared_consumed(key) == {"bw": 75, "mem": 2}  # 30 + 45, 0 + 2
    state.remove_result(result("d1", share="s1", bw=30))
    assert state.shared_consumed(key) == {"bw": 45, "mem": 2}  # 75 - 30
    state.remove_result(result("d1", share="s2", bw=45, mem=2))
    assert state.shared_consumed(key) is None
    assert state.share_counts == {}
    state.remove_result(result("d1", share="s3", bw=1))  # unknown share: no-op
    assert state.shared_consumed(key) is None


def test_allocated_state_share_without_capacity() -> None:
    """A share without consumed capacity still marks the device as having an allocation."""
    state = AllocatedState()
    state.add_result(result("d1", share="s1"))
    assert state.shared_consumed(("driver-a", "p", "d1")) == {}
    state.remove_result(result("d1", share="s1"))
    assert state.shared_consumed(("driver-a", "p", "d1")) is None


def test_match_cache_errors_are_not_cached() -> None:
    """A selector error is raised on every call; a success is computed once."""
    cache = MatchCache(CelEnvironment(consumable_capacity=False))
    bad = CompiledDevice(name="d", attributes={}, capacity={})
    expression = 'device.attributes["driver-a"].model == "x"'
    for _ in range(2):
        with pytest.raises(CelError, match="CEL runtime error"):
            cache.matches(expression, "driver-a", bad)
    assert cache.results == {}
    good = CompiledDevice(name="g", attributes={"model": ("string", "x")}, capacity={})
    assert cache.matches(expression, "driver-a", good)
    assert cache.results == {(good, expression): True}


def test_unsupported_attribute_fails_every_selector() -> None:
    """A device with a valueless attribute fails even selectors that do not read it."""
    cache = MatchCache(CelEnvironment(consumable_capacity=False))
    broken = CompiledDevice(name="d", attributes={"x": ("", None)}, capacity={})
    with pytest.raises(CelError, match="unsupported attribute value"):
        cache.matches("true", "driver-a", broken)
