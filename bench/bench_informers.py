"""Informer benchmarks (writes bench/results/informers.json).

The API server is ``bench/bench_apiserver.py --serve`` in its own process: the two-rack H100
dynamic-MIG spec with its H100 pool scaled to ``--nodes`` nodes through the cluster-spec
machinery (the drivers' own Nodes and ResourceSlices: 9 slices per node, ~25 KB of JSON
each), plus ``--pods`` pods in namespace ``bench``. Every measurement runs in a fresh client
process (so its peak RSS is its own) with the official ``kubernetes`` client and
:class:`scheduler.extender.informers.Informers` over every kind:

* ``download`` (baseline): the same paginated lists (``limit`` = ``--page-size``), kinds
  one after another, bytes read and discarded — what the transfer alone costs;
* ``paged``: the informers into a sink implementing ``replace_page`` that counts objects
  and drops them (the informers' own cost: transfer, orjson parse, delivery);
* ``cache``: the informers into a paged sink that builds tessera's ``ClusterCache`` from
  Nodes and ResourceSlices as pages arrive (``scheduler.cluster.bulk.SliceLoader``, then
  ``add_nodes`` / ``finish`` once both kinds are listed) — an estimate of list + state
  build for the webhook's readiness budget (15 s);
* ``full`` (at ``--small-nodes`` only): a plain sink whose ``replace`` keeps every list it
  gets, with the same cluster measured ``paged`` beside it — what holding whole lists
  costs (not run at full scale: ~200 KB of Python objects per slice);
* ``events``: a Pod informer, synced, while the server updates the ``bench`` pods — paced
  at ``--rate`` writes/s for ``--seconds`` s (send-to-apply latency), then a burst of
  ``--burst`` writes as fast as the server can make them (the informer's event rate).
  Checked: every update arrives once, in resourceVersion order, with no re-list.

Reported: seconds to ``wait_synced`` (and the ratio to ``download``), CPU seconds, peak and
retained RSS above the process's baseline (imports and client), objects per kind.

Run: ``python bench/bench_informers.py [--nodes 5000] [--pods 3000] [--small-nodes 1000]
[--rate 1000] [--seconds 5] [--burst 8000]``; exit status 1 when a check fails or the
5,000-node ``paged`` sync takes more than ``--budget`` seconds (default 10) of wall time
or of the client's CPU time (wall time depends on what else the machine runs: the server
shares it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy
RESULTS = ROOT / "bench" / "results" / "informers.json"
SERVER = ROOT / "bench" / "bench_apiserver.py"
NAMESPACE = "bench"


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    with open("/proc/self/statm", encoding="ascii") as f:  # noqa: PTH123 - procfs
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def api_client(url: str) -> Any:
    """An official client for ``url``."""
    from kubernetes import client as k8s

    configuration = k8s.Configuration()
    configuration.host = url
    return k8s.ApiClient(configuration)


# -- sinks --------------------------------------------------------------------------------------
class CountingSink:
    """Counts objects per kind and drops them; pages when ``paged``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.relists: dict[str, int] = {}
        self.events = 0

    def replace(self, kind: str, objects: list[dict[str, Any]], resource_version: str) -> None:
        with self.lock:
            self.counts[kind] = len(objects)
            self.relists[kind] = self.relists.get(kind, 0) + 1

    def apply(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.events += 1


class PagedCountingSink(CountingSink):
    """A :class:`CountingSink` taking lists page by page."""

    def __init__(self) -> None:
        super().__init__()
        self._partial: dict[str, int] = {}

    def replace_page(
        self,
        kind: str,
        objects: list[dict[str, Any]],
        resource_version: str,
        *,
        first: bool,
        last: bool,
    ) -> None:
        with self.lock:
            self._partial[kind] = (0 if first else self._partial.get(kind, 0)) + len(objects)
            if last:
                self.counts[kind] = self._partial.pop(kind)
                self.relists[kind] = self.relists.get(kind, 0) + 1


class KeepingSink(CountingSink):
    """A plain sink that keeps every list it is given (whole-list ``replace``)."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[str, list[dict[str, Any]]] = {}

    def replace(self, kind: str, objects: list[dict[str, Any]], resource_version: str) -> None:
        super().replace(kind, objects, resource_version)
        with self.lock:
            self.kept[kind] = objects


class CacheSink(PagedCountingSink):
    """Builds a ClusterCache from Nodes and ResourceSlices as their pages arrive."""

    def __init__(self) -> None:
        super().__init__()
        from scheduler.api.loaders import Origin, load_object
        from scheduler.cluster.bulk import SliceLoader
        from scheduler.cluster.cache import ClusterCache
        from scheduler.dra.features import Features

        self.cache = ClusterCache(features=Features.for_version("1.35"))
        self.slices = SliceLoader(self.cache, lambda name, where: True)
        self.origin = Origin("informer")
        self.load_object = load_object
        self.nodes: list[Any] = []
        self.done: set[str] = set()
        self.built = threading.Event()

    def replace_page(
        self,
        kind: str,
        objects: list[dict[str, Any]],
        resource_version: str,
        *,
        first: bool,
        last: bool,
    ) -> None:
        super().replace_page(kind, objects, resource_version, first=first, last=last)
        with self.lock:
            if kind == "ResourceSlice":
                for obj in objects:
                    self.slices.add(obj, self.origin)
            elif kind == "Node":
                self.nodes.extend(self.load_object(o, source="informer") for o in objects)
            if last:
                self.done.add(kind)
            if {"Node", "ResourceSlice"} <= self.done and not self.built.is_set():
                self.cache.add_nodes(self.nodes)
                self.slices.finish()
                self.built.set()


# -- client processes ---------------------------------------------------------------------------
def client_sync(url: str, mode: str, page_size: int) -> dict[str, Any]:
    """One sync (or the download baseline) in this process; its measurements."""
    from scheduler.extender.informers import ALL_KINDS, Informers

    api = api_client(url)
    baseline, cpu0 = peak_rss_mib(), cpu_seconds()
    start = time.perf_counter()
    if mode == "download":
        counts, total = download(api, page_size)
        seconds = time.perf_counter() - start
        out: dict[str, Any] = {"objects": counts, "bytes": total}
    else:
        sink: CountingSink = {
            "paged": PagedCountingSink,
            "full": KeepingSink,
            "cache": CacheSink,
        }[mode]()
        informers = Informers(api, sink, ALL_KINDS, page_size=page_size)
        informers.start()
        ok = informers.wait_synced(300)
        seconds = time.perf_counter() - start
        out = {"synced": ok, "objects": dict(sorted(sink.counts.items()))}
        if isinstance(sink, CacheSink):
            out["cache_built"] = sink.built.wait(60)
            out["cache_nodes"] = len(sink.cache.nodes)
            out["cache_pools"] = len(sink.cache.devices.pools)
        informers.stop()
        out["lists_per_kind"] = sorted(set(sink.relists.values()))
    out.update(
        seconds=round(seconds, 2),
        cpu_seconds=round(cpu_seconds() - cpu0, 2),
        rss_baseline_mib=round(baseline, 1),
        rss_peak_above_baseline_mib=round(peak_rss_mib() - baseline, 1),
        rss_retained_above_baseline_mib=round(rss_mib() - baseline, 1),
    )
    return out


def download(api: Any, page_size: int) -> tuple[dict[str, int], int]:
    """Every kind's paginated list, bytes read and dropped: (pages per kind, bytes)."""
    from kubernetes import client as k8s

    from scheduler.extender.informers import ALL_KINDS, KINDS

    core: Any = k8s.CoreV1Api(api)
    custom: Any = k8s.CustomObjectsApi(api)
    pages: dict[str, int] = {}
    total = 0
    for kind in ALL_KINDS:
        spec = KINDS[kind]
        token = None
        pages[kind] = 0
        while True:
            options: dict[str, Any] = {"limit": page_size, "_preload_content": False}
            if token:
                options["_continue"] = token
            if kind == "Node":
                resp = core.list_node(**options)
            elif kind == "Pod":
                resp = core.list_pod_for_all_namespaces(**options)
            else:
                resp = custom.list_cluster_custom_object(
                    spec.group, spec.versions[0], spec.plural, **options
                )
            body = resp.read()
            resp.release_conn()
            total += len(body)
            pages[kind] += 1
            # the continue token is in the list's metadata, at the start of the body
            head = body[: body.find(b'"items"')] + b'"items":[]}'
            token = orjson.loads(head).get("metadata", {}).get("continue")
            del body
            if not token:
                break
    return pages, total


class EventSink(PagedCountingSink):
    """Records each MODIFIED pod event: resourceVersion, receive time, send time."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[int, float, float]] = []

    def apply(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        now = time.time()
        meta = obj["metadata"]
        sent = float((meta.get("annotations") or {}).get("bench/sent", "nan"))
        with self.lock:
            self.events += 1
            if event_type == "MODIFIED":
                self.received.append((int(meta["resourceVersion"]), now, sent))


def client_events(url: str, rate: float, seconds: float, burst: int) -> dict[str, Any]:
    """The event benchmark in this process (see the module docstring)."""
    from scheduler.extender.informers import Informers

    sink = EventSink()
    informers = Informers(api_client(url), sink, ("Pod",))
    informers.start()
    if not informers.wait_synced(120):
        raise RuntimeError("the Pod informer did not sync")
    out: dict[str, Any] = {
        "paced": run_writes(url, sink, rate, seconds),
        "burst": run_writes(url, sink, 1e6, burst / 1e6),
    }
    informers.stop()
    out["pod_lists"] = sink.relists.get("Pod", 0)
    return out


def run_writes(url: str, sink: EventSink, rate: float, seconds: float) -> dict[str, Any]:
    """Have the server update the bench pods; wait for every update to reach the sink."""
    with sink.lock:
        sink.received.clear()
    control(url, f"/bench/write?rate={rate}&seconds={seconds}")
    while not (writer := control(url, "/bench/writer")).get("done"):
        time.sleep(0.05)
    expected = list(range(writer["first_rv"], writer["last_rv"] + 1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sink.lock:
            if len(sink.received) >= len(expected):
                break
        time.sleep(0.02)
    with sink.lock:
        received = list(sink.received)
    rvs = [r[0] for r in received]
    latencies = [r[1] - r[2] for r in received]
    span = received[-1][1] - received[0][1] if len(received) > 1 else 0.0
    return {
        "writer": writer,
        "events": len(received),
        "every_rv_once_in_order": rvs == expected,
        "delivered_events_per_s": round((len(received) - 1) / span, 1) if span > 0 else None,
        "latency_ms": {
            "median": round(statistics.median(latencies) * 1000, 2),
            "p99": round(percentile(latencies, 99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
        }
        if latencies
        else None,
    }


# -- orchestration ------------------------------------------------------------------------------
def control(url: str, path: str) -> Any:
    """Call a control path of the server process."""
    import urllib.request

    with urllib.request.urlopen(url + path, timeout=120) as resp:
        return orjson.loads(resp.read())


def start_server(nodes: int, tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """The API server process for ``nodes`` nodes, once it serves; (process, its info)."""
    ready = tmp / f"ready-{nodes}.json"
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--nodes", str(nodes), "--serve", str(ready)], cwd=ROOT
    )
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode}")
        time.sleep(0.5)
    time.sleep(0.2)  # the file is written whole before the process serves on
    info = json.loads(ready.read_text(encoding="utf-8"))
    info.pop("first_slice", None)
    return proc, info


def stop_server(proc: subprocess.Popen[bytes], url: str) -> None:
    """Ask the server process to exit; kill it if it does not."""
    try:
        control(url, "/bench/exit")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def in_process(*args: str) -> dict[str, Any]:
    """Run this script's client mode in a fresh process; its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, *args], cwd=ROOT, capture_output=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode())
        raise RuntimeError(f"client {args} exited with {done.returncode}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def sync_runs(url: str, modes: list[str], page_size: int, repeats: int) -> dict[str, Any]:
    """Each mode ``repeats`` times, alternating; per mode the median run and all times."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(repeats):
        for mode in modes:
            args = ("--client", mode, "--url", url, "--page-size", str(page_size))
            runs[mode].append(in_process(*args))
    out: dict[str, Any] = {}
    for mode, results in runs.items():
        ordered = sorted(results, key=lambda r: r["seconds"])
        median = ordered[len(ordered) // 2]
        out[mode] = {**median, "seconds_all_runs": [r["seconds"] for r in results]}
    if "download" in out:
        for mode in modes:
            if mode != "download":
                out[mode]["ratio_to_download"] = round(
                    out[mode]["seconds"] / out["download"]["seconds"], 2
                )
    return out


def main() -> int:
    """Run the benchmarks; write bench/results/informers.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--small-nodes", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=8000)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--client", choices=["download", "paged", "cache", "full", "events"])
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.client == "events":
        sys.stdout.write(json.dumps(client_events(args.url, args.rate, args.seconds, args.burst)))
        return 0
    if args.client:
        sys.stdout.write(json.dumps(client_sync(args.url, args.client, args.page_size)))
        return 0

    load_start = os.getloadavg()
    report: dict[str, Any] = {
        "benchmark": "informers",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_start],
        "page_size": args.page_size,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for nodes, modes, events in (
            (args.nodes, ["download", "paged", "cache"], True),
            (args.small_nodes, ["paged", "full"], False),
        ):
            proc, info = start_server(nodes, Path(tmp))
            try:
                control(info["url"], f"/bench/watch-setup?pods={args.pods}")
                info["pods"] = args.pods
                entry: dict[str, Any] = {"cluster": info}
                entry["sync"] = sync_runs(info["url"], modes, args.page_size, args.repeats)
                if events:
                    entry["events"] = in_process(
                        "--client", "events", "--url", info["url"], "--rate", str(args.rate),
                        "--seconds", str(args.seconds), "--burst", str(args.burst),
                    )  # fmt: skip
            finally:
                stop_server(proc, info["url"])
            report[f"nodes_{nodes}"] = entry
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    big = report[f"nodes_{args.nodes}"]
    events_ok = all(
        big["events"][run]["every_rv_once_in_order"] for run in ("paced", "burst")
    ) and big["events"]["pod_lists"] == 1  # fmt: skip
    synced_ok = all(
        r.get("synced", True) and r.get("lists_per_kind", [1]) == [1]
        for entry in (big, report[f"nodes_{args.small_nodes}"])
        for r in entry["sync"].values()
    )
    report["checks"] = {
        "paged_sync_within_budget": big["sync"]["paged"]["seconds"] <= args.budget,
        "paged_sync_cpu_within_budget": big["sync"]["paged"]["cpu_seconds"] <= args.budget,
        "budget_seconds": args.budget,
        "every_sync_complete_with_one_list_per_kind": synced_ok,
        "events_complete_in_order_without_relist": events_ok,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0 if all(v for k, v in report["checks"].items() if k != "budget_seconds") else 1


if __name__ == "__main__":
    raise SystemExit(main())
