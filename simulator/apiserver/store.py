"""The object store behind the API facade: objects, resourceVersions, the watch log.

Algorithm overview:

* One global, monotonically increasing ``resourceVersion`` (etcd's revision). Every write
  takes the next one and stamps it into ``metadata.resourceVersion``; creates also stamp
  ``uid`` and ``creationTimestamp``, and ``generation`` (1, then +1 whenever anything but
  ``metadata`` and ``status`` changes) on resources whose upstream strategy does.
* An object is kept as its serialized JSON (:attr:`Entry.raw`) plus what selectors need
  (namespace, name, labels, selectable fields). Lists are a join of those bytes and never
  re-serialize: listing 5,000 8×H100 nodes and their ~1M-device ResourceSlices is a memory
  copy. Reads that need the object parse the bytes (orjson).
* Each resource has a bounded event log (a ring of ``capacity`` events). Every change is
  appended as ADDED, MODIFIED or DELETED with the entry before and after. ``horizon`` is the
  resourceVersion before the oldest retained event: a watch or an exact list at a version
  below it is answered 410 (clients re-list), as upstream's watch cache does.
* A list at an older version (a ``continue`` token's version, ``resourceVersionMatch=Exact``)
  is rebuilt by undoing the logged events newer than it; when the log no longer reaches
  back, it is 410 Expired.
* Thread-safe: one lock around every read and write. Writers call the registered wakers
  after releasing it, so watchers on an asyncio loop in another thread wake up
  (:class:`Waker`).

Objects are plain JSON dicts on the way in and out; what they contain is up to the caller
(:mod:`simulator.apiserver.handlers` validates HTTP input, the bridge writes simulator
models).
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from simulator.apiserver import status
from simulator.apiserver.resources import Resource, ResourceTable
from simulator.apiserver.selectors import selectable_fields

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects."""

DEFAULT_CAPACITY = 10_000
"""Events kept per resource (upstream's watch cache keeps up to 100k per type, by time)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored object: its serialized JSON and what selectors read."""

    key: Key
    rv: int
    raw: bytes
    uid: str
    labels: Mapping[str, str]
    fields: Mapping[str, str]

    def obj(self) -> dict[str, Any]:
        """A fresh dict of the object (the caller may modify it)."""
        data: dict[str, Any] = orjson.loads(self.raw)
        return data


@dataclass(frozen=True, slots=True)
class Event:
    """A logged change: ``entry`` after it (for DELETED: the last state, stamped with the
    deletion's resourceVersion) and ``prev`` before it (None for ADDED)."""

    rv: int
    type: EventType
    entry: Entry
    prev: Entry | None


class Waker(Protocol):
    """Told after every committed write (from the writer's thread)."""

    def wake(self) -> None:
        """Something changed; look at the log again."""
        ...


@dataclass(slots=True)
class _Bucket:
    resource: Resource
    capacity: int
    objects: dict[Key, Entry] = field(default_factory=dict)
    log: deque[Event] = field(default_factory=deque)
    horizon: int = 0
    last_rv: int = 0
    _sorted: list[Key] | None = None

    def sorted_keys(self) -> list[Key]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def record(self, event: Event) -> None:
        if len(self.log) >= self.capacity:
            self.horizon = self.log.popleft().rv
        self.log.append(event)
        self.last_rv = event.rv


@dataclass(frozen=True, slots=True)
class ListResult:
    """A list page: entries in key order, the list's resourceVersion, the key to continue
    after (None on the last page) and how many items remain after this page."""

    entries: list[Entry]
    rv: int
    next_key: Key | None
    remaining: int


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    ignored = ("metadata", "status", "apiVersion", "kind")
    keys = (set(old) | set(new)).difference(ignored)
    return any(old.get(k) != new.get(k) for k in keys)


class Store:
    """Objects by (resource, namespace, name); see the module docstring."""

    def __init__(
        self,
        table: ResourceTable,
        *,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.table = table
        self._lock = threading.Lock()
        self._rv = 1
        self._clock = clock
        self._buckets = {r.name: _Bucket(r, capacity) for r in table.resources}
        self._wakers: set[Waker] = set()
        self.progress = 0
        """Bumped by :meth:`request_progress`; watch streams that asked for bookmarks send one
        when they see it change."""
        self.watches_closed = False
        """Set by :meth:`close_watches` while a server over this store shuts down: every
        watch stream ends and new ones are refused; :meth:`open_watches` clears it."""

    # -- versions and wakers -------------------------------------------------------------------
    @property
    def rv(self) -> int:
        """The current (latest committed) resourceVersion."""
        return self._rv

    def add_waker(self, waker: Waker) -> None:
        """Register a waker (a watch stream)."""
        with self._lock:
            self._wakers.add(waker)

    def remove_waker(self, waker: Waker) -> None:
        """Unregister a waker."""
        with self._lock:
            self._wakers.discard(waker)

    def request_progress(self) -> None:
        """Ask every open watch with ``allowWatchBookmarks`` to send a BOOKMARK at the version
        it has caught up with, now (as kube-apiserver's watch cache does on a progress
        notification). A replay played with an extender calls it before its sync probe, so
        informers of kinds that did not change learn that they are current."""
        with self._lock:
            self.progress += 1
        self._wake()

    def close_watches(self) -> None:
        """End every watch stream (the server is shutting down): each sends what it has and
        closes its response, as kube-apiserver closes watches when it stops, so none is left
        for the ASGI server to cancel. A watch a client asks for meanwhile on a kept-alive
        connection (an informer re-watching at once) is refused with a 429, as
        kube-apiserver refuses requests while it shuts down, until :meth:`open_watches`."""
        with self._lock:
            self.watches_closed = True
        self._wake()

    def open_watches(self) -> None:
        """Serve watches again (a server starting over this store)."""
        with self._lock:
            self.watches_closed = False

    def wake_watchers(self) -> None:
        """Wake every open watch without a change (they look at their state again)."""
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for waker in wakers:
            waker.wake()

    # -- reading ---------------------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str, name: str) -> Entry | None:
        """The stored entry, or None."""
        with self._lock:
            return self._buckets[resource.name].objects.get((namespace, name))

    def count(self, resource: Resource) -> int:
        """How many objects of the resource are stored."""
        with self._lock:
            return len(self._buckets[resource.name].objects)

    def horizon(self, resource: Resource) -> int:
        """The oldest resourceVersion a watch of the resource may start from."""
        with self._lock:
            return self._buckets[resource.name].horizon

    def list_page(
        self,
        resource: Resource,
        namespace: str,
        *,
        at: int | None = None,
        after: Key | None = None,
        limit: int = 0,
        accept: Callable[[Entry], bool] | None = None,
    ) -> ListResult:
        """Entries in key order, optionally in one namespace ("" = all), as of version ``at``
        (None: now) and after key ``after``; at most ``limit`` accepted ones (0: all).

        Raises ApiError 410 when ``at`` is older than the log reaches.
        """
        with self._lock:
            bucket = self._buckets[resource.name]
            rv = self._rv if at is None else at
            if at is None or bucket.last_rv <= at:
                objects: Mapping[Key, Entry] = bucket.objects
                keys = bucket.sorted_keys()
            else:
                objects = self._state_at(bucket, at)
                keys = sorted(objects)
            return self._page(keys, objects, rv, namespace, after, limit, accept)

    def _page(
        self,
        keys: list[Key],
        objects: Mapping[Key, Entry],
        rv: int,
        namespace: str,
        after: Key | None,
        limit: int,
        accept: Callable[[Entry], bool] | None,
    ) -> ListResult:
        start = 0
        if namespace:
            start = bisect.bisect_left(keys, (namespace, ""))
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after))
        out: list[Entry] = []
        next_key: Key | None = None
        remaining = 0
        for i in range(start, len(keys)):
            key = keys[i]
            if namespace and key[0] != namespace:
                break
            entry = objects.get(key)
            if entry is None or (accept is not None and not accept(entry)):
                continue
            if limit and len(out) >= limit:
                next_key = out[-1].key
                remaining = self._remaining(keys, i, namespace, objects, accept)
                break
            out.append(entry)
        return ListResult(out, rv, next_key, remaining)

    @staticmethod
    def _remaining(
        keys: list[Key],
        start: int,
        namespace: str,
        objects: Mapping[Key, Entry],
        accept: Callable[[Entry], bool] | None,
    ) -> int:
        if accept is None and not namespace:
            return len(keys) - start
        n = 0
        for key in keys[start:]:
            if namespace and key[0] != namespace:
                break
            entry = objects.get(key)
            if entry is not None and (accept is None or accept(entry)):
                n += 1
        return n

    def _state_at(self, bucket: _Bucket, rv: int) -> dict[Key, Entry]:
        if rv < bucket.horizon:
            raise status.expired(f"too old resource version: {rv} ({bucket.horizon})")
        state = dict(bucket.objects)
        for event in reversed(bucket.log):
            if event.rv <= rv:
                break
            if event.type == "ADDED":
                state.pop(event.entry.key, None)
            elif event.prev is not None:
                state[event.prev.key] = event.prev
        return state

    def events_after(self, resource: Resource, rv: int) -> list[Event]:
        """Logged events of the resource newer than ``rv``, oldest first.

        Raises ApiError 410 (reason Expired) when ``rv`` is older than the log reaches.
        """
        with self._lock:
            bucket = self._buckets[resource.name]
            if rv < bucket.horizon:
                raise status.expired(f"too old resource version: {rv} ({bucket.horizon})")
            if bucket.last_rv <= rv:
                return []
            log = bucket.log
            # the log is ordered by rv: walk back from the end to the first newer event
            i = len(log)
            while i > 0 and log[i - 1].rv > rv:
                i -= 1
            return [log[j] for j in range(i, len(log))]

    # -- writing ---------------------------------------------------------------------------------
    def _entry(self, resource: Resource, obj: dict[str, Any], rv: int) -> Entry:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(rv)
        key = (meta.get("namespace", "") if resource.namespaced else "", meta.get("name", ""))
        labels = meta.get("labels") or {}
        return Entry(
            key,
            rv,
            orjson.dumps(obj),
            str(meta.get("uid", "")),
            dict(labels) if isinstance(labels, dict) else {},
            selectable_fields(resource, obj),
        )

    def _stamp_new(self, resource: Resource, obj: dict[str, Any], *, keep_identity: bool) -> None:
        meta = obj.setdefault("metadata", {})
        if not keep_identity or not meta.get("uid"):
            meta["uid"] = str(uuid.uuid4())
        if not keep_identity or not meta.get("creationTimestamp"):
            meta["creationTimestamp"] = self._clock()
        if resource.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        obj["apiVersion"] = resource.group_version
        obj["kind"] = resource.kind

    def create(
        self, resource: Resource, obj: dict[str, Any], *, keep_identity: bool = False
    ) -> Entry:
        """Store a new object; 409 AlreadyExists if its key is taken.

        ``keep_identity`` keeps a given ``uid`` and ``creationTimestamp`` (objects the
        simulator made, whose uids other objects reference); HTTP creates replace them as
        the API server does.
        """
        with self._lock:
            bucket = self._buckets[resource.name]
            meta = obj.setdefault("metadata", {})
            key = (meta.get("namespace", "") if resource.namespaced else "", meta.get("name", ""))
            if key in bucket.objects:
                raise status.already_exists(resource, key[1])
            self._stamp_new(resource, obj, keep_identity=keep_identity)
            self._rv += 1
            entry = self._entry(resource, obj, self._rv)
            bucket.objects[key] = entry
            bucket._sorted = None
            bucket.record(Event(self._rv, "ADDED", entry, None))
        self._wake()
        return entry

    def update(
        self,
        resource: Resource,
        obj: dict[str, Any],
        *,
        expect_rv: str | None = None,
        expect_uid: str | None = None,
    ) -> Entry:
        """Replace an existing object (404 if absent).

        ``expect_rv`` (the body's ``metadata.resourceVersion``; None or "" = unconditional)
        must equal the stored version, else 409 Conflict; ``expect_uid`` likewise for the
        uid. Identity fields (uid, creationTimestamp) are kept from the stored object and
        ``generation`` is advanced when the spec changed.
        """
        with self._lock:
            bucket = self._buckets[resource.name]
            meta = obj.setdefault("metadata", {})
            key = (meta.get("namespace", "") if resource.namespaced else "", meta.get("name", ""))
            old = bucket.objects.get(key)
            if old is None:
                raise status.not_found(resource, key[1])
            if expect_rv and expect_rv != str(old.rv):
                raise status.conflict(resource, key[1], status.STALE)
            if expect_uid and expect_uid != old.uid:
                raise status.conflict(
                    resource,
                    key[1],
                    f"Precondition failed: UID in precondition: {expect_uid}, UID in object "
                    f"meta: {old.uid}",
                )
            previous = old.obj()
            old_meta = previous.get("metadata", {})
            for name in ("uid", "creationTimestamp"):
                if name in old_meta:
                    meta[name] = old_meta[name]
            if resource.generation:
                generation = int(old_meta.get("generation", 1))
                meta["generation"] = generation + 1 if _spec_changed(previous, obj) else generation
            else:
                meta.pop("generation", None)
            obj["apiVersion"] = resource.group_version
            obj["kind"] = resource.kind
            self._rv += 1
            entry = self._entry(resource, obj, self._rv)
            bucket.objects[key] = entry
            bucket.record(Event(self._rv, "MODIFIED", entry, old))
        self._wake()
        return entry

    def put(self, resource: Resource, obj: dict[str, Any]) -> Entry:
        """Create or unconditionally replace (the simulator's own writes)."""
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") if resource.namespaced else "", meta.get("name", ""))
        with self._lock:
            exists = key in self._buckets[resource.name].objects
        if exists:
            meta.pop("resourceVersion", None)
            return self.update(resource, obj)
        return self.create(resource, obj, keep_identity=True)

    def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        expect_rv: str | None = None,
        expect_uid: str | None = None,
    ) -> Entry:
        """Remove an object (404 if absent; 409 on a failed precondition). Returns the
        last state, stamped with the deletion's resourceVersion."""
        with self._lock:
            bucket = self._buckets[resource.name]
            key = (namespace if resource.namespaced else "", name)
            old = bucket.objects.get(key)
            if old is None:
                raise status.not_found(resource, name)
            if expect_rv and expect_rv != str(old.rv):
                raise status.conflict(
                    resource,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {expect_rv}, "
                    f"ResourceVersion in object meta: {old.rv}",
                )
            if expect_uid and expect_uid != old.uid:
                raise status.conflict(
                    resource,
                    name,
                    f"Precondition failed: UID in precondition: {expect_uid}, UID in object "
                    f"meta: {old.uid}",
                )
            self._rv += 1
            gone = self._entry(resource, old.obj(), self._rv)
            del bucket.objects[key]
            bucket._sorted = None
            bucket.record(Event(self._rv, "DELETED", gone, old))
        self._wake()
        return gone

    def load(self, resource: Resource, objects: Iterable[dict[str, Any]]) -> int:
        """Bulk-insert objects at start-up without logging events (nobody watches yet).

        Existing keys are replaced. All objects share one new resourceVersion; the log's
        horizon moves to it. Returns how many objects were loaded.
        """
        n = 0
        with self._lock:
            bucket = self._buckets[resource.name]
            self._rv += 1
            for obj in objects:
                self._stamp_new(resource, obj, keep_identity=True)
                entry = self._entry(resource, obj, self._rv)
                bucket.objects[entry.key] = entry
                n += 1
            bucket._sorted = None
            bucket.log.clear()
            bucket.horizon = self._rv
            bucket.last_rv = self._rv
        self._wake()
        return n
