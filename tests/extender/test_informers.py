"""The extender's informers against the API facade, through the unmodified official client.

Each test serves the two-rack H100 spec in-process on a loopback port (an ASGI gate in front
of the app records every request and can hide API groups, as a cluster without a CRD would)
and runs :class:`~scheduler.extender.informers.Informers` into a recording sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from kubernetes import config

from scheduler.extender.informers import (
    ALL_KINDS,
    KINDS,
    SHORT_WATCH_SECONDS,
    Backoff,
    Informers,
    choose_version,
    item_batches,
    list_metadata,
    parse_group_list,
)
from simulator.apiserver.cluster import ServedCluster
from simulator.apiserver.resources import TABLE
from simulator.apiserver.server import ApiServer
from simulator.apiserver.store import Store
from simulator.backend import SimulatedCluster
from simulator.clusters import load_cluster

SPEC = Path(__file__).resolve().parents[2] / "traces/clusters/two-rack-h100-dynamic-mig.yaml"
LWS_GROUP = "leaderworkerset.x-k8s.io"
PODGROUP_GROUP = "scheduling.x-k8s.io"
PLURAL = {spec.kind: spec.plural for spec in KINDS.values()}

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Message, Receive, Send], Awaitable[None]]


# -- the served API ---------------------------------------------------------------------------
class Gate:
    """ASGI middleware: records (path, query) of every request; answers 404 for the API
    groups in ``hidden`` and leaves them out of the ``/apis`` discovery document."""

    def __init__(self) -> None:
        self.hidden: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []

    def wrap(self, app: ASGI) -> ASGI:
        async def asgi(scope: Message, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            path: str = scope["path"]
            query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode(), True).items()}
            self.requests.append((path, query))
            parts = path.split("/")
            if len(parts) > 2 and parts[1] == "apis" and parts[2] in self.hidden:
                await _answer(send, 404, _status(404, "NotFound"))
                return
            if path.rstrip("/") != "/apis" or not self.hidden:
                await app(scope, receive, send)
                return
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await app(scope, receive, capture)
            body = b"".join(m.get("body", b"") for m in captured[1:])
            document = orjson.loads(body)
            document["groups"] = [g for g in document["groups"] if g["name"] not in self.hidden]
            await _answer(send, captured[0]["status"], orjson.dumps(document))

        return asgi

    def lists(self, plural: str) -> list[dict[str, str]]:
        """Queries of the list requests for ``plural``."""
        return [q for p, q in self.requests if p.endswith(f"/{plural}") and "watch" not in q]

    def watches(self, plural: str) -> list[dict[str, str]]:
        """Queries of the watch requests for ``plural``."""
        return [q for p, q in self.requests if p.endswith(f"/{plural}") and "watch" in q]


def _status(code: int, reason: str) -> bytes:
    return orjson.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "the server could not find the requested resource",
            "reason": reason,
            "code": code,
        }
    )


async def _answer(send: Any, code: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Api:
    """A served cluster that can be stopped and started again on the same port."""

    cluster: ServedCluster
    tmp: Path
    bookmarks: float
    gate: Gate = field(default_factory=Gate)
    server: ApiServer | None = None
    port: int = 0

    def start(self) -> Api:
        self.server = ApiServer(
            self.cluster,
            port=self.port,
            bookmark_interval=self.bookmarks,
            rv_wait=0.2,
            wrap=self.gate.wrap,
        ).start()
        self.port = self.server.port
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self) -> Any:
        assert self.server is not None
        path = self.server.write_kubeconfig(self.tmp / "kubeconfig")
        return config.new_client_from_config(str(path))

    @property
    def store(self) -> Store:
        return self.cluster.store

    def create(self, kind: str, name: str, **extra: Any) -> int:
        """Create an object of ``kind`` in the store (namespace ``default`` when namespaced);
        its resourceVersion."""
        resource = self.cluster.resource(PLURAL[kind])
        meta: dict[str, Any] = {"name": name, "labels": {"test": "informers"}}
        if resource.namespaced:
            meta["namespace"] = "default"
        obj = {"apiVersion": resource.group_version, "kind": kind, "metadata": meta, **extra}
        return self.store.create(resource, obj).rv

    def update(self, kind: str, name: str, label: str) -> int:
        resource = self.cluster.resource(PLURAL[kind])
        namespace = "default" if resource.namespaced else ""
        entry = self.store.get(resource, namespace, name)
        assert entry is not None
        obj = entry.obj()
        obj["metadata"]["labels"]["v"] = label
        return self.store.update(resource, obj).rv

    def delete(self, kind: str, name: str) -> int:
        resource = self.cluster.resource(PLURAL[kind])
        namespace = "default" if resource.namespaced else ""
        return self.store.delete(resource, namespace, name).rv

    def stored(self, kind: str) -> dict[str, dict[str, Any]]:
        """The store's objects of ``kind`` by namespace/name, as served JSON."""
        entries = self.store.list_page(self.cluster.resource(PLURAL[kind]), "").entries
        return {_key(orjson.loads(e.raw)): orjson.loads(e.raw) for e in entries}


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


POD_SPEC = {"spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Serve a fresh two-rack cluster: ``make_api(capacity=..., bookmarks=...)``."""
    made: list[Api] = []

    def make(
        *, capacity: int = 10_000, bookmarks: float = 60.0, hidden: tuple[str, ...] = ()
    ) -> Api:
        loaded = load_cluster(SPEC, templated=True)
        cluster = ServedCluster(Store(TABLE, capacity=capacity), SimulatedCluster(loaded.cache))
        cluster.load_cluster(loaded)
        api = Api(cluster, tmp_path, bookmarks)
        api.gate.hidden.update(hidden)
        made.append(api.start())
        return api

    yield make
    for api in made:
        api.stop()


# -- sinks ------------------------------------------------------------------------------------
class Recorder:
    """A sink that records every call and keeps each kind's current objects (locked)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.calls: list[tuple[Any, ...]] = []
        self.state: dict[str, dict[str, dict[str, Any]]] = {}
        self.threads: set[str] = set()

    def replace(self, kind: str, objects: list[dict[str, Any]], resource_version: str) -> None:
        with self.cond:
            self.threads.add(threading.current_thread().name)
            self.calls.append(("replace", kind, len(objects), resource_version))
            self.state[kind] = {_key(o): o for o in objects}
            self.cond.notify_all()

    def apply(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        with self.cond:
            self.threads.add(threading.current_thread().name)
            meta = obj["metadata"]
            self.calls.append(("apply", kind, event_type, _key(obj), meta["resourceVersion"]))
            objects = self.state.setdefault(kind, {})
            if event_type == "DELETED":
                objects.pop(_key(obj), None)
            else:
                objects[_key(obj)] = obj
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def of(self, kind: str, what: str) -> list[tuple[Any, ...]]:
        with self.cond:
            return [c for c in self.calls if c[0] == what and c[1] == kind]

    def names(self, kind: str) -> set[str]:
        with self.cond:
            return set(self.state.get(kind, {}))


class PagedRecorder(Recorder):
    """A :class:`Recorder` that takes lists page by page."""

    def __init__(self, on_page: Callable[[str, bool], None] | None = None) -> None:
        super().__init__()
        self.pages: list[tuple[str, int, str, bool, bool]] = []
        self._building: dict[str, dict[str, dict[str, Any]]] = {}
        self._on_page = on_page

    def replace_page(
        self,
        kind: str,
        objects: list[dict[str, Any]],
        resource_version: str,
        *,
        first: bool,
        last: bool,
    ) -> None:
        if self._on_page is not None:
            self._on_page(kind, first)
        with self.cond:
            self.pages.append((kind, len(objects), resource_version, first, last))
            if first:
                self._building[kind] = {}
            self._building[kind].update({_key(o): o for o in objects})
            if last:
                self.state[kind] = self._building.pop(kind)
                self.calls.append(("replace", kind, len(self.state[kind]), resource_version))
            self.cond.notify_all()


class RecordingBackoff(Backoff):
    """client-go's policy without jitter, scaled down, recording each delay."""

    def __init__(self, delays: list[float]) -> None:
        super().__init__(0.05, 0.4, rng=lambda: 0.0)
        self.delays = delays

    def next(self) -> float:
        delay = super().next()
        self.delays.append(delay)
        return delay


@pytest.fixture
def informers() -> Iterator[Callable[..., Informers]]:
    """Build informers (stopped at teardown): ``informers(api, sink, **options)``."""
    made: list[Informers] = []

    def make(api: Api, sink: Any, kinds: tuple[str, ...] = ALL_KINDS, **options: Any) -> Informers:
        options.setdefault("backoff", lambda: Backoff(0.05, 0.4))
        options.setdefault("freeze_gc", False)
        inf = Informers(api.client(), sink, kinds, **options)
        made.append(inf)
        return inf

    yield make
    for inf in made:
        inf.stop()


# -- tests ------------------------------------------------------------------------------------
def test_initial_sync_delivers_every_kind_as_served(
    make_api: Callable[..., Api], informers: Any
) -> None:
    """Every kind is listed once, into one replace with the server's full set at the list's
    version; the objects are the served JSON as plain dicts; each kind from its own thread."""
    api = make_api()
    api.create("LeaderWorkerSet", "lws-a", spec={"replicas": 1})
    api.create("PodGroup", "pg-a", spec={"minMember": 2})
    api.create("Pod", "pod-a", **POD_SPEC)
    api.create("ResourceClaimTemplate", "tpl-a", spec={"spec": {"devices": {"requests": []}}})
    api.create("ResourceClaim", "claim-a", spec={"devices": {"requests": []}})
    api.create("PriorityClass", "batch-low", value=100)
    sink = Recorder()
    inf = informers(api, sink)
    assert not inf.synced()
    assert inf.last_event_age() is None
    inf.start()
    assert inf.wait_synced(10)
    rv = str(api.store.rv)
    for kind in ALL_KINDS:
        stored = api.stored(kind)
        assert stored, kind
        assert sink.of(kind, "replace") == [("replace", kind, len(stored), rv)]
        assert sink.state[kind] == stored, kind
    assert len(api.stored("ResourceSlice")) == 288
    assert sink.threads == {f"informer-{kind}" for kind in ALL_KINDS}
    age = inf.last_event_age()
    assert age is not None and 0 <= age < 5


def test_lists_are_paginated_and_delivered_page_by_page(
    make_api: Callable[..., Api], informers: Any
) -> None:
    """page_size bounds every list request; pages follow the continue tokens and reach a
    paged sink as they arrive, a page split into batches of about batch_bytes of JSON
    (first/last flags, one version), never as one big replace."""
    api = make_api()
    sink = PagedRecorder()
    inf = informers(api, sink, ("Node", "ResourceSlice"), page_size=10, batch_bytes=64 * 1024)
    inf.start()
    assert inf.wait_synced(10)
    node_lists = api.gate.lists("nodes")
    assert [q.get("limit") for q in node_lists] == ["10"] * 4
    assert node_lists[0].get("resourceVersion") == "" and "continue" not in node_lists[0]
    assert all("continue" in q and "resourceVersion" not in q for q in node_lists[1:])
    rv = str(api.store.rv)
    node_pages = [p for p in sink.pages if p[0] == "Node"]
    assert node_pages == [
        ("Node", 10, rv, True, False),
        ("Node", 10, rv, False, False),
        ("Node", 10, rv, False, False),
        ("Node", 6, rv, False, True),
    ]
    assert len(api.gate.lists("resourceslices")) == 29
    slice_batches = [p for p in sink.pages if p[0] == "ResourceSlice"]
    assert sum(p[1] for p in slice_batches) == 288
    assert len(slice_batches) > 29  # 10 slices of ~25 KB make several 64 KiB batches
    assert max(p[1] for p in slice_batches) <= 4
    assert [p[3] for p in slice_batches] == [True] + [False] * (len(slice_batches) - 1)
    assert [p[4] for p in slice_batches] == [False] * (len(slice_batches) - 1) + [True]
    assert {p[2] for p in slice_batches} == {rv}
    assert sink.state["ResourceSlice"] == api.stored("ResourceSlice")


def test_expired_continue_token_restarts_the_list(
    make_api: Callable[..., Api], informers: Any
) -> None:
    """Writes that outrun the event log between two pages expire the continue token (410):
    the list starts again from its first page and the sink ends with the current set."""
    api = make_api(capacity=5)
    for i in range(12):
        api.create("Pod", f"p{i:02d}", **POD_SPEC)
    writes = iter(range(100))

    def on_page(kind: str, first: bool) -> None:
        if kind == "Pod" and first and len([p for p in sink.pages if p[3]]) == 0:
            for _ in range(8):  # more than the log holds: the first page's version expires
                api.update("Pod", "p00", str(next(writes)))

    sink = PagedRecorder(on_page)
    inf = informers(api, sink, ("Pod",), page_size=5)
    inf.start()
    assert inf.wait_synced(10)
    firsts = [p for p in sink.pages if p[3]]
    assert len(firsts) == 2, sink.pages
    assert firsts[1][2] == str(api.store.rv) and firsts[0][2] != firsts[1][2]
    assert sink.state["Pod"] == api.stored("Pod")
    assert sink.state["Pod"]["default/p00"]["metadata"]["labels"]["v"] == "7"


def test_a_failing_sink_call_relists_after_backoff(
    make_api: Callable[..., Api], informers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink that raises while taking a list (the page fetcher still reading ahead) gets
    the error logged with its traceback, and the kind is listed again from the start."""
    api = make_api()
    failures = iter([True])

    def on_page(kind: str, first: bool) -> None:
        if kind == "ResourceSlice" and next(failures, False):
            raise RuntimeError("sink broke")

    sink = PagedRecorder(on_page)
    inf = informers(api, sink, ("ResourceSlice",), page_size=20)
    inf.start()
    assert inf.wait_synced(10)
    assert sink.state["ResourceSlice"] == api.stored("ResourceSlice")
    assert [p[3] for p in sink.pages].count(True) == 1  # the failed call recorded nothing
    assert api.gate.lists("resourceslices")[0].get("resourceVersion") == ""
    restarts = [q for q in api.gate.lists("resourceslices") if "continue" not in q]
    assert len(restarts) == 2
    assert any("sink broke" in (r.exc_text or "") for r in caplog.records)


def test_events_are_delivered_in_order(make_api: Callable[..., Api], informers: Any) -> None:
    """ADDED, MODIFIED and DELETED reach apply() in the order written, each with its own
    version; the sink's state then equals the server's."""
    api = make_api()
    sink = Recorder()
    inf = informers(api, sink, ("Pod", "Node"))
    inf.start()
    assert inf.wait_synced(10)
    expected: list[tuple[Any, ...]] = []

    def expect(event: str, name: str, rv: int) -> None:
        expected.append(("apply", "Pod", event, f"default/{name}", str(rv)))

    for i in range(30):
        expect("ADDED", f"e{i:02d}", api.create("Pod", f"e{i:02d}", **POD_SPEC))
    for i in range(0, 30, 3):
        expect("MODIFIED", f"e{i:02d}", api.update("Pod", f"e{i:02d}", "x"))
    for i in range(0, 30, 5):
        expect("DELETED", f"e{i:02d}", api.delete("Pod", f"e{i:02d}"))
    assert sink.wait(lambda: len(sink.of("Pod", "apply")) >= len(expected))
    assert sink.of("Pod", "apply") == expected
    assert sink.of("Node", "apply") == []
    assert sink.state["Pod"] == api.stored("Pod")
    assert len(sink.of("Pod", "replace")) == 1


def test_bookmarks_advance_the_version_and_are_not_delivered(
    make_api: Callable[..., Api], informers: Any
) -> None:
    """With writes to other kinds only, a pod watch sees bookmarks: nothing reaches the
    sink, and the next watch (after the server's timeout) resumes from the bookmark's
    version, not the list's — no re-list."""
    api = make_api(bookmarks=0.2)
    sink = Recorder()
    inf = informers(api, sink, ("Pod",), min_watch_timeout=1)
    inf.start()
    assert inf.wait_synced(10)
    listed = int(sink.of("Pod", "replace")[0][3])
    for i in range(5):
        api.create("PriorityClass", f"pc{i}", value=i)
    latest = api.store.rv
    deadline = time.monotonic() + 10
    while len(api.gate.watches("pods")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first, second = api.gate.watches("pods")[:2]
    assert first["resourceVersion"] == str(listed)
    assert first["allowWatchBookmarks"] == "true" and 1 <= int(first["timeoutSeconds"]) < 2
    assert int(second["resourceVersion"]) == latest > listed
    assert sink.of("Pod", "apply") == []
    assert len(api.gate.lists("pods")) == 1


def test_server_restart_resumes_the_watch_with_backoff(
    make_api: Callable[..., Api], informers: Any
) -> None:
    """The server goes away (streams cut, connections refused) while pods are written: the
    informer backs off exponentially (0.05 → 0.4 s cap here), then watches again from its
    last version and gets the missed events in order — no re-list."""
    api = make_api()
    sink = Recorder()
    delays: list[float] = []
    inf = informers(api, sink, ("Pod",), backoff=lambda: RecordingBackoff(delays))
    inf.start()
    assert inf.wait_synced(10)
    listed = sink.of("Pod", "replace")[0][3]
    api.stop()
    missed = [api.create("Pod", f"r{i}", **POD_SPEC) for i in range(5)]
    time.sleep(1.5)
    api.start()
    assert sink.wait(lambda: len(sink.of("Pod", "apply")) == 5)
    assert [c[4] for c in sink.of("Pod", "apply")] == [str(rv) for rv in missed]
    assert len(sink.of("Pod", "replace")) == 1
    assert delays[:4] == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert max(delays) == pytest.approx(0.4)
    assert 4 <= len(delays) <= 10  # ~1.5 s of downtime at these delays
    assert api.gate.watches("pods")[-1]["resourceVersion"] == listed
    assert len(api.gate.lists("pods")) == 1


def test_watch_gap_gets_410_and_relists(make_api: Callable[..., Api], informers: Any) -> None:
    """While the server is down, more pods are written than its event log keeps: the
    resumed watch gets an ERROR event with a 410 Status, and the informer lists again —
    the sink gets a second replace with the current set."""
    api = make_api(capacity=10)
    sink = Recorder()
    inf = informers(api, sink, ("Pod", "Node"))
    inf.start()
    assert inf.wait_synced(10)
    listed = sink.of("Pod", "replace")[0][3]
    # the stopping server ends its watches cleanly: one younger than SHORT_WATCH_SECONDS
    # without events would be re-listed by client-go's "very short watch" rule instead
    time.sleep(SHORT_WATCH_SECONDS + 0.2)
    api.stop()
    for i in range(25):
        api.create("Pod", f"g{i:02d}", **POD_SPEC)
    api.start()
    assert sink.wait(lambda: len(sink.of("Pod", "replace")) == 2)
    assert sink.of("Pod", "replace")[1] == ("replace", "Pod", 25, str(api.store.rv))
    assert sink.state["Pod"] == api.stored("Pod")
    assert sink.of("Pod", "apply") == []
    assert any(q["resourceVersion"] == listed for q in api.gate.watches("pods")[1:])
    assert len(api.gate.lists("pods")) == 2
    assert len(sink.of("Node", "replace")) == 1  # nodes had no gap: resumed, not re-listed


def test_missing_crds_count_as_synced_and_are_picked_up_later(
    make_api: Callable[..., Api], informers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the LWS and PodGroup CRDs, those kinds are synced with no objects (one log
    line each, however often discovery is checked); once the group is served, the kind is
    listed and watched like the others."""
    api = make_api(hidden=(LWS_GROUP, PODGROUP_GROUP))
    api.create("LeaderWorkerSet", "lws-a", spec={"replicas": 1})
    sink = Recorder()
    caplog.set_level(logging.INFO, logger="scheduler.extender.informers")
    inf = informers(api, sink, ("Node", "LeaderWorkerSet", "PodGroup"), recheck_interval=0.1)
    inf.start()
    assert inf.wait_synced(10)
    assert sink.of("LeaderWorkerSet", "replace") == [("replace", "LeaderWorkerSet", 0, "")]
    assert sink.of("PodGroup", "replace") == [("replace", "PodGroup", 0, "")]
    time.sleep(0.6)
    assert sum(1 for p, _ in api.gate.requests if p.rstrip("/") == "/apis") >= 3  # re-checked
    not_served = [r.getMessage() for r in caplog.records if "is not served" in r.getMessage()]
    assert len(not_served) == 2
    assert not any(p.startswith(f"/apis/{LWS_GROUP}") for p, _ in api.gate.requests)
    api.gate.hidden.discard(LWS_GROUP)
    assert sink.wait(lambda: len(sink.of("LeaderWorkerSet", "replace")) == 2)
    assert sink.names("LeaderWorkerSet") == {"default/lws-a"}
    rv = api.create("LeaderWorkerSet", "lws-b", spec={"replicas": 2})
    assert sink.wait(lambda: sink.names("LeaderWorkerSet") == {"default/lws-a", "default/lws-b"})
    assert sink.of("LeaderWorkerSet", "apply")[-1][4] == str(rv)
    assert sink.of("PodGroup", "replace") == [("replace", "PodGroup", 0, "")]


def test_stop_is_prompt_in_watches_and_in_backoff(
    make_api: Callable[..., Api], informers: Any
) -> None:
    """stop() cuts open watches and ends backoff waits at once, and joins every thread."""
    api = make_api()
    inf = informers(api, Recorder())
    inf.start()
    assert inf.wait_synced(10)
    time.sleep(0.2)  # every kind is in its watch
    start = time.monotonic()
    inf.stop()
    assert time.monotonic() - start < 1.0
    assert not any(t.name.startswith("informer-") for t in threading.enumerate())

    slow = informers(api, Recorder(), ("Node",), backoff=lambda: Backoff(30.0, 30.0))
    api.stop()  # nothing listens any more: connection refused
    slow.start()
    time.sleep(0.3)  # the first list failed; the thread waits ≥ 30 s
    start = time.monotonic()
    slow.stop()
    assert time.monotonic() - start < 1.0
    assert not slow.synced()


def test_last_event_age_grows_while_idle(make_api: Callable[..., Api], informers: Any) -> None:
    """last_event_age() is None before any data, then the seconds since the last event."""
    api = make_api()
    sink = Recorder()
    inf = informers(api, sink, ("Pod",))
    inf.start()
    assert inf.wait_synced(10)
    api.create("Pod", "age", **POD_SPEC)
    assert sink.wait(lambda: len(sink.of("Pod", "apply")) == 1)
    fresh = inf.last_event_age()
    time.sleep(0.3)
    later = inf.last_event_age()
    assert fresh is not None and later is not None and later >= fresh + 0.25


# -- units --------------------------------------------------------------------------------------
def test_backoff_is_client_go_reflector_policy() -> None:
    """0.8 s doubling to a 30 s cap, jitter up to +100 %, reset after 2 min of quiet."""
    now = [0.0]
    rolls = iter([0.0, 0.5, 0.999] + [0.0] * 20)
    backoff = Backoff(rng=lambda: next(rolls), clock=lambda: now[0])
    first = [backoff.next() for _ in range(3)]
    assert first == pytest.approx([0.8, 1.6 * 1.5, 3.2 * 1.999])
    steps = [backoff.next() for _ in range(6)]
    assert steps == pytest.approx([6.4, 12.8, 25.6, 30.0, 30.0, 30.0])
    now[0] += 121.0
    assert backoff.next() == pytest.approx(0.8)


def test_version_choice_and_discovery_parsing() -> None:
    """DRA kinds take v1, else v1beta2, else v1beta1; a missing group is None."""
    document = {
        "kind": "APIGroupList",
        "groups": [
            {
                "name": "resource.k8s.io",
                "versions": [
                    {"groupVersion": "resource.k8s.io/v1beta1", "version": "v1beta1"},
                    {"groupVersion": "resource.k8s.io/v1beta2", "version": "v1beta2"},
                ],
            },
            {
                "name": "scheduling.k8s.io",
                "versions": [{"groupVersion": "scheduling.k8s.io/v1", "version": "v1"}],
            },
        ],
    }
    served = parse_group_list(orjson.dumps(document))
    assert served["resource.k8s.io"] == ("v1beta1", "v1beta2")
    assert choose_version(KINDS["ResourceSlice"], served) == "v1beta2"
    assert choose_version(KINDS["ResourceSlice"], {"resource.k8s.io": ("v1beta1",)}) == "v1beta1"
    assert choose_version(KINDS["ResourceSlice"], {"resource.k8s.io": ("v1", "v1beta2")}) == "v1"
    assert choose_version(KINDS["PriorityClass"], served) == "v1"
    assert choose_version(KINDS["LeaderWorkerSet"], served) is None
    assert choose_version(KINDS["Node"], {}) == "v1"


def test_unknown_kind_is_refused() -> None:
    """A kind the informers do not know is a ValueError naming it."""
    with pytest.raises(ValueError, match="unknown informer kind 'Deployment'"):
        Informers(object(), Recorder(), ("Node", "Deployment"))


def _list_body(items: list[dict[str, Any]], **meta: Any) -> bytes:
    return orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})


def test_item_batches_split_items_and_survive_false_separators() -> None:
    """Items are parsed one by one into byte-bounded batches; nested lists of objects that
    begin like the items (a false separator), items that do not come last, and an empty
    list all give exactly the list's items."""
    plain = [{"metadata": {"name": f"p{i}"}, "spec": {"n": i, "s": "x" * 100}} for i in range(50)]
    body = _list_body(plain, resourceVersion="7", continue_="")
    batches = list(item_batches(body, 1024))
    assert [o for b in batches for o in b] == plain
    assert 1 < len(batches) < 50 and all(len(b) <= 8 for b in batches)
    assert list_metadata(body) == {"resourceVersion": "7", "continue_": ""}

    nested = [
        {
            "metadata": {"name": "a"},
            "x": [{"metadata": {"name": "b"}}, {"metadata": {"name": "c"}}],
        },
        *plain[:5],
    ]
    tricky = _list_body([plain[0], *nested, {"metadata": {"name": "q", "note": '},{"metadata"'}}])
    assert [o for b in item_batches(tricky, 1) for o in b] == orjson.loads(tricky)["items"]

    items_first = orjson.dumps({"items": plain[:3], "metadata": {"resourceVersion": "9"}})
    assert [o for b in item_batches(items_first, 1) for o in b] == plain[:3]
    assert list_metadata(items_first) == {"resourceVersion": "9"}
    assert list(item_batches(_list_body([]), 1024)) == []
