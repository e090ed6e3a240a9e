"""The simulated ``gpu.nvidia.com`` DRA driver: what one node's kubelet plugin would publish.

Called by :mod:`simulator.drivers.build` once per node (or once per pool for the templated form).
:func:`publish` returns the ResourceSlice *bodies* of the node's pool in order (each a dict with
``devices`` and/or ``sharedCounters``); the builder adds names, ``nodeName`` and the pool header.

Modes (per node; every GPU of the node is the same model):

* ``none`` — one full GPU device ``gpu-<minor>`` per GPU; capacity ``memory`` = framebuffer.
* ``static`` — MIG devices that already exist (a fixed layout per GPU, placed first-fit); each has
  ``uuid``, ``parentUUID``, ``profile``, the seven capacity dimensions and ``memorySlice<N>: 1`` per
  occupied memory slice. The whole GPU is not offered.
* ``dynamic`` — partitionable devices (KEP-4815): one counter set ``gpu-<minor>-counter-set`` per
  GPU and, per GPU, the full GPU plus every placement of every profile (26 devices on H100), each
  consuming its counters. Kubernetes >= 1.35 ("split" layout): counters-only slices holding at
  most 8 counter sets each, then one devices-only slice per GPU. Kubernetes 1.34 ("combined"):
  one slice per GPU with its counter set and its devices. On Ampere the full GPU is left out,
  because MIG mode cannot be toggled there without a GPU reset (the real driver announces only the
  partitions); the 7g profile still covers the whole GPU.
* ``shared`` — one device per GPU with ``allowMultipleAllocations: true`` and consumable capacity
  ``compute`` (1000 thousandths; default 1000, any integer >= 1) and ``memory`` (framebuffer;
  default 0, so a share that names only ``compute`` consumes no memory and memory is only
  enforced for shares that ask for it).

Devices inside a slice are sorted by name, as the real driver does (the scheduler takes the first
match, so name order is an implicit preference). Every API limit of ``resource.k8s.io/v1`` is kept
by splitting device lists into several slices where needed.

Identifiers are deterministic: GPU uuid = ``GPU-`` + uuid5(node name, minor); MIG uuid likewise
from (node, minor, profile, start); PCI bus ids follow an HGX board by minor; GPUs 0-3 and 4-7
sit on two PCIe roots (two NUMA nodes).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from simulator.drivers.catalog import (
    MAX_COUNTER_SETS_PER_SLICE,
    MAX_DEVICES_PER_SLICE,
    MAX_DEVICES_PER_SLICE_WITH_COUNTERS_OR_TAINTS,
    MEMORY_SLICES,
    GpuModel,
    MigProfile,
    binary_quantity,
)
from simulator.drivers.mig import Placement, all_placements, place_layout

DRIVER = "gpu.nvidia.com"
DRIVER_VERSION = "570.124.6"
CUDA_DRIVER_VERSION = "12.8.0"
BRAND = "Nvidia"
SHARED_COMPUTE_UNITS = 1000

NvidiaMode = Literal["none", "static", "dynamic", "shared"]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "devices.tessera.io")
# PCI bus ids of the eight GPUs of an HGX H100 board, by minor.
_HGX_BUS = ("1a", "2a", "3a", "5d", "9a", "ab", "ba", "db")

# Capacity name (camelCase, on devices) -> counter name (DNS style, in counter sets).
_DIMENSIONS = (
    ("copyEngines", "copy-engines"),
    ("decoders", "decoders"),
    ("encoders", "encoders"),
    ("jpegEngines", "jpeg-engines"),
    ("memory", "memory"),
    ("multiprocessors", "multiprocessors"),
    ("ofaEngines", "ofa-engines"),
)


@dataclass(frozen=True)
class NvidiaNodeConfig:
    """What the driver finds on one node: ``gpu_count`` GPUs of ``model`` in ``mode``.

    ``static_layout`` (profile names) applies to every GPU in ``static`` mode.
    ``split_counters`` selects the Kubernetes >= 1.35 slice layout for ``dynamic`` mode.
    """

    model: GpuModel
    gpu_count: int
    mode: NvidiaMode = "none"
    static_layout: tuple[str, ...] = ()
    split_counters: bool = True


# ---------------------------------------------------------------------------------------------
# Identifiers.


def gpu_uuid(node_name: str, minor: int) -> str:
    """Deterministic GPU uuid of GPU ``minor`` on ``node_name``."""
    return f"GPU-{uuid.uuid5(_NAMESPACE, f'{node_name}/gpu/{minor}')}"


def mig_uuid(node_name: str, minor: int, placement: Placement) -> str:
    """Deterministic uuid of an existing (static) MIG device."""
    key = f"{node_name}/gpu/{minor}/mig/{placement.profile.gi_profile_id}/{placement.start}"
    return f"MIG-{uuid.uuid5(_NAMESPACE, key)}"


def pci_bus_id(minor: int) -> str:
    """PCI address of GPU ``minor``: an HGX board per 8 GPUs, one PCI domain per board."""
    return f"{minor // 8:04x}:{_HGX_BUS[minor % 8]}:00.0"


def pcie_root(minor: int) -> str:
    """PCIe root of GPU ``minor``: GPUs 0-3 and 4-7 of each board on two roots (NUMA nodes)."""
    return f"pci{minor // 8:04x}:{'00' if minor % 8 < 4 else '80'}"


def profile_token(profile_name: str) -> str:
    """Profile name as used in device names: dots removed, lower case, others -> ``-``."""
    lowered = profile_name.replace(".", "").lower()
    return "".join(c if c.isascii() and (c.isalnum() or c == "-") else "-" for c in lowered)


def mig_device_name(minor: int, placement: Placement) -> str:
    """``gpu-<minor>-mig-<profile>-<giProfileId>-<start>``."""
    profile = placement.profile
    return (
        f"gpu-{minor}-mig-{profile_token(profile.name)}-{profile.gi_profile_id}-{placement.start}"
    )


def counter_set_name(minor: int) -> str:
    """Name of GPU ``minor``'s counter set in dynamic mode."""
    return f"gpu-{minor}-counter-set"


# ---------------------------------------------------------------------------------------------
# Capacities and counters.


def profile_dimensions(profile: MigProfile) -> dict[str, int]:
    """The seven capacity dimensions of a MIG profile (camelCase names; memory in bytes)."""
    return {
        "copyEngines": profile.copy_engines,
        "decoders": profile.decoders,
        "encoders": profile.encoders,
        "jpegEngines": profile.jpeg_engines,
        "memory": profile.memory_bytes,
        "multiprocessors": profile.multiprocessors,
        "ofaEngines": profile.ofa_engines,
    }


def counter_totals(model: GpuModel) -> dict[str, int]:
    """Counter-set totals of one GPU: per dimension the maximum over all profiles, plus one
    ``memory-slice-<i>`` counter of 1 per memory slice (DNS-style names, memory in bytes)."""
    totals: dict[str, int] = {}
    for camel, dns in _DIMENSIONS:
        totals[dns] = max(profile_dimensions(p)[camel] for p in model.mig_profiles)
    for index in range(MEMORY_SLICES):
        totals[f"memory-slice-{index}"] = 1
    return dict(sorted(totals.items()))


def _quantity(name: str, value: int) -> str:
    return binary_quantity(value) if name == "memory" else str(value)


def _values(amounts: dict[str, int]) -> dict[str, dict[str, str]]:
    return {name: {"value": _quantity(name, amounts[name])} for name in sorted(amounts)}


def _mig_consumption(placement: Placement) -> dict[str, int]:
    dims = profile_dimensions(placement.profile)
    amounts = {dns: dims[camel] for camel, dns in _DIMENSIONS}
    for index in placement.memory_slices:
        amounts[f"memory-slice-{index}"] = 1
    return amounts


# ---------------------------------------------------------------------------------------------
# Attributes.


def _gpu_attributes(model: GpuModel, minor: int, device_type: str) -> dict[str, dict[str, Any]]:
    attrs: dict[str, dict[str, Any]] = {
        "brand": {"string": BRAND},
        "cudaDriverVersion": {"version": CUDA_DRIVER_VERSION},
        "driverVersion": {"version": DRIVER_VERSION},
        "productName": {"string": model.product_name},
        "resource.kubernetes.io/pciBusID": {"string": pci_bus_id(minor)},
        "resource.kubernetes.io/pcieRoot": {"string": pcie_root(minor)},
        "type": {"string": device_type},
    }
    if model.architecture is not None:
        attrs["architecture"] = {"string": model.architecture}
    if model.cuda_compute_capability is not None:
        attrs["cudaComputeCapability"] = {"version": model.cuda_compute_capability}
    if model.addressing_mode is not None:
        attrs["addressingMode"] = {"string": model.addressing_mode}
    return attrs


def _sorted(attrs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return dict(sorted(attrs.items()))


def _full_gpu(node_name: str, model: GpuModel, minor: int) -> dict[str, Any]:
    attrs = _gpu_attributes(model, minor, "gpu")
    attrs["uuid"] = {"string": gpu_uuid(node_name, minor)}
    return {
        "name": f"gpu-{minor}",
        "attributes": _sorted(attrs),
        "capacity": {"memory": {"value": binary_quantity(model.memory_bytes)}},
    }


def _shared_gpu(node_name: str, model: GpuModel, minor: int) -> dict[str, Any]:
    device = _full_gpu(node_name, model, minor)
    device["capacity"] = {
        "compute": {
            "value": str(SHARED_COMPUTE_UNITS),
            "requestPolicy": {
                "default": str(SHARED_COMPUTE_UNITS),
                "validRange": {"min": "1", "step": "1"},
            },
        },
        "memory": {
            "value": binary_quantity(model.memory_bytes),
            "requestPolicy": {"default": "0", "validRange": {"min": "0"}},
        },
    }
    device["allowMultipleAllocations"] = True
    return device


def _mig_device(
    node_name: str, model: GpuModel, minor: int, placement: Placement, *, static: bool
) -> dict[str, Any]:
    attrs = _gpu_attributes(model, minor, "mig")
    attrs["parentUUID"] = {"string": gpu_uuid(node_name, minor)}
    attrs["profile"] = {"string": placement.profile.name}
    dims = profile_dimensions(placement.profile)
    capacity = {name: {"value": _quantity(name, dims[name])} for name in dims}
    if static:
        attrs["uuid"] = {"string": mig_uuid(node_name, minor, placement)}
        for index in placement.memory_slices:
            capacity[f"memorySlice{index}"] = {"value": "1"}
    device: dict[str, Any] = {
        "name": mig_device_name(minor, placement),
        "attributes": _sorted(attrs),
        "capacity": dict(sorted(capacity.items())),
    }
    if not static:
        device["consumesCounters"] = [
            {
                "counterSet": counter_set_name(minor),
                "counters": _values(_mig_consumption(placement)),
            }
        ]
    return device


def _dynamic_full_gpu(node_name: str, model: GpuModel, minor: int) -> dict[str, Any]:
    totals = counter_totals(model)
    device = _full_gpu(node_name, model, minor)
    device["capacity"] = {
        camel: {"value": _quantity(camel, totals[dns])} for camel, dns in _DIMENSIONS
    }
    device["consumesCounters"] = [
        {"counterSet": counter_set_name(minor), "counters": _values(totals)}
    ]
    return device


def _counter_set(model: GpuModel, minor: int) -> dict[str, Any]:
    return {"name": counter_set_name(minor), "counters": _values(counter_totals(model))}


# ---------------------------------------------------------------------------------------------
# Publishing.


def _by_name(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(devices, key=lambda d: str(d["name"]))


def chunk_devices(devices: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split a name-sorted device list into slices that respect the per-slice device limit
    (128, or 64 when any device consumes counters or has taints)."""
    limited = any(d.get("consumesCounters") or d.get("taints") for d in devices)
    limit = MAX_DEVICES_PER_SLICE_WITH_COUNTERS_OR_TAINTS if limited else MAX_DEVICES_PER_SLICE
    return [list(devices[i : i + limit]) for i in range(0, len(devices), limit)] or [[]]


def _dynamic_gpu_devices(node_name: str, model: GpuModel, minor: int) -> list[dict[str, Any]]:
    devices = [
        _mig_device(node_name, model, minor, placement, static=False)
        for placement in all_placements(model)
    ]
    if model.mig_toggle_without_reset:
        devices.append(_dynamic_full_gpu(node_name, model, minor))
    return _by_name(devices)


def _check(config: NvidiaNodeConfig) -> None:
    if config.gpu_count < 1:
        raise ValueError(f"{DRIVER}: gpu count {config.gpu_count}: must be at least 1")
    if config.mode in ("static", "dynamic") and not config.model.mig_capable:
        raise ValueError(
            f"{DRIVER}: MIG mode {config.mode!r} on GPU model {config.model.name}, "
            "which is not MIG-capable"
        )


def publish(node_name: str, config: NvidiaNodeConfig) -> list[dict[str, Any]]:
    """ResourceSlice bodies of ``node_name``'s pool, in publication order.

    Each body holds ``devices`` (name-sorted) and/or ``sharedCounters``. Raises ValueError for a
    GPU count below 1, a MIG mode on a model without MIG, or an unplaceable static layout.
    """
    _check(config)
    model, minors = config.model, range(config.gpu_count)
    if config.mode == "dynamic":
        if not config.split_counters:
            return [
                {
                    "sharedCounters": [_counter_set(model, minor)],
                    "devices": _dynamic_gpu_devices(node_name, model, minor),
                }
                for minor in minors
            ]
        sets = [_counter_set(model, minor) for minor in minors]
        bodies: list[dict[str, Any]] = [
            {"sharedCounters": sets[i : i + MAX_COUNTER_SETS_PER_SLICE]}
            for i in range(0, len(sets), MAX_COUNTER_SETS_PER_SLICE)
        ]
        for minor in minors:
            devices = _dynamic_gpu_devices(node_name, model, minor)
            bodies.extend({"devices": chunk} for chunk in chunk_devices(devices))
        return bodies
    if config.mode == "static":
        placements = place_layout(model, config.static_layout)
        devices = [
            _mig_device(node_name, model, minor, placement, static=True)
            for minor in minors
            for placement in placements
        ]
    elif config.mode == "shared":
        devices = [_shared_gpu(node_name, model, minor) for minor in minors]
    else:
        devices = [_full_gpu(node_name, model, minor) for minor in minors]
    return [{"devices": chunk} for chunk in chunk_devices(_by_name(devices))]


def instance_attributes(
    node_name: str, config: NvidiaNodeConfig
) -> dict[str, dict[str, dict[str, Any]]]:
    """The node-dependent attributes of every device :func:`publish` emits for ``node_name``:
    device name -> {attribute -> typed value} (``uuid`` of GPUs and static MIG devices,
    ``parentUUID`` of MIG devices). Everything else is identical on every node of a pool."""
    _check(config)
    model = config.model
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for minor in range(config.gpu_count):
        parent = {"string": gpu_uuid(node_name, minor)}
        if config.mode in ("none", "shared") or (
            config.mode == "dynamic" and model.mig_toggle_without_reset
        ):
            result[f"gpu-{minor}"] = {"uuid": parent}
        if config.mode == "dynamic":
            for placement in all_placements(model):
                result[mig_device_name(minor, placement)] = {"parentUUID": parent}
        elif config.mode == "static":
            for placement in place_layout(model, config.static_layout):
                result[mig_device_name(minor, placement)] = {
                    "parentUUID": parent,
                    "uuid": {"string": mig_uuid(node_name, minor, placement)},
                }
    return result
