"""The mountable CLI pieces — `cluster serve` and the replay's `--api-port` options — driven
through a small typer app mounted the way `tessera` will mount them, under the CLI's own
error policy (GuardedGroup)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import orjson
import pytest
import typer
import yaml
from typer.testing import CliRunner

from simulator.apiserver.cli import (
    ApiPortOption,
    KubeconfigOutOption,
    LingerOption,
    RealtimeOption,
    check_replay_api_options,
    replay_with_api,
    serve,
)
from simulator.cli.errors import GuardedGroup
from simulator.clusters import load_cluster
from simulator.experiments.policies import replay_profile
from simulator.experiments.replay import ReplayConfig, run_replay
from simulator.inputs import read_trace
from tests.apiserver.conftest import serve as serve_cluster

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "traces/clusters/two-rack-h100-dynamic-mig.yaml"
TRACE = ROOT / "traces/scenarios/serving-batch-small.yaml"

app = typer.Typer(cls=GuardedGroup, no_args_is_help=True)
cluster_app = typer.Typer(cls=GuardedGroup, no_args_is_help=True)
cluster_app.command("serve")(serve)  # the line simulator/cli/cluster.py gets
app.add_typer(cluster_app, name="cluster")


@app.command("replay")
def replay(
    out: Annotated[Path, typer.Option("--out")],
    api_port: ApiPortOption = None,
    realtime: RealtimeOption = None,
    kubeconfig_out: KubeconfigOutOption = None,
    linger: LingerOption = False,
) -> None:
    """The replay command's shape: the four options, the early check, and replay_with_api
    for run_replay."""
    check_replay_api_options(api_port, realtime, kubeconfig_out, linger)
    loaded = load_cluster(SPEC)
    profile = replay_profile("tessera", levels=loaded.levels)
    result = replay_with_api(
        loaded,
        read_trace(TRACE),
        profile,
        ReplayConfig(),
        api_port=api_port,
        realtime=realtime,
        kubeconfig_out=kubeconfig_out,
        linger=linger,
    )
    result.write(out)


def _server_url(kubeconfig: Path) -> str:
    document = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    url: str = document["clusters"][0]["cluster"]["server"]
    return url


def _start_serving(command: list[str], kubeconfig: Path, seconds: float) -> subprocess.Popen[str]:
    """Start ``command`` and wait (at most ``seconds``) until it writes ``kubeconfig``, which
    it does once its API server listens; a process that exits or times out first fails the
    test (and is killed)."""
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + seconds
        while not kubeconfig.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc


def test_cluster_serve_serves_schedules_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """`cluster serve SPEC --port 0 --kubeconfig-out F` serves the spec's nodes, binds a pod
    created over the API with the in-process scheduler, and exits 0 on Ctrl-C."""
    kubeconfig = tmp_path / "kubeconfig"
    command = [
        sys.executable,
        "-c",
        "from tests.apiserver.test_cli import app; app()",
        "cluster",
        "serve",
        str(SPEC),
        "--port",
        "0",
        "--kubeconfig-out",
        str(kubeconfig),
    ]
    proc = _start_serving(command, kubeconfig, 60)
    try:
        url = _server_url(kubeconfig)
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(100):
                try:
                    nodes = http.get("/api/v1/nodes").json()
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert len(nodes["items"]) == 36
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            }
            assert http.post("/api/v1/namespaces/default/pods", json=pod).status_code == 201
            for _ in range(100):
                got = http.get("/api/v1/namespaces/default/pods/web").json()
                if got["spec"].get("nodeName"):
                    break
                time.sleep(0.1)
            assert got["spec"]["nodeName"] and got["status"]["phase"] == "Running"
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert f"on {url}" in stdout and f"kubeconfig: {kubeconfig}" in stdout


def _watch_until_closed(url: str, ended: list[str]) -> threading.Thread:
    """A pod watch held open in a thread; appends "closed" when the server ends the
    response cleanly, else the error."""

    def run() -> None:
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                path = "/api/v1/pods?watch=1&timeoutSeconds=300"
                with http.stream("GET", path) as response:
                    for _ in response.iter_lines():
                        pass
            ended.append("closed")
        except httpx.HTTPError as err:
            ended.append(f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_ends_open_watches_cleanly(tmp_path: Path) -> None:
    """Ctrl-C with a watch open: the server ends the watch's response (the client sees a
    clean end) and exits 0 without logging a traceback (uvicorn used to cancel the stream
    after its graceful-shutdown timeout and log "Exception in ASGI application")."""
    kubeconfig = tmp_path / "kubeconfig"
    command = [
        sys.executable,
        "-c",
        "from tests.apiserver.test_cli import app; app()",
        *("cluster", "serve", str(SPEC), "--port", "0", "--kubeconfig-out", str(kubeconfig)),
    ]
    proc = _start_serving(command, kubeconfig, 60)
    ended: list[str] = []
    try:
        url = _server_url(kubeconfig)
        for _ in range(100):
            try:
                httpx.get(url + "/api/v1/nodes", timeout=10)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        watch = _watch_until_closed(url, ended)
        time.sleep(0.5)
        assert not ended
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    watch.join(10)
    assert ended == ["closed"]
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Exception in ASGI application" not in stderr, stderr


def test_stop_ends_open_watches_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``ApiServer.stop`` (a served replay's end) with a watch open: the watch's response
    ends cleanly and uvicorn logs no error."""
    served = serve_cluster(tmp_path)
    ended: list[str] = []
    watch = _watch_until_closed(served.server.url, ended)
    time.sleep(0.5)
    assert not ended
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        served.server.stop()
    watch.join(10)
    assert ended == ["closed"]
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]


def test_a_watch_asked_for_while_the_server_stops_is_refused_with_429(tmp_path: Path) -> None:
    """Between ``stop()`` closing the watches and uvicorn closing its connections, an
    informer re-watches at once on its kept-alive connection: that watch is refused with
    kube-apiserver's shutting-down 429 (else its stream would outlive the server, and
    uvicorn cancels it after its graceful-shutdown timeout with a traceback). A server that
    starts over the store serves watches again."""
    served = serve_cluster(tmp_path)
    store = served.cluster.store
    try:
        store.close_watches()  # what stop() does first
        refused = httpx.get(f"{served.server.url}/api/v1/pods?watch=1", timeout=5)
        assert refused.status_code == 429
        assert refused.json()["reason"] == "TooManyRequests"
        assert refused.json()["details"] == {"retryAfterSeconds": 1}
        store.open_watches()  # what start() does
        held: list[str] = []
        watch = _watch_until_closed(served.server.url, held)
        time.sleep(0.5)
        assert not held
    finally:
        served.server.stop()
    watch.join(10)
    assert held == ["closed"]


def test_cluster_serve_bad_input_is_one_line(tmp_path: Path) -> None:
    """A bad --policy and a missing spec are one line on stderr and exit code 2."""
    runner = CliRunner()
    result = runner.invoke(app, ["cluster", "serve", str(SPEC), "--policy", "best"])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: --policy 'best': expected one of none, kube-default")
    result = runner.invoke(app, ["cluster", "serve", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "nope.yaml: no such file or directory" in result.stderr


def test_cluster_serve_port_in_use_names_the_option(tmp_path: Path) -> None:
    """Serving on a port already taken is a one-line error naming --port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["cluster", "serve", str(SPEC), "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --port {port}: cannot listen on 127.0.0.1:{port}")


@pytest.mark.slow
def test_replay_with_api_port_serves_and_matches_the_plain_replay(tmp_path: Path) -> None:
    """`replay --api-port 0 --kubeconfig-out F` announces the endpoint, writes the
    kubeconfig, and gives the plain replay's placements byte for byte."""
    kubeconfig = tmp_path / "kubeconfig"
    args = ["replay", "--out", str(tmp_path / "served"), "--api-port", "0"]
    result = CliRunner().invoke(app, [*args, "--kubeconfig-out", str(kubeconfig)])
    assert result.exit_code == 0, result.output
    assert "serving replay of" in result.stdout and "on http://127.0.0.1:" in result.stdout
    assert _server_url(kubeconfig) in result.stdout
    loaded = load_cluster(SPEC)
    plain = run_replay(
        loaded,
        read_trace(TRACE),
        replay_profile("tessera", levels=loaded.levels),
        ReplayConfig(),
    )
    plain.write(tmp_path / "plain")
    for name in ("placements.jsonl", "summary.json"):
        served_bytes = (tmp_path / "served" / name).read_bytes()
        if name == "summary.json":  # wall time differs; everything else is equal
            served = orjson.loads(served_bytes)
            expected = orjson.loads((tmp_path / "plain" / name).read_bytes())
            served.pop("wall_seconds")
            expected.pop("wall_seconds")
            assert served == expected
        else:
            assert served_bytes == (tmp_path / "plain" / name).read_bytes()


def test_replay_api_options_need_api_port(tmp_path: Path) -> None:
    """--realtime, --kubeconfig-out and --linger without --api-port are one line, exit 2;
    a non-positive --realtime is refused too."""
    runner = CliRunner()
    args = ["replay", "--out", str(tmp_path / "o"), "--realtime", "10", "--linger"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --realtime, --linger: only with --api-port"
    args = ["replay", "--out", str(tmp_path / "o"), "--api-port", "0", "--realtime", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --realtime 0: must be in (0, 1,000,000] x wall time"
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_linger_keeps_serving_the_final_state_until_ctrl_c(tmp_path: Path) -> None:
    """With --linger the replay's final pods stay listable after the run; Ctrl-C ends it
    with exit code 0 and the replay's files written."""
    kubeconfig = tmp_path / "kubeconfig"
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-c",
        "from tests.apiserver.test_cli import app; app()",
        "replay",
        "--out",
        str(out),
        "--api-port",
        "0",
        "--kubeconfig-out",
        str(kubeconfig),
        "--linger",
    ]
    proc = _start_serving(command, kubeconfig, 120)
    try:
        url = _server_url(kubeconfig)
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for the run to end
            if line.startswith("replay done"):
                break
        pods = httpx.get(f"{url}/api/v1/pods", timeout=10).json()["items"]
    finally:
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert (out / "placements.jsonl").exists()
    assert all(p["status"]["phase"] == "Running" for p in pods)
