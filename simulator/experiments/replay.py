"""Trace replay: arrivals and departures on a simulated cluster, through the scheduler.

Algorithm overview:

* arrivals create pods (and their template claims) at their trace time and put them in the
  scheduling queue (kube-scheduler's activeQ / backoffQ / unschedulable behaviour);
* a scheduling pass runs cycles until activeQ is empty: a lone pod through
  ``Framework.schedule_one``, a gang member through ``Framework.schedule_gang`` (the whole
  gang at once, members not created yet reserved);
* a bound pod completes after its duration (or at its ``finish_at``); completions free its
  node and claims and move unschedulable pods back;
* preemption victims and pods on a failed node are evicted: deleted, recorded, and
  recreated pending (their controller would recreate them); a gang loses all its members
  together (LWS restarts the whole group);
* a ``NoExecute`` device taint (a failed GPU) evicts the pods holding that device or a
  partition sharing its counters, and takes the device out of service for the rest of the
  run (no toleration of the fault key is modelled: the fault stands for a dead device);
* one timeline row per simulated minute.

Outputs: ``summary.json``, ``placements.jsonl`` (every bind, eviction and failed attempt),
``timeline.csv``. ``pending_seconds`` in the summary is measured at each bind (from the pod's
creation, or its recreation after an eviction); pods never bound are counted by
``pods_unschedulable`` instead. Same inputs and seed -> byte-identical outputs (except
``wall_seconds``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.kubeschedulerconfig import DEFAULT_SCHEDULER_NAME
from scheduler.api.pod import Pod, pod_claim_keys, pod_extended_claim_key
from scheduler.dra.allocator import MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.convert import claim_spec_from
from scheduler.framework.gang_cycle import GangCycle
from scheduler.framework.podinfo import GangRef, PodInfo, gang_of, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import Framework
from scheduler.framework.status import Code
from scheduler.plugins.gpu.measure import FragTracker, TaskShape, WorkloadMix, typical_mix
from scheduler.plugins.gpu.shape import shape_of_claims
from scheduler.plugins.registry import build_framework
from simulator.atomic import write_files_atomic
from simulator.backend import SimulatedCluster
from simulator.clusters import LoadedCluster
from simulator.engine import (
    DeviceTaintEvent,
    Engine,
    NodeFailure,
    PodArrival,
    PodCompletion,
    QueueTimer,
    Sample,
    SchedulePass,
)
from simulator.experiments.policies import DeviceChoice, with_target_workload
from simulator.gctune import simulation_gc
from simulator.queue import INITIAL_BACKOFF, MAX_BACKOFF, QueuedPod, SchedulingQueue
from simulator.traces.model import Trace, TraceItem

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 60.0
OUTPUT_FILES = ("summary.json", "placements.jsonl", "timeline.csv")


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected fault: ``node`` lost at ``time``, or a device taint (``device`` set)."""

    time: float
    node: str | None = None
    device: tuple[str, str, str] | None = None
    key: str = "tessera.io/fault"
    value: str = ""
    effect: str = "NoExecute"


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """How to replay (the profiles are built by the caller).

    ``device_choice`` is reported in the summary (``config`` when a configuration's plugin
    args decide); the backoffs are the queue's (``podInitialBackoffSeconds`` /
    ``podMaxBackoffSeconds`` of a configuration).
    """

    device_choice: DeviceChoice | Literal["config"] = "first-fit"
    seed: int = 0
    horizon: float | None = None
    gang_timeout: float = 600.0
    faults: tuple[Fault, ...] = ()
    initial_backoff: float = INITIAL_BACKOFF
    max_backoff: float = MAX_BACKOFF
    scheduler_names: tuple[str, ...] = (DEFAULT_SCHEDULER_NAME, "tessera")
    """The ``spec.schedulerName`` values a replay's single profile answers to (besides its
    own name); with several profiles each answers to its own name only. Pods naming no
    profile are created but never scheduled (as in a cluster where that scheduler is not
    running) and counted as ``pods_other_scheduler``."""


@dataclass(slots=True)
class _PodState:
    item: TraceItem
    index: int
    info: PodInfo | None = None
    incarnation: int = 0
    pending_since: float = 0.0
    node: str | None = None
    bound_at: float | None = None
    ever_bound: bool = False


@dataclass(slots=True)
class ReplayResult:
    """Everything a replay produced."""

    summary: dict[str, Any]
    placements: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def write(self, out: Path) -> None:
        """Write summary.json, placements.jsonl and timeline.csv into ``out``, all three or
        none (:func:`simulator.atomic.write_files_atomic`)."""
        header = list(self.timeline[0]) if self.timeline else ["minute"]
        rows = [",".join(header)]
        rows.extend(",".join(_cell(r[h]) for h in header) for r in self.timeline)
        write_files_atomic(
            out,
            {
                "summary.json": json.dumps(self.summary, indent=2, sort_keys=True) + "\n",
                "placements.jsonl": "".join(
                    json.dumps(p, sort_keys=True) + "\n" for p in self.placements
                ),
                "timeline.csv": "\n".join(rows) + "\n",
            },
            replaces=OUTPUT_FILES,
        )


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    data = np.asarray(values, dtype=np.float64)
    return {
        name: round(float(np.percentile(data, q)), 3)
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99))
    }


class Replay:
    """One replay run (see the module docstring)."""

    def __init__(
        self,
        cluster: LoadedCluster,
        trace: Trace,
        profiles: Profile | Sequence[Profile],
        config: ReplayConfig,
    ) -> None:
        self.cluster = cluster
        self.cache = cluster.cache
        self.trace = trace
        self.config = config
        self.engine = Engine()
        self.queue = SchedulingQueue(
            initial_backoff=config.initial_backoff, max_backoff=config.max_backoff
        )
        self.backend = SimulatedCluster(self.cache)
        self.backend.on_evict = self._evicted
        self._load_objects()
        self._mix: WorkloadMix | None = self._target_mix()
        self._frag = FragTracker(self._mix) if self._mix is not None else None
        chosen = [profiles] if isinstance(profiles, Profile) else list(profiles)
        if not chosen:
            raise ValueError("replay: no scheduler profile given")
        self.frameworks: dict[str, Framework] = {
            p.name: build_framework(with_target_workload(p, self._mix), self.backend)
            for p in chosen
        }
        self.framework: Framework = next(iter(self.frameworks.values()))
        self.pods: dict[str, _PodState] = {}
        self.waiting_on: dict[str, list[int]] = {}
        self.placements: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.pending_seconds: dict[str, list[float]] = {"serving": [], "batch": []}
        self.preemptions = 0
        self.gangs: dict[str, GangRef] = {}
        self.gang_items: dict[str, list[int]] = {}
        self.gang_partial: set[str] = set()
        self.gang_placed: set[str] = set()
        self._pass_pending = False
        self._timer_at: float | None = None
        self._running = 0
        self._sampled: tuple[int, int, int] | None = None
        self._epoch = 0  # bumped by every bind, eviction, completion and fault
        self._tried: dict[str, int] = {}  # pod -> epoch of its last failed attempt
        self.slot_waiting: dict[str, deque[int]] = {}  # Job slot -> pods created on completions
        self.other_scheduler: dict[str, int] = {}  # schedulerName -> pods nobody schedules
        self._stuck = False

    # -- setup -------------------------------------------------------------------------------
    def _load_objects(self) -> None:
        for obj in self.trace.objects:
            if isinstance(obj, ResourceClaimTemplate):
                self.backend.add_template(obj)
            else:
                self.cache.add(obj)

    def _target_mix(self) -> WorkloadMix:
        """FGD target workload of the trace (its pods' shapes, 95% popularity)."""
        snapshot = self.cache.snapshot()
        match = MatchCache(CelEnvironment(consumable_capacity=True))
        counts: dict[TaskShape, int] = {}
        for item in self.trace.items:
            specs = []
            namespace = item.pod.metadata.namespace or "default"
            for ref in item.pod.spec.resource_claims:
                template = self.backend.templates.get(
                    f"{namespace}/{ref.resource_claim_template_name}"
                )
                if template is not None:
                    specs.append(
                        claim_spec_from(template.spec.spec, namespace=namespace, name=ref.name)
                    )
            requests = pod_info(item.pod).requests
            shape = shape_of_claims(
                requests.get("cpu", 0),
                requests.get("memory", 0),
                specs,
                snapshot,
                match,
                extended=requests,
            )
            spec = "|".join(sorted(shape.models)) if shape.models is not None else ""
            key = TaskShape(shape.cpu_milli, shape.gpu_milli, shape.num_gpu, spec)
            counts[key] = counts.get(key, 0) + 1
        return typical_mix(counts, 0.95, models=snapshot.gpus.models)

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> ReplayResult:
        """Replay the whole trace."""
        with simulation_gc():
            return self._run()

    def _run(self) -> ReplayResult:
        start = time.perf_counter()
        items = self.trace.sorted_items()
        self._items = items
        for index, item in enumerate(items):
            gang = gang_of(item.pod, self.cache.pod_groups)
            if gang is not None and gang.size > 1:
                self.gang_items.setdefault(gang.key, []).append(index)
        for index, item in enumerate(items):
            if item.after_bound_of is not None:
                self.waiting_on.setdefault(item.after_bound_of, []).append(index)
            elif item.waits_slot is not None:
                self.slot_waiting.setdefault(item.waits_slot, deque()).append(index)
            else:
                self.engine.push(item.arrival + item.delay, PodArrival(index))
        for fault in self.config.faults:
            if fault.node is not None:
                self.engine.push(fault.time, NodeFailure(fault.node))
            elif fault.device is not None:
                driver, pool, device = fault.device
                self.engine.push(
                    fault.time,
                    DeviceTaintEvent(driver, pool, device, fault.key, fault.value, fault.effect),
                )
        self.engine.push(0.0, Sample())
        horizon = self.config.horizon
        for event in self.engine.events(horizon):
            now = self.engine.now
            self.backend.clock = now
            if isinstance(event, PodArrival):
                self._arrive(event.index, now)
            elif isinstance(event, PodCompletion):
                self._epoch += 1
                self._complete(event, now)
            elif isinstance(event, NodeFailure):
                self._epoch += 1
                self._node_failure(event.node, now)
            elif isinstance(event, DeviceTaintEvent):
                self._epoch += 1
                self._device_taint(event, now)
            elif isinstance(event, QueueTimer):
                self._timer_at = None
                if self._settled():
                    self._stuck = True  # retrying cannot help: leave the rest pending
                    continue
                self.queue.flush(now)
                self._want_pass(now)
            elif isinstance(event, SchedulePass):
                self._pass_pending = False
                self._schedule_pass(now)
            elif isinstance(event, Sample):
                self._sample(now)
                if self._has_work():
                    self.engine.push(now + SAMPLE_SECONDS, Sample())
            self._arm_timer(now)
        end = self.engine.now if horizon is None else horizon
        return ReplayResult(
            self._summary(end, time.perf_counter() - start), self.placements, self.timeline
        )

    def _has_work(self) -> bool:
        """Whether anything can still change: some event other than this sample is queued
        (pods without a duration run to the end and schedule nothing)."""
        return len(self.engine) > 0

    def _settled(self) -> bool:
        """Nothing can change any more: no world event is queued, no pass is due, and every
        pending pod has failed since the last change (the scheduler is deterministic, so
        retrying would fail the same way)."""
        return (
            self.engine.world_pending == 0
            and not self._pass_pending
            and all(
                self._tried.get(q.key) == self._epoch
                for q in self.queue.pending()
                if q.key not in self.queue.gated
            )
        )

    def _want_pass(self, now: float) -> None:
        if not self._pass_pending:
            self._pass_pending = True
            self.engine.push(now, SchedulePass())

    def _arm_timer(self, now: float) -> None:
        when = self.queue.next_timer()
        if when is None or self._stuck:
            return
        when = max(when, now)
        if self._timer_at is None or when < self._timer_at:
            self._timer_at = when
            self.engine.push(when, QueueTimer())

    # -- pods --------------------------------------------------------------------------------
    def _arrive(self, index: int, now: float) -> None:
        item = self._items[index]
        key = item.key
        state = self.pods.get(key)
        if state is None:
            state = _PodState(item, index)
            self.pods[key] = state
        pod = item.pod
        if item.follow_topology is not None and item.after_bound_of is not None:
            pod = self._follow(pod, item.after_bound_of, item.follow_topology)
        pod = self.backend.create_pod(pod)
        framework = self._framework_for(pod)
        if framework is None:
            scheduler = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
            self.other_scheduler[scheduler] = self.other_scheduler.get(scheduler, 0) + 1
            return
        info = self._info(pod, framework)
        state.info = info
        state.pending_since = now
        if info.gang is not None:
            self.gangs.setdefault(info.gang.key, info.gang)
        record = self.cache.pods.get(key)
        if record is not None and record.assumed and record.node is not None:
            status = framework.bind_reserved(info)
            if status.ok:
                self._bound(key, record.node, now)
                return
            self._record(now, "fail", key, None, f"reservation lost: {status.message()}")
            if key in self.gang_items.get(info.gang.key if info.gang else "", ()):
                self.gang_partial.add(info.gang.key if info.gang else key)
        gate = framework.pre_enqueue(info)
        if not gate.ok:
            # kube-scheduler parks the pod until an update lifts its gates; trace pods are
            # never updated, so it waits for the rest of the run
            self._record(now, "fail", key, None, gate.message())
            self.queue.add_gated(info, now)
            return
        self.queue.add(info, now)
        self._want_pass(now)

    def _framework_for(self, pod: Pod) -> Framework | None:
        """The framework of the profile named by the pod's ``spec.schedulerName`` (unset:
        ``default-scheduler``); a single profile also answers to ``config.scheduler_names``.
        None: no profile answers (the pod is never scheduled, as in a real cluster)."""
        name = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
        found = self.frameworks.get(name)
        if found is None and len(self.frameworks) == 1 and name in self.config.scheduler_names:
            found = self.framework
        return found

    def _info(self, pod: Pod, framework: Framework) -> PodInfo:
        """The pod's scheduling facts, batch by its profile's threshold."""
        return pod_info(
            pod,
            priority_classes=self.cache.priority_classes,
            pod_groups=self.cache.pod_groups,
            batch_threshold=framework.profile.batch_threshold,
        )

    def _follow(self, pod: Pod, leader_key: str, label: str) -> Pod:
        """``pod`` with ``nodeSelector {label: <value on the leader's node>}`` (an LWS worker
        of an exclusive group, created once its leader is bound); unchanged when the leader
        is not running or its node lacks the label."""
        leader = self.pods.get(leader_key)
        node = self.cache.nodes.get(leader.node) if leader is not None and leader.node else None
        value = node.metadata.labels.get(label) if node is not None else None
        if value is None:
            return pod
        selector = {**pod.spec.node_selector, label: value}
        spec = pod.spec.model_copy(update={"node_selector": selector})
        return pod.model_copy(update={"spec": spec})

    def _record(self, now: float, event: str, key: str, node: str | None, reason: str = "") -> None:
        devices = [f"{d}/{p}/{v}" for d, p, v in self._devices_of(key)] if event == "bind" else []
        entry: dict[str, Any] = {
            "t": round(now, 6),
            "event": event,
            "pod": key,
            "node": node,
            "devices": sorted(devices),
        }
        if event != "bind":
            entry["reason"] = reason
        if event == "fail":
            self._tried[key] = self._epoch
        else:
            self._epoch += 1
        self.placements.append(entry)

    def _bound(self, key: str, node: str, now: float) -> None:
        state = self.pods[key]
        state.node = node
        self._running += 1
        state.bound_at = now
        state.ever_bound = True
        assert state.info is not None
        self.pending_seconds["batch" if state.info.batch else "serving"].append(
            now - state.pending_since
        )
        self._record(now, "bind", key, node)
        item = state.item
        end: float | None = None
        if item.finish_at is not None:
            end = max(item.finish_at, now)
        elif item.duration is not None:
            end = now + item.duration
        if end is not None:
            self.engine.push(end, PodCompletion(key, state.incarnation))
        for waiting in self.waiting_on.pop(key, ()):
            self.engine.push(now + self._items[waiting].delay, PodArrival(waiting))

    def _schedule_pass(self, now: float) -> None:
        while True:
            queued = self.queue.pop(now)
            if queued is None:
                return
            self._cycle(queued, now)

    def _cycle(self, queued: QueuedPod, now: float) -> None:
        info = queued.info
        framework = self._framework_for(info.pod)
        assert framework is not None  # pods no profile answers to are never queued
        if info.gang is not None and info.gang.size > 1 and framework.points.gang:
            self._gang_cycle(queued, framework, now)
            return
        result = framework.schedule_one(info)
        if result.status.ok and result.node is not None:
            self._bound(info.key, result.node, now)
            return
        reason = result.status.message()
        self._record(now, "fail", info.key, None, reason)
        if result.victims:
            self.queue.requeue_active(queued, now)
        elif result.status.code == Code.ERROR:
            self.queue.requeue_error(queued, now)
        else:
            self.queue.requeue_unschedulable(queued, now)

    def _gang_cycle(self, queued: QueuedPod, framework: Framework, now: float) -> None:
        """Place the whole gang of ``queued`` with ``framework`` (its profile's); members
        not created yet are reserved."""
        info = queued.info
        gang = info.gang
        assert gang is not None
        indices = self.gang_items.get(gang.key, [])
        pulled = [queued]
        members: list[PodInfo] = []
        created: set[str] = set()
        problem = ""
        if len(indices) < gang.size:
            problem = f"gang {gang.key}: {len(indices)} of {gang.size} members exist in the trace"
        for index in indices:
            item = self._items[index]
            key = item.key
            state = self.pods.get(key)
            if state is not None and state.node is not None:
                problem = f"gang {gang.key}: member {key} is already running"
                break
            if key == info.key:
                members.append(info)
                created.add(key)
            elif key in self.queue.gated:
                problem = f"gang {gang.key}: member {key} is waiting for scheduling gates"
                break
            elif key in self.queue:
                other = self.queue.remove(key)
                assert other is not None
                pulled.append(other)
                members.append(other.info)
                created.add(key)
            else:
                members.append(self._info(item.pod, framework))
        if not problem:
            result = GangCycle(framework).run(members, created)
            for key in result.bound:
                self._bound(key, result.assignments[key], now)
            if result.status.ok:
                self.gang_placed.add(gang.key)
                return
            problem = result.status.message()
            if result.bound:
                # a Bind failure after some members bound: the group restarts as a whole
                # (the evicted members arrive again; the others wait in the queue)
                self.gang_partial.add(gang.key)
                self.backend.evict(result.bound[0], f"gang {gang.key} restarted: {problem}")
                pulled = [waiting for waiting in pulled if waiting.key not in result.bound]
            if result.victims:
                for waiting in pulled:
                    self._record(
                        now,
                        "fail",
                        waiting.key,
                        None,
                        f"{problem} (preempted {len(result.victims)} pod(s))",
                    )
                    self.queue.requeue_active(waiting, now)
                return
        for waiting in pulled:
            self._record(now, "fail", waiting.key, None, problem)
            self.queue.requeue_unschedulable(waiting, now)

    def _complete(self, event: PodCompletion, now: float) -> None:
        state = self.pods.get(event.key)
        if state is None or state.incarnation != event.incarnation or state.node is None:
            return
        state.node = None
        self._running -= 1
        self.backend.delete_pod(event.key)
        slot = state.item.completes_slot
        waiting = self.slot_waiting.get(slot) if slot is not None else None
        if waiting:
            self.engine.push(now, PodArrival(waiting.popleft()))
        self.queue.move_all(now)
        self._want_pass(now)

    # -- evictions and faults ---------------------------------------------------------------
    def _evicted(self, key: str, reason: str) -> None:
        """Backend callback: a running pod is being deleted by preemption or a fault."""
        now = self.engine.now
        state = self.pods.get(key)
        if state is None or state.node is None:
            return  # not running (already evicted with its gang, or still pending)
        self.preemptions += reason.startswith("preempted")
        self._record(now, "evict", key, state.node, reason)
        self._running -= 1
        state.node = None
        state.incarnation += 1
        self.engine.push(now, PodArrival(state.index))
        gang = state.info.gang if state.info is not None else None
        if gang is not None and gang.size > 1:
            # LWS restarts the whole group: the running siblings go too (each is re-entered
            # here with its node already cleared, so the recursion ends)
            for index in self.gang_items.get(gang.key, ()):
                sibling = self._items[index].key
                other = self.pods.get(sibling)
                if sibling != key and other is not None and other.node is not None:
                    self.backend.evict(sibling, f"gang {gang.key} restarted: {key} evicted")

    def _node_failure(self, node: str, now: float) -> None:
        victims = sorted(r.key for r in self.cache.pods_on_node.get(node, {}).values())
        for key in victims:
            self.backend.evict(key, f"node {node} lost")
        self.cache.remove_node(node)
        self.queue.move_all(now)
        self._want_pass(now)

    def _device_taint(self, event: DeviceTaintEvent, now: float) -> None:
        if event.effect != "NoExecute":
            return
        device = (event.driver, event.pool, event.device)
        affected = set(self.cache.devices.counter_siblings(device))
        holders = sorted(
            key
            for key, state in self.pods.items()
            if state.node is not None and affected & self._devices_of(key)
        )
        for key in holders:
            self.backend.evict(key, f"device {'/'.join(device)} tainted {event.key}:NoExecute")
        self.cache.withdraw_device(device, f"taint {event.key}:NoExecute")
        self.queue.move_all(now)
        self._want_pass(now)

    def _devices_of(self, key: str) -> set[tuple[str, str, str]]:
        """The devices a pod's claims hold (its own, named and generated, and the claim made
        for its DRA-served extended resources)."""
        record = self.cache.pods.get(key)
        if record is None:
            return set()
        keys = [claim for _, claim in pod_claim_keys(record.pod) if claim is not None]
        extended = pod_extended_claim_key(record.pod)
        if extended is not None:
            keys.append(extended)
        out: set[tuple[str, str, str]] = set()
        for claim in keys:
            held = self.cache.claims.get(claim)
            if held is not None:
                out.update(r.device_id for r in held.results)
        return out

    # -- metrics ----------------------------------------------------------------------------------
    def _sample(self, now: float) -> None:
        minute = round(now / SAMPLE_SECONDS)
        key = (self.cache.generation, len(self.queue), self._running)
        if self.timeline and key == self._sampled:
            self.timeline.append({**self.timeline[-1], "minute": minute})
            return
        self._sampled = key
        snapshot = self.cache.snapshot()
        gpus = snapshot.gpus
        capacity = int(gpus.gpu_count.sum()) * 1000
        free = int(gpus.gpu_free.sum())
        frag = float(self._frag.values(snapshot).sum()) if self._frag is not None else 0.0
        pending = {"serving": 0, "batch": 0}
        for queued in self.queue.pending():
            pending["batch" if queued.info.batch else "serving"] += 1
        self.timeline.append(
            {
                "minute": minute,
                "alloc_pct": round(100.0 * (capacity - free) / capacity, 4) if capacity else 0.0,
                "frag_pct": round(100.0 * frag / capacity, 4) if capacity else 0.0,
                "pending_serving": pending["serving"],
                "pending_batch": pending["batch"],
                "running": self._running,
            }
        )

    def _summary(self, end: float, wall: float) -> dict[str, Any]:
        scheduled = sum(1 for p in self.pods.values() if p.ever_bound)
        for key, gang in self.gangs.items():
            members = [
                p
                for p in self.pods.values()
                if p.info is not None and p.info.gang is not None and p.info.gang.key == key
            ]
            bound = sum(1 for p in members if p.ever_bound)
            if bound == gang.size:
                self.gang_placed.add(key)
            elif (
                bound > 0 and end - min(p.pending_since for p in members) > self.config.gang_timeout
            ):
                self.gang_partial.add(key)
        alloc = [row["alloc_pct"] for row in self.timeline]
        summary: dict[str, Any] = {
            "trace": self.trace.name,
            "cluster": self.cluster.name,
            "device_choice": self.config.device_choice,
            "end_seconds": round(end, 3),
            "pods_total": len(self.pods),
            "pods_scheduled": scheduled,
            "pods_unschedulable": len(self.pods) - scheduled,
            "gangs_total": len(self.gangs),
            "gangs_placed": len(self.gang_placed),
            "gangs_partial": len(self.gang_partial),
            "preemptions": self.preemptions,
            "gpu_alloc_mean_pct": round(float(np.mean(alloc)), 4) if alloc else 0.0,
            "pending_seconds": {
                cls: _percentiles(values) for cls, values in self.pending_seconds.items()
            },
            "events": self.engine.processed,
            "wall_seconds": round(wall, 3),
        }
        if self.other_scheduler:
            summary["pods_other_scheduler"] = dict(sorted(self.other_scheduler.items()))
            for name, count in sorted(self.other_scheduler.items()):
                log.warning(
                    "%d pod(s) name schedulerName %r, which no profile of this replay answers "
                    "to (%s): they stay pending",
                    count,
                    name,
                    ", ".join(self.config.scheduler_names),
                )
        return summary


def run_replay(
    cluster: LoadedCluster,
    trace: Trace,
    profiles: Profile | Sequence[Profile],
    config: ReplayConfig,
) -> ReplayResult:
    """Replay ``trace`` on ``cluster`` with ``profiles`` (see the module docstring); the
    summary's ``policy`` is the profile names joined by ``+``."""
    replay = Replay(cluster, trace, profiles, config)
    result = replay.run()
    result.summary["policy"] = "+".join(replay.frameworks)
    return result
