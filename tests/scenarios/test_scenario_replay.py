"""Replaying scenarios: the rendered dump replays like the scenario; no accelerator-hour is
counted twice; a preempted batch gang is evicted whole; checkpoints bound the lost work;
failures and repairs; serving alone; replicas deleted while pending."""

from __future__ import annotations

import copy
import datetime as dt
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.clusters import LoadedCluster, cluster_from_spec
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import Fault, ReplayConfig, ReplayResult, run_replay
from simulator.scenarios import scenario_trace
from simulator.scenarios.model import load_scenario
from simulator.scenarios.render import render
from simulator.traces.model import Trace, TraceItem
from tests.builders import gpu_claim_pod, gpu_claim_template, h100_rack_spec
from tests.scenarios.scenario_builders import (
    BATCH_GANGS,
    BATCH_SMALL,
    RACK,
    SERVING_LWS,
    cluster_file,
    replay_scenario,
    scenario_file,
)


def stable(summary: dict[str, object]) -> dict[str, object]:
    """The summary without the trace's name and the wall-clock time."""
    return {k: v for k, v in summary.items() if k not in ("trace", "wall_seconds")}


def test_rendered_dump_replays_like_the_scenario(tmp_path: Path) -> None:
    """render -> read as a dump -> replay gives the scenario's summary and placement log,
    with LWS groups (exclusive and not), a Deployment, Jobs and both kinds of failure."""
    exclusive = copy.deepcopy(SERVING_LWS)
    exclusive.update(name="excl", exclusiveTopology=RACK)
    del exclusive["topologyRequired"]
    exclusive["replicas"] = {"schedule": [{"at": 0, "replicas": 1}, {"at": "1h", "replicas": 0}]}
    web = {
        "kind": "Deployment",
        "name": "web",
        "namespace": "serving",
        "priorityClassName": "serving",
        "pod": {"accelerator": {"gpus": 1}},
        "replicas": {"schedule": [{"at": 0, "replicas": 2}, {"at": "40m", "replicas": 1}]},
    }
    path = scenario_file(
        tmp_path,
        [SERVING_LWS, exclusive, web, BATCH_GANGS, BATCH_SMALL],
        cluster=cluster_file(tmp_path, nodes=6, per_rack=2),
        failures={
            "gpus": {"rate": 0.05, "repair": "15m"},
            "nodes": {"rate": 0.05, "repair": "20m"},
        },
    )
    scenario = load_scenario(path)
    trace = scenario_trace(path, seed=7)
    assert any(f.node for f in trace.faults) and any(f.device for f in trace.faults)
    render(trace, tmp_path / "dump", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert scenario.start == "2026-01-01T00:00:00Z"
    direct = replay_scenario(path, seed=7)
    dumped = replay_scenario(path, seed=7, trace_path=tmp_path / "dump")
    assert stable(dumped.summary) == stable(direct.summary)
    assert dumped.placements == direct.placements
    assert direct.summary["failures"]["nodes"] > 0  # type: ignore[index]


def check_accounting(result: ReplayResult, view_capacity_milli: int) -> None:
    """Every timeline row: serving + batch + idle = capacity exactly (milli-GPUs), and
    serving + batch is what the cluster's GPU view shows allocated (within rounding);
    the summary's GPU-hours add up too."""
    for row in result.timeline:
        milli = {
            k: round(float(row[f"gpus_{k}"]) * 1000)
            for k in ("capacity", "serving", "batch", "idle")
        }
        assert milli["serving"] + milli["batch"] + milli["idle"] == milli["capacity"]
        assert min(milli.values()) >= 0
        allocated = float(row["alloc_pct"]) * view_capacity_milli / 100.0
        assert abs(allocated - (milli["serving"] + milli["batch"])) < 1.0
    hours = result.summary["gpu_hours"]
    assert isinstance(hours, dict)
    assert hours["serving"] + hours["batch"] + hours["idle"] == pytest.approx(
        hours["capacity"], abs=1e-3
    )


@settings(max_examples=6)
@given(
    seed=st.integers(0, 10_000),
    rate=st.sampled_from([6, 12, 24]),
    policy=st.sampled_from(["tessera", "kube-default", "kueue"]),
)
def test_no_accelerator_hour_is_counted_twice(seed: int, rate: int, policy: str) -> None:
    """Random tiny scenarios (LWS serving, gang and single-GPU batch) under each policy: the
    per-class accounting adds up at every timeline step and matches the GPU view."""
    with tempfile.TemporaryDirectory() as tmp:
        small = {**BATCH_SMALL, "arrivals": {"poissonPerHour": rate}}
        path = scenario_file(Path(tmp), [SERVING_LWS, BATCH_GANGS, small])
        result = replay_scenario(path, seed=seed, policy=policy)
        check_accounting(result, 4 * 8 * 1000)


@settings(max_examples=4)
@given(seed=st.integers(0, 10_000))
def test_a_preempted_batch_gang_is_evicted_whole(seed: int) -> None:
    """Serving scales up into nodes batch gangs hold: whenever a member of a batch gang is
    evicted, every member of that gang is evicted at the same instant; none is partial."""
    lws = copy.deepcopy(SERVING_LWS)
    lws["replicas"] = {
        "schedule": [
            {"at": 0, "replicas": 0},
            {"at": "30m", "replicas": 2},
            {"at": "1h", "replicas": 1},
        ]
    }
    lws["start"] = 0
    keep = {**BATCH_SMALL, "arrivals": {"at": [0]}, "duration": {"fixed": "3h"}}
    with tempfile.TemporaryDirectory() as tmp:
        path = scenario_file(Path(tmp), [keep, lws, BATCH_GANGS])
        trace = scenario_trace(path, seed=seed)
        group = {
            i.key: i.pod.metadata.labels["scheduling.x-k8s.io/pod-group"]
            for i in trace.items
            if "scheduling.x-k8s.io/pod-group" in i.pod.metadata.labels
        }
        result = replay_scenario(path, seed=seed)
    evicted: dict[tuple[float, str], set[str]] = defaultdict(set)
    for entry in result.placements:
        if entry["event"] == "evict" and entry["pod"] in group:
            evicted[(entry["t"], group[entry["pod"]])].add(entry["pod"])
    assert evicted, "the scenario must make serving preempt a batch gang"
    members: dict[str, set[str]] = defaultdict(set)
    for key, name in group.items():
        members[name].add(key)
    for (_, name), pods in evicted.items():
        assert pods == members[name]
    assert result.summary["gangs_partial"] == 0


def one_node() -> LoadedCluster:
    """One node of 64 cpu and 8 whole H100s."""
    return cluster_from_spec(h100_rack_spec(1, 1, name="one"))


def preempted_batch(checkpoint: str | None) -> ReplayResult:
    """An 8-GPU batch pod (1000 s of work) bound at 0; at 700 an 8-GPU serving pod (100 s)
    preempts it; it is recreated and binds again at 800."""
    notes = {"tessera.io/checkpoint-seconds": checkpoint} if checkpoint else {}
    batch = gpu_claim_pod("batch", 8, priority=-10, annotations=notes)
    serving = gpu_claim_pod("serving", 8, priority=1000)
    trace = Trace(
        "ckpt",
        [TraceItem(batch, 0.0, 1000.0), TraceItem(serving, 700.0, 100.0)],
        [gpu_claim_template(8)],
    )
    loaded = one_node()
    return run_replay(
        loaded, trace, replay_profile("tessera", levels=loaded.levels), ReplayConfig()
    )


def test_checkpoints_bound_the_work_a_preemption_loses() -> None:
    """Checkpoint every 300 s, evicted at 700: saved 600, lost 100 s x 8 GPUs = 0.2222 GPU-h;
    400 s left, so it completes at 800 + 400 = 1200. Without checkpoints: lost 700 x 8 =
    1.5556 GPU-h and the whole 1000 s again, done at 1800."""
    with_ckpt = preempted_batch("300")
    assert with_ckpt.summary["batch_lost_gpu_hours"] == round(100 * 8 / 3600, 4)
    assert with_ckpt.summary["end_seconds"] == 1200.0
    binds = [(e["t"], e["pod"]) for e in with_ckpt.placements if e["event"] == "bind"]
    assert binds == [(0.0, "default/batch"), (700.0, "default/serving"), (800.0, "default/batch")]
    plain = preempted_batch(None)
    assert plain.summary["batch_lost_gpu_hours"] == round(700 * 8 / 3600, 4)
    assert plain.summary["end_seconds"] == 1800.0
    # batch held 8 GPUs for 700 + 400 s (with checkpoints): 8 x 1100 / 3600 GPU-hours
    assert with_ckpt.summary["gpu_hours"]["batch"] == round(8 * 1100 / 3600, 4)  # type: ignore[index]


def test_bad_checkpoint_annotation_is_a_one_line_error() -> None:
    """A non-positive checkpoint interval names the pod, the annotation and the value."""
    with pytest.raises(
        ValueError, match=r"default/batch: annotation tessera.io/checkpoint-seconds: '0'"
    ):
        preempted_batch("0")


def test_node_and_device_failures_are_repaired() -> None:
    """Two nodes, a 16-GPU job (2 x 8-GPU pods, no gang) and faults: node 1 lost at 100 for
    200 s, GPU 3 of node 0 failed at 500 for 300 s. Capacity drops to 8 GPUs at 100, is 16
    again at 300, 15 from 500 to 800. The pod on node 1 loses 100 s x 8 GPUs and binds again
    at 300 (node 0 is full); the pod on node 0 loses 500 s x 8 GPUs and binds again at 800,
    when the GPU is back. Lost work (no checkpoints) counts as failure, not preemption."""
    loaded = cluster_from_spec(h100_rack_spec(2, 2, name="two"))
    nodes = loaded.cache.node_names
    pods = [TraceItem(gpu_claim_pod(f"p{i}", 8, priority=-10), 0.0, 2000.0) for i in range(2)]
    faults = (
        Fault(time=100.0, node=nodes[1], repair_after=200.0),
        Fault(time=500.0, device=("gpu.nvidia.com", nodes[0], "gpu-3"), repair_after=300.0),
    )
    trace = Trace("faults", pods, [gpu_claim_template(8)])
    result = run_replay(
        loaded,
        trace,
        replay_profile("tessera", levels=loaded.levels),
        ReplayConfig(faults=faults),
    )
    capacity = {int(r["minute"]): float(r["gpus_capacity"]) for r in result.timeline}
    assert (capacity[0], capacity[2], capacity[5], capacity[9], capacity[14]) == (
        16.0,
        8.0,
        16.0,
        15.0,
        16.0,
    )
    evictions = [(e["t"], e["reason"]) for e in result.placements if e["event"] == "evict"]
    assert [t for t, _ in evictions] == [100.0, 500.0]
    assert evictions[0][1] == f"node {nodes[1]} lost"
    lost = result.summary["lost_gpu_hours"]
    assert isinstance(lost, dict)
    assert lost["preemption"]["batch"] == 0.0
    assert lost["failure"]["batch"] == round((100 + 500) * 8 / 3600, 4)
    binds = [e["t"] for e in result.placements if e["event"] == "bind"]
    assert binds == [0.0, 0.0, 300.0, 800.0]
    assert result.summary["failures"] == {"nodes": 1, "devices": 1}
    assert result.summary["pods_scheduled"] == 2


def test_only_serving_drops_the_batch_pods(tmp_path: Path) -> None:
    """--only serving keeps the LWS pods and nothing else; batch GPU-hours are 0."""
    path = scenario_file(tmp_path, [SERVING_LWS, BATCH_SMALL])
    both = replay_scenario(path)
    alone = replay_scenario(path, only="serving")
    assert alone.summary["pods_total"] == 4
    assert both.summary["pods_total"] > 4
    assert alone.summary["gpu_hours"]["batch"] == 0.0  # type: ignore[index]
    assert alone.summary["only"] == "serving"


def test_a_replica_deleted_while_pending_leaves_the_queue(tmp_path: Path) -> None:
    """A 3-group LWS on a 4-node cluster (2 per rack): group 2 cannot be placed, and the
    scale-down to 2 at 10 min deletes its leader and worker while pending; the replay ends
    at the scenario's end with every pod gone."""
    lws = copy.deepcopy(SERVING_LWS)
    lws["replicas"] = {"schedule": [{"at": 0, "replicas": 3}, {"at": "10m", "replicas": 2}]}
    path = scenario_file(tmp_path, [lws], duration="30m")
    result = replay_scenario(path)
    deleted = [e for e in result.placements if e["event"] == "delete"]
    assert [(e["t"], e["pod"]) for e in deleted] == [
        (600.0, "serving/llm-2"),
        (600.0, "serving/llm-2-1"),
    ]
    assert result.summary["pods_deleted_pending"] == 2
    assert result.summary["end_seconds"] == 1800.0
    assert json.loads((result.directory / "summary.json").read_text()) == result.summary


def test_a_scenario_replays_identically_for_a_seed(tmp_path: Path) -> None:
    """Two replays of one scenario and seed write byte-identical placements and timelines
    and equal summaries (minus wall time); another seed differs."""
    path = scenario_file(tmp_path, [SERVING_LWS, BATCH_GANGS, BATCH_SMALL])
    runs = [replay_scenario(path, seed=seed) for seed in (3, 3, 4)]
    files = [
        [(r.directory / n).read_bytes() for n in ("placements.jsonl", "timeline.csv")] for r in runs
    ]
    assert files[0] == files[1]
    assert stable(runs[0].summary) == stable(runs[1].summary)
    assert files[0] != files[2]
