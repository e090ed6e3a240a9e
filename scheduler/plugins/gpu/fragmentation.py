"""Fragmentation: the FGD score plugin (Weng et al., USENIX ATC'23).

Prefers the node whose expected GPU fragmentation, against a target workload, grows least
when the pod lands there (docs/semantics/openb-fgd.md §2-§3), with the paper's integer
truncation and GPU choice. The target workload comes from the ``workload`` argument (task
classes with weights, e.g. the "typical pods" of a trace); without it, the plugin uses the
shapes of the pods currently in the cluster (every pod weighted equally), rebuilt whenever
the node set changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.interfaces import Handle, NodeIds
from scheduler.framework.podinfo import pod_info
from scheduler.plugins.gpu.base import GpuScoreArgs, GpuScorePlugin
from scheduler.plugins.gpu.kernels import NodeView, PodRequest, Scored, fgd_scores
from scheduler.plugins.gpu.measure import FragTracker, TaskShape, WorkloadMix, typical_mix


class WorkloadClass(BaseModel):
    """One task class of the target workload."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    cpu_milli: int = Field(alias="cpuMilli", ge=0)
    gpu_milli: int = Field(alias="gpuMilli", ge=0, le=1000)
    num_gpu: int = Field(alias="numGpu", ge=0)
    gpu_spec: str = Field(default="", alias="gpuSpec", description="Allowed models, |-separated.")
    weight: float = Field(gt=0)


class FragmentationArgs(GpuScoreArgs):
    """Arguments of the Fragmentation plugin."""

    workload: tuple[WorkloadClass, ...] = Field(
        default=(), description="Target workload classes; empty = the pods in the cluster."
    )


class Fragmentation(GpuScorePlugin):
    """FGD scoring (see the module docstring)."""

    name = "Fragmentation"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        super().__init__(args, handle)
        self._mixes: dict[tuple[str, ...], WorkloadMix] = {}
        self._observed: tuple[int, WorkloadMix] | None = None
        self._trackers: dict[tuple[object, ...], FragTracker] = {}

    def parse_args(self, args: Mapping[str, Any]) -> FragmentationArgs:
        """Validate the arguments."""
        return FragmentationArgs.model_validate(dict(args))

    def mix(self, snapshot: Snapshot) -> WorkloadMix:
        """The target workload, with model ids of this snapshot's accelerator view."""
        models = snapshot.gpus.models
        assert isinstance(self.args, FragmentationArgs)
        if not self.args.workload:
            return self._observed_mix(snapshot)
        found = self._mixes.get(models)
        if found is None:
            shapes = [
                TaskShape(c.cpu_milli, c.gpu_milli, c.num_gpu, c.gpu_spec)
                for c in self.args.workload
            ]
            total = sum(c.weight for c in self.args.workload)
            found = WorkloadMix.from_shapes(
                shapes, [c.weight / total for c in self.args.workload], models
            )
            self._mixes[models] = found
        return found

    def _observed_mix(self, snapshot: Snapshot) -> WorkloadMix:
        if self._observed is not None and self._observed[0] == snapshot.node_generation:
            return self._observed[1]
        counts: dict[TaskShape, int] = {}
        for record in snapshot.pods.values():
            shape = self.held_shape(pod_info(record.pod), snapshot)
            spec = "|".join(sorted(shape.models)) if shape.models is not None else ""
            key = TaskShape(shape.cpu_milli, shape.gpu_milli, shape.num_gpu, spec)
            counts[key] = counts.get(key, 0) + 1
        if not counts:
            counts[TaskShape(0, 1000, 1, "")] = 1
        found = typical_mix(counts, 1.0, models=snapshot.gpus.models)
        self._observed = (snapshot.node_generation, found)
        return found

    def cache_key(self, shape: Any) -> tuple[Any, ...]:
        """Scores depend on the shape and on the mix (which changes with observed pods)."""
        observed = id(self._observed[1]) if self._observed is not None else 0
        return (*shape.key, observed)

    def tracker(self, snapshot: Snapshot) -> FragTracker:
        """The F_n(M) tracker of the current mix (one per mix content, kept by the plugin)."""
        mix = self.mix(snapshot)
        found = self._trackers.get(mix.key)
        if found is None:
            if len(self._trackers) >= 16:
                self._trackers.clear()
            found = FragTracker(mix)
            self._trackers[mix.key] = found
        return found

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """FGD scores and GPU picks."""
        tracker = self.tracker(snapshot)
        return fgd_scores(view, idx, pod, tracker.mix, now=tracker.values(snapshot)[idx])


PLUGINS = {Fragmentation.name: Fragmentation}
