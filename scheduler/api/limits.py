"""The documented maxima every reader checks before it allocates anything.

Input files are read by people's tools and by ours; a typo (``replicas: 1000000000``), a
hostile file (a YAML alias bomb) or a corrupt dump must end in a one-line error naming the
file, object and field, never in minutes of work or gigabytes of memory. Each limit below
is checked where the value is first read, before the objects it would multiply are built.
Where Kubernetes itself has a limit, ours is the same or lower and the docstring says so;
the others are sanity bounds far above any real cluster. The table is repeated in
``docs/semantics/manifests.md`` §9.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_COMPLETIONS_INDEXED",
    "MAX_DURATION_SECONDS",
    "MAX_GANG_SIZE",
    "MAX_NESTING_DEPTH",
    "MAX_NODES",
    "MAX_PODS_PER_INPUT",
    "MAX_REPLICAS",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "alias_ratio_allowed",
]

MAX_NESTING_DEPTH = 100
"""Deepest nesting of mappings and lists in one document. Real objects stay below 30 (a
Pod's affinity terms are about 12 deep); the API server's JSON decoder stops at 10,000,
Python's recursion far earlier, so deeper input is refused up front."""

MAX_ALIAS_NODES = 100
"""YAML alias expansion: a document may take more than this many nodes from aliases only
while their share stays under :func:`alias_ratio_allowed` (go-yaml's rule, which the API
server's YAML decoder applies: sigs.k8s.io/yaml over go-yaml)."""

_ALIAS_RANGE_LOW = 400_000
_ALIAS_RANGE_HIGH = 4_000_000


def alias_ratio_allowed(decoded: int) -> float:
    """The largest share of ``decoded`` nodes that may come from alias expansion.

    go-yaml's ``allowedAliasRatio``: 99 % up to 400,000 decoded nodes, 10 % from 4,000,000,
    linear in between. go-yaml checks it only once more than 100 nodes came from aliases
    and more than 1,000 were decoded.
    """
    if decoded <= _ALIAS_RANGE_LOW:
        return 0.99
    if decoded >= _ALIAS_RANGE_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_RANGE_LOW) / (_ALIAS_RANGE_HIGH - _ALIAS_RANGE_LOW)


MAX_REPLICAS = 100_000
"""``replicas`` of a Deployment, ReplicaSet or StatefulSet, ``parallelism`` and
``completions`` of a Job, ``replicas`` of a LeaderWorkerSet: at most this many pods (or
groups) from one object. Kubernetes allows any int32; 100,000 matches the largest cluster
spec tessera builds."""

MAX_COMPLETIONS_INDEXED = 100_000
"""``parallelism`` and ``completions`` of an Indexed Job. For parallelism this is the API
server's own limit (``pkg/apis/batch/validation``: ``maxParallelismForIndexedJob``); for
completions the API server only warns above it (``completionsSoftLimit``) and tessera
refuses."""

MAX_GANG_SIZE = 10_000
"""Pods in one gang: LeaderWorkerSet ``size``, PodGroup ``minMember``, ``tessera.io/gang-size``,
a Kueue podset. A gang is placed in one solver call; 10,000 is ten times the largest
multi-host job in the shipped scenarios' scale and still solvable."""

MAX_NODES = 100_000
"""Nodes in one cluster (a spec's pools together): twenty times the 5,000 nodes upstream
tests Kubernetes at (its scalability thresholds), ten times the largest cluster tessera
benchmarks."""

MAX_PODS_PER_INPUT = 1_000_000
"""Pods a trace may expand into, counted from the workloads' sizes before any pod is built."""

MAX_DURATION_SECONDS = 10 * 365 * 24 * 3600
"""Durations in traces (``tessera.io/duration-seconds``): at most ten years."""

MIN_TIMESTAMP = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""Earliest timestamp a trace may use (Go's zero time, ``0001-01-01T00:00:00Z``, is read as
*unset* before this check and reported)."""

MAX_TIMESTAMP = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
"""Latest timestamp a trace may use: later ones are refused naming the field (a replay that
long is a typo, and seconds since the trace start must stay exact in a float)."""
