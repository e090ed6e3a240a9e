"""Small clusters and scenarios for the scenario tests (written as files, as users write
them), and a replay helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator.clusters import load_cluster
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import ReplayConfig, ReplayResult, run_replay
from simulator.inputs import read_trace
from simulator.scenarios.model import cluster_path, load_scenario

RACK = "topology.tessera.io/rack"


def cluster_file(directory: Path, *, nodes: int = 4, per_rack: int = 2, mig: bool = False) -> Path:
    """A cluster spec file: ``nodes`` nodes of 64 cpu, 1Ti and 8 H100 (dynamic MIG when
    ``mig``), ``per_rack`` per rack."""
    accelerator: dict[str, Any] = {"kind": "nvidia", "model": "H100-80GB", "count": 8}
    spec: dict[str, Any] = {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "tiny"},
        "nodePools": [
            {
                "name": "gpu",
                "count": nodes,
                "node": {"cpu": "64", "memory": "1Ti"},
                "accelerator": accelerator,
                "placement": {"zone": "z", "nodesPerRack": per_rack, "racksPerBlock": 8},
            }
        ],
    }
    if mig:
        accelerator["mig"] = {"mode": "dynamic"}
        spec["featureGates"] = {"DRAPartitionableDevices": True}
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


SERVING_LWS: dict[str, Any] = {
    "kind": "LeaderWorkerSet",
    "name": "llm",
    "namespace": "serving",
    "size": 2,
    "priorityClassName": "serving",
    "topologyRequired": RACK,
    "pod": {"cpu": "8", "memory": "64Gi", "accelerator": {"gpus": 8}},
    "replicas": {"schedule": [{"at": 0, "replicas": 1}, {"at": "30m", "replicas": 2}]},
}
BATCH_GANGS: dict[str, Any] = {
    "kind": "Job",
    "name": "train",
    "namespace": "batch",
    "priorityClassName": "batch",
    "topologyRequired": RACK,
    "pod": {"cpu": "8", "memory": "64Gi", "accelerator": {"gpus": 8}},
    "arrivals": {"every": "20m"},
    "backlog": 2,
    "parallelism": 2,
    "duration": {"fixed": "50m"},
    "checkpointInterval": "10m",
}
BATCH_SMALL: dict[str, Any] = {
    "kind": "Job",
    "name": "eval",
    "namespace": "batch",
    "priorityClassName": "eval",
    "pod": {"cpu": "2", "memory": "8Gi", "accelerator": {"gpus": 1}},
    "arrivals": {"poissonPerHour": 12},
    "duration": {"exponential": {"mean": "15m"}},
}


def scenario_file(
    directory: Path,
    workloads: list[dict[str, Any]],
    *,
    duration: str = "2h",
    failures: dict[str, Any] | None = None,
    name: str = "tiny",
    cluster: Path | None = None,
) -> Path:
    """A scenario file in ``directory`` (its cluster: ``cluster`` or a fresh tiny one)."""
    cluster = cluster or cluster_file(directory)
    body: dict[str, Any] = {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": name},
        "cluster": cluster.name,
        "duration": duration,
        "priorityClasses": [
            {"name": "serving", "value": 1000},
            {"name": "batch", "value": -10},
            {"name": "eval", "value": -20},
        ],
        "workloads": workloads,
    }
    if failures:
        body["failures"] = failures
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def replay_scenario(
    path: Path,
    *,
    policy: str = "tessera",
    seed: int = 0,
    only: str | None = None,
    trace_path: Path | None = None,
) -> ReplayResult:
    """Replay the scenario at ``path`` (or, with ``trace_path``, that dump on the scenario's
    cluster) as ``tessera replay`` does."""
    loaded = load_cluster(cluster_path(load_scenario(path), path))
    trace = read_trace(trace_path or path, seed=seed, cluster=loaded)
    profile = replay_profile(policy, seed=seed, levels=loaded.levels)
    config = ReplayConfig(seed=seed, only=only)  # type: ignore[arg-type]
    return run_replay(loaded, trace, profile, config)
