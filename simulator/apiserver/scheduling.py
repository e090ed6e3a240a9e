"""The in-process scheduler of ``tessera cluster serve``: tessera's framework binds pods
created over the API, as kube-scheduler would.

A daemon thread waits for API writes (:attr:`ServedCluster.changed`) and then tries every
pending pod whose ``spec.schedulerName`` is the served scheduler name (``default-scheduler``
unless told otherwise; the API defaults an empty name to it) and that has no scheduling gates,
in creation order, one ``Framework.schedule_one`` cycle each, under the cluster lock. The
framework writes through the :class:`~simulator.backend.SimulatedCluster` like in a replay:
claim allocations (``resourceclaims/status``) and the binding reach the API through the
backend's observer. A pod that does not fit gets a ``PodScheduled=False`` condition with
reason ``Unschedulable`` and the framework's message (what ``kubectl describe pod`` shows),
and is retried after the next write. Pods are placed one at a time (no gang placement).
"""

from __future__ import annotations

import logging
import threading
import time

from scheduler.api.pod import Pod
from scheduler.framework.podinfo import pod_info
from scheduler.framework.runtime import Framework
from scheduler.plugins.registry import build_framework
from simulator.apiserver.cluster import ServedCluster
from simulator.experiments.policies import replay_profile

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER = "default-scheduler"


class InProcessScheduler:
    """Schedules the served cluster's pending pods (see the module docstring)."""

    def __init__(
        self,
        cluster: ServedCluster,
        *,
        policy: str = "kube-default",
        scheduler_name: str = DEFAULT_SCHEDULER,
    ) -> None:
        if cluster.backend is None:
            raise ValueError("the in-process scheduler needs a simulated cluster behind the API")
        self.cluster = cluster
        self.backend = cluster.backend
        self.scheduler_name = scheduler_name
        profile = replay_profile(policy)
        self.framework: Framework = build_framework(profile, self.backend)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()

    def start(self) -> InProcessScheduler:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="tessera-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self.cluster.changed.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.cluster.changed.wait(timeout=5.0)
            self.cluster.changed.clear()
            if self._stop.is_set():
                return
            try:
                self.schedule_pending()
            except Exception:
                log.exception("scheduling pass failed")

    def _pending(self) -> list[Pod]:
        cache = self.backend.cache
        pods = [
            r.pod
            for r in cache.pods.values()
            if r.node is None
            and not r.pod.spec.scheduling_gates
            and (r.pod.spec.scheduler_name or DEFAULT_SCHEDULER) == self.scheduler_name
        ]
        return sorted(
            pods, key=lambda p: (p.metadata.creation_timestamp or "", p.metadata.name or "")
        )

    def schedule_pending(self) -> int:
        """One pass over the pending pods; returns how many were bound."""
        bound = 0
        with self.cluster.lock:
            self.backend.clock = time.monotonic() - self._start
            cache = self.backend.cache
            for pod in self._pending():
                info = pod_info(
                    pod, priority_classes=cache.priority_classes, pod_groups=cache.pod_groups
                )
                result = self.framework.schedule_one(info)
                if result.status.ok and result.node is not None:
                    bound += 1
                    continue
                self._unschedulable(pod, result.status.message())
        return bound

    def _unschedulable(self, pod: Pod, message: str) -> None:
        pods = self.cluster.resource("pods")
        entry = self.cluster.store.get(pods, pod.metadata.namespace or "", pod.metadata.name or "")
        if entry is None:
            return
        obj = entry.obj()
        conditions = [
            c
            for c in obj.setdefault("status", {}).get("conditions") or []
            if c.get("type") != "PodScheduled"
        ]
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }
        if condition in (obj["status"].get("conditions") or []):
            return
        conditions.append(condition)
        obj["status"]["conditions"] = conditions
        self.cluster.store.update(pods, obj)
