"""tessera serve --preempt-gangs for a lone pod, over a snapshot, over HTTP: a pod that fits
only by preemption has the victims the profile's PostFilter chooses evicted by the webhook,
its filter waits for them (no second eviction), and it fits once they are gone; a failed
attempt seen in the API (kube-scheduler never asked the extender) starts the same
preemption."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.extender.state import ClusterState
from scheduler.framework.podinfo import pod_priority
from tests.extender.serve_harness import (
    FEATURES,
    Served,
    gpu_pod,
    small_snapshot,
)
from tests.extender.test_serve_preempt_gangs import (
    LATE,
    NODES,
    RUNNING,
    SURGE,
    SURGE_GANG,
    Recording,
    _filter,
    _metric,
)

SERVING = gpu_pod("serving", gpus=8, priority=1000)
BATCH_GANG = {"default/old-0", "default/old-1"}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory, names = small_snapshot(tmp_path_factory, "lone", [*RUNNING, SERVING])
    assert names[:3] == NODES
    return directory


@pytest.fixture(scope="module")
def gang_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory, _ = small_snapshot(tmp_path_factory, "gang", [*RUNNING, *SURGE, LATE])
    return directory


def _failed(state: ClusterState, key: str, nodes: int = 3) -> None:
    """kube-scheduler's failure handler: ``PodScheduled=False`` (``Unschedulable``), as a
    watch event (no filter request was made: no node passed its own filters)."""
    with state.lock:
        pod = state.cache.pods[key].pod.to_dict()
    pod.setdefault("status", {})["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": f"0/4 nodes are available: {nodes} cannot allocate all claims.",
        }
    ]
    state.apply("Pod", "MODIFIED", pod)


def _gone(state: ClusterState, keys: set[str]) -> None:
    """The kubelet ends the victims: pods and their claims deleted."""
    with state.lock:
        for key in keys:
            record = state.cache.claims.get(f"{key}-gpu")
            if record is not None:
                state.apply("ResourceClaim", "DELETED", record.claim.to_dict())
            state.apply("Pod", "DELETED", state.cache.pods[key].pod.to_dict())


def test_a_lone_pod_preempts_waits_and_then_fits(snapshot: Path) -> None:
    state = ClusterState(features=FEATURES)
    writer = Recording(state, terminate=False)
    served = Served(snapshot, state=state, evictions=writer)
    before = {k: r.pod for k, r in state.cache.pods.items()}
    with served:
        first = _filter(served, SERVING[0])
        assert first.node_names == ()
        count = len(writer.victims)
        assert count > 0
        waiting = f"waiting for {count} preemption victim{'s' if count > 1 else ''} to terminate"
        assert set(first.failed_nodes.values()) == {waiting}
        assert not first.failed_and_unresolvable_nodes
        victims = {v.key for v in writer.victims}
        assert all(pod_priority(before[k]) < 1000 for k in victims)
        assert victims >= BATCH_GANG or not BATCH_GANG & victims  # a victim gang only whole
        for victim in writer.victims:
            assert victim.uid == before[victim.key].metadata.uid
            assert victim.condition["reason"] == "PreemptionByScheduler"
            assert "default/serving" in victim.condition["message"]
        # the victims terminate (grace period): the filter waits, nothing is evicted twice
        for _ in range(2):
            again = _filter(served, SERVING[0])
            assert again.node_names == ()
            assert set(again.failed_nodes.values()) == {waiting}
        assert len(writer.victims) == count
        assert _metric(served, 'tessera_extender_evictions_total{result="evicted"}') == count
        # gone: the pod fits on a node its victims freed
        _gone(state, victims)
        fits = _filter(served, SERVING[0])
        freed = {v.node for v in writer.victims}
        assert fits.node_names and set(fits.node_names) <= freed
        assert len(writer.victims) == count


def test_a_failed_attempt_in_the_api_starts_the_preemption(snapshot: Path) -> None:
    state = ClusterState(features=FEATURES)
    writer = Recording(state)
    served = Served(snapshot, state=state, evictions=writer)
    with served:
        assert writer.victims == []
        _failed(state, "default/serving")
        with state.lock:
            pod = state.cache.pods["default/serving"].pod.to_dict()
        assert served.client is not None
        # the sync probe writes the evictions the events decided before it answers
        served.client.get("/sync", params={"resourceVersion": "0"})
        count = len(writer.victims)
        assert count > 0
        assert not {v.key for v in writer.victims} & set(state.cache.pods)
        # the same condition again (no new failure): nothing more
        state.apply("Pod", "MODIFIED", pod)
        assert len(writer.victims) == count
        fits = _filter(served, SERVING[0])
        assert set(fits.node_names) <= {v.node for v in writer.victims} and fits.node_names


def test_a_gang_members_failed_attempt_preempts_and_the_gang_is_planned_first(
    gang_snapshot: Path,
) -> None:
    state = ClusterState(features=FEATURES)
    writer = Recording(state, terminate=False)
    served = Served(gang_snapshot, state=state, evictions=writer)
    planner = served.webhook.binder.planner
    with served:
        _failed(state, "default/surge-0")
        assert served.client is not None
        served.client.get("/sync", params={"resourceVersion": "0"})
        count = len(writer.victims)
        assert count > 0
        assert SURGE_GANG not in planner.plans  # no plan made for a filter that never came
        # the other member fails too while the victims terminate: nothing is evicted again
        _failed(state, "default/surge-1")
        served.client.get("/sync", params={"resourceVersion": "0"})
        assert len(writer.victims) == count
        victims = {v.key for v in writer.victims}
        _gone(state, victims)
        # a failure seen after the victims are gone does not take the gang's room away
        _failed(state, "default/surge-0", nodes=2)  # a new failure
        late = _filter(served, LATE[0])
        assert late.node_names == ()
        plan = planner.plans[SURGE_GANG]
        assert sorted(plan.members) == ["default/surge-0", "default/surge-1"]
        assert len(writer.victims) == count
