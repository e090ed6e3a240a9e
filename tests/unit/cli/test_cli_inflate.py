"""`tessera inflate`: one run, the policy x seed matrix, JSON output and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.cli import common as cli_common
from simulator.cli.inflate import (
    DEFAULT_NODES,
    DEFAULT_PODS,
    matrix_table,
    parse_policies,
    parse_seeds,
)
from simulator.experiments.policies import POLICIES

RESULT_KEYS = {
    "policy",
    "seed",
    "ratio",
    "device_choice",
    "pods_total",
    "pods_failed",
    "arrived_pct",
    "alloc_pct",
    "frag_pct",
    "unallocated_pct_at_100",
    "wall_seconds",
}

POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time"
)
SHARES = (100, 100, 150, 200, 250, 100, 50, 100)


@pytest.fixture
def trace(tmp_path: Path) -> tuple[Path, Path]:
    """Two T4 nodes (4 GPUs = 4000 milli) and 24 one-GPU pods asking 3150 milli in all,
    so that ratio 1.0 adds clones until arrivals reach ~100% of capacity."""
    nodes = tmp_path / "nodes.csv"
    nodes.write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nnode-a,32000,131072,2,T4\nnode-b,32000,131072,2,T4\n"
    )
    pods = tmp_path / "pods.csv"
    rows = [POD_HEADER]
    for i in range(24):
        cpu, mem, share = 1000 + 1000 * (i % 3), 2048 * (1 + i % 2), SHARES[i % 8]
        rows.append(f"pod-{i:02d},{cpu},{mem},1,{share},,LS,Running,{i},1000,{i}")
    pods.write_text("\n".join(rows) + "\n")
    return nodes, pods


def _run(trace: tuple[Path, Path], out: Path, *extra: str) -> Any:
    nodes, pods = trace
    args = ["inflate", "--nodes", str(nodes), "--pods", str(pods), "--ratio", "1.0"]
    result = CliRunner().invoke(app, [*args, "--json", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result


def test_single_run_json_has_exactly_the_documented_keys(
    trace: tuple[Path, Path], tmp_path: Path
) -> None:
    """One run's JSON: the documented keys (plus trace), 0..130 arrivals, sorted and indented."""
    out = tmp_path / "run.json"
    result = _run(trace, out, "--policy", "fgd", "--seed", "7")
    text = out.read_text()
    data = json.loads(text)
    assert set(data) - {"trace"} == RESULT_KEYS
    assert data["arrived_pct"] == list(range(131))
    assert len(data["alloc_pct"]) == len(data["frag_pct"]) == 131
    assert (data["policy"], data["seed"], data["ratio"]) == ("fgd", 7, 1.0)
    assert data["device_choice"] == "policy"
    assert data["unallocated_pct_at_100"] is not None
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert "fgd" in result.stdout
    assert f"{data['pods_total']}" in result.stdout


def test_same_seed_gives_identical_json_except_wall_time(
    trace: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two runs with the same seed differ only in wall_seconds."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    _run(trace, first, "--policy", "bestfit", "--seed", "3")
    _run(trace, second, "--policy", "bestfit", "--seed", "3")
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    del a["wall_seconds"], b["wall_seconds"]
    assert a == b


def test_device_choice_is_recorded(trace: tuple[Path, Path], tmp_path: Path) -> None:
    """--device-choice first-fit reaches the run and its JSON."""
    out = tmp_path / "ff.json"
    _run(trace, out, "--device-choice", "first-fit")
    assert json.loads(out.read_text())["device_choice"] == "first-fit"


def test_decisions_csv_has_one_row_per_pod(trace: tuple[Path, Path], tmp_path: Path) -> None:
    """--decisions writes the placement log: header plus one row per arriving pod."""
    out, log = tmp_path / "run.json", tmp_path / "steps.csv"
    _run(trace, out, "--decisions", str(log))
    with log.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == json.loads(out.read_text())["pods_total"]
    assert set(rows[0]) >= {"step", "pod", "node", "status", "frag_milli"}


def test_matrix_runs_in_policy_then_seed_order(trace: tuple[Path, Path], tmp_path: Path) -> None:
    """--policy all --seeds 2,1 writes {"runs": [...]} ordered by POLICIES, then seed,
    each run equal (but for wall time) to the same run done alone."""
    out, alone = tmp_path / "matrix.json", tmp_path / "alone.json"
    result = _run(trace, out, "--policy", "all", "--seeds", "2,1", "--workers", "2")
    runs = json.loads(out.read_text())["runs"]
    assert list(json.loads(out.read_text())) == ["runs"]
    assert [(r["policy"], r["seed"]) for r in runs] == [(p, s) for p in POLICIES for s in (1, 2)]
    for policy in POLICIES:
        assert f"│ {policy} " in result.stdout
    _run(trace, alone, "--policy", "fgd", "--seed", "2")
    single = json.loads(alone.read_text())
    matrix_run = next(r for r in runs if (r["policy"], r["seed"]) == ("fgd", 2))
    del single["wall_seconds"], matrix_run["wall_seconds"]
    assert matrix_run == single


def test_matrix_table_mean_and_sample_sd() -> None:
    """Mean and sample sd per policy: values 10 and 20 -> mean 15.00, sd sqrt(50) = 7.07."""
    runs = [
        {"policy": "fgd", "seed": 1, "unallocated_pct_at_100": 10.0},
        {"policy": "fgd", "seed": 2, "unallocated_pct_at_100": 20.0},
        {"policy": "random", "seed": 1, "unallocated_pct_at_100": None},
        {"policy": "random", "seed": 2, "unallocated_pct_at_100": 4.0},
    ]
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(matrix_table(runs))
    text = console.export_text()
    fgd = next(line for line in text.splitlines() if "│ fgd" in line)
    random_row = next(line for line in text.splitlines() if "│ random" in line)
    assert [c.strip() for c in fgd.split("│")][2:6] == ["10.00", "20.00", "15.00", "7.07"]
    # one value -> mean 4.00, no sd
    assert [c.strip() for c in random_row.split("│")][2:6] == ["-", "4.00", "4.00", "-"]
    assert text.index("│ random") < text.index("│ fgd")


def test_parse_seeds_ranges_and_lists() -> None:
    """--seeds accepts inclusive ranges and lists, sorted without repeats."""
    assert parse_seeds("42-44,50,43") == (42, 43, 44, 50)
    assert parse_seeds("7") == (7,)
    for bad in ("4-x", "5-3", "", "1,,2"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_parse_policies_follows_policies_order() -> None:
    """--policy lists come back in POLICIES order; unknown names are rejected."""
    assert parse_policies("all") == POLICIES
    assert parse_policies("fgd,random") == ("random", "fgd")
    with pytest.raises(ValueError, match="'nope' is not a policy"):
        parse_policies("fgd,nope")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pods", "MISSING"], "missing.csv"),
        (["--policy", "nope"], "'nope' is not a policy"),
        (["--seeds", "9-1"], "--seeds"),
        (["--seed", "1", "--seeds", "1-2"], "--seed and --seeds"),
        (["--seeds", "1-2", "--decisions", "d.csv"], "--decisions"),
        (["--ratio", "0"], "--ratio"),
        (["--order", "MISSING"], "--order"),
    ],
    ids=["missing-pods", "policy", "seeds", "seed-and-seeds", "decisions", "ratio", "order"],
)
def test_bad_input_exits_2_without_traceback_or_output(
    trace: tuple[Path, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    """Bad options or files: exit 2, one error line, no traceback, no JSON file."""
    nodes, pods = trace
    missing = str(tmp_path / "missing.csv")
    args = [
        "inflate",
        "--nodes",
        str(nodes),
        "--pods",
        str(pods),
        "--json",
        str(tmp_path / "o.json"),
    ]
    extra = [missing if e == "MISSING" else e for e in extra]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert not (tmp_path / "o.json").exists()


def test_bad_node_csv_names_file_and_column(trace: tuple[Path, Path], tmp_path: Path) -> None:
    """A malformed node CSV value is reported with the file, line and column, exit 2."""
    _, pods = trace
    nodes = tmp_path / "bad_nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,lots,1024,1,T4\n")
    result = CliRunner().invoke(app, ["inflate", "--nodes", str(nodes), "--pods", str(pods)])
    assert result.exit_code == 2
    assert "bad_nodes.csv" in result.stderr
    assert "cpu_milli" in result.stderr


def test_default_traces_are_found_in_the_checkout() -> None:
    """Without --nodes/--pods the shipped openb traces are located from the package."""
    assert cli_common.shipped_file(DEFAULT_NODES, "--nodes").is_file()
    assert cli_common.shipped_file(DEFAULT_PODS, "--pods").is_file()


def test_missing_checkout_gives_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no traces/ above the package and no --nodes, exit 2 says to pass --nodes."""
    monkeypatch.setattr(cli_common, "repo_root", lambda: None)
    result = CliRunner().invoke(app, ["inflate"])
    assert result.exit_code == 2
    assert "--nodes not given" in result.stderr
