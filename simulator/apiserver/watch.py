"""Watch streams: a chunked sequence of ``{"type": ..., "object": ...}`` lines.

Mirrors kube-apiserver's watch cache (``k8s.io/apiserver/pkg/storage/cacher/cacher.go``,
``cache_watcher.go``, ``watch_cache.go``):

* start: no ``resourceVersion`` or ``"0"`` -> synthetic ADDED events for the current state,
  then changes; ``resourceVersion=N`` -> changes after N; ``sendInitialEvents=true`` ->
  ADDED events for the state, then (with ``allowWatchBookmarks``) a BOOKMARK annotated
  ``k8s.io/initial-events-end`` (``setInitialEventsEndBookmarkIfRequested``);
* a version older than the resource's event log reaches -> one ERROR event carrying a 410
  Status (reason Expired, ``too old resource version: N (horizon)``) and the end of the
  stream: the client re-lists. A watcher that falls that far behind mid-stream gets the
  same;
* selectors are applied to both the old and the new object of a change: an object that
  starts matching arrives as ADDED, one that stops matching as DELETED;
* ``allowWatchBookmarks`` -> a BOOKMARK (kind, apiVersion and ``metadata.resourceVersion``
  only) every ``bookmark_interval`` seconds, carrying the version the watcher has caught up
  with, and at once after :meth:`~simulator.apiserver.store.Store.request_progress` (a
  progress request, as kube-apiserver's watch cache answers etcd's progress notifications);
* ``timeoutSeconds`` ends the stream (default
  :data:`~simulator.apiserver.options.DEFAULT_WATCH_TIMEOUT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from simulator.apiserver import status
from simulator.apiserver.faults import Faults, WatchDropped
from simulator.apiserver.options import ListOptions
from simulator.apiserver.resources import Resource
from simulator.apiserver.selectors import fields_match
from simulator.apiserver.status import ApiError
from simulator.apiserver.store import Entry, Event, Store

Render = Callable[[str, Entry], bytes]
"""(event type, entry) -> the encoded event line (JSON object or Table row)."""


class AsyncWaker:
    """Bridges store writes (any thread) to an asyncio event on one loop; coalesces wake-ups."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.event = asyncio.Event()
        self._pending = False

    def wake(self) -> None:
        """Called by the store after a write (from the writer's thread)."""
        if self._pending:
            return
        self._pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the stream is over
            self._loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        self._pending = False
        self.event.set()


def matcher(opts: ListOptions, namespace: str) -> Callable[[Entry], bool]:
    """Whether an entry passes the namespace, label and field selectors."""
    labels, fields = opts.labels, opts.fields

    def accept(entry: Entry) -> bool:
        if namespace and entry.key[0] != namespace:
            return False
        if labels is not None and not labels(entry.labels):
            return False
        return not fields or fields_match(fields, entry.fields)

    return accept


def event_line(kind: str, raw: bytes) -> bytes:
    """One encoded watch event around an already serialized object."""
    return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"


def error_line(error: ApiError) -> bytes:
    """An ERROR event carrying the error's Status."""
    return event_line("ERROR", orjson.dumps(error.status()))


def bookmark_line(resource: Resource, rv: int, *, initial_end: bool = False) -> bytes:
    """A BOOKMARK event at version ``rv``."""
    meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = {"kind": resource.kind, "apiVersion": resource.group_version, "metadata": meta}
    return event_line("BOOKMARK", orjson.dumps(obj))


def _translate(event: Event, accept: Callable[[Entry], bool]) -> tuple[str, Entry] | None:
    new_ok = event.type != "DELETED" and accept(event.entry)
    old_ok = event.prev is not None and accept(event.prev)
    if event.type == "DELETED":
        return ("DELETED", event.entry) if old_ok else None
    if new_ok and old_ok:
        return ("MODIFIED", event.entry)
    if new_ok:
        return ("ADDED", event.entry)
    if old_ok:
        return ("DELETED", event.entry)
    return None


async def stream(
    store: Store,
    resource: Resource,
    namespace: str,
    opts: ListOptions,
    render: Render,
    *,
    bookmark_interval: float,
    batch: int = 512,
    faults: Faults | None = None,
) -> AsyncIterator[bytes]:
    """The watch's encoded events until the timeout, an error, or the client leaves
    (``faults``: the test-only fault hook, :mod:`simulator.apiserver.faults`)."""
    accept = matcher(opts, namespace)
    loop = asyncio.get_running_loop()
    waker = AsyncWaker(loop)
    store.add_waker(waker)
    deadline = time.monotonic() + opts.timeout
    requested = opts.rv_number
    initial = opts.send_initial_events or not requested
    generation = faults.generation(resource.name) if faults is not None else (0, 0)
    dropped = False
    try:
        if faults is not None and faults.watch_opened(resource.name, resumes=not initial):
            yield error_line(
                status.expired(f"too old resource version: {requested} (compacted by a fault)")
            )
            return
        if initial:
            listed = store.list_page(resource, namespace, accept=accept)
            cursor = listed.rv
            lines = [render("ADDED", e) for e in listed.entries]
            for i in range(0, len(lines), batch):
                yield b"".join(lines[i : i + batch])
            if opts.send_initial_events and opts.bookmarks:
                yield bookmark_line(resource, cursor, initial_end=True)
        else:
            assert requested is not None
            cursor = requested
        next_bookmark = time.monotonic() + bookmark_interval
        progress = store.progress
        while True:
            waker.event.clear()
            mode = faults.drop_mode(resource.name, generation) if faults is not None else None
            if mode is not None:
                dropped = True
                if mode == "close":
                    return
                raise WatchDropped(f"watch of {resource.name} dropped by a fault")
            asked = store.progress
            seen = store.rv
            try:
                events = store.events_after(resource, cursor)
            except ApiError as exc:
                yield error_line(exc)
                return
            out: list[bytes] = []
            for event in events:
                translated = _translate(event, accept)
                if translated is not None:
                    out.append(render(*translated))
                cursor = event.rv
            cursor = max(cursor, min(seen, store.rv))
            if out:
                yield b"".join(out)
            now = time.monotonic()
            if now >= deadline or store.watches_closed:
                return
            if opts.bookmarks and (now >= next_bookmark or asked != progress):
                yield bookmark_line(resource, cursor)
                next_bookmark = now + bookmark_interval
                progress = asked
            wait = deadline - now
            if opts.bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.event.wait(), timeout=wait)
    finally:
        store.remove_waker(waker)
        if faults is not None:
            faults.watch_closed(resource.name, dropped)
