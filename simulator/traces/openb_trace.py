"""The openb pod list as a replay trace (arrivals and departures).

Each pod arrives at ``creation_time`` and, once bound, runs for ``deletion_time -
scheduled_time`` seconds (``deletion_time - creation_time`` when the trace has no
scheduled time, as for pods that were pending); files without time columns (the
``multigpu*`` variants) arrive at 0 and run to the end. Pods and claim templates follow
:mod:`simulator.traces.openb_objects`. The items are lazy (:class:`OpenbItems`): a pod is
built when the replay asks for it, from its CSV row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simulator.traces.model import LazyItems, Trace, TraceItem
from simulator.traces.openb import OpenbPod, read_pods
from simulator.traces.openb_objects import OpenbObjects


class OpenbItems(LazyItems):
    """openb rows as trace items, each Pod built on access."""

    def __init__(self, rows: Sequence[OpenbPod], objects: OpenbObjects) -> None:
        self.rows = rows
        self.objects = objects
        for row in rows:
            if row.num_gpu > 0:
                objects.template_for(row)  # every template exists before the replay starts

    def __len__(self) -> int:
        return len(self.rows)

    def arrival(self, index: int) -> float:
        row = self.rows[index]
        return float(row.creation_time) if row.creation_time is not None else 0.0

    def build(self, index: int) -> TraceItem:
        row = self.rows[index]
        arrival = self.arrival(index)
        duration = None
        if row.deletion_time is not None:
            started = row.scheduled_time if row.scheduled_time is not None else arrival
            duration = max(float(row.deletion_time) - float(started), 0.0)
        return TraceItem(self.objects.pod(row), arrival, duration)


def read_openb_trace(path: str | Path) -> Trace:
    """A trace from an openb pod CSV (``.csv`` or ``.csv.gz``)."""
    objects = OpenbObjects()
    items = OpenbItems(list(read_pods(path)), objects)
    return Trace(Path(path).name, items, list(objects.templates.values()), str(path))
