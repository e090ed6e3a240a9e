"""API facade benchmarks (writes bench/results/apiserver.json).

The server runs in its own process (``--serve``), built from
``traces/clusters/two-rack-h100-dynamic-mig.yaml`` with the H100 pool scaled to ``--nodes``
nodes (8 × H100-80GB, dynamic MIG; the CPU-only system pool dropped) through the cluster-spec
machinery (``cluster_from_spec`` + ``ServedCluster.load_cluster``: the drivers' own Nodes and
ResourceSlices). A timing probe wrapped around the ASGI app records, per request, the time
from the request reaching the app to the last body byte handed to the transport ("server
seconds"), and serves the benchmark's control paths (``/bench/...``).

* ``list``: ``GET /api/v1/nodes`` and ``GET /apis/resource.k8s.io/v1/resourceslices`` — all
  5,000 nodes and their 45,000 slices (1.1 GB of JSON) — ``--repeats`` times each, by two
  clients: raw HTTP (a socket reading the whole body into one buffer) and the official
  ``kubernetes`` Python client (``_preload_content=False``: the body as bytes; turning 1.1 GB
  into client models is not a listing cost and would take minutes). Reported: server seconds
  and client end-to-end seconds (median, p99 = max of the repeats, and each run), bytes and
  throughput. Checked: the node list parses to ``--nodes`` Nodes; the slice list has the
  expected count, Content-Length, and first item. Budget: nodes + slices ≤ 2 s (median,
  raw client).
* ``watch``: ``--watchers`` concurrent raw HTTP watches of one namespace's pods while a
  writer thread in the server process updates those pods at ``--rate`` writes/s for
  ``--seconds`` seconds (each update is one MODIFIED event stamped with its send time).
  Checked: every watcher receives every resourceVersion, consecutive and in order, with
  nothing lost or duplicated. Reported: the writer's achieved rate, each watcher's delivered
  rate and the send-to-receive latency (median, p99, max).

Run: ``python bench/bench_apiserver.py [--nodes 5000] [--repeats 5] [--rate 1000]
[--seconds 10] [--watchers 4]``; exit status 1 when a check fails or the list budget is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import mmap
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy
RESULTS = ROOT / "bench" / "results" / "apiserver.json"
SPEC = ROOT / "traces" / "clusters" / "two-rack-h100-dynamic-mig.yaml"
LIST_BUDGET_SECONDS = 2.0
WATCH_NAMESPACE = "bench"
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Message, Receive, Send], Awaitable[None]]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    """Median, p99 and max of seconds, in milliseconds."""
    return {
        "median_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


# -- server process -----------------------------------------------------------------------------
def scaled_spec(nodes: int) -> Any:
    """The two-rack H100 dynamic-MIG spec with its H100 pool scaled to ``nodes`` nodes."""
    from simulator.drivers.spec import parse_cluster_spec

    data = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    data["metadata"]["name"] = f"h100-dynamic-mig-{nodes}"
    data["nodePools"] = [dict(p, count=nodes) for p in data["nodePools"] if p["name"] == "h100"]
    return parse_cluster_spec(data, source=f"{SPEC.name} scaled to {nodes} nodes")


class Probe:
    """The ASGI timing wrapper and the benchmark's control paths (server process)."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.timings: list[tuple[str, float]] = []
        self.writer: dict[str, Any] = {}
        self.exit = threading.Event()

    def wrap(self, app: ASGI) -> ASGI:
        """``app`` with per-request timing; ``/bench/...`` is answered here."""

        async def asgi(scope: Message, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if path.startswith("/bench/"):
                query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
                body = orjson.dumps(self.control(path, query))
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
                return
            start = time.perf_counter()

            async def timed(message: Message) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    self.timings.append((path, time.perf_counter() - start))

            await app(scope, receive, timed)

        return asgi

    def control(self, path: str, query: dict[str, str]) -> Any:
        """The control paths: timings, watch-setup, write, writer, exit."""
        if path == "/bench/timings":
            out, self.timings = self.timings, []
            return out
        if path == "/bench/watch-setup":
            return {"rv": self.setup_pods(int(query.get("pods", "100")))}
        if path == "/bench/write":
            rate, seconds = float(query["rate"]), float(query["seconds"])
            self.writer = {"done": False}
            threading.Thread(target=self.write, args=(rate, seconds), daemon=True).start()
            return {"started": True}
        if path == "/bench/writer":
            return self.writer
        if path == "/bench/exit":
            self.exit.set()
            return {"exit": True}
        return {"error": f"unknown control path {path}"}

    def setup_pods(self, count: int) -> int:
        store = self.cluster.store
        self.cluster.ensure_namespace(WATCH_NAMESPACE)
        pods = self.cluster.resource("pods")
        for i in range(count):
            store.create(
                pods,
                {
                    "metadata": {"name": f"p{i:04d}", "namespace": WATCH_NAMESPACE},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                    "status": {"phase": "Pending"},
                },
            )
        rv: int = store.rv
        return rv

    def write(self, rate: float, seconds: float) -> None:
        """Update the watched pods round-robin at ``rate`` writes/s (paced by a schedule:
        write i is due at start + i / rate)."""
        store = self.cluster.store
        pods = self.cluster.resource("pods")
        objects = [e.obj() for e in store.list_page(pods, WATCH_NAMESPACE).entries]
        total = int(rate * seconds)
        first = last = 0
        start = time.perf_counter()
        late = 0.0
        for i in range(total):
            due = start + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            else:
                late = max(late, now - due)
            obj = objects[i % len(objects)]
            meta = obj["metadata"]
            meta.pop("resourceVersion", None)
            meta["annotations"] = {"bench/seq": str(i), "bench/sent": repr(time.time())}
            entry = store.update(pods, obj)
            last = entry.rv
            first = first or entry.rv
        elapsed = time.perf_counter() - start
        self.writer = {
            "done": True,
            "writes": total,
            "first_rv": first,
            "last_rv": last,
            "seconds": round(elapsed, 3),
            "achieved_rate": round(total / elapsed, 1),
            "max_behind_schedule_ms": round(late * 1000, 2),
        }


def serve(nodes: int, ready: Path) -> int:
    """The server process: build, serve, report readiness in ``ready``, serve until told."""
    from simulator.apiserver.cluster import ServedCluster
    from simulator.apiserver.resources import TABLE
    from simulator.apiserver.server import ApiServer
    from simulator.apiserver.store import Store
    from simulator.clusters import cluster_from_spec

    start = time.perf_counter()
    spec = scaled_spec(nodes)
    loaded = cluster_from_spec(spec, templated=True, source="bench")
    cluster = ServedCluster(Store(TABLE))
    cluster.load_cluster(loaded)
    build = time.perf_counter() - start
    probe = Probe(cluster)
    server = ApiServer(cluster, port=0, wrap=probe.wrap).start()
    slices = cluster.store.list_page(cluster.resource("resourceslices"), "").entries
    node_entries = cluster.store.list_page(cluster.resource("nodes"), "").entries
    info = {
        "url": server.url,
        "build_seconds": round(build, 2),
        "nodes": len(node_entries),
        "resource_slices": len(slices),
        "slice_json_bytes": sum(len(e.raw) for e in slices),
        "node_json_bytes": sum(len(e.raw) for e in node_entries),
        "first_slice": slices[0].raw.decode() if slices else None,
        "server_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    del slices, node_entries
    ready.write_text(json.dumps(info), encoding="utf-8")
    probe.exit.wait()
    server.stop()
    return 0


# -- clients --------------------------------------------------------------------------------------
class RawHttp:
    """A minimal HTTP/1.1 client on one socket: Content-Length and chunked bodies.

    Bodies are read by a BufferedReader, into a caller's reusable buffer (:meth:`get_into`)
    or one ``bytes`` of the announced length (:meth:`get`).
    """

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").rpartition(":")
        self.host = host
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = cast(io.BufferedReader, self.sock.makefile("rb", buffering=1 << 20))

    def request(self, path: str) -> dict[str, str]:
        """Send a GET and read the status line and headers (lowercased names)."""
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: application/json\r\n\r\n".encode()
        )
        status = self.file.readline().decode("latin-1").split()
        if len(status) < 2:
            raise ConnectionError("connection closed before the status line")
        headers = {"status": status[1]}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def chunks(self) -> Any:
        """The chunks of a chunked body, as they arrive (for watches)."""
        while True:
            size_line = self.file.readline()
            if not size_line:
                return
            size = int(size_line.split(b";")[0], 16)
            data = self.file.read(size + 2)[:size]
            if size == 0:
                return
            yield data

    def get(self, path: str) -> bytes:
        """GET ``path``; the whole body (raises on a non-200)."""
        headers = self.request(path)
        if headers["status"] != "200":
            raise RuntimeError(f"GET {path}: HTTP {headers['status']}")
        if "content-length" in headers:
            body: bytes = self.file.read(int(headers["content-length"]))
            return body
        return b"".join(self.chunks())

    def get_into(self, path: str, buffer: mmap.mmap) -> memoryview:
        """GET ``path`` (a Content-Length response) into ``buffer``; the body as a view of
        it. A client that lists repeatedly keeps its buffer, so after the first fetch (which
        faults the pages in) the timing is the transfer alone."""
        headers = self.request(path)
        if headers["status"] != "200":
            raise RuntimeError(f"GET {path}: HTTP {headers['status']}")
        length = int(headers["content-length"])
        if len(buffer) < length:
            raise RuntimeError(f"GET {path}: {length} bytes do not fit the {len(buffer)} given")
        view = memoryview(buffer)[:length]
        have = 0
        while have < length:
            n = self.file.readinto(view[have:])
            if not n:
                raise ConnectionError(f"GET {path}: connection closed mid-body")
            have += n
        return view

    def close(self) -> None:
        """Close the socket."""
        self.file.close()
        self.sock.close()


def control(url: str, path: str) -> Any:
    """Call a control path of the server process."""
    http = RawHttp(url)
    try:
        return orjson.loads(http.get(path))
    finally:
        http.close()


def measure_lists(url: str, info: dict[str, Any], repeats: int) -> dict[str, Any]:
    """The list benchmark (see the module docstring). Each list is fetched once untimed by
    the raw client (it sizes its buffer: that first, cold fetch is reported on its own) and
    checked, then ``repeats`` times by each client."""
    from kubernetes import client as k8s

    configuration = k8s.Configuration()
    configuration.host = url
    api_client = k8s.ApiClient(configuration)
    paths = {
        "nodes": "/api/v1/nodes",
        "resourceslices": "/apis/resource.k8s.io/v1/resourceslices",
    }
    core: Any = k8s.CoreV1Api(api_client)  # with _preload_content=False: urllib3 responses
    dra: Any = k8s.ResourceV1Api(api_client)
    official = {
        "nodes": lambda: core.list_node(_preload_content=False).data,
        "resourceslices": lambda: dra.list_resource_slice(_preload_content=False).data,
    }
    sizes = {"nodes": info["node_json_bytes"], "resourceslices": info["slice_json_bytes"]}
    buffers = {name: mmap.mmap(-1, sizes[name] + 2**20) for name in paths}  # + list envelope
    runs: dict[str, dict[str, list[float]]] = {
        name: {"raw_client": [], "raw_server": [], "official_client": [], "official_server": []}
        for name in paths
    }
    out: dict[str, Any] = {}
    for name, path in paths.items():
        http = RawHttp(url)
        start = time.perf_counter()
        body = http.get_into(path, buffers[name])
        cold = time.perf_counter() - start
        http.close()
        out[name] = {
            "bytes": len(body),
            "mib": round(len(body) / 2**20, 1),
            "check_ok": check_list(name, body, info),
            "raw_client_cold_first_s": round(cold, 3),
        }
        del body
    control(url, "/bench/timings")
    for _ in range(repeats):
        for name, path in paths.items():
            http = RawHttp(url)
            start = time.perf_counter()
            body = http.get_into(path, buffers[name])
            runs[name]["raw_client"].append(time.perf_counter() - start)
            http.close()
            runs[name]["raw_server"].append(control(url, "/bench/timings")[-1][1])
            ok = len(body) == out[name]["bytes"]
            del body
            start = time.perf_counter()
            data = official[name]()
            runs[name]["official_client"].append(time.perf_counter() - start)
            runs[name]["official_server"].append(control(url, "/bench/timings")[-1][1])
            out[name]["check_ok"] = out[name]["check_ok"] and ok and len(data) == out[name]["bytes"]
            del data
    start = time.perf_counter()
    models = k8s.CoreV1Api(api_client).list_node()
    node_models = time.perf_counter() - start
    for name in paths:
        out[name].update({key: summary(values) for key, values in runs[name].items()})
        out[name]["raw_client_runs_s"] = [round(v, 3) for v in runs[name]["raw_client"]]
        out[name]["raw_client_mib_per_s"] = round(
            out[name]["bytes"] / 2**20 / statistics.median(runs[name]["raw_client"]), 1
        )
    nodes, slices = runs["nodes"], runs["resourceslices"]
    raw_total = [a + b for a, b in zip(nodes["raw_client"], slices["raw_client"], strict=True)]
    official_total = [
        a + b for a, b in zip(nodes["official_client"], slices["official_client"], strict=True)
    ]
    out["nodes_and_slices_raw_client"] = summary(raw_total)
    out["nodes_and_slices_official_client"] = summary(official_total)
    out["official_client_node_models"] = {
        "seconds": round(node_models, 2),
        "items": len(models.items),
        "note": "list_node() deserialized into V1Node models (client-side cost)",
    }
    out["budget_seconds"] = LIST_BUDGET_SECONDS
    out["within_budget"] = statistics.median(raw_total) <= LIST_BUDGET_SECONDS
    return out


def check_list(name: str, body: memoryview, info: dict[str, Any]) -> bool:
    """The node list parses to every node; the slice list has every slice, starting with the
    store's first one (no full parse of 1.1 GB)."""
    if name == "nodes":
        document = orjson.loads(body)
        return bool(document["kind"] == "NodeList" and len(document["items"]) == info["nodes"])
    first = info["first_slice"].encode()
    data = bytes(body)
    return (
        bytes(body[:27]) == b'{"kind":"ResourceSliceList"'
        and bytes(body[-2:]) == b"]}"
        and data.count(b'"kind":"ResourceSlice"') == info["resource_slices"]
        and first in bytes(body[: len(first) + 200])
    )


def watcher(url: str, rv: int, last_rv: int, timeout: int, result: dict[str, Any]) -> None:
    """One watch from ``rv``: every event's resourceVersion and latency, until ``last_rv``
    arrives (or the server ends the watch after ``timeout`` seconds)."""
    http = RawHttp(url)
    query = f"watch=1&resourceVersion={rv}&timeoutSeconds={timeout}"
    headers = http.request(f"/api/v1/namespaces/{WATCH_NAMESPACE}/pods?{query}")
    result["status"] = headers["status"]
    result["ready"].set()
    rvs: list[int] = []
    latencies: list[float] = []
    types: set[str] = set()
    result.update(rvs=rvs, latencies=latencies, types=types)
    pending = b""
    for chunk in http.chunks():
        received = time.time()
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            event = orjson.loads(line)
            meta = event["object"]["metadata"]
            rvs.append(int(meta["resourceVersion"]))
            latencies.append(received - float(meta["annotations"]["bench/sent"]))
            types.add(event["type"])
        if rvs and rvs[-1] >= last_rv:
            break
    http.close()


def measure_watch(url: str, watchers: int, rate: float, seconds: float) -> dict[str, Any]:
    """The watch benchmark (see the module docstring). Only the writer writes to the store
    meanwhile, so its writes take the versions right after the setup's."""
    rv0 = control(url, "/bench/watch-setup?pods=100")["rv"]
    writes = int(rate * seconds)
    expected = list(range(rv0 + 1, rv0 + writes + 1))
    results: list[dict[str, Any]] = [{"ready": threading.Event()} for _ in range(watchers)]
    threads = [
        threading.Thread(
            target=watcher, args=(url, rv0, expected[-1], int(seconds) + 60, r), daemon=True
        )
        for r in results
    ]
    for t in threads:
        t.start()
    for r in results:
        r["ready"].wait(10)
    control(url, f"/bench/write?rate={rate}&seconds={seconds}")
    for t in threads:
        t.join(timeout=seconds + 90)
    writer = control(url, "/bench/writer")
    per_watcher = []
    for r in results:
        rvs, lat = r.get("rvs", []), r.get("latencies", [])
        span = (len(rvs) - 1) / rate if rvs else 0.0
        per_watcher.append(
            {
                "http_status": r.get("status"),
                "events": len(rvs),
                "every_rv_in_order": rvs == expected,
                "event_types": sorted(r.get("types", set())),
                "delivered_rate": round(len(rvs) / max(span, 1e-9), 1) if rvs else 0.0,
                "latency": summary(lat) if lat else None,
            }
        )
    all_latencies = [x for r in results for x in r.get("latencies", [])]
    return {
        "watchers": watchers,
        "target_rate": rate,
        "seconds": seconds,
        "writer": writer,
        "expected_events_per_watcher": len(expected),
        "per_watcher": per_watcher,
        "latency_all_watchers": summary(all_latencies) if all_latencies else None,
        "no_loss_in_order": writer.get("writes") == writes
        and all(w["every_rv_in_order"] for w in per_watcher),
    }


def main() -> int:
    """Run both benchmarks against a server process; write bench/results/apiserver.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--watchers", type=int, default=4)
    parser.add_argument("--serve", type=Path, metavar="READY_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.nodes, args.serve)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--nodes", str(args.nodes), "--serve", str(ready)],
            cwd=ROOT,
        )
        try:
            while not ready.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"server process exited with {proc.returncode}")
                time.sleep(0.5)
            info = json.loads(ready.read_text(encoding="utf-8"))
            lists = measure_lists(info["url"], info, args.repeats)
            watch = measure_watch(info["url"], args.watchers, args.rate, args.seconds)
            control(info["url"], "/bench/exit")
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    info.pop("first_slice")
    report: dict[str, Any] = {
        "benchmark": "apiserver",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_start],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "cluster": {**info, "spec": f"{SPEC.relative_to(ROOT)} (h100 pool scaled)"},
        "list": lists,
        "watch": watch,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    ok = lists["within_budget"] and all(
        lists[n]["check_ok"] for n in ("nodes", "resourceslices")
    ) and watch["no_loss_in_order"]  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
