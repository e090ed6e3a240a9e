"""Trace readers; :func:`read_trace` picks the format by content."""

from __future__ import annotations

from pathlib import Path

from simulator.traces.model import Trace, TraceItem

__all__ = ["Trace", "TraceItem", "read_trace"]


def read_trace(path: str | Path) -> Trace:
    """An openb CSV (``.csv``/``.csv.gz``) or a Kubernetes object dump (YAML/JSON file or dir)."""
    name = Path(path).name
    if name.endswith((".csv", ".csv.gz")):
        from simulator.traces.openb_trace import read_openb_trace  # noqa: PLC0415 - by format

        return read_openb_trace(path)
    from simulator.traces.dump import read_dump  # noqa: PLC0415 - by format

    return read_dump(path)
