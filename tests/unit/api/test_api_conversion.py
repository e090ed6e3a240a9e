"""resource.k8s.io v1beta1/v1beta2 objects convert to the same v1 objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scheduler.api import (
    FieldError,
    LoadError,
    ResourceClaim,
    ResourceSlice,
    convert_dra_object,
    load_object,
    to_v1,
)

V1_SLICE: dict[str, Any] = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "ResourceSlice",
    "metadata": {"name": "s"},
    "spec": {
        "driver": "d",
        "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
        "nodeName": "n1",
        "devices": [
            {
                "name": "g0",
                "attributes": {"model": {"string": "A100"}},
                "capacity": {"memory": {"value": "40Gi"}},
                "consumesCounters": [{"counterSet": "cs", "counters": {"mem": {"value": "40Gi"}}}],
                "taints": [{"key": "k", "effect": "NoSchedule"}],
            },
            {"name": "g1"},
        ],
    },
}

V1BETA1_SLICE: dict[str, Any] = {
    "apiVersion": "resource.k8s.io/v1beta1",
    "kind": "ResourceSlice",
    "metadata": {"name": "s"},
    "spec": {
        "driver": "d",
        "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
        "nodeName": "n1",
        "devices": [
            {
                "name": "g0",
                "basic": {
                    "attributes": {"model": {"string": "A100"}},
                    "capacity": {"memory": {"value": "40Gi"}},
                    "consumesCounters": [
                        {"counterSet": "cs", "counters": {"mem": {"value": "40Gi"}}}
                    ],
                    "taints": [{"key": "k", "effect": "NoSchedule"}],
                },
            },
            {"name": "g1"},
        ],
    },
}

V1_CLAIM: dict[str, Any] = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "ResourceClaim",
    "metadata": {"name": "c", "namespace": "ns"},
    "spec": {
        "devices": {
            "requests": [
                {
                    "name": "a",
                    "exactly": {
                        "deviceClassName": "gpu",
                        "selectors": [{"cel": {"expression": "true"}}],
                        "allocationMode": "ExactCount",
                        "count": 2,
                        "adminAccess": False,
                        "tolerations": [{"operator": "Exists"}],
                    },
                },
                {"name": "b", "firstAvailable": [{"name": "x", "deviceClassName": "gpu"}]},
            ],
            "constraints": [{"requests": ["a"], "matchAttribute": "d/model"}],
        }
    },
}

V1BETA1_CLAIM: dict[str, Any] = {
    "apiVersion": "resource.k8s.io/v1beta1",
    "kind": "ResourceClaim",
    "metadata": {"name": "c", "namespace": "ns"},
    "spec": {
        "devices": {
            "requests": [
                {
                    "name": "a",
                    "deviceClassName": "gpu",
                    "selectors": [{"cel": {"expression": "true"}}],
                    "allocationMode": "ExactCount",
                    "count": 2,
                    "adminAccess": False,
                    "tolerations": [{"operator": "Exists"}],
                },
                {"name": "b", "firstAvailable": [{"name": "x", "deviceClassName": "gpu"}]},
            ],
            "constraints": [{"requests": ["a"], "matchAttribute": "d/model"}],
        }
    },
}


@pytest.mark.parametrize(("old", "new"), [(V1BETA1_SLICE, V1_SLICE), (V1BETA1_CLAIM, V1_CLAIM)])
def test_v1beta1_converts_to_v1(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A v1beta1 slice/claim loads to the same model as its v1 form and leaves input alone."""
    before = copy.deepcopy(old)
    assert to_v1(old) == new
    assert load_object(old) == load_object(new)
    assert old == before


@pytest.mark.parametrize("v1", [V1_SLICE, V1_CLAIM])
def test_v1beta2_is_relabelled(v1: dict[str, Any]) -> None:
    """v1beta2 has the v1 shape: only apiVersion changes."""
    beta2 = {**v1, "apiVersion": "resource.k8s.io/v1beta2"}
    assert to_v1(beta2) == v1
    assert load_object(beta2).api_version == "resource.k8s.io/v1"


def test_v1beta1_template_converts_nested_spec() -> None:
    """A v1beta1 ResourceClaimTemplate converts its spec.spec requests."""
    template = {
        "apiVersion": "resource.k8s.io/v1beta1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"spec": V1BETA1_CLAIM["spec"]},
    }
    assert to_v1(template)["spec"]["spec"] == V1_CLAIM["spec"]


# (v1beta1 request, converted v1 request)
REQUESTS = [
    ({"name": "r", "count": 0, "deviceClassName": ""}, {"name": "r"}),  # zero values: no exactly
    ({"name": "r", "selectors": []}, {"name": "r", "exactly": {"selectors": []}}),  # present list
    ({"name": "r", "adminAccess": False}, {"name": "r", "exactly": {"adminAccess": False}}),
    (  # main fields next to firstAvailable: both kept, validation's job to reject
        {"name": "r", "deviceClassName": "c", "firstAvailable": [{"name": "s"}]},
        {"name": "r", "firstAvailable": [{"name": "s"}], "exactly": {"deviceClassName": "c"}},
    ),
]


@pytest.mark.parametrize(("old", "new"), REQUESTS)
def test_request_exactly_detection(old: dict[str, Any], new: dict[str, Any]) -> None:
    """exactly is created iff a main request field has a non-zero value (upstream rule)."""
    claim = {
        "apiVersion": "resource.k8s.io/v1beta1",
        "kind": "ResourceClaim",
        "spec": {"devices": {"requests": [old]}},
    }
    assert to_v1(claim)["spec"]["devices"]["requests"] == [new]


def test_moved_paths_map_back() -> None:
    """Paths in the converted object map back to where the user wrote the field."""
    converted = convert_dra_object(V1BETA1_SLICE)
    assert converted.original_path(("spec", "devices", 0, "capacity", "memory", "value")) == (
        "spec",
        "devices",
        0,
        "basic",
        "capacity",
        "memory",
        "value",
    )
    assert converted.original_path(("spec", "driver")) == ("spec", "driver")
    claim = convert_dra_object(V1BETA1_CLAIM)
    assert claim.original_path(("spec", "devices", "requests", 0, "exactly", "count")) == (
        "spec",
        "devices",
        "requests",
        0,
        "count",
    )


def test_v1beta1_error_reports_original_path() -> None:
    """A bad field inside a v1beta1 request is reported at its v1beta1 path."""
    bad = copy.deepcopy(V1BETA1_CLAIM)
    bad["spec"]["devices"]["requests"][0]["count"] = "two"
    with pytest.raises(
        LoadError, match=r"spec\.devices\.requests\[0\]\.count: expected an integer"
    ):
        load_object(bad, source="claim.yaml")


def test_unsupported_version_and_bad_basic() -> None:
    """Unknown resource.k8s.io versions and a non-mapping basic are field errors."""
    with pytest.raises(FieldError, match="apiVersion"):
        convert_dra_object({**V1_SLICE, "apiVersion": "resource.k8s.io/v1alpha3"})
    with pytest.raises(LoadError, match=r"apiVersion: 'resource.k8s.io/v1alpha3' is not supported"):
        load_object({**V1_SLICE, "apiVersion": "resource.k8s.io/v1alpha3"})
    bad = copy.deepcopy(V1BETA1_SLICE)
    bad["spec"]["devices"][0]["basic"] = ["x"]
    with pytest.raises(LoadError, match=r"spec\.devices\[0\]\.basic: expected a mapping, got list"):
        load_object(bad)


def test_models_convert_older_versions_themselves() -> None:
    """Validating a v1beta1 dict directly with the model converts it as the loader does."""
    assert ResourceSlice.model_validate(V1BETA1_SLICE) == ResourceSlice.model_validate(V1_SLICE)
    assert ResourceClaim.model_validate(V1BETA1_CLAIM) == ResourceClaim.model_validate(V1_CLAIM)
