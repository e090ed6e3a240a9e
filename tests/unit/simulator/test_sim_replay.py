"""Trace replay on tiny traces: completions free room for waiting pods, node loss and
NoExecute device taints evict and reschedule, preemption is recorded and the preemptor binds
in the same simulated second, LWS workers bind into their reservations, and the outputs
(summary percentiles, placements lines, one timeline row per minute) have their format."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scheduler.api.pod import Pod
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.runtime import Framework, ScheduleResult
from simulator.clusters import LoadedCluster, cluster_from_spec
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import Fault, ReplayConfig, ReplayResult, run_replay
from simulator.inputs import read_trace
from simulator.traces.model import Trace, TraceItem
from tests.builders import gpu_claim_pod, gpu_claim_template, h100_rack_spec

RACK = "topology.tessera.io/rack"


def cluster(nodes: int = 2, per_rack: int = 1) -> LoadedCluster:
    """``nodes`` nodes of 64 cpu and 8 whole H100 GPUs, ``per_rack`` per rack."""
    spec = h100_rack_spec(nodes, per_rack, name="tiny")
    return cluster_from_spec(spec)


def gpu_pod(
    name: str,
    gpus: int = 8,
    *,
    priority: int = 0,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Pod:
    """A 4-cpu pod asking ``gpus`` whole GPUs through a template claim."""
    return gpu_claim_pod(
        name, gpus, cpu="4", priority=priority, labels=labels, annotations=annotations
    )


def replay(
    items: Sequence[TraceItem],
    loaded: LoadedCluster,
    *,
    faults: Sequence[Fault] = (),
    horizon: float | None = None,
    policy: str = "tessera",
) -> ReplayResult:
    """Replay ``items`` (with GPU templates) on ``loaded`` under ``policy``, seed 0."""
    trace = Trace("tiny", list(items), [gpu_claim_template(n) for n in (1, 2, 4, 8)])
    profile = replay_profile(policy, levels=loaded.levels)
    return run_replay(loaded, trace, profile, ReplayConfig(faults=tuple(faults), horizon=horizon))


def events(result: ReplayResult) -> list[tuple[float, str, str, str | None]]:
    """Placements as ``(t, event, pod name, node)``."""
    return [(p["t"], p["event"], p["pod"].split("/")[1], p["node"]) for p in result.placements]


def test_completion_frees_the_node_and_the_waiting_pod_binds() -> None:
    """A completion frees the node and the waiting pod binds; its wait sets percentiles."""
    # B waited 90 s: serving p50 = 45, p95 = 85.5, p99 = 89.1 (linear interpolation)
    result = replay(
        [TraceItem(gpu_pod("a"), 0.0, 100.0), TraceItem(gpu_pod("b"), 10.0, 50.0)],
        cluster(nodes=1),
    )
    assert events(result) == [
        (0.0, "bind", "a", "gpu-0000"),
        (10.0, "fail", "b", None),
        (100.0, "bind", "b", "gpu-0000"),
    ]
    assert result.placements[1]["reason"].startswith("0/1 nodes are available: 1 ")
    summary = result.summary
    assert (summary["pods_total"], summary["pods_scheduled"], summary["pods_unschedulable"]) == (
        2,
        2,
        0,
    )
    assert summary["pending_seconds"] == {
        "serving": {"p50": 45.0, "p95": 85.5, "p99": 89.1},
        "batch": {"p50": None, "p95": None, "p99": None},
    }


def test_pending_seconds_split_serving_and_batch() -> None:
    """Batch (label or negative priority) and serving pods are measured separately."""
    items = [
        TraceItem(gpu_pod("hold"), 0.0, 60.0),
        TraceItem(gpu_pod("late-batch", priority=-1), 0.0, 10.0),
        TraceItem(gpu_pod("labelled", labels={"tessera.io/class": "batch"}), 0.0, 10.0),
    ]
    result = replay(items, cluster(nodes=1))
    # hold binds at 0; labelled (priority 0) at 60 when hold completes, ahead of
    # late-batch (priority -1), which binds at 70
    assert [(e[1], e[2], e[0]) for e in events(result) if e[1] == "bind"] == [
        ("bind", "hold", 0.0),
        ("bind", "labelled", 60.0),
        ("bind", "late-batch", 70.0),
    ]
    pending = result.summary["pending_seconds"]
    assert pending["serving"] == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    # batch waits [60, 70]: p50 65, p95 60 + 0.95 x 10 = 69.5, p99 69.9
    assert pending["batch"] == {"p50": 65.0, "p95": 69.5, "p99": 69.9}


def test_node_loss_evicts_and_reschedules_on_another_node() -> None:
    """A lost node's pod is recorded evicted and binds on the other node that second."""
    loaded = cluster(nodes=2)
    first = replay([TraceItem(gpu_pod("a"), 0.0, 1000.0)], cluster(nodes=2))
    node = first.placements[0]["node"]
    other = "gpu-0001" if node == "gpu-0000" else "gpu-0000"
    result = replay(
        [TraceItem(gpu_pod("a"), 0.0, 1000.0)], loaded, faults=[Fault(time=50.0, node=node)]
    )
    assert events(result) == [
        (0.0, "bind", "a", node),
        (50.0, "evict", "a", node),
        (50.0, "bind", "a", other),
    ]
    assert result.placements[1]["reason"] == f"node {node} lost"
    assert node not in loaded.cache.nodes
    assert result.summary["preemptions"] == 0


def test_node_loss_of_a_gang_member_restarts_the_whole_gang() -> None:
    """Losing one gang member's node evicts and re-places the whole gang together."""
    # gang of 2, rack-required, on 2 racks of 2: re-placed in the other rack at t=100
    notes = {
        "tessera.io/gang": "g",
        "tessera.io/gang-size": "2",
        "tessera.io/topology-required": RACK,
    }
    items = [
        TraceItem(gpu_pod(f"g-{i}", priority=100, annotations=notes), 0.0, 1000.0) for i in range(2)
    ]
    result = replay(
        items, cluster(nodes=4, per_rack=2), faults=[Fault(time=100.0, node="gpu-0000")]
    )
    at_fault = [e for e in events(result) if e[0] == 100.0]
    assert sorted((e[1], e[2]) for e in at_fault if e[1] == "evict") == [
        ("evict", "g-0"),
        ("evict", "g-1"),
    ]
    rebound = {e[3] for e in at_fault if e[1] == "bind"}
    assert rebound == {"gpu-0002", "gpu-0003"}


def test_no_execute_device_taint_evicts_the_pods_holding_the_device() -> None:
    """A NoExecute device taint evicts the pod holding the device, not its neighbour."""
    items = [
        TraceItem(gpu_pod("holder", 4), 0.0, 1000.0),
        TraceItem(gpu_pod("other", 4), 0.0, 1000.0),
    ]
    first = replay(items, cluster(nodes=1))
    holder = next(p for p in first.placements if p["pod"] == "default/holder")
    device = holder["devices"][0]
    driver, pool, name = device.split("/")
    result = replay(
        items,
        cluster(nodes=1),
        faults=[Fault(time=30.0, device=(driver, pool, name))],
    )
    evicted = [p for p in result.placements if p["event"] == "evict"]
    assert [(p["t"], p["pod"]) for p in evicted] == [(30.0, "default/holder")]
    assert evicted[0]["reason"] == f"device {device} tainted tessera.io/fault:NoExecute"


def test_tainted_device_is_not_allocated_again() -> None:
    """A GPU tainted NoExecute is not allocated again to the evicted pod."""
    result = replay(
        [TraceItem(gpu_pod("a"), 0.0, 1000.0)],
        cluster(nodes=1),
        faults=[Fault(time=30.0, device=("gpu.nvidia.com", "gpu-0000", "gpu-3"))],
    )
    rebinds = [p for p in result.placements if p["event"] == "bind" and p["t"] >= 30.0]
    assert all("gpu.nvidia.com/gpu-0000/gpu-3" not in p["devices"] for p in rebinds)


def test_preemption_is_recorded_and_the_preemptor_binds_in_the_same_second() -> None:
    """Preemption is recorded as evict and the preemptor binds in the same second."""
    items = [
        TraceItem(gpu_pod("batch-0", priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("batch-1", priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("serve", priority=100), 100.0, 300.0),
    ]
    result = replay(items, cluster(nodes=2))
    at_100 = [e for e in events(result) if e[0] == 100.0]
    evicted = [e for e in at_100 if e[1] == "evict"]
    assert len(evicted) == 1
    victim, victim_node = evicted[0][2], evicted[0][3]
    assert victim in ("batch-0", "batch-1")
    assert ("bind", "serve", victim_node) in [(e[1], e[2], e[3]) for e in at_100]
    reason = next(p["reason"] for p in result.placements if p["event"] == "evict")
    assert reason == "preempted by default/serve"
    assert result.summary["preemptions"] == 1
    # the victim rebinds when the serving pod completes (t = 400)
    assert (400.0, "bind", victim, victim_node) in events(result)


def test_preemptor_takes_the_room_it_freed_before_an_equal_priority_pod() -> None:
    """Two serving pods arrive together on a full cluster. The first one tried preempts a
    batch pod and binds where it freed room, in the same second: its nominated node counts
    against the other pod of its priority, which preempts for itself (upstream's
    ``RunFilterPluginsWithNominatedPods``)."""
    items = [
        TraceItem(gpu_pod("batch-0", priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("batch-1", priority=-10), 0.0, 5000.0),
        TraceItem(gpu_pod("serve-0", priority=100), 100.0, 300.0),
        TraceItem(gpu_pod("serve-1", priority=100), 100.0, 300.0),
    ]
    result = replay(items, cluster(nodes=2))
    at_100 = [p for p in result.placements if p["t"] == 100.0]
    evictions = [p for p in at_100 if p["event"] == "evict"]
    assert len(evictions) == 2
    for eviction in evictions:
        preemptor = eviction["reason"].removeprefix("preempted by ")
        binds = [p for p in at_100 if p["event"] == "bind" and p["pod"] == preemptor]
        assert [p["node"] for p in binds] == [eviction["node"]]
    assert [p["pod"] for p in at_100 if p["event"] == "bind"] == [
        "default/serve-0",
        "default/serve-1",
    ]


def test_an_eviction_moves_the_unschedulable_pods() -> None:
    """A preemption frees more than the preemptor needs: the pod waiting unschedulable
    binds into the rest in the same second (the victim's deletion is a cluster event),
    not at the 5-minute flush."""
    items = [
        TraceItem(gpu_pod("batch-old", priority=-20), 0.0, 5000.0),
        TraceItem(gpu_pod("batch-new", 4, priority=-10), 10.0, 500.0),
        TraceItem(gpu_pod("serve", 4, priority=100), 100.0, 300.0),
    ]
    result = replay(items, cluster(nodes=1))
    assert [e for e in events(result) if e[0] == 100.0] == [
        (100.0, "evict", "batch-old", "gpu-0000"),
        (100.0, "fail", "serve", None),
        (100.0, "bind", "serve", "gpu-0000"),
        (100.0, "bind", "batch-new", "gpu-0000"),
        (100.0, "fail", "batch-old", None),
    ]


def test_batch_pod_waits_instead_of_preempting() -> None:
    """A batch pod arriving on a cluster full of lower-priority batch work does not preempt."""
    items = [
        TraceItem(gpu_pod("old", priority=-20), 0.0, 500.0),
        TraceItem(gpu_pod("new", priority=-10), 10.0, 10.0),
    ]
    result = replay(items, cluster(nodes=1))
    assert [e[1] for e in events(result)].count("evict") == 0
    assert events(result)[-1] == (500.0, "bind", "new", "gpu-0000")
    assert result.summary["preemptions"] == 0


LWS_DUMP = """
apiVersion: v1
kind: List
items:
- apiVersion: resource.k8s.io/v1
  kind: ResourceClaimTemplate
  metadata: {name: eight, namespace: serving}
  spec:
    spec:
      devices:
        requests:
        - name: gpus
          exactly: {deviceClassName: gpu.nvidia.com, allocationMode: ExactCount, count: 8}
- apiVersion: leaderworkerset.x-k8s.io/v1
  kind: LeaderWorkerSet
  metadata:
    name: llm
    namespace: serving
    creationTimestamp: "2026-01-01T00:00:00Z"
    annotations:
      leaderworkerset.sigs.k8s.io/exclusive-topology: topology.tessera.io/rack
      tessera.io/duration-seconds: "600"
  spec:
    replicas: 2
    leaderWorkerTemplate:
      size: 2
      workerTemplate:
        spec:
          priority: 100
          containers:
          - name: vllm
            resources:
              requests: {cpu: "8"}
              claims: [{name: gpus}]
          resourceClaims:
          - {name: gpus, resourceClaimTemplateName: eight}
"""


def test_lws_workers_bind_into_the_places_reserved_with_their_leader(tmp_path: Path) -> None:
    """LWS workers bind into places reserved with their leader, one rack per group."""
    dump = tmp_path / "lws.yaml"
    dump.write_text(LWS_DUMP, encoding="utf-8")
    loaded = cluster(nodes=4, per_rack=2)
    trace = read_trace(dump)
    result = run_replay(
        loaded, trace, replay_profile("tessera", levels=loaded.levels), ReplayConfig()
    )
    binds = {p["pod"]: (p["t"], p["node"]) for p in result.placements if p["event"] == "bind"}
    assert set(binds) == {"serving/llm-0", "serving/llm-0-1", "serving/llm-1", "serving/llm-1-1"}
    assert all(t == 0.0 for t, _ in binds.values())
    racks = {
        group: {
            loaded.cache.nodes[binds[key][1]].metadata.labels[RACK]
            for key in binds
            if key.startswith(f"serving/llm-{group}")
        }
        for group in (0, 1)
    }
    assert all(len(r) == 1 for r in racks.values()) and racks[0] != racks[1]
    assert [p["event"] for p in result.placements].count("fail") == 0
    summary = result.summary
    assert (summary["gangs_total"], summary["gangs_placed"], summary["gangs_partial"]) == (2, 2, 0)


def test_placement_lines_format(tmp_path: Path) -> None:
    """placements.jsonl lines carry t, event, pod, node, devices and reason as specified."""
    items = [TraceItem(gpu_pod("a", 2), 0.0, 150.0), TraceItem(gpu_pod("big", 8), 30.0, 10.0)]
    result = replay(items, cluster(nodes=1))
    result.write(tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "placements.jsonl").read_text().splitlines()]
    assert lines == result.placements
    bind, fail = lines[0], lines[1]
    assert set(bind) == {"t", "event", "pod", "node", "devices"}
    assert bind["devices"] == sorted(bind["devices"]) and len(bind["devices"]) == 2
    assert all(
        d.count("/") == 2 and d.startswith("gpu.nvidia.com/gpu-0000/") for d in bind["devices"]
    )
    assert set(fail) == {"t", "event", "pod", "node", "devices", "reason"}
    assert (fail["t"], fail["event"], fail["node"], fail["devices"]) == (30.0, "fail", None, [])
    assert json.loads((tmp_path / "summary.json").read_text()) == result.summary


def test_timeline_has_one_row_per_simulated_minute(tmp_path: Path) -> None:
    """timeline.csv has one row per simulated minute with allocation and counts."""
    items = [TraceItem(gpu_pod("a", 2), 0.0, 150.0), TraceItem(gpu_pod("b", 8), 30.0, 100.0)]
    result = replay(items, cluster(nodes=2))
    result.write(tmp_path)
    with (tmp_path / "timeline.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "minute",
        "alloc_pct",
        "frag_pct",
        "pending_serving",
        "pending_batch",
        "running",
        "gpus_capacity",
        "gpus_serving",
        "gpus_batch",
        "gpus_idle",
    ]
    # the replay ends when the last pod completes (150 s): samples at 0, 60, 120
    assert [int(r["minute"]) for r in rows] == [0, 1, 2]
    # 16 GPUs: a alone 2/16 = 12.5%; a + b (30..130) 10/16 = 62.5%
    assert [r["alloc_pct"] for r in rows] == ["12.5000", "62.5000", "62.5000"]
    assert [r["running"] for r in rows] == ["1", "2", "2"]
    # both pods are serving (priority 0): 2 GPUs, then 10; 16 GPUs in service
    assert [r["gpus_serving"] for r in rows] == ["2.0000", "10.0000", "10.0000"]
    assert [r["gpus_idle"] for r in rows] == ["14.0000", "6.0000", "6.0000"]
    assert {(r["gpus_capacity"], r["gpus_batch"]) for r in rows} == {("16.0000", "0.0000")}
    assert {r["pending_serving"] for r in rows} == {"0"}
    assert result.summary["gpu_alloc_mean_pct"] == 45.8333  # (12.5 + 62.5 + 62.5) / 3


def test_horizon_stops_the_replay() -> None:
    """With a horizon, later events are not processed and end_seconds is the horizon."""
    items = [TraceItem(gpu_pod("a"), 0.0, 100.0), TraceItem(gpu_pod("b"), 500.0, 10.0)]
    result = replay(items, cluster(nodes=1), horizon=200.0)
    assert [e[2] for e in events(result)] == ["a"]
    assert result.summary["end_seconds"] == 200.0
    assert result.summary["pods_total"] == 1


def test_same_seed_gives_identical_outputs(tmp_path: Path) -> None:
    """Two replays with the same seed write byte-identical files (minus wall_seconds)."""
    items = [
        TraceItem(gpu_pod(f"p{i}", gpus), float(10 * i), 200.0)
        for i, gpus in enumerate([1, 2, 4, 8, 2, 1, 4, 8, 2])
    ]
    outputs = []
    for run in ("one", "two"):
        result = replay(items, cluster(nodes=3))
        result.summary.pop("wall_seconds")
        result.write(tmp_path / run)
        outputs.append(
            [
                (tmp_path / run / name).read_bytes()
                for name in ("summary.json", "placements.jsonl", "timeline.csv")
            ]
        )
    assert outputs[0] == outputs[1]


def test_retry_at_the_same_epoch_reuses_the_failed_cycle(monkeypatch: Any) -> None:
    """A pod retried with nothing changed since its failure is not rescheduled: the replay
    records the same failure again without running the framework's cycle."""
    calls: list[str] = []
    original = Framework.schedule_one

    def counted(self: Framework, pod: PodInfo, *, bind: bool = True) -> ScheduleResult:
        calls.append(pod.key)
        return original(self, pod, bind=bind)

    monkeypatch.setattr(Framework, "schedule_one", counted)
    result = replay(
        [TraceItem(gpu_pod("a"), 0.0, 1000.0), TraceItem(gpu_pod("b"), 10.0, 50.0)],
        cluster(nodes=1),
    )
    fails = [e for e in events(result) if e[2] == "b" and e[1] == "fail"]
    assert len(fails) > 1  # b was retried while a ran
    assert len({result.placements[i]["reason"] for i in range(1, len(fails) + 1)}) == 1
    assert events(result)[-1] == (1000.0, "bind", "b", "gpu-0000")
    assert len([k for k in calls if k.endswith("/b")]) == 2  # the first failure, the bind


def test_pop_from_backoff_retries_a_backing_off_pod_as_soon_as_the_scheduler_is_idle() -> None:
    """b fails at 99.5 (backing off until 100.5); a's completion at 100 moves it. With
    SchedulerPopFromBackoffQ (the default, as kube-scheduler since 1.33) the idle scheduler
    takes it from backoffQ at once; without (``--no-pop-from-backoff``), it binds when its
    backoff ends."""
    items = [TraceItem(gpu_pod("a"), 0.0, 100.0), TraceItem(gpu_pod("b"), 99.5, 10.0)]
    trace = Trace("tiny", items, [gpu_claim_template(8)])
    profile = replay_profile("tessera", levels=cluster(nodes=1).levels)
    binds = {}
    for name, config in (
        ("default", ReplayConfig()),
        ("off", ReplayConfig(pop_from_backoff=False)),
        ("on", ReplayConfig(pop_from_backoff=True)),
    ):
        result = run_replay(cluster(nodes=1), trace, profile, config)
        binds[name] = [e[0] for e in events(result) if e[1:3] == ("bind", "b")]
    assert binds == {"default": [100.0], "off": [100.5], "on": [100.0]}
