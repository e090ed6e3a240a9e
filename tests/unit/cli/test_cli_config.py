"""``--config FILE`` on ``tessera replay`` and ``tessera inflate``: configurations run, bad ones
exit with code 2 and one line naming the file, the field and the value."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from simulator.cli import app
from simulator.experiments.replay import ReplayConfig
from tests.builders import spot_scenario

cli_replay = importlib.import_module("simulator.cli.replay")  # the package re-exports the command
HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def write(directory: Path, body: str, name: str = "sched.yaml") -> Path:
    """A configuration file: the header plus ``body``."""
    path = directory / name
    path.write_text(HEAD + body)
    return path


def replay(tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    """``tessera replay`` of the spot scenario with ``extra`` options: (exit code, stderr or
    output, output directory)."""
    spec, trace = spot_scenario(tmp_path)
    out = tmp_path / "out"
    args = ["replay", "--cluster", str(spec), "--trace", str(trace), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output, out


def error_line(output: str) -> str:
    """The single ``error:`` line of a failed command."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_replay_runs_every_profile_and_routes_pods_by_scheduler_name(tmp_path: Path) -> None:
    """Two profiles: pods go to the profile their schedulerName names; pods naming no profile
    (here the defaulted default-scheduler) are never scheduled and counted, as in a cluster
    running only those two schedulers; the summary names both profiles and device_choice
    'config'."""
    spot_only = (
        "addedAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
        "[{matchExpressions: [{key: example.com/spot, operator: Exists}]}]}}"
    )
    config = write(
        tmp_path,
        "profiles:\n"
        "- schedulerName: on-demand\n"
        "  pluginConfig:\n"
        "  - name: NodeAffinity\n"
        "    args: {addedAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
        "{nodeSelectorTerms: [{matchExpressions: [{key: example.com/spot, operator: "
        "DoesNotExist}]}]}}}\n"
        "- schedulerName: spot\n"
        "  pluginConfig:\n"
        f"  - {{name: NodeAffinity, args: {{{spot_only}}}}}\n",
    )
    spec, trace = spot_scenario(tmp_path)
    dump = yaml.safe_load(trace.read_text())
    dump["items"][0]["spec"]["schedulerName"] = "spot"  # p0
    dump["items"][1]["spec"]["schedulerName"] = "on-demand"  # p1; p2, p3 name no profile
    trace.write_text(yaml.safe_dump(dump))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            *("--cluster", str(spec), "--trace", str(trace)),
            *("--config", str(config), "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    binds = {
        e["pod"]: e["node"]
        for e in map(json.loads, (out / "placements.jsonl").read_text().splitlines())
    }
    assert binds["default/p0"].startswith("spot-")
    assert binds["default/p1"].startswith("on-demand-")
    assert "default/p2" not in binds and "default/p3" not in binds
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pods_other_scheduler"] == {"default-scheduler": 2}
    assert (summary["policy"], summary["device_choice"]) == ("on-demand+spot", "config")


@pytest.mark.parametrize(
    ("body", "extra", "expected"),
    [
        (
            "profiles:\n- plugins: {score: {enabled: [{name: Nope}]}}\n",
            (),
            "sched.yaml: profiles[0].plugins.score.enabled[0].name: unknown plugin 'Nope'",
        ),
        (
            "profiles:\n- plugins: {multipoint: {}}\n",
            (),
            "sched.yaml: profiles[0].plugins.multipoint: unknown field",
        ),
        (
            "percentageOfNodesToScore: 200\n",
            (),
            "sched.yaml: percentageOfNodesToScore: ",
        ),
        (
            "profiles:\n- pluginConfig: [{name: NodeResourcesFit, args: {ignoredResources: 3}}]\n",
            (),
            "sched.yaml: profile default-scheduler: plugin NodeResourcesFit: "
            "args.ignoredResources: ",
        ),
        ("{}\n", ("--policy", "tessera"), "--policy and --config: give one of them"),
        ("{}\n", ("--device-choice", "policy"), "--device-choice: only with --policy"),
    ],
)
def test_bad_configurations_exit_2_with_one_line(
    tmp_path: Path, body: str, extra: tuple[str, ...], expected: str
) -> None:
    """Each bad configuration or option combination: exit code 2, one error line."""
    config = write(tmp_path, body)
    code, output, _ = replay(tmp_path, "--config", str(config), *extra)
    assert code == 2, output
    line = error_line(output)
    assert line.startswith("error: ")
    assert expected in line, line


def test_missing_config_file_is_a_one_line_error(tmp_path: Path) -> None:
    """A --config path that does not exist: exit 2 naming it."""
    code, output, _ = replay(tmp_path, "--config", str(tmp_path / "none.yaml"))
    assert code == 2
    assert "none.yaml" in error_line(output)


def test_config_backoffs_reach_the_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """podInitialBackoffSeconds / podMaxBackoffSeconds become the replay queue's backoffs."""
    seen: list[ReplayConfig] = []
    real = cli_replay.replay_with_api

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_replay, "replay_with_api", spy)
    config = write(tmp_path, "podInitialBackoffSeconds: 3\npodMaxBackoffSeconds: 7\n")
    code, output, _ = replay(tmp_path, "--config", str(config))
    assert code == 0, output
    assert (seen[0].initial_backoff, seen[0].max_backoff) == (3.0, 7.0)


@pytest.fixture
def openb(tmp_path: Path) -> tuple[Path, Path]:
    """Two T4 nodes and twelve one-GPU openb pods."""
    nodes = tmp_path / "nodes.csv"
    nodes.write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nnode-a,32000,131072,2,T4\nnode-b,32000,131072,2,T4\n"
    )
    header = (
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
        "creation_time,deletion_time,scheduled_time"
    )
    rows = [header, *(f"pod-{i:02d},1000,2048,1,250,,LS,Running,{i},1000,{i}" for i in range(12))]
    pods = tmp_path / "pods.csv"
    pods.write_text("\n".join(rows) + "\n")
    return nodes, pods


def inflate(openb: tuple[Path, Path], *extra: str) -> tuple[int, str]:
    """``tessera inflate`` on the fixture trace with ``extra`` options."""
    nodes, pods = openb
    args = ["inflate", "--nodes", str(nodes), "--pods", str(pods), "--ratio", "1.0", *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_inflate_runs_the_one_profile_of_a_config(openb: tuple[Path, Path], tmp_path: Path) -> None:
    """inflate --config: the profile's name is the run's policy, device choice 'config'."""
    config = write(
        tmp_path,
        "profiles:\n"
        "- schedulerName: packing\n"
        "  plugins:\n"
        "    multiPoint: {enabled: [{name: GpuPacking, weight: 10}]}\n",
    )
    out = tmp_path / "run.json"
    code, output = inflate(openb, "--config", str(config), "--json", str(out))
    assert code == 0, output
    data = json.loads(out.read_text())
    assert (data["policy"], data["device_choice"]) == ("packing", "config")
    assert data["pods_total"] >= 12


def test_inflate_refuses_a_config_of_several_profiles(
    openb: tuple[Path, Path], tmp_path: Path
) -> None:
    """An inflate run schedules with one profile: two are a one-line error."""
    config = write(tmp_path, "profiles:\n- schedulerName: a\n- schedulerName: b\n")
    code, output = inflate(openb, "--config", str(config))
    assert code == 2
    assert "an inflate run schedules with one profile; the file has 2 (a, b)" in error_line(output)
