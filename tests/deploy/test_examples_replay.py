"""Every example workload, replayed with `tessera replay` on the shipped cluster spec it is
written for, is placed whole: every pod bound, every gang complete, each LWS group in one rack
of its own, DRA pods on the devices they claim.

The examples are plain manifests (no creationTimestamp), so the dump reader starts every
object at t=0; they name no namespace, so it reads them into "default", as `kubectl apply`
does; Deployments and Jobs are expanded by the controllers' rules.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scheduler.api.lws import LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION
from simulator.cli import app
from simulator.clusters import load_cluster
from tests.deploy.manifests import (
    EXAMPLES,
    ROOT,
    Manifest,
    api_objects,
    of_kind,
    pod_templates,
)

CLUSTERS = ROOT / "traces" / "clusters"
DRA_CLUSTER = CLUSTERS / "two-rack-h100-dynamic-mig.yaml"
DEVICE_PLUGIN_CLUSTER = CLUSTERS / "two-rack-h100-device-plugin.yaml"

CASES = [
    pytest.param("vllm-lws-dra.yaml", DRA_CLUSTER, id="vllm-lws-dra"),
    pytest.param(
        "mig-inference-deployment.yaml",
        DRA_CLUSTER,
        id="mig-inference-deployment",
    ),
    pytest.param("batch-finetune-gang.yaml", DRA_CLUSTER, id="batch-finetune-gang"),
    pytest.param("vllm-lws-device-plugin.yaml", DEVICE_PLUGIN_CLUSTER, id="vllm-lws-device-plugin"),
]


def expected_pods(objects: list[Manifest]) -> int:
    """How many pods the workload objects of a manifest create once their controllers run."""
    total = 0
    for manifest in objects:
        spec = manifest.obj.get("spec", {})
        if manifest.kind == "LeaderWorkerSet":
            total += spec.get("replicas", 1) * spec["leaderWorkerTemplate"].get("size", 1)
        elif manifest.kind == "Deployment":
            total += spec.get("replicas", 1)
        elif manifest.kind == "Job":
            total += min(spec.get("parallelism", 1), spec.get("completions", 1))
        elif manifest.kind == "Pod":
            total += 1
    return total


def expected_gangs(objects: list[Manifest]) -> int:
    """How many gangs the manifest defines: one per LWS group of two or more pods, one per
    PodGroup."""
    groups = sum(
        m.obj["spec"].get("replicas", 1)
        for m in of_kind(objects, "LeaderWorkerSet")
        if m.obj["spec"]["leaderWorkerTemplate"].get("size", 1) > 1
    )
    return groups + len(of_kind(objects, "PodGroup"))


@functools.cache
def node_labels(cluster: Path) -> dict[str, dict[str, str]]:
    """Node name -> labels of a shipped cluster spec, built once per session."""
    loaded = load_cluster(cluster)
    return {name: dict(node.metadata.labels) for name, node in loaded.cache.nodes.items()}


def replay(example: str, cluster: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run `tessera replay` on the example; its summary and placement lines."""
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--cluster",
            str(cluster),
            "--trace",
            str(EXAMPLES / example),
            "--policy",
            "tessera",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "placements.jsonl").read_text().splitlines()
    return summary, [json.loads(line) for line in lines]


def final_nodes(placements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod -> its last bind entry, for pods whose last event is a bind."""
    last: dict[str, dict[str, Any]] = {}
    for entry in placements:
        last[entry["pod"]] = entry
    return {pod: entry for pod, entry in last.items() if entry["event"] == "bind"}


def check_lws_groups(
    lws: Manifest, bound: dict[str, dict[str, Any]], labels: dict[str, dict[str, str]]
) -> None:
    """Each group of an exclusive-topology LWS sits in one domain, and no two groups share a
    domain."""
    key = lws.obj["metadata"]["annotations"][LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION]
    pattern = re.compile(rf"^default/{re.escape(lws.name)}-(\d+)(?:-\d+)?$")
    domains: dict[str, set[str]] = defaultdict(set)
    for pod, entry in bound.items():
        match = pattern.match(pod)
        if match:
            domains[match.group(1)].add(labels[entry["node"]][key])
    replicas = lws.obj["spec"]["replicas"]
    assert sorted(domains) == [str(g) for g in range(replicas)]
    assert all(len(d) == 1 for d in domains.values()), dict(domains)
    assert len({next(iter(d)) for d in domains.values()}) == replicas, dict(domains)


def claim_templates(owner: Manifest) -> set[str]:
    """The ResourceClaimTemplates the pod templates of a workload object name."""
    return {
        claim["resourceClaimTemplateName"]
        for _, template in pod_templates(owner)
        for claim in template["spec"].get("resourceClaims", ())
    }


def check_claimed_devices(objects: list[Manifest], bound: dict[str, dict[str, Any]]) -> None:
    """Pods that claim DRA devices hold them on their node: the template's count of whole
    GPUs, or MIG devices of the profile its CEL selector names."""
    templates = {m.name: m.obj for m in of_kind(objects, "ResourceClaimTemplate")}
    owners = [m for m in objects if any(True for _ in pod_templates(m))]
    for pod, entry in bound.items():
        name = pod.split("/", 1)[1]
        owner = max((o for o in owners if name.startswith(f"{o.name}-")), key=lambda o: len(o.name))
        used = claim_templates(owner)
        if not used:
            assert entry["devices"] == [], pod
            continue
        (template_name,) = used
        (request,) = templates[template_name]["spec"]["spec"]["devices"]["requests"]
        exactly = request["exactly"]
        assert len(entry["devices"]) == exactly["count"], pod
        profile = None
        if exactly["deviceClassName"] == "mig.nvidia.com":
            found = re.search(r"'(\d+g\.\d+gb)'", exactly["selectors"][0]["cel"]["expression"])
            assert found is not None
            profile = found.group(1).replace(".", "")
        for device in entry["devices"]:
            driver, pool, device_name = device.split("/")
            assert (driver, pool) == ("gpu.nvidia.com", entry["node"]), (pod, device)
            if profile is None:
                assert re.fullmatch(r"gpu-\d+", device_name), (pod, device)
            else:
                assert f"-mig-{profile}-" in device_name, (pod, device)


@pytest.mark.parametrize(("example", "cluster"), CASES)
def test_example_replays_with_every_pod_placed(example: str, cluster: Path, tmp_path: Path) -> None:
    """`tessera replay` places every pod of the example, with every gang whole."""
    objects = api_objects(EXAMPLES / example)
    summary, placements = replay(example, cluster, tmp_path / "out")
    total = expected_pods(objects)
    assert summary["pods_total"] == total
    assert summary["pods_scheduled"] == total
    assert summary["pods_unschedulable"] == 0
    assert summary["gangs_partial"] == 0
    assert summary["gangs_placed"] == summary["gangs_total"]
    bound = final_nodes(placements)
    assert len(bound) == total
    assert summary["gangs_total"] == expected_gangs(objects)
    labels = node_labels(cluster)
    for lws in of_kind(objects, "LeaderWorkerSet"):
        check_lws_groups(lws, bound, labels)
    check_claimed_devices(objects, bound)
