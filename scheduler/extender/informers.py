"""Informers: list, then watch, the kinds the extender caches, into a sink of raw API dicts.

Each kind is kept in step with the API server the way client-go's reflector keeps a store
(``k8s.io/client-go/tools/cache/reflector.go``; see docs/extender.md, *Informers*):

1. **List** — a paginated ``GET`` (``limit`` = ``page_size``, then ``continue`` until the
   server stops returning one), always at ``resourceVersion=""`` (a consistent read: the
   list is never older than anything seen before). A page whose ``continue`` token has
   expired (410) restarts the list from its first page. The list's ``resourceVersion`` is
   the version every page was read at. The sink receives the whole set (see *Delivery*).
2. **Watch** from that version with ``allowWatchBookmarks=true`` and ``timeoutSeconds``
   random in [``min_watch_timeout``, 2 × ``min_watch_timeout``) (client-go: 5–10 min).
   ADDED / MODIFIED / DELETED events go to :meth:`InformerSink.apply` in stream order, and
   each one's ``metadata.resourceVersion`` becomes the version to resume from; BOOKMARK
   events only advance that version (they are never delivered).
3. **Recovery**:

   * the stream ends cleanly (the server's timeout) → watch again at once from the last
     version; a watch that ended within 1 s without a single event counts as a failure
     (client-go's "very short watch");
   * the stream drops (connection reset, truncated chunk, read timeout) or the watch
     request cannot be sent (connection refused, 429) → back off, then watch again from
     the last version: the server replays what was missed, or answers 410;
   * an ERROR event or a failed watch request with 410 Gone/Expired (the version is older
     than the server's history), any other error Status, or a failed list → back off,
     then list again (the sink gets a fresh full set).

   The backoff is client-go's reflector policy (:class:`Backoff`): 0.8 s doubling to a 30 s
   cap, each delay stretched by up to 100 % random jitter, back to 0.8 s after 2 min
   without a backoff.

**Group versions.** Node and Pod are core ``v1``; PriorityClass ``scheduling.k8s.io/v1``;
the DRA kinds ``resource.k8s.io`` at the first of ``v1``, ``v1beta2``, ``v1beta1`` that
the server serves; LeaderWorkerSet ``leaderworkerset.x-k8s.io/v1``; PodGroup
``scheduling.x-k8s.io/v1alpha1`` (scheduler-plugins). Served versions come from one
``GET /apis`` (the legacy ``APIGroupList``), fetched by the first kind that needs it and
shared. A kind whose group version is not served (its CRD is not installed) counts as
synced with no objects: the sink gets ``replace(kind, [], "")``, one INFO line is logged,
and discovery is fetched again every ``recheck_interval`` seconds until it is served (then
it is listed and watched like the others). A 404 on a kind's list or watch refreshes
discovery the same way (a CRD removed at run time empties the kind).

**Delivery and threads.** One thread per kind; a kind's sink calls come from its thread
only, in order, but **different kinds call the sink concurrently — the sink must lock**.
Objects are the server's JSON parsed by orjson into plain dicts (camelCase, as served;
never client model objects), each carrying ``apiVersion`` and ``kind`` (filled in when a
list omits them, as kube-apiserver does for built-in types); the sink owns them. A sink
that also implements :class:`PagedInformerSink` receives a list in parts as it arrives
(``replace_page``: batches of about ``batch_bytes`` of JSON) instead of one ``replace``
with everything: a sink that converts objects into its own models and drops the dicts
never holds the whole list (45,000 DRA ResourceSlices of the benchmark cluster are ~25 KB
of JSON and ~200 KB of Python objects each: ~9 GB if held at once). The informers keep no
copy of any object.

**Performance.** A helper thread reads each list page whole with the official client
(``_preload_content=False``) one page ahead, while the kind's thread parses the previous
one. Items are parsed one by one with orjson (:func:`item_batches`), delivered in small
batches and dropped: parsing a 12 MB page at once and dropping it makes CPython hand its
~100 MB of objects back to the system and fault them in again for the next page, which
doubles the CPU cost; small batches reuse the same memory. The cyclic garbage collector
is paused while any list is being parsed and delivered (a list creates millions of
containers, none of them garbage), and — unless ``freeze_gc=False`` — ``gc.freeze()``
moves what exists when every kind has first synced (the sink's state) out of the
collector's sight.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson
import urllib3
from kubernetes import client as k8s

__all__ = [
    "ALL_KINDS",
    "KINDS",
    "Backoff",
    "InformerSink",
    "Informers",
    "KindSpec",
    "PagedInformerSink",
    "choose_version",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Where a kind is served: API group (``""`` = core), versions in order of preference,
    and the resource's plural name."""

    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str


_DRA = ("v1", "v1beta2", "v1beta1")
KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec("Node", "", ("v1",), "nodes"),
        KindSpec("Pod", "", ("v1",), "pods"),
        KindSpec("PriorityClass", "scheduling.k8s.io", ("v1",), "priorityclasses"),
        KindSpec("DeviceClass", "resource.k8s.io", _DRA, "deviceclasses"),
        KindSpec("ResourceSlice", "resource.k8s.io", _DRA, "resourceslices"),
        KindSpec("ResourceClaim", "resource.k8s.io", _DRA, "resourceclaims"),
        KindSpec("ResourceClaimTemplate", "resource.k8s.io", _DRA, "resourceclaimtemplates"),
        KindSpec("LeaderWorkerSet", "leaderworkerset.x-k8s.io", ("v1",), "leaderworkersets"),
        KindSpec("PodGroup", "scheduling.x-k8s.io", ("v1alpha1",), "podgroups"),
    )
}
"""The kinds the informers can follow."""

ALL_KINDS: tuple[str, ...] = tuple(KINDS)
"""Every kind in :data:`KINDS`, in that order."""

SHORT_WATCH_SECONDS = 1.0
"""A watch that ends cleanly sooner than this without any event is a failure (client-go)."""


class InformerSink(Protocol):
    """Where the informers deliver; called from several threads (one per kind): lock."""

    def replace(self, kind: str, objects: list[Obj], resource_version: str) -> None:
        """The full set of ``kind`` after a (re)list, at ``resource_version`` (``""`` and no
        objects for a kind the server does not serve)."""

    def apply(self, kind: str, event_type: str, obj: Obj) -> None:
        """One watch event: ``ADDED``, ``MODIFIED`` or ``DELETED`` (the object's last state,
        with the deletion's resourceVersion), as the raw camelCase API dict."""


@runtime_checkable
class PagedInformerSink(InformerSink, Protocol):
    """A sink that takes a list in parts (used instead of ``replace`` when present)."""

    def replace_page(
        self, kind: str, objects: list[Obj], resource_version: str, *, first: bool, last: bool
    ) -> None:
        """The next part of a (re)list of ``kind``, in the server's order (a server page
        is delivered as one or more parts). ``first``: a new list starts — drop any
        unfinished one (a list restarts from its first page when its continue token
        expires). ``last``: the parts since the last ``first`` are the full set at
        ``resource_version`` — replace the kind's state with them. Every part of one list
        carries the same ``resource_version``; a list in one part is ``first`` and
        ``last``; an empty list is one empty part."""


# -- backoff ------------------------------------------------------------------------------------
class Backoff:
    """client-go's reflector backoff: ``wait.NewExponentialBackoffManager(800ms, 30s, 2m,
    2.0, 1.0)`` (k8s.io/apimachinery ``pkg/util/wait/backoff.go``).

    Each :meth:`next` returns the current step stretched by jitter — ``d + rand × jitter ×
    d``, so [d, 2d) — then multiplies the step by ``factor`` up to ``cap``. When more than
    ``reset_after`` seconds have passed since the previous :meth:`next`, the step starts
    again at ``initial``. ``rng`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial, self.cap, self.factor = initial, cap, factor
        self.jitter, self.reset_after = jitter, reset_after
        self._rng, self._clock = rng, clock
        self._step = initial
        self._last = clock()

    def next(self) -> float:
        """The delay before the next attempt, in seconds."""
        now = self._clock()
        if now - self._last > self.reset_after:
            self._step = self.initial
        self._last = now
        delay = self._step
        self._step = min(self._step * self.factor, self.cap)
        return delay + self._rng() * self.jitter * delay if self.jitter > 0 else delay


# -- group versions -----------------------------------------------------------------------------
def choose_version(spec: KindSpec, served: Mapping[str, Sequence[str]]) -> str | None:
    """The version to use for ``spec``: its first preferred version that ``served`` (group ->
    versions, from discovery) lists, or None when the group serves none of them. The core
    group is always served."""
    if not spec.group:
        return spec.versions[0]
    versions = served.get(spec.group, ())
    return next((v for v in spec.versions if v in versions), None)


def parse_group_list(body: bytes) -> dict[str, tuple[str, ...]]:
    """An ``APIGroupList`` document as group -> served versions."""
    document = orjson.loads(body)
    out: dict[str, tuple[str, ...]] = {}
    for group in document.get("groups") or ():
        name = group.get("name")
        if isinstance(name, str):
            out[name] = tuple(
                v["version"] for v in group.get("versions") or () if isinstance(v, dict)
            )
    return out


class _Discovery:
    """The server's API groups (``GET /apis``), fetched once and refreshed on demand."""

    def __init__(self, api_client: Any, timeout: tuple[float, float]) -> None:
        self._api = api_client
        self._timeout = timeout
        self._lock = threading.Lock()
        self._groups: dict[str, tuple[str, ...]] | None = None
        self._fetched = 0.0

    def groups(self, max_age: float | None = None) -> dict[str, tuple[str, ...]]:
        """Group -> served versions; fetched when never fetched or older than ``max_age``
        (concurrent callers share one fetch). Raises what the request raises."""
        with self._lock:
            stale = max_age is not None and time.monotonic() - self._fetched > max_age
            if self._groups is None or stale:
                apis: Any = k8s.ApisApi(self._api)  # typed as the model; raw with no preload
                resp = apis.get_api_versions(_preload_content=False, _request_timeout=self._timeout)
                try:
                    body = resp.read()
                finally:
                    resp.release_conn()
                self._groups = parse_group_list(body)
                self._fetched = time.monotonic()
            return self._groups


# -- the collector ------------------------------------------------------------------------------
class _GcPause:
    """Pauses the cyclic collector while any thread is inside (re-entrant across threads);
    restores its previous state when the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


_gc_paused = _GcPause()


# -- errors -------------------------------------------------------------------------------------
class _Stopped(Exception):
    """stop() was called."""


class _Unserved(Exception):
    """404: the kind's group version is not (or no longer) served."""


class _Relist(Exception):
    """The watch cannot resume: back off, then list again."""


class _Rewatch(Exception):
    """The watch could not be opened or its stream dropped: back off, watch from the last
    version — ``resource_version``, the last one the dropped stream delivered (None: the
    version the watch was opened at)."""

    def __init__(self, message: str, resource_version: str | None = None) -> None:
        super().__init__(message)
        self.resource_version = resource_version


class _ListExpired(Exception):
    """A continue token expired (410) during pagination."""


def _status_of(exc: k8s.ApiException) -> tuple[int, str, str]:
    """(code, reason, message) of an ApiException carrying a Status body."""
    reason, message = str(exc.reason or ""), ""
    with contextlib.suppress(Exception):
        status = orjson.loads(exc.body or b"{}")
        reason = str(status.get("reason") or reason)
        message = str(status.get("message") or "")
    return int(exc.status or 0), reason, message


_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)


# -- informers ----------------------------------------------------------------------------------
class Informers:
    """List-then-watch of ``kinds`` into ``sink`` (see the module docstring).

    ``api_client`` is an official ``kubernetes.client.ApiClient`` (auth, TLS and host from
    its configuration). Keep its ``connection_pool_maxsize`` at least the number of kinds
    plus what the caller uses concurrently: each kind holds one connection while it watches.
    ``backoff`` makes one :class:`Backoff` per kind. ``recheck_interval``: seconds between
    discovery checks for a kind that is not served. ``request_timeout``: seconds a list
    page or discovery may go without data (and the connect timeout).
    """

    def __init__(
        self,
        api_client: Any,
        sink: InformerSink,
        kinds: Sequence[str] = ALL_KINDS,
        *,
        page_size: int = 500,
        batch_bytes: int = 64 * 1024,
        min_watch_timeout: float = 300.0,
        request_timeout: float = 60.0,
        recheck_interval: float = 60.0,
        backoff: Callable[[], Backoff] = Backoff,
        freeze_gc: bool = True,
    ) -> None:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown informer kind {unknown[0]!r} (known: {', '.join(KINDS)})")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if min_watch_timeout < 1:
            raise ValueError(f"min_watch_timeout must be at least 1 s, got {min_watch_timeout}")
        self.api_client = api_client
        self.sink = sink
        self.kinds: tuple[str, ...] = tuple(dict.fromkeys(kinds))
        self.page_size = page_size
        self.batch_bytes = batch_bytes
        self.min_watch_timeout = min_watch_timeout
        self.request_timeout = request_timeout
        self.recheck_interval = recheck_interval
        self.freeze_gc = freeze_gc
        self._backoff = backoff
        self._timeout = (request_timeout, request_timeout)
        self._discovery = _Discovery(api_client, self._timeout)
        self._stop = threading.Event()
        self._all_synced = threading.Event()
        self._lock = threading.Lock()
        self._synced: set[str] = set()
        self._active: dict[str, urllib3.BaseHTTPResponse] = {}
        self._threads: list[threading.Thread] = []
        self._last_event: float | None = None
        self._started = False
        # per kind: the resourceVersion its sink has processed up to (None: not served)
        self._reached: dict[str, int | None] = {}
        self._progress = threading.Condition(self._lock)

    # -- public -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start one daemon thread per kind; returns at once. Call once."""
        with self._lock:
            if self._started:
                raise RuntimeError("Informers.start() called twice")
            self._started = True
        for kind in self.kinds:
            reflector = _Reflector(self, KINDS[kind], self._backoff())
            thread = threading.Thread(target=reflector.run, name=f"informer-{kind}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def synced(self) -> bool:
        """Whether every kind has completed its first list (or is not served)."""
        return self._all_synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        """Block until :meth:`synced` or ``timeout`` seconds; returns :meth:`synced`."""
        return self._all_synced.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread: open lists and watches are cut (their sockets shut down) and
        backoff waits end; returns once the threads have exited (or after ``timeout``).
        Idempotent."""
        self._stop.set()
        with self._lock:
            active = list(self._active.values())
        for resp in active:
            _shutdown(resp)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("informer threads still running after stop(): %s", ", ".join(alive))

    def last_event_age(self) -> float | None:
        """Seconds since the API server last sent anything for any kind — a watch event
        (bookmarks included) or a completed list — or None before the first."""
        last = self._last_event
        return None if last is None else time.monotonic() - last

    def reached(self, resource_version: int) -> bool:
        """Whether every kind has synced and its sink has processed everything up to
        ``resource_version`` (its last list, event or bookmark carries at least that version);
        a kind the server does not serve counts as current. resourceVersions are compared as
        the decimal integers tessera's API facade (and etcd) issue; a kind whose version is
        not a number never counts as reached."""
        with self._lock:
            return self._reached_locked(resource_version)

    def wait_reached(self, resource_version: int, timeout: float) -> bool:
        """Block until :meth:`reached` or ``timeout`` seconds; returns :meth:`reached`."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while not self._reached_locked(resource_version):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._progress.wait(min(left, 0.5))
            return True

    def _reached_locked(self, resource_version: int) -> bool:
        if len(self._synced) < len(self.kinds):
            return False
        for kind in self.kinds:
            if kind not in self._reached:
                return False
            version = self._reached[kind]
            if version is not None and version < resource_version:
                return False
        return True

    # -- for the reflectors ------------------------------------------------------------------
    def _advance(self, kind: str, resource_version: str | None) -> None:
        """Record that ``kind``'s sink has processed up to ``resource_version`` (None: the kind
        is not served)."""
        if resource_version is None:
            version: int | None = None
        else:
            try:
                version = int(resource_version)
            except ValueError:
                version = -1
        with self._progress:
            self._reached[kind] = version
            self._progress.notify_all()

    def _touch(self) -> None:
        self._last_event = time.monotonic()

    def _mark_synced(self, kind: str) -> None:
        with self._lock:
            if kind in self._synced:
                return
            self._synced.add(kind)
            done = len(self._synced) == len(self.kinds)
        if done:
            if self.freeze_gc:
                gc.freeze()
            self._all_synced.set()
            log.info("informers synced: %s", ", ".join(self.kinds))

    def _register(self, kind: str, resp: urllib3.BaseHTTPResponse) -> None:
        """Make ``resp`` cuttable by stop(); if stop() already ran, cut it now."""
        with self._lock:
            self._active[kind] = resp
        if self._stop.is_set():
            self._unregister(kind)
            _shutdown(resp)
            resp.close()
            raise _Stopped

    def _unregister(self, kind: str) -> None:
        with self._lock:
            self._active.pop(kind, None)


def _shutdown(resp: urllib3.BaseHTTPResponse) -> None:
    """Unblock a thread reading ``resp`` (as the Python client's ``Watch.stop``)."""
    conn = getattr(resp, "connection", None)
    sock = getattr(conn, "sock", None)
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            return
    shutdown = getattr(resp, "shutdown", None)
    if callable(shutdown):
        with contextlib.suppress(Exception):
            shutdown()


class _Reflector:
    """One kind's list-and-watch loop (runs in its thread)."""

    def __init__(self, owner: Informers, spec: KindSpec, backoff: Backoff) -> None:
        self.owner = owner
        self.spec = spec
        self.kind = spec.kind
        self.backoff = backoff
        self.sink = owner.sink
        self.paged: PagedInformerSink | None = (
            owner.sink if isinstance(owner.sink, PagedInformerSink) else None
        )
        self.version: str | None = None
        self.served: bool | None = None  # unknown until discovery answers

    # -- loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        stop = self.owner._stop
        need_list, rv, refresh = True, "", False
        delay = 0.0
        while not stop.is_set():
            if delay > 0 and stop.wait(delay):
                break
            delay = 0.0
            try:
                version = self._resolve(refresh)
                refresh = False
                if version is None:
                    self._unserved()
                    need_list, refresh = True, True
                    delay = self.owner.recheck_interval
                    continue
                if need_list:
                    rv = self._list(version)
                    need_list = False
                    self.owner._mark_synced(self.kind)
                    self.owner._advance(self.kind, rv)
                rv, short = self._watch(version, rv)
                if short:
                    log.warning("%s: watch ended within %.0f s without events; re-listing",
                                self.kind, SHORT_WATCH_SECONDS)  # fmt: skip
                    need_list, delay = True, self.backoff.next()
            except _Stopped:
                break
            except Exception as exc:
                if stop.is_set():
                    break
                rewatch = isinstance(exc, _Rewatch)
                if isinstance(exc, _Rewatch) and exc.resource_version:
                    rv = exc.resource_version
                need_list = need_list or not rewatch
                refresh = isinstance(exc, _Unserved)
                delay = self.backoff.next()
                self._log_recovery(exc, rv, delay)

    def _log_recovery(self, exc: Exception, rv: str, delay: float) -> None:
        """One log line for a failure and what follows it."""
        if isinstance(exc, _Unserved):
            log.warning("%s: %s is not found on the server; checking discovery again in %.1f s",
                        self.kind, self._path(self.version or "?"), delay)  # fmt: skip
        elif isinstance(exc, _Rewatch):
            log.info("%s: %s; watching again from %s in %.1f s", self.kind, exc, rv, delay)
        elif isinstance(exc, _Relist):
            log.info("%s: %s; re-listing in %.1f s", self.kind, exc, delay)
        elif isinstance(exc, (k8s.ApiException, *_TRANSPORT_ERRORS, orjson.JSONDecodeError)):
            log.warning("%s: %s; re-listing in %.1f s", self.kind, _describe(exc), delay)
        else:
            log.error("%s: informer error; re-listing in %.1f s", self.kind, delay,
                      exc_info=exc)  # fmt: skip

    # -- discovery ----------------------------------------------------------------------------
    def _resolve(self, refresh: bool) -> str | None:
        """The version to use, from (possibly refreshed) discovery; None when unserved."""
        if not self.spec.group:
            self.version = self.spec.versions[0]
            return self.version
        # a refresh re-fetches unless another kind just did (one fetch serves them all)
        max_age = self.owner.recheck_interval / 2 if refresh else None
        groups = self.owner._discovery.groups(max_age=max_age)
        version = choose_version(self.spec, groups)
        if version is not None and self.served is not True:
            if self.served is False:
                log.info("%s: %s/%s is now served", self.kind, self.spec.group, version)
            self.served = True
        self.version = version
        return version

    def _unserved(self) -> None:
        """The kind is not served: synced with no objects (delivered once per change)."""
        if self.served is False:
            return
        self.served = False
        log.info("%s: %s/%s is not served (CRD not installed?); counted as synced with no "
                 "objects, checking again every %g s", self.kind, self.spec.group,
                 "|".join(self.spec.versions), self.owner.recheck_interval)  # fmt: skip
        with _gc_paused():
            self._deliver([], "", first=True, last=True)
        self.owner._touch()
        self.owner._mark_synced(self.kind)
        self.owner._advance(self.kind, None)

    # -- requests -----------------------------------------------------------------------------
    def _path(self, version: str) -> str:
        prefix = "/api" if not self.spec.group else f"/apis/{self.spec.group}"
        return f"{prefix}/{version}/{self.spec.plural}"

    def _open(self, version: str, timeout: tuple[float, float], **query: Any) -> Any:
        """Send a list or watch request through the official client's typed APIs; the
        unread urllib3 response (registered with the owner, so stop() can cut it)."""
        if self.owner._stop.is_set():
            raise _Stopped
        options = {k: v for k, v in query.items() if v is not None}
        # the typed APIs are annotated with their models; without preload they return the
        # unread urllib3 response
        api = self.owner.api_client
        options.update(_preload_content=False, _request_timeout=timeout)
        resp: Any
        if self.spec.kind == "Node":
            core: Any = k8s.CoreV1Api(api)
            resp = core.list_node(**options)
        elif self.spec.kind == "Pod":
            core = k8s.CoreV1Api(api)
            resp = core.list_pod_for_all_namespaces(**options)
        else:
            custom: Any = k8s.CustomObjectsApi(api)
            resp = custom.list_cluster_custom_object(
                self.spec.group, version, self.spec.plural, **options
            )
        self.owner._register(self.kind, resp)
        return resp

    # -- list ---------------------------------------------------------------------------------
    def _list(self, version: str) -> str:
        """List every page, delivering as configured; the list's resourceVersion."""
        for attempt in range(3):
            try:
                with _gc_paused():
                    return self._list_once(version)
            except _ListExpired:
                log.info("%s: continue token expired during the list (attempt %d); listing "
                         "again from the first page", self.kind, attempt + 1)  # fmt: skip
        raise _Relist("the list's continue token kept expiring")

    def _list_once(self, version: str) -> str:
        """One list from its first page: pages are fetched one ahead (:class:`_PageFetcher`)
        while the previous one is parsed and delivered in batches."""
        rv = ""
        gv = f"{self.spec.group}/{version}" if self.spec.group else version
        collected: list[Obj] = []
        first = True
        pending: list[Obj] | None = None  # one batch held back: the last one is marked last
        with _PageFetcher(self, version) as pages:
            for number, (meta, body) in enumerate(pages):
                if number == 0:  # every page of a list is read at the first one's version
                    rv = str(meta.get("resourceVersion") or "")
                for batch in item_batches(body, self.owner.batch_bytes):
                    for item in batch:
                        if "kind" not in item:
                            item["kind"] = self.kind
                        if "apiVersion" not in item:
                            item["apiVersion"] = gv
                    if self.paged is None:
                        collected.extend(batch)
                        continue
                    if pending is not None:
                        self._deliver(pending, rv, first=first, last=False)
                        first = False
                    pending = batch
                del body
                self.owner._touch()
        if self.paged is None:
            self._deliver(collected, rv, first=True, last=True)
        else:
            self._deliver(pending or [], rv, first=first, last=True)
        return rv

    def _deliver(self, objects: list[Obj], rv: str, *, first: bool, last: bool) -> None:
        if self.paged is not None:
            self.paged.replace_page(self.kind, objects, rv, first=first, last=last)
        else:
            self.sink.replace(self.kind, objects, rv)

    # -- watch --------------------------------------------------------------------------------
    def _watch(self, version: str, rv: str) -> tuple[str, bool]:
        """Watch from ``rv`` until the stream ends; (the version to resume from, whether it
        was a "very short watch"). Raises _Relist / _Rewatch / _Unserved / _Stopped."""
        seconds = int(self.owner.min_watch_timeout * (1.0 + random.random()))
        try:
            resp = self._open(
                version,
                (self.owner.request_timeout, seconds + 30.0),
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=seconds,
            )
        except k8s.ApiException as exc:
            code, reason, message = _status_of(exc)
            if code == 404:
                raise _Unserved from None
            if code == 429:
                raise _Rewatch("watch refused with 429 TooManyRequests") from None
            raise _Relist(f"watch request failed: {code} {reason}: {message}") from None
        except _TRANSPORT_ERRORS as exc:
            raise _Rewatch(f"watch request failed: {_describe(exc)}") from None
        started = time.monotonic()
        events = 0
        kind, gv = self.kind, f"{self.spec.group}/{version}" if self.spec.group else version
        apply = self.sink.apply
        touch = self.owner._touch
        advance = self.owner._advance
        pending = b""
        try:
            for received in resp.stream(None, decode_content=True):
                data = pending + received if pending else received
                lines = data.split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if not line or line.isspace():
                        continue
                    event = orjson.loads(line)
                    etype = event.get("type")
                    obj = event.get("object")
                    if not isinstance(obj, dict):
                        raise _Relist(f"watch event without an object: {line[:200]!r}")
                    if etype == "ERROR":
                        raise _Relist(
                            f"watch ERROR event {obj.get('code')} {obj.get('reason')}: "
                            f"{obj.get('message')}"
                        )
                    meta = obj.get("metadata") or {}
                    new_rv = meta.get("resourceVersion")
                    events += 1
                    touch()
                    if etype in ("ADDED", "MODIFIED", "DELETED"):
                        if "kind" not in obj:
                            obj["kind"] = kind
                        if "apiVersion" not in obj:
                            obj["apiVersion"] = gv
                        apply(kind, etype, obj)
                    elif etype != "BOOKMARK":
                        log.warning("%s: ignoring watch event of type %r", kind, etype)
                        continue
                    if new_rv:
                        rv = str(new_rv)
                        advance(kind, rv)
        except _TRANSPORT_ERRORS as exc:
            if self.owner._stop.is_set():
                raise _Stopped from None
            # resume after the last event delivered, not from where this watch began: the
            # server would replay (and the sink re-apply) every event of this stream
            raise _Rewatch(f"watch stream dropped: {_describe(exc)}", rv) from None
        finally:
            self.owner._unregister(self.kind)
            resp.close()
            resp.release_conn()
        if self.owner._stop.is_set():
            raise _Stopped
        short = events == 0 and time.monotonic() - started < SHORT_WATCH_SECONDS
        return rv, short


class _PageFetcher:
    """The pages of one list, fetched by a helper thread one page ahead of the consumer.

    Iterating yields ``(list metadata, body bytes)`` per page; the helper reads the next
    page (socket reads release the GIL) while the reflector thread parses the current one.
    Request errors reach the consumer in order: 410 on a continued page as
    :class:`_ListExpired`, 404 as :class:`_Unserved`, others as raised.
    """

    _DONE = object()

    def __init__(self, reflector: _Reflector, version: str) -> None:
        self._reflector = reflector
        self._version = version
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._quit = threading.Event()
        self._thread = threading.Thread(
            target=self._fetch, name=f"informer-{reflector.kind}-pages", daemon=True
        )

    def __enter__(self) -> Iterator[tuple[Obj, bytes]]:
        self._thread.start()
        return self._pages()

    def __exit__(self, *exc: object) -> None:
        self._quit.set()
        owner = self._reflector.owner
        if self._thread.is_alive():  # the consumer gave up: cut a page still being read
            with owner._lock:
                resp = owner._active.get(self._reflector.kind)
            if resp is not None:
                _shutdown(resp)
        self._thread.join()

    def _running(self) -> bool:
        return not (self._quit.is_set() or self._reflector.owner._stop.is_set())

    def _pages(self) -> Iterator[tuple[Obj, bytes]]:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if not self._running():
                    raise _Stopped from None
                continue
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def _put(self, item: object) -> bool:
        while self._running():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self) -> None:
        reflector, owner = self._reflector, self._reflector.owner
        token: str | None = None
        try:
            while self._running():
                try:
                    resp = reflector._open(
                        self._version,
                        owner._timeout,
                        limit=owner.page_size,
                        _continue=token,
                        resource_version=None if token else "",
                    )
                except k8s.ApiException as exc:
                    code = _status_of(exc)[0]
                    if code == 410 and token:
                        raise _ListExpired from None
                    if code == 404:
                        raise _Unserved from None
                    raise
                try:
                    body = resp.read()
                finally:
                    owner._unregister(reflector.kind)
                    resp.release_conn()
                meta = list_metadata(body)
                token = meta.get("continue") or None
                if not self._put((meta, body)):
                    return
                del body
                if token is None:
                    self._put(self._DONE)
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)


_ITEMS = b',"items":['


def list_metadata(body: bytes) -> Obj:
    """The ``metadata`` of a JSON list response, without parsing its items when they come
    last (as kube-apiserver writes lists); the whole body is parsed otherwise."""
    at = body.find(_ITEMS)
    if at > 0:
        with contextlib.suppress(orjson.JSONDecodeError):
            head = orjson.loads(body[:at] + b"}")
            if isinstance(head, dict):
                return head.get("metadata") or {}
    document = orjson.loads(body)
    return (document.get("metadata") or {}) if isinstance(document, dict) else {}


def item_batches(body: bytes, batch_bytes: int) -> Iterator[list[Obj]]:
    """The items of a JSON list response, parsed one by one into batches of about
    ``batch_bytes`` of JSON each.

    Parsing a page whole and dropping it makes CPython return the page's memory to the
    system and fault it back in for the next page (twice the CPU for 25 KB slices);
    parsing small batches reuses the same memory. Items are found by the separator
    ``},`` followed by the first item's opening (its text up to its second key:
    ``{"metadata":{"name":`` from kube-apiserver, ``{"apiVersion":"…","kind":`` from the
    facade). Raw quotes cannot occur inside JSON strings, so the only false separators are
    in nested lists of objects that begin the same way; a piece that is then not one JSON
    object makes the rest of the list be parsed as one array. A body whose items are not
    its last member, or not compact, is parsed whole.
    """
    at = body.find(_ITEMS)
    end = len(body) - 2
    if at < 0 or body[end:] != b"]}":
        document = orjson.loads(body)
        items = (document.get("items") or []) if isinstance(document, dict) else []
        yield from _chunks(items, max(1, len(items)))
        return
    start = at + len(_ITEMS)
    if start >= end:
        return
    second = body.find(b'":', body.find(b'":', start) + 2)
    if second < 0 or second > end:
        yield from _chunks(orjson.loads(body[start - 1 : end + 1]), 1 << 30)
        return
    marker = b"}," + body[start : second + 2]
    view = memoryview(body)
    batch: list[Obj] = []
    size = 0
    s = start
    while s < end:
        p = body.find(marker, s, end)
        z = end if p < 0 else p + 1
        try:
            obj = orjson.loads(view[s:z])
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):  # a false separator: the rest as one array
            batch.extend(orjson.loads(b"[" + body[s:end] + b"]"))
            yield batch
            return
        batch.append(obj)
        size += z - s
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
        s = end if p < 0 else p + 2
    if batch:
        yield batch


def _chunks(items: list[Obj], size: int) -> Iterator[list[Obj]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _describe(exc: BaseException) -> str:
    """One line for a request failure."""
    if isinstance(exc, k8s.ApiException):
        code, reason, message = _status_of(exc)
        return f"{code} {reason}: {message}".rstrip(": ")
    cause = getattr(exc, "reason", None)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return f"{type(exc).__name__}: {exc}"
