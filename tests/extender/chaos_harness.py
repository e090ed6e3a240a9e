"""Harness of the fault-injection end-to-end tests: a replay playing kube-scheduler against a
real ``tessera serve --kubeconfig`` process, with the faults the test injects.

* :func:`write_inputs` writes a small cluster (ten 8-GPU H100 nodes in two racks of five,
  one CPU node) and a trace with two gangs — a LeaderWorkerSet group of 4 × 8 GPUs required
  in one rack, a ``tessera.io/gang`` of 3 × 8 GPUs — and lone 1-GPU pods before and after;
* :class:`ChaosRun` starts the replay (``--api-port``, ``--kubeconfig-out``,
  ``--extender-sync``) with the API facade's fault hook enabled
  (``TESSERA_API_FAULTS=1``, :mod:`simulator.apiserver.faults`) and, optionally, a pause point
  before one extender call (``TESSERA_EXTENDER_PAUSE``,
  :mod:`simulator.kubescheduler.pause`); starts, kills and restarts the webhook process on
  one port; drives the fault endpoints; and collects the summary, the facade's fault report
  (binding log) and the webhook's metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.builders import gpu_claim_template_doc
from tests.extender.e2e_harness import free_port

REPO = Path(__file__).resolve().parents[2]
PODS = 13
GANGS = 2

Obj = dict[str, Any]


def _claims(template: str) -> Obj:
    return {
        "containers": [
            {
                "name": "main",
                "image": "python:3.12",
                "resources": {
                    "requests": {"cpu": "8", "memory": "64Gi"},
                    "claims": [{"name": "gpu"}],
                },
            }
        ],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": template}],
    }


def _pod(name: str, minute: int, template: str, gang: str | None = None, size: int = 0) -> Obj:
    annotations = {"tessera.io/duration-seconds": "3600"}
    if gang is not None:
        annotations |= {"tessera.io/gang": gang, "tessera.io/gang-size": str(size)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": f"2026-01-01T00:{minute:02d}:00Z",
            "annotations": annotations,
        },
        "spec": {"schedulerName": "tessera", **_claims(template)},
    }


def write_inputs(directory: Path) -> tuple[Path, Path]:
    """The cluster spec and the trace (see the module docstring); JSON is YAML."""
    directory.mkdir(parents=True, exist_ok=True)
    cluster = {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "chaos"},
        "kubernetesVersion": "1.35",
        "topology": {
            "levels": [
                "topology.kubernetes.io/zone",
                "topology.tessera.io/block",
                "topology.tessera.io/rack",
                "kubernetes.io/hostname",
            ]
        },
        "nodePools": [
            {
                "name": "h100",
                "count": 10,
                "node": {"cpu": "192", "memory": "2Ti", "pods": 110},
                "accelerator": {"kind": "nvidia", "model": "H100-80GB", "count": 8},
                "placement": {"zone": "z1", "nodesPerRack": 5, "racksPerBlock": 2},
            },
            {
                "name": "system",
                "count": 1,
                "node": {"cpu": "32", "memory": "128Gi"},
                "placement": {"zone": "z1", "nodesPerRack": 1},
            },
        ],
    }
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {
            "name": "serve",
            "namespace": "default",
            "creationTimestamp": "2026-01-01T00:01:00Z",
        },
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": 4,
                "workerTemplate": {
                    "metadata": {
                        "annotations": {"tessera.io/topology-required": "topology.tessera.io/rack"}
                    },
                    "spec": {"priorityClassName": "serving", **_claims("eight-gpus")},
                },
            },
        },
    }
    items: list[Obj] = [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "serving"},
            "value": 1000,
        },
        gpu_claim_template_doc("eight-gpus", 8),
        gpu_claim_template_doc("one-gpu", 1),
        lws,
        *(_pod(f"lone-{i}", 0, "one-gpu") for i in range(3)),
        *(_pod(f"train-{i}", 2, "eight-gpus", "train", 3) for i in range(3)),
        *(_pod(f"late-{i}", 3, "one-gpu") for i in range(3)),
    ]
    spec, trace = directory / "cluster.yaml", directory / "trace.yaml"
    spec.write_bytes(orjson.dumps(cluster))
    trace.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return spec, trace


class ChaosRun:
    """One replay against ``tessera serve`` processes (a context manager; see the module
    docstring). ``pause`` is ``VERB:NAMESPACE/NAME`` or None."""

    def __init__(self, tmp: Path, *, pause: str | None = None, gang_hold: str = "5s") -> None:
        self.tmp = tmp
        self.api_port, self.hook_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.hook = f"http://127.0.0.1:{self.hook_port}"
        self.kubeconfig = tmp / "kubeconfig"
        self.out = tmp / "out"
        self.pause_dir = tmp / "pause"
        self.gang_hold = gang_hold
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TESSERA_API_FAULTS": str(tmp / "faults"),
        }
        if pause is not None:
            self.env["TESSERA_EXTENDER_PAUSE"] = f"{pause}:{self.pause_dir}"
        self.replay: subprocess.Popen[str] | None = None
        self.serves: list[subprocess.Popen[bytes]] = []
        self.output = ""

    # -- processes ------------------------------------------------------------------------------
    def __enter__(self) -> ChaosRun:
        spec, trace = write_inputs(self.tmp / "inputs")
        config = self.tmp / "extender.yaml"
        shipped = (REPO / "traces" / "schedulers" / "tessera-extender.yaml").read_text()
        # the bind entry's timeout stays above the webhook's hold (5 s) but keeps a run short
        config.write_text(
            shipped.replace("127.0.0.1:8888", f"127.0.0.1:{self.hook_port}").replace(
                "httpTimeout: 120s", "httpTimeout: 20s"
            )
        )
        self.replay = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator.cli",
                "replay",
                "--cluster",
                str(spec),
                "--trace",
                str(trace),
                "--policy",
                "kube-default",
                "--extender",
                str(config),
                "--api-port",
                str(self.api_port),
                "--kubeconfig-out",
                str(self.kubeconfig),
                "--extender-sync",
                f"{self.hook}/sync",
                "--out",
                str(self.out),
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not self.kubeconfig.exists():
            assert self.replay.poll() is None, self.replay.communicate()[0]
            assert time.monotonic() < deadline, "the replay never wrote its kubeconfig"
            time.sleep(0.1)
        self.start_serve()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.replay is not None and self.replay.poll() is None:
            self.replay.kill()
            self.replay.wait(30)
        for serve in self.serves:
            if serve.poll() is None:
                serve.kill()
                serve.wait(30)

    def start_serve(self) -> subprocess.Popen[bytes]:
        """Start a webhook process on the hook port (logs to ``serve-N.log``)."""
        log = (self.tmp / f"serve-{len(self.serves)}.log").open("wb")
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator.cli",
                "serve",
                "--kubeconfig",
                str(self.kubeconfig),
                "--port",
                str(self.hook_port),
                "--prefix",
                "/tessera",
                "--gang-hold-timeout",
                self.gang_hold,
            ],
            env={k: v for k, v in self.env.items() if not k.startswith("TESSERA_")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.serves.append(serve)
        return serve

    def kill_serve(self, sig: signal.Signals) -> int:
        """Send ``sig`` to the running webhook and wait for it to exit; its exit code."""
        serve = self.serves[-1]
        serve.send_signal(sig)
        return serve.wait(30)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the current webhook's ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.serves[-1].poll() is None, self.serve_log()
            try:
                if httpx.get(f"{self.hook}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the webhook never became ready:\n{self.serve_log()}")

    def serve_log(self, tail: int = 4000) -> str:
        """The end of every webhook process's log, in order (urllib3's retry lines left out;
        the whole logs stay in the test's directory)."""
        parts = []
        for path in sorted(self.tmp.glob("serve-*.log")):
            lines = path.read_text(errors="replace").splitlines()
            kept = "\n".join(line for line in lines if "urllib3" not in line)
            parts.append(f"--- {path.name}\n{kept[-tail:]}")
        return "\n".join(parts)

    # -- the pause point ------------------------------------------------------------------------
    def wait_paused(self, timeout: float = 60) -> str:
        """Until the replay stopped at its pause point; what it stopped before."""
        paused = self.pause_dir / "paused"
        deadline = time.monotonic() + timeout
        while not paused.exists():
            assert self.replay is not None and self.replay.poll() is None, (
                f"the replay ended before its pause point:\n{self.replay_output()}"
            )
            assert time.monotonic() < deadline, "the replay never reached its pause point"
            time.sleep(0.05)
        return paused.read_text().strip()

    def resume(self) -> None:
        """Let the replay go on."""
        (self.pause_dir / "resume").write_text("")

    # -- the facade and the webhook -------------------------------------------------------------
    def fault(self, action: str, **query: str) -> Obj:
        """POST a fault endpoint of the facade."""
        reply = httpx.post(f"{self.api}/_tessera/faults/{action}", params=query, timeout=10)
        assert reply.status_code == 200, reply.text
        data: Obj = reply.json()
        return data

    def report(self) -> Obj:
        """The facade's fault report (lists, watches, drops, 410s, the binding log), from the
        file the facade keeps (it outlives the replay)."""
        data: Obj = json.loads((self.tmp / "faults" / "faults.json").read_text())
        return data

    def metrics(self) -> str:
        """The current webhook's Prometheus metrics."""
        return httpx.get(f"{self.hook}/metrics", timeout=10).text

    def wait_held(self, minimum: int, timeout: float = 30) -> int:
        """Until the webhook holds at least ``minimum`` binds
        (``tessera_extender_gang_held_binds``); how many it holds."""
        deadline = time.monotonic() + timeout
        held = -1
        while time.monotonic() < deadline:
            for line in self.metrics().splitlines():
                if line.startswith("tessera_extender_gang_held_binds "):
                    held = int(float(line.split()[1]))
            if held >= minimum:
                return held
            time.sleep(0.02)
        raise AssertionError(f"the webhook holds {held} binds, expected at least {minimum}")

    def finish(self, timeout: float = 180) -> Obj:
        """Wait for the replay; its summary.json (the replay must exit 0)."""
        assert self.replay is not None
        try:
            self.output, _ = self.replay.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.replay.kill()
            self.output = self.replay.communicate()[0]
            raise AssertionError(
                f"the replay did not finish:\n{self.output}\n{self.serve_log()}"
            ) from None
        assert self.replay.returncode == 0, f"{self.output}\n{self.serve_log()}"
        summary: Obj = json.loads((self.out / "summary.json").read_text())
        return summary

    def replay_output(self) -> str:
        """What the replay printed so far (only once it ended)."""
        if self.replay is not None and self.replay.poll() is not None and self.replay.stdout:
            self.output += self.replay.stdout.read()
        return self.output

    def placements(self) -> dict[str, str]:
        """Pod key -> node of every bind in placements.jsonl."""
        out: dict[str, str] = {}
        for line in (self.out / "placements.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record.get("event") == "bind":
                out[record["pod"]] = record["node"]
        return out
