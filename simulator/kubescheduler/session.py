"""The simulator playing kube-scheduler with HTTP extenders: settings and the live session.

``tessera replay --extender FILE`` reads a KubeSchedulerConfiguration for its ``extenders:``
and ``percentageOfNodesToScore`` (:func:`load_extender_setup`, strict and validated as
kube-scheduler reads them) into an :class:`ExtenderSetup`, which the replay's configuration
carries. When the replay starts it opens a :class:`KubeSchedulerSession`: the HTTP clients
(:class:`~simulator.kubescheduler.scheduler_extenders.HTTPSchedulerExtenders`), the node
sampler shared by every profile, the binds in flight, and optionally the sync probe. Profiles
get kube-scheduler's start-up adjustment: resources an extender manages with
``ignoredByScheduler`` join NodeResourcesFit's ``ignoredResources``
(:func:`with_ignored_resources`, ``buildExtenders``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scheduler.api.errors import LoadError
from scheduler.api.kubeschedulerconfig import load_scheduler_config
from scheduler.extender.config import (
    ExtenderConfig,
    ExtenderSettings,
    extender_problems,
    ignored_extended_resources,
)
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import BindingCycle, Framework
from scheduler.framework.sampling import NodeSampler
from scheduler.framework.status import Code, Status
from simulator.kubescheduler.binding import InFlightBinds
from simulator.kubescheduler.extenders import Extenders
from simulator.kubescheduler.objects import ObjectSource
from simulator.kubescheduler.pause import PausePoint
from simulator.kubescheduler.scheduler_extenders import HTTPSchedulerExtenders
from simulator.kubescheduler.sync import DEFAULT_SYNC_TIMEOUT, SyncProbe
from simulator.queue import QueuedPod

__all__ = [
    "ExtenderSetup",
    "FailedAttempt",
    "KubeSchedulerSession",
    "PendingBind",
    "load_extender_setup",
    "with_ignored_resources",
]

log = logging.getLogger(__name__)

FIT = "NodeResourcesFit"


@dataclass(frozen=True, slots=True)
class ExtenderSetup:
    """How the simulator plays kube-scheduler (a replay's ``kube_scheduler`` setting).

    ``extenders`` as configured (called in kube-scheduler's order, ignorable ones last);
    ``percentage_of_nodes_to_score`` the global value (None: unset, adaptive); ``sync_url``
    the webhook's sync probe (needs the served API); ``source`` names the file in messages.
    An empty ``extenders`` still runs kube-scheduler's sampled cycle.
    """

    extenders: tuple[ExtenderConfig, ...] = ()
    percentage_of_nodes_to_score: int | None = None
    sync_url: str | None = None
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT
    source: str = ""


def load_extender_setup(path: str | Path) -> ExtenderSetup:
    """The ``extenders:`` and ``percentageOfNodesToScore`` of a KubeSchedulerConfiguration
    file, decoded strictly and validated as kube-scheduler does. LoadError (one line: file,
    field path, problem) for bad YAML, an unknown or misspelt key, a wrong type or a value
    kube-scheduler refuses; OSError when the file cannot be read."""
    source = str(path)
    config = load_scheduler_config(path)
    raw: dict[str, Any] = {"extenders": list(config.extenders)}
    if config.percentage_of_nodes_to_score is not None:
        raw["percentageOfNodesToScore"] = config.percentage_of_nodes_to_score
    try:
        settings = ExtenderSettings.model_validate(raw)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field (kube-scheduler decodes its configuration strictly)"
        raise LoadError(message, source=source, path=tuple(first["loc"])) from None
    problems = extender_problems(settings.extenders)
    if problems:
        problem = problems[0]
        raise LoadError(
            f"Invalid value: {problem.value!r}: {problem.detail}",
            source=source,
            path=tuple(_path(problem.path)),
        )
    return ExtenderSetup(
        extenders=settings.extenders,
        percentage_of_nodes_to_score=settings.percentage_of_nodes_to_score,
        source=source,
    )


def _path(text: str) -> list[str | int]:
    """``extenders[0].weight`` -> ``["extenders", 0, "weight"]``."""
    out: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            out.append(int(index))
            rest = rest.removeprefix("[")
    return out


def with_ignored_resources(profile: Profile, extenders: tuple[ExtenderConfig, ...]) -> Profile:
    """``profile`` with the managed resources marked ``ignoredByScheduler`` added to
    NodeResourcesFit's ``ignoredResources`` (unchanged when there are none, or when the
    profile does not run NodeResourcesFit)."""
    ignored = ignored_extended_resources(extenders)
    if not ignored or FIT not in profile.plugins.names():
        return profile
    args = dict(profile.args(FIT))
    have = list(args.get("ignoredResources") or ())
    args["ignoredResources"] = [*have, *(r for r in ignored if r not in have)]
    return profile.with_args(FIT, args)


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """A failed scheduling attempt, as ``handleSchedulingFailure`` reports it: the pod, its
    profile (the Event's reporting controller), the status (rejected: reason
    ``Unschedulable``, else ``SchedulerError``) and the node preemption nominated."""

    pod_key: str
    scheduler: str
    status: Status
    nominated: str | None = None

    @property
    def reason(self) -> str:
        """The PodScheduled condition's reason."""
        return "Unschedulable" if self.status.rejected else "SchedulerError"


@dataclass(frozen=True, slots=True)
class PendingBind:
    """An extender bind in flight: the binding cycle to finish, its framework, and the queue
    entry to put back on failure."""

    binding: BindingCycle
    framework: Framework
    queued: QueuedPod


class KubeSchedulerSession:
    """What a replay holds while it plays kube-scheduler (see the module docstring).

    Close it when the replay ends (the HTTP clients and the sync probe's)."""

    def __init__(self, setup: ExtenderSetup, objects: ObjectSource | None = None) -> None:
        self.setup = setup
        self.extenders = HTTPSchedulerExtenders(Extenders.from_configs(setup.extenders), objects)
        self.extenders.pause = PausePoint.from_env()
        self.sampler = NodeSampler(setup.percentage_of_nodes_to_score)
        self.binds: InFlightBinds[PendingBind] = InFlightBinds()
        self.sync: SyncProbe | None = None
        self.bound_node: Callable[[str], str | None] | None = None
        """The node the served API shows a pod (by key) bound to; None without an API."""
        self.report_failure: Callable[[FailedAttempt], None] | None = None
        """Writes a failed attempt to the served API (None without one)."""
        self.apply_api_writes: Callable[[], None] | None = None
        """Applies to the replay what clients wrote to the served API since the last call
        (pods deleted over it), at the current virtual time (None without an API)."""
        self.failures_reported = 0
        self.binds_unconfirmed = 0
        self.binds_elsewhere = 0

    def set_objects(self, objects: ObjectSource) -> None:
        """Take request objects from ``objects`` (the served API) from now on."""
        self.extenders.objects = objects

    def bind_due(self, now: float) -> float:
        """The virtual time by which a bind issued at ``now`` must have finished: ``now`` plus
        the longest ``httpTimeout`` of the binder extenders (infinite when one has none)."""
        longest = 0.0
        for config in self.setup.extenders:
            if config.is_binder:
                timeout = config.timeout_seconds
                if timeout is None:
                    return math.inf
                longest = max(longest, timeout)
        return now + longest

    def confirm_bind(self, pod_key: str, node: str, status: Status) -> Status:
        """An extender bind's outcome checked against the served API (when there is one).

        * SUCCESS and the API shows the pod on ``node``: bound. SUCCESS without a binding
          in the API: still bound, as kube-scheduler trusts the extender (the pod stays
          assumed there), and counted as ``binds_unconfirmed``. SUCCESS with the pod bound
          elsewhere: an ERROR (counted as ``binds_elsewhere``).
        * a failure although the API shows the pod on ``node`` (the extender bound it, then
          its reply failed or timed out): bound — kube-scheduler's failure handler sees
          ``spec.nodeName`` set and does not retry the pod.
        """
        lookup = self.bound_node
        if lookup is None:
            return status
        shown = lookup(pod_key)
        if status.code == Code.SUCCESS:
            if shown is None:
                self.binds_unconfirmed += 1
                log.log(
                    logging.WARNING if self.binds_unconfirmed == 1 else logging.DEBUG,
                    "extender reported Pod %s bound to %s, but the API has no binding "
                    "(counted as binds_unconfirmed in summary.json)",
                    pod_key,
                    node,
                )
            elif shown != node:
                self.binds_elsewhere += 1
                return Status.error(
                    f"extender bound Pod {pod_key} to node {shown}, not to {node} as asked"
                )
            return status
        if shown == node:
            return Status.success()
        return status

    def failed(self, attempt: FailedAttempt) -> None:
        """``handleSchedulingFailure``'s writes, when the replay is served: the pod's
        ``PodScheduled=False`` condition, its ``status.nominatedNodeName`` and a
        ``FailedScheduling`` Event (what a webhook watching the API sees of a failure).

        With a sync probe, the webhook is then asked to catch up at once, at the failure's
        virtual instant: what it decides on seeing the failure (a preempting webhook deletes
        victims) is written before the replay takes its next event, as a webhook reacts
        within milliseconds of the write — not at whatever later instant the next cycle
        runs."""
        if self.report_failure is not None:
            self.report_failure(attempt)
            self.failures_reported += 1
            if self.sync is not None:
                self.sync.catch_up()

    def before_cycle(self) -> None:
        """Before a scheduling cycle: the sync probe, when one is attached."""
        if self.sync is not None:
            self.sync.catch_up()

    def after_cycle(self) -> None:
        """After a scheduling cycle, once the pod is requeued: what clients wrote to the API
        meanwhile takes effect before the next cycle (a webhook that deleted preemption
        victims on seeing the failure acts within milliseconds, as the scheduler's next
        cycle would see upstream)."""
        if self.apply_api_writes is not None:
            self.apply_api_writes()

    def close(self) -> None:
        """Close the clients and the binding threads."""
        self.binds.close()
        self.extenders.close()
        if self.sync is not None:
            self.sync.close()

    def summary(self) -> dict[str, Any]:
        """The ``extenders`` section of summary.json: calls per phase, binds, sync probes."""
        out: dict[str, Any] = {
            "configured": [e.url_prefix for e in self.setup.extenders],
            "percentage_of_nodes_to_score": self.setup.percentage_of_nodes_to_score,
            "calls": self.extenders.summary(),
            "binds_in_flight_total": self.binds.submitted,
            "bind_barrier_seconds": round(self.binds.wall_seconds, 3),
            "binds_unconfirmed": self.binds_unconfirmed,
            "binds_elsewhere": self.binds_elsewhere,
        }
        if self.sync is not None:
            out["sync"] = {
                "url": self.sync.url,
                "probes": self.sync.probes,
                "seconds": round(self.sync.seconds, 3),
            }
        return out
