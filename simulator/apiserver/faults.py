"""Test-only fault injection in the API facade: dropped watches, expired versions, a binding log.

Enabled only when the environment has ``TESSERA_API_FAULTS=DIR`` when the API app is built
(:data:`FAULTS_ENV`, a directory; never set in normal runs). Then the facade also serves,
outside the Kubernetes paths:

* ``POST /_tessera/faults/drop-watches[?resource=R][&mode=reset|close]`` — every open watch
  (of resource ``R``, a plural such as ``pods``; all resources when absent) ends at once.
  ``reset`` (the default) aborts the connection in the middle of its chunked body, as a
  dropped TCP connection or a crashed apiserver does; ``close`` ends the stream cleanly, as
  the server's ``timeoutSeconds`` does. Answers ``{"dropped": N}``, the watches ended;
* ``POST /_tessera/faults/expire[?resource=R]`` — the next watch of ``R`` (all resources when
  absent) that resumes from a ``resourceVersion`` is answered with an ERROR event carrying a
  410 ``Expired`` Status, as after a compaction past that version (kube-apiserver's watch
  cache: ``too old resource version``); the client must re-list. One such answer per
  resource per call;
* ``GET /_tessera/faults`` — what happened: per resource, the lists and watches served,
  the watches dropped and the 410s sent; and the **binding log**, every ``pods/binding``
  request in order (``namespace``, ``name``, ``node``, ``uid``, ``code``: 201 or the
  error's HTTP status). The same report is kept in ``DIR/faults.json``, rewritten after every
  change, so that it outlives the replay's process.

Nothing here changes what a request without faults gets.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

__all__ = ["FAULTS_ENV", "Faults", "WatchDropped", "faults_from_env"]

FAULTS_ENV = "TESSERA_API_FAULTS"
PREFIX = "_tessera"


class WatchDropped(Exception):
    """Raised inside a watch stream to abort its connection (``mode=reset``)."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn's "Exception in ASGI application" for a deliberate drop out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info and isinstance(info[1], WatchDropped))


class Faults:
    """The facade's fault state (thread-safe; see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._generation: Counter[str] = Counter()
        self._all = 0
        self._expire: set[str] = set()
        self._expire_all = 0
        self._expire_seen: Counter[str] = Counter()
        self.modes: dict[str, str] = {}
        self.lists: Counter[str] = Counter()
        self.watches: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.expired: Counter[str] = Counter()
        self.open: Counter[str] = Counter()
        self.bindings: list[dict[str, Any]] = []
        logging.getLogger("uvicorn.error").addFilter(_QuietDrops())

    # -- watches ------------------------------------------------------------------------------
    def generation(self, resource: str) -> tuple[int, int]:
        """The drop generation a watch of ``resource`` starts at."""
        with self._lock:
            return self._generation[resource], self._all

    def drop_mode(self, resource: str, started: tuple[int, int]) -> str | None:
        """``reset``/``close`` when the watch that started at ``started`` must end now."""
        with self._lock:
            if (self._generation[resource], self._all) == started:
                return None
            return self.modes.get(resource, "reset")

    def drop(self, resource: str | None, mode: str) -> None:
        """End every open watch of ``resource`` (all when None) with ``mode``."""
        with self._lock:
            if resource is None:
                self._all += 1
                for name in list(self.open):
                    self.modes[name] = mode
            else:
                self._generation[resource] += 1
                self.modes[resource] = mode
            self._save()

    def watch_opened(self, resource: str, resumes: bool) -> bool:
        """Count a watch; True when it must be answered 410 (it resumes from a version and
        an expiry is armed for its resource)."""
        with self._lock:
            self.watches[resource] += 1
            self.open[resource] += 1
            armed = resource in self._expire or self._expire_seen[resource] < self._expire_all
            gone = resumes and armed
            if gone:
                self._expire.discard(resource)
                self._expire_seen[resource] = self._expire_all
                self.expired[resource] += 1
            self._save()
            return gone

    def watch_closed(self, resource: str, dropped: bool) -> None:
        """A watch ended (``dropped``: by :meth:`drop`)."""
        with self._lock:
            self.open[resource] -= 1
            if dropped:
                self.dropped[resource] += 1
            self._save()

    def expire(self, resource: str | None) -> None:
        """Arm a 410 for the next resuming watch of ``resource`` (of every resource when
        None)."""
        with self._lock:
            if resource is None:
                self._expire_all += 1
            else:
                self._expire.add(resource)
            self._save()

    # -- lists and bindings ---------------------------------------------------------------------
    def listed(self, resource: str) -> None:
        """Count a list request."""
        with self._lock:
            self.lists[resource] += 1
            self._save()

    def binding(self, namespace: str, body: object, name: str | None, code: int) -> None:
        """Record one ``pods/binding`` request and its answer's status code."""
        data = body if isinstance(body, dict) else {}
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        target = data.get("target") if isinstance(data.get("target"), dict) else {}
        assert isinstance(meta, dict) and isinstance(target, dict)
        with self._lock:
            self.bindings.append(
                {
                    "namespace": namespace or meta.get("namespace"),
                    "name": name or meta.get("name"),
                    "node": target.get("name"),
                    "uid": meta.get("uid"),
                    "code": code,
                }
            )
            self._save()

    def report(self) -> dict[str, Any]:
        """``GET /_tessera/faults``."""
        with self._lock:
            return self._report()

    def _save(self) -> None:
        """Rewrite ``faults.json`` (the caller holds the lock)."""
        path = self.directory / "faults.json"
        part = path.with_suffix(".part")
        part.write_bytes(orjson.dumps(self._report()))
        part.replace(path)

    def _report(self) -> dict[str, Any]:
        return {
            "lists": dict(self.lists),
            "watches": dict(self.watches),
            "open_watches": {k: v for k, v in self.open.items() if v},
            "dropped": dict(self.dropped),
            "expired": dict(self.expired),
            "bindings": list(self.bindings),
        }


def faults_from_env() -> Faults | None:
    """A :class:`Faults` keeping its report in the directory :data:`FAULTS_ENV` names, or
    None when it is unset or empty."""
    directory = os.environ.get(FAULTS_ENV, "")
    return Faults(Path(directory)) if directory else None
