"""ServingBatch: batch work backfills what serving leaves idle, away from serving's headroom.

tessera's serving/batch convention (docs/conventions.md): batch pods (label ``tessera.io/class:
batch`` or priority below the batch threshold) may use any free capacity, and serving takes
it back through the Preemption plugin. On top of that, a serving LeaderWorkerSet annotated
``tessera.io/headroom-replicas: "N"`` keeps *topology-shaped headroom*: room for N more
replicas (groups of ``size`` pods) inside one domain of its required level
(``exclusive-topology`` or ``tessera.io/topology-required``, else anywhere).

This plugin scores batch pods only: 0 on nodes that are part of some headroom, 100
elsewhere, so batch fills the rest of the cluster first and lands in headroom only when
nothing else fits — and then only preemptibly, since serving outranks it. Serving pods are
not scored (PreScore SKIP).

Headroom per LWS: GPUs per pod are the whole devices its worker template's claim templates
request plus its containers' ``nvidia.com/gpu``; among the domains of its level, the one
with the most free whole GPUs (DRA or device plugin: the accelerator view) is held
(preferring a domain that can take all N groups), and within it the nodes with the most free
GPUs until N x size pods fit. Recomputed once per cache generation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from scheduler.api.lws import LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION, LeaderWorkerSet
from scheduler.api.pod import Pod, pod_requests
from scheduler.cluster.gpuview import GPU_RESOURCE
from scheduler.cluster.snapshot import Snapshot
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interfaces import MAX_NODE_SCORE, Handle, NodeIds
from scheduler.framework.podinfo import TESSERA_REQUIRED, PodInfo
from scheduler.framework.status import Status

HEADROOM_ANNOTATION = "tessera.io/headroom-replicas"
GPU_MILLI = 1000


class ServingBatchArgs(BaseModel):
    """Arguments of ServingBatch."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    gpus_per_pod_default: int = Field(
        default=8,
        alias="gpusPerPodDefault",
        ge=0,
        description="GPUs per pod assumed when an LWS template's claims cannot be read.",
    )
    batch_threshold: int = Field(
        default=0,
        alias="batchThreshold",
        description=(
            "Pods with priority below this are batch. A profile takes its batch threshold "
            "from here (scheduler.plugins.configuration), so the whole profile (this plugin, "
            "Preemption, the replay's serving/batch metrics) classifies pods alike."
        ),
    )


class ServingBatch:
    """Score plugin (see the module docstring)."""

    name = "ServingBatch"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = ServingBatchArgs.model_validate(dict(args))
        self.handle = handle
        self._headroom: tuple[tuple[int, int], npt.NDArray[np.bool_]] | None = None

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Only batch pods are scored."""
        return Status.success() if pod.batch else Status.skip()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """0 on headroom nodes, 100 elsewhere (batch pods)."""
        held = self.headroom(snapshot)
        return np.where(held[nodes], 0, MAX_NODE_SCORE).astype(np.int64)

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Already 0..100."""
        return scores

    # -- headroom ----------------------------------------------------------------------------------
    def headroom(self, snapshot: Snapshot) -> npt.NDArray[np.bool_]:
        """Nodes held as headroom for serving LWS replicas (cached per cache generation)."""
        if self._headroom is not None and self._headroom[0] == (
            snapshot.cache_id,
            snapshot.generation,
        ):
            return self._headroom[1]
        held = np.zeros(snapshot.size, dtype=bool)
        gpus = snapshot.gpus
        free_gpus = (gpus.gpu_free >= GPU_MILLI).sum(axis=1)
        for lws in sorted(snapshot.leader_worker_sets.values(), key=lambda x: x.key):
            replicas = _headroom_replicas(lws)
            if replicas <= 0:
                continue
            per_pod = self._gpus_per_pod(lws, snapshot)
            size = lws.group_size
            need_pods = replicas * size
            template = lws.spec.leader_worker_template.worker_template.metadata.annotations
            key = (
                lws.metadata.annotations.get(LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION)
                or template.get(TESSERA_REQUIRED)
                or lws.metadata.annotations.get(TESSERA_REQUIRED)
            )
            candidates = self._domain_nodes(snapshot, key, free_gpus, held, per_pod * need_pods)
            if per_pod == 0:
                continue
            taken = 0
            for i in candidates:
                if taken >= need_pods:
                    break
                fits = int(free_gpus[i]) // per_pod
                if fits > 0:
                    held[i] = True
                    taken += fits
        self._headroom = ((snapshot.cache_id, snapshot.generation), held)
        return held

    def _domain_nodes(
        self,
        snapshot: Snapshot,
        key: str | None,
        free_gpus: npt.NDArray[np.int64],
        held: npt.NDArray[np.bool_],
        need_gpus: int,
    ) -> list[int]:
        """Nodes of the best domain for the headroom, most free GPUs first."""
        available = np.where(held, 0, free_gpus)
        if key is None:
            order = np.argsort(-available, kind="stable")
            return [int(i) for i in order if available[i] > 0]
        codes, _ = snapshot.label_column(key)
        best, best_free = -1, -1
        for domain in np.unique(codes[codes >= 0]).tolist():
            total = int(available[codes == domain].sum())
            enough = total >= need_gpus
            rank = (enough, total)
            if best < 0 or rank > ((best_free >= need_gpus), best_free):
                best, best_free = domain, total
        if best < 0:
            return []
        members = np.flatnonzero(codes == best)
        order = members[np.argsort(-available[members], kind="stable")]
        return [int(i) for i in order if available[i] > 0]

    def _gpus_per_pod(self, lws: LeaderWorkerSet, snapshot: Snapshot) -> int:
        """Whole devices the worker template's claim templates ask for, plus the whole GPUs
        its containers request as the extended resource ``nvidia.com/gpu``."""
        templates = self.handle.backend.claim_templates()
        namespace = lws.metadata.namespace or "default"
        worker = lws.spec.leader_worker_template.worker_template.spec
        total = pod_requests(Pod(spec=worker)).get(GPU_RESOURCE, 0)
        found = total > 0
        for ref in worker.resource_claims:
            template = templates.get(f"{namespace}/{ref.resource_claim_template_name}")
            spec = getattr(template, "spec", None)
            if spec is None:
                continue
            found = True
            for request in spec.spec.devices.requests:
                if request.exactly is not None:
                    total += request.exactly.count or 1
        return total if found else self.args.gpus_per_pod_default


def _headroom_replicas(lws: LeaderWorkerSet) -> int:
    text = lws.metadata.annotations.get(HEADROOM_ANNOTATION, "0")
    try:
        return max(int(text), 0)
    except ValueError:
        raise ValueError(
            f"LeaderWorkerSet {lws.key}: annotation {HEADROOM_ANNOTATION}: "
            f"{text!r} is not an integer"
        ) from None


PLUGINS: dict[str, type] = {ServingBatch.name: ServingBatch}
