"""Shared machinery of the GPU score plugins (FGD and the paper's baselines).

Each plugin scores feasible nodes with one numpy kernel of
:mod:`scheduler.plugins.gpu.kernels` over the snapshot's accelerator view. Two things are
common and live here:

* **Per-node score cache.** A node's score depends only on the pod's shape and that node's
  state, so scores are cached per shape and refreshed only for nodes whose
  ``node_version`` changed since (one node per bind in a replay). Nothing is cached across a
  node-set change. Policies that draw random numbers opt out.
* **Device choice.** With ``deviceChoice: policy`` the GPUs the kernel picked on each node are
  offered to DynamicResources through :data:`~scheduler.framework.hints.DEVICE_PREFERENCE`;
  with ``first-fit`` (default) devices are left to the allocator's upstream order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.inventory import DeviceID
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.hints import DEVICE_PREFERENCE
from scheduler.framework.interfaces import Handle, NodeIds
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.gpu.kernels import NodeView, PodRequest, Scored
from scheduler.plugins.gpu.shape import GpuShape, gpu_shape

DeviceChoice = Literal["first-fit", "policy"]
PER_POD_CACHE = 16_384
"""Shapes kept per pod key (pending and running pods; past this many the cache starts over,
so a long replay's memory does not grow with the number of pods it has seen)."""


class GpuScoreArgs(BaseModel):
    """Arguments shared by the GPU score plugins."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    device_choice: DeviceChoice = Field(
        default="first-fit",
        alias="deviceChoice",
        description=(
            "policy: the plugin also picks the GPUs (as FGD does); "
            "first-fit: the allocator's upstream order."
        ),
    )
    seed: int = Field(default=0, description="Seed of the plugin's random draws (Random policy).")


@dataclass(slots=True)
class _ShapeCache:
    versions: npt.NDArray[np.int64]
    scores: npt.NDArray[np.int64]
    gpus: list[tuple[int, ...]]


@dataclass(slots=True)
class _CycleData:
    shape: GpuShape
    request: PodRequest


class _Picks(Mapping[int, tuple[int, ...]]):
    """GPU picks of the scored nodes, read from a score cache entry without copying."""

    def __init__(self, gpus: list[tuple[int, ...]], nodes: NodeIds) -> None:
        self._gpus = gpus
        self._nodes = nodes

    def __getitem__(self, node: int) -> tuple[int, ...]:
        return self._gpus[node]

    def __iter__(self) -> Iterator[int]:
        return iter(self._nodes.tolist())

    def __len__(self) -> int:
        return len(self._nodes)


class _Preference(Mapping[int, tuple[DeviceID, ...]]):
    """Lazy node -> preferred devices, built from GPU indices only for the node asked."""

    def __init__(self, picks: Mapping[int, tuple[int, ...]], snapshot: Snapshot) -> None:
        self._picks = picks
        self._snapshot = snapshot

    def __getitem__(self, node: int) -> tuple[DeviceID, ...]:
        gpus = self._picks[node]
        devices = self._snapshot.gpu_devices(node)
        return tuple(d for g in gpus if g < len(devices) and (d := devices[g]) is not None)

    def __iter__(self) -> Iterator[int]:
        return iter(self._picks)

    def __len__(self) -> int:
        return len(self._picks)


class GpuScorePlugin:
    """Base of the GPU score plugins; subclasses set ``name`` and implement :meth:`kernel`."""

    name = "GpuScore"
    cacheable = True

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = self.parse_args(args)
        self.handle = handle
        self.rng = np.random.default_rng(self.args.seed)
        self._match = MatchCache(CelEnvironment(consumable_capacity=True))
        self._shapes: dict[str, GpuShape] = {}
        self._held: dict[str, GpuShape] = {}
        self._cache: dict[tuple[Any, ...], _ShapeCache] = {}
        self._node_generation = -1
        self._key: StateKey[_CycleData] = StateKey(self.name)

    def parse_args(self, args: Mapping[str, Any]) -> GpuScoreArgs:
        """Validate the plugin's arguments (subclasses with more args override)."""
        return GpuScoreArgs.model_validate(dict(args))

    # -- hooks for subclasses ---------------------------------------------------------------------
    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """Scores and GPU picks for candidate nodes ``idx`` (all feasible)."""
        raise TypeError(f"{type(self).__name__} must implement kernel()")

    def cache_key(self, shape: GpuShape) -> tuple[Any, ...]:
        """What the cached scores depend on besides the node (the shape, by default)."""
        return shape.key

    # -- helpers ----------------------------------------------------------------------------------
    def shape(self, pod: PodInfo, snapshot: Snapshot) -> GpuShape:
        """The pod's GPU shape (cached per pod)."""
        found = self._shapes.get(pod.key)
        if found is None:
            found = gpu_shape(pod, snapshot, self._match)
            if len(self._shapes) >= PER_POD_CACHE:
                self._shapes.clear()
            self._shapes[pod.key] = found
        return found

    def held_shape(self, pod: PodInfo, snapshot: Snapshot) -> GpuShape:
        """The GPU shape a running (or assumed) pod holds: all its claims, allocated ones
        included (cached per pod; a pod's claims never change)."""
        found = self._held.get(pod.key)
        if found is None:
            found = gpu_shape(pod, snapshot, self._match, allocated=True)
            if len(self._held) >= PER_POD_CACHE:
                self._held.clear()
            self._held[pod.key] = found
        return found

    @staticmethod
    def view(snapshot: Snapshot) -> NodeView:
        """The kernels' NodeView of a snapshot (views, no copies)."""
        gpus = snapshot.gpus
        memory = snapshot.column("memory")
        mem_free = (
            snapshot.free[:, memory]
            if memory is not None
            else np.zeros(snapshot.size, dtype=np.int64)
        )
        return NodeView(gpus.cpu_free, mem_free, gpus.gpu_free, gpus.gpu_count, gpus.gpu_model)

    @staticmethod
    def request(shape: GpuShape, snapshot: Snapshot) -> PodRequest:
        """A kernel PodRequest from a shape (model names -> this snapshot's model ids)."""
        allowed = None
        if shape.models is not None:
            index = {m: i for i, m in enumerate(snapshot.gpus.models)}
            allowed = frozenset(index[m] for m in shape.models if m in index)
        return PodRequest(shape.cpu_milli, shape.memory, shape.gpu_milli, shape.num_gpu, allowed)

    # -- extension points -------------------------------------------------------------------------
    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Compute the pod's shape once per cycle."""
        shape = self.shape(pod, snapshot)
        state.write(self._key, _CycleData(shape, self.request(shape, snapshot)))
        return Status.success()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """Kernel scores for ``nodes``, refreshing cached nodes whose state changed."""
        data = state.read(self._key)
        view = self.view(snapshot)
        picks: Mapping[int, tuple[int, ...]]
        if not self.cacheable:
            scored = self.kernel(view, nodes, data.request, snapshot)
            scores = scored.scores.astype(np.int64)
            picks = dict(zip(nodes.tolist(), scored.gpus, strict=True))
        else:
            if snapshot.node_generation != self._node_generation:
                self._cache.clear()
                self._node_generation = snapshot.node_generation
            key = self.cache_key(data.shape)
            entry = self._cache.get(key)
            if entry is None:
                size = snapshot.size
                entry = _ShapeCache(
                    np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=np.int64), [()] * size
                )
                self._cache[key] = entry
            stale = nodes[entry.versions[nodes] != snapshot.node_version[nodes]]
            if len(stale):
                scored = self.kernel(view, stale, data.request, snapshot)
                entry.scores[stale] = scored.scores
                for node, gpus in zip(stale.tolist(), scored.gpus, strict=True):
                    entry.gpus[node] = gpus
                entry.versions[stale] = snapshot.node_version[stale]
            scores = entry.scores[nodes]
            picks = _Picks(entry.gpus, nodes)
        if self.args.device_choice == "policy" and data.request.num_gpu:
            state.write(DEVICE_PREFERENCE, _Preference(picks, snapshot))
        return scores

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Kernel scores are already 0..100."""
        return scores
