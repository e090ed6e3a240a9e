"""Test harness of ``tessera serve``: snapshots on disk, the real app on a real uvicorn server.

* :func:`write_cluster` writes a cluster spec's Nodes, DeviceClasses and ResourceSlices (the
  simulated drivers' objects, as ``tessera cluster build`` writes them) into a snapshot
  directory; :func:`write_objects` adds workload objects (pods, claims, templates, ...);
* :func:`gpu_pod` / :func:`claim_template` build API-shaped objects;
* :class:`Served` loads a snapshot into a :class:`~scheduler.extender.state.ClusterState`,
  assembles the webhook with :func:`~scheduler.extender.server.build_webhook` and serves it
  with :func:`~scheduler.extender.server.serve` on a free loopback port in a background
  thread; tests talk HTTP to it with httpx.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from scheduler.dra.features import Features
from scheduler.extender.app import Webhook
from scheduler.extender.binding import BindingWriter, InMemoryBindings
from scheduler.extender.evictions import EvictionWriter
from scheduler.extender.server import InformersLike, ServeOptions, build_webhook, serve
from scheduler.extender.state import ClusterState
from scheduler.framework.profiles import Profile
from simulator.drivers.build import build_cluster
from simulator.drivers.spec import load_cluster_spec
from simulator.experiments.policies import replay_profile

ROOT = Path(__file__).resolve().parents[2]
TWO_RACK = ROOT / "traces/clusters/two-rack-h100-dynamic-mig.yaml"
FEATURES = Features.from_gates({"DRAPartitionableDevices": True})
GOLDEN = Path(__file__).parent / "golden"

Obj = dict[str, Any]


def write_objects(directory: Path, name: str, objects: Iterable[Obj]) -> Path:
    """Write ``objects`` as a JSON stream ``directory/name.json`` (one object per line)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objects))
    return path


def write_cluster(directory: Path, spec: Path = TWO_RACK) -> list[str]:
    """The spec's cluster objects into ``directory/cluster.json``; the node names."""
    built = build_cluster(load_cluster_spec(spec))
    write_objects(directory, "cluster", built.objects())
    return [n["metadata"]["name"] for n in built.nodes]


def small_snapshot(
    factory: pytest.TempPathFactory, name: str, pods: Iterable[tuple[Obj, Obj | None]]
) -> tuple[Path, list[str]]:
    """A ``--snapshot`` directory named after ``name``: the :func:`small_spec` cluster plus
    ``pods`` (:func:`gpu_pod` results) and their claims; with the cluster's node names."""
    directory = factory.mktemp(name)
    names = write_cluster(directory, small_spec(factory.mktemp("spec")))
    write_objects(directory, "work", pods_and_claims(pods))
    return directory, names


def small_spec(directory: Path, gpu_nodes: int = 3) -> Path:
    """A spec of ``gpu_nodes`` H100 nodes (8 whole GPUs each, DRA, one rack) and one CPU node,
    written to ``directory/spec.yaml`` (quick to filter: for the fuzz test)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spec.yaml"
    spec = {
        "apiVersion": "tessera.io/v1alpha1",
        "kind": "ClusterSpec",
        "metadata": {"name": "small"},
        "kubernetesVersion": "1.35",
        "nodePools": [
            {
                "name": "h100",
                "count": gpu_nodes,
                "node": {"cpu": "192", "memory": "2Ti"},
                "accelerator": {"kind": "nvidia", "model": "H100-80GB", "count": 8},
                "placement": {"zone": "z", "nodesPerRack": 16, "racksPerBlock": 2},
            },
            {"name": "system", "count": 1, "node": {"cpu": "32", "memory": "128Gi"}},
        ],
    }
    path.write_bytes(orjson.dumps(spec))
    return path


def claim_template(name: str, gpus: int = 1, namespace: str = "default") -> Obj:
    """A ResourceClaimTemplate of ``gpus`` whole GPUs."""
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"spec": _claim_spec(gpus)},
    }


def gpu_allocation(node: str, gpus: Iterable[int], *, pinned: bool = True) -> Obj:
    """A claim's ``status.allocation``: whole GPUs ``gpu-<g>`` (g in ``gpus``) of ``node``'s
    pool; ``pinned`` adds the node selector naming ``node``."""
    allocation: Obj = {
        "devices": {
            "results": [
                {
                    "request": "gpu",
                    "driver": "gpu.nvidia.com",
                    "pool": node,
                    "device": f"gpu-{g}",
                }
                for g in gpus
            ]
        }
    }
    if pinned:
        allocation["nodeSelector"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]
        }
    return allocation


def _claim_spec(gpus: int) -> Obj:
    return {
        "devices": {
            "requests": [
                {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": gpus}}
            ]
        }
    }


def gpu_pod(
    name: str,
    *,
    gpus: int = 1,
    namespace: str = "default",
    cpu: str = "1",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    priority: int | None = None,
    node: str | None = None,
    version: str = "1",
) -> tuple[Obj, Obj | None]:
    """A pod with a ResourceClaim of ``gpus`` GPUs (named ``<pod>-gpu``; none when 0), as
    the API serves it (uid, resourceVersion), and that claim."""
    spec: Obj = {
        "schedulerName": "tessera",
        "containers": [{"name": "main", "resources": {"requests": {"cpu": cpu}}}],
    }
    if priority is not None:
        spec["priority"] = priority
    if node is not None:
        spec["nodeName"] = node
    claim: Obj | None = None
    if gpus:
        spec["resourceClaims"] = [{"name": "gpu", "resourceClaimName": f"{name}-gpu"}]
        spec["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
        claim = {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaim",
            "metadata": {
                "name": f"{name}-gpu",
                "namespace": namespace,
                "uid": f"uid-claim-{namespace}-{name}",
            },
            "spec": _claim_spec(gpus),
        }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "resourceVersion": version,
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "spec": spec,
        "status": {"phase": "Running" if node else "Pending"},
    }
    return pod, claim


def pods_and_claims(pairs: Iterable[tuple[Obj, Obj | None]]) -> list[Obj]:
    """The objects of :func:`gpu_pod` results, flattened."""
    out: list[Obj] = []
    for pod, claim in pairs:
        out.append(pod)
        if claim is not None:
            out.append(claim)
    return out


class Served:
    """A running ``tessera serve`` app (a context manager) over a snapshot directory, or over
    a ``state`` the caller feeds (informers)."""

    def __init__(
        self,
        snapshot: Path | None,
        *,
        state: ClusterState | None = None,
        informers: InformersLike | None = None,
        profile: Profile | None = None,
        gang_hold: float = 5.0,
        gang_ttl: float = 60.0,
        max_body_bytes: int = 1 << 20,
        prefix: str = "/",
        writer: BindingWriter | None = None,
        evictions: EvictionWriter | None = None,
    ) -> None:
        self.state = state or ClusterState(features=FEATURES)
        if snapshot is not None:
            self.state.load_snapshot(snapshot)
        self.webhook: Webhook = build_webhook(
            self.state,
            profile or replay_profile("tessera", device_choice="first-fit"),
            writer or InMemoryBindings(self.state),
            gang_hold=gang_hold,
            gang_ttl=gang_ttl,
            informers=informers,
            evictions=evictions,
        )
        self.options = ServeOptions(
            port=0,
            prefix=prefix,
            gang_hold=gang_hold,
            max_body_bytes=max_body_bytes,
            log_level="warning",
        )
        self.prefix = prefix.rstrip("/")
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.client: httpx.Client | None = None

    def __enter__(self) -> Served:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            async def main() -> None:
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()

                def started(servers: Sequence[Any]) -> None:
                    port = servers[0].servers[0].sockets[0].getsockname()[1]
                    self.url = f"http://127.0.0.1:{port}"
                    ready.set()

                await serve(self.webhook, self.options, started=started, stop=self._stop)

            try:
                asyncio.run(main())
            except BaseException as err:
                failure.append(err)
                ready.set()

        self._thread = threading.Thread(target=run, name="tessera-serve-test", daemon=True)
        self._thread.start()
        if not ready.wait(30) or failure:
            raise RuntimeError(f"tessera serve did not start: {failure}")
        self.client = httpx.Client(base_url=self.url, timeout=30.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def path(self, verb: str) -> str:
        """The URL path of a verb under the prefix."""
        return f"{self.prefix}/{verb}"

    def post(self, verb: str, payload: Any, **kwargs: Any) -> httpx.Response:
        """POST a JSON payload (or raw bytes) to a verb."""
        assert self.client is not None
        content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return self.client.post(
            self.path(verb),
            content=content,
            headers={"Content-Type": "application/json"},
            **kwargs,
        )


def filter_args(pod: Obj, names: Sequence[str]) -> Obj:
    """An ``ExtenderArgs`` in node-cache mode."""
    return {"Pod": pod, "Nodes": None, "NodeNames": list(names)}


def bind_args(pod: Obj, node: str) -> Obj:
    """An ``ExtenderBindingArgs`` for ``pod``."""
    meta = pod["metadata"]
    return {
        "PodName": meta["name"],
        "PodNamespace": meta.get("namespace", "default"),
        "PodUID": meta["uid"],
        "Node": node,
    }
