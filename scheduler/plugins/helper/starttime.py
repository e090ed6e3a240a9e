"""When a running pod started: upstream's ``GetPodStartTime``, for both preemption plugins.

kube-scheduler reads a pod's start from ``status.startTime``, which the kubelet writes when it
acknowledges the pod (``pkg/scheduler/util/utils.go``, ``GetPodStartTime``; used by
``pickOneNodeForPreemption`` and ``MoreImportantPod``). A pod that tessera's own backend bound
(the simulator, which has no kubelet) has no ``startTime`` but a ``bound_at`` in the cache;
a pod read from an API server (``tessera serve``) has its ``startTime`` and no ``bound_at``.
Both are the start of the work an eviction loses.
"""

from __future__ import annotations

import logging

from scheduler.api.meta import parse_timestamp
from scheduler.cluster.cache import PodRecord

__all__ = ["start_time", "started_at"]

log = logging.getLogger(__name__)


def started_at(record: PodRecord) -> float | None:
    """Seconds since the epoch at which the pod started: ``status.startTime`` (RFC 3339;
    without a zone: UTC), else when tessera bound it (``PodRecord.bound_at``), else None. A
    ``startTime`` that is not RFC 3339 is logged and ignored."""
    text = record.pod.status.start_time
    if text:
        try:
            return parse_timestamp(text)
        except ValueError:
            log.warning("Pod %s: status.startTime %r is not RFC 3339; ignored", record.key, text)
    return record.bound_at


def start_time(record: PodRecord, now: float) -> float:
    """``GetPodStartTime`` in seconds: :func:`started_at`, else ``now`` (not started)."""
    found = started_at(record)
    return found if found is not None else now
