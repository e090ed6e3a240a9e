"""Small inputs for the fuzz tests, built once per session from the shipped ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app

ROOT = Path(__file__).resolve().parents[2]

SMALL_SPEC = """\
apiVersion: tessera.io/v1alpha1
kind: ClusterSpec
metadata: {name: fuzz-small}
kubernetesVersion: "1.35"
featureGates: {DRAPartitionableDevices: true, DRAConsumableCapacity: true}
nodePools:
- name: h100
  count: 2
  node: {cpu: "192", memory: 2Ti}
  accelerator: {kind: nvidia, model: H100-80GB, count: 8, mig: {mode: dynamic}}
  placement: {zone: zone-a, nodesPerRack: 1}
- name: t4
  count: 2
  node: {cpu: "32", memory: 128Gi}
  accelerator: {kind: shared-gpu, model: T4, count: 2}
- name: cpu
  count: 1
  node: {cpu: "16", memory: 64Gi}
"""

OPENB_NODES = """\
sn,cpu_milli,memory_mib,gpu,model
openb-node-0000,64000,262144,2,P100
openb-node-0001,96000,786432,8,V100M32
openb-node-0002,32000,131072,1,T4
openb-node-0003,64000,262144,0,
"""

OPENB_PODS = """\
name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
openb-pod-0000,12000,16384,1,1000,,LS,Running,0,600,0
openb-pod-0001,6000,12288,1,460,,LS,Running,10,900,10
openb-pod-0002,4000,8192,2,1000,V100M32,BE,Running,20,900,20
openb-pod-0003,2000,4096,0,0,,LS,Running,30,900,30
openb-pod-0004,8000,8192,1,250,T4|P100,Burstable,Succeeded,40,300,40
"""


@pytest.fixture(scope="session")
def small_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A five-node spec: dynamic-MIG H100s, shared T4s, a CPU node."""
    path = tmp_path_factory.mktemp("spec") / "small.yaml"
    path.write_text(SMALL_SPEC, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_dump(small_spec: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cluster build`` of :func:`small_spec` as a dump directory."""
    out = tmp_path_factory.mktemp("dump") / "small"
    result = CliRunner().invoke(app, ["cluster", "build", str(small_spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def openb_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A four-node openb node CSV and a five-pod openb pod CSV."""
    root = tmp_path_factory.mktemp("openb")
    nodes, pods = root / "nodes.csv", root / "pods.csv"
    nodes.write_text(OPENB_NODES, encoding="utf-8")
    pods.write_text(OPENB_PODS, encoding="utf-8")
    return nodes, pods
