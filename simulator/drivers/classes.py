"""DeviceClasses that go with the simulated drivers.

The NVIDIA classes use the CEL selectors of the NVIDIA DRA driver's Helm chart, so claims written
for a real cluster select the same simulated devices. ``gpu.nvidia.com`` also maps the extended
resource ``nvidia.com/gpu`` (KEP-5004), so pods asking for ``nvidia.com/gpu: N`` are served by
DRA devices; ``tpu.google.com`` does the same for ``google.com/tpu`` (tessera's TPU model).

Called by :mod:`simulator.drivers.build`; the result is plain ``resource.k8s.io/v1`` JSON.
"""

from __future__ import annotations

from typing import Any

GPU_CLASS = "gpu.nvidia.com"
MIG_CLASS = "mig.nvidia.com"
TPU_CLASS = "tpu.google.com"


def _device_class(
    name: str, driver: str, device_type: str, extended_resource: str | None
) -> dict[str, Any]:
    expression = (
        f"device.driver == '{driver}' && device.attributes['{driver}'].type == '{device_type}'"
    )
    spec: dict[str, Any] = {"selectors": [{"cel": {"expression": expression}}]}
    if extended_resource is not None:
        spec["extendedResourceName"] = extended_resource
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": name},
        "spec": spec,
    }


def device_classes() -> list[dict[str, Any]]:
    """The three DeviceClasses, in a fixed order: gpu.nvidia.com, mig.nvidia.com, tpu.google.com."""
    return [
        _device_class(GPU_CLASS, "gpu.nvidia.com", "gpu", "nvidia.com/gpu"),
        _device_class(MIG_CLASS, "gpu.nvidia.com", "mig", None),
        _device_class(TPU_CLASS, "tpu.google.com", "tpu", "google.com/tpu"),
    ]
