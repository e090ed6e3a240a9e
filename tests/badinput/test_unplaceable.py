"""Pods that no cluster event can ever place fail once, with the reason aggregated.

A GPU share (``capacity.requests``) on a cluster whose scheduler runs without
DRAConsumableCapacity (a 1.35 dump) can never be allocated: DynamicResources' PreFilter
answers UnschedulableAndUnresolvable with a *final* status, the replay records one failed
attempt and never retries it, and the summary and stderr count the pods per reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.dra.claims import ClaimSpec, ConstraintSpec, RequestGroup, RequestSpec
from scheduler.dra.feature_check import feature_problem
from scheduler.dra.features import Features
from simulator.cli import app

REASON = "claim needs DRAConsumableCapacity, off in this cluster"


def _claim(**request: object) -> ClaimSpec:
    spec = RequestSpec(name="gpu", base="gpu", sub="", class_name="gpu.nvidia.com", **request)  # type: ignore[arg-type]
    return ClaimSpec("ns", "c", "u", (RequestGroup("gpu", spec),))


def test_feature_problem_names_the_gate() -> None:
    """Each gate a claim can need is found; with the gate on there is no problem."""
    off = Features()
    shares = _claim(capacity_requests={"compute": 470})
    assert feature_problem(shares, off) is not None
    assert feature_problem(shares, off).summary == REASON  # type: ignore[union-attr]
    assert feature_problem(shares, Features(consumable_capacity=True)) is None
    admin = _claim(admin_access=True)
    assert feature_problem(admin, off).gate == "DRAAdminAccess"  # type: ignore[union-attr]
    sub = RequestSpec(name="gpu/a", base="gpu", sub="a", class_name="gpu.nvidia.com")
    listed = ClaimSpec("ns", "c", "u", (RequestGroup("gpu", None, (sub,)),))
    assert feature_problem(listed, off).gate == "DRAPrioritizedList"  # type: ignore[union-attr]
    assert feature_problem(listed, Features(prioritized_list=True)) is None
    distinct = ClaimSpec(
        "ns", "c", "u", (), (ConstraintSpec(("gpu",), distinct_attribute="x/uuid"),)
    )
    assert feature_problem(distinct, off).gate == "DRAConsumableCapacity"  # type: ignore[union-attr]
    assert feature_problem(_claim(), off) is None


def test_shares_without_consumable_capacity_fail_once(
    shared_dump: Path, openb_trace: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The two GPU-share pods fail once each with the reason; the others run; the summary
    and stderr count them."""
    out = tmp_path / "out"
    args = ["replay", "--cluster", str(shared_dump), "--trace", str(openb_trace)]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pods_unplaceable"] == {REASON: 2}
    assert summary["pods_scheduled"] == 2
    # a warning (stderr under the CLI, which configures no logging)
    assert f"2 pod(s): {REASON} (failed once, never retried)" in caplog.messages
    entries = [json.loads(line) for line in (out / "placements.jsonl").read_text().splitlines()]
    fails = [e for e in entries if e["event"] == "fail"]
    assert sorted(e["pod"] for e in fails) == ["openb/openb-pod-0000", "openb/openb-pod-0001"]
    assert all(REASON in e["reason"] for e in fails)


def test_with_the_gate_on_the_shares_run(
    shared_dump: Path, openb_trace: Path, tmp_path: Path
) -> None:
    """The same replay with DRAConsumableCapacity on places every pod (the check is the
    gate, not the claim)."""
    out = tmp_path / "out"
    args = ["replay", "--cluster", str(shared_dump), "--trace", str(openb_trace)]
    gates = ["--feature-gates", "DRAConsumableCapacity=true"]
    result = CliRunner().invoke(app, [*args, *gates, "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert "pods_unplaceable" not in summary
    assert summary["pods_scheduled"] == 4


MISSING_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata: {name: needs-gpu, namespace: default}
spec:
  containers: [{name: c, image: x, resources: {requests: {cpu: "1"}}}]
  resourceClaims: [{name: gpu, resourceClaimTemplateName: nope}]
---
apiVersion: v1
kind: Pod
metadata: {name: cpu-only, namespace: default}
spec:
  containers: [{name: c, image: x, resources: {requests: {cpu: "1"}}}]
"""


def test_missing_claim_template_fails_once(shared_dump: Path, tmp_path: Path) -> None:
    """A pod naming a ResourceClaimTemplate the input lacks fails once with that reason
    (its claim can never be made); the run goes on and exits 0."""
    trace = tmp_path / "pods.yaml"
    trace.write_text(MISSING_TEMPLATE, encoding="utf-8")
    out = tmp_path / "out"
    args = ["replay", "--cluster", str(shared_dump), "--trace", str(trace), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    reason = "ResourceClaimTemplate default/nope not found in the input"
    assert summary["pods_unplaceable"] == {reason: 1}
    assert summary["pods_scheduled"] == 1
    fails = [
        json.loads(line)
        for line in (out / "placements.jsonl").read_text().splitlines()
        if '"fail"' in line
    ]
    assert [f["pod"] for f in fails] == ["default/needs-gpu"]
