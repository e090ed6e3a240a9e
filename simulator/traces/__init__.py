"""Trace readers of recorded inputs (openb CSVs, Kubernetes object dumps) and the trace
model; :func:`simulator.inputs.read_trace` picks among them and the scenario generator."""

from __future__ import annotations

from simulator.traces.model import Trace, TraceItem

__all__ = ["Trace", "TraceItem"]
