"""API-server defaulting and admission (scheduler/api/defaults.py) and generated names
(scheduler/api/names.py), rule by rule against upstream's behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api.defaults import (
    AdmissionError,
    admit_priority,
    apply_defaults,
    default_node,
    default_pod,
)
from scheduler.api.loaders import load_object
from scheduler.api.names import NameGenerator, NameTakenError, fnv32a, safe_encode
from scheduler.api.node import Node
from scheduler.api.pod import Pod, pod_requests
from scheduler.api.priority import PriorityClass


def pod(spec: dict[str, Any], **meta: Any) -> Pod:
    """A Pod from its spec."""
    obj = load_object(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}, "spec": spec}
    )
    assert isinstance(obj, Pod)
    return obj


def container(
    requests: dict[str, str] | None = None, limits: dict[str, str] | None = None
) -> dict[str, Any]:
    """A container with these requests and limits."""
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "image": "i", "resources": resources}


def test_requests_default_to_limits_per_resource() -> None:
    """SetDefaults_Pod: a limit without a request sets the request; an explicit request
    stays; init containers too."""
    p = default_pod(
        pod(
            {
                "containers": [container({"cpu": "1"}, {"cpu": "2", "memory": "4Gi"})],
                "initContainers": [container(None, {"cpu": "3"})],
            }
        )
    )
    assert p.spec.containers[0].resources.requests == {"cpu": "1", "memory": "4Gi"}
    assert p.spec.init_containers[0].resources.requests == {"cpu": "3"}
    # init 3 CPUs > container 1 CPU: the init phase decides (max of the two)
    assert pod_requests(p) == {"cpu": 3000, "memory": 4 * 2**30}


def test_pod_level_requests_default_from_containers_then_limits() -> None:
    """defaultPodRequests: with pod-level limits, cpu comes from the containers' requests,
    memory (no container request) from the pod-level limit."""
    p = default_pod(
        pod(
            {
                "containers": [container({"cpu": "500m"}), container({"cpu": "1500m"})],
                "resources": {"limits": {"cpu": "4", "memory": "8Gi"}},
            }
        )
    )
    assert p.spec.resources is not None
    assert p.spec.resources.requests == {"cpu": "2", "memory": "8Gi"}
    assert pod_requests(p) == {"cpu": 2000, "memory": 8 * 2**30}


def test_pod_level_hugepages_limit_from_containers() -> None:
    """defaultHugePagePodLimits: container hugepage limits sum into the pod-level limit,
    which defaultPodRequests then copies into the pod-level request."""
    p = default_pod(
        pod(
            {
                "containers": [container(None, {"hugepages-2Mi": "10Mi"})] * 2,
                "resources": {"requests": {"cpu": "1"}},
            }
        )
    )
    assert p.spec.resources is not None
    assert p.spec.resources.limits == {"hugepages-2Mi": "20Mi"}
    # the defaulted limit makes defaultPodRequests run: hugepages are not overcommittable,
    # so the request comes from the pod-level limit
    assert p.spec.resources.requests == {"cpu": "1", "hugepages-2Mi": "20Mi"}


def test_scheduler_name_and_default_tolerations() -> None:
    """schedulerName defaults to default-scheduler; DefaultTolerationSeconds adds what is not
    already tolerated (a wildcard NoExecute toleration covers both)."""
    p = default_pod(pod({"containers": [container()]}))
    assert p.spec.scheduler_name == "default-scheduler"
    assert {t.key for t in p.spec.tolerations} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }
    covered = default_pod(
        pod({"containers": [container()], "tolerations": [{"operator": "Exists"}]})
    )
    assert len(covered.spec.tolerations) == 1
    assert default_pod(p) == p  # idempotent


def test_namespace_defaults_and_cluster_scoped_objects_lose_theirs() -> None:
    """Namespaced objects without a namespace go to default; cluster-scoped ones keep none."""
    assert apply_defaults(pod({})).metadata.namespace == "default"
    node = load_object(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}}
    )
    assert apply_defaults(node).metadata.namespace is None


def test_node_allocatable_defaults_to_capacity() -> None:
    """SetDefaults_NodeStatus: allocatable = capacity when absent; an explicit one stays."""
    raw = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}
    bare = load_object({**raw, "status": {"capacity": {"cpu": "8"}}})
    assert isinstance(bare, Node)
    assert default_node(bare).status.allocatable == {"cpu": "8"}
    given = load_object({**raw, "status": {"capacity": {"cpu": "8"}, "allocatable": {"cpu": "7"}}})
    assert isinstance(given, Node)
    assert default_node(given).status.allocatable == {"cpu": "7"}


def _class(
    name: str, value: int, *, default: bool = False, policy: str | None = None
) -> PriorityClass:
    obj = load_object(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "globalDefault": default,
            **({"preemptionPolicy": policy} if policy else {}),
        }
    )
    assert isinstance(obj, PriorityClass)
    return obj


def test_priority_admission() -> None:
    """Priority from the named class (with its preemption policy), the lowest global default
    when none is named, 0 without one, the system classes always; a missing class or a
    conflicting policy is refused; an already admitted pod is left alone."""
    classes = {
        "batch": _class("batch", -10, policy="Never"),
        "d1": _class("d1", 5, default=True),
        "d2": _class("d2", 3, default=True),
    }
    named = admit_priority(pod({"priorityClassName": "batch"}), classes)
    assert (named.spec.priority, named.spec.preemption_policy) == (-10, "Never")
    unnamed = admit_priority(pod({}), classes)
    assert (unnamed.spec.priority, unnamed.spec.priority_class_name) == (3, "d2")
    assert admit_priority(pod({}), {}).spec.priority == 0
    system = admit_priority(pod({"priorityClassName": "system-node-critical"}), {})
    assert system.spec.priority == 2_000_001_000
    with pytest.raises(AdmissionError, match="no PriorityClass with name 'gold'"):
        admit_priority(pod({"priorityClassName": "gold"}), classes)
    with pytest.raises(AdmissionError, match="preemptionPolicy"):
        admit_priority(
            pod({"priorityClassName": "batch", "preemptionPolicy": "PreemptLowerPriority"}), classes
        )
    admitted = pod({"priority": 7, "priorityClassName": "gold"})
    assert admit_priority(admitted, classes) is admitted


def test_generated_names_are_distinct_and_retry_like_the_api_server() -> None:
    """generateName: base + 5 characters of the util/rand alphabet, cut to 58; taken names are
    skipped; after 8 taken candidates the create fails."""
    names = NameGenerator("seed")
    seen: set[str] = set()
    for _ in range(50):
        name = names.generate("web-", seen.__contains__)
        assert name not in seen and name.startswith("web-") and len(name) == 9
        seen.add(name)
    long = NameGenerator().generate("x" * 70, lambda _: False)
    assert len(long) == 63 and long.startswith("x" * 58)
    with pytest.raises(NameTakenError, match="8 generated names"):
        NameGenerator().generate("a-", lambda _: True)
    assert NameGenerator("s").generate("a-", seen.__contains__) == NameGenerator("s").generate(
        "a-", seen.__contains__
    )


def test_safe_encode_and_fnv() -> None:
    """rand.SafeEncodeString maps bytes onto the alphabet; FNV-1a 32 of "" and "a" are the
    published test vectors."""
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert safe_encode("0") == "bcdfghjklmnpqrstvwxz2456789"[ord("0") % 27]
