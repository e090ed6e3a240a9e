"""The openb pod list as a replay trace (arrivals and departures).

Each pod arrives at ``creation_time`` and, once bound, runs for ``deletion_time -
scheduled_time`` seconds (``deletion_time - creation_time`` when the trace has no
scheduled time, as for pods that were pending); files without time columns (the
``multigpu*`` variants) arrive at 0 and run to the end. Pods and claim templates follow
:mod:`simulator.traces.openb_objects`.
"""

from __future__ import annotations

from pathlib import Path

from simulator.traces.model import Trace, TraceItem
from simulator.traces.openb import read_pods
from simulator.traces.openb_objects import OpenbObjects


def read_openb_trace(path: str | Path) -> Trace:
    """A trace from an openb pod CSV (``.csv`` or ``.csv.gz``)."""
    objects = OpenbObjects()
    items = []
    for row in read_pods(path):
        arrival = float(row.creation_time) if row.creation_time is not None else 0.0
        duration = None
        if row.deletion_time is not None:
            started = row.scheduled_time if row.scheduled_time is not None else arrival
            duration = max(float(row.deletion_time) - float(started), 0.0)
        items.append(TraceItem(objects.pod(row), arrival, duration))
    return Trace(Path(path).name, items, list(objects.templates.values()), str(path))
