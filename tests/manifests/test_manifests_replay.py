"""Real manifests through ``tessera replay``: the verbatim files of ``traces/`` replayed on
the shipped two-rack H100 cluster (``traces/clusters/``) or the one-node taint cluster of
``clusters/``, with the outcome a Kubernetes 1.35 cluster gives: which pods bind, where, when,
and which stay pending.

The two-rack cluster: 32 HGX H100 nodes (192 CPUs, 8 GPUs each) in racks r000 (h100-0000..15)
and r001 (h100-0016..31), plus four 32-CPU system nodes in rack r002.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.clusters import load_cluster
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import ReplayConfig, run_replay
from simulator.inputs import read_trace

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TWO_RACKS = REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
TAINT_CLUSTER = HERE / "clusters" / "one-node-h100-device-taints.yaml"
TRACES = HERE / "traces"
RACK = "topology.tessera.io/rack"


@dataclass
class Outcome:
    """What a replay wrote: the summary and the placement log."""

    summary: dict[str, Any]
    events: list[dict[str, Any]]

    def binds(self) -> dict[str, tuple[float, str]]:
        """pod -> (time, node) of its first bind."""
        out: dict[str, tuple[float, str]] = {}
        for e in self.events:
            if e["event"] == "bind":
                out.setdefault(e["pod"], (e["t"], e["node"]))
        return out

    def failed(self) -> dict[str, str]:
        """pod -> reason of its last failed attempt, for pods never bound."""
        bound = self.binds()
        return {
            e["pod"]: e["reason"]
            for e in self.events
            if e["event"] == "fail" and e["pod"] not in bound
        }


def replay(
    tmp_path: Path, trace: str, policy: str = "tessera", cluster: Path = TWO_RACKS
) -> Outcome:
    """``tessera replay`` of ``traces/<trace>.yaml``; asserts exit code 0."""
    out = tmp_path / "out"
    args = ["replay", "--cluster", str(cluster), "--trace", str(TRACES / f"{trace}.yaml")]
    result = CliRunner().invoke(app, [*args, "--policy", policy, "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (out / "placements.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    return Outcome(summary, events)


def rack(node: str) -> str:
    """The rack of a two-rack-cluster node (16 H100 nodes per rack)."""
    index = int(node.rsplit("-", 1)[1])
    return "r000" if index < 16 else "r001"


@pytest.mark.parametrize("policy", ["kube-default", "tessera"])
def test_deployment_with_limits_only_gets_requests_from_limits(tmp_path: Path, policy: str) -> None:
    """40 replicas limiting 150 CPUs each: requests default to limits, so only the 32 H100
    nodes (192 CPUs) fit one each and 8 replicas stay pending (not 40 scheduled)."""
    outcome = replay(tmp_path, "deployment-cpu-limits", policy)
    binds = outcome.binds()
    assert (outcome.summary["pods_total"], len(binds)) == (40, 32)
    assert sorted(node for _, node in binds.values()) == [f"h100-{i:04d}" for i in range(32)]
    assert all("Insufficient cpu" in r for r in outcome.failed().values())
    assert len(outcome.failed()) == 8


def test_replicaset_adopts_the_pod_it_already_owns(tmp_path: Path) -> None:
    """A 3-replica ReplicaSet dumped with one of its pods: 2 pods are created, 3 run."""
    outcome = replay(tmp_path, "replicaset-adopts")
    pods = sorted(outcome.binds())
    assert len(pods) == 3
    assert "infra/cache-7d9f8b6c5-x2k7p" in pods
    assert all(p.startswith("infra/cache-7d9f8b6c5-") for p in pods)


def test_statefulset_ordered_ready_creates_one_ordinal_after_the_other(tmp_path: Path) -> None:
    """OrderedReady: etcd-0, etcd-1, etcd-2 bind in ordinal order (each created after the
    previous is bound); Parallel with ordinals.start 3: kafka-3 and kafka-4."""
    outcome = replay(tmp_path, "statefulset")
    order = [e["pod"] for e in outcome.events if e["event"] == "bind"]
    etcd = [p for p in order if p.startswith("infra/etcd-")]
    assert etcd == ["infra/etcd-0", "infra/etcd-1", "infra/etcd-2"]
    assert sorted(p for p in order if "kafka" in p) == ["infra/kafka-3", "infra/kafka-4"]


def test_job_keeps_parallelism_pods_until_completions(tmp_path: Path) -> None:
    """completions 4, parallelism 2, 100 s pods: two bind at 0, two more at 100 when the first
    complete; the Indexed Job's 3 pods bind at 0; the CronJob creates nothing."""
    outcome = replay(tmp_path, "jobs")
    binds = outcome.binds()
    preprocess = sorted(t for p, (t, _) in binds.items() if "preprocess-" in p)
    assert preprocess == [0.0, 0.0, 100.0, 100.0]
    shards = sorted(p.split("/")[1].rsplit("-", 1)[0] for p in binds if "/shard-" in p)
    assert shards == ["shard-0", "shard-1", "shard-2"]
    assert outcome.summary["pods_total"] == 7


@pytest.mark.parametrize("policy", ["tessera"])
def test_lws_exclusive_rack_third_group_stays_pending(tmp_path: Path, policy: str) -> None:
    """Three exclusive-rack groups of 4 x 8 GPUs on two GPU racks: one group per rack, each
    group inside one rack, the third group's leader pending (its workers never created)."""
    outcome = replay(tmp_path, "lws-exclusive-rack", policy)
    binds = outcome.binds()
    groups: dict[str, set[str]] = {}
    for pod, (_, node) in binds.items():
        group = pod.split("/")[1].split("-")[1]
        groups.setdefault(group, set()).add(rack(node))
    assert sorted(groups) == ["0", "1"]
    assert all(len(racks) == 1 for racks in groups.values())
    assert groups["0"] != groups["1"]
    assert sorted(outcome.failed()) == ["serving/deepseek-2"]
    assert outcome.summary["pods_total"] == 9


def test_lws_exclusivity_holds_for_a_stock_profile_with_inter_pod_affinity() -> None:
    """kube-scheduler's default profile (with InterPodAffinity, as upstream enables it) and
    no gang placement: the webhook's affinity terms and the worker node selector alone keep
    one group per rack, and the third leader stays pending."""
    loaded = load_cluster(TWO_RACKS)
    profile = replay_profile("kube-default", seed=0, levels=loaded.levels)
    assert "InterPodAffinity" in profile.plugins.names()
    trace = read_trace(TRACES / "lws-exclusive-rack.yaml")
    result = run_replay(loaded, trace, profile, ReplayConfig(seed=0))
    binds = {e["pod"]: e["node"] for e in result.placements if e["event"] == "bind"}
    racks: dict[str, set[str]] = {}
    for pod, node in binds.items():
        racks.setdefault(pod.split("/")[1].split("-")[1], set()).add(rack(node))
    assert sorted(racks) == ["0", "1"]
    assert racks["0"] != racks["1"] and all(len(r) == 1 for r in racks.values())
    assert "serving/deepseek-2" not in binds


def test_podgroup_members_are_placed_together(tmp_path: Path) -> None:
    """A coscheduling PodGroup of 3 eight-GPU pods: one gang, all three bound at once."""
    outcome = replay(tmp_path, "podgroup")
    assert (outcome.summary["gangs_total"], outcome.summary["gangs_placed"]) == (1, 1)
    assert {t for t, _ in outcome.binds().values()} == {0.0}
    assert len(outcome.binds()) == 3


def test_kueue_required_rack_places_the_job_in_one_rack(tmp_path: Path) -> None:
    """Kueue TAS required rack: 'train' (16 pods) lands entirely in the one rack with 16 free
    nodes; 'too-big' (17 pods) fits in no rack and all 17 stay pending."""
    outcome = replay(tmp_path, "kueue-tas-required-rack")
    binds = outcome.binds()
    warmup = {rack(n) for p, (_, n) in binds.items() if "/warmup-" in p}
    train = {rack(n) for p, (_, n) in binds.items() if "/train-" in p}
    assert warmup == {"r000"}
    assert train == {"r001"}
    assert sum(1 for p in binds if "/train-" in p) == 16
    too_big = [p for p in outcome.failed() if "/too-big-" in p]
    assert len(too_big) == 17
    assert not any("/too-big-" in p for p in binds)


@pytest.mark.parametrize("policy", ["kube-default", "tessera"])
def test_device_taint_rule_keeps_a_device_from_untolerating_claims(
    tmp_path: Path, policy: str
) -> None:
    """A NoSchedule DeviceTaintRule on GPU 3: the claim for all 8 GPUs cannot be allocated;
    the claim tolerating the taint gets all 8 (the None-effect taint on GPU 4 changes nothing)."""
    outcome = replay(tmp_path, "device-taint-rule", policy, TAINT_CLUSTER)
    assert list(outcome.binds()) == ["ml/tolerates-maintenance"]
    assert "cannot allocate all claims" in outcome.failed()["ml/needs-eight"]


def test_without_the_rule_the_same_pod_fits() -> None:
    """Control for the taint test: the trace without its DeviceTaintRules binds needs-eight."""
    loaded = load_cluster(TAINT_CLUSTER)
    trace = read_trace(TRACES / "device-taint-rule.yaml")
    trace.objects = [o for o in trace.objects if o.kind != "DeviceTaintRule"]
    result = run_replay(loaded, trace, replay_profile("tessera"), ReplayConfig())
    assert next(e["pod"] for e in result.placements if e["event"] == "bind") == "ml/needs-eight"


def test_pods_of_another_scheduler_stay_pending_and_are_counted(tmp_path: Path) -> None:
    """default-scheduler and tessera pods bind; the volcano pod stays pending, counted."""
    outcome = replay(tmp_path, "scheduler-names")
    assert sorted(outcome.binds()) == ["apps/for-tessera", "apps/plain"]
    assert outcome.summary["pods_other_scheduler"] == {"volcano": 1}
    assert outcome.summary["pods_unschedulable"] == 1


def test_objects_without_namespace_go_to_default(tmp_path: Path) -> None:
    """Claim template, shared claim, PodGroup and pods without a namespace meet in
    'default': the gang of two binds, both pods get their GPUs."""
    outcome = replay(tmp_path, "no-namespace")
    assert sorted(outcome.binds()) == ["default/pair-a", "default/pair-b"]
    assert outcome.summary["gangs_placed"] == 1
    devices = [e["devices"] for e in outcome.events if e["event"] == "bind"]
    assert all(len(d) == 1 for d in devices)


def test_generate_name_pods_get_distinct_names(tmp_path: Path) -> None:
    """Three pods with generateName probe-: three distinct probe-xxxxx names, all bound."""
    outcome = replay(tmp_path, "generate-name")
    names = sorted(outcome.binds())
    assert len(set(names)) == 3
    assert all(n.startswith("tools/probe-") and len(n) == len("tools/probe-") + 5 for n in names)
    assert all(set(n[-5:]) <= set("bcdfghjklmnpqrstvwxz2456789") for n in names)


def test_go_zero_time_is_unset_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    """creationTimestamp 0001-01-01T00:00:00Z is read as unset (the pod arrives at the start)
    and reported once."""
    trace = read_trace(TRACES / "go-zero-time.yaml")
    arrivals = {item.pod.metadata.name: item.arrival for item in trace.items}
    assert arrivals == {"later": 0.0, "unset-time": 0.0}
    assert "Go's zero time" in caplog.text
    assert "Pod apps/unset-time" in caplog.text
