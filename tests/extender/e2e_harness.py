"""The end-to-end harness: the simulator playing a stock kube-scheduler (``replay --policy
kube-default --extender``) against a real ``tessera serve --kubeconfig`` process reading the
replay's own Kubernetes API, and the native ``--policy tessera`` replay of the same inputs.
Shared by the end-to-end tests (``test_e2e_serve_*``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
SCENARIOS = REPO / "traces" / "scenarios"
CLI = [sys.executable, "-m", "simulator.cli"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def inputs(scenario: str) -> tuple[str, ...]:
    return ("--cluster", str(CLUSTER), "--trace", str(SCENARIOS / f"{scenario}.yaml"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def native_replay(out: Path, scenario: str) -> dict[str, Any]:
    done = subprocess.run(
        [*CLI, "replay", *inputs(scenario), "--policy", "tessera", "--out", str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def extended(tmp_path: Path, scenario: str, serve_flags: list[str]) -> tuple[dict[str, Any], str]:
    """The kube-default + ``tessera serve`` replay: its summary and the webhook's metrics."""
    api_port, hook_port = free_port(), free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "extender.yaml"
    shipped = (REPO / "traces" / "schedulers" / "tessera-extender.yaml").read_text()
    config.write_text(shipped.replace("127.0.0.1:8888", f"127.0.0.1:{hook_port}"))
    kubeconfig, out = tmp_path / "kubeconfig", tmp_path / "out"
    replay = subprocess.Popen(
        [
            *CLI,
            "replay",
            *inputs(scenario),
            *("--policy", "kube-default", "--extender", str(config)),
            *("--api-port", str(api_port), "--kubeconfig-out", str(kubeconfig)),
            *("--extender-sync", f"http://127.0.0.1:{hook_port}/sync", "--out", str(out)),
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    serve: subprocess.Popen[str] | None = None
    metrics = ""
    try:
        deadline = time.monotonic() + 120
        while not kubeconfig.exists():
            assert replay.poll() is None, replay.communicate()[0]
            assert time.monotonic() < deadline, "the replay never wrote its kubeconfig"
            time.sleep(0.2)
        serve = subprocess.Popen(
            [
                *CLI,
                "serve",
                *("--kubeconfig", str(kubeconfig), "--port", str(hook_port)),
                *("--prefix", "/tessera", "--feature-gates", "DRAPartitionableDevices=true"),
                *serve_flags,
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        output, _ = replay.communicate(timeout=900)
        metrics = scrape(hook_port)
    finally:
        if replay.poll() is None:
            replay.kill()
        if serve is not None:
            serve.terminate()
            serve.wait(30)
    assert replay.returncode == 0, output
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    summary["_placements"] = [
        json.loads(line) for line in (out / "placements.jsonl").read_text().splitlines()
    ]
    return summary, metrics


def scrape(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except httpx.HTTPError:
        return ""


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def bound_twice(placements: list[dict[str, Any]]) -> list[str]:
    """Pods bound again without being evicted or deleted in between."""
    running: set[str] = set()
    twice = []
    for row in placements:
        pod, event = row["pod"], row["event"]
        if event == "bind":
            if pod in running:
                twice.append(pod)
            running.add(pod)
        elif event in ("evict", "delete", "complete"):
            running.discard(pod)
    return twice
