"""The simulated gpu.nvidia.com driver: device names, counters, modes and slice layout."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from simulator.drivers import nvidia
from simulator.drivers.build import slice_limit_violations, wrap_slices
from simulator.drivers.catalog import A100_40GB, GB200_186GB, GPU_MODELS, H100_80GB, GpuModel

# One H100 with dynamic MIG (docs/devices.md §2.4): the device gpu-0-mig-3g40gb-9-4.
# Identifiers there are invented; PARENT stands for the parent GPU's uuid.
APPENDIX_A_DEVICE = """
name: gpu-0-mig-3g40gb-9-4
attributes:
  architecture: {string: Hopper}
  brand: {string: Nvidia}
  cudaComputeCapability: {version: "9.0.0"}
  cudaDriverVersion: {version: "12.8.0"}
  driverVersion: {version: "570.124.6"}
  parentUUID: {string: PARENT}
  profile: {string: "3g.40gb"}
  productName: {string: "NVIDIA H100 80GB HBM3"}
  resource.kubernetes.io/pciBusID: {string: "0000:1a:00.0"}
  resource.kubernetes.io/pcieRoot: {string: "pci0000:00"}
  type: {string: mig}
capacity: {copyEngines: {value: "3"}, decoders: {value: "3"}, encoders: {value: "0"},
  jpegEngines: {value: "3"}, memory: {value: "40448Mi"}, multiprocessors: {value: "60"},
  ofaEngines: {value: "0"}}
consumesCounters:
- counterSet: gpu-0-counter-set
  counters: {copy-engines: {value: "3"}, decoders: {value: "3"}, encoders: {value: "0"},
    jpeg-engines: {value: "3"}, memory: {value: "40448Mi"}, memory-slice-4: {value: "1"},
    memory-slice-5: {value: "1"}, memory-slice-6: {value: "1"}, memory-slice-7: {value: "1"},
    multiprocessors: {value: "60"}, ofa-engines: {value: "0"}}
"""

H100_DYNAMIC_NAMES = [
    "gpu-0",
    *[f"gpu-0-mig-1g10gb-19-{s}" for s in range(7)],
    *[f"gpu-0-mig-1g10gb-me-20-{s}" for s in range(7)],
    *[f"gpu-0-mig-1g20gb-15-{s}" for s in (0, 2, 4, 6)],
    *[f"gpu-0-mig-2g20gb-14-{s}" for s in (0, 2, 4)],
    "gpu-0-mig-3g40gb-9-0",
    "gpu-0-mig-3g40gb-9-4",
    "gpu-0-mig-4g40gb-5-0",
    "gpu-0-mig-7g80gb-0-0",
]


def _devices(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for body in bodies for d in body.get("devices", [])]


def _dynamic(model: GpuModel, gpus: int, *, split: bool = True) -> list[dict[str, Any]]:
    config = nvidia.NvidiaNodeConfig(model, gpus, "dynamic", split_counters=split)
    return nvidia.publish("gpu-node-a", config)


def test_h100_dynamic_gpu_has_26_devices_with_exact_names() -> None:
    """One dynamic-MIG H100 publishes 1 full GPU + 25 placements, sorted by name."""
    bodies = _dynamic(H100_80GB, 1)
    # split layout: [counters-only slice, devices-only slice]
    assert list(bodies[0]) == ["sharedCounters"]
    assert list(bodies[1]) == ["devices"]
    names = [d["name"] for d in bodies[1]["devices"]]
    # 1 + 7 + 7 + 4 + 3 + 2 + 1 + 1 = 26
    assert names == H100_DYNAMIC_NAMES
    assert names == sorted(names)


def test_h100_counter_set_totals() -> None:
    """The H100 counter set holds the 7g maxima and eight memory-slice counters of 1."""
    counter_set = _dynamic(H100_80GB, 1)[0]["sharedCounters"][0]
    assert counter_set["name"] == "gpu-0-counter-set"
    counters = {k: v["value"] for k, v in counter_set["counters"].items()}
    assert counters == {
        "multiprocessors": "132",
        "copy-engines": "8",
        "decoders": "7",
        "encoders": "0",
        "jpeg-engines": "7",
        "ofa-engines": "1",
        "memory": "81152Mi",
        **{f"memory-slice-{i}": "1" for i in range(8)},
    }


def test_appendix_a_device_is_reproduced_exactly() -> None:
    """gpu-0-mig-3g40gb-9-4 equals the reference document's YAML (uuid aside)."""
    expected = yaml.safe_load(APPENDIX_A_DEVICE.replace("PARENT", nvidia.gpu_uuid("gpu-node-a", 0)))
    devices = {d["name"]: d for d in _devices(_dynamic(H100_80GB, 1))}
    assert devices["gpu-0-mig-3g40gb-9-4"] == expected


def test_full_gpu_consumes_every_counter_in_dynamic_mode() -> None:
    """The dynamic full GPU consumes the whole counter set, so it excludes every partition."""
    bodies = _dynamic(H100_80GB, 1)
    totals = bodies[0]["sharedCounters"][0]["counters"]
    full = bodies[1]["devices"][0]
    assert full["name"] == "gpu-0"
    assert full["consumesCounters"] == [{"counterSet": "gpu-0-counter-set", "counters": totals}]
    assert full["capacity"]["memory"] == {"value": "81152Mi"}
    assert full["attributes"]["type"] == {"string": "gpu"}


@pytest.mark.parametrize("model", [GPU_MODELS[m] for m in ("A100-80GB", "H200-141GB", "B200")])
def test_every_mig_device_consumes_its_placement(model: GpuModel) -> None:
    """Each MIG device consumes its profile's values and memory-slice-i for i in its range."""
    profiles = {p.gi_profile_id: p for p in model.mig_profiles}
    for device in _devices(_dynamic(model, 2)):
        if "-mig-" not in device["name"]:
            continue
        minor = int(device["name"].split("-")[1])
        gi_id, start = (int(x) for x in device["name"].rsplit("-", 2)[1:])
        profile = profiles[gi_id]
        (entry,) = device["consumesCounters"]
        assert entry["counterSet"] == f"gpu-{minor}-counter-set"
        slices = {k for k in entry["counters"] if k.startswith("memory-slice-")}
        assert slices == {f"memory-slice-{i}" for i in range(start, start + profile.size)}
        assert entry["counters"]["multiprocessors"] == {"value": str(profile.multiprocessors)}
        assert device["attributes"]["profile"] == {"string": profile.name}


def test_ampere_dynamic_mode_omits_the_full_gpu() -> None:
    """A100 cannot toggle MIG without a reset: dynamic mode offers only the 25 partitions."""
    names = [d["name"] for d in _devices(_dynamic(A100_40GB, 1))]
    assert len(names) == 25
    assert "gpu-0" not in names
    assert "gpu-0-mig-7g40gb-0-0" in names


def test_dynamic_split_layout_for_sixteen_gpus() -> None:
    """16 GPUs: two counters-only slices of 8 sets, then one 26-device slice per GPU."""
    bodies = _dynamic(H100_80GB, 16)
    assert [len(b.get("sharedCounters", [])) for b in bodies[:2]] == [8, 8]
    assert [len(b["devices"]) for b in bodies[2:]] == [26] * 16
    slices = wrap_slices("gpu-node-a", nvidia.DRIVER, bodies)
    assert {s["spec"]["pool"]["resourceSliceCount"] for s in slices} == {18}
    assert all(not slice_limit_violations(s) for s in slices)


def test_dynamic_combined_layout_for_kubernetes_1_34() -> None:
    """Kubernetes 1.34: each GPU's slice carries its own counter set and its devices."""
    bodies = _dynamic(H100_80GB, 2, split=False)
    assert len(bodies) == 2
    assert [b["sharedCounters"][0]["name"] for b in bodies] == [
        "gpu-0-counter-set",
        "gpu-1-counter-set",
    ]
    assert all(len(b["devices"]) == 26 for b in bodies)


def test_full_gpu_mode_publishes_framebuffer_memory() -> None:
    """Mode none: gpu-<minor> devices with capacity memory = framebuffer and full attributes."""
    bodies = nvidia.publish("n1", nvidia.NvidiaNodeConfig(H100_80GB, 8, "none"))
    (body,) = bodies
    devices = body["devices"]
    assert [d["name"] for d in devices] == [f"gpu-{i}" for i in range(8)]
    first = devices[0]
    assert first["capacity"] == {"memory": {"value": "81559Mi"}}
    assert set(first["attributes"]) == {
        "architecture",
        "brand",
        "cudaComputeCapability",
        "cudaDriverVersion",
        "driverVersion",
        "productName",
        "resource.kubernetes.io/pciBusID",
        "resource.kubernetes.io/pcieRoot",
        "type",
        "uuid",
    }
    # GPUs 0-3 and 4-7 sit on two PCIe roots.
    roots = [d["attributes"]["resource.kubernetes.io/pcieRoot"]["string"] for d in devices]
    assert roots == ["pci0000:00"] * 4 + ["pci0000:80"] * 4
    assert "consumesCounters" not in first


def test_gb200_publishes_addressing_mode() -> None:
    """Coherent-memory GB200 GPUs carry the addressingMode attribute."""
    (body,) = nvidia.publish("tray", nvidia.NvidiaNodeConfig(GB200_186GB, 4, "none"))
    assert body["devices"][0]["attributes"]["addressingMode"] == {"string": "ATS"}


def test_static_mode_publishes_existing_instances_with_memory_slices() -> None:
    """Static MIG: uuid/parentUUID/profile per instance, memorySlice<N> capacity, no full GPU."""
    config = nvidia.NvidiaNodeConfig(H100_80GB, 2, "static", ("4g.40gb", "3g.40gb"))
    (body,) = nvidia.publish("n1", config)
    names = [d["name"] for d in body["devices"]]
    assert names == [
        "gpu-0-mig-3g40gb-9-4",
        "gpu-0-mig-4g40gb-5-0",
        "gpu-1-mig-3g40gb-9-4",
        "gpu-1-mig-4g40gb-5-0",
    ]
    three_g = body["devices"][0]
    assert three_g["attributes"]["uuid"]["string"].startswith("MIG-")
    assert three_g["attributes"]["parentUUID"] == {"string": nvidia.gpu_uuid("n1", 0)}
    slices = sorted(k for k in three_g["capacity"] if k.startswith("memorySlice"))
    assert slices == ["memorySlice4", "memorySlice5", "memorySlice6", "memorySlice7"]
    assert "consumesCounters" not in three_g


def test_shared_mode_uses_consumable_capacity() -> None:
    """Shared GPUs allow multiple allocations with compute 1000 and memory (default 0)."""
    (body,) = nvidia.publish("n1", nvidia.NvidiaNodeConfig(GPU_MODELS["T4"], 2, "shared"))
    device = body["devices"][0]
    assert device["allowMultipleAllocations"] is True
    assert device["capacity"] == {
        "compute": {
            "value": "1000",
            "requestPolicy": {"default": "1000", "validRange": {"min": "1", "step": "1"}},
        },
        "memory": {
            "value": "16Gi",
            "requestPolicy": {"default": "0", "validRange": {"min": "0"}},
        },
    }
    assert device["attributes"]["productName"] == {"string": "T4"}
    assert device["attributes"]["type"] == {"string": "gpu"}


def test_identifiers_are_deterministic_and_node_specific() -> None:
    """GPU uuids depend only on (node, minor); PCI ids follow the HGX layout by minor."""
    assert nvidia.gpu_uuid("a", 0) == nvidia.gpu_uuid("a", 0)
    assert nvidia.gpu_uuid("a", 0) != nvidia.gpu_uuid("b", 0)
    assert nvidia.gpu_uuid("a", 0) != nvidia.gpu_uuid("a", 1)
    assert nvidia.pci_bus_id(0) == "0000:1a:00.0"
    assert nvidia.pci_bus_id(9) == "0001:2a:00.0"
    assert nvidia.profile_token("1g.10gb+me") == "1g10gb-me"


def test_mig_mode_on_non_mig_model_is_rejected() -> None:
    """Asking for MIG on a model without MIG raises a ValueError naming the model."""
    with pytest.raises(ValueError, match="T4, which is not MIG-capable"):
        nvidia.publish("n", nvidia.NvidiaNodeConfig(GPU_MODELS["T4"], 1, "dynamic"))
