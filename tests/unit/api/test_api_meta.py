"""Model conventions shared by every kind: names, immutability, dumps, timestamps, amounts."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from pydantic import ValidationError

from scheduler.api import (
    ExactDeviceRequest,
    Node,
    ObjectMeta,
    Pod,
    ResourceClaim,
    ResourceSlice,
    load_object,
    resource_amount,
    resource_amounts,
)


def test_camel_case_names_and_python_names_both_load() -> None:
    """Objects load from the Kubernetes camelCase names and from the snake_case names."""
    by_alias = ObjectMeta.model_validate({"generateName": "web-", "ownerReferences": []})
    by_name = ObjectMeta(generate_name="web-")
    assert by_alias == by_name


def test_irregular_aliases() -> None:
    """providerID and shareID keep Kubernetes' capitalisation in both directions."""
    node = load_object({"apiVersion": "v1", "kind": "Node", "spec": {"providerID": "aws://x"}})
    assert isinstance(node, Node)
    assert node.spec.provider_id == "aws://x"
    assert node.to_dict()["spec"] == {"providerID": "aws://x"}


def test_models_are_frozen_and_copy_with_update() -> None:
    """Assigning a field fails; model_copy(update=...) derives a changed copy."""
    meta = ObjectMeta(name="a")
    with pytest.raises(ValidationError):
        meta.name = "b"  # type: ignore[misc]
    assert meta.model_copy(update={"name": "b"}).name == "b"
    assert meta.name == "a"


def test_unknown_fields_are_ignored() -> None:
    """Fields tessera does not model (managedFields, hostNetwork) are dropped silently."""
    pod = load_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"hostNetwork": True},
        }
    )
    assert pod.to_dict() == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {},
        "status": {},
    }


def test_empty_collections_are_omitted_but_false_is_kept() -> None:
    """Dumps leave out empty lists/maps and None, but keep explicit false and zero."""
    request = ExactDeviceRequest.model_validate(
        {"deviceClassName": "c", "selectors": [], "adminAccess": False, "count": 0}
    )
    assert request.to_dict() == {"deviceClassName": "c", "adminAccess": False, "count": 0}


def test_absent_and_false_stay_distinct() -> None:
    """adminAccess absent is None, adminAccess false is False."""
    assert ExactDeviceRequest.model_validate({}).admin_access is None
    assert ExactDeviceRequest.model_validate({"adminAccess": False}).admin_access is False


@pytest.mark.parametrize(
    ("field", "value"),
    [("count", True), ("count", "2"), ("count", 1.0), ("adminAccess", "true"), ("adminAccess", 1)],
)
def test_ints_and_bools_are_strict(field: str, value: object) -> None:
    """Integers and booleans must have their JSON type, as Go's decoder requires."""
    with pytest.raises(ValidationError):
        ExactDeviceRequest.model_validate({field: value})


def test_timestamps_keep_text_and_accept_yaml_datetimes() -> None:
    """RFC 3339 text is kept; datetimes from unquoted YAML become the same text."""
    text = ObjectMeta.model_validate({"creationTimestamp": "2025-01-02T03:04:05Z"})
    moment = ObjectMeta.model_validate(
        {"creationTimestamp": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}
    )
    naive = ObjectMeta.model_validate({"creationTimestamp": dt.datetime(2025, 1, 2, 3, 4, 5)})
    assert text == moment == naive
    assert text.creation_timestamp == "2025-01-02T03:04:05Z"


def test_loose_values_are_json_plain() -> None:
    """Loosely kept data (conditions) turns datetimes into text so dumps reload equal."""
    node = load_object(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "status": {
                "conditions": [
                    {"type": "Ready", "lastHeartbeatTime": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}
                ]
            },
        }
    )
    assert isinstance(node, Node)
    assert node.status.conditions[0]["lastHeartbeatTime"] == "2025-01-01T00:00:00Z"
    assert load_object(node.to_dict()) == node


def test_kube_object_names() -> None:
    """name, namespace and key read metadata; cluster-scoped keys have no slash."""
    claim = ResourceClaim.model_validate({"metadata": {"name": "c", "namespace": "ns"}})
    slice_ = ResourceSlice.model_validate({"metadata": {"name": "s"}})
    assert (claim.name, claim.namespace, claim.key) == ("c", "ns", "ns/c")
    assert (slice_.name, slice_.namespace, slice_.key) == ("s", "", "s")
    assert Pod().name == ""


def test_controller_ref() -> None:
    """controller_ref returns the owner with controller: true."""
    meta = ObjectMeta.model_validate(
        {
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "a", "controller": False},
                {"kind": "StatefulSet", "name": "b", "controller": True},
            ]
        }
    )
    ref = meta.controller_ref()
    assert ref is not None and ref.name == "b"
    assert ObjectMeta().controller_ref() is None


# (resource, quantity, integer amount)
AMOUNTS = [
    ("cpu", "1", 1000),  # cores -> milli
    ("cpu", "250m", 250),
    ("cpu", "0.0001", 1),  # 0.1 milli rounds up
    ("memory", "1Gi", 2**30),  # bytes
    ("memory", "1500m", 2),  # 1.5 bytes rounds up
    ("ephemeral-storage", "10G", 10**10),
    ("pods", "110", 110),
    ("nvidia.com/gpu", "8", 8),
    ("cpu", Fraction(3, 2), 1500),
]


@pytest.mark.parametrize(("name", "quantity", "amount"), AMOUNTS)
def test_resource_amount(name: str, quantity: str | Fraction, amount: int) -> None:
    """CPU counts in milli-cores, everything else in whole units, both rounded up."""
    assert resource_amount(name, quantity) == amount


def test_resource_amounts_map() -> None:
    """resource_amounts converts a whole quantity map."""
    assert resource_amounts({"cpu": "2", "memory": "1Ki"}) == {"cpu": 2000, "memory": 1024}
