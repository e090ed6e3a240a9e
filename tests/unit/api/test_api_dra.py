"""DRA models load shapes the allocator must judge, and keep absent fields absent; other kinds."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.api import (
    LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION,
    DeviceAttribute,
    DeviceClass,
    LeaderWorkerSet,
    PodGroup,
    PriorityClass,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
    load_object,
)
from scheduler.api.lws import LWS_GROUP_KEY_LABEL, LWS_SIZE_ANNOTATION


def claim(request: dict[str, Any], **devices: Any) -> ResourceClaim:
    return ResourceClaim.model_validate(
        {
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"devices": {"requests": [{"name": "r", **request}], **devices}},
        }
    )


@pytest.mark.parametrize(
    "exactly",
    [
        {"deviceClassName": "c", "selectors": [{}]},  # selector without cel
        {"deviceClassName": ""},  # empty class name
        {"deviceClassName": "c", "allocationMode": "future-mode"},
        {"deviceClassName": "c", "selectors": [{"cel": {}}]},  # cel without expression
        {},  # nothing at all
    ],
)
def test_invalid_requests_load(exactly: dict[str, Any]) -> None:
    """Requests the API server would reject still load, for the allocator to report."""
    loaded = claim({"exactly": exactly})
    assert loaded.spec.devices.requests[0].exactly is not None


def test_empty_constraint_loads() -> None:
    """A constraint with neither matchAttribute nor distinctAttribute loads."""
    loaded = claim({"exactly": {"deviceClassName": "c"}}, constraints=[{}])
    constraint = loaded.spec.devices.constraints[0]
    assert constraint.match_attribute is None and constraint.distinct_attribute is None


def test_count_and_mode_stay_absent() -> None:
    """count and allocationMode are None when absent (defaults belong to the allocator)."""
    request = claim({"exactly": {"deviceClassName": "c"}}).spec.devices.requests[0].exactly
    assert request is not None
    assert (
        request.count is None and request.allocation_mode is None and request.admin_access is None
    )


def test_first_available_and_capacity() -> None:
    """firstAvailable alternatives and capacity requests load with their names."""
    loaded = claim(
        {
            "firstAvailable": [
                {
                    "name": "big",
                    "deviceClassName": "c",
                    "capacity": {"requests": {"memory": "40Gi"}},
                },
                {
                    "name": "small",
                    "deviceClassName": "c",
                    "count": 2,
                    "tolerations": [{"operator": "Exists"}],
                },
            ]
        }
    )
    request = loaded.spec.devices.requests[0]
    assert request.exactly is None
    assert [s.name for s in request.first_available] == ["big", "small"]
    capacity = request.first_available[0].capacity
    assert capacity is not None and capacity.requests == {"memory": "40Gi"}


# (attribute JSON, value, type name)
ATTRIBUTES = [
    ({"int": 3}, 3, "int"),
    ({"bool": False}, False, "bool"),
    ({"string": "a100"}, "a100", "string"),
    ({"version": "1.2.3"}, "1.2.3", "version"),
    ({}, None, None),  # no typed value: loads, the allocator rejects it
]


@pytest.mark.parametrize(("data", "value", "type_name"), ATTRIBUTES)
def test_device_attribute(data: dict[str, Any], value: object, type_name: str | None) -> None:
    """DeviceAttribute exposes its one typed value and its type; JSON names are kept."""
    attribute = DeviceAttribute.model_validate(data)
    assert attribute.value == value
    assert attribute.type_name == type_name
    assert attribute.to_dict() == data


def test_string_int_attribute_is_rejected() -> None:
    """An int attribute given as a string is a type error (types matter for matchAttribute)."""
    with pytest.raises(ValueError, match="int"):
        DeviceAttribute.model_validate({"int": "3"})


def test_slice_fields() -> None:
    """A partitionable, tainted, shareable device keeps every field it was given."""
    data = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": "s"},
        "spec": {
            "driver": "gpu.example.com",
            "pool": {"name": "node-1", "generation": 3, "resourceSliceCount": 2},
            "perDeviceNodeSelection": True,
            "devices": [
                {
                    "name": "gpu-0-mig-1g",
                    "attributes": {"model": {"string": "H100"}},
                    "capacity": {
                        "compute": {
                            "value": "1000",
                            "requestPolicy": {
                                "default": "1000",
                                "validRange": {"min": "1", "step": "1"},
                            },
                        },
                        "memory": {
                            "value": "10Gi",
                            "requestPolicy": {"validValues": ["5Gi", "10Gi"]},
                        },
                    },
                    "consumesCounters": [
                        {"counterSet": "gpu-0", "counters": {"memory-slice-0": {"value": "1"}}}
                    ],
                    "nodeName": "node-1",
                    "taints": [
                        {
                            "key": "k",
                            "value": "v",
                            "effect": "None",
                            "timeAdded": "2025-01-01T00:00:00Z",
                        }
                    ],
                    "bindsToNode": True,
                    "bindingConditions": ["Ready"],
                    "bindingFailureConditions": ["Failed"],
                    "allowMultipleAllocations": True,
                }
            ],
        },
    }
    loaded = ResourceSlice.model_validate(data)
    assert loaded.to_dict() == data
    assert loaded.pool_id == ("gpu.example.com", "node-1")
    device = loaded.spec.devices[0]
    policy = device.capacity["compute"].request_policy
    assert policy is not None and policy.valid_range is not None and policy.valid_range.min == "1"
    assert loaded.spec.all_nodes is None and loaded.spec.per_device_node_selection is True


def test_claim_status_round_trip() -> None:
    """An allocated claim's status (results, config, reservedFor, devices) round-trips."""
    data = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
        "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "gpu"}}]}},
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {
                            "request": "r",
                            "driver": "d",
                            "pool": "p",
                            "device": "g0",
                            "adminAccess": True,
                            "shareID": "abc",
                            "consumedCapacity": {"compute": "470"},
                        }
                    ],
                    "config": [
                        {
                            "source": "FromClass",
                            "requests": ["r"],
                            "opaque": {"driver": "d", "parameters": {"a": 1}},
                        }
                    ],
                },
                "nodeSelector": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                            ]
                        }
                    ]
                },
                "allocationTimestamp": "2025-01-01T00:00:00Z",
            },
            "reservedFor": [{"resource": "pods", "name": "p", "uid": "u2"}],
            "devices": [
                {
                    "driver": "d",
                    "pool": "p",
                    "device": "g0",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "networkData": {"interfaceName": "eth1", "ips": ["10.0.0.1/24"]},
                }
            ],
        },
    }
    loaded = ResourceClaim.model_validate(data)
    assert loaded.to_dict() == data
    result = loaded.status.allocation.devices.results[0]  # type: ignore[union-attr]
    assert result.share_id == "abc" and result.consumed_capacity == {"compute": "470"}


def test_template_and_class() -> None:
    """ResourceClaimTemplate nests a claim spec; DeviceClass keeps selectors and config."""
    template = ResourceClaimTemplate.model_validate(
        {
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "gpu"}}]}
                },
            },
        }
    )
    assert template.spec.spec.devices.requests[0].name == "r"
    assert template.spec.metadata.labels == {"a": "b"}
    device_class = DeviceClass.model_validate(
        {
            "metadata": {"name": "gpu"},
            "spec": {
                "selectors": [{"cel": {"expression": "true"}}],
                "config": [{"opaque": {"driver": "d", "parameters": {"x": [1, 2]}}}],
                "extendedResourceName": "example.com/gpu",
            },
        }
    )
    assert device_class.spec.extended_resource_name == "example.com/gpu"
    assert device_class.spec.config[0].opaque is not None
    assert device_class.spec.config[0].opaque.parameters == {"x": [1, 2]}


def test_leader_worker_set() -> None:
    """LeaderWorkerSet exposes group size, replicas, exclusive topology and the leader template."""
    lws = load_object(
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {
                "name": "llm",
                "namespace": "serve",
                "annotations": {LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION: "topology.tessera.io/rack"},
            },
            "spec": {
                "replicas": 2,
                "leaderWorkerTemplate": {
                    "size": 4,
                    "workerTemplate": {"spec": {"containers": [{"name": "w", "image": "vllm"}]}},
                    "subGroupPolicy": {"subGroupSize": 2, "subGroupPolicyType": "LeaderExcluded"},
                },
                "startupPolicy": "LeaderCreated",
                "rolloutStrategy": {"type": "RollingUpdate"},
            },
        }
    )
    assert isinstance(lws, LeaderWorkerSet)
    assert (lws.group_size, lws.replicas) == (4, 2)
    assert lws.exclusive_topology == "topology.tessera.io/rack"
    assert lws.leader_template.spec.containers[0].name == "w"  # falls back to the worker template
    assert LeaderWorkerSet().group_size == 1
    assert LWS_GROUP_KEY_LABEL == "leaderworkerset.sigs.k8s.io/group-key"
    assert LWS_SIZE_ANNOTATION == "leaderworkerset.sigs.k8s.io/size"


def test_priority_class_and_pod_group() -> None:
    """PriorityClass fields sit at the top level; PodGroup loads from both API groups."""
    priority = load_object(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "batch"},
            "value": -100,
            "preemptionPolicy": "Never",
            "globalDefault": False,
        }
    )
    assert isinstance(priority, PriorityClass)
    assert (priority.value, priority.preemption_policy, priority.global_default) == (
        -100,
        "Never",
        False,
    )
    for api_version in ("scheduling.x-k8s.io/v1alpha1", "scheduling.sigs.k8s.io/v1alpha1"):
        group = load_object(
            {
                "apiVersion": api_version,
                "kind": "PodGroup",
                "metadata": {"name": "g", "namespace": "ns"},
                "spec": {"minMember": 8, "minResources": {"cpu": 16}, "scheduleTimeoutSeconds": 60},
            }
        )
        assert isinstance(group, PodGroup)
        assert group.spec.min_member == 8 and group.spec.min_resources == {"cpu": "16"}
