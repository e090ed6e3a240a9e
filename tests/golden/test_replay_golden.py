"""Golden replays: the shipped scenarios on the two-rack H100 cluster under the tessera and
kube-default policies, against committed expected outputs (``tests/golden/replay/``); the
tessera replay is deterministic (two runs byte-identical) and ``tessera replay`` writes the
same files.

Scenarios: ``serving-batch-small`` (serving and batch side by side, nothing waits) and
``serving-batch-contended`` (batch fills the cluster, serving preempts it, a batch gang is
evicted whole, pods wait). Per scenario and policy two files are compared: the summary
(``<scenario>.<policy>.json``, without ``wall_seconds``) and the placement log
(``<scenario>.<policy>.placements.txt``: one line per bind, eviction or failed attempt, as
``t event pod -> node [reason]``; devices left out).

A difference fails with a unified diff. To accept an intended change, regenerate by hand and
review the diff printed for each rewritten file (see tests/golden/README.md)::

    TESSERA_REGEN_GOLDEN=1 pytest tests/golden/test_replay_golden.py
"""

from __future__ import annotations

import difflib
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
from simulator.inputs import read_trace

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
SCENARIOS = ROOT / "traces" / "scenarios"
EXPECTED = Path(__file__).resolve().parent / "replay"
FILES = ("summary.json", "placements.jsonl", "timeline.csv")
REGEN = os.environ.get("TESSERA_REGEN_GOLDEN") == "1"
CASES = [
    (scenario, policy)
    for scenario in ("serving-batch-small", "serving-batch-contended")
    for policy in ("tessera", "kube-default")
]


@functools.cache
def run(scenario: str, policy: str) -> ReplayResult:
    """Replay ``scenario`` under ``policy`` exactly as ``tessera replay`` does (seed 0);
    one in-process run per case per session."""
    loaded = load_cluster(CLUSTER)
    profile = replay_profile(policy, seed=0, levels=loaded.levels)
    trace = read_trace(SCENARIOS / f"{scenario}.yaml")
    return run_replay(loaded, trace, profile, ReplayConfig(seed=0))


def stable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without its wall-clock time."""
    return {k: v for k, v in summary.items() if k != "wall_seconds"}


def summary_text(result: ReplayResult) -> str:
    """The golden form of a summary: sorted JSON, indent 2, no wall_seconds."""
    return json.dumps(stable(result.summary), indent=2, sort_keys=True) + "\n"


def placements_text(result: ReplayResult) -> str:
    """The golden form of a placement log: ``t event pod -> node [reason]`` per entry."""
    lines = []
    for entry in result.placements:
        line = f"{entry['t']:g} {entry['event']} {entry['pod']} -> {entry['node'] or '-'}"
        if entry.get("reason"):
            line += f" [{entry['reason']}]"
        lines.append(line + "\n")
    return "".join(lines)


def check_golden(name: str, actual: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Compare ``actual`` with the committed ``tests/golden/replay/<name>``: equal passes;
    otherwise fail with a unified diff, or, with TESSERA_REGEN_GOLDEN=1, rewrite the file and
    print the diff."""
    path = EXPECTED / name
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual == expected:
        return
    shown = f"tests/golden/replay/{name}"
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{shown} (committed)",
            tofile=f"{shown} (this run)",
        )
    )
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        with capsys.disabled():
            print(f"\nregenerated {shown}:\n{diff}")
        return
    pytest.fail(
        f"{shown} differs from this run; if the change is intended, regenerate with "
        f"TESSERA_REGEN_GOLDEN=1 and review the diff:\n{diff}",
        pytrace=False,
    )


@pytest.mark.parametrize(("scenario", "policy"), CASES)
def test_replay_matches_the_committed_golden(
    scenario: str, policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The replay's summary (minus wall_seconds) and placement log equal the golden files."""
    result = run(scenario, policy)
    assert result.summary["wall_seconds"] > 0
    check_golden(f"{scenario}.{policy}.json", summary_text(result), capsys)
    check_golden(f"{scenario}.{policy}.placements.txt", placements_text(result), capsys)


def test_small_scenario_places_everything_without_waiting() -> None:
    """serving-batch-small under tessera: all 4 gangs whole, every pod bound, no serving pod
    waits (the surge preempts batch in its rack)."""
    summary = run("serving-batch-small", "tessera").summary
    assert summary["gangs_placed"] == summary["gangs_total"] == 4
    assert summary["pending_seconds"]["serving"]["p99"] == 0.0
    assert summary["gangs_partial"] == summary["pods_unschedulable"] == 0
    assert summary["pods_scheduled"] == summary["pods_total"]


def test_contended_scenario_preempts_batch_and_makes_pods_wait() -> None:
    """serving-batch-contended: under tessera serving preempts batch at once (the scavenger
    gang evicted whole, at one instant) and evicted batch waits; under kube-default (no
    preemption) serving itself waits; every pod is bound in the end under both."""
    tessera = run("serving-batch-contended", "tessera")
    summary = tessera.summary
    assert summary["preemptions"] > 0
    assert summary["pending_seconds"]["serving"]["p99"] == 0.0
    assert summary["pending_seconds"]["batch"]["p95"] > 0.0
    gang = [e for e in tessera.placements if e["event"] == "evict" and "pretrain" in e["pod"]]
    assert sorted(e["pod"] for e in gang) == [f"batch/pretrain-{i}" for i in range(4)]
    assert len({e["t"] for e in gang}) == 1
    kube = run("serving-batch-contended", "kube-default").summary
    assert kube["preemptions"] == 0
    assert kube["pending_seconds"]["serving"]["p50"] > 0.0
    for done in (summary, kube):
        assert done["pods_scheduled"] == done["pods_total"]
        assert done["gangs_partial"] == 0


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


def test_tessera_replay_is_byte_identical_through_the_cli(tmp_path: Path) -> None:
    """A second tessera replay of the contended scenario via the CLI writes byte-identical
    files."""
    run("serving-batch-contended", "tessera").write(tmp_path / "first")
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--cluster",
            str(CLUSTER),
            "--trace",
            str(SCENARIOS / "serving-batch-contended.yaml"),
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
