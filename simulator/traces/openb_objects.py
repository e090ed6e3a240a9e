"""openb trace rows as Kubernetes objects (documented in traces/README.md).

Mapping of one openb pod:

* a Pod with one container requesting ``cpu_milli`` and ``memory_mib``;
* if it asks for GPUs, one pod resource claim ``gpu`` generated from a
  ResourceClaimTemplate shared by every pod of the same GPU shape: one request of class
  ``gpu.nvidia.com`` for ``num_gpu`` devices;
  - a GPU-sharing pod (``gpu_milli < 1000``) asks for ``capacity.requests.compute:
    <gpu_milli>`` of one shared GPU (consumable capacity, docs/conventions.md);
  - whole-GPU pods ask for no capacity, so each device's default (all 1000) is consumed;
  - ``gpu_spec`` (allowed models, ``|``-separated) becomes the CEL selector
    ``device.attributes["gpu.nvidia.com"].productName in [...]`` — openb GPU nodes publish
    the CSV model string (``V100M16``, ``G2``, …) as ``productName``.

Objects are built with ``model_construct`` from already-validated values (the trace reader
checked every field), and pods of one shape share one (frozen) PodSpec, which keeps building
a pod cheap (a few microseconds): the replay builds openb pods on demand rather than holding
100,000 of them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from scheduler.api.dra import (
    CapacityRequirements,
    CELDeviceSelector,
    DeviceClaim,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaimSpec,
    ResourceClaimTemplate,
    ResourceClaimTemplateSpec,
)
from scheduler.api.meta import ObjectMeta
from scheduler.api.pod import (
    Container,
    Pod,
    PodResourceClaim,
    PodSpec,
    PodStatus,
    ResourceRequirements,
)
from simulator.traces.openb import OpenbPod

NAMESPACE = "openb"
GPU_CLASS = "gpu.nvidia.com"
SCHEDULER_NAME = "tessera"
_NO_STATUS = PodStatus()


def gpu_spec_selector(models: tuple[str, ...]) -> str:
    """The CEL selector restricting a request to the given GPU models."""
    listed = ", ".join(f'"{m}"' for m in dict.fromkeys(models))
    return f'device.attributes["gpu.nvidia.com"].productName in [{listed}]'


@dataclass(slots=True)
class OpenbObjects:
    """Builds Pods and their (shared) ResourceClaimTemplates for one trace."""

    namespace: str = NAMESPACE
    templates: dict[tuple[int, int, tuple[str, ...]], ResourceClaimTemplate] = field(
        default_factory=dict
    )
    specs: dict[tuple[int, int, str | None], PodSpec] = field(default_factory=dict)

    def template_for(self, pod: OpenbPod) -> ResourceClaimTemplate:
        """The claim template of a GPU pod's shape (created on first use)."""
        key = (pod.num_gpu, pod.gpu_milli, pod.gpu_spec)
        found = self.templates.get(key)
        if found is None:
            spec = "|".join(pod.gpu_spec)
            suffix = f"-{zlib.crc32(spec.encode()):08x}" if spec else ""
            name = f"gpu-{pod.num_gpu}x{pod.gpu_milli}{suffix}"
            capacity = (
                CapacityRequirements(requests={"compute": str(pod.gpu_milli)})
                if pod.gpu_milli < 1000
                else None
            )
            selectors = (
                (DeviceSelector(cel=CELDeviceSelector(expression=gpu_spec_selector(pod.gpu_spec))),)
                if pod.gpu_spec
                else ()
            )
            request = DeviceRequest(
                name="gpu",
                exactly=ExactDeviceRequest(
                    device_class_name=GPU_CLASS,
                    allocation_mode="ExactCount",
                    count=pod.num_gpu,
                    selectors=selectors,
                    capacity=capacity,
                ),
            )
            found = ResourceClaimTemplate(
                metadata=ObjectMeta(name=name, namespace=self.namespace),
                spec=ResourceClaimTemplateSpec(
                    spec=ResourceClaimSpec(devices=DeviceClaim(requests=(request,)))
                ),
            )
            self.templates[key] = found
        return found

    def spec_for(self, row: OpenbPod) -> PodSpec:
        """The (shared, frozen) PodSpec of a row's shape."""
        template = self.template_for(row).metadata.name if row.num_gpu > 0 else None
        key = (row.cpu_milli, row.memory_mib, template)
        found = self.specs.get(key)
        if found is None:
            claims: tuple[PodResourceClaim, ...] = ()
            if template is not None:
                claims = (
                    PodResourceClaim.model_construct(
                        name="gpu", resource_claim_template_name=template
                    ),
                )
            requests = {"cpu": f"{row.cpu_milli}m", "memory": f"{row.memory_mib}Mi"}
            container = Container.model_construct(
                name="main",
                resources=ResourceRequirements.model_construct(
                    requests=requests, limits={}, claims=()
                ),
            )
            found = PodSpec(
                containers=(container,),
                resource_claims=claims,
                scheduler_name=SCHEDULER_NAME,
            )
            self.specs[key] = found
        return found

    def pod(self, row: OpenbPod, name: str | None = None) -> Pod:
        """The Pod for one trace row (named ``name`` or the row's own name)."""
        pod_name = name or row.name
        meta = ObjectMeta(name=pod_name, namespace=self.namespace, uid=f"uid-{pod_name}")
        return Pod(metadata=meta, spec=self.spec_for(row), status=_NO_STATUS)
