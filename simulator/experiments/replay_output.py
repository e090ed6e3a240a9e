"""The replay's outputs, streamed to disk while it runs.

Who calls: :class:`simulator.experiments.replay.Replay` writes every placement-log entry and
timeline row as it happens (:class:`OutputWriter`), so a replay's memory does not grow with
its length; :class:`ReplayResult` is what a finished replay returns.

Files (``OUTPUT_FILES``):

* ``summary.json`` — the metrics (written last);
* ``placements.jsonl`` — one JSON object per bind, eviction, deletion or failed attempt:
  ``t``, ``event``, ``pod``, ``node``, ``devices`` (binds), ``reason`` (all but binds);
* ``timeline.csv`` — one row per sampling step (:data:`TIMELINE_COLUMNS`).

A replay writes into a staging directory (:func:`simulator.atomic.staged_directory`) that
replaces the destination's files only when the replay succeeds; a replay given no
destination writes into a private temporary directory that lives as long as its
:class:`ReplayResult`.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import tempfile
import weakref
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from simulator.atomic import staged_directory
from simulator.jsonout import json_line, json_text

OUTPUT_FILES = ("summary.json", "placements.jsonl", "timeline.csv")
TIMELINE_COLUMNS = (
    "minute",
    "alloc_pct",
    "frag_pct",
    "pending_serving",
    "pending_batch",
    "running",
    "gpus_capacity",
    "gpus_serving",
    "gpus_batch",
    "gpus_idle",
)
"""Timeline columns: the sampling time in minutes; GPU allocation and fragmentation (% of
the GPU view's capacity); pods pending per class; pods running; accelerators (GPUs and TPU
chips, 3 decimals = exact milli-units) in service and held by serving, by batch and by
nobody — ``gpus_serving + gpus_batch + gpus_idle = gpus_capacity`` on every row."""


def cell(value: object) -> str:
    """A timeline cell: floats with 4 decimals, the rest as ``str``; ValueError for NaN or
    an infinity (never written as a plausible number)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"timeline.csv: {value} is not a finite number")
        return f"{value:.4f}"
    return str(value)


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


class OutputWriter:
    """Streams ``placements.jsonl`` and ``timeline.csv`` into ``directory`` (opened by
    :meth:`open`, closed by :meth:`close`); ``summary.json`` comes last."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._placements: IO[str] | None = None
        self._timeline: IO[str] | None = None
        self.timeline_rows = 0

    def open(self) -> None:
        """Create the two streamed files (the timeline with its header)."""
        self._placements = (self.directory / "placements.jsonl").open("w", encoding="utf-8")
        self._timeline = (self.directory / "timeline.csv").open("w", encoding="utf-8")
        self._timeline.write(",".join(TIMELINE_COLUMNS) + "\n")

    def placement(self, entry: dict[str, Any]) -> None:
        """Append one placement-log entry."""
        assert self._placements is not None
        self._placements.write(json_line(entry, "placements.jsonl"))

    def timeline(self, row: dict[str, Any]) -> None:
        """Append one timeline row (keys: :data:`TIMELINE_COLUMNS`)."""
        assert self._timeline is not None
        self._timeline.write(",".join(cell(row[c]) for c in TIMELINE_COLUMNS) + "\n")
        self.timeline_rows += 1

    def summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json``."""
        text = json_text(summary, "summary.json")
        (self.directory / "summary.json").write_text(text, encoding="utf-8")

    def close(self) -> None:
        """Close the streamed files."""
        for stream in (self._placements, self._timeline):
            if stream is not None:
                stream.close()
        self._placements = self._timeline = None


class OutputTarget:
    """Where a replay's files go: ``out`` through a staging directory committed by
    :meth:`commit`, or (``out`` None) a private temporary directory."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self._stack = ExitStack()
        if out is None:
            self.directory = Path(tempfile.mkdtemp(prefix="tessera-replay-"))
        else:
            self.directory = self._stack.enter_context(staged_directory(out, OUTPUT_FILES))

    def commit(self) -> Path:
        """Move the files into place; the directory that holds them now."""
        self._stack.close()
        return self.out if self.out is not None else self.directory

    def abort(self, exc: BaseException) -> None:
        """Drop everything written (the destination is left as it was)."""
        if self.out is None:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)


class ReplayResult:
    """A finished replay: its summary and the directory holding its three files.

    ``placements`` and ``timeline`` read the files back (parsed; timeline numbers as int or
    float). A result whose files live in a private temporary directory removes it when the
    result is garbage-collected.
    """

    def __init__(self, summary: dict[str, Any], directory: Path, *, temporary: bool) -> None:
        self.summary = summary
        self.directory = directory
        if temporary:
            weakref.finalize(self, shutil.rmtree, directory, True)

    @property
    def placements(self) -> list[dict[str, Any]]:
        """Every placement-log entry, in order."""
        with (self.directory / "placements.jsonl").open(encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    @property
    def timeline(self) -> list[dict[str, Any]]:
        """Every timeline row, in order."""
        with (self.directory / "timeline.csv").open(newline="", encoding="utf-8") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def write(self, out: Path) -> None:
        """Write summary.json, placements.jsonl and timeline.csv into ``out``, all three or
        none (the summary as it is now, so a caller may have edited it)."""
        out = Path(out)
        with staged_directory(out, OUTPUT_FILES) as staging:
            for name in ("placements.jsonl", "timeline.csv"):
                shutil.copyfile(self.directory / name, staging / name)
            text = json_text(self.summary, "summary.json")
            (staging / "summary.json").write_text(text, encoding="utf-8")
