"""Signals: SIGTERM and SIGINT stop a command cleanly — worker processes reaped, staging
files removed, exit codes 143 and 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _wait_for_workers(proc: subprocess.Popen[str], count: int, timeout: float = 90) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        workers = _children(proc.pid)
        if len(workers) >= count:
            time.sleep(2)  # let the runs start
            return _children(proc.pid)
        time.sleep(0.2)
    raise AssertionError("the worker pool never started")


def _gone(pids: list[int], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("group", [False, True], ids=["parent", "process-group"])
def test_sigterm_stops_the_worker_pool(tmp_path: Path, group: bool) -> None:
    """SIGTERM to ``inflate --seeds`` with two workers (to the parent alone, or to the whole
    process group as ``kill -TERM -PGID`` does): exit 143 with one line and no traceback from
    any process, every worker gone, no --json file and no temporary file beside it."""
    out = tmp_path / "out"
    proc = _start(
        ["inflate", "--seeds", "1-4", "--workers", "2", "--json", str(out / "m.json")], ROOT
    )
    workers = _wait_for_workers(proc, 2)
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: terminated (SIGTERM)"), stderr
    assert "Traceback" not in stderr, stderr
    assert _gone(workers), "worker processes outlived the command"
    assert not out.exists() or not any(out.iterdir())


def test_sigint_to_the_process_group(tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group): exit 130, the
    workers print nothing and are gone."""
    proc = _start(["inflate", "--seeds", "1-4", "--workers", "2"], ROOT)
    workers = _wait_for_workers(proc, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert _gone(workers)


def test_sigterm_during_a_replay_leaves_no_staging(
    tmp_path: Path, shared_dump: Path, openb_trace: Path
) -> None:
    """SIGTERM while a replay streams its outputs: exit 143 and no staging directory."""
    pods = ROOT / "traces" / "openb" / "openb_pod_list_default.csv.gz"
    out = tmp_path / "replay"
    proc = _start(
        ["replay", "--cluster", str(shared_dump), "--trace", str(pods), "--out", str(out)], ROOT
    )
    deadline = time.monotonic() + 90
    while not any(p.name.startswith(".replay.") for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the replay never started writing"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
