"""`tessera dra allocate`: the README's JSON on stdout, exit codes, and the --check table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from simulator.cli import app

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "tests" / "conformance" / "dra"


def _case_with_outcome(outcome: str) -> Path:
    for path in sorted(CASES.glob("*.yaml")):
        if yaml.safe_load(path.read_text())["expect"]["outcome"] == outcome:
            return path
    raise AssertionError(f"no shipped case expects {outcome}")


def test_allocated_case_prints_the_readme_json() -> None:
    """An allocated case prints exactly the README's keys, devices and node selector, exit 0."""
    result = CliRunner().invoke(app, ["dra", "allocate", str(CASES / "002-other-node.yaml")])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert list(printed) == ["outcome", "message", "errorScope", "results"]
    assert printed["outcome"] == "allocated"
    assert printed["message"] == ""
    assert printed["errorScope"] is None
    [claim] = printed["results"]
    assert list(claim) == ["claim", "devices", "nodeSelector", "config"]
    assert claim["claim"] == "claim-0"
    assert claim["devices"] == [
        {"request": "req-0", "driver": "driver-a", "pool": "pool-2", "device": "device-1"}
    ]
    [term] = claim["nodeSelector"]["nodeSelectorTerms"]
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]
    assert claim["config"] == []


def test_unschedulable_case_exits_0_with_node_scope() -> None:
    """An unschedulable outcome is a result, not an error: exit 0, errorScope node, no results."""
    result = CliRunner().invoke(app, ["dra", "allocate", str(_case_with_outcome("unschedulable"))])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["outcome"] == "unschedulable"
    assert printed["errorScope"] == "node"
    assert printed["results"] == []
    assert printed["message"]


def test_error_case_exits_0_with_a_message() -> None:
    """An allocator error (e.g. a CEL error) is printed as outcome error with exit code 0."""
    result = CliRunner().invoke(app, ["dra", "allocate", str(_case_with_outcome("error"))])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["outcome"] == "error"
    assert printed["errorScope"] in ("fatal", "node")
    assert printed["message"]


def test_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """A missing case file: exit 2, one `error:` line naming the file on stderr, empty stdout."""
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(app, ["dra", "allocate", str(missing)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {missing}")


def test_non_case_yaml_exits_2(tmp_path: Path) -> None:
    """A YAML file that is not a case file (a Node object) exits 2 without a traceback."""
    path = tmp_path / "node.yaml"
    path.write_text("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n")
    result = CliRunner().invoke(app, ["dra", "allocate", str(path)])
    assert result.exit_code == 2
    assert "node: expected" in result.stderr
    assert "Traceback" not in result.output


def test_case_and_check_are_exclusive(tmp_path: Path) -> None:
    """Neither or both of CASE and --check is bad input (exit 2)."""
    runner = CliRunner()
    assert runner.invoke(app, ["dra", "allocate"]).exit_code == 2
    both = runner.invoke(
        app, ["dra", "allocate", str(CASES / "002-other-node.yaml"), "--check", str(CASES)]
    )
    assert both.exit_code == 2


def test_check_passes_on_the_shipped_cases() -> None:
    """--check on tests/conformance/dra: every case passes, summary printed, exit 0."""
    result = CliRunner().invoke(app, ["dra", "allocate", "--check", str(CASES)])
    assert result.exit_code == 0, result.output
    count = len(list(CASES.glob("*.yaml")))
    assert f"{count} cases: {count} passed, 0 failed" in result.stdout
    assert "FAIL" not in result.stdout


def test_check_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    """A case whose expect is wrong shows FAIL with the problem and makes --check exit 1."""
    data = yaml.safe_load((CASES / "002-other-node.yaml").read_text())
    data["expect"]["results"][0]["devices"][0]["device"] = "device-9"
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(data))
    shutil.copy(CASES / "003-small-and-large.yaml", tmp_path)
    result = CliRunner().invoke(app, ["dra", "allocate", "--check", str(tmp_path)])
    assert result.exit_code == 1
    assert "2 cases: 1 passed, 1 failed" in result.stdout
    wrong_row = next(line for line in result.stdout.splitlines() if line.startswith("│ wrong"))
    assert "FAIL" in wrong_row
    assert "device-9" in result.stdout


def test_check_counts_an_unreadable_case_as_failed(tmp_path: Path) -> None:
    """A file in the --check directory that is not a case file is a failed row, exit 1."""
    (tmp_path / "broken.yaml").write_text("- just\n- a list\n")
    result = CliRunner().invoke(app, ["dra", "allocate", "--check", str(tmp_path)])
    assert result.exit_code == 1
    assert "1 cases: 0 passed, 1 failed" in result.stdout


def test_check_of_an_empty_directory_is_bad_input(tmp_path: Path) -> None:
    """--check on a directory without *.yaml files is bad input (exit 2)."""
    result = CliRunner().invoke(app, ["dra", "allocate", "--check", str(tmp_path)])
    assert result.exit_code == 2
    assert "no *.yaml case files" in result.stderr
