"""Golden replay: the shipped serving + batch scenario on the two-rack H100 cluster, under the
tessera and kube-default policies, against committed expected summaries; the tessera replay
is deterministic (two runs byte-identical) and ``tessera replay`` writes the same files.

To refresh the expected summaries after an intended behaviour change, run this file with
``TESSERA_UPDATE_GOLDEN=1`` and review the diff of ``tests/golden/replay/*.json``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.clusters import load_cluster
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import ReplayConfig, ReplayResult, run_replay
from simulator.traces import read_trace

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
TRACE = ROOT / "traces" / "scenarios" / "serving-batch-small.yaml"
EXPECTED = Path(__file__).resolve().parent / "replay"
FILES = ("summary.json", "placements.jsonl", "timeline.csv")
UPDATE = os.environ.get("TESSERA_UPDATE_GOLDEN") == "1"


@functools.cache
def run(policy: str) -> ReplayResult:
    """Replay the scenario under ``policy`` exactly as ``tessera replay`` does (seed 0);
    one in-process run per policy per session (the CLI run is the second tessera run)."""
    loaded = load_cluster(CLUSTER)
    profile = replay_profile(policy, seed=0, levels=loaded.levels)
    return run_replay(loaded, read_trace(TRACE), profile, ReplayConfig(seed=0))


def stable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without its wall-clock time."""
    return {k: v for k, v in summary.items() if k != "wall_seconds"}


def written(directory: Path) -> list[bytes]:
    """The three output files, with wall_seconds dropped from summary.json."""
    out = []
    for name in FILES:
        data = (directory / name).read_bytes()
        if name == "summary.json":
            summary = stable(json.loads(data))
            data = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
        out.append(data)
    return out


@pytest.mark.parametrize("policy", ["tessera", "kube-default"])
def test_summary_matches_the_committed_golden(policy: str) -> None:
    """The replay summary (minus wall_seconds) equals the committed golden JSON."""
    summary = stable(run(policy).summary)
    assert run(policy).summary["wall_seconds"] > 0
    path = EXPECTED / f"serving-batch-small.{policy}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert summary == expected
    for key in (
        "pods_total",
        "pods_scheduled",
        "pods_unschedulable",
        "gangs_total",
        "gangs_placed",
        "gangs_partial",
        "preemptions",
        "gpu_alloc_mean_pct",
        "pending_seconds",
        "device_choice",
    ):
        assert key in summary, key
    assert set(summary["pending_seconds"]) == {"serving", "batch"}
    if policy == "tessera":
        assert summary["gangs_partial"] == 0
        assert summary["gangs_placed"] == summary["gangs_total"] == 5


def test_tessera_replay_is_byte_identical_through_the_cli(tmp_path: Path) -> None:
    """A second tessera replay via the CLI writes byte-identical files."""
    run("tessera").write(tmp_path / "first")
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--cluster",
            str(CLUSTER),
            "--trace",
            str(TRACE),
            "--policy",
            "tessera",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert written(out) == written(tmp_path / "first")
    assert "gangs_partial" in result.output
