"""tessera serve --preempt-gangs weighs the work each victim would lose, as the native
planner does: how long it has run since its ``status.startTime`` (pods read from an API
server have no bind time in the cache), against the cluster's "now" — the wall clock, or a
served replay's virtual time told by the sync probe (``GET /sync?...&time=T``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scheduler.extender.state import ClusterState
from tests.extender.serve_harness import (
    FEATURES,
    Served,
    gpu_allocation,
    gpu_pod,
    small_snapshot,
)
from tests.extender.test_serve_preempt_gangs import NODES, Recording, _filter

NOW = "2020-01-01T10:00:00Z"
"""The replay's time the sync probe tells the webhook (years before any wall clock)."""


def _running(name: str, node: str, gpus: int, first_gpu: int, *, priority: int, start: str) -> Any:
    pod, claim = gpu_pod(name, gpus=gpus, priority=priority, node=node)
    assert claim is not None
    pod["status"]["startTime"] = start
    claim["status"] = {
        "reservedFor": [{"resource": "pods", "name": name, "uid": pod["metadata"]["uid"]}],
        "allocation": gpu_allocation(node, range(first_gpu, first_gpu + gpus)),
    }
    return pod, claim


# node 0: one batch pod running for 10 h; node 1: two batch pods started a minute ago;
# node 2: serving work (not a victim). Evicting the one pod costs less by the pod count alone;
# by the work lost (10 h against 2 x 1 min) the two recent ones are the cheaper victims.
RUNNING = [
    _running("long", NODES[0], 8, 0, priority=-10, start="2020-01-01T00:00:00Z"),
    _running("recent-a", NODES[1], 4, 0, priority=-10, start="2020-01-01T09:59:00Z"),
    _running("recent-b", NODES[1], 4, 4, priority=-10, start="2020-01-01T09:59:00Z"),
    _running("serving-0", NODES[2], 8, 0, priority=1000, start="2020-01-01T00:00:00Z"),
]
SERVING = gpu_pod("serving-1", gpus=8, priority=1000)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory, names = small_snapshot(tmp_path_factory, "work", [*RUNNING, SERVING])
    assert names[:3] == NODES
    return directory


def test_the_victims_are_those_losing_the_least_work_by_the_told_time(snapshot: Path) -> None:
    state = ClusterState(features=FEATURES)
    writer = Recording(state, terminate=False)
    with Served(snapshot, state=state, evictions=writer) as served:
        assert served.client is not None
        served.client.get("/sync", params={"resourceVersion": "0", "time": NOW})
        assert state.clock.told
        first = _filter(served, SERVING[0])
        assert first.node_names == ()
        assert {v.key for v in writer.victims} == {"default/recent-a", "default/recent-b"}
        # the victims' DisruptionTarget condition is stamped with the cluster's time too
        assert {v.condition["lastTransitionTime"] for v in writer.victims} == {NOW}


def test_a_bad_time_in_the_sync_probe_is_a_400(snapshot: Path) -> None:
    state = ClusterState(features=FEATURES)
    with Served(snapshot, state=state) as served:
        assert served.client is not None
        response = served.client.get("/sync", params={"resourceVersion": "0", "time": "noon"})
        assert response.status_code == 400
        assert "RFC 3339" in response.text
        assert not state.clock.told
