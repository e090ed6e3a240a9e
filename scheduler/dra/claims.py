"""The allocator's view of ResourceClaims and DeviceClasses, and their results.

Claims and classes are reduced to plain frozen records before the search (the models
check shape only, so these records may still hold values the API server would reject,
e.g. an empty class name or a selector without CEL; the allocator reports those like
upstream). Results are plain records too; :mod:`scheduler.dra.convert` turns them into
``ResourceClaim.status.allocation`` models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from scheduler.api.taints import Toleration
from scheduler.dra.inventory import Number

MAX_DEVICES_PER_CLAIM = 32  # resourceapi.AllocationResultsMaxSize


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One ``exactly`` request or one ``firstAvailable`` subrequest.

    ``name`` is what results and constraints call it: ``req`` or ``req/sub``.
    ``selectors`` holds each selector's CEL expression, None for a selector without one.
    ``mode``/``count`` keep None when absent (defaults ExactCount and 1 apply).
    """

    name: str
    base: str
    sub: str
    class_name: str
    selectors: tuple[str | None, ...] = ()
    mode: str | None = None
    count: int | None = None
    admin_access: bool | None = None
    tolerations: tuple[Toleration, ...] = ()
    capacity_requests: Mapping[str, Number] | None = None


@dataclass(frozen=True, slots=True)
class RequestGroup:
    """A claim request: either ``exactly`` or a list of prioritized alternatives."""

    name: str
    exactly: RequestSpec | None
    first_available: tuple[RequestSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ConstraintSpec:
    """``spec.devices.constraints[i]``: at most one of the attribute names is set."""

    requests: tuple[str, ...] = ()
    match_attribute: str | None = None
    distinct_attribute: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A claim or class config entry (``opaque`` kept as the raw JSON mapping)."""

    requests: tuple[str, ...] = ()
    opaque: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One ResourceClaim as the allocator needs it."""

    namespace: str
    name: str
    uid: str
    requests: tuple[RequestGroup, ...]
    constraints: tuple[ConstraintSpec, ...] = ()
    config: tuple[ConfigSpec, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``, as klog.KObj prints it in upstream messages."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """One DeviceClass: its CEL selectors (None = selector without CEL) and config."""

    name: str
    selectors: tuple[str | None, ...] = ()
    config: tuple[ConfigSpec, ...] = ()
    extended_resource_name: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """One entry of ``status.allocation.devices.results``."""

    request: str
    driver: str
    pool: str
    device: str
    admin_access: bool = False
    tolerations: tuple[Toleration, ...] = ()
    binding_conditions: tuple[str, ...] = ()
    binding_failure_conditions: tuple[str, ...] = ()
    share_id: str | None = None
    consumed_capacity: Mapping[str, Number] | None = None

    @property
    def device_id(self) -> tuple[str, str, str]:
        """``(driver, pool, device)``."""
        return (self.driver, self.pool, self.device)


@dataclass(frozen=True, slots=True)
class ConfigResult:
    """One entry of ``status.allocation.devices.config``."""

    source: str
    requests: tuple[str, ...]
    opaque: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ClaimAllocation:
    """The allocation of one claim. ``node_selector`` is a v1 NodeSelector as JSON, or None."""

    devices: tuple[DeviceResult, ...]
    config: tuple[ConfigResult, ...] = ()
    node_selector: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AllocationOutcome:
    """What one ``Allocate(node, claims)`` call decided.

    ``status`` is ``allocated`` (``allocations`` has one entry per claim, in order),
    ``unschedulable`` (no solution on this node, or the deadline passed) or ``error``.
    ``fatal`` is True for errors that abort the pod's whole scheduling attempt; False
    means "this node only". ``steps`` counts search steps (for benchmarks).
    """

    status: str
    allocations: tuple[ClaimAllocation, ...] = ()
    message: str = ""
    fatal: bool = False
    steps: int = 0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when every claim was allocated."""
        return self.status == "allocated"


class AllocatedView(Protocol):
    """What the allocator asks about devices in use before the call (dra.md §4.0)."""

    def is_allocated(self, device: tuple[str, str, str]) -> bool:
        """Held exclusively by some allocated or in-flight claim (admin results excluded)."""
        ...

    def shared_consumed(self, device: tuple[str, str, str]) -> Mapping[str, Number] | None:
        """Summed consumed capacity of the device's shares; None when it has none."""
        ...


@dataclass(slots=True)
class AllocatedState:
    """Devices in use before this call (dra.md §4.0).

    ``exclusive`` holds the IDs of every non-admin result of every allocated or in-flight
    claim; ``shared`` sums the ``consumedCapacity`` of results with a ``shareID`` per
    device (consumable capacity). A multi-allocatable device listed in ``shared`` has
    an allocation, so its counters are already charged.
    """

    exclusive: set[tuple[str, str, str]] = field(default_factory=set)
    shared: dict[tuple[str, str, str], dict[str, Number]] = field(default_factory=dict)
    share_counts: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def is_allocated(self, device: tuple[str, str, str]) -> bool:
        """True when the device is held exclusively by some claim."""
        return device in self.exclusive

    def shared_consumed(self, device: tuple[str, str, str]) -> Mapping[str, Number] | None:
        """Summed consumed capacity of the device's shares, or None when it has none."""
        return self.shared.get(device)

    def add_result(self, result: DeviceResult) -> None:
        """Count one allocation result as in use (admin results are not counted)."""
        if result.admin_access:
            return
        if result.share_id is not None:
            key = result.device_id
            used = self.shared.setdefault(key, {})
            self.share_counts[key] = self.share_counts.get(key, 0) + 1
            for name, amount in (result.consumed_capacity or {}).items():
                used[name] = used.get(name, 0) + amount
        else:
            self.exclusive.add(result.device_id)

    def remove_result(self, result: DeviceResult) -> None:
        """Undo :meth:`add_result` (a claim was deallocated)."""
        if result.admin_access:
            return
        if result.share_id is not None:
            key = result.device_id
            used = self.shared.get(key)
            if used is None:
                return
            for name, amount in (result.consumed_capacity or {}).items():
                used[name] = used.get(name, 0) - amount
            self.share_counts[key] -= 1
            if self.share_counts[key] <= 0:
                del self.shared[key]
                del self.share_counts[key]
        else:
            self.exclusive.discard(result.device_id)
