"""Shared fixtures: a served two-rack H100 cluster and kubectl discovery."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.resources import TABLE
from simulator.apiserver.scheduling import InProcessScheduler
from simulator.apiserver.server import ApiServer
from simulator.apiserver.store import Store
from simulator.backend import SimulatedCluster
from simulator.clusters import load_cluster

SPEC = Path(__file__).resolve().parents[2] / "traces/clusters/two-rack-h100-dynamic-mig.yaml"


@dataclass
class Served:
    """A running API server over a simulated cluster."""

    server: ApiServer
    cluster: ServedCluster
    kubeconfig: Path
    scheduler: InProcessScheduler | None = None


def serve(
    tmp: Path,
    *,
    capacity: int = 10_000,
    schedule: bool = False,
    bookmarks: float = 60.0,
    rv_wait: float = 0.2,
) -> Served:
    """Start a server over the two-rack spec (templated cache); ``rv_wait`` is how long a
    request for a too-new resourceVersion waits before its 504."""
    loaded = load_cluster(SPEC, templated=True)
    cluster = ServedCluster(Store(TABLE, capacity=capacity), SimulatedCluster(loaded.cache))
    cluster.load_cluster(loaded)
    server = ApiServer(cluster, port=0, bookmark_interval=bookmarks, rv_wait=rv_wait).start()
    scheduler = InProcessScheduler(cluster).start() if schedule else None
    return Served(server, cluster, server.write_kubeconfig(tmp / "kubeconfig"), scheduler)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A served cluster with the in-process scheduler, shared by a module's tests."""
    s = serve(tmp_path_factory.mktemp("api"), schedule=True, bookmarks=0.5)
    yield s
    if s.scheduler is not None:
        s.scheduler.stop()
    s.server.stop()


def kubectl_binaries() -> list[str]:
    """kubectl binaries to test with: 1.27 and 1.33 from the Cloud SDK, else the one on PATH."""
    found = [
        str(p)
        for p in (
            Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.27"),
            Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.33"),
        )
        if p.is_file()
    ]
    if not found and shutil.which("kubectl"):
        found.append(str(shutil.which("kubectl")))
    return found
