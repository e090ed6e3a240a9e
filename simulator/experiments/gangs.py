"""Gang bookkeeping for the replay: which trace items form one gang, and its metrics.

Who calls: :class:`simulator.experiments.replay.Replay`.

A gang's key (:class:`scheduler.framework.podinfo.GangRef`) is derived from its pods' labels,
and a controller may reuse pod names: a LeaderWorkerSet scaled down and up again recreates
group ``g`` as ``<lws>-<g>`` with the same group key. The replay therefore splits a key's
trace items into *instances*: a new instance starts when an item's pod name is already a
member of the current one. The first instance keeps the plain key as its id, later ones get
``#<n>`` appended.

Per instance (:class:`GangTrack`) the replay records:

* placed — every member bound at least once (or the whole gang placed by a gang cycle);
* partial — a gang cycle bound some members and then failed, a reserved member lost its
  reservation, or some but not all members ran for longer than the gang timeout;
* wait rounds — from the first (re)creation of a member while no member runs to the moment
  every member runs (``gang_wait_seconds``); the first round of a serving gang is its
  scale-up (``serving_scaleup_seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class GangTrack:
    """One gang instance (see the module docstring)."""

    id: str
    key: str
    size: int
    members: list[int] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    serving: bool = False
    running: set[int] = field(default_factory=set)
    ever_bound: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    seen: bool = False
    placed: bool = False
    partial: bool = False
    round_start: float | None = None
    rounds: int = 0
    partial_since: float | None = None


@dataclass(slots=True)
class GangBook:
    """Every gang instance of a trace, and the totals of the finished ones."""

    timeout: float
    tracks: dict[str, GangTrack] = field(default_factory=dict)
    of_index: dict[int, GangTrack] = field(default_factory=dict)
    total: int = 0
    placed: int = 0
    partial: int = 0
    _current: dict[str, GangTrack] = field(default_factory=dict)
    _instances: dict[str, int] = field(default_factory=dict)

    def add_member(self, index: int, name: str, key: str, size: int) -> GangTrack:
        """Setup: item ``index`` (pod ``name``) belongs to gang ``key`` of ``size``."""
        track = self._current.get(key)
        if track is None or name in track.names:
            count = self._instances.get(key, 0)
            self._instances[key] = count + 1
            gang_id = key if count == 0 else f"{key}#{count}"
            track = GangTrack(gang_id, key, size)
            self.tracks[gang_id] = track
            self._current[key] = track
        track.members.append(index)
        track.names.add(name)
        self.of_index[index] = track
        return track

    def arrived(self, track: GangTrack, index: int, now: float) -> None:
        """A member was created (or recreated after an eviction)."""
        track.seen = True
        if not track.running and track.round_start is None:
            track.round_start = now

    def bound(self, track: GangTrack, index: int, now: float) -> float | None:
        """A member runs; when that completes a round, the round's wait (else None)."""
        track.running.add(index)
        track.ever_bound.add(index)
        if len(track.ever_bound) >= track.size:
            track.placed = True
        self._partial_check(track, now)
        if len(track.running) >= track.size and track.round_start is not None:
            wait = now - track.round_start
            track.round_start = None
            track.rounds += 1
            return wait
        return None

    def placed_whole(self, track: GangTrack) -> None:
        """A gang cycle placed every member (some may be reserved, not created yet)."""
        track.placed = True

    def stopped(self, track: GangTrack, index: int, now: float) -> None:
        """A member stopped running (finished, deleted or evicted)."""
        track.running.discard(index)
        self._partial_check(track, now)

    def _partial_check(self, track: GangTrack, now: float) -> None:
        some = 0 < len(track.running) < track.size
        if some and track.partial_since is None:
            track.partial_since = now
        elif not some and track.partial_since is not None:
            if now - track.partial_since > self.timeout:
                track.partial = True
            track.partial_since = None

    def finished(self, track: GangTrack, index: int, now: float) -> None:
        """Member ``index`` is gone for good (completed or deleted); the last one folds the
        instance into the totals and forgets it."""
        self.stopped(track, index, now)
        track.done.add(index)
        if len(track.done) >= len(track.members):
            self._fold(track, now)

    def _fold(self, track: GangTrack, now: float) -> None:
        if track.partial_since is not None and now - track.partial_since > self.timeout:
            track.partial = True
        if track.seen:
            self.total += 1
            self.placed += track.placed
            self.partial += track.partial
        self.tracks.pop(track.id, None)
        for index in track.members:
            self.of_index.pop(index, None)
        if self._current.get(track.key) is track:
            del self._current[track.key]

    def close(self, now: float) -> None:
        """End of the replay: fold every instance still open."""
        for track in list(self.tracks.values()):
            self._fold(track, now)
