"""``tessera serve`` on the command line: help, and bad input as one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from tests.extender.serve_harness import ROOT, write_objects


def test_help_names_every_option_and_an_example() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: tessera serve" in result.stdout
    assert "Example: tessera serve" in result.stdout
    for option in (
        "--snapshot",
        "--kubeconfig",
        "--host",
        "--port",
        "--prefix",
        "--health-port",
        "--policy",
        "--gang-hold-timeout",
        "--gang-ttl",
        "--max-body-bytes",
        "--feature-gates",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot", "/nonexistent/dir"], "--snapshot /nonexistent/dir: no such file"),
        (["--snapshot", "x", "--kubeconfig", "y"], "--snapshot and --kubeconfig: give one"),
        (["--snapshot", "x", "--gang-hold-timeout", "soon"], "--gang-hold-timeout 'soon'"),
        (["--snapshot", "x", "--gang-hold-timeout", "0s"], "must be positive"),
        (["--snapshot", "x", "--port", "70000"], "--port 70000: must be between 0 and 65535"),
        (["--snapshot", "x", "--feature-gates", "Nope=true"], "--feature-gates"),
        (["--snapshot", "x", "--feature-gates", "DRAPartitionableDevices"], "expected NAME=true"),
        (["--snapshot", "x", "--policy", "nope"], "policy 'nope'"),
        (["--snapshot", "x", "--tls-cert-file", "c.pem"], "give both or neither"),
        (["--snapshot", "x", "--log-level", "loud"], "--log-level 'loud'"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_a_bad_object_in_the_snapshot_stops_the_server_with_a_located_line(
    tmp_path: Path,
) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1"},
        "status": {"allocatable": {"cpu": "lots"}},
    }
    write_objects(tmp_path, "nodes", [node])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "serve",
            "--snapshot",
            str(tmp_path),
            "--port",
            "0",
            "--log-level",
            "error",
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, done.stderr
    assert "nodes.json" in lines[0]
    assert "Node n1" in lines[0]
    assert "status.allocatable.cpu" in lines[0]
    assert "Traceback" not in done.stderr
