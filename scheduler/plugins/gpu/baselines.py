"""The FGD paper's baseline GPU scoring policies, exactly as its simulator scores them.

BestFit, GpuPacking, GpuClustering, DotProd and Random (docs/semantics/openb-fgd.md §4): same
formulas, integer truncations, normalisation and GPU choice ("best": the tightest GPU that
fits; Random: a uniformly random GPU). Each is a Score plugin over the snapshot's
accelerator view; they differ only in their kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scheduler.api.pod import Pod
from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import Handle, NodeIds
from scheduler.framework.podinfo import PodInfo, pod_info
from scheduler.plugins.gpu.base import GpuScorePlugin
from scheduler.plugins.gpu.kernels import (
    NodeView,
    PodRequest,
    Scored,
    bestfit_raw,
    dotprod_scores,
    gpu_clustering_scores,
    gpu_packing_scores,
    gpu_tag,
    minmax_normalize,
    pick_gpus,
)

_TAGS = 9  # SHARE_TAG and 1..8 whole GPUs


class BestFit(GpuScorePlugin):
    """Least weighted leftover CPU and GPU after placement (min-max normalised)."""

    name = "BestFit"

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """Raw BestFit scores (normalised over the feasible set in :meth:`normalize`)."""
        raw = bestfit_raw(view, idx, pod)
        gpus = [pick_gpus(view.gpu_free[n], pod) for n in idx.tolist()]
        return Scored(raw, gpus)

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Min-max over the feasible nodes, as the reference's NormalizeScore."""
        return minmax_normalize(scores)


class DotProd(GpuScorePlugin):
    """Smallest dot product of the node's free vector and the pod's demand (Tetris-like)."""

    name = "DotProd"

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """DotProd scores and best-fit GPU picks."""
        return dotprod_scores(view, idx, pod)


class GpuPacking(GpuScorePlugin):
    """Partly used GPUs first, then free GPUs on used nodes, then untouched nodes."""

    name = "GpuPacking"

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """GpuPacking scores and best-fit GPU picks."""
        return gpu_packing_scores(view, idx, pod)


class GpuClustering(GpuScorePlugin):
    """Pods of the same kind (share / k whole GPUs) together."""

    name = "GpuClustering"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        super().__init__(args, handle)
        self._tags: dict[str, int | None] = {}

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """GpuClustering scores from the tags of the pods on each candidate node."""
        tags = np.zeros((view.n_nodes, _TAGS), dtype=np.int64)
        for n in idx.tolist():
            for record in snapshot.pods_on(snapshot.node_names[n]).values():
                tag = self._tag(record.key, record.pod, snapshot)
                if tag is not None and tag < _TAGS:
                    tags[n, tag] += 1
        return gpu_clustering_scores(view, idx, pod, tags)

    def _tag(self, key: str, pod: Pod, snapshot: Snapshot) -> int | None:
        """A running pod's GpuClustering tag (its shape never changes: cached per pod)."""
        if key not in self._tags:
            if len(self._tags) > 200_000:
                self._tags.clear()
            shape = self.held_shape(pod_info(pod), snapshot)
            self._tags[key] = gpu_tag(self.request(shape, snapshot))
        return self._tags[key]


class Random(GpuScorePlugin):
    """One feasible node drawn uniformly scores 100; GPUs drawn uniformly among those that fit
    on that node (the only node whose GPUs are used)."""

    name = "Random"
    cacheable = False

    def kernel(self, view: NodeView, idx: NodeIds, pod: PodRequest, snapshot: Snapshot) -> Scored:
        """A uniform draw over the candidates (from the plugin's seeded generator)."""
        scores = np.zeros(len(idx), dtype=np.int64)
        gpus: list[tuple[int, ...]] = [()] * len(idx)
        if len(idx):
            winner = int(self.rng.integers(len(idx)))
            scores[winner] = 100
            gpus[winner] = pick_gpus(view.gpu_free[idx[winner]], pod, "random", self.rng)
        return Scored(scores, gpus)


PLUGINS = {p.name: p for p in (BestFit, DotProd, GpuPacking, GpuClustering, Random)}
