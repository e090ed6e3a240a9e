"""The `tessera` app as a whole: help of every command, the shared error policy, entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from simulator.cli import app
from simulator.cli import cluster as cli_cluster
from simulator.cli.errors import error_line

REPO = Path(__file__).resolve().parents[3]
GB200 = REPO / "traces" / "clusters" / "gb200-nvl72.yaml"

COMMANDS = [
    ["cluster", "build"],
    ["cluster", "import"],
    ["cluster", "show"],
    ["dra", "allocate"],
    ["inflate"],
]


@pytest.mark.parametrize("command", [[], ["cluster"], ["dra"]], ids=["root", "cluster", "dra"])
def test_group_help_lists_commands(command: list[str]) -> None:
    """Every command group's --help exits 0 and lists its commands."""
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Commands" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_command_help_has_usage_and_example(command: list[str]) -> None:
    """Every command's --help exits 0 and shows its usage, inputs/outputs and an example."""
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: tessera {' '.join(command)}" in result.stdout
    assert "Example: tessera " + command[0] in result.stdout


def test_version_prints_the_distribution_version() -> None:
    """`tessera --version` prints the installed version and exits 0."""
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("tessera ")


def test_unexpected_error_exits_1_with_hint_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug (not bad input) exits 1 with the message and the --debug hint, no traceback."""

    def boom(path: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_cluster, "load_cluster_spec", boom)
    result = CliRunner().invoke(app, ["cluster", "show", str(GB200)])
    assert result.exit_code == 1
    assert "error: unexpected RuntimeError: boom" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.output


def test_debug_flag_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tessera --debug` prints the traceback of an unexpected error, still exit 1."""

    def boom(path: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_cluster, "load_cluster_spec", boom)
    result = CliRunner().invoke(app, ["--debug", "cluster", "show", str(GB200)])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert "RuntimeError: boom" in result.stderr


def test_debug_environment_variable_shows_the_traceback_of_bad_input(tmp_path: Path) -> None:
    """TESSERA_DEBUG=1 adds the traceback to a bad-input error, which keeps exit code 2."""
    result = CliRunner().invoke(
        app, ["cluster", "show", str(tmp_path / "missing.yaml")], env={"TESSERA_DEBUG": "1"}
    )
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_usage_errors_keep_click_exit_code() -> None:
    """An unknown option is a usage error (exit 2 from the parser), not an unexpected error."""
    result = CliRunner().invoke(app, ["cluster", "show", "--no-such-option"])
    assert result.exit_code == 2
    assert "unexpected" not in result.output


def test_error_line_joins_multiline_messages() -> None:
    """A multi-line ValueError becomes one line; a header ending in ':' is joined by a space."""
    exc = ValueError("spec.yaml: invalid cluster spec:\na: bad (got 0)\nb: worse")
    assert error_line(exc) == "spec.yaml: invalid cluster spec: a: bad (got 0); b: worse"


def test_error_line_names_the_file_of_an_os_error() -> None:
    """An OSError prints as `<file>: <reason>`, not Python's errno repr."""
    exc = FileNotFoundError(2, "No such file or directory", "nodes.csv")
    assert error_line(exc) == "nodes.csv: No such file or directory"


def test_error_line_of_a_validation_error_names_field_and_value() -> None:
    """A pydantic ValidationError prints model, field, message and value on one line."""

    class Shape(BaseModel):
        count: int

    with pytest.raises(ValidationError) as info:
        Shape.model_validate({"count": "many"})
    line = error_line(info.value)
    assert "\n" not in line
    assert line.startswith("Shape: count: ")
    assert "'many'" in line


def test_python_dash_m_runs_the_app() -> None:
    """`python -m simulator.cli --help` runs the same app as the console script."""
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "cluster" in done.stdout
    assert "inflate" in done.stdout
