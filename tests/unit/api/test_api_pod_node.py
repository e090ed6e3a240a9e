"""Pod and Node helpers: effective requests, keys, allocatable amounts."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api import Node, Pod, node_allocatable, pod_key, pod_requests


def container(requests: dict[str, Any], *, sidecar: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "c", "resources": {"requests": requests}}
    if sidecar:
        out["restartPolicy"] = "Always"
    return out


def pod(
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> Pod:
    return Pod.model_validate(
        {
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": containers, "initContainers": init or [], **spec},
        }
    )


# (pod, expected effective request)
REQUESTS = [
    (pod([]), {}),
    (pod([container({"cpu": "500m", "memory": "1Gi"})]), {"cpu": 500, "memory": 2**30}),
    (  # containers sum: 500m + 1.5 = 2000m; 1Gi + 1Gi
        pod(
            [
                container({"cpu": "500m", "memory": "1Gi"}),
                container({"cpu": "1.5", "memory": "1Gi"}),
            ]
        ),
        {"cpu": 2000, "memory": 2 * 2**30},
    ),
    (  # init max(3) > containers sum(1): cpu 3000; memory max(1Gi, 512Mi) = 1Gi
        pod(
            [container({"cpu": "1", "memory": "1Gi"})],
            [container({"cpu": "3", "memory": "512Mi"}), container({"cpu": "2"})],
        ),
        {"cpu": 3000, "memory": 2**30},
    ),
    (  # init container asking for a resource the app containers do not
        pod([container({"cpu": "1"})], [container({"nvidia.com/gpu": "1"})]),
        {"cpu": 1000, "nvidia.com/gpu": 1},
    ),
    (  # sidecar 1 cpu runs with the app (2): 3; init after sidecar needs 1 + 1.5 = 2.5 < 3
        pod(
            [container({"cpu": "2"})],
            [container({"cpu": "1"}, sidecar=True), container({"cpu": "1.5"})],
        ),
        {"cpu": 3000},
    ),
    (  # init before the sidecar needs 4 alone; sidecar adds 1 to app 2 = 3; max = 4
        pod(
            [container({"cpu": "2"})],
            [container({"cpu": "4"}), container({"cpu": "1"}, sidecar=True)],
        ),
        {"cpu": 4000},
    ),
    (  # init after two sidecars needs 3 + 0.5 + 0.5 = 4 > app 1 + sidecars 1 = 2
        pod(
            [container({"cpu": "1"})],
            [
                container({"cpu": "500m"}, sidecar=True),
                container({"cpu": "500m"}, sidecar=True),
                container({"cpu": "3"}),
            ],
        ),
        {"cpu": 4000},
    ),
    (  # overhead is added after the max: 1 + 250m
        pod([container({"cpu": "1"})], overhead={"cpu": "250m", "memory": "64Mi"}),
        {"cpu": 1250, "memory": 64 * 2**20},
    ),
    (  # pod-level requests replace cpu/memory, not extended resources; overhead still added
        pod(
            [container({"cpu": "1", "memory": "1Gi", "example.com/foo": "2"})],
            resources={"requests": {"cpu": "4", "memory": "2Gi", "example.com/foo": "9"}},
            overhead={"cpu": "100m"},
        ),
        {"cpu": 4100, "memory": 2 * 2**30, "example.com/foo": 2},
    ),
    (  # exact sums before rounding: 0.4m + 0.4m + 0.4m = 1.2m -> 2m (MilliValue rounds up)
        pod([container({"cpu": "400u"}), container({"cpu": "400u"}), container({"cpu": "400u"})]),
        {"cpu": 2},
    ),
    (  # limits are not requests
        pod([{"name": "c", "resources": {"limits": {"cpu": "2"}}}]),
        {},
    ),
]


@pytest.mark.parametrize(("the_pod", "expected"), REQUESTS)
def test_pod_requests(the_pod: Pod, expected: dict[str, int]) -> None:
    """pod_requests follows PodRequests: max(sum(app+sidecars), init needs) + overhead."""
    assert pod_requests(the_pod) == expected


def test_pod_key() -> None:
    """pod_key is namespace/name, with the API default namespace when unset."""
    assert pod_key(pod([])) == "ns/p"
    assert pod_key(Pod.model_validate({"metadata": {"name": "q"}})) == "default/q"


def test_node_allocatable_reads_allocatable_only() -> None:
    """node_allocatable converts status.allocatable; capacity is not a fallback."""
    node = Node.model_validate(
        {
            "metadata": {"name": "n"},
            "status": {
                "capacity": {"cpu": "96", "memory": "1Ti", "nvidia.com/gpu": "8"},
                "allocatable": {"cpu": "95500m", "memory": "1000Gi", "pods": 110},
            },
        }
    )
    assert node_allocatable(node) == {"cpu": 95500, "memory": 1000 * 2**30, "pods": 110}
    assert node.status.allocatable["pods"] == "110"


def test_pod_fields_round_trip() -> None:
    """A pod with the scheduling fields dumps to the same JSON it was loaded from."""
    data = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "w", "namespace": "ns", "labels": {"app": "llm"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "vllm",
                    "resources": {
                        "requests": {"cpu": "4"},
                        "claims": [{"name": "gpus", "request": "r0"}],
                    },
                }
            ],
            "nodeSelector": {"zone": "a"},
            "affinity": {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 10,
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": {"app": "llm"}},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                        }
                    ]
                }
            },
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "priority": -10,
            "priorityClassName": "batch",
            "schedulerName": "tessera",
            "resourceClaims": [{"name": "gpus", "resourceClaimTemplateName": "gpu-template"}],
            "schedulingGates": [{"name": "wait"}],
        },
        "status": {
            "phase": "Pending",
            "nominatedNodeName": "n1",
            "resourceClaimStatuses": [{"name": "gpus", "resourceClaimName": "w-gpus-abc"}],
        },
    }
    loaded = Pod.model_validate(data)
    assert loaded.to_dict() == data
    assert loaded.spec.resource_claims[0].resource_claim_template_name == "gpu-template"
    assert loaded.spec.init_containers == ()
