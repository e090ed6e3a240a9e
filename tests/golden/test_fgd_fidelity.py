"""FGD step fidelity: tessera's framework replays the Go simulator's logged runs step by step.

The run goes through ``run_inflate(order=LOG, node_order=ORDER)`` — the path ``tessera inflate
--order LOG --node-order ORDER --decisions OUT`` takes: the openb cluster built from its spec
(shared GPUs published as ResourceSlices), the policy's profile from ``profile_for``
(NodeResourcesFit + DynamicResources filters, the Fragmentation or BestFit score plugin with
the policy's GPU choice, node-order tie-breaking as the reference breaks ties), every pod
created and scheduled through ``Framework.schedule_one`` and its claim allocated by the DRA
allocator. Each step is compared with the log (``tests/golden/fgd/``): the node chosen (or the
failure), the cluster's used GPU milli and its fragmentation Σ_n F_n(M) (the log rounds it to
0.01). Every step must agree.

CI checks the first 2,000 steps of each policy (about 5 s each on a 2-core machine). To check
all 10,866 steps by hand (about 12 s each)::

    TESSERA_FGD_STEPS=all pytest tests/golden/test_fgd_fidelity.py -q

``TESSERA_FGD_STEPS`` also takes a number of steps.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.experiments.inflate import Decision, InflateConfig, run_inflate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "fgd"
NODES = ROOT / "traces" / "openb" / "openb_node_list_gpu_node.csv.gz"
PODS = ROOT / "traces" / "openb" / "openb_pod_list_default.csv.gz"
NODE_ORDER = GOLDEN / "node_order_seed42.txt"
LOGGED_STEPS = 10_866
CI_STEPS = 2_000
CLI_STEPS = 200
FRAG_TOLERANCE = 0.01  # milli-GPU; the log prints two decimals
SHOWN = 5


def checked_steps() -> int:
    """Steps to check: ``TESSERA_FGD_STEPS`` (a number or ``all``), else the CI's 2,000."""
    text = os.environ.get("TESSERA_FGD_STEPS", "").strip()
    if not text:
        return CI_STEPS
    if text == "all":
        return LOGGED_STEPS
    if not text.isdigit() or not 0 < int(text) <= LOGGED_STEPS:
        raise ValueError(f"TESSERA_FGD_STEPS={text!r}: expected all or 1..{LOGGED_STEPS}")
    return int(text)


def read_log(policy: str) -> list[dict[str, str]]:
    """The logged Go run of ``policy`` (all steps)."""
    with gzip.open(GOLDEN / f"{policy}_default_seed42_placements.csv.gz", "rt", newline="") as f:
        return list(csv.DictReader(f))


def name(pod: str) -> str:
    """A pod's name without its namespace (the Go run's is ``paib-gpu``, tessera's ``openb``)."""
    return pod.rpartition("/")[2]


def write_order(rows: list[dict[str, str]], path: Path) -> Path:
    """The first rows of a log as an ``--order`` file (the same columns, plain CSV)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Comparison:
    """How a run's decisions compare with the log, step by step."""

    steps: int = 0
    node: int = 0
    used: int = 0
    frag: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Every step agrees on node, used GPU milli and fragmentation."""
        return self.node == self.used == self.frag == self.steps

    def report(self) -> str:
        """Counts and the first mismatching steps, for the assertion message."""
        head = (
            f"{self.steps} steps: node {self.node}, used {self.used}, frag {self.frag} agree; "
            f"first mismatches:"
        )
        return "\n".join([head, *self.mismatches])


def compare(decisions: list[Decision], log: list[dict[str, str]]) -> Comparison:
    """Step-by-step agreement of a run's decisions with the logged rows."""
    out = Comparison()
    for ours, row in zip(decisions, log, strict=True):
        out.steps += 1
        same_node = ours.node == row["node"] and ours.status == row["status"]
        same_used = ours.used_gpu_milli == int(row["used_gpu_milli"])
        same_frag = abs(ours.frag_milli - float(row["frag_milli"])) <= FRAG_TOLERANCE
        out.node += same_node
        out.used += same_used
        out.frag += same_frag
        if not (same_node and same_used and same_frag) and len(out.mismatches) < SHOWN:
            out.mismatches.append(
                f"step {row['step']} {row['pod']}: log {row['node'] or 'failed'} "
                f"used={row['used_gpu_milli']} frag={row['frag_milli']}; tessera "
                f"{ours.node or 'failed'} used={ours.used_gpu_milli} frag={ours.frag_milli:.2f}"
            )
    return out


@pytest.mark.parametrize("policy", ["fgd", "bestfit"])
def test_inflate_replays_the_go_run_step_by_step(policy: str, tmp_path: Path) -> None:
    """run_inflate with the log's order and node order picks the Go run's node (or fails the
    same pod) at every checked step, with the same used-GPU and fragmentation tracks."""
    steps = checked_steps()
    log = read_log(policy)[:steps]
    order = write_order(log, tmp_path / "order.csv")
    config = InflateConfig(policy=policy, seed=42, order=order, node_order=NODE_ORDER)
    result = run_inflate(NODES, PODS, config)
    assert len(result.decisions) == steps
    assert [name(d.pod) for d in result.decisions] == [name(row["pod"]) for row in log]
    comparison = compare(result.decisions, log)
    assert comparison.exact, comparison.report()
    assert result.pods_failed == sum(row["status"] == "failed" for row in log)


def test_cli_decisions_file_matches_the_log(tmp_path: Path) -> None:
    """``tessera inflate --order --node-order --decisions`` writes the log's own rows (node,
    status, used GPU milli; fragmentation to its two decimals) for the first 200 FGD steps."""
    log = read_log("fgd")[:CLI_STEPS]
    order = write_order(log, tmp_path / "order.csv")
    out = tmp_path / "decisions.csv"
    result = CliRunner().invoke(
        app,
        [
            "inflate",
            "--nodes",
            str(NODES),
            "--pods",
            str(PODS),
            "--policy",
            "fgd",
            "--seed",
            "42",
            "--order",
            str(order),
            "--node-order",
            str(NODE_ORDER),
            "--decisions",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == CLI_STEPS
    keys = ("step", "orig_pod", "node", "status", "used_gpu_milli", "arrived_gpu_milli")
    for ours, row in zip(written, log, strict=True):
        assert name(ours["pod"]) == name(row["pod"])
        assert [ours[k] for k in keys] == [row[k] for k in keys], row["step"]
        assert abs(float(ours["frag_milli"]) - float(row["frag_milli"])) <= FRAG_TOLERANCE


def test_log_and_order_cover_the_trace() -> None:
    """The golden logs name known pods and nodes, and clones copy an original pod."""
    with gzip.open(PODS, "rt", newline="") as f:
        pods = {row["name"] for row in csv.DictReader(f)}
    names = NODE_ORDER.read_text(encoding="utf-8").split()
    assert names == sorted(names) and len(set(names)) == 1213
    for policy in ("fgd", "bestfit"):
        log = read_log(policy)
        assert len(log) == LOGGED_STEPS
        assert all(row["orig_pod"] in pods for row in log)
        assert all(row["node"] in names for row in log if row["status"] == "scheduled")
        assert all(
            row["pod"].endswith("/" + row["orig_pod"]) or "-tuned-" in row["pod"] for row in log
        )


def test_steps_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """TESSERA_FGD_STEPS: unset -> 2,000; all -> 10,866; a bad value is a ValueError."""
    monkeypatch.delenv("TESSERA_FGD_STEPS", raising=False)
    assert checked_steps() == CI_STEPS
    monkeypatch.setenv("TESSERA_FGD_STEPS", "all")
    assert checked_steps() == LOGGED_STEPS
    monkeypatch.setenv("TESSERA_FGD_STEPS", "12")
    assert checked_steps() == 12
    for bad in ("0", "-3", "lots", str(LOGGED_STEPS + 1)):
        monkeypatch.setenv("TESSERA_FGD_STEPS", bad)
        with pytest.raises(ValueError, match="TESSERA_FGD_STEPS"):
            checked_steps()
