"""``tessera replay --fault``: the good forms inject a lost node and a NoExecute device taint
at their times (given in any order); every bad form exits 2 with one line naming the option
and the value, before anything is written; ``--pop-from-backoff`` switches the queue to
1.35's SchedulerPopFromBackoffQ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from simulator.cli import app

REPO = Path(__file__).resolve().parents[3]
CLUSTER = REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
TRACE = REPO / "traces" / "scenarios" / "serving-batch-small.yaml"


def replay(out: Path, faults: list[str], horizon: str = "1200") -> Result:
    """Run ``tessera replay`` on the shipped small scenario with these ``--fault`` values."""
    args = ["replay", "--cluster", str(CLUSTER), "--trace", str(TRACE), "--out", str(out)]
    args += ["--horizon", horizon]
    for fault in faults:
        args += ["--fault", fault]
    return CliRunner().invoke(app, args)


def test_node_and_device_faults_evict_at_their_times(tmp_path: Path) -> None:
    """T:node:NAME removes the node at T (its pods evicted, "node NAME lost"); T:device:D/P/DEV
    evicts the device's holder at T ("... tainted ...:NoExecute"); order on the line is free."""
    # At t=0 the llama-405b group binds on h100-0000..0003 (leader on h100-0000, worker 1
    # holding gpu-0 of h100-0001); the taint at 650 restarts the whole group, which lands on
    # h100-0016, 0017, 0019, 0020 (rack r001); the node lost at 700 is its leader's.
    out = tmp_path / "out"
    result = replay(out, ["700:node:h100-0016", "650:device:gpu.nvidia.com/h100-0001/gpu-0"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (out / "placements.jsonl").read_text().splitlines()]
    evictions = [(e["t"], e["node"], e["reason"]) for e in events if e["event"] == "evict"]
    tainted = [e for e in evictions if "tainted" in e[2]]
    lost = [e for e in evictions if "lost" in e[2]]
    assert tainted == [
        (
            650.0,
            "h100-0001",
            "device gpu.nvidia.com/h100-0001/gpu-0 tainted tessera.io/fault:NoExecute",
        )
    ]
    assert [(t, node) for t, node, _ in lost] == [(700.0, "h100-0016")]
    assert lost[0][2] == "node h100-0016 lost"
    # No bind lands on the lost node after 700, nor on the tainted GPU after 650.
    binds = [e for e in events if e["event"] == "bind"]
    assert all(e["node"] != "h100-0016" for e in binds if e["t"] >= 700)
    assert all("gpu.nvidia.com/h100-0001/gpu-0" not in e["devices"] for e in binds if e["t"] >= 650)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("600", "expected T:node:NAME or T:device:DRIVER/POOL/DEVICE"),
        ("600:node", "expected T:node:NAME or T:device:DRIVER/POOL/DEVICE"),
        ("soon:node:h100-0000", "time 'soon' is not a number of seconds"),
        ("-5:node:h100-0000", "time '-5' must be in [0, 315,360,000] seconds"),
        ("nan:node:h100-0000", "time 'nan' must be a finite number in [0, 315,360,000] seconds"),
        ("inf:node:h100-0000", "time 'inf' must be a finite number in [0, 315,360,000] seconds"),
        ("600:disk:h100-0000", "kind 'disk' must be node or device"),
        ("600:node:", "node name is empty"),
        ("600:node:h100-9999", "node 'h100-9999' is not in cluster two-rack-h100"),
        ("600:device:gpu.nvidia.com/h100-0000", "device must be DRIVER/POOL/DEVICE"),
        ("600:device:a/b/c/d", "device must be DRIVER/POOL/DEVICE"),
        ("600:device://", "device must be DRIVER/POOL/DEVICE"),
        (
            "600:device:gpu.nvidia.com/h100-0000/gpu-9",
            "device 'gpu.nvidia.com/h100-0000/gpu-9' is not published in cluster two-rack-h100",
        ),
    ],
)
def test_bad_fault_exits_2_with_one_line(tmp_path: Path, fault: str, problem: str) -> None:
    """A malformed or dangling --fault: exit 2, one stderr line naming --fault, the value and
    the problem; no traceback, no output directory."""
    out = tmp_path / "out"
    result = replay(out, [fault])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line == f"error: --fault {fault!r}: {problem}"
    assert not out.exists()


def test_pop_from_backoff_flag_retries_a_backing_off_pod_when_the_scheduler_is_idle(
    tmp_path: Path,
) -> None:
    """On llm-serving-diurnal, eval-0031 last fails at t = 1,900 s (its backoff is capped at
    10 s) and room frees at 1,908 s: the queue as before 1.33 (``--no-pop-from-backoff``)
    binds it when its backoff ends; 1.35's SchedulerPopFromBackoffQ, the default, at once."""
    trace = REPO / "traces" / "scenarios" / "llm-serving-diurnal.yaml"
    bound = {}
    for flag in ("--no-pop-from-backoff", "--pop-from-backoff", None):
        out = tmp_path / (flag or "default")
        args = ["replay", "--trace", str(trace), "--horizon", "2000", "--out", str(out)]
        if flag is not None:
            args.append(flag)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        events = [json.loads(line) for line in (out / "placements.jsonl").read_text().splitlines()]
        bound[flag] = [
            e["t"]
            for e in events
            if e["event"] == "bind" and e["pod"].startswith("batch/eval-0031")
        ]
    assert bound == {
        "--no-pop-from-backoff": [1910.0],
        "--pop-from-backoff": [1908.0],
        None: [1908.0],
    }
