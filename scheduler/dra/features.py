"""DRA feature gates as the allocator sees them.

kube-scheduler builds the allocator's feature set from its feature gates
(docs/semantics/dra.md §1). :class:`Features` is that set; :meth:`Features.for_version`
gives a release's defaults and :meth:`Features.from_gates` applies gate overrides by
their Kubernetes names, so a cluster spec or a case file can say exactly what its
scheduler runs with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace

# Kubernetes feature-gate name -> Features field. DeviceBindingAndStatus needs both of its
# gates; it is tracked through the two booleans below.
GATE_FIELDS: dict[str, str] = {
    "DRAAdminAccess": "admin_access",
    "DRAPrioritizedList": "prioritized_list",
    "DRAPartitionableDevices": "partitionable_devices",
    "DRADeviceTaints": "device_taints",
    "DRAConsumableCapacity": "consumable_capacity",
    "DRADeviceBindingConditions": "binding_conditions",
    "DRAResourceClaimDeviceStatus": "claim_device_status",
    "DRAExtendedResource": "extended_resource",
}

# conformance case files name features by the allocator's switch names
CASE_FEATURES: dict[str, tuple[str, ...]] = {
    "adminAccess": ("admin_access",),
    "prioritizedList": ("prioritized_list",),
    "partitionable": ("partitionable_devices",),
    "deviceTaints": ("device_taints",),
    "consumableCapacity": ("consumable_capacity",),
    "deviceBindingAndStatus": ("binding_conditions", "claim_device_status"),
    "extendedResource": ("extended_resource",),
}


@dataclass(frozen=True, slots=True)
class Features:
    """Which optional DRA behaviours the scheduler applies (all off = the stable variant).

    ``extended_resource`` (DRAExtendedResource, KEP-5004: alpha in 1.34 and 1.35, beta and
    on by default from 1.36) does not change the allocator: it makes DynamicResources
    serve extended-resource requests through a scheduler-made claim and NodeResourcesFit
    leave them to it (docs/semantics/extended-resources.md).
    """

    admin_access: bool = False
    prioritized_list: bool = False
    partitionable_devices: bool = False
    device_taints: bool = False
    consumable_capacity: bool = False
    binding_conditions: bool = False
    claim_device_status: bool = False
    extended_resource: bool = False

    @property
    def device_binding_and_status(self) -> bool:
        """Binding conditions apply only when both of their gates are on (dra.md §1)."""
        return self.binding_conditions and self.claim_device_status

    @classmethod
    def for_version(cls, version: str = "1.35") -> Features:
        """Defaults of a Kubernetes minor release (1.33, 1.34, 1.35 and later)."""
        major, minor = (int(part) for part in version.split(".")[:2])
        if (major, minor) < (1, 33):
            raise ValueError(f"kubernetesVersion {version!r}: tessera models 1.33 and later")
        if (major, minor) >= (1, 36):
            # 1.36 promotes partitionable devices, taints, consumable capacity, binding
            # conditions and DRA-backed extended resources to beta (on by default).
            return cls(True, True, True, True, True, True, True, True)
        if (major, minor) == (1, 33):
            return cls(admin_access=False, prioritized_list=False)
        return cls(admin_access=True, prioritized_list=True)

    @classmethod
    def from_gates(cls, gates: Mapping[str, bool], version: str = "1.35") -> Features:
        """Apply Kubernetes feature-gate overrides (unknown gate names are rejected)."""
        return cls.for_version(version).with_gates(gates)

    def with_gates(self, gates: Mapping[str, bool]) -> Features:
        """These features with Kubernetes feature-gate overrides applied (ValueError naming an
        unknown gate and listing the DRA gates tessera models)."""
        updates: dict[str, bool] = {}
        for gate, enabled in gates.items():
            if gate not in GATE_FIELDS:
                known = ", ".join(sorted(GATE_FIELDS))
                raise ValueError(f"featureGates.{gate}: unknown DRA feature gate (known: {known})")
            updates[GATE_FIELDS[gate]] = bool(enabled)
        return replace(self, **updates)

    @classmethod
    def from_case(cls, names: Iterable[str]) -> Features:
        """The feature list of a DRA case file: listed switches on, everything else off."""
        updates: dict[str, bool] = {}
        for name in names:
            if name not in CASE_FEATURES:
                raise ValueError(
                    f"features: unknown feature {name!r} (known: {sorted(CASE_FEATURES)})"
                )
            for field in CASE_FEATURES[name]:
                updates[field] = True
        return replace(cls(), **updates)

    def gates(self) -> dict[str, bool]:
        """The Kubernetes gate names and their values."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {gate: values[field] for gate, field in GATE_FIELDS.items()}


# Go's strconv.ParseBool, which kube-scheduler's --feature-gates flag uses for each value.
_GO_BOOL: dict[str, bool] = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def parse_feature_gates(text: str, option: str = "--feature-gates") -> dict[str, bool]:
    """``Name=true,Name2=false`` as kube-scheduler's ``--feature-gates`` flag reads it.

    The syntax of ``featureGate.Set`` in k8s.io/component-base/featuregate: comma-separated
    pairs, empty items skipped, the name and value trimmed of spaces, the value parsed by Go's
    ``strconv.ParseBool``, a later pair overriding an earlier one. Only the DRA gates tessera
    models are accepted (a stock kube-scheduler knows every Kubernetes gate; tessera rejects
    the others rather than ignore them). ValueError naming ``option`` and the offending item.
    """
    gates: dict[str, bool] = {}
    for item in text.split(","):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{option}: missing bool value for {name}")
        value = value.strip()
        if value not in _GO_BOOL:
            raise ValueError(f"{option}: invalid value of {name}={value} (expected true or false)")
        if name not in GATE_FIELDS:
            known = ", ".join(sorted(GATE_FIELDS))
            raise ValueError(
                f"{option}: {name!r} is not a DRA feature gate tessera models (known: {known})"
            )
        gates[name] = _GO_BOOL[value]
    return gates
