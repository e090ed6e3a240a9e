"""A replay played with an extender: its read-only API takes a preempting extender's writes —
the victim's DisruptionTarget condition (pods/status) and its DELETE — written here by the
webhook's own API eviction writer through the official client; watchers see them, and the
replay thread applies the deletion as a native eviction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from scheduler.api.meta import ObjectMeta
from scheduler.api.pod import Container, Pod, PodSpec
from scheduler.extender.evictions import ApiEvictions, Victim
from scheduler.extender.server import api_client
from simulator.apiserver.live import LiveReplay, apply_deletions, serve_replay
from simulator.clusters import load_cluster
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import Replay, ReplayConfig
from simulator.inputs import read_trace
from simulator.kubescheduler.session import ExtenderSetup

ROOT = Path(__file__).resolve().parents[2]
NODE = "h100-0000"
CONDITION = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "PreemptionByScheduler",
    "message": "tessera: preempting to accommodate a higher priority pod: serving/x-0",
}


def _pod(name: str, uid: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="batch", uid=uid),
        spec=PodSpec(
            scheduler_name="default-scheduler",
            containers=(Container(name="main", resources={"requests": {"cpu": "1"}}),),
        ),
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Replay, LiveReplay, Path]]:
    loaded = load_cluster(ROOT / "traces/clusters/two-rack-h100-dynamic-mig.yaml")
    trace = read_trace(ROOT / "traces/scenarios/serving-batch-small.yaml")
    config = ReplayConfig(kube_scheduler=ExtenderSetup())
    replay = Replay(loaded, trace, replay_profile("kube-default", levels=loaded.levels), config)
    served = serve_replay(replay, kubeconfig_out=tmp_path / "kubeconfig")
    # the replay's state as if it had placed these pods: one running, one pending
    replay.backend.create_pod(_pod("victim", "uid-victim"))
    replay.cache.assume_pod("batch/victim", NODE)
    replay.backend.bind("batch/victim", NODE)
    replay.backend.create_pod(_pod("pending", "uid-pending"))
    try:
        yield replay, served, tmp_path / "kubeconfig"
    finally:
        served.stop()


def _watch(url: str, rv: str, until: int, events: list[dict[str, Any]]) -> threading.Thread:
    def run() -> None:
        params = {"watch": "1", "resourceVersion": rv}
        with httpx.stream(
            "GET", f"{url}/api/v1/namespaces/batch/pods", params=params, timeout=30
        ) as response:
            for line in response.iter_lines():
                if line:
                    events.append(orjson.loads(line))
                    if len(events) >= until:
                        return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_condition_and_delete_are_accepted_seen_and_applied_as_an_eviction(
    live: tuple[Replay, LiveReplay, Path],
) -> None:
    replay, served, kubeconfig = live
    url = served.url
    pods = httpx.get(f"{url}/api/v1/namespaces/batch/pods", timeout=10).json()
    events: list[dict[str, Any]] = []
    watcher = _watch(url, pods["metadata"]["resourceVersion"], 3, events)
    writer = ApiEvictions(api_client(kubeconfig))
    victim = Victim("batch", "victim", "uid-victim", NODE, CONDITION)
    assert writer.evict(victim) == ""
    # the pod terminates: still there, with the condition and a deletion timestamp
    pod = httpx.get(f"{url}/api/v1/namespaces/batch/pods/victim", timeout=10).json()
    assert CONDITION.items() <= pod["status"]["conditions"][-1].items()
    assert pod["metadata"]["deletionTimestamp"]
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    assert "batch/victim" in replay.cache.pods  # the simulator has not been written
    # a second eviction of the terminating pod changes nothing and is a success
    rv = pod["metadata"]["resourceVersion"]
    assert writer.evict(victim) == ""
    again = httpx.get(f"{url}/api/v1/namespaces/batch/pods/victim", timeout=10).json()
    assert again["metadata"]["resourceVersion"] == rv
    # the replay thread applies it: an eviction at the current virtual time
    assert served.cluster.replay_deletions is not None
    assert apply_deletions(replay, served.cluster.replay_deletions) == 1
    assert "batch/victim" not in replay.cache.pods
    ((when, key, reason),) = replay.backend.evictions
    assert (when, key) == (replay.engine.now, "batch/victim")
    assert reason == f"preempted over the API: {CONDITION['message']}"
    gone = httpx.get(f"{url}/api/v1/namespaces/batch/pods/victim", timeout=10)
    assert gone.status_code == 404
    watcher.join(30)
    kinds = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert kinds == [("MODIFIED", "victim"), ("MODIFIED", "victim"), ("DELETED", "victim")]
    assert CONDITION.items() <= events[0]["object"]["status"]["conditions"][-1].items()
    assert events[1]["object"]["metadata"]["deletionTimestamp"]
    # a recreated pod of the same name is never deleted: the UID precondition
    assert writer.evict(victim) == ""  # gone: success
    assert apply_deletions(replay, served.cluster.replay_deletions) == 0


def test_other_writes_stay_refused(live: tuple[Replay, LiveReplay, Path]) -> None:
    replay, served, _ = live
    url = f"{served.url}/api/v1/namespaces/batch/pods"
    merge = {"Content-Type": "application/merge-patch+json"}
    phase = httpx.patch(
        f"{url}/victim/status", content=b'{"status":{"phase":"Failed"}}', headers=merge
    )
    assert phase.status_code == 405
    assert "only status.conditions" in phase.json()["message"]
    spec = httpx.patch(f"{url}/victim", content=b'{"spec":{"priority":5}}', headers=merge)
    assert spec.status_code == 405
    bad = httpx.patch(
        f"{url}/victim/status",
        content=b'{"status":{"conditions":[{"type":"DisruptionTarget","status":"Maybe"}]}}',
        headers=merge,
    )
    assert bad.status_code == 422
    pending = httpx.delete(f"{url}/pending")
    assert pending.status_code == 405
    assert "only a running pod" in pending.json()["message"]
    wrong = httpx.request(
        "DELETE", f"{url}/victim", content=b'{"preconditions":{"uid":"someone-else"}}'
    )
    assert wrong.status_code == 409
    nodes = httpx.delete(f"{served.url}/api/v1/nodes/{NODE}")
    assert nodes.status_code == 405
    assert "batch/victim" in replay.cache.pods
    assert served.cluster.replay_deletions is not None
    assert served.cluster.replay_deletions.pending() == 0


def test_a_deletion_takes_effect_after_the_scheduling_cycle_that_saw_it(
    live: tuple[Replay, LiveReplay, Path],
) -> None:
    """A webhook deletes victims on seeing a failure: the replay applies the deletion right
    after that cycle (``KubeSchedulerSession.after_cycle``), before the next one, not at the
    end of the scheduling pass."""
    replay, _, kubeconfig = live
    writer = ApiEvictions(api_client(kubeconfig))
    assert writer.evict(Victim("batch", "victim", "uid-victim", NODE, CONDITION)) == ""
    assert "batch/victim" in replay.cache.pods
    assert replay.kube is not None
    replay.kube.after_cycle()
    assert "batch/victim" not in replay.cache.pods
    ((when, key, _),) = replay.backend.evictions
    assert (when, key) == (replay.engine.now, "batch/victim")
