"""End to end: the simulator plays a stock kube-scheduler (``--policy kube-default``) that calls
a real ``tessera serve`` over HTTP, and the webhook reads the replay's cluster through its
informers from the replay's own Kubernetes API (``--api-port``), binding through
``pods/binding`` — the command the README shows, as two processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_kube_default_with_tessera_serve_places_every_gang_whole(tmp_path: Path) -> None:
    """Every pod placed, every gang whole, every bind confirmed on the API (none elsewhere,
    none failed), the sync probe answered, and the webhook's decisions lead the profile."""
    api_port, hook_port = _free_port(), _free_port()
    config = tmp_path / "extender.yaml"
    shipped = (REPO / "traces" / "schedulers" / "tessera-extender.yaml").read_text()
    config.write_text(shipped.replace("127.0.0.1:8888", f"127.0.0.1:{hook_port}"))
    kubeconfig, out = tmp_path / "kubeconfig", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "simulator.cli"]
    replay = subprocess.Popen(
        [
            *cli,
            "replay",
            "--cluster",
            str(REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"),
            "--trace",
            str(REPO / "traces" / "scenarios" / "serving-batch-small.yaml"),
            "--policy",
            "kube-default",
            "--extender",
            str(config),
            "--api-port",
            str(api_port),
            "--kubeconfig-out",
            str(kubeconfig),
            "--extender-sync",
            f"http://127.0.0.1:{hook_port}/sync",
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    serve: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 120
        while not kubeconfig.exists():
            assert replay.poll() is None, replay.communicate()[0]
            assert time.monotonic() < deadline, "the replay never wrote its kubeconfig"
            time.sleep(0.2)
        serve = subprocess.Popen(
            [
                *cli,
                "serve",
                "--kubeconfig",
                str(kubeconfig),
                "--port",
                str(hook_port),
                "--prefix",
                "/tessera",
                "--feature-gates",
                "DRAPartitionableDevices=true",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        output, _ = replay.communicate(timeout=600)
    finally:
        if replay.poll() is None:
            replay.kill()
        if serve is not None:
            serve.terminate()
            serve.wait(30)
    assert replay.returncode == 0, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pods_scheduled"] == summary["pods_total"] == 94
    assert summary["gangs_partial"] == 0
    assert summary["gangs_placed"] == summary["gangs_total"] == 4
    extenders = summary["extenders"]
    assert extenders["calls"]["filter"]["calls"] > 0
    assert extenders["calls"]["filter"]["failures"] == 0
    assert extenders["calls"]["bind"]["calls"] == 94
    assert extenders["calls"]["bind"]["failures"] == 0
    assert extenders["binds_elsewhere"] == extenders["binds_unconfirmed"] == 0
    assert extenders["sync"]["probes"] > 0
