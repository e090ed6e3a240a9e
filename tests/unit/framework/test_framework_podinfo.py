"""Gang recognition (podinfo.gang_of) and the serving/batch rule, exactly as docs/conventions.md's
Conventions list them: LWS, coscheduling PodGroup and tessera annotations, their topology
annotations, and GangSpecError naming the pod, the key and the value."""

from __future__ import annotations

import pytest

from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import PriorityClass
from scheduler.framework.podinfo import (
    GangRef,
    GangSpecError,
    gang_of,
    is_batch,
    pod_info,
    pod_priority,
)
from tests.builders import make_pod

LWS = "leaderworkerset.sigs.k8s.io/"
RACK = "topology.tessera.io/rack"
BLOCK = "topology.tessera.io/block"
CLIQUE = "nvidia.com/gpu.clique"


def lws_labels(group_key: str = "abc123", worker: int = 0, revision: str = "r1") -> dict[str, str]:
    """The labels the LWS controller puts on a group's pods."""
    labels = {
        LWS + "name": "llama",
        LWS + "group-index": "0",
        LWS + "group-key": group_key,
        LWS + "worker-index": str(worker),
    }
    if revision:
        labels[LWS + "template-revision-hash"] = revision
    return labels


def pod_group(name: str, min_member: int | None, namespace: str = "ml") -> PodGroup:
    """A coscheduling PodGroup."""
    return PodGroup.model_validate(
        {
            "apiVersion": "scheduling.x-k8s.io/v1alpha1",
            "kind": "PodGroup",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {} if min_member is None else {"minMember": min_member},
        }
    )


def test_lone_pod_has_no_gang() -> None:
    """A pod without any gang label or annotation is not in a gang."""
    assert gang_of(make_pod("solo", labels={"app": "x"})) is None


def test_lws_pod_gang_key_size_and_index() -> None:
    """LWS gang: key from namespace/name/group/revision, size annotation, worker index."""
    pod = make_pod(
        "llama-0-2",
        namespace="serving",
        labels=lws_labels(worker=2),
        annotations={LWS + "size": "4"},
    )
    assert gang_of(pod) == GangRef(
        key="serving/lws/llama/abc123/r1", size=4, source="LeaderWorkerSet", index=2
    )


def test_lws_revision_hash_is_optional_but_separates_revisions() -> None:
    """Without template-revision-hash the gang still forms; two revisions are two gangs."""
    plain = make_pod("a", labels=lws_labels(revision=""), annotations={LWS + "size": "2"})
    old = make_pod("b", labels=lws_labels(revision="r1"), annotations={LWS + "size": "2"})
    new = make_pod("c", labels=lws_labels(revision="r2"), annotations={LWS + "size": "2"})
    found = [gang_of(p) for p in (plain, old, new)]
    assert all(g is not None and g.size == 2 for g in found)
    keys = [g.key for g in found if g is not None]
    assert keys == [
        "default/lws/llama/abc123/",
        "default/lws/llama/abc123/r1",
        "default/lws/llama/abc123/r2",
    ]


def test_lws_exclusive_topology_is_required_and_exclusive() -> None:
    """exclusive-topology is required and exclusive, over Kueue/tessera required keys."""
    pod = make_pod(
        "llama-0",
        labels=lws_labels(),
        annotations={
            LWS + "size": "4",
            LWS + "exclusive-topology": RACK,
            "tessera.io/topology-required": BLOCK,
            "kueue.x-k8s.io/podset-preferred-topology": CLIQUE,
        },
    )
    gang = gang_of(pod)
    assert gang is not None
    assert (gang.required, gang.exclusive, gang.preferred) == (RACK, True, CLIQUE)


def test_lws_subgroups() -> None:
    """subgroup-size and subgroup-exclusive-topology are read onto the gang."""
    pod = make_pod(
        "llama-0",
        labels=lws_labels(),
        annotations={
            LWS + "size": "8",
            LWS + "subgroup-size": "4",
            LWS + "subgroup-exclusive-topology": CLIQUE,
        },
    )
    gang = gang_of(pod)
    assert gang is not None
    assert (gang.subgroup_size, gang.subgroup_key, gang.exclusive) == (4, CLIQUE, False)


def test_kueue_and_tessera_topology_annotations() -> None:
    """Kueue podset topology annotations apply; tessera.io/topology-* win over them."""
    kueue = make_pod(
        "k",
        annotations={
            "tessera.io/gang": "g",
            "tessera.io/gang-size": "2",
            "kueue.x-k8s.io/podset-required-topology": BLOCK,
            "kueue.x-k8s.io/podset-preferred-topology": RACK,
        },
    )
    gang = gang_of(kueue)
    assert gang is not None
    assert (gang.required, gang.preferred, gang.exclusive) == (BLOCK, RACK, False)
    both = make_pod(
        "t",
        annotations={
            "tessera.io/gang": "g",
            "tessera.io/gang-size": "2",
            "kueue.x-k8s.io/podset-required-topology": BLOCK,
            "tessera.io/topology-required": RACK,
            "kueue.x-k8s.io/podset-preferred-topology": BLOCK,
            "tessera.io/topology-preferred": CLIQUE,
        },
    )
    gang = gang_of(both)
    assert gang is not None
    assert (gang.required, gang.preferred) == (RACK, CLIQUE)


def test_pod_group_size_from_min_member() -> None:
    """PodGroup gang size is the same-namespace PodGroup's minMember, else 1."""
    pod = make_pod(
        "w0",
        namespace="ml",
        labels={"scheduling.x-k8s.io/pod-group": "train"},
        annotations={"tessera.io/topology-required": RACK},
    )
    groups = {"ml/train": pod_group("train", 6)}
    assert gang_of(pod, groups) == GangRef(
        key="ml/podgroup/train", size=6, source="PodGroup", required=RACK
    )
    unknown = gang_of(pod)
    assert unknown is not None and unknown.size == 1
    other_namespace = {"default/train": pod_group("train", 6, namespace="default")}
    found = gang_of(pod, other_namespace)
    assert found is not None and found.size == 1
    no_min = gang_of(pod, {"ml/train": pod_group("train", None)})
    assert no_min is not None and no_min.size == 1


def test_tessera_annotations() -> None:
    """tessera.io/gang + tessera.io/gang-size: keyed by namespace and name."""
    pod = make_pod(
        "p",
        namespace="batch",
        annotations={"tessera.io/gang": "job-7", "tessera.io/gang-size": "3"},
    )
    assert gang_of(pod) == GangRef(key="batch/tessera/job-7", size=3, source="tessera")


def test_conventions_are_checked_in_order() -> None:
    """LWS labels win over a pod-group label, which wins over tessera annotations."""
    everything = make_pod(
        "p",
        namespace="ml",
        labels={**lws_labels(), "scheduling.x-k8s.io/pod-group": "train"},
        annotations={LWS + "size": "2", "tessera.io/gang": "g", "tessera.io/gang-size": "9"},
    )
    found = gang_of(everything, {"ml/train": pod_group("train", 5)})
    assert found is not None and found.source == "LeaderWorkerSet"
    group_and_tessera = make_pod(
        "q",
        namespace="ml",
        labels={"scheduling.x-k8s.io/pod-group": "train"},
        annotations={"tessera.io/gang": "g", "tessera.io/gang-size": "9"},
    )
    found = gang_of(group_and_tessera, {"ml/train": pod_group("train", 5)})
    assert found is not None and (found.source, found.size) == ("PodGroup", 5)


@pytest.mark.parametrize(
    ("labels", "annotations", "message"),
    [
        (
            lws_labels(),
            {},
            "Pod ml/p: LWS pod without annotation leaderworkerset.sigs.k8s.io/size",
        ),
        (
            lws_labels(),
            {LWS + "size": "four"},
            "Pod ml/p: annotation leaderworkerset.sigs.k8s.io/size: 'four' is not an integer",
        ),
        (
            lws_labels(),
            {LWS + "size": "0"},
            "Pod ml/p: annotation leaderworkerset.sigs.k8s.io/size: '0' must be at least 1",
        ),
        (
            lws_labels(),
            {LWS + "size": "4", LWS + "subgroup-size": "x"},
            "Pod ml/p: annotation leaderworkerset.sigs.k8s.io/subgroup-size: 'x' is not an integer",
        ),
        (
            {},
            {"tessera.io/gang": "g"},
            "Pod ml/p: annotation tessera.io/gang without tessera.io/gang-size",
        ),
        (
            {},
            {"tessera.io/gang": "g", "tessera.io/gang-size": "-2"},
            "Pod ml/p: annotation tessera.io/gang-size: '-2' must be at least 1",
        ),
        (
            {},
            {"tessera.io/gang": "g", "tessera.io/gang-size": "2.5"},
            "Pod ml/p: annotation tessera.io/gang-size: '2.5' is not an integer",
        ),
    ],
)
def test_bad_gang_annotations_name_pod_key_and_value(
    labels: dict[str, str], annotations: dict[str, str], message: str
) -> None:
    """Bad gang annotations raise GangSpecError naming the pod, the key and the value."""
    pod = make_pod("p", namespace="ml", labels=labels, annotations=annotations)
    with pytest.raises(GangSpecError) as raised:
        gang_of(pod)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)
    with pytest.raises(GangSpecError, match="Pod ml/p"):
        pod_info(pod)


def test_serving_batch_rule_and_threshold() -> None:
    """Batch = label tessera.io/class=batch or priority below the threshold (default 0)."""
    labelled = make_pod("a", labels={"tessera.io/class": "batch"}, priority=1000)
    assert is_batch(labelled, 1000)
    assert is_batch(make_pod("b"), -1)
    assert not is_batch(make_pod("c"), 0)
    assert not is_batch(make_pod("d", labels={"tessera.io/class": "serving"}), 5)
    # a configurable threshold: 100 makes priority 50 batch, 100 serving
    assert is_batch(make_pod("e"), 50, threshold=100)
    assert not is_batch(make_pod("f"), 100, threshold=100)
    assert pod_info(make_pod("g", priority=-5)).batch
    assert not pod_info(make_pod("h", priority=-5), batch_threshold=-10).batch


def test_priority_resolution_order() -> None:
    """spec.priority, else the named PriorityClass, else the global default, else 0."""
    classes = {
        "high": PriorityClass.model_validate(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": "high"},
                "value": 1000,
            }
        ),
        "default": PriorityClass.model_validate(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": "default"},
                "value": -3,
                "globalDefault": True,
            }
        ),
    }
    named = make_pod("n")
    named = named.model_copy(
        update={"spec": named.spec.model_copy(update={"priority_class_name": "high"})}
    )
    assert pod_priority(make_pod("s", priority=7), classes) == 7
    assert pod_priority(named, classes) == 1000
    assert pod_priority(make_pod("d"), classes) == -3
    assert pod_priority(make_pod("z")) == 0
    info = pod_info(make_pod("d"), priority_classes=classes)
    assert (info.priority, info.batch) == (-3, True)
