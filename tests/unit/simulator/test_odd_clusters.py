"""Odd but valid clusters: every replay policy runs to the end — CPU-only clusters, a cluster
whose only devices are the DRA example driver's (no NVIDIA-typed GPU), device-plugin GPUs,
pods without any CPU request — and a profile built without a trace (no target workload, as
a long-running scheduler has) scores on an empty cluster and on GPU pods that ask no CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.loaders import load_object
from scheduler.api.pod import Pod
from scheduler.framework.podinfo import pod_info
from scheduler.plugins.registry import build_framework
from simulator.backend import SimulatedCluster
from simulator.clusters import LoadedCluster, cluster_from_spec, load_cluster
from simulator.drivers.spec import parse_cluster_spec
from simulator.experiments.policies import REPLAY_POLICIES, replay_profile
from simulator.experiments.replay import ReplayConfig, run_replay
from simulator.traces.model import Trace, TraceItem

EXAMPLE_DRIVER = "gpu.example.com"


def spec_cluster(accelerator: dict[str, Any] | None) -> LoadedCluster:
    """Two nodes (8 cpu, 32Gi) with ``accelerator`` (None: CPU-only)."""
    pool: dict[str, Any] = {"name": "p", "count": 2, "node": {"cpu": "8", "memory": "32Gi"}}
    if accelerator is not None:
        pool["accelerator"] = accelerator
    spec = parse_cluster_spec(
        {
            "apiVersion": "tessera.io/v1alpha1",
            "kind": "ClusterSpec",
            "metadata": {"name": "odd"},
            "nodePools": [pool],
        }
    )
    return cluster_from_spec(spec)


def example_driver_dump(path: Path) -> LoadedCluster:
    """Two nodes whose only devices are 4 GPUs each of the DRA example driver
    (kubernetes-sigs/dra-example-driver: attributes index, uuid, model, driverVersion; no
    ``type``), with its DeviceClass, loaded as a dump."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": EXAMPLE_DRIVER},
            "spec": {
                "selectors": [{"cel": {"expression": f"device.driver == '{EXAMPLE_DRIVER}'"}}]
            },
        }
    ]
    for n in range(2):
        name = f"kind-worker-{n}"
        amounts = {"cpu": "8", "memory": "32Gi", "pods": "110"}
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "status": {"capacity": amounts, "allocatable": amounts},
            }
        )
        devices = [
            {
                "name": f"gpu-{i}",
                "attributes": {
                    "index": {"int": i},
                    "uuid": {"string": f"gpu-{n}-{i}-uuid"},
                    "model": {"string": "LATEST-GPU-MODEL"},
                    "driverVersion": {"version": "1.0.0"},
                },
                "capacity": {"memory": {"value": "80Gi"}},
            }
            for i in range(4)
        ]
        objects.append(
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": f"{name}-{EXAMPLE_DRIVER}"},
                "spec": {
                    "driver": EXAMPLE_DRIVER,
                    "nodeName": name,
                    "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
                    "devices": devices,
                },
            }
        )
    dump = path / "example-driver.yaml"
    dump.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return load_cluster(dump)


def template(class_name: str) -> ResourceClaimTemplate:
    """``default/one-device``: one device of ``class_name``."""
    found = load_object(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": "one-device", "namespace": "default"},
            "spec": {
                "spec": {
                    "devices": {
                        "requests": [{"name": "dev", "exactly": {"deviceClassName": class_name}}]
                    }
                }
            },
        }
    )
    assert isinstance(found, ResourceClaimTemplate)
    return found


def pod(name: str, requests: dict[str, str], *, claim: bool = False) -> Pod:
    """A one-container pod with ``requests`` (maybe none) and maybe one templated claim."""
    container: dict[str, Any] = {"name": "main", "resources": {"requests": requests}}
    spec: dict[str, Any] = {"containers": [container]}
    if claim:
        container["resources"]["claims"] = [{"name": "dev"}]
        spec["resourceClaims"] = [{"name": "dev", "resourceClaimTemplateName": "one-device"}]
    return Pod.model_validate(
        {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}, "spec": spec}
    )


def workload(gpu: str | None) -> list[TraceItem]:
    """Pods without requests, CPU-only pods, and (``gpu``: "claim" or an extended resource
    name) GPU pods that ask for no CPU."""
    items = [TraceItem(pod(f"bare-{i}", {}), float(i), 30.0) for i in range(3)]
    items.append(TraceItem(pod("cpu", {"cpu": "1"}), 1.0, 30.0))
    if gpu == "claim":
        items += [TraceItem(pod(f"dev-{i}", {}, claim=True), 2.0 + i, 30.0) for i in range(2)]
    elif gpu is not None:
        items += [TraceItem(pod(f"dev-{i}", {gpu: "1"}), 2.0 + i, 30.0) for i in range(2)]
    return items


CLUSTERS = ("cpu-only", "example-driver", "device-plugin", "dra-h100")


def odd_cluster(kind: str, tmp_path: Path) -> tuple[LoadedCluster, list[TraceItem], list[Any]]:
    """The cluster ``kind``, its workload and its claim templates."""
    h100 = {"kind": "nvidia", "model": "H100-80GB", "count": 2}
    if kind == "cpu-only":
        return spec_cluster(None), workload(None), []
    if kind == "example-driver":
        return example_driver_dump(tmp_path), workload("claim"), [template(EXAMPLE_DRIVER)]
    if kind == "device-plugin":
        loaded = spec_cluster({**h100, "exposure": "device-plugin"})
        return loaded, workload("nvidia.com/gpu"), []
    return spec_cluster(h100), workload("claim"), [template("gpu.nvidia.com")]


@pytest.mark.parametrize("kind", CLUSTERS)
@pytest.mark.parametrize("policy", REPLAY_POLICIES)
def test_every_policy_replays_odd_clusters(policy: str, kind: str, tmp_path: Path) -> None:
    """The replay ends with every pod bound: requests-free, CPU-only and CPU-free device pods."""
    loaded, items, templates = odd_cluster(kind, tmp_path)
    trace = Trace("odd", items, templates)
    result = run_replay(loaded, trace, replay_profile(policy, levels=loaded.levels), ReplayConfig())
    assert result.summary["pods_scheduled"] == len(items)
    assert result.summary["pods_unschedulable"] == 0


@pytest.mark.parametrize("kind", CLUSTERS)
@pytest.mark.parametrize("policy", REPLAY_POLICIES)
def test_profile_without_a_trace_schedules_on_odd_clusters(
    policy: str, kind: str, tmp_path: Path
) -> None:
    """A profile with no target workload (the scorers observe the cluster's pods) schedules a
    CPU-free device pod on an empty cluster and then on one already running such pods."""
    loaded, items, templates = odd_cluster(kind, tmp_path)
    backend = SimulatedCluster(loaded.cache)
    for found in templates:
        backend.add_template(found)
    framework = build_framework(replay_profile(policy, levels=loaded.levels), backend)
    for item in items[-2:]:
        created = backend.create_pod(item.pod)
        result = framework.schedule_one(pod_info(created))
        assert result.status.ok, result.status.message()
