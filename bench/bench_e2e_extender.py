"""kube-default + ``tessera serve`` against native tessera, end to end, on one scenario
(writes bench/results/e2e_extender.json).

Runs, on the shipped two-rack H100 cluster:

* ``native`` — ``tessera replay --policy tessera`` (kube-scheduler 1.35's queue);
* ``native-old-queue`` — the same with ``--no-pop-from-backoff`` (the queue as before
  kube-scheduler 1.33), to show what the queue alone changes;
* ``kube-default`` — a stock kube-scheduler, no extender;
* ``webhook`` (``--runs`` times) — ``tessera replay --policy kube-default --extender
  traces/schedulers/tessera-extender.yaml --api-port P --extender-sync URL`` with a real
  ``tessera serve --kubeconfig ... --preempt-gangs`` process reading and writing the
  replay's own API (the README's command).

Per run: pods scheduled, gangs placed / partial, mean GPU allocation, batch fill,
preemptions, serving pending p95/p99, wall seconds; per webhook run, the binds the simulator
checked on the API. Compared with ``native`` and ``native-old-queue``: the pod names
placed by both and by one side only, and the first bind or eviction that differs (time, pod,
node on each side). Webhook runs are also compared with each other (identical placements?).

Run: ``python bench/bench_e2e_extender.py [--scenario NAME] [--runs N]`` (default
llm-serving-diurnal, 2 runs; about 10 minutes per webhook run on a 2-core VM).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLUSTER = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
EXTENDER = ROOT / "traces" / "schedulers" / "tessera-extender.yaml"
CLI = [sys.executable, "-m", "simulator.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
KEYS = (
    "pods_scheduled",
    "gangs_total",
    "gangs_placed",
    "gangs_partial",
    "gpu_alloc_mean_pct",
    "batch_fill_pct",
    "preemptions",
    "pending_seconds",
    "serving_scaleup_seconds",
    "wall_seconds",
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _inputs(scenario: str) -> list[str]:
    trace = ROOT / "traces" / "scenarios" / f"{scenario}.yaml"
    return ["--cluster", str(CLUSTER), "--trace", str(trace)]


def _result(out: Path, wall: float) -> dict[str, Any]:
    summary = json.loads((out / "summary.json").read_text())
    row = {key: summary.get(key) for key in KEYS}
    row["wall_seconds_total"] = round(wall, 1)
    placements = (out / "placements.jsonl").read_bytes()
    row["placements_sha256"] = hashlib.sha256(placements).hexdigest()
    if "extenders" in summary:
        ext = summary["extenders"]
        row["binds"] = {
            k: ext.get(k) for k in ("binds_in_flight_total", "binds_elsewhere", "binds_unconfirmed")
        }
    return row


def native(scenario: str, out: Path, flags: list[str]) -> dict[str, Any]:
    """A replay without an extender."""
    start = time.monotonic()
    subprocess.run(
        [*CLI, "replay", *_inputs(scenario), *flags, "--out", str(out)],
        env=ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return _result(out, time.monotonic() - start)


def webhook(scenario: str, work: Path) -> dict[str, Any]:
    """kube-default + a ``tessera serve --preempt-gangs`` process over the replay's API."""
    api_port, hook_port = _port(), _port()
    work.mkdir(parents=True)
    config = work / "extender.yaml"
    config.write_text(EXTENDER.read_text().replace("127.0.0.1:8888", f"127.0.0.1:{hook_port}"))
    kubeconfig, out = work / "kubeconfig", work / "out"
    start = time.monotonic()
    replay = subprocess.Popen(
        [
            *CLI,
            "replay",
            *_inputs(scenario),
            *("--policy", "kube-default", "--extender", str(config)),
            *("--api-port", str(api_port), "--kubeconfig-out", str(kubeconfig)),
            *("--extender-sync", f"http://127.0.0.1:{hook_port}/sync", "--out", str(out)),
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
    )
    serve = None
    try:
        while not kubeconfig.exists():
            if replay.poll() is not None:
                raise SystemExit(f"the replay exited with {replay.returncode} before serving")
            time.sleep(0.2)
        serve = subprocess.Popen(
            [
                *CLI,
                "serve",
                *("--kubeconfig", str(kubeconfig), "--port", str(hook_port)),
                *("--prefix", "/tessera", "--feature-gates", "DRAPartitionableDevices=true"),
                "--preempt-gangs",
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if replay.wait() != 0:
            raise SystemExit(f"the extended replay exited with {replay.returncode}")
    finally:
        if replay.poll() is None:
            replay.kill()
        if serve is not None:
            serve.terminate()
            serve.wait(30)
    return _result(out, time.monotonic() - start)


def _events(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "placements.jsonl").read_text().splitlines()]
    return [r for r in rows if r["event"] != "fail"]


def _key(row: dict[str, Any]) -> tuple[float, str, str, str]:
    return (row["t"], row["event"], row["pod"], row.get("node") or "")


def compare(left: Path, right: Path) -> dict[str, Any]:
    """Pod names placed by both / one side, and the first differing bind or eviction."""
    a, b = _events(left), _events(right)
    placed_a = {r["pod"] for r in a if r["event"] == "bind"}
    placed_b = {r["pod"] for r in b if r["event"] == "bind"}
    keys_a, keys_b = sorted(map(_key, a)), sorted(map(_key, b))
    set_a, set_b = set(keys_a), set(keys_b)
    only_a = [k for k in keys_a if k not in set_b]
    only_b = [k for k in keys_b if k not in set_a]
    return {
        "placed_both": len(placed_a & placed_b),
        "placed_only_left": len(placed_a - placed_b),
        "placed_only_right": len(placed_b - placed_a),
        "first_difference_left": list(only_a[0]) if only_a else None,
        "first_difference_right": list(only_b[0]) if only_b else None,
    }


def main() -> int:
    """Run the comparison and write the JSON (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scenario", default="llm-serving-diurnal")
    parser.add_argument("--runs", type=int, default=2, help="webhook runs (default 2)")
    parser.add_argument("--output", type=Path, default=RESULTS / "e2e_extender.json")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tessera-e2e-") as tmp:
        work = Path(tmp)
        outs = {
            "native": (work / "native", ["--policy", "tessera"]),
            "native-old-queue": (
                work / "native-old-queue",
                ["--policy", "tessera", "--no-pop-from-backoff"],
            ),
            "kube-default": (work / "kube-default", ["--policy", "kube-default"]),
        }
        runs: dict[str, Any] = {}
        for name, (out, flags) in outs.items():
            runs[name] = native(args.scenario, out, flags)
            print(name, json.dumps(runs[name]["pods_scheduled"]), flush=True)
        hooks = []
        for i in range(args.runs):
            name = f"webhook-{i + 1}"
            runs[name] = webhook(args.scenario, work / name)
            hooks.append(work / name / "out")
            print(name, runs[name]["pods_scheduled"], flush=True)
        comparisons = {  # left vs right
            "native vs webhook-1": compare(outs["native"][0], hooks[0]),
            "native-old-queue vs webhook-1": compare(outs["native-old-queue"][0], hooks[0]),
        }
        for i, other in enumerate(hooks[1:], start=2):
            comparisons[f"webhook-1 vs webhook-{i}"] = compare(hooks[0], other)
    report = {
        "scenario": args.scenario,
        "cluster": CLUSTER.name,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_at_start": load,
        "runs": runs,
        "comparisons": comparisons,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
