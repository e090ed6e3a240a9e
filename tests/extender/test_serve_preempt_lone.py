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
    pods_and_claims,
    small_spec,
    write_cluster,
    write_objects,
)
from tests.extender.test_serve_preempt_gangs import NODES, RUNNING, Recording, _filter, _metric

SERVING = gpu_pod("serving", gpus=8, priority=1000)
BATCH_GANG = {"default/old-0", "default/old-1"}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lone")
    names = write_cluster(directory, small_spec(tmp_path_factory.mktemp("spec")))
    assert names[:3] == NODES
    write_objects(directory, "work", pods_and_claims([*RUNNING, SERVING]))
    return directory


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
        with state.lock:
            pod = state.cache.pods["default/serving"].pod.to_dict()
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/4 nodes are available: 3 cannot allocate all claims.",
        }
        pod.setdefault("status", {})["conditions"] = [condition]
        state.apply("Pod", "MODIFIED", pod)
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
