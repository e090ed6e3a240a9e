"""Accelerator accounting for the replay: who holds how much of the cluster, integrated exactly.

Who calls: :class:`simulator.experiments.replay.Replay`, at every event that changes what a
pod holds (bind, reservation of a gang member not created yet, completion, deletion,
eviction) or what the cluster offers (a node or device lost or repaired).

Units are *milli-accelerators*: 1000 per whole GPU or TPU chip. What a pod holds is the
share its claims and extended resources ask for (:func:`scheduler.plugins.gpu.shape.
shape_of_claims`: a whole GPU 1000, a shared GPU its ``compute`` thousandths, a MIG partition
its memory slices x 1000 / 8 — the same rule the cluster's GPU view uses to count free room),
plus 1000 per TPU chip (claims of the ``tpu.google.com`` class or the ``google.com/tpu``
extended resource). Capacity is what the nodes in service offer: their GPUs (the GPU view's
count) and TPU chips (devices of the TPU driver, or ``google.com/tpu`` allocatable), minus
devices taken out of service by a fault.

The :class:`Ledger` integrates capacity, serving and batch milli-seconds between events
(event-driven, not per sample), so ``serving + batch + idle = capacity`` holds exactly, with
idle defined as what is in service and held by nobody.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.cluster.cache import ClusterCache
from scheduler.dra.allocator import MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.claims import ClaimSpec
from scheduler.dra.convert import claim_spec_from
from scheduler.framework.podinfo import PodInfo
from scheduler.plugins.gpu.shape import shape_of_claims

MILLI = 1000
TPU_DRIVER = "tpu.google.com"
TPU_CLASS = "tpu.google.com"
TPU_RESOURCE = "google.com/tpu"
CLASSES = ("serving", "batch")


def percentiles(values: Sequence[float], quantiles: Sequence[int]) -> dict[str, float | None]:
    """``{"p50": ..}`` for the given quantiles (linear interpolation, 3 decimals); None when
    there are no values."""
    if len(values) == 0:
        return {f"p{q}": None for q in quantiles}
    data = np.asarray(values, dtype=np.float64)
    return {f"p{q}": round(float(np.percentile(data, q)), 3) for q in quantiles}


@dataclass(slots=True)
class Samples:
    """Percentile inputs kept as compact float arrays (8 bytes a value)."""

    values: dict[str, array[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        """Record one value of ``name``."""
        found = self.values.get(name)
        if found is None:
            found = self.values[name] = array("d")
        found.append(value)

    def get(self, name: str) -> array[float]:
        """The values of ``name`` (empty when none)."""
        return self.values.get(name, array("d"))


class UsageModel:
    """What a pod holds, in milli-accelerators (see the module docstring); memoised per
    shape (requests, claim templates, namespace)."""

    def __init__(self, cache: ClusterCache, templates: dict[str, ResourceClaimTemplate]) -> None:
        self.cache = cache
        self.templates = templates
        self._match = MatchCache(CelEnvironment(consumable_capacity=True))
        self._memo: dict[tuple[object, ...], int] = {}

    def milli(self, info: PodInfo) -> int:
        """Milli-accelerators ``info``'s pod holds once placed."""
        spec = info.pod.spec
        key = (
            info.namespace,
            tuple(sorted(info.requests.items())),
            tuple((c.name, c.resource_claim_template_name) for c in spec.resource_claims),
        )
        found = self._memo.get(key)
        if found is None:
            found = self._measure(info)
            self._memo[key] = found
        return found

    def _measure(self, info: PodInfo) -> int:
        specs: list[ClaimSpec] = []
        tpu = info.requests.get(TPU_RESOURCE, 0)
        for ref in info.pod.spec.resource_claims:
            template = self.templates.get(f"{info.namespace}/{ref.resource_claim_template_name}")
            if template is None:
                continue
            specs.append(
                claim_spec_from(template.spec.spec, namespace=info.namespace, name=ref.name)
            )
            for request in template.spec.spec.devices.requests:
                exact = request.exactly
                if exact is not None and exact.device_class_name == TPU_CLASS:
                    tpu += exact.count or 1
        requests = info.requests
        shape = shape_of_claims(
            requests.get("cpu", 0),
            requests.get("memory", 0),
            specs,
            self.cache.snapshot(),
            self._match,
            extended=requests,
        )
        return shape.gpu_milli * shape.num_gpu + tpu * MILLI


def node_capacity(cache: ClusterCache, node: str) -> int:
    """Milli-accelerators node ``node`` offers with every device in service: its GPUs (the
    GPU view) and its TPU chips."""
    i = cache.node_index[node]
    gpus = int(cache.gpu_view().gpu_count[i]) * MILLI
    labels = cache.nodes[node].metadata.labels
    chips = 0
    for pool in cache.devices.node_pools(node, labels, cache.features):
        if pool.driver == TPU_DRIVER:
            chips += sum(len(s.devices) for s in pool.slices if s.node_name in (node, None))
    allocatable = cache.allocatable[i]
    column = cache.resources.index(TPU_RESOURCE) if TPU_RESOURCE in cache.resources else -1
    if column >= 0:
        chips += int(allocatable[column])
    return gpus + chips * MILLI


class Ledger:
    """Serving and batch holdings and the capacity in service, integrated over time.

    ``hold``/``release`` are per pod key (a pod holds at most one share at a time);
    ``set_capacity`` follows faults and repairs. Every change first integrates the interval
    since the previous change at the old values.
    """

    def __init__(self, capacity: int, start: float = 0.0) -> None:
        self.capacity = capacity
        self.used = dict.fromkeys(CLASSES, 0)
        self.holders: dict[str, tuple[str, int]] = {}
        self.t = start
        self.area = {"capacity": 0.0, **dict.fromkeys(CLASSES, 0.0)}
        """Integrated milli-seconds per quantity."""

    def advance(self, now: float) -> None:
        """Integrate up to ``now`` at the current values."""
        dt = now - self.t
        if dt > 0:
            self.area["capacity"] += self.capacity * dt
            for cls in CLASSES:
                self.area[cls] += self.used[cls] * dt
            self.t = now

    def hold(self, key: str, cls: str, milli: int, now: float) -> None:
        """Pod ``key`` (class ``cls``) holds ``milli`` from ``now`` (a second hold of the same
        key replaces the first)."""
        self.advance(now)
        self.release(key, now)
        if milli <= 0:
            return
        self.holders[key] = (cls, milli)
        self.used[cls] += milli

    def release(self, key: str, now: float) -> int:
        """Pod ``key`` holds nothing from ``now``; what it held (0 if nothing)."""
        found = self.holders.pop(key, None)
        if found is None:
            return 0
        self.advance(now)
        cls, milli = found
        self.used[cls] -= milli
        return milli

    def set_capacity(self, capacity: int, now: float) -> None:
        """The capacity in service is ``capacity`` from ``now``."""
        self.advance(now)
        self.capacity = capacity

    @property
    def idle(self) -> int:
        """Milli in service held by nobody, now."""
        return self.capacity - self.used["serving"] - self.used["batch"]

    def hours(self) -> dict[str, float]:
        """Integrated accelerator-hours: capacity, serving, batch, idle."""
        scale = 1.0 / (MILLI * 3600.0)
        capacity = self.area["capacity"] * scale
        serving = self.area["serving"] * scale
        batch = self.area["batch"] * scale
        return {
            "capacity": round(capacity, 4),
            "serving": round(serving, 4),
            "batch": round(batch, 4),
            "idle": round(capacity - serving - batch, 4),
        }
