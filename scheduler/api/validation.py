"""The API server's validation rules that protect the scheduler's arithmetic.

The models check shape and types only (``scheduler.api.meta``); a few rules of
``pkg/apis/core/validation`` and ``pkg/apis/resource/validation`` keep values the scheduler
adds and compares sane, and objects that break them never exist in a real cluster. The
readers refuse them (:func:`check_object`), naming the field:

* resource quantities must not be negative: container and init-container ``requests`` and
  ``limits``, pod-level ``resources``, ``overhead`` (``ValidateResourceQuantityValue``: "must
  be greater than or equal to 0"), Node ``capacity`` and ``allocatable``;
* a container's request must not exceed its limit (``ValidateResourceRequirements``);
* ResourceSlice device capacities, counter-set counters and counter consumptions must not
  be negative; claim capacity requests and ``count`` must be positive where the API says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .dra import (
    Counter,
    DeviceCapacity,
    DeviceSubRequest,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
)
from .errors import FieldPath
from .meta import KubeObject
from .node import Node
from .pod import Pod, PodSpec
from .quantity import parse_quantity

__all__ = ["check_object"]

Problem = tuple[FieldPath, str]


def _negative(
    quantities: Mapping[str, str], path: FieldPath, leaf: FieldPath = ()
) -> Iterator[Problem]:
    """A problem at ``(*path, name, *leaf)`` for each negative quantity ``name``."""
    for name, text in quantities.items():
        if parse_quantity(text) < 0:
            yield (*path, name, *leaf), f"quantity {text!r}: must be greater than or equal to 0"


def _pod_spec(spec: PodSpec, path: FieldPath) -> Iterator[Problem]:
    for field, containers in (
        ("containers", spec.containers),
        ("initContainers", spec.init_containers),
    ):
        for i, container in enumerate(containers):
            where = (*path, field, i, "resources")
            yield from _negative(container.resources.requests, (*where, "requests"))
            yield from _negative(container.resources.limits, (*where, "limits"))
            for name, limit in container.resources.limits.items():
                request = container.resources.requests.get(name)
                if request is not None and parse_quantity(request) > parse_quantity(limit):
                    yield (
                        (*where, "requests", name),
                        f"quantity {request!r}: must be less than or equal to {name} limit "
                        f"of {limit}",
                    )
    if spec.resources is not None:
        yield from _negative(spec.resources.requests, (*path, "resources", "requests"))
        yield from _negative(spec.resources.limits, (*path, "resources", "limits"))
    yield from _negative(spec.overhead, (*path, "overhead"))


def _slice(rs: ResourceSlice) -> Iterator[Problem]:
    def values(items: Mapping[str, Counter | DeviceCapacity]) -> dict[str, str]:
        return {name: item.value for name, item in items.items()}

    for i, device in enumerate(rs.spec.devices):
        where: FieldPath = ("spec", "devices", i)
        yield from _negative(values(device.capacity), (*where, "capacity"), ("value",))
        for j, use in enumerate(device.consumes_counters):
            path = (*where, "consumesCounters", j, "counters")
            yield from _negative(values(use.counters), path, ("value",))
    for i, counter_set in enumerate(rs.spec.shared_counters):
        path = ("spec", "sharedCounters", i, "counters")
        yield from _negative(values(counter_set.counters), path, ("value",))


def _claim_requests(claim: ResourceClaim | ResourceClaimTemplate) -> Iterator[Problem]:
    base: FieldPath
    if isinstance(claim, ResourceClaim):
        spec, base = claim.spec, ("spec",)
    else:
        spec, base = claim.spec.spec, ("spec", "spec")
    for i, request in enumerate(spec.devices.requests):
        where: FieldPath = (*base, "devices", "requests", i)
        alternatives: list[tuple[FieldPath, ExactDeviceRequest | DeviceSubRequest]] = []
        if request.exactly is not None:
            alternatives.append(((*where, "exactly"), request.exactly))
        for j, sub in enumerate(request.first_available):
            alternatives.append(((*where, "firstAvailable", j), sub))
        for path, alternative in alternatives:
            if alternative.count is not None and alternative.count <= 0:
                yield (*path, "count"), f"{alternative.count}: must be greater than zero"
            if alternative.capacity is not None:
                yield from _negative(alternative.capacity.requests, (*path, "capacity", "requests"))


def check_object(obj: KubeObject) -> Problem | None:
    """The first rule of the module docstring ``obj`` breaks, as ``(field path, message)``."""
    problems: Iterator[Problem]
    if isinstance(obj, Pod):
        problems = _pod_spec(obj.spec, ("spec",))
    elif isinstance(obj, Node):
        problems = iter(
            [
                *_negative(obj.status.capacity, ("status", "capacity")),
                *_negative(obj.status.allocatable, ("status", "allocatable")),
            ]
        )
    elif isinstance(obj, ResourceSlice):
        problems = _slice(obj)
    elif isinstance(obj, ResourceClaim | ResourceClaimTemplate):
        problems = _claim_requests(obj)
    else:
        return None
    return next(problems, None)
