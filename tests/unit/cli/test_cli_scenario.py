"""``tessera scenario render`` and ``tessera replay --trace SCENARIO``: files written, the
scenario's own cluster by default, --only, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from simulator.cli import app
from tests.scenarios.scenario_builders import BATCH_SMALL, SERVING_LWS, scenario_file

runner = CliRunner()


def test_render_writes_objects_pods_and_faults(tmp_path: Path) -> None:
    """render writes the three files; pods.yaml holds one document per pod."""
    path = scenario_file(
        tmp_path, [SERVING_LWS, BATCH_SMALL], failures={"gpus": {"rate": 0.05, "repair": 600}}
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["scenario", "render", str(path), "--seed", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["faults.yaml", "objects.yaml", "pods.yaml"]
    text = (out / "pods.yaml").read_text()
    assert text.count("kind: Pod") >= 4
    assert "DeviceTaintRule" in (out / "faults.yaml").read_text()
    assert "pods" in result.output


def test_replay_takes_a_scenario_and_its_dump_alike(tmp_path: Path) -> None:
    """replay --trace SCENARIO (no --cluster) and replay --trace DUMP --cluster C give the
    same summary for one seed; --only serving keeps the serving pods."""
    path = scenario_file(tmp_path, [SERVING_LWS, BATCH_SMALL])
    runner.invoke(app, ["scenario", "render", str(path), "--seed", "5", "-o", str(tmp_path / "d")])
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    first = runner.invoke(app, ["replay", "--trace", str(path), "--seed", "5", "--out", str(a)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        app,
        [
            "replay",
            "--trace",
            str(tmp_path / "d"),
            "--cluster",
            str(tmp_path / "cluster.yaml"),
            "--seed",
            "5",
            "--out",
            str(b),
        ],
    )
    assert second.exit_code == 0, second.output

    def summary(directory: Path) -> dict[str, object]:
        data = json.loads((directory / "summary.json").read_text())
        return {k: v for k, v in data.items() if k not in ("trace", "wall_seconds")}

    assert summary(a) == summary(b)
    alone = runner.invoke(
        app, ["replay", "--trace", str(path), "--only", "serving", "--out", str(c)]
    )
    assert alone.exit_code == 0, alone.output
    assert json.loads((c / "summary.json").read_text())["pods_total"] == 4


def test_errors_are_one_line(tmp_path: Path) -> None:
    """A bad scenario and a dump without --cluster fail with exit code 2 and one line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: tessera.io/v1alpha1\nkind: Scenario\nduration: x\n")
    result = runner.invoke(app, ["scenario", "render", str(bad), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "bad.yaml: invalid scenario:" in result.output
    dump = tmp_path / "dump.yaml"
    dump.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    result = runner.invoke(app, ["replay", "--trace", str(dump)])
    assert result.exit_code == 2
    assert "--cluster: required unless --trace is a scenario" in result.output
