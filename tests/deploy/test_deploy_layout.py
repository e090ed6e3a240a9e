"""The deployment's pods are hardened, probed, sized and wired as manifests/deploy/README.md
says: non-root, read-only, no privilege escalation, no capabilities, RuntimeDefault seccomp;
probes on declared ports; a loopback-only sidecar without a Service; images that match the
project version and the Dockerfile."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.deploy.manifests import (
    DEPLOY,
    ROOT,
    container_args,
    deploy_objects,
    find,
    of_kind,
    pod_containers,
    tls_objects,
)

PODS = {
    "sidecar": lambda: find(deploy_objects(), "Deployment", "tessera-scheduler"),
    "tls": lambda: find(tls_objects(), "Deployment", "tessera-extender"),
}


def pod_spec(layout: str) -> dict[str, Any]:
    """The pod spec of a layout's Deployment."""
    return dict(PODS[layout]()["spec"]["template"]["spec"])


def project_version() -> str:
    """``project.version`` of pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as stream:
        return str(tomllib.load(stream)["project"]["version"])


def dockerfile_user() -> int:
    """The numeric user of the Dockerfile's final stage."""
    users = re.findall(r"^USER\s+(\d+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert users, "the Dockerfile must switch to a numeric non-root user"
    return int(users[-1])


@pytest.mark.parametrize("layout", PODS)
def test_every_container_is_hardened(layout: str) -> None:
    """Pod: runAsNonRoot, RuntimeDefault seccomp. Each container: a non-root user, read-only
    root filesystem, no privilege escalation, all capabilities dropped."""
    spec = pod_spec(layout)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    for container in pod_containers(spec):
        context = container["securityContext"]
        assert context["runAsUser"] > 0, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert not context.get("privileged"), container["name"]


@pytest.mark.parametrize("layout", PODS)
def test_every_container_is_sized_and_probed_on_declared_ports(layout: str) -> None:
    """Each container requests CPU and memory, caps memory, and has liveness and readiness
    probes whose ports are ports the container declares."""
    for container in pod_containers(pod_spec(layout)):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
        assert "memory" in resources["limits"], container["name"]
        declared = {p["name"] for p in container["ports"]} | {
            p["containerPort"] for p in container["ports"]
        }
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] in declared, (container["name"], probe)


def test_tessera_probes_use_the_health_port_not_the_extender_port() -> None:
    """kubelet probes the pod IP, so tessera's probes go to --health-port; the extender verbs
    stay on the loopback --port; startup waits for /readyz (caches synced)."""
    (tessera,) = pod_spec("sidecar")["initContainers"]
    args = container_args(tessera)
    health = next(p for p in tessera["ports"] if p["name"] == "health")
    assert health["containerPort"] == int(args["health-port"]) != int(args["port"])
    assert all(p["containerPort"] != int(args["port"]) for p in tessera["ports"])
    assert tessera["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert tessera["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert tessera["startupProbe"]["httpGet"]["path"] == "/readyz"


def test_tessera_runs_as_a_native_sidecar_started_before_kube_scheduler() -> None:
    """tessera is an init container with restartPolicy Always (kubelet starts it first and
    waits for its startup probe), kube-scheduler the only regular container."""
    spec = pod_spec("sidecar")
    (tessera,) = spec["initContainers"]
    assert tessera["name"] == "tessera" and tessera["restartPolicy"] == "Always"
    assert "startupProbe" in tessera
    assert [c["name"] for c in spec["containers"]] == ["kube-scheduler"]


def test_sidecar_layout_has_no_service_and_two_leader_elected_replicas() -> None:
    """No Service: kube-scheduler calls its own sidecar on 127.0.0.1. Two replicas, kept
    apart by anti-affinity and by a PodDisruptionBudget of one."""
    objects = deploy_objects()
    assert not of_kind(objects, "Service")
    deployment = find(objects, "Deployment", "tessera-scheduler")
    assert deployment["spec"]["replicas"] == 2
    assert find(objects, "PodDisruptionBudget", "tessera-scheduler")["spec"]["minAvailable"] == 1
    affinity = pod_spec("sidecar")["affinity"]["podAntiAffinity"]
    terms = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_tls_layout_keeps_a_client_on_one_replica() -> None:
    """The TLS Service pins each client (kube-scheduler's leader) to one tessera replica, so
    a gang's held binds meet in one process; two replicas on different nodes."""
    objects = tls_objects()
    assert find(objects, "Service", "tessera-extender")["spec"]["sessionAffinity"] == "ClientIP"
    assert find(objects, "Deployment", "tessera-extender")["spec"]["replicas"] == 2
    required = pod_spec("tls")["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required[0]["topologyKey"] == "kubernetes.io/hostname"


@pytest.mark.parametrize("layout", PODS)
def test_images_match_the_project_and_kubernetes_versions(layout: str) -> None:
    """tessera's image tag is the project version; kube-scheduler is a 1.35 release."""
    for container in pod_containers(pod_spec(layout)):
        image = container["image"]
        if container["name"] == "tessera":
            assert image == f"tessera:{project_version()}"
        else:
            assert re.fullmatch(r"registry\.k8s\.io/kube-scheduler:v1\.35\.\d+", image), image


@pytest.mark.parametrize("layout", PODS)
def test_tessera_container_runs_as_the_image_user(layout: str) -> None:
    """The tessera container's runAsUser is the Dockerfile's USER."""
    tessera = next(c for c in pod_containers(pod_spec(layout)) if c["name"] == "tessera")
    assert tessera["securityContext"]["runAsUser"] == dockerfile_user()


def test_dockerfile_builds_the_wheel_and_runs_tessera_serve() -> None:
    """python:3.11-slim stages, the wheel installed offline, entrypoint `tessera serve`, and
    `tessera` is the project's console script."""
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert stages and all(s == "python:3.11-slim" for s in stages)
    assert "pip wheel" in text and "--no-index" in text
    assert re.search(r'^ENTRYPOINT \["tessera", "serve"\]$', text, re.MULTILINE)
    assert dockerfile_user() != 0
    with (ROOT / "pyproject.toml").open("rb") as stream:
        scripts = tomllib.load(stream)["project"]["scripts"]
    assert "tessera" in scripts


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def test_namespace_enforces_the_restricted_pod_security_profile() -> None:
    """The namespace enforces Pod Security "restricted", which the pods above satisfy; every
    namespaced object lives in it except the authentication-reader binding in kube-system."""
    namespace = find(deploy_objects(), "Namespace", "tessera-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for manifest in [*deploy_objects(), *tls_objects()]:
        placed = manifest.obj["metadata"].get("namespace")
        if manifest.kind in CLUSTER_SCOPED:
            assert placed is None, manifest.where
        elif manifest.name == "tessera-scheduler-authentication-reader":
            assert placed == "kube-system", manifest.where
        else:
            assert placed == "tessera-system", manifest.where
