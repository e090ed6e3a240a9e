"""Shared reading of the shipped manifests for the tests under tests/deploy.

The deployment (manifests/deploy, with its TLS layout in manifests/deploy/tls) and the
example workloads (manifests/examples) are plain multi-document YAML for ``kubectl apply``;
these helpers load them as dicts, find objects by kind and name, and validate the objects
whose schema is not built into Kubernetes against their CRDs when the CRD files are given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "manifests" / "deploy"
TLS = DEPLOY / "tls"
PREEMPT_GANGS = DEPLOY / "preempt-gangs"
CONTROL_PLANE_CONFIG = TLS / "control-plane" / "kube-scheduler-config.yaml"
EXAMPLES = ROOT / "manifests" / "examples"
KUBERNETES_VERSION = "1.35.0"
"""The Kubernetes version whose (strict) schemas the objects are validated against."""


@dataclass(frozen=True)
class Manifest:
    """One object of a shipped file: its dict and where it came from."""

    path: Path
    index: int
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        """``kind`` of the object."""
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        """``metadata.name`` of the object."""
        return str(self.obj.get("metadata", {}).get("name", ""))

    @property
    def where(self) -> str:
        """``file#document kind/name`` for assertion messages."""
        return f"{self.path.relative_to(ROOT)}#{self.index} {self.kind}/{self.name}"


def api_objects(path: Path) -> list[Manifest]:
    """The objects of one multi-document YAML file (empty documents dropped)."""
    with path.open(encoding="utf-8") as stream:
        documents = list(yaml.safe_load_all(stream))
    out = []
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        assert isinstance(document, dict), f"{path}#{index}: not an object: {document!r:.60}"
        out.append(Manifest(path, index, document))
    return out


def kubectl_files(directory: Path) -> list[Path]:
    """The files ``kubectl apply -f DIRECTORY`` reads (not recursive), sorted."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def deploy_objects() -> list[Manifest]:
    """Every object of the sidecar layout (manifests/deploy/*.yaml)."""
    return [m for path in kubectl_files(DEPLOY) for m in api_objects(path)]


def tls_objects() -> list[Manifest]:
    """Every object of the TLS layout (manifests/deploy/tls/*.yaml)."""
    return [m for path in kubectl_files(TLS) for m in api_objects(path)]


def preempt_gangs_objects() -> list[Manifest]:
    """Every object of the opt-in ``--preempt-gangs`` overlay (manifests/deploy/preempt-gangs)."""
    return [m for path in kubectl_files(PREEMPT_GANGS) for m in api_objects(path)]


def example_files() -> list[Path]:
    """The example workload files."""
    return kubectl_files(EXAMPLES)


def example_objects() -> list[Manifest]:
    """Every object of every example."""
    return [m for path in example_files() for m in api_objects(path)]


def find(objects: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` named ``name``; AssertionError when absent or repeated."""
    found = [m.obj for m in objects if m.kind == kind and m.name == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    """The objects of ``kind``."""
    return [m for m in objects if m.kind == kind]


def scheduler_config_text() -> str:
    """The KubeSchedulerConfiguration of the sidecar layout, as the ConfigMap holds it."""
    config_map = find(deploy_objects(), "ConfigMap", "tessera-scheduler-config")
    return str(config_map["data"]["config.yaml"])


def scheduler_config() -> dict[str, Any]:
    """The KubeSchedulerConfiguration of the sidecar layout, parsed."""
    parsed = yaml.safe_load(scheduler_config_text())
    assert isinstance(parsed, dict)
    return parsed


def control_plane_config() -> dict[str, Any]:
    """The default scheduler's KubeSchedulerConfiguration of the TLS layout, parsed."""
    parsed = yaml.safe_load(CONTROL_PLANE_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(parsed, dict)
    return parsed


def container_args(container: Mapping[str, Any]) -> dict[str, str]:
    """``--flag=value`` arguments of a container as a dict (flags without a value map to "")."""
    out: dict[str, str] = {}
    for arg in [*container.get("command", ()), *container.get("args", ())]:
        if arg.startswith("--"):
            flag, _, value = arg[2:].partition("=")
            out[flag] = value
    return out


def pod_containers(pod_spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers (native sidecars included) and containers of a pod spec."""
    yield from pod_spec.get("initContainers", ())
    yield from pod_spec.get("containers", ())


def pod_templates(manifest: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, pod template)`` of every pod template in a workload object."""
    obj = manifest.obj
    if manifest.kind in ("Deployment", "Job", "StatefulSet", "ReplicaSet", "DaemonSet"):
        yield "spec.template", obj["spec"]["template"]
    elif manifest.kind == "LeaderWorkerSet":
        template = obj["spec"]["leaderWorkerTemplate"]
        if "leaderTemplate" in template:
            yield "spec.leaderWorkerTemplate.leaderTemplate", template["leaderTemplate"]
        yield "spec.leaderWorkerTemplate.workerTemplate", template["workerTemplate"]
