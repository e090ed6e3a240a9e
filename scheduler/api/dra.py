"""``resource.k8s.io/v1`` objects: DeviceClass, ResourceSlice, ResourceClaim, ResourceClaimTemplate.

Shapes follow ``k8s.io/api/resource/v1`` (1.35); docs/semantics/dra.md §2 lists every field.
Older versions (``v1beta1``, ``v1beta2``) are converted to these shapes by
:mod:`scheduler.api.conversion` before validation.

The models deliberately accept objects the API server would reject, because the allocator
must report them the way upstream does: an empty selector ``{}``, an empty
``deviceClassName``, ``allocationMode: future-mode``, a constraint with neither attribute,
an attribute with no typed value, a taint with an unknown effect. Optional fields keep
"absent" (``None``) apart from their zero value where upstream distinguishes them:
``count`` and ``allocationMode`` are ``None`` when absent (the allocator applies the
defaults ``ExactCount`` and 1), and ``adminAccess: false`` is not the same as no
``adminAccess`` (upstream rejects the former when the gate is off).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .conversion import DRA_API_VERSION, DRA_GROUP, needs_conversion, to_v1
from .meta import (
    K8sModel,
    KubeObject,
    Loose,
    ObjectMeta,
    Quantity,
    QuantityMap,
    StrictBool,
    StrictInt,
    Timestamp,
)
from .selectors import NodeSelector
from .taints import DeviceTaint, DeviceToleration

__all__ = [
    "DRA_API_VERSION",
    "DRA_GROUP",
    "AllocatedDeviceStatus",
    "AllocationResult",
    "CELDeviceSelector",
    "CapacityRequestPolicy",
    "CapacityRequestPolicyRange",
    "CapacityRequirements",
    "Counter",
    "CounterSet",
    "Device",
    "DeviceAllocationConfiguration",
    "DeviceAllocationResult",
    "DeviceAttribute",
    "DeviceCapacity",
    "DeviceClaim",
    "DeviceClaimConfiguration",
    "DeviceClass",
    "DeviceClassConfiguration",
    "DeviceClassSpec",
    "DeviceConstraint",
    "DeviceCounterConsumption",
    "DeviceRequest",
    "DeviceRequestAllocationResult",
    "DeviceSelector",
    "DeviceSubRequest",
    "DeviceTaintRule",
    "DeviceTaintRuleSpec",
    "DeviceTaintSelector",
    "ExactDeviceRequest",
    "NetworkDeviceData",
    "OpaqueDeviceConfiguration",
    "ResourceClaim",
    "ResourceClaimConsumerReference",
    "ResourceClaimSpec",
    "ResourceClaimStatus",
    "ResourceClaimTemplate",
    "ResourceClaimTemplateSpec",
    "ResourcePool",
    "ResourceSlice",
    "ResourceSliceSpec",
]


class _DraObject(KubeObject):
    """Base of the top-level DRA kinds: converts ``v1beta1``/``v1beta2`` input to ``v1``."""

    @model_validator(mode="before")
    @classmethod
    def _convert_older_versions(cls, data: Any) -> Any:
        return to_v1(data) if needs_conversion(data) else data


# --- shared pieces -------------------------------------------------------------------------


class CELDeviceSelector(K8sModel):
    """``cel: {expression}``; an empty expression loads (the allocator reports it)."""

    expression: str = ""


class DeviceSelector(K8sModel):
    """One selector; ``{}`` (no ``cel``) loads and is a fatal allocator error upstream."""

    cel: CELDeviceSelector | None = None


class OpaqueDeviceConfiguration(K8sModel):
    """``opaque: {driver, parameters}``; parameters are driver-defined JSON, kept as is."""

    driver: str = ""
    parameters: Loose | None = None


# --- DeviceClass ---------------------------------------------------------------------------


class DeviceClassConfiguration(K8sModel):
    """``spec.config[]`` of a DeviceClass."""

    opaque: OpaqueDeviceConfiguration | None = None


class DeviceClassSpec(K8sModel):
    """Selectors (ANDed with each request's), config, and the DRA-backed extended resource."""

    selectors: tuple[DeviceSelector, ...] = Field(default_factory=tuple)
    config: tuple[DeviceClassConfiguration, ...] = Field(default_factory=tuple)
    extended_resource_name: str | None = None


class DeviceClass(_DraObject):
    """Cluster-scoped DeviceClass."""

    api_version: str = DRA_API_VERSION
    kind: str = "DeviceClass"
    spec: DeviceClassSpec = Field(default_factory=DeviceClassSpec)


# --- ResourceSlice -------------------------------------------------------------------------


class DeviceAttribute(K8sModel):
    """``{int | bool | string | version}``; exactly one is set in valid objects.

    An attribute with none set loads; :attr:`value` is then ``None`` (upstream's CEL
    conversion fails on it).
    """

    int_value: StrictInt | None = Field(default=None, alias="int")
    bool_value: StrictBool | None = Field(default=None, alias="bool")
    string_value: str | None = Field(default=None, alias="string")
    version_value: str | None = Field(default=None, alias="version")

    @property
    def value(self) -> int | bool | str | None:
        """The typed value, checked in upstream's order (int, bool, string, version)."""
        for candidate in (self.int_value, self.bool_value, self.string_value):
            if candidate is not None:
                return candidate
        return self.version_value

    @property
    def type_name(self) -> str | None:
        """``"int"``, ``"bool"``, ``"string"``, ``"version"`` or ``None``; two attributes are
        equal for matchAttribute only with the same type and value."""
        for name, candidate in (
            ("int", self.int_value),
            ("bool", self.bool_value),
            ("string", self.string_value),
            ("version", self.version_value),
        ):
            if candidate is not None:
                return name
        return None


class CapacityRequestPolicyRange(K8sModel):
    """``validRange: {min, max, step}`` (``min`` is required by the API)."""

    min: Quantity | None = None
    max: Quantity | None = None
    step: Quantity | None = None


class CapacityRequestPolicy(K8sModel):
    """How shares of a multi-allocatable device's capacity are requested."""

    default: Quantity | None = None
    valid_values: tuple[Quantity, ...] = Field(default_factory=tuple)
    valid_range: CapacityRequestPolicyRange | None = None


class DeviceCapacity(K8sModel):
    """``capacity.<name>: {value, requestPolicy}``."""

    value: Quantity = "0"
    request_policy: CapacityRequestPolicy | None = None


class Counter(K8sModel):
    """``{value}`` inside counter sets and counter consumptions."""

    value: Quantity = "0"


class CounterSet(K8sModel):
    """``spec.sharedCounters[]``: a named set of counters, pool-wide (1.35)."""

    name: str = ""
    counters: dict[str, Counter] = Field(default_factory=dict)


class DeviceCounterConsumption(K8sModel):
    """``consumesCounters[]``: what a device draws from one counter set."""

    counter_set: str = ""
    counters: dict[str, Counter] = Field(default_factory=dict)


class Device(K8sModel):
    """One device of a ResourceSlice (``v1`` shape: no ``basic`` wrapper)."""

    name: str = ""
    attributes: dict[str, DeviceAttribute] = Field(default_factory=dict)
    capacity: dict[str, DeviceCapacity] = Field(default_factory=dict)
    consumes_counters: tuple[DeviceCounterConsumption, ...] = Field(default_factory=tuple)
    node_name: str | None = None
    node_selector: NodeSelector | None = None
    all_nodes: StrictBool | None = None
    taints: tuple[DeviceTaint, ...] = Field(default_factory=tuple)
    binds_to_node: StrictBool | None = None
    binding_conditions: tuple[str, ...] = Field(default_factory=tuple)
    binding_failure_conditions: tuple[str, ...] = Field(default_factory=tuple)
    allow_multiple_allocations: StrictBool | None = None


class ResourcePool(K8sModel):
    """``spec.pool``: name, generation, and the number of slices making up the pool."""

    name: str = ""
    generation: StrictInt = 0
    resource_slice_count: StrictInt = 0


class ResourceSliceSpec(K8sModel):
    """A slice publishes devices (or counter sets) of one pool of one driver.

    Node selection: exactly one of ``nodeName``, ``nodeSelector``, ``allNodes``,
    ``perDeviceNodeSelection`` in valid objects; all are ``None`` when absent.
    """

    driver: str = ""
    pool: ResourcePool = Field(default_factory=ResourcePool)
    node_name: str | None = None
    node_selector: NodeSelector | None = None
    all_nodes: StrictBool | None = None
    per_device_node_selection: StrictBool | None = None
    devices: tuple[Device, ...] = Field(default_factory=tuple)
    shared_counters: tuple[CounterSet, ...] = Field(default_factory=tuple)


class ResourceSlice(_DraObject):
    """Cluster-scoped ResourceSlice."""

    api_version: str = DRA_API_VERSION
    kind: str = "ResourceSlice"
    spec: ResourceSliceSpec = Field(default_factory=ResourceSliceSpec)

    @property
    def pool_id(self) -> tuple[str, str]:
        """``(driver, pool name)``: the identity of the pool this slice belongs to."""
        return (self.spec.driver, self.spec.pool.name)


# --- ResourceClaim spec --------------------------------------------------------------------


class CapacityRequirements(K8sModel):
    """``capacity: {requests: {name: quantity}}`` of a request (consumable capacity)."""

    requests: QuantityMap = Field(default_factory=dict)


class ExactDeviceRequest(K8sModel):
    """``requests[].exactly``. ``allocationMode``/``count`` are ``None`` when absent
    (defaults ``ExactCount``/1 are the allocator's business)."""

    device_class_name: str = ""
    selectors: tuple[DeviceSelector, ...] = Field(default_factory=tuple)
    allocation_mode: str | None = None
    count: StrictInt | None = None
    admin_access: StrictBool | None = None
    tolerations: tuple[DeviceToleration, ...] = Field(default_factory=tuple)
    capacity: CapacityRequirements | None = None


class DeviceSubRequest(K8sModel):
    """``requests[].firstAvailable[]``: an alternative (no ``adminAccess``)."""

    name: str = ""
    device_class_name: str = ""
    selectors: tuple[DeviceSelector, ...] = Field(default_factory=tuple)
    allocation_mode: str | None = None
    count: StrictInt | None = None
    tolerations: tuple[DeviceToleration, ...] = Field(default_factory=tuple)
    capacity: CapacityRequirements | None = None


class DeviceRequest(K8sModel):
    """``spec.devices.requests[]``: ``exactly`` or ``firstAvailable`` (both load)."""

    name: str = ""
    exactly: ExactDeviceRequest | None = None
    first_available: tuple[DeviceSubRequest, ...] = Field(default_factory=tuple)


class DeviceConstraint(K8sModel):
    """``constraints[]``; empty ``requests`` means every request of the claim."""

    requests: tuple[str, ...] = Field(default_factory=tuple)
    match_attribute: str | None = None
    distinct_attribute: str | None = None


class DeviceClaimConfiguration(K8sModel):
    """``spec.devices.config[]``; empty ``requests`` means every request."""

    requests: tuple[str, ...] = Field(default_factory=tuple)
    opaque: OpaqueDeviceConfiguration | None = None


class DeviceClaim(K8sModel):
    """``spec.devices``."""

    requests: tuple[DeviceRequest, ...] = Field(default_factory=tuple)
    constraints: tuple[DeviceConstraint, ...] = Field(default_factory=tuple)
    config: tuple[DeviceClaimConfiguration, ...] = Field(default_factory=tuple)


class ResourceClaimSpec(K8sModel):
    """``spec`` of a ResourceClaim (and ``spec.spec`` of a template)."""

    devices: DeviceClaim = Field(default_factory=DeviceClaim)


# --- ResourceClaim status ------------------------------------------------------------------


class DeviceRequestAllocationResult(K8sModel):
    """``allocation.devices.results[]``; ``request`` is ``req`` or ``req/sub``."""

    request: str = ""
    driver: str = ""
    pool: str = ""
    device: str = ""
    admin_access: StrictBool | None = None
    tolerations: tuple[DeviceToleration, ...] = Field(default_factory=tuple)
    binding_conditions: tuple[str, ...] = Field(default_factory=tuple)
    binding_failure_conditions: tuple[str, ...] = Field(default_factory=tuple)
    share_id: str | None = Field(default=None, alias="shareID")
    consumed_capacity: QuantityMap = Field(default_factory=dict)


class DeviceAllocationConfiguration(K8sModel):
    """``allocation.devices.config[]``; ``source`` is ``FromClass`` or ``FromClaim``."""

    source: str = ""
    requests: tuple[str, ...] = Field(default_factory=tuple)
    opaque: OpaqueDeviceConfiguration | None = None


class DeviceAllocationResult(K8sModel):
    """``allocation.devices``."""

    results: tuple[DeviceRequestAllocationResult, ...] = Field(default_factory=tuple)
    config: tuple[DeviceAllocationConfiguration, ...] = Field(default_factory=tuple)


class AllocationResult(K8sModel):
    """``status.allocation``; no ``nodeSelector`` means usable from every node."""

    devices: DeviceAllocationResult | None = None
    node_selector: NodeSelector | None = None
    allocation_timestamp: Timestamp | None = None


class ResourceClaimConsumerReference(K8sModel):
    """``status.reservedFor[]`` (``apiGroup`` empty for pods)."""

    api_group: str | None = None
    resource: str = ""
    name: str = ""
    uid: str = ""


class NetworkDeviceData(K8sModel):
    """``status.devices[].networkData``."""

    interface_name: str | None = None
    ips: tuple[str, ...] = Field(default_factory=tuple)
    hardware_address: str | None = None


class AllocatedDeviceStatus(K8sModel):
    """``status.devices[]``: driver-reported device state (conditions kept loosely)."""

    driver: str = ""
    pool: str = ""
    device: str = ""
    share_id: str | None = Field(default=None, alias="shareID")
    conditions: tuple[Loose, ...] = Field(default_factory=tuple)
    data: Loose | None = None
    network_data: NetworkDeviceData | None = None


class ResourceClaimStatus(K8sModel):
    """``status`` of a ResourceClaim."""

    allocation: AllocationResult | None = None
    reserved_for: tuple[ResourceClaimConsumerReference, ...] = Field(default_factory=tuple)
    devices: tuple[AllocatedDeviceStatus, ...] = Field(default_factory=tuple)


class ResourceClaim(_DraObject):
    """Namespaced ResourceClaim."""

    api_version: str = DRA_API_VERSION
    kind: str = "ResourceClaim"
    spec: ResourceClaimSpec = Field(default_factory=ResourceClaimSpec)
    status: ResourceClaimStatus = Field(default_factory=ResourceClaimStatus)


class ResourceClaimTemplateSpec(K8sModel):
    """``spec`` of a template: the metadata and spec stamped into each generated claim."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ResourceClaimSpec = Field(default_factory=ResourceClaimSpec)


class ResourceClaimTemplate(_DraObject):
    """Namespaced ResourceClaimTemplate."""

    api_version: str = DRA_API_VERSION
    kind: str = "ResourceClaimTemplate"
    spec: ResourceClaimTemplateSpec = Field(default_factory=ResourceClaimTemplateSpec)


DEVICE_TAINT_RULE_API_VERSION = f"{DRA_GROUP}/v1alpha3"


class DeviceTaintSelector(K8sModel):
    """``spec.deviceSelector`` of a DeviceTaintRule: the devices the taint applies to (every
    set field must match)."""

    device_class_name: str | None = None
    driver: str | None = None
    pool: str | None = None
    device: str | None = None


class DeviceTaintRuleSpec(K8sModel):
    """``spec`` of a DeviceTaintRule: a selector and one taint."""

    device_selector: DeviceTaintSelector | None = None
    taint: DeviceTaint = Field(default_factory=DeviceTaint)


class DeviceTaintRule(KubeObject):
    """Cluster-scoped DeviceTaintRule (``resource.k8s.io`` v1, v1beta2 or v1alpha3; feature
    DRADeviceTaints):
    adds one taint to every device its selector matches, as if the driver had published it.
    The simulator reads a rule in a trace as a device fault (``simulator/traces/dump.py``)."""

    api_version: str = DEVICE_TAINT_RULE_API_VERSION
    kind: str = "DeviceTaintRule"
    spec: DeviceTaintRuleSpec = Field(default_factory=DeviceTaintRuleSpec)
