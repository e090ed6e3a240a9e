"""What a replay takes as its trace: :func:`read_trace` picks the reader by content.

It sits above :mod:`simulator.traces` (the readers of recorded inputs) and
:mod:`simulator.scenarios` (which generates a trace from a scenario and the cluster), so
neither needs to know the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from simulator.traces.model import Trace

if TYPE_CHECKING:
    from simulator.clusters import LoadedCluster

__all__ = ["read_trace"]


def read_trace(path: str | Path, *, seed: int = 0, cluster: LoadedCluster | None = None) -> Trace:
    """An openb CSV (``.csv``/``.csv.gz``), a scenario (``kind: Scenario``: generated for
    ``seed`` on ``cluster``, default its own cluster spec) or a Kubernetes object dump
    (YAML/JSON file or dir). ValueError names the file, object and field of bad input."""
    name = Path(path).name
    if name.endswith((".csv", ".csv.gz")):
        from simulator.traces.openb_trace import read_openb_trace  # noqa: PLC0415 - by format

        return read_openb_trace(path)
    from simulator.scenarios.model import is_scenario  # noqa: PLC0415 - by format

    if is_scenario(path):
        from simulator.scenarios import scenario_trace  # noqa: PLC0415 - by format

        return scenario_trace(path, seed=seed, cluster=cluster)
    from simulator.traces.dump import read_dump  # noqa: PLC0415 - by format

    return read_dump(path)
