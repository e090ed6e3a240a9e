"""What a pod asks of GPUs, in the FGD model's terms (cpu, per-GPU share q, k GPUs, models).

The FGD measure and the paper's baselines reason about "k GPUs with at least q milli free,
of these models". tessera reads that from the pod's ResourceClaims, generalised to DRA
devices:

* a request matching whole or shared GPUs (attribute ``type == "gpu"``) asks for ``count``
  GPUs with share q = its ``capacity.requests.compute`` (thousandths) or 1000;
* a request matching MIG partitions asks for one GPU with share q = the smallest matching
  partition's memory slices x 1000 / 8 (an approximation: placement geometry itself is
  checked by the exact allocator);
* the allowed models are the GPU models (``productName``) whose representative device
  matches the request's selectors — so an openb ``gpu_spec`` selector on ``productName``
  restricts models exactly as the paper's GPU-type filter does.

Requests for non-GPU devices do not count. ``firstAvailable`` requests use their first
alternative. Claims already allocated add nothing (their devices are held) — except for the
shape of a *running* pod (``allocated=True``), which is what it holds: GpuClustering's tags and
the observed workload of Fragmentation read running pods.

Extended resources count too (docs/semantics/extended-resources.md): ``nvidia.com/gpu: k``
asks for k whole GPUs of any model, whether a device plugin or DRA (DRAExtendedResource)
serves it; any other extended resource backed by a DeviceClass (with the gate on, e.g.
``deviceclass.resource.kubernetes.io/gpu.nvidia.com``) counts as a request of that class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.api.meta import ResourceList
from scheduler.api.pod import pod_claim_keys
from scheduler.cluster.gpuview import GPU_RESOURCE
from scheduler.cluster.snapshot import Snapshot
from scheduler.cluster.templates import DeviceTemplate
from scheduler.dra.allocator import MatchCache
from scheduler.dra.cel import CelError
from scheduler.dra.claims import ClaimSpec, ClassSpec, RequestSpec
from scheduler.dra.convert import claim_spec
from scheduler.framework.podinfo import PodInfo

GPU_MILLI = 1000
MEMORY_SLICES = 8


@dataclass(frozen=True, slots=True)
class GpuShape:
    """``num_gpu`` GPUs with ``gpu_milli`` each (0/0 = CPU only); ``models`` None = any."""

    cpu_milli: int
    memory: int
    gpu_milli: int
    num_gpu: int
    models: frozenset[str] | None

    @property
    def key(self) -> tuple[int, int, int, frozenset[str] | None]:
        """What scores depend on (memory only filters)."""
        return (self.cpu_milli, self.gpu_milli, self.num_gpu, self.models)


def _matches(
    cache: MatchCache, template: DeviceTemplate, kind: int, cls: ClassSpec, spec: RequestSpec
) -> bool:
    expressions = [e for e in (*cls.selectors, *spec.selectors) if e is not None]
    driver = template.driver_of_slice[template.kind_slice[kind]]
    try:
        return all(cache.matches(e, driver, template.devices[kind]) for e in expressions)
    except CelError:
        return False


def _request_shape(
    spec: RequestSpec, cls: ClassSpec, snapshot: Snapshot, cache: MatchCache
) -> tuple[int, int, set[str]] | None:
    """(share, count, models) for one request, or None when it matches no GPU."""
    models: set[str] = set()
    share = 0
    for template in snapshot.templates:
        layout = template.gpus
        if layout.count == 0:
            continue
        whole = layout.shared_kind[0] if layout.shared_kind[0] >= 0 else layout.full_kind[0]
        if whole >= 0 and _matches(cache, template, whole, cls, spec):
            models.add(layout.model)
            requested = (spec.capacity_requests or {}).get("compute")
            share = max(share, int(requested) if requested is not None else GPU_MILLI)
            continue
        for kind in layout.kinds[0]:
            if kind == whole or not _matches(cache, template, kind, cls, spec):
                continue
            slices = sum(
                1
                for _, counters in template.devices[kind].consumes
                for name in counters
                if name.startswith("memory-slice-")
            )
            fraction = slices * GPU_MILLI // MEMORY_SLICES if slices else GPU_MILLI
            models.add(layout.model)
            share = fraction if share == 0 else min(share, fraction)
    if not models:
        return None
    count = spec.count if spec.count is not None else 1
    return min(share, GPU_MILLI), count, models


def _extended_specs(extended: ResourceList, snapshot: Snapshot) -> list[RequestSpec]:
    """Requests of the DeviceClasses that back the pod's extended resources (gate on)."""
    if not snapshot.features.extended_resource:
        return []
    out = []
    for name in sorted(extended):
        found = snapshot.extended_resources.get(name)
        if found is None or name == GPU_RESOURCE or extended[name] <= 0:
            continue
        out.append(RequestSpec(name, name, "", found, mode="ExactCount", count=extended[name]))
    return out


def shape_of_claims(
    cpu: int,
    memory: int,
    claims: Sequence[ClaimSpec],
    snapshot: Snapshot,
    cache: MatchCache,
    extended: ResourceList | None = None,
) -> GpuShape:
    """The FGD task shape of a pod's resources, its unallocated claims and (from
    ``extended``, the pod's requests) its GPU-backed extended resources."""
    share, count = 0, 0
    models: set[str] | None = None
    specs = [
        spec
        for claim in claims
        for group in claim.requests
        if (spec := group.exactly or (group.first_available[0] if group.first_available else None))
        is not None
    ]
    specs.extend(_extended_specs(extended or {}, snapshot))
    for spec in specs:
        if (spec.mode or "ExactCount") != "ExactCount":
            continue
        cls = snapshot.classes.get(spec.class_name)
        if cls is None:
            continue
        found = _request_shape(spec, cls, snapshot, cache)
        if found is None:
            continue
        q, k, allowed = found
        share = max(share, q)
        count += k
        models = allowed if models is None else models & allowed
    whole = (extended or {}).get(GPU_RESOURCE, 0)
    if whole > 0:
        share = GPU_MILLI
        count += whole
    if count == 0:
        return GpuShape(cpu, memory, 0, 0, None)
    every = {t.gpus.model for t in snapshot.templates if t.gpus.count} | set(snapshot.gpus.models)
    return GpuShape(
        cpu,
        memory,
        GPU_MILLI if count > 1 else share,
        count,
        None if models is None or models >= every else frozenset(models),
    )


_SHAPES: dict[tuple[object, ...], tuple[tuple[object, ...], GpuShape]] = {}


def gpu_shape(
    pod: PodInfo, snapshot: Snapshot, cache: MatchCache, *, allocated: bool = False
) -> GpuShape:
    """The pod's FGD task shape (see the module docstring): what it still needs from its
    unallocated claims or, with ``allocated``, what all its claims ask for (a running pod).

    Cached by content: the pod's cpu/memory, the spec objects of the claims counted (claims
    generated from one template share its spec) and the cluster's device templates.
    """
    records = []
    for _, claim_key in pod_claim_keys(pod.pod):
        record = snapshot.claims.get(claim_key) if claim_key is not None else None
        if record is not None and (allocated or not record.results):
            records.append(record)
    specs = tuple(r.claim.spec for r in records)
    cpu, memory = pod.requests.get("cpu", 0), pod.requests.get("memory", 0)
    extended = {n: v for n, v in pod.requests.items() if "/" in n}
    key: tuple[object, ...] = (
        cpu,
        memory,
        tuple(id(s) for s in specs),
        tuple(sorted(extended.items())),
        snapshot.features.extended_resource,
        snapshot.node_generation,
        len(snapshot.templates),
    )
    found = _SHAPES.get(key)
    if found is not None and all(a is b for a, b in zip(found[0], specs, strict=True)):
        return found[1]
    shape = shape_of_claims(
        cpu, memory, [claim_spec(r.claim) for r in records], snapshot, cache, extended
    )
    if len(_SHAPES) > 65536:
        _SHAPES.clear()
    _SHAPES[key] = (specs, shape)
    return shape
