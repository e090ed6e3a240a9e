"""tessera serve --preempt-gangs over a snapshot, over HTTP: a gang that fits only by
preemption has its victims evicted by the webhook (condition, then deletion), waits for them,
and is planned before any other pod once they are gone."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scheduler.extender.evictions import InMemoryEvictions, Victim
from scheduler.extender.state import ClusterState
from scheduler.extender.wire import decode_filter_result
from scheduler.framework.podinfo import pod_priority
from tests.extender.serve_harness import (
    FEATURES,
    Served,
    filter_args,
    gpu_allocation,
    gpu_pod,
    small_snapshot,
)

Obj = dict[str, Any]
NODES = [f"h100-{i:04d}" for i in range(3)]


def _gang_notes(name: str, size: int) -> dict[str, str]:
    return {"tessera.io/gang": name, "tessera.io/gang-size": str(size)}


def _running(name: str, node: str, gpus: int, first_gpu: int, notes: dict[str, str]) -> Any:
    pod, claim = gpu_pod(name, gpus=gpus, priority=-10, node=node, annotations=notes)
    assert claim is not None
    claim["status"] = {
        "reservedFor": [{"resource": "pods", "name": name, "uid": pod["metadata"]["uid"]}],
        "allocation": gpu_allocation(node, range(first_gpu, first_gpu + gpus)),
    }
    return pod, claim


# every GPU is held by batch work: a lone pod on node 0, a two-member gang on nodes 1 and 2
# beside a lone pod on each
RUNNING = [
    _running("low-0", NODES[0], 8, 0, {}),
    _running("old-0", NODES[1], 4, 0, _gang_notes("old", 2)),
    _running("low-1", NODES[1], 4, 4, {}),
    _running("old-1", NODES[2], 4, 0, _gang_notes("old", 2)),
    _running("low-2", NODES[2], 4, 4, {}),
]
SURGE = [
    gpu_pod(f"surge-{i}", gpus=8, priority=1000, annotations=_gang_notes("surge", 2))
    for i in range(2)
]
LATE = gpu_pod("late", gpus=8, priority=-10)
SURGE_GANG = "default/tessera/surge"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory, names = small_snapshot(tmp_path_factory, "preempt", [*RUNNING, *SURGE, LATE])
    assert names[:3] == NODES
    return directory


class Recording(InMemoryEvictions):
    """The in-memory writer, recording each victim; ``terminate=False`` leaves the pods
    terminating (a grace period: the condition is set, the pod stays)."""

    def __init__(self, state: ClusterState, *, terminate: bool = True) -> None:
        super().__init__(state)
        self.terminate = terminate
        self.victims: list[Victim] = []

    def evict(self, victim: Victim) -> str:
        self.victims.append(victim)
        if self.terminate:
            return super().evict(victim)
        return ""


def _filter(served: Served, pod: Obj) -> Any:
    response = served.post("filter", filter_args(pod, [*NODES, "system-0000"]))
    assert response.status_code == 200
    return decode_filter_result(response.content)


def _metric(served: Served, name: str) -> float:
    assert served.client is not None
    for line in served.client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_victims_are_evicted_whole_and_the_gang_is_planned_first(snapshot: Path) -> None:
    state = ClusterState(features=FEATURES)
    writer = Recording(state)
    served = Served(snapshot, state=state, evictions=writer)
    before = {k: r.pod for k, r in state.cache.pods.items()}
    with served:
        first = _filter(served, SURGE[0][0])
        assert first.node_names == ()
        reasons = set(first.failed_nodes.values())
        assert len(reasons) == 1
        (reason,) = reasons
        count = len(writer.victims)
        assert reason == (f"gang {SURGE_GANG}: waiting for {count} preemption victims to terminate")
        victims = {v.key for v in writer.victims}
        # strictly lower priority, and a victim gang only whole
        assert all(pod_priority(before[k]) < 1000 for k in victims)
        assert {"default/old-0", "default/old-1"} <= victims or not (
            {"default/old-0", "default/old-1"} & victims
        )
        for victim in writer.victims:
            assert victim.uid == before[victim.key].metadata.uid
            assert victim.condition["type"] == "DisruptionTarget"
            assert victim.condition["status"] == "True"
            assert victim.condition["reason"] == "PreemptionByScheduler"
            assert "default/surge-0" in victim.condition["message"]
            assert SURGE_GANG in victim.condition["message"]
        # the in-memory writer deleted them before the filter answered
        assert not victims & set(state.cache.pods)
        for key in victims:  # their (named) claims: deallocated, no longer reserved
            claim = state.cache.claims[f"{key}-gpu"].claim
            assert claim.status.allocation is None and not claim.status.reserved_for
        assert _metric(served, 'tessera_extender_evictions_total{result="evicted"}') == count
        assert _metric(served, 'tessera_extender_gang_preemptions_total{result="started"}') == 1

        # a lower-priority pod filtered next finds the room taken: the gang is planned first
        late = _filter(served, LATE[0])
        assert late.node_names == ()
        plan = served.webhook.binder.planner.plans[SURGE_GANG]
        planned = {key: m.node for key, m in plan.members.items()}
        assert sorted(planned) == ["default/surge-0", "default/surge-1"]
        assert _metric(served, 'tessera_extender_gang_preemptions_total{result="completed"}') == 1

        # each member's filter passes its planned node; nothing more is evicted
        for pod, _ in SURGE:
            key = f"default/{pod['metadata']['name']}"
            assert _filter(served, pod).node_names == (planned[key],)
        assert len(writer.victims) == count


def test_terminating_victims_are_not_evicted_again(snapshot: Path) -> None:
    state = ClusterState(features=FEATURES)
    writer = Recording(state, terminate=False)
    served = Served(snapshot, state=state, evictions=writer)
    with served:
        first = _filter(served, SURGE[0][0])
        count = len(writer.victims)
        assert count > 0 and first.node_names == ()
        waiting = f"gang {SURGE_GANG}: waiting for {count} preemption victims to terminate"
        for _ in range(2):
            for pod, _ in SURGE:
                again = _filter(served, pod)
                assert again.node_names == ()
                assert set(again.failed_nodes.values()) == {waiting}
        assert len(writer.victims) == count  # no second eviction while they terminate
        assert _metric(served, 'tessera_extender_evictions_total{result="evicted"}') == count
        # the kubelet ends them: the gang plans on its next filter
        for victim in writer.victims:
            with state.lock:
                pod = state.cache.pods[victim.key].pod
                for claim in [f"{victim.key}-gpu"]:
                    record = state.cache.claims.get(claim)
                    if record is not None:
                        state.apply("ResourceClaim", "DELETED", record.claim.to_dict())
                state.apply("Pod", "DELETED", pod.to_dict())
        planned = _filter(served, SURGE[1][0])
        assert len(planned.node_names) == 1
        assert SURGE_GANG in served.webhook.binder.planner.plans
        assert len(writer.victims) == count


class SlowFirst(InMemoryEvictions):
    """The in-memory writer run as the API writer runs (in worker threads), the first
    eviction slower than the rest; records the order the evictions complete in."""

    blocking = True

    def __init__(self, state: ClusterState) -> None:
        super().__init__(state)
        self.written: list[str] = []
        self._calls = 0
        self._lock = threading.Lock()

    def evict(self, victim: Victim) -> str:
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            time.sleep(0.3)
        error = super().evict(victim)
        with self._lock:
            self.written.append(victim.key)
        return error


def test_victims_are_evicted_one_at_a_time_in_the_planners_order(snapshot: Path) -> None:
    # each victim's controller recreates it as its deletion arrives, and equal-priority
    # replacements queue in creation order: the deletions' order must not be a thread race
    state = ClusterState(features=FEATURES)
    writer = SlowFirst(state)
    served = Served(snapshot, state=state, evictions=writer)
    with served:
        first = _filter(served, SURGE[0][0])
        assert first.node_names == ()
        assert len(writer.written) >= 2
        assert writer.written == sorted(writer.written)
