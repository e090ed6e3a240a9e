"""Every shipped object is valid: built-in kinds against Kubernetes 1.35's strict schemas
(kubernetes-validate), custom resources (LeaderWorkerSet, PodGroup) with tessera's own models,
and the pod templates inside them as 1.35 Pods."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    KUBERNETES_VERSION,
    Manifest,
    deploy_objects,
    example_objects,
    pod_templates,
    preempt_gangs_objects,
    tls_objects,
)

ALL = [*deploy_objects(), *tls_objects(), *preempt_gangs_objects(), *example_objects()]
CUSTOM_KINDS = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
    ("scheduling.x-k8s.io/v1alpha1", "PodGroup"),
}
"""The custom resources the manifests use; everything else must be a built-in kind."""


def _is_custom(manifest: Manifest) -> bool:
    return (manifest.obj.get("apiVersion"), manifest.kind) in CUSTOM_KINDS


def _validate_builtin(obj: dict[str, Any], where: str) -> None:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.absolute_path)
        pytest.fail(f"{where}: {path}: {err.message}")


def _ids(manifests: list[Manifest]) -> list[str]:
    return [m.where for m in manifests]


BUILTIN = [m for m in ALL if not _is_custom(m)]
CUSTOM = [m for m in ALL if _is_custom(m)]


def test_the_manifests_hold_every_expected_kind() -> None:
    """The shipped files hold the objects the layouts and examples are made of."""
    kinds = {m.kind for m in ALL}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ResourceClaimTemplate",
        "LeaderWorkerSet",
        "PriorityClass",
        "PodGroup",
        "Job",
    } <= kinds


@pytest.mark.parametrize("manifest", BUILTIN, ids=_ids(BUILTIN))
def test_builtin_kind_is_valid_for_kubernetes_1_35(manifest: Manifest) -> None:
    """A built-in object validates against the strict 1.35 schema (no unknown field)."""
    _validate_builtin(manifest.obj, manifest.where)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """kubernetes-validate in strict mode rejects a misspelt field (the check can fail)."""
    obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "x"},
        "automountServiceAcountToken": False,
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("manifest", CUSTOM, ids=_ids(CUSTOM))
def test_custom_resource_loads_with_tessera_models(manifest: Manifest) -> None:
    """A LeaderWorkerSet or PodGroup loads into tessera's model (scheduler/api) unchanged."""
    from scheduler.api.loaders import load_object
    from scheduler.api.lws import LeaderWorkerSet
    from scheduler.api.podgroup import PodGroup

    loaded = load_object(manifest.obj, source=manifest.where)
    if manifest.kind == "LeaderWorkerSet":
        assert isinstance(loaded, LeaderWorkerSet)
        template = manifest.obj["spec"]["leaderWorkerTemplate"]
        assert loaded.group_size == template["size"]
        assert loaded.replicas == manifest.obj["spec"]["replicas"]
    else:
        assert isinstance(loaded, PodGroup)
        assert loaded.spec.min_member == manifest.obj["spec"]["minMember"]


@pytest.mark.parametrize("manifest", CUSTOM, ids=_ids(CUSTOM))
def test_custom_resource_pod_templates_are_valid_pods(manifest: Manifest) -> None:
    """The pod templates inside a custom resource validate as 1.35 Pods."""
    for path, template in pod_templates(manifest):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "template", **template.get("metadata", {})},
            "spec": template["spec"],
        }
        _validate_builtin(pod, f"{manifest.where} {path}")
