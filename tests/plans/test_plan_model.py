"""Plan files: validation (one line naming file, field and value; exit 2 from the CLI) and
the scenario overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app
from simulator.plans.model import load_plan, merge_overrides

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "plans" / "fixtures" / "small.yaml"
runner = CliRunner()


def _plan(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load(SMALL.read_text())
    data["scenario"]["path"] = str(ROOT / "traces" / "scenarios" / "llm-serving-diurnal.yaml")
    edit(data)
    path = tmp_path / "bad-plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _set(path: str, value: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "field", "value"),
    [
        (_set("scenario.path", "../no-such-scenario.yaml"), "scenario.path", "no-such-scenario"),
        (_set("pools.0.min", 50), "pools[0]", "min 50 > max 40"),
        (_set("pools.0.costPerHour", -3), "pools[0].costPerHour", "-3"),
        (_set("policies", ["tessera", "fastest"]), "policies[1]", "'fastest'"),
        (_set("pools.0.from", "a100"), "pools[0].from", "'a100'"),
        (_set("targets", {}), "targets", "servingPendingP99"),
        (_set("seeds", [1, 1]), "seeds", "[1, 1]"),
        (
            _set("pools.0.accelerator", {"kind": "nvidia", "model": "H900", "count": 8}),
            "pools",
            "H900",
        ),
    ],
    ids=[
        "unknown-scenario",
        "min-above-max",
        "negative-cost",
        "unknown-policy",
        "unknown-base-pool",
        "no-target",
        "repeated-seed",
        "unknown-gpu-model",
    ],
)
def test_bad_plans_exit_2_with_one_line(tmp_path: Path, edit: Any, field: str, value: str) -> None:
    """Each bad plan: exit code 2, one line on stderr naming the file, the field, the value;
    no report directory."""
    path = _plan(tmp_path, edit)
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and field in lines[0] and value in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_overrides_merge_workloads_by_name() -> None:
    """Mappings merge key by key, named list entries by name; other values replace."""
    base = {
        "duration": "24h",
        "workloads": [
            {"name": "a", "replicas": {"fixed": 1}, "pod": {"cpu": "1"}},
            {"name": "b", "replicas": {"fixed": 2}},
        ],
        "seeds": [1, 2, 3],
    }
    patch = {"duration": "4h", "workloads": [{"name": "b", "replicas": {"fixed": 5}}], "seeds": [7]}
    merged = merge_overrides(base, patch)
    assert merged["duration"] == "4h"
    assert merged["seeds"] == [7]
    assert merged["workloads"][0] == base["workloads"][0]
    assert merged["workloads"][1] == {"name": "b", "replicas": {"fixed": 5}}
    assert base["workloads"][1]["replicas"] == {"fixed": 2}  # the input is not changed


def test_shipped_plans_load() -> None:
    """Every shipped plan validates; its candidate pools build at their bounds."""
    plans = sorted((ROOT / "traces" / "plans").glob("*.yaml"))
    assert len(plans) >= 2
    for path in plans:
        resolved = load_plan(path)
        assert resolved.seeds and resolved.pool_specs
        assert resolved.scenario.duration > 0
