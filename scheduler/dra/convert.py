"""Adapters between the API models and the allocator's records.

``claim_spec``/``class_spec`` read ResourceClaim and DeviceClass models into the
allocator's plain records (:mod:`scheduler.dra.claims`); ``allocation_result`` and
``device_results`` go the other way, between a :class:`ClaimAllocation` and
``ResourceClaim.status.allocation``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from scheduler.api.dra import (
    AllocationResult,
    DeviceAllocationConfiguration,
    DeviceAllocationResult,
    DeviceClass,
    DeviceRequestAllocationResult,
    DeviceSelector,
    ExactDeviceRequest,
    OpaqueDeviceConfiguration,
    ResourceClaim,
    ResourceClaimSpec,
)
from scheduler.api.quantity import format_quantity
from scheduler.api.selectors import NodeSelector
from scheduler.dra.claims import (
    ClaimAllocation,
    ClaimSpec,
    ClassSpec,
    ConfigSpec,
    ConstraintSpec,
    DeviceResult,
    RequestGroup,
    RequestSpec,
)
from scheduler.dra.inventory import exact


def _selectors(selectors: tuple[DeviceSelector, ...]) -> tuple[str | None, ...]:
    return tuple(s.cel.expression if s.cel is not None else None for s in selectors)


def _opaque(opaque: OpaqueDeviceConfiguration | None) -> Mapping[str, Any] | None:
    return opaque.to_dict() if opaque is not None else None


def _request(name: str, sub: str, req: Any) -> RequestSpec:
    capacity = None
    if req.capacity is not None and req.capacity.requests:
        capacity = {k: exact(v) for k, v in req.capacity.requests.items()}
    return RequestSpec(
        name=f"{name}/{sub}" if sub else name,
        base=name,
        sub=sub,
        class_name=req.device_class_name,
        selectors=_selectors(req.selectors),
        mode=req.allocation_mode,
        count=req.count,
        admin_access=req.admin_access if isinstance(req, ExactDeviceRequest) else None,
        tolerations=tuple(req.tolerations),
        capacity_requests=capacity,
    )


_Body = tuple[tuple[RequestGroup, ...], tuple[ConstraintSpec, ...], tuple[ConfigSpec, ...]]
_BODIES: dict[int, tuple[ResourceClaimSpec, _Body]] = {}


def _body(spec: ResourceClaimSpec) -> _Body:
    """Requests, constraints and config of a spec, converted once per spec object.

    Claims generated from one ResourceClaimTemplate share its (frozen) spec object, so a
    trace of thousands of pods converts each template once.
    """
    found = _BODIES.get(id(spec))
    if found is not None and found[0] is spec:
        return found[1]
    body = _convert_body(spec)
    if len(_BODIES) > 4096:
        _BODIES.clear()
    _BODIES[id(spec)] = (spec, body)
    return body


def claim_spec_from(
    spec: ResourceClaimSpec, *, namespace: str, name: str, uid: str = ""
) -> ClaimSpec:
    """The allocator's record of a claim spec (also used for template-generated claims)."""
    requests, constraints, config = _body(spec)
    return ClaimSpec(
        namespace=namespace,
        name=name,
        uid=uid,
        requests=requests,
        constraints=constraints,
        config=config,
    )


def _convert_body(spec: ResourceClaimSpec) -> _Body:
    groups = []
    for r in spec.devices.requests:
        groups.append(
            RequestGroup(
                name=r.name,
                exactly=_request(r.name, "", r.exactly) if r.exactly is not None else None,
                first_available=tuple(_request(r.name, s.name, s) for s in r.first_available),
            )
        )
    return (
        tuple(groups),
        tuple(
            ConstraintSpec(tuple(c.requests), c.match_attribute, c.distinct_attribute)
            for c in spec.devices.constraints
        ),
        tuple(ConfigSpec(tuple(c.requests), _opaque(c.opaque)) for c in spec.devices.config),
    )


def claim_spec(claim: ResourceClaim) -> ClaimSpec:
    """The allocator's record of a ResourceClaim."""
    return claim_spec_from(
        claim.spec,
        namespace=claim.metadata.namespace or "",
        name=claim.metadata.name or "",
        uid=claim.metadata.uid or "",
    )


def class_spec(cls: DeviceClass) -> ClassSpec:
    """The allocator's record of a DeviceClass."""
    return ClassSpec(
        name=cls.metadata.name or "",
        selectors=_selectors(cls.spec.selectors),
        config=tuple(ConfigSpec((), _opaque(c.opaque)) for c in cls.spec.config),
        extended_resource_name=cls.spec.extended_resource_name,
    )


def device_result_json(result: DeviceResult) -> dict[str, Any]:
    """One ``results[]`` entry as Kubernetes JSON (optional keys only when set)."""
    out: dict[str, Any] = {
        "request": result.request,
        "driver": result.driver,
        "pool": result.pool,
        "device": result.device,
    }
    if result.admin_access:
        out["adminAccess"] = True
    if result.tolerations:
        out["tolerations"] = [t.to_dict() for t in result.tolerations]
    if result.binding_conditions:
        out["bindingConditions"] = list(result.binding_conditions)
    if result.binding_failure_conditions:
        out["bindingFailureConditions"] = list(result.binding_failure_conditions)
    if result.share_id is not None:
        out["shareID"] = result.share_id
    if result.consumed_capacity:
        out["consumedCapacity"] = {
            k: format_quantity(v) for k, v in result.consumed_capacity.items()
        }
    return out


def allocation_json(allocation: ClaimAllocation) -> dict[str, Any]:
    """``status.allocation`` as Kubernetes JSON."""
    out: dict[str, Any] = {
        "devices": {"results": [device_result_json(r) for r in allocation.devices]}
    }
    if allocation.config:
        out["devices"]["config"] = [
            {
                "source": c.source,
                **({"requests": list(c.requests)} if c.requests else {}),
                **({"opaque": dict(c.opaque)} if c.opaque is not None else {}),
            }
            for c in allocation.config
        ]
    if allocation.node_selector is not None:
        out["nodeSelector"] = dict(allocation.node_selector)
    return out


def _build_result_model(r: DeviceResult) -> DeviceRequestAllocationResult:
    return DeviceRequestAllocationResult.model_construct(
        request=r.request,
        driver=r.driver,
        pool=r.pool,
        device=r.device,
        admin_access=True if r.admin_access else None,
        tolerations=tuple(r.tolerations),
        binding_conditions=tuple(r.binding_conditions),
        binding_failure_conditions=tuple(r.binding_failure_conditions),
        share_id=r.share_id,
        consumed_capacity={k: format_quantity(v) for k, v in (r.consumed_capacity or {}).items()},
    )


@functools.lru_cache(maxsize=1 << 16)
def _result_model(r: DeviceResult) -> DeviceRequestAllocationResult:
    """One result entry; the models are frozen, so equal results share one (hashable
    results only: no consumed capacity, no tolerations)."""
    return _build_result_model(r)


@functools.lru_cache(maxsize=1 << 14)
def _node_selector_model(canonical_json: str) -> NodeSelector:
    """An allocation's node selector (usually one node's), validated once per content."""
    return NodeSelector.model_validate(json.loads(canonical_json))


def allocation_result(allocation: ClaimAllocation) -> AllocationResult:
    """``status.allocation`` as a model.

    Built with ``model_construct`` from the allocator's own (already valid) records; only
    the node selector and opaque config pass through validation. Equal to validating
    :func:`allocation_json` (a unit test checks it).
    """
    results = tuple(
        _result_model(r)
        if r.consumed_capacity is None and not r.tolerations
        else _build_result_model(r)
        for r in allocation.devices
    )
    config = tuple(
        DeviceAllocationConfiguration.model_construct(
            source=c.source,
            requests=tuple(c.requests),
            opaque=OpaqueDeviceConfiguration.model_validate(c.opaque)
            if c.opaque is not None
            else None,
        )
        for c in allocation.config
    )
    return AllocationResult.model_construct(
        devices=DeviceAllocationResult.model_construct(results=results, config=config),
        node_selector=(
            _node_selector_model(json.dumps(allocation.node_selector, sort_keys=True))
            if allocation.node_selector is not None
            else None
        ),
        allocation_timestamp=None,
    )


def device_results(allocation: AllocationResult) -> list[DeviceResult]:
    """The device results of an allocation model (for the cache's in-use bookkeeping)."""
    if allocation.devices is None:
        return []
    return [_device_result(r) for r in allocation.devices.results]


def _device_result(r: DeviceRequestAllocationResult) -> DeviceResult:
    return DeviceResult(
        request=r.request,
        driver=r.driver,
        pool=r.pool,
        device=r.device,
        admin_access=bool(r.admin_access),
        tolerations=tuple(r.tolerations),
        binding_conditions=tuple(r.binding_conditions),
        binding_failure_conditions=tuple(r.binding_failure_conditions),
        share_id=r.share_id,
        consumed_capacity={k: exact(v) for k, v in r.consumed_capacity.items()} or None,
    )
