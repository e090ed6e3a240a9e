"""``--feature-gates``: kube-scheduler's flag syntax, on every command that loads a cluster or
runs the allocator (replay, dra allocate, cluster show/import, inflate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.dra.features import Features, parse_feature_gates
from simulator.cli import app

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "tests" / "conformance" / "dra"
DYNAMIC_MIG = REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
SCENARIO = REPO / "traces" / "scenarios" / "serving-batch-small.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DRAConsumableCapacity=true", {"DRAConsumableCapacity": True}),
        # Go's strconv.ParseBool spellings, spaces trimmed, empty items skipped
        (
            " DRADeviceTaints = T ,,DRAAdminAccess=0,",
            {"DRADeviceTaints": True, "DRAAdminAccess": False},
        ),
        ("DRAAdminAccess=FALSE,DRAAdminAccess=1", {"DRAAdminAccess": True}),  # the last one wins
        ("", {}),
    ],
)
def test_the_flag_syntax_is_kube_schedulers(text: str, expected: dict[str, bool]) -> None:
    """Pairs as featureGate.Set reads them (component-base/featuregate)."""
    assert parse_feature_gates(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("DRAAdminAccess", "missing bool value for DRAAdminAccess"),
        ("DRAAdminAccess=yes", "invalid value of DRAAdminAccess=yes"),
        ("SchedulerQueueingHints=true", "'SchedulerQueueingHints' is not a DRA feature gate"),
    ],
)
def test_bad_flags_name_the_item(text: str, message: str) -> None:
    """A pair without a value, a value Go would not parse, a gate tessera does not model."""
    with pytest.raises(ValueError, match=message):
        parse_feature_gates(text)


def test_gates_override_the_version_defaults() -> None:
    """1.35 has DRAConsumableCapacity off and DRAPrioritizedList on; the flag flips both."""
    base = Features.for_version("1.35")
    flipped = base.with_gates({"DRAConsumableCapacity": True, "DRAPrioritizedList": False})
    assert (base.consumable_capacity, base.prioritized_list) == (False, True)
    assert (flipped.consumable_capacity, flipped.prioritized_list) == (True, False)


def test_dra_allocate_turns_a_case_feature_off() -> None:
    """A prioritized-list case allocates as written and fails as upstream does with the gate
    off; bad flags exit 2 with one line."""
    case = str(CASES / "044-prioritized-list-device-config.yaml")
    runner = CliRunner()
    on = runner.invoke(app, ["dra", "allocate", case])
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout)["outcome"] == "allocated"
    off = runner.invoke(
        app, ["dra", "allocate", case, "--feature-gates", "DRAPrioritizedList=false"]
    )
    assert off.exit_code == 0, off.output
    printed = json.loads(off.stdout)
    assert printed["outcome"] == "error"
    assert "DRAPrioritizedList feature is disabled" in printed["message"]
    bad = runner.invoke(app, ["dra", "allocate", case, "--feature-gates", "DRAPrioritizedList"])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: --feature-gates: missing bool value for DRAPrioritizedList"


def test_cluster_show_reports_the_overridden_gates() -> None:
    """`cluster show` prints the gates with the flag applied, and refuses to turn off a gate a
    pool needs (dynamic MIG needs DRAPartitionableDevices), naming the pool."""
    runner = CliRunner()
    shown = runner.invoke(
        app, ["cluster", "show", str(DYNAMIC_MIG), "--feature-gates", "DRADeviceTaints=true"]
    )
    assert shown.exit_code == 0, shown.output
    [row] = [line for line in shown.stdout.splitlines() if "DRADeviceTaints" in line]
    assert "on" in row.split("DRADeviceTaints")[1]
    refused = runner.invoke(
        app, ["cluster", "show", str(DYNAMIC_MIG), "--feature-gates", "DRAPartitionableDevices=0"]
    )
    assert refused.exit_code == 2
    assert "nodePools[0] (pool 'h100'): dynamic MIG needs the feature gate" in refused.stderr


def test_cluster_import_applies_gates_to_a_dump(tmp_path: Path) -> None:
    """A dump is read with 1.35's defaults; the flag changes the gates `cluster import` shows."""
    runner = CliRunner()
    built = runner.invoke(app, ["cluster", "build", str(DYNAMIC_MIG), "-o", str(tmp_path / "d")])
    assert built.exit_code == 0, built.output
    shown = runner.invoke(
        app, ["cluster", "import", str(tmp_path / "d"), "--feature-gates", "DRAExtendedResource=t"]
    )
    assert shown.exit_code == 0, shown.output
    [row] = [line for line in shown.stdout.splitlines() if "DRAExtendedResource" in line]
    assert "on" in row.split("DRAExtendedResource")[1]
    assert "with --feature-gates" in shown.stdout


def test_replay_with_a_gate_its_cluster_needs_turned_off_exits_2(tmp_path: Path) -> None:
    """The replay's cluster is built with the flag's gates: dynamic MIG without partitionable
    devices is refused before anything runs, and nothing is written."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--trace",
            str(SCENARIO),
            "--cluster",
            str(DYNAMIC_MIG),
            "--feature-gates",
            "DRAPartitionableDevices=false",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--feature-gates: nodePools[0] (pool 'h100')" in result.stderr
    assert not out.exists()


def test_inflate_needs_consumable_capacity_for_openb(tmp_path: Path) -> None:
    """openb's nodes are shared GPUs: turning DRAConsumableCapacity off is refused (exit 2)."""
    out = tmp_path / "run.json"
    result = CliRunner().invoke(
        app, ["inflate", "--feature-gates", "DRAConsumableCapacity=false", "--json", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "a shared-GPU pool needs the feature gate DRAConsumableCapacity" in result.stderr
    assert not out.exists()
