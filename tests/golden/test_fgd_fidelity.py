"""Replay the logged Go runs of the FGD simulator through tessera's kernels, step by step.

The harness is deliberately minimal: dense arrays of the 1,213 openb GPU nodes ordered by the
seed-42 tie-break priority (`node_order_seed42.txt`; ties go to the smallest prefixed name),
the pods in the order the Go run logged them (clones `<orig>-tuned-<i>` request what `<orig>`
requests), no departures, failed pods dropped. Each step it filters with `feasible`, scores the
feasible nodes with the policy's kernel, binds the pod to the best node with the policy's GPU
choice, and compares the node (or the failure), the cluster's used GPU milli and its
fragmentation Σ_n F_n(M) with the log.
Decisions are tessera's own (free-running), so any divergence would also show in the state.

Scores depend only on the pod's shape and the node's state, so they are cached per
(shape, node) and recomputed only for nodes changed since that shape was last scored.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from scheduler.plugins.gpu.kernels import (
    NodeView,
    PodRequest,
    Scored,
    bestfit_raw,
    feasible,
    fgd_scores,
    minmax_normalize,
    pick_gpus,
    place,
)
from scheduler.plugins.gpu.measure import TaskShape, WorkloadMix, node_frag, typical_mix
from simulator.traces.openb import OpenbPod, read_nodes, read_pods

GOLDEN = Path(__file__).parent / "fgd"
TRACES = Path(__file__).parents[2] / "traces" / "openb"
MAX_GPUS = 8
CHECKED_STEPS = 2_000
FRAG_TOLERANCE = 0.01  # milli-GPU; the log rounds to 0.01

ShapeKey = tuple[int, int, int, str]


@dataclass
class Replay:
    """What a replay measured against the log."""

    steps: int = 0
    agree: int = 0
    used_agree: int = 0
    frag_agree: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass
class _Cluster:
    names: list[str]  # prefixed names, index = tie-break rank
    view: NodeView
    models: list[str]
    version: NDArray[np.int64]


@dataclass
class _ShapeCache:
    scores: NDArray[np.int64]
    gpus: list[tuple[int, ...]]
    version: NDArray[np.int64]


def _cluster() -> _Cluster:
    nodes = {n.name: n for n in read_nodes(TRACES / "openb_node_list_gpu_node.csv.gz")}
    names = (GOLDEN / "node_order_seed42.txt").read_text().split()
    ordered = [nodes[name.split("-", 1)[1]] for name in names]
    models = sorted({n.model for n in ordered if n.model is not None})
    gpu_free = np.zeros((len(ordered), MAX_GPUS), dtype=np.int32)
    for i, node in enumerate(ordered):
        gpu_free[i, : node.gpu] = 1000
    view = NodeView(
        cpu_free=np.array([n.cpu_milli for n in ordered], dtype=np.int64),
        mem_free=np.array([n.memory_mib for n in ordered], dtype=np.int64),
        gpu_free=gpu_free,
        gpu_count=np.array([n.gpu for n in ordered], dtype=np.int32),
        gpu_model=np.array(
            [-1 if n.model is None else models.index(n.model) for n in ordered], dtype=np.int32
        ),
    )
    return _Cluster(names, view, models, np.zeros(len(ordered), dtype=np.int64))


def _pods() -> dict[str, OpenbPod]:
    return {p.name: p for p in read_pods(TRACES / "openb_pod_list_default.csv.gz")}


def _mix(pods: dict[str, OpenbPod], models: list[str]) -> WorkloadMix:
    shapes = [
        (TaskShape(p.cpu_milli, p.gpu_milli, p.num_gpu, p.gpu_spec_key), 1) for p in pods.values()
    ]
    return typical_mix(shapes, 0.95, models=models)


def _log(name: str) -> list[dict[str, str]]:
    with gzip.open(GOLDEN / name, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def _request(pod: OpenbPod, models: list[str]) -> PodRequest:
    allowed = None
    if pod.gpu_spec:
        allowed = frozenset(models.index(m) for m in pod.gpu_spec if m in models)
    return PodRequest(pod.cpu_milli, pod.memory_mib, pod.gpu_milli, pod.num_gpu, allowed)


def _describe(cluster: _Cluster, node: int) -> str:
    view = cluster.view
    gpus = view.gpu_free[node, : view.gpu_count[node]].tolist()
    return f"{cluster.names[node]} cpu={view.cpu_free[node]} gpus={gpus}"


def replay(policy: str, steps: int | None = None) -> Replay:
    """Replay the first `steps` logged steps (all when None) of "fgd" or "bestfit"."""
    cluster = _cluster()
    pods = _pods()
    view = cluster.view
    mix = _mix(pods, cluster.models)
    log = _log(f"{policy}_default_seed42_placements.csv.gz")[:steps]
    rank = {name: i for i, name in enumerate(cluster.names)}
    caches: dict[ShapeKey, _ShapeCache] = {}
    kernel: Callable[[NDArray[np.intp], PodRequest], Scored]
    if policy == "fgd":

        def kernel(idx: NDArray[np.intp], req: PodRequest) -> Scored:
            return fgd_scores(view, idx, req, mix)

    elif policy == "bestfit":

        def kernel(idx: NDArray[np.intp], req: PodRequest) -> Scored:
            raw = bestfit_raw(view, idx, req)
            return Scored(raw, [pick_gpus(view.gpu_free[i], req) for i in idx])

    else:
        raise ValueError(f"replay: unknown policy {policy!r}")

    result = Replay()
    used = 0
    frag = node_frag(view.cpu_free, view.gpu_free, view.gpu_model, mix)
    for row in log:
        pod = pods[row["orig_pod"]]
        req = _request(pod, cluster.models)
        key = (pod.cpu_milli, pod.gpu_milli, pod.num_gpu, pod.gpu_spec_key)
        cand = np.flatnonzero(feasible(view, req))
        chosen: int | None = None
        gpus: tuple[int, ...] = ()
        if cand.size:
            cache = caches.get(key)
            if cache is None:
                n = view.n_nodes
                cache = _ShapeCache(
                    np.zeros(n, np.int64), [() for _ in range(n)], np.full(n, -1, np.int64)
                )
                caches[key] = cache
            stale = cand[cache.version[cand] != cluster.version[cand]]
            if stale.size:
                scored = kernel(stale, req)
                cache.scores[stale] = scored.scores
                for i, g in zip(stale, scored.gpus, strict=True):
                    cache.gpus[i] = g
                cache.version[stale] = cluster.version[stale]
            scores = cache.scores[cand]
            if policy == "bestfit":
                scores = minmax_normalize(scores)
            # Nodes are indexed by tie-break rank, so the first maximum is the reference's pick.
            chosen = int(cand[np.argmax(scores)])
            gpus = cache.gpus[chosen]
        logged = row["node"] or None
        ours = None if chosen is None else cluster.names[chosen]
        result.steps += 1
        if ours == logged:
            result.agree += 1
        elif len(result.mismatches) < 5:
            theirs = "failed" if logged is None else _describe(cluster, rank[logged])
            mine = "failed" if chosen is None else _describe(cluster, chosen)
            result.mismatches.append(
                f"step {row['step']} pod {row['pod']} {req}: log -> {theirs}; tessera -> {mine}"
            )
        if chosen is not None:
            place(view, chosen, req, gpus)
            cluster.version[chosen] += 1
            used += req.total_gpu_milli
            frag[chosen] = node_frag(
                view.cpu_free[chosen], view.gpu_free[chosen], view.gpu_model[chosen], mix
            )
        result.used_agree += used == int(row["used_gpu_milli"])
        # The log prints the cluster's fragmentation (after the step) with two decimals.
        result.frag_agree += abs(float(frag.sum()) - float(row["frag_milli"])) <= FRAG_TOLERANCE
    return result


@pytest.mark.parametrize("policy", ["fgd", "bestfit"])
def test_replay_matches_go_run(policy: str) -> None:
    """tessera picks the Go run's node (or fails the same pod) on >= 99.9% of the first 2,000
    steps, and the used-GPU and fragmentation tracks match the log."""
    result = replay(policy, CHECKED_STEPS)
    assert result.steps == CHECKED_STEPS
    assert result.agree >= 0.999 * CHECKED_STEPS, "\n".join(result.mismatches)
    assert result.used_agree >= 0.999 * CHECKED_STEPS, result.mismatches
    assert result.frag_agree >= 0.999 * CHECKED_STEPS, result.mismatches


def test_log_and_order_cover_the_trace() -> None:
    """The golden log names known pods and nodes, and clones copy an original pod."""
    pods = _pods()
    names = (GOLDEN / "node_order_seed42.txt").read_text().split()
    assert names == sorted(names) and len(set(names)) == 1213
    for policy in ("fgd", "bestfit"):
        log = _log(f"{policy}_default_seed42_placements.csv.gz")
        assert len(log) == 10_866
        assert all(row["orig_pod"] in pods for row in log)
        assert all(row["node"] in names for row in log if row["status"] == "scheduled")
        assert all(
            row["pod"].endswith("/" + row["orig_pod"]) or "-tuned-" in row["pod"] for row in log
        )
