"""Rendered scenarios read back as dumps: every shipped scenario, rendered by ``tessera
scenario render`` and replayed as a dump through ``tessera replay``, gives the summary and
placement log of replaying the scenario file itself (the first simulated hour, seed 1,
tessera's policy); a rendered history may reuse a pod name once the first pod is deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.scenarios.model import cluster_path, is_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (ROOT / "traces" / "scenarios").glob("*.yaml") if is_scenario(p))
HORIZON = "3600"

runner = CliRunner()


def test_the_four_scenarios_of_the_issue_are_shipped() -> None:
    """llm-serving-diurnal, mig-inference, nvl72-gangs and tpu-slices are scenarios."""
    names = {load_scenario(p).metadata.name for p in SHIPPED}
    assert {"llm-serving-diurnal", "mig-inference", "nvl72-gangs", "tpu-slices"} <= names


def _replay(trace: Path, out: Path, *extra: str) -> dict[str, object]:
    args = ["replay", "--trace", str(trace), "--seed", "1", "--horizon", HORIZON]
    result = runner.invoke(app, [*args, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in ("trace", "wall_seconds")}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_rendered_shipped_scenario_replays_like_the_scenario(path: Path, tmp_path: Path) -> None:
    """render -o DUMP, then replay DUMP (with the scenario's cluster) = replay SCENARIO: same
    summary and byte-identical placements.jsonl and timeline.csv."""
    dump = tmp_path / "dump"
    rendered = runner.invoke(app, ["scenario", "render", str(path), "--seed", "1", "-o", str(dump)])
    assert rendered.exit_code == 0, rendered.output
    cluster = cluster_path(load_scenario(path), path)
    direct = _replay(path, tmp_path / "direct")
    dumped = _replay(dump, tmp_path / "dumped", "--cluster", str(cluster))
    assert dumped == direct
    assert direct["pods_scheduled"]  # the hour places something
    for name in ("placements.jsonl", "timeline.csv"):
        assert (tmp_path / "dumped" / name).read_bytes() == (
            tmp_path / "direct" / name
        ).read_bytes()


def _pod(name: str, created: str, finished: str) -> str:
    return f"""---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: serving
  creationTimestamp: "{created}"
  annotations: {{tessera.io/finished-at: "{finished}"}}
spec:
  containers:
  - name: main
    image: vllm
    resources: {{requests: {{cpu: "1"}}}}
"""


def test_a_pod_name_may_be_reused_after_its_pod_was_deleted(tmp_path: Path) -> None:
    """A history dump (what render writes when an LWS group is scaled down and up again):
    a Pod created under the name of one deleted before is a second pod, bound again; one
    created while the first still lives is the duplicate error, exit 2."""
    cluster = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
    history = tmp_path / "history.yaml"
    history.write_text(
        _pod("web", "2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z")
        + _pod("web", "2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z")
    )
    out = tmp_path / "out"
    args = ["replay", "--trace", str(history), "--cluster", str(cluster), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    binds = [
        (e["t"], e["pod"])
        for e in map(json.loads, (out / "placements.jsonl").read_text().splitlines())
        if e["event"] == "bind"
    ]
    assert binds == [(0.0, "serving/web"), (600.0, "serving/web")]
    overlap = tmp_path / "overlap.yaml"
    overlap.write_text(
        _pod("web", "2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z")
        + _pod("web", "2026-01-01T00:09:59Z", "2026-01-01T00:20:00Z")
    )
    args = ["replay", "--trace", str(overlap), "--cluster", str(cluster), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "duplicate object: Pod serving/web is also defined at" in result.output
