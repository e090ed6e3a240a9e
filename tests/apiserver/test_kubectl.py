"""The API driven by real kubectl binaries (1.27 and 1.33 when the machine has them)."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.apiserver.conftest import Served, kubectl_binaries

BINARIES = kubectl_binaries()
if not BINARIES:
    print(
        "kubectl tests skipped: no kubectl on PATH nor /usr/lib/google-cloud-sdk/bin/kubectl.1.NN"
    )
pytestmark = pytest.mark.skipif(not BINARIES, reason="no kubectl binary on this machine")


def run(kubectl: str, served: Served, *args: str, stdin: str | None = None) -> str:
    """Run kubectl against the served cluster; fail with its stderr on error."""
    proc = subprocess.run(
        [kubectl, "--kubeconfig", str(served.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("kubectl", BINARIES)
def test_get_nodes_slices_classes(kubectl: str, served: Served) -> None:
    """`kubectl get nodes,resourceslices,deviceclasses` prints the server's Table columns."""
    out = run(kubectl, served, "get", "nodes,resourceslices,deviceclasses")
    assert "node/h100-0000" in out and "Ready" in out
    assert (
        "resourceslice.resource.k8s.io/h100-0000-gpu.nvidia.com-0   h100-0000   gpu.nvidia.com"
        in out
    )
    assert "deviceclass.resource.k8s.io/gpu.nvidia.com" in out


@pytest.mark.parametrize("kubectl", BINARIES)
def test_create_pod_with_template_and_see_allocation(
    kubectl: str, served: Served, tmp_path: Path
) -> None:
    """`kubectl create -f` of a ResourceClaimTemplate and a pod (default validation), then
    `get pods -A -o wide` shows it bound and `get resourceclaims -o yaml` the allocation."""
    tag = Path(kubectl).name.replace(".", "-")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        textwrap.dedent(f"""\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaimTemplate
        metadata: {{name: gpu-{tag}}}
        spec:
          spec:
            devices:
              requests:
              - name: gpu
                exactly: {{deviceClassName: gpu.nvidia.com}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{name: job-{tag}}}
        spec:
          containers:
          - name: main
            image: busybox
            resources: {{claims: [{{name: gpu}}]}}
          resourceClaims:
          - name: gpu
            resourceClaimTemplateName: gpu-{tag}
        """)
    )
    out = run(kubectl, served, "create", "-f", str(manifest))
    assert f"pod/job-{tag} created" in out
    deadline = time.monotonic() + 20
    while (
        "Running" not in run(kubectl, served, "get", "pod", f"job-{tag}")
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    wide = run(kubectl, served, "get", "pods", "-A", "-o", "wide")
    row = next(line for line in wide.splitlines() if f"job-{tag}" in line)
    assert "NODE" in wide.splitlines()[0] and "Running" in row and "h100-" in row
    claims = yaml.safe_load(run(kubectl, served, "get", "resourceclaims", "-o", "yaml"))
    claim = next(c for c in claims["items"] if c["metadata"]["name"] == f"job-{tag}-gpu")
    result = claim["status"]["allocation"]["devices"]["results"][0]
    assert result["driver"] == "gpu.nvidia.com" and result["pool"] in row
    assert claim["status"]["reservedFor"][0]["name"] == f"job-{tag}"


@pytest.mark.parametrize("kubectl", BINARIES)
def test_describe_node(kubectl: str, served: Served) -> None:
    """`kubectl describe node` renders labels, capacity and the node's pods section."""
    out = run(kubectl, served, "describe", "node", "h100-0001")
    assert "Name:               h100-0001" in out
    assert "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3" in out
    assert "Non-terminated Pods:" in out


@pytest.mark.parametrize("kubectl", BINARIES)
def test_errors_reach_kubectl(kubectl: str, served: Served) -> None:
    """A missing object is reported with the Status message, as against a real server."""
    proc = subprocess.run(
        [kubectl, "--kubeconfig", str(served.kubeconfig), "get", "pod", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert 'pods "nope" not found' in proc.stderr
