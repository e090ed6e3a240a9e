"""A replay served live over the API: same result as without it, watchable with kubectl."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from simulator.apiserver.live import (
    LiveReplay,
    Pacer,
    run_replay_served,
    serve_replay,
    until_interrupted,
)
from simulator.clusters import load_cluster
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import Replay, ReplayConfig
from simulator.inputs import read_trace
from tests.apiserver.conftest import kubectl_binaries

ROOT = Path(__file__).resolve().parents[2]


def _replay() -> Replay:
    loaded = load_cluster(ROOT / "traces/clusters/two-rack-h100-dynamic-mig.yaml")
    trace = read_trace(ROOT / "traces/scenarios/serving-batch-small.yaml")
    return Replay(loaded, trace, replay_profile("tessera", levels=loaded.levels), ReplayConfig())


@pytest.mark.slow
def test_served_replay_has_byte_identical_placements(tmp_path: Path) -> None:
    """placements.jsonl of a replay served over the API equals the plain replay's, byte for
    byte, and the API ends with the replay's final pods."""
    plain = _replay().run()
    replay = _replay()
    live = serve_replay(replay)
    try:
        served = replay.run()
        pods = live.cluster.store.list_page(live.cluster.resource("pods"), "").entries
        assert sorted(e.key for e in pods) == sorted(
            (r.pod.metadata.namespace or "", r.pod.metadata.name or "")
            for r in replay.cache.pods.values()
        )
    finally:
        live.stop()
    plain.write(tmp_path / "plain")
    served.write(tmp_path / "served")
    assert (tmp_path / "plain/placements.jsonl").read_bytes() == (
        tmp_path / "served/placements.jsonl"
    ).read_bytes()


def test_pacer_runs_virtual_time_at_the_factor() -> None:
    """At factor 10, virtual second 50 is due 5 wall seconds after virtual 0."""
    slept: list[float] = []
    pacer = Pacer(10.0, sleep=slept.append)
    pacer.tick(0.0)
    pacer.tick(50.0)
    assert slept and 4.9 < slept[0] <= 5.0
    with pytest.raises(ValueError, match="must be > 0"):
        Pacer(0.0)


@pytest.mark.slow
@pytest.mark.skipif(not kubectl_binaries(), reason="no kubectl binary on this machine")
def test_kubectl_get_pods_watch_during_replay(tmp_path: Path) -> None:
    """`kubectl get pods -w` during a paced replay prints pods going Pending -> Running."""
    kubectl = kubectl_binaries()[-1]
    kubeconfig = tmp_path / "kubeconfig"
    output: list[str] = []
    replay = _replay()
    live = serve_replay(replay, realtime=600.0, kubeconfig_out=kubeconfig)
    proc = subprocess.Popen(
        [
            kubectl,
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "pods",
            "-A",
            "-w",
            "--request-timeout=0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        output.extend(proc.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(1.5)
        replay.run()
        time.sleep(1.0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        live.stop()
    text = "".join(output)
    assert "NAMESPACE" in text.splitlines()[0]
    assert "Pending" in text and "Running" in text


@pytest.mark.slow
def test_run_replay_served_lingers_on_the_final_state_then_stops() -> None:
    """run_replay_served announces the endpoint before the run, serves the replay's final
    pods to the linger callback over HTTP, names the policy in the summary, and stops the
    server afterwards."""
    loaded = load_cluster(ROOT / "traces/clusters/two-rack-h100-dynamic-mig.yaml")
    trace = read_trace(ROOT / "traces/scenarios/serving-batch-small.yaml")
    profile = replay_profile("tessera", levels=loaded.levels)
    seen: dict[str, object] = {}

    def on_serving(live: LiveReplay) -> None:
        seen["url"] = live.url
        seen["pods_before"] = len(httpx.get(f"{live.url}/api/v1/pods").json()["items"])

    def linger(live: LiveReplay) -> None:
        items = httpx.get(f"{live.url}/api/v1/pods").json()["items"]
        seen["final"] = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in items)
        seen["final_expected"] = sorted(
            (r.pod.metadata.namespace or "", r.pod.metadata.name or "")
            for r in loaded.cache.pods.values()
        )

    result = run_replay_served(
        loaded, trace, profile, ReplayConfig(), on_serving=on_serving, linger=linger
    )
    assert seen["pods_before"] == 0
    assert seen["final"] == seen["final_expected"]
    assert result.summary["policy"] == profile.name
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{seen['url']}/api/v1/pods")


def test_until_interrupted_returns_on_ctrl_c() -> None:
    """until_interrupted blocks until Ctrl-C (a real SIGINT) and then returns normally."""
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    until_interrupted(None)  # type: ignore[arg-type]
    assert 0.1 < time.monotonic() - started < 5
