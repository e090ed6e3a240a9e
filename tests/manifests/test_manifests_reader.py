"""The pods the trace reader creates from the verbatim manifests of ``traces/``: names,
labels, annotations, owner references, defaults and creation rules, as the 1.35 controllers,
the API server and the LWS webhook give them (docs/semantics/manifests.md)."""

from __future__ import annotations

from pathlib import Path

from scheduler.api.pod import Pod
from simulator.inputs import read_trace
from simulator.traces.model import Trace, TraceItem

TRACES = Path(__file__).resolve().parent / "traces"
ALPHANUMS = set("bcdfghjklmnpqrstvwxz2456789")


def trace(name: str) -> Trace:
    """The trace read from ``traces/<name>.yaml``."""
    return read_trace(TRACES / f"{name}.yaml")


def by_name(items: list[TraceItem]) -> dict[str, TraceItem]:
    """Items by pod name."""
    return {item.pod.metadata.name or "": item for item in items}


def owner(pod: Pod) -> tuple[str, str, str, bool, bool]:
    """The pod's controller reference as (apiVersion, kind, name, controller, block)."""
    (ref,) = pod.metadata.owner_references
    return (
        ref.api_version,
        ref.kind,
        ref.name,
        bool(ref.controller),
        bool(ref.block_owner_deletion),
    )


def test_deployment_pods_carry_the_replicaset_hash_and_defaulted_requests() -> None:
    """Deployment pods: <deploy>-<hash>-<5>, label pod-template-hash, owner the ReplicaSet
    <deploy>-<hash>, requests = limits, schedulerName and the two default tolerations."""
    pods = [item.pod for item in trace("deployment-cpu-limits").items]
    pod = pods[0]
    digest = pod.metadata.labels["pod-template-hash"]
    assert set(digest) <= ALPHANUMS
    assert pod.metadata.labels == {
        "app": "api-server",
        "tier": "frontend",
        "pod-template-hash": digest,
    }
    name = pod.metadata.name or ""
    assert name.startswith(f"api-server-{digest}-") and set(name[-5:]) <= ALPHANUMS
    assert owner(pod) == ("apps/v1", "ReplicaSet", f"api-server-{digest}", True, True)
    resources = pod.spec.containers[0].resources
    assert resources.requests == resources.limits == {"cpu": "150", "memory": "64Gi"}
    assert pod.spec.scheduler_name == "default-scheduler"
    tolerations = {(t.key, t.effect, t.toleration_seconds) for t in pod.spec.tolerations}
    assert tolerations == {
        ("node.kubernetes.io/not-ready", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "NoExecute", 300),
    }
    assert pod.spec.priority == 0 and pod.spec.preemption_policy == "PreemptLowerPriority"
    assert len({p.metadata.name for p in pods}) == 40


def test_statefulset_pods_are_ordinal_and_chained() -> None:
    """etcd-0..2 with pod-name, pod-index and controller-revision-hash labels, each created
    after the previous is bound; kafka-3, kafka-4 (Parallel) at once."""
    items = by_name(trace("statefulset").items)
    etcd1 = items["etcd-1"].pod
    assert etcd1.metadata.labels["statefulset.kubernetes.io/pod-name"] == "etcd-1"
    assert etcd1.metadata.labels["apps.kubernetes.io/pod-index"] == "1"
    assert etcd1.metadata.labels["controller-revision-hash"].startswith("etcd-")
    assert owner(etcd1) == ("apps/v1", "StatefulSet", "etcd", True, True)
    chain = {n: items[n].after_bound_of for n in ("etcd-0", "etcd-1", "etcd-2")}
    assert chain == {"etcd-0": None, "etcd-1": "infra/etcd-0", "etcd-2": "infra/etcd-1"}
    assert items["kafka-3"].after_bound_of is None and items["kafka-4"].after_bound_of is None


def test_job_pods_labels_indexes_and_waves() -> None:
    """Job pods get the selector labels, the tracking finalizer and owner; Indexed pods the
    completion-index label and annotation and <job>-<i>-<5> names; the NonIndexed Job's last
    two pods wait for completions of its first two."""
    items = trace("jobs").items
    preprocess = [i for i in items if (i.pod.metadata.name or "").startswith("preprocess-")]
    slot = "job:data/preprocess"
    assert [i.waits_slot for i in preprocess] == [None, None, slot, slot]
    assert all(i.completes_slot == "job:data/preprocess" for i in preprocess)
    pod = preprocess[0].pod
    labels = pod.metadata.labels
    uid = labels["batch.kubernetes.io/controller-uid"]
    assert labels == {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "preprocess",
        "controller-uid": uid,
        "job-name": "preprocess",
    }
    assert pod.metadata.finalizers == ("batch.kubernetes.io/job-tracking",)
    assert owner(pod)[:3] == ("batch/v1", "Job", "preprocess")
    shards = sorted(
        (i.pod for i in items if (i.pod.metadata.name or "").startswith("shard-")),
        key=lambda p: p.metadata.name or "",
    )
    for index, shard in enumerate(shards):
        key = "batch.kubernetes.io/job-completion-index"
        assert shard.metadata.labels[key] == shard.metadata.annotations[key] == str(index)
        assert (shard.metadata.name or "").startswith(f"shard-{index}-")


def test_kueue_job_pods_form_one_podset_gang() -> None:
    """Kueue-managed Job pods: the workload annotation, podset label and one gang of the
    podset's count with the required rack; the Job without a queue label is not grouped."""
    items = trace("kueue-tas-required-rack").items
    train = [i.pod for i in items if (i.pod.metadata.name or "").startswith("train-")]
    notes = train[0].metadata.annotations
    assert notes["kueue.x-k8s.io/workload"].startswith("job-train-")
    assert train[0].metadata.labels["kueue.x-k8s.io/podset"] == "main"
    assert notes["tessera.io/gang-size"] == "16"
    assert notes["kueue.x-k8s.io/podset-required-topology"] == "topology.tessera.io/rack"
    assert len({p.metadata.annotations["tessera.io/gang"] for p in train}) == 1
    warmup = [i.pod for i in items if (i.pod.metadata.name or "").startswith("warmup-")]
    assert all("tessera.io/gang" not in p.metadata.annotations for p in warmup)


def test_lws_leader_gets_the_webhook_affinities_and_workers_follow() -> None:
    """Exclusive LWS: the leader carries the group-key affinity and anti-affinity on the rack
    key; workers are created after their leader is bound and follow its rack."""
    items = by_name(trace("lws-exclusive-rack").items)
    leader = items["deepseek-0"].pod
    key = leader.metadata.labels["leaderworkerset.sigs.k8s.io/group-key"]
    affinity = leader.spec.affinity
    assert affinity is not None and affinity.pod_affinity is not None
    (together,) = affinity.pod_affinity.required_during_scheduling_ignored_during_execution
    assert together.topology_key == "topology.tessera.io/rack"
    assert together.label_selector is not None
    (same,) = together.label_selector.match_expressions
    assert (same.key, same.operator, same.values) == (
        "leaderworkerset.sigs.k8s.io/group-key",
        "In",
        (key,),
    )
    assert affinity.pod_anti_affinity is not None
    (apart,) = affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution
    assert apart.label_selector is not None
    assert [(r.operator, r.values) for r in apart.label_selector.match_expressions] == [
        ("Exists", ()),
        ("NotIn", (key,)),
    ]
    worker = items["deepseek-0-2"]
    assert worker.after_bound_of == "serving/deepseek-0"
    assert worker.follow_topology == "topology.tessera.io/rack"
    assert worker.pod.spec.affinity is None
    assert owner(worker.pod)[1:3] == ("StatefulSet", "deepseek-0")
    assert owner(leader)[1:3] == ("StatefulSet", "deepseek")
    assert worker.pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == "deepseek-0-2"


def test_objects_without_namespace_are_in_default() -> None:
    """Every namespaced object of the namespace-less file is in 'default'."""
    loaded = trace("no-namespace")
    assert {o.metadata.namespace for o in loaded.objects} == {"default"}
    assert {i.pod.metadata.namespace for i in loaded.items} == {"default"}


def test_generated_names_are_reproducible() -> None:
    """The same file gives the same generated names on every read."""
    first = [i.pod.metadata.name for i in trace("generate-name").items]
    assert first == [i.pod.metadata.name for i in trace("generate-name").items]
