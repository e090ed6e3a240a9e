"""The shipped plan, end to end (slow: a few minutes on 2 cores): ``tessera plan
traces/plans/llm-serving.yaml``, and its conclusion checked on fresh replays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.plans.model import load_plan
from simulator.plans.points import ReplayTask, run_task, target_checks

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "traces" / "plans" / "llm-serving.yaml"


@pytest.mark.slow
def test_llm_serving_plan_conclusion(tmp_path: Path) -> None:
    """The plan recommends a mix and a policy; replayed again here, every target holds on
    every seed at that mix, and with one node fewer in a binding pool some target fails."""
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["plan", str(PLAN), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    rec = summary["recommendation"]
    assert rec is not None, summary["result"]
    assert rec["binding_pools"], rec
    assert (out / "report.html").stat().st_size > 50_000
    targets = summary["inputs"]["targets"]
    resolved = load_plan(PLAN)
    names = [p.name for p in resolved.pools]

    def verdicts(pools: dict[str, int]) -> list[bool]:
        counts = tuple(pools[n] for n in names)
        out = []
        for seed in resolved.seeds:
            task = ReplayTask(
                resolved.scenario_data, resolved.cluster_data(counts), rec["policy"], seed
            )
            checks = target_checks(run_task(task)["metrics"], targets)
            out.append(all(c["ok"] for c in checks.values()))
        return out

    assert all(verdicts(rec["pools"]))
    binding = rec["binding_pools"][0]
    assert not all(verdicts({**rec["pools"], binding: rec["pools"][binding] - 1}))
