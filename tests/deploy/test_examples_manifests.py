"""The example workloads ask for what the clusters they are written for offer: claim
templates that exist, DeviceClasses and attributes the simulated NVIDIA driver publishes,
topology keys of the shipped cluster specs, a batch priority below tessera's threshold, a
gang whose size matches its Job; the device-plugin LWS is the DRA LWS with limits instead of
claims."""

from __future__ import annotations

import copy
import re
from typing import Any

from scheduler.api.lws import LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION
from scheduler.framework.podinfo import DEFAULT_BATCH_THRESHOLD, POD_GROUP_LABEL
from simulator.drivers.catalog import gpu_model
from simulator.drivers.spec import load_cluster_spec
from tests.deploy.manifests import (
    EXAMPLES,
    ROOT,
    Manifest,
    api_objects,
    example_files,
    find,
    of_kind,
    pod_templates,
)

DEVICE_CLASSES = ROOT / "manifests" / "devices" / "deviceclasses.yaml"
DRA_CLUSTER = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
H100 = gpu_model("H100-80GB")


def example(name: str) -> list[Manifest]:
    """The objects of one example file."""
    return api_objects(EXAMPLES / name)


def selector_expressions(template: dict[str, Any]) -> list[str]:
    """The CEL expressions of a ResourceClaimTemplate's requests."""
    requests = template["spec"]["spec"]["devices"]["requests"]
    return [s["cel"]["expression"] for r in requests for s in r["exactly"].get("selectors", ())]


def test_the_four_examples_are_shipped() -> None:
    """manifests/examples holds the four workloads of the deployment README."""
    assert [p.name for p in example_files()] == [
        "batch-finetune-gang.yaml",
        "mig-inference-deployment.yaml",
        "vllm-lws-device-plugin.yaml",
        "vllm-lws-dra.yaml",
    ]


def test_claims_refer_to_templates_and_classes_that_exist() -> None:
    """Every pod's resourceClaims name a template of the same file; every container claim
    names a pod claim; every template's DeviceClass is one the NVIDIA driver installs."""
    classes = {m.name for m in api_objects(DEVICE_CLASSES)}
    for path in example_files():
        objects = api_objects(path)
        templates = {m.name: m.obj for m in of_kind(objects, "ResourceClaimTemplate")}
        for template in templates.values():
            for request in template["spec"]["spec"]["devices"]["requests"]:
                assert request["exactly"]["deviceClassName"] in classes
        for manifest in objects:
            for where, pod in pod_templates(manifest):
                claims = {c["name"]: c for c in pod["spec"].get("resourceClaims", ())}
                for claim in claims.values():
                    assert claim["resourceClaimTemplateName"] in templates, (manifest.where, where)
                for container in pod["spec"]["containers"]:
                    for used in container["resources"].get("claims", ()):
                        assert used["name"] in claims, (manifest.where, where)


def test_selectors_name_what_the_simulated_h100_publishes() -> None:
    """CEL selectors compare the driver's productName and MIG profile attributes with values
    the simulated H100 has (so the same claims work on the shipped cluster spec)."""
    seen = set()
    for path in example_files():
        for template in of_kind(api_objects(path), "ResourceClaimTemplate"):
            for expression in selector_expressions(template.obj):
                match = re.fullmatch(
                    r"device\.attributes\['gpu\.nvidia\.com'\]\.(\w+) == '([^']+)'", expression
                )
                assert match, expression
                attribute, value = match.groups()
                if attribute == "productName":
                    assert value == H100.product_name
                else:
                    assert attribute == "profile"
                    assert value in {p.name for p in H100.mig_profiles}
                seen.add(value)
    assert {"1g.10gb", "3g.40gb", H100.product_name} <= seen


def test_lws_exclusive_topology_is_a_level_of_the_shipped_clusters() -> None:
    """Both LWS examples give each group a rack of its own, by a topology level of the
    cluster specs they are replayed on."""
    levels = load_cluster_spec(DRA_CLUSTER).topology.levels
    for name in ("vllm-lws-dra.yaml", "vllm-lws-device-plugin.yaml"):
        lws = find(example(name), "LeaderWorkerSet", "vllm-llama-405b")
        key = lws["metadata"]["annotations"][LWS_EXCLUSIVE_TOPOLOGY_ANNOTATION]
        assert key == "topology.tessera.io/rack" and key in levels


def _without_gpu_requests(lws: dict[str, Any]) -> dict[str, Any]:
    """The LWS with its GPU requests removed: DRA claims, or nvidia.com/gpu limits."""
    out = copy.deepcopy(lws)
    template = out["spec"]["leaderWorkerTemplate"]
    for pod in (template["leaderTemplate"], template["workerTemplate"]):
        pod["spec"].pop("resourceClaims", None)
        for container in pod["spec"]["containers"]:
            container["resources"].pop("claims", None)
            container["resources"]["limits"].pop("nvidia.com/gpu", None)
    return out


def test_device_plugin_lws_is_the_dra_lws_with_limits() -> None:
    """The device-plugin LWS equals the DRA one but for the GPU request: 8 nvidia.com/gpu in
    limits where the DRA LWS claims 8 GPUs through its template."""
    dra = find(example("vllm-lws-dra.yaml"), "LeaderWorkerSet", "vllm-llama-405b")
    plugin = find(example("vllm-lws-device-plugin.yaml"), "LeaderWorkerSet", "vllm-llama-405b")
    assert _without_gpu_requests(dra) == _without_gpu_requests(plugin)
    template = plugin["spec"]["leaderWorkerTemplate"]
    for pod in (template["leaderTemplate"], template["workerTemplate"]):
        (container,) = pod["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        assert "nvidia.com/gpu" not in container["resources"]["requests"]
    (gpus,) = find(example("vllm-lws-dra.yaml"), "ResourceClaimTemplate", "vllm-h100-x8")["spec"][
        "spec"
    ]["devices"]["requests"]
    assert gpus["exactly"]["count"] == 8


def test_batch_gang_is_one_podgroup_of_the_jobs_size_at_batch_priority() -> None:
    """The fine-tuning Job's pods join a PodGroup whose minMember is the Job's parallelism
    (= completions), at a PriorityClass below tessera's batch threshold that never preempts."""
    objects = example("batch-finetune-gang.yaml")
    job = find(objects, "Job", "finetune-llama-8b")
    group = find(objects, "PodGroup", "finetune-llama-8b")
    priority = find(objects, "PriorityClass", "tessera-batch")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] == group["spec"]["minMember"]
    pod = spec["template"]
    assert pod["metadata"]["labels"][POD_GROUP_LABEL] == group["metadata"]["name"]
    assert pod["spec"]["priorityClassName"] == priority["metadata"]["name"]
    assert priority["value"] < DEFAULT_BATCH_THRESHOLD
    assert priority["preemptionPolicy"] == "Never"


def test_examples_need_no_namespace_and_no_timestamps() -> None:
    """The examples are plain manifests for `kubectl apply [-n NS]`: no namespace, no
    creationTimestamp, no status."""
    for path in example_files():
        for manifest in api_objects(path):
            metadata = manifest.obj["metadata"]
            assert "namespace" not in metadata, manifest.where
            assert "creationTimestamp" not in metadata, manifest.where
            assert "status" not in manifest.obj, manifest.where
