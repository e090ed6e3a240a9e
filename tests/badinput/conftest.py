"""Shared inputs of the bad-input tests: a tiny shared-GPU cluster dump and openb trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app

SHARED_SPEC = """\
apiVersion: tessera.io/v1alpha1
kind: ClusterSpec
metadata: {name: tiny-shared}
kubernetesVersion: "1.35"
featureGates: {DRAConsumableCapacity: true}
nodePools:
- name: t4
  count: 2
  node: {cpu: "32", memory: 128Gi}
  accelerator: {kind: shared-gpu, model: T4, count: 2}
"""

OPENB_TRACE = """\
name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
openb-pod-0000,1000,1024,1,500,,LS,Running,0,600,0
openb-pod-0001,1000,1024,1,500,,LS,Running,10,900,10
openb-pod-0002,1000,1024,1,1000,,LS,Running,20,900,20
openb-pod-0003,1000,1024,0,0,,LS,Running,30,900,30
"""


@pytest.fixture(scope="session")
def shared_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tessera cluster build`` of a 2-node shared-T4 spec: read back as a dump, it gets
    Kubernetes 1.35's gates, where DRAConsumableCapacity is off."""
    root = tmp_path_factory.mktemp("shared")
    spec = root / "spec.yaml"
    spec.write_text(SHARED_SPEC, encoding="utf-8")
    out = root / "dump"
    result = CliRunner().invoke(app, ["cluster", "build", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def openb_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four openb pods: two GPU shares, one whole GPU, one CPU-only."""
    path = tmp_path_factory.mktemp("trace") / "pods.csv"
    path.write_text(OPENB_TRACE, encoding="utf-8")
    return path
