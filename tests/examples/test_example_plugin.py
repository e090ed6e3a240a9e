"""The example out-of-tree plugin, installed with pip into a separate directory, is found
through its ``tessera.plugins`` entry point and steers a ``tessera replay --config`` run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.builders import spot_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tessera-example-plugin"

CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - {name: PreferLabel, weight: 5}
  pluginConfig:
  - name: PreferLabel
    args: {key: example.com/spot, values: ["%s"]}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package pip-installed (no deps, no index) into its own directory."""
    work = tmp_path_factory.mktemp("example")
    source = work / "source"
    shutil.copytree(EXAMPLE, source)  # the build writes into the source tree: use a copy
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target


def replay(
    tmp_path: Path, value: str, path: Sequence[Path]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``tessera replay --config`` (PreferLabel on example.com/spot=``value``) in a fresh
    interpreter whose import path is ``path``; returns the process and the output dir."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    spec, trace = spot_scenario(tmp_path)
    config = tmp_path / "prefer.yaml"
    config.write_text(CONFIG % value)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    args = ["replay", "--cluster", str(spec), "--trace", str(trace), "--config", str(config)]
    run = subprocess.run(
        [sys.executable, "-m", "simulator.cli", *args, "--out", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    return run, out


def nodes(out: Path) -> list[str]:
    """The node of every bind, in order."""
    lines = (out / "placements.jsonl").read_text().splitlines()
    return [event["node"] for event in map(json.loads, lines) if event["event"] == "bind"]


def test_installed_plugin_steers_pods_to_labelled_nodes(site: Path, tmp_path: Path) -> None:
    """With the plugin preferring spot nodes (weight 5), all four pods bind there; preferring
    a value no node has, the default profile spreads them over both pools."""
    # spot: PreferLabel 100 x 5 on spot nodes beats LeastAllocated's few points of spread
    run, out = replay(tmp_path / "spot", "true", [ROOT, site])
    assert run.returncode == 0, run.stderr
    assert sorted(nodes(out)) == ["spot-0000", "spot-0000", "spot-0001", "spot-0001"]
    # no node matches: the scores tie at 0 and LeastAllocated spreads the pods
    run, out = replay(tmp_path / "none", "false", [ROOT, site])
    assert run.returncode == 0, run.stderr
    assert {n.split("-")[0] for n in nodes(out)} == {"on", "spot"}


def test_without_the_distribution_the_plugin_is_unknown(tmp_path: Path) -> None:
    """The entry point is what registers PreferLabel: without the install the same config
    fails with exit code 2 and one line naming the file, the field and the known plugins."""
    run, _ = replay(tmp_path, "true", [ROOT])
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "prefer.yaml: profiles[0].plugins.multiPoint.enabled[0].name: unknown plugin " in line
    assert "'PreferLabel' (tessera knows: " in line


def test_bad_plugin_args_are_one_line_errors(site: Path, tmp_path: Path) -> None:
    """The plugin's typed args reject a bad value: exit 2, naming file, plugin and field."""
    spec, trace = spot_scenario(tmp_path)
    config = tmp_path / "bad.yaml"
    config.write_text((CONFIG % "true").replace("key: example.com/spot", "key: ''"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "replay",
            "--cluster",
            str(spec),
            "--trace",
            str(trace),
            "--config",
            str(config),
            "--out",
            str(tmp_path / "out"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "bad.yaml: profile default-scheduler: plugin PreferLabel: args.key: " in line
