"""The generator: deterministic per seed, pods named and labelled as their controllers do,
LWS group indices reused after a scale-down, failures drawn on the cluster's devices."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from simulator.clusters import load_cluster
from simulator.scenarios import scenario_trace
from simulator.scenarios.generate import generate
from simulator.scenarios.model import load_scenario
from simulator.traces.model import Trace
from tests.scenarios.scenario_builders import (
    BATCH_GANGS,
    BATCH_SMALL,
    RACK,
    SERVING_LWS,
    cluster_file,
    scenario_file,
)


def fingerprint(trace: Trace) -> list[tuple[object, ...]]:
    """Every item's pod (as a dict), times and links, and every fault."""
    items = [
        (i.pod.to_dict(), i.arrival, i.duration, i.finish_at, i.after_bound_of, i.delay)
        for i in trace.items
    ]
    return [*items, *((f.time, f.node, f.device, f.repair_after) for f in trace.faults)]


def test_same_seed_same_trace_other_seed_other_trace(tmp_path: Path) -> None:
    """Generating twice with one seed gives identical traces; another seed differs."""
    path = scenario_file(
        tmp_path,
        [SERVING_LWS, BATCH_SMALL],
        failures={"gpus": {"rate": 0.01, "repair": "30m"}},
    )
    first = fingerprint(scenario_trace(path, seed=4))
    assert first == fingerprint(scenario_trace(path, seed=4))
    assert first != fingerprint(scenario_trace(path, seed=5))


def test_lws_groups_follow_the_schedule_with_lws_labels(tmp_path: Path) -> None:
    """1 group from 0, 2 from 30 min: leaders at 0 and 1800, workers one second later; all
    end at the scenario's end (2 h); labels and annotations are the LWS controller's."""
    trace = scenario_trace(scenario_file(tmp_path, [SERVING_LWS]))
    got = [(i.pod.metadata.name, i.arrival, i.finish_at, i.after_bound_of) for i in trace.items]
    assert got == [
        ("llm-0", 0.0, 7200.0, None),
        ("llm-0-1", 1.0, 7200.0, None),
        ("llm-1", 1800.0, 7200.0, None),
        ("llm-1-1", 1801.0, 7200.0, None),
    ]
    worker = trace.items[1].pod
    labels, notes = worker.metadata.labels, worker.metadata.annotations
    assert labels["leaderworkerset.sigs.k8s.io/name"] == "llm"
    assert labels["leaderworkerset.sigs.k8s.io/worker-index"] == "1"
    assert labels["leaderworkerset.sigs.k8s.io/group-index"] == "0"
    assert len(labels["leaderworkerset.sigs.k8s.io/group-key"]) == 40
    assert notes["leaderworkerset.sigs.k8s.io/size"] == "2"
    assert notes["leaderworkerset.sigs.k8s.io/leader-name"] == "llm-0"
    assert notes["tessera.io/topology-required"] == RACK
    assert worker.metadata.creation_timestamp == "2026-01-01T00:00:01Z"
    assert notes["tessera.io/finished-at"] == "2026-01-01T02:00:00Z"
    assert worker.spec.priority == 1000
    assert [o.kind for o in trace.objects] == [
        "PriorityClass",
        "PriorityClass",
        "PriorityClass",
        "ResourceClaimTemplate",
        "LeaderWorkerSet",
    ]


def test_scale_down_deletes_the_highest_group_and_scale_up_reuses_it(tmp_path: Path) -> None:
    """2 groups, down to 1 at 20 min, up to 2 at 40 min: group 1 ends at 1200 and comes back
    under the same names at 2400; exclusive workers wait for their leader's bind."""
    lws = copy.deepcopy(SERVING_LWS)
    lws["exclusiveTopology"] = RACK
    del lws["topologyRequired"]
    lws["replicas"] = {
        "schedule": [
            {"at": 0, "replicas": 2},
            {"at": "20m", "replicas": 1},
            {"at": "40m", "replicas": 2},
        ]
    }
    trace = scenario_trace(scenario_file(tmp_path, [lws], duration="1h"))
    got = [(i.pod.metadata.name, i.arrival, i.finish_at, i.after_bound_of) for i in trace.items]
    assert got == [
        ("llm-0", 0.0, 3600.0, None),
        ("llm-0-1", 0.0, 3600.0, "serving/llm-0"),
        ("llm-1", 0.0, 1200.0, None),
        ("llm-1-1", 0.0, 1200.0, "serving/llm-1"),
        ("llm-1", 2400.0, 3600.0, None),
        ("llm-1-1", 2400.0, 3600.0, "serving/llm-1"),
    ]


def test_jobs_carry_job_controller_labels_and_gang_podgroups(tmp_path: Path) -> None:
    """Backlog 2 + one every 20 min over 1 h: 2 at 0, then 0, 1200, 2400 -> 5 Jobs of 2 pods,
    Indexed names and completion indices, a PodGroup of minMember 2 each, 50 min of work,
    checkpoints every 10 min, deleted at the scenario's end."""
    trace = scenario_trace(scenario_file(tmp_path, [BATCH_GANGS], duration="1h"))
    assert [i.arrival for i in trace.items] == [0.0] * 6 + [1200.0] * 2 + [2400.0] * 2
    pod = trace.items[1].pod
    labels, notes = pod.metadata.labels, pod.metadata.annotations
    assert pod.metadata.name.startswith("train-0000-1-") and len(pod.metadata.name) == 18
    assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "train-0000"
    assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"]
    assert labels["batch.kubernetes.io/job-completion-index"] == "1"
    assert notes["batch.kubernetes.io/job-completion-index"] == "1"
    assert labels["scheduling.x-k8s.io/pod-group"] == "train-0000"
    assert labels["tessera.io/class"] == "batch"
    assert (notes["tessera.io/duration-seconds"], notes["tessera.io/checkpoint-seconds"]) == (
        "3000",
        "600",
    )
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("Job", "train-0000", True)
    assert {(i.duration, i.finish_at) for i in trace.items} == {(3000.0, 3600.0)}
    groups = [o for o in trace.objects if o.kind == "PodGroup"]
    assert len(groups) == 5 and all(g.spec.min_member == 2 for g in groups)  # type: ignore[attr-defined]


def test_deployment_pods_have_replicaset_names_and_newest_go_first(tmp_path: Path) -> None:
    """3 replicas then 1 at 10 min: the two newest... all three are created at 0, so the two
    highest-created (ties by index) end at 600; names are <name>-<hash>-<5 chars>."""
    web = {
        "kind": "Deployment",
        "name": "web",
        "namespace": "serving",
        "priorityClassName": "serving",
        "pod": {"accelerator": {"mig": {"profile": "1g.10gb"}}},
        "replicas": {"schedule": [{"at": 0, "replicas": 3}, {"at": "10m", "replicas": 1}]},
    }
    trace = scenario_trace(
        scenario_file(tmp_path, [web], duration="30m", cluster=cluster_file(tmp_path, mig=True))
    )
    names = [i.pod.metadata.name for i in trace.items]
    assert len(set(names)) == 3
    prefix = names[0].rsplit("-", 1)[0]
    assert all(n.rsplit("-", 1)[0] == prefix and len(n.rsplit("-", 1)[1]) == 5 for n in names)
    assert sorted(i.finish_at for i in trace.items) == [600.0, 600.0, 1800.0]
    pod = trace.items[0].pod
    assert pod.metadata.labels["pod-template-hash"] == prefix.split("-", 1)[1]
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"


def test_failures_hit_existing_devices_and_nodes_and_are_repaired(tmp_path: Path) -> None:
    """High rates: GPU faults name published gpu.nvidia.com devices, node faults nodes with
    GPUs; every fault is repaired after its repair time; none overlaps another on the same
    target, and no GPU fails on a node that is down."""
    path = scenario_file(
        tmp_path,
        [SERVING_LWS],
        failures={"gpus": {"rate": 0.1, "repair": "20m"}, "nodes": {"rate": 0.5, "repair": 600}},
    )
    scenario = load_scenario(path)
    loaded = load_cluster(tmp_path / "cluster.yaml")
    trace = generate(scenario, 3, loaded)
    devices = [f for f in trace.faults if f.device is not None]
    nodes = [f for f in trace.faults if f.node is not None]
    assert devices and nodes
    assert all(loaded.cache.devices.has_device(f.device) for f in devices)  # type: ignore[arg-type]
    assert {f.repair_after for f in devices} == {1200.0}
    assert {f.repair_after for f in nodes} == {600.0}
    assert all(f.node in loaded.cache.nodes for f in nodes)
    node_down = [(f.node, f.time, f.time + 600.0) for f in nodes]
    for faults in (devices, nodes):
        last: dict[object, float] = {}
        for f in faults:
            target = f.device or f.node
            assert f.time >= last.get(target, -1.0)
            last[target] = f.time + (f.repair_after or 0.0)
    for f in devices:  # no GPU fails on a node that is down
        assert f.device is not None
        assert not any(n == f.device[1] and a <= f.time < b for n, a, b in node_down)


def test_a_scenario_must_create_something_at_time_zero(tmp_path: Path) -> None:
    """A workload starting later leaves t = 0 empty: a one-line error saying how to fix it."""
    late = {**BATCH_SMALL, "start": "10m"}
    with pytest.raises(ValueError, match="nothing is created at time 0"):
        scenario_trace(scenario_file(tmp_path, [late]))
