"""The extender sync probe: make the webhook catch up with the served API before a cycle
and after a failed attempt.

A real kube-scheduler and its extender watch the same API server, each at its own pace; a
replay runs much faster than any informer could notice on its own. ``tessera replay
--api-port P --extender-sync URL`` therefore asks, before each scheduling cycle that follows
a change of the served API and right after a failed attempt is written (the webhook reacts to
it at its virtual instant), that the extender has seen that change:

1. the served API sends a BOOKMARK at its current ``resourceVersion`` N on every open watch
   that asked for bookmarks (``allowWatchBookmarks=true``), so an informer whose kind did not
   change learns at once that it is current;
2. the simulator sends ``GET URL?resourceVersion=N&time=T`` and waits for a 200: the webhook
   answers once each of its informers has processed every event up to N (its last event or
   bookmark carries a ``resourceVersion`` >= N; a kind it does not serve counts as current).
   ``T`` is the replay's current time (RFC 3339 with microseconds, the clock the served
   objects are stamped with: :mod:`simulator.apiserver.clock`), which the webhook takes as
   its "now" — durations it reads from timestamps, such as how long a preemption victim has
   run since its ``status.startTime``, are then virtual durations, as in the replay. Any other
   status, or no connection, is retried every ``retry_interval`` seconds until ``timeout``,
   and each retry asks for bookmarks again: a watch the informer opened after the first
   request (its stream had dropped, or the webhook restarted) would otherwise get none until
   the server's next periodic bookmark, and a kind without events would never confirm N.

The contract the webhook implements is written out in docs/extender.md (*Playing
kube-scheduler in the simulator*). Nothing is sent while neither the API nor the replay's
time has changed since the last successful probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from scheduler.api.meta import format_timestamp

__all__ = ["DEFAULT_SYNC_TIMEOUT", "ExtenderSyncError", "SyncProbe"]

DEFAULT_SYNC_TIMEOUT = 30.0
"""Seconds the simulator waits for the webhook to reach a resourceVersion."""


class ExtenderSyncError(ConnectionError):
    """The webhook did not confirm a resourceVersion in time (the replay stops; the CLI
    prints one line and exits 2, as for an unreachable input)."""


class SyncProbe:
    """``GET URL?resourceVersion=N`` before scheduling cycles and after failed attempts (see
    the module docstring).

    ``version`` returns the served API's current resourceVersion; ``request_progress`` makes
    it send bookmarks at that version; ``clock`` (optional) gives the replay's current time in
    seconds since the epoch, sent as ``time``. All are wired by the served replay
    (``simulator.apiserver.live``).
    """

    def __init__(
        self,
        url: str,
        *,
        version: Callable[[], int],
        request_progress: Callable[[], None],
        timeout: float = DEFAULT_SYNC_TIMEOUT,
        retry_interval: float = 0.05,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.url = url
        self._version = version
        self._progress = request_progress
        self._clock = clock
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), trust_env=False)
        self.synced = -1
        self.synced_time: float | None = None
        self.probes = 0
        self.seconds = 0.0

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def catch_up(self) -> None:
        """Wait until the webhook has seen the API's current state, and tell it the replay's
        time (no-op when neither changed since the last probe). ExtenderSyncError naming the
        URL, the version and the last answer when it does not confirm within ``timeout``
        seconds."""
        version = self._version()
        moment = self._clock() if self._clock is not None else None
        if version == self.synced and moment == self.synced_time:
            return
        params = {"resourceVersion": str(version)}
        if moment is not None:
            params["time"] = format_timestamp(moment, micro=True)
        self._progress()
        start = time.perf_counter()
        deadline = time.monotonic() + self.timeout
        last = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.seconds += time.perf_counter() - start
                raise ExtenderSyncError(
                    f"--extender-sync {self.url}: the webhook did not reach resourceVersion "
                    f"{version} within {self.timeout:g} s (last answer: {last})"
                )
            try:
                response = self._client.get(
                    self.url,
                    params=params,
                    timeout=httpx.Timeout(remaining),
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    break
                last = f"HTTP {response.status_code} {response.text[:200]!r}"
            time.sleep(min(self.retry_interval, max(deadline - time.monotonic(), 0.0)))
            self._progress()
        self.synced = version
        self.synced_time = moment
        self.probes += 1
        self.seconds += time.perf_counter() - start
