"""Workload scenarios: a schema (:mod:`.model`), demand curves and autoscaling
(:mod:`.demand`), the seeded trace generator (:mod:`.generate`) and the renderer to
Kubernetes objects (:mod:`.render`). :func:`scenario_trace` is the one entry point the
readers use."""

from __future__ import annotations

from pathlib import Path

from simulator.clusters import LoadedCluster, load_cluster
from simulator.scenarios.generate import generate
from simulator.scenarios.model import Scenario, cluster_path, is_scenario, load_scenario
from simulator.traces.model import Trace

__all__ = ["Scenario", "is_scenario", "load_scenario", "scenario_trace"]


def scenario_trace(
    path: str | Path, *, seed: int = 0, cluster: LoadedCluster | None = None
) -> Trace:
    """The trace of the scenario file ``path`` for ``seed``, on ``cluster`` (default: the
    scenario's own cluster spec); ValueError naming the file for bad input."""
    scenario = load_scenario(path)
    if cluster is None:
        cluster = load_cluster(cluster_path(scenario, path))
    return generate(scenario, seed, cluster, name=Path(path).name)
