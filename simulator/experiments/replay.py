"""Trace replay: arrivals and departures on a simulated cluster, through the scheduler.

Algorithm overview:

* arrivals create pods (and their template claims) at their trace time and put them in the
  scheduling queue (kube-scheduler's activeQ / backoffQ / unschedulable behaviour);
* a scheduling pass runs cycles until activeQ is empty: a lone pod through
  ``Framework.schedule_one``, a gang member through the gang cycle (the whole gang at once,
  members not created yet reserved);
* a bound pod completes after its remaining work (its duration at first); a pod with a
  ``finish_at`` is deleted then (its controller scaled it down): running, it ends; pending,
  it leaves the queue; not created yet, it never is. Completions and deletions free the
  node and the claims and move unschedulable pods back;
* preemption victims and pods on a failed node or device are evicted: deleted, recorded,
  and recreated pending (their controller would recreate them); a gang loses all its members
  together (LWS restarts the whole group). A recreated pod keeps the work it had
  checkpointed: with a checkpoint interval ``c`` (annotation ``tessera.io/checkpoint-seconds``)
  a pod evicted ``p`` seconds after it was bound saved ``floor(p / c) x c`` seconds of work and
  lost the rest (without one, it lost all ``p``); the lost accelerator-seconds are counted per
  cause (preemption, failure) and class;
* a node failure evicts the node's pods and removes it; a ``NoExecute`` device taint (a failed
  GPU) evicts the pods holding that device or a partition sharing its counters and takes the
  device out of service. A fault with a repair time ends then: the node returns empty with
  its devices, the device is in service again;
* accelerator use per class is integrated exactly between events
  (:mod:`simulator.experiments.accounting`); a timeline row is sampled every simulated
  minute (coarsened for very long replays so there are at most ``TIMELINE_MAX_ROWS``).

Outputs stream to disk as the replay runs (:mod:`simulator.experiments.replay_output`);
finished pods leave memory (what the metrics need is kept as running sums and compact
arrays). ``pending_seconds`` in the summary is measured at each bind (from the pod's
creation, or its recreation after an eviction); pods never bound are counted by
``pods_unschedulable`` instead; pods that failed for a reason no cluster event can change
(a final status: a claim needing a feature gate the cluster has off) are tried once and
counted per reason in ``pods_unplaceable``. Same inputs and seed -> byte-identical outputs (except
``wall_seconds``).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Any, Literal

from scheduler.api.dra import ResourceClaimTemplate
from scheduler.api.kubeschedulerconfig import DEFAULT_SCHEDULER_NAME
from scheduler.api.pod import Pod, pod_claim_keys, pod_extended_claim_key
from scheduler.dra.allocator import MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.convert import claim_spec_from
from scheduler.framework.gang_cycle import GangCycle
from scheduler.framework.podinfo import PodInfo, gang_of, pod_info
from scheduler.framework.profiles import Profile
from scheduler.framework.runtime import BindingCycle, Framework, ScheduleResult
from scheduler.framework.status import Code, Status
from scheduler.plugins.gpu.measure import FragTracker, TaskShape, WorkloadMix, typical_mix
from scheduler.plugins.gpu.shape import shape_of_claims
from scheduler.plugins.registry import build_framework
from simulator.backend import MissingTemplateError, SimulatedCluster
from simulator.clusters import LoadedCluster
from simulator.engine import (
    DeviceRepair,
    DeviceTaintEvent,
    Engine,
    NodeFailure,
    NodeRepair,
    PodArrival,
    PodCompletion,
    PodDeletion,
    QueueTimer,
    Sample,
    SchedulePass,
)
from simulator.experiments.accounting import (
    MILLI,
    TPU_DRIVER,
    Ledger,
    Samples,
    UsageModel,
    node_capacity,
    percentiles,
)
from simulator.experiments.gangs import GangBook
from simulator.experiments.policies import DeviceChoice, with_target_workload
from simulator.experiments.replay_output import (
    OUTPUT_FILES,
    OutputTarget,
    OutputWriter,
    ReplayResult,
)
from simulator.gctune import simulation_gc
from simulator.kubescheduler.session import (
    ExtenderSetup,
    FailedAttempt,
    KubeSchedulerSession,
    PendingBind,
    with_ignored_resources,
)
from simulator.queue import INITIAL_BACKOFF, MAX_BACKOFF, QueuedPod, SchedulingQueue
from simulator.traces.model import (
    ANNOTATION_CHECKPOINT,
    Fault,
    LazyItems,
    ReorderedItems,
    Trace,
    TraceItem,
)

__all__ = [
    "OUTPUT_FILES",
    "SAMPLE_SECONDS",
    "TIMELINE_MAX_ROWS",
    "Fault",
    "Replay",
    "ReplayConfig",
    "ReplayResult",
    "checkpointed_work",
    "run_replay",
]

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 60.0
TIMELINE_MAX_ROWS = 100_000
"""At most this many timeline rows: past half of them the sampling interval doubles, and
again past half of what is left, and so on."""
FAULT_OWNER = "tessera.io/fault"
ERROR_RETRIES = 5
"""Playing kube-scheduler, this many attempts in a row of a pod that end in an ERROR (an
extender failing) do not count towards a settled replay: an extender may answer differently
although nothing in the cluster changed."""


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """How to replay (the profiles are built by the caller).

    ``device_choice`` is reported in the summary (``config`` when a configuration's plugin
    args decide); the backoffs are the queue's (``podInitialBackoffSeconds`` /
    ``podMaxBackoffSeconds`` of a configuration); ``faults`` are added to the trace's own;
    ``only`` keeps the trace's serving or batch pods alone (the class by the profile's batch
    threshold) — ``serving`` gives the serving-alone baseline.
    """

    device_choice: DeviceChoice | Literal["config"] = "first-fit"
    seed: int = 0
    horizon: float | None = None
    gang_timeout: float = 600.0
    faults: tuple[Fault, ...] = ()
    initial_backoff: float = INITIAL_BACKOFF
    max_backoff: float = MAX_BACKOFF
    only: Literal["serving", "batch"] | None = None
    scheduler_names: tuple[str, ...] = (DEFAULT_SCHEDULER_NAME, "tessera")
    """The ``spec.schedulerName`` values a replay's single profile answers to (besides its
    own name); with several profiles each answers to its own name only. Pods naming no
    profile are created but never scheduled (as in a cluster where that scheduler is not
    running) and counted as ``pods_other_scheduler``."""
    kube_scheduler: ExtenderSetup | None = None
    """Play kube-scheduler with these HTTP extenders and ``percentageOfNodesToScore``
    (``replay --extender FILE``): lone pods go through kube-scheduler's cycle (sampled
    filtering, the extenders' filter, prioritize and preempt), extender binds run on
    binding threads and complete before the next event (:mod:`simulator.kubescheduler`), pods
    carry UIDs and summary.json gains an ``extenders`` section. None: tessera's own
    cycle."""
    pop_from_backoff: bool = True
    """The queue's SchedulerPopFromBackoffQ (:mod:`simulator.queue`), on by default as in
    kube-scheduler since 1.33; False: the queue as it was before."""


def checkpointed_work(progress: float, interval: float) -> float:
    """Work saved by checkpoints after running ``progress`` seconds with a checkpoint every
    ``interval`` seconds (0 = none): the last whole checkpoint, ``floor(progress / interval)
    x interval``."""
    if interval <= 0 or progress <= 0:
        return 0.0
    return math.floor(progress / interval) * interval


def checkpoint_interval(pod: Pod) -> float:
    """The pod's ``tessera.io/checkpoint-seconds`` (0 when absent); ValueError naming the pod,
    the annotation and the value when it is not a positive number."""
    text = pod.metadata.annotations.get(ANNOTATION_CHECKPOINT)
    if text is None:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"Pod {pod.metadata.namespace or 'default'}/{pod.metadata.name}: annotation "
            f"{ANNOTATION_CHECKPOINT}: {text!r} is not a positive number of seconds"
        )
    return value


@dataclass(slots=True)
class _PodState:
    """A trace item from its first creation until it is gone for good."""

    index: int
    key: str
    info: PodInfo
    cls: str
    created_at: float
    remaining: float | None
    checkpoint: float
    incarnation: int = 0
    pending_since: float = 0.0
    node: str | None = None
    bound_at: float | None = None
    ever_bound: bool = False
    completion_due: bool = False
    completes_slot: str | None = None


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
            initial_backoff=config.initial_backoff,
            max_backoff=config.max_backoff,
            pop_from_backoff=config.pop_from_backoff,
        )
        self.backend = SimulatedCluster(self.cache)
        self.backend.on_evict = self._evicted
        self._load_objects()
        chosen = [profiles] if isinstance(profiles, Profile) else list(profiles)
        if not chosen:
            raise ValueError("replay: no scheduler profile given")
        setup = config.kube_scheduler
        self.kube = KubeSchedulerSession(setup) if setup is not None else None
        self.stamp_uids = setup is not None
        """Give pods without a UID a deterministic one (a served or extended replay)."""
        if setup is not None:
            chosen = [with_ignored_resources(p, setup.extenders) for p in chosen]
            self.engine.barrier = self._bind_barrier
        self._profiles = chosen
        self._items = self._select(trace.sorted_items(), chosen)
        self._mix: WorkloadMix | None = self._target_mix()
        self._frag = FragTracker(self._mix) if self._mix is not None else None
        kube = self.kube
        self.frameworks: dict[str, Framework] = {
            p.name: build_framework(
                with_target_workload(p, self._mix),
                self.backend,
                extenders=kube.extenders if kube is not None else None,
                sampler=kube.sampler if kube is not None else None,
            )
            for p in chosen
        }
        self.framework: Framework = next(iter(self.frameworks.values()))
        self.policy = "+".join(self.frameworks)
        self.usage = UsageModel(self.cache, self.backend.templates)
        self._node_cap = {name: node_capacity(self.cache, name) for name in self.cache.node_names}
        self.ledger = Ledger(sum(self._node_cap.values()))
        self.states: dict[int, _PodState] = {}
        self._live: dict[str, int] = {}
        self._binding_index: dict[int, int] = {}
        """Extender binds in flight: ``id`` of the ticket -> the pod index it was issued for."""
        self._gone: set[int] = set()
        self.waiting_on: dict[int, list[int]] = {}
        self.book = GangBook(config.gang_timeout)
        self.samples = Samples()
        self.pods_total = 0
        self.pods_scheduled = 0
        self.pods_deleted_pending = 0
        self.attempts_failed = 0
        self.preemptions = 0
        self.lost: dict[str, dict[str, float]] = {
            cause: {"serving": 0.0, "batch": 0.0} for cause in ("preemption", "failure")
        }
        self.failures = {"nodes": 0, "devices": 0}
        self._cause = "preemption"
        self._lost_nodes: dict[str, Any] = {}
        self._failed_devices: dict[tuple[str, str, str], tuple[str, int, str]] = {}
        self._pass_pending = False
        self._timer_at: float | None = None
        self._running = 0
        self._sampled: tuple[object, ...] | None = None
        self._last_row: dict[str, Any] | None = None
        self._alloc_sum = 0.0
        self._sample_every = SAMPLE_SECONDS
        self._next_coarsen = TIMELINE_MAX_ROWS // 2
        self._epoch = 0  # bumped by every bind, eviction, completion and fault
        self._tried: dict[str, int] = {}  # pod -> epoch of its last failed attempt
        # pod -> (epoch, PodInfo, result) of its last plain unschedulable attempt: retried
        # at the same epoch, the deterministic framework would answer the same (see _cycle)
        self._failed: dict[str, tuple[int, PodInfo, ScheduleResult]] = {}
        self._errors: dict[str, int] = {}  # pod -> attempts in a row that ended in an ERROR
        self.slot_waiting: dict[str, deque[int]] = {}  # Job slot -> pods created on completions
        self.other_scheduler: dict[str, int] = {}  # schedulerName -> pods nobody schedules
        self.unplaceable: dict[str, int] = {}  # final reason -> pods failed once for it
        self._stuck = False
        self._stale = 0  # queued completions of pods evicted or deleted since
        self._pod_events = 0  # queued arrivals and deletions
        self._out: OutputWriter | None = None

    # -- setup -------------------------------------------------------------------------------
    def _load_objects(self) -> None:
        for obj in self.trace.objects:
            if isinstance(obj, ResourceClaimTemplate):
                self.backend.add_template(obj)
            else:
                self.cache.add(obj)

    def _profile_for(self, pod: Pod) -> Profile:
        name = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
        return next((p for p in self._profiles if p.name == name), self._profiles[0])

    def _select(
        self, items: Sequence[TraceItem], profiles: Sequence[Profile]
    ) -> Sequence[TraceItem]:
        """The items to replay: all, or the serving / batch ones (``config.only``)."""
        only = self.config.only
        if only is None:
            return items
        keep = []
        for i in range(len(items)):
            pod = items[i].pod
            info = pod_info(
                pod,
                priority_classes=self.cache.priority_classes,
                pod_groups=self.cache.pod_groups,
                batch_threshold=self._profile_for(pod).batch_threshold,
            )
            if ("batch" if info.batch else "serving") == only:
                keep.append(i)
        if isinstance(items, LazyItems):
            return ReorderedItems(items, keep)
        return [items[i] for i in keep]

    def _target_mix(self) -> WorkloadMix:
        """FGD target workload of the replayed pods (their shapes, 95% popularity)."""
        snapshot = self.cache.snapshot()
        match = MatchCache(CelEnvironment(consumable_capacity=True))
        counts: dict[TaskShape, int] = {}
        for item in self._items:
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

    def _schedule_items(self) -> None:
        """Push every item's creation (or park it behind its leader) and deletion; split
        gangs into instances (:mod:`simulator.experiments.gangs`)."""
        last_of_key: dict[str, int] = {}
        unresolved: dict[str, list[int]] = {}
        items = self._items
        for index in range(len(items)):
            item = items[index]
            key = item.key
            last_of_key[key] = index
            for worker in unresolved.pop(key, ()):
                self.waiting_on.setdefault(index, []).append(worker)
            gang = gang_of(item.pod, self.cache.pod_groups)
            if gang is not None and gang.size > 1:
                self.book.add_member(index, key, gang.key, gang.size)
            if item.after_bound_of is not None:
                leader = last_of_key.get(item.after_bound_of)
                if leader is None:
                    unresolved.setdefault(item.after_bound_of, []).append(index)
                else:
                    self.waiting_on.setdefault(leader, []).append(index)
            elif item.waits_slot is not None:
                self.slot_waiting.setdefault(item.waits_slot, deque()).append(index)
            else:
                self._push_pod(item.arrival + item.delay, PodArrival(index))
            if item.finish_at is not None:
                self._push_pod(max(item.finish_at, 0.0), PodDeletion(index))

    def _push_pod(self, when: float, event: PodArrival | PodDeletion) -> None:
        self._pod_events += 1
        self.engine.push(when, event)

    def _schedule_faults(self) -> None:
        faults = sorted(
            [*self.trace.faults, *self.config.faults], key=lambda f: (f.time, f.node or "")
        )
        for fault in faults:
            if fault.node is not None:
                self.engine.push(fault.time, NodeFailure(fault.node))
                if fault.repair_after is not None:
                    self.engine.push(fault.time + fault.repair_after, NodeRepair(fault.node))
            elif fault.device is not None:
                driver, pool, device = fault.device
                self.engine.push(
                    fault.time,
                    DeviceTaintEvent(driver, pool, device, fault.key, fault.value, fault.effect),
                )
                if fault.repair_after is not None and fault.effect == "NoExecute":
                    self.engine.push(
                        fault.time + fault.repair_after,
                        DeviceRepair(driver, pool, device, fault.key),
                    )

    # -- main loop ---------------------------------------------------------------------------
    def run(self, out: Path | None = None) -> ReplayResult:
        """Replay the whole trace, streaming the outputs into ``out`` (committed when the
        replay succeeds; a private temporary directory when None)."""
        target = OutputTarget(out)
        self._out = OutputWriter(target.directory)
        try:
            self._out.open()
            with simulation_gc():
                summary = self._run()
            self._out.summary(summary)
            self._out.close()
        except BaseException as exc:
            self._out.close()
            target.abort(exc)
            raise
        finally:
            if self.kube is not None:
                self.kube.close()
        return ReplayResult(summary, target.commit(), temporary=out is None)

    def _run(self) -> dict[str, Any]:
        start = time.perf_counter()
        self._schedule_items()
        self._schedule_faults()
        self.engine.push(0.0, Sample())
        horizon = self.config.horizon
        for event in self.engine.events(horizon):
            now = self.engine.now
            self.backend.clock = now
            if isinstance(event, PodArrival):
                self._pod_events -= 1
                self._arrive(event.index, now)
            elif isinstance(event, PodCompletion):
                self._epoch += 1
                self._complete(event, now)
            elif isinstance(event, PodDeletion):
                self._pod_events -= 1
                self._epoch += 1
                self._delete(event.index, now)
            elif isinstance(event, NodeFailure):
                self._epoch += 1
                self._node_failure(event.node, now)
            elif isinstance(event, DeviceTaintEvent):
                self._epoch += 1
                self._device_taint(event, now)
            elif isinstance(event, NodeRepair):
                self._epoch += 1
                self._node_repair(event.node, now)
            elif isinstance(event, DeviceRepair):
                self._epoch += 1
                self._device_repair(event, now)
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
                    self.engine.push(now + self._sample_every, Sample())
            self._arm_timer(now)
            if (
                len(self.engine) <= self._stale or (not self.states and self._pod_events == 0)
            ) and not self._binding():
                break  # no pod is left and none is coming: nothing can change any more
        end = self.engine.now if horizon is None else horizon
        return self._summary(end, time.perf_counter() - start)

    def _has_work(self) -> bool:
        """Whether anything can still change: some event other than this sample and the
        completions of pods gone since is queued (pods without a duration run to the end
        and schedule nothing)."""
        return len(self.engine) > self._stale or self._binding()

    def _binding(self) -> bool:
        """Whether extender binds are in flight (they complete at the engine's barrier)."""
        return self.kube is not None and len(self.kube.binds) > 0

    def _settled(self) -> bool:
        """Nothing can change any more: no world event is queued, no pass is due, and every
        pending pod has failed since the last change (the scheduler is deterministic, so
        retrying would fail the same way)."""
        return (
            self.engine.world_pending == 0
            and not self._pass_pending
            and not self._binding()
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
    def _new_state(self, index: int, item: TraceItem, info: PodInfo, now: float) -> _PodState:
        checkpoint = checkpoint_interval(item.pod)
        return _PodState(
            index=index,
            key=item.key,
            info=info,
            cls="batch" if info.batch else "serving",
            created_at=now,
            remaining=item.duration,
            checkpoint=checkpoint,
            completes_slot=item.completes_slot,
        )

    def _arrive(self, index: int, now: float) -> None:
        if index in self._gone:
            return  # deleted before it was (re)created
        item = self._items[index]
        key = item.key
        state = self.states.get(index)
        if state is None:
            other = self._live.get(key)
            if other is not None and other != index:
                log.warning("pod %s created again while it still exists: ends the first", key)
                self._delete(other, now)
        pod = item.pod
        if item.follow_topology is not None and item.after_bound_of is not None:
            pod = self._follow(pod, item.after_bound_of, item.follow_topology)
        if self.stamp_uids:
            pod = _with_uid(pod, index, state.incarnation if state is not None else 0)
        try:
            pod = self.backend.create_pod(pod)
        except MissingTemplateError as exc:
            # the replay's templates all come from the input: this claim is never made
            if state is None:
                self.pods_total += 1
            self._record(now, "fail", key, None, str(exc))
            self.unplaceable[exc.reason] = self.unplaceable.get(exc.reason, 0) + 1
            return
        framework = self._framework_for(pod)
        if framework is None:
            scheduler = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
            self.other_scheduler[scheduler] = self.other_scheduler.get(scheduler, 0) + 1
            self.pods_total += 1  # pending for good: counted as unschedulable
            return
        info = self._info(pod, framework)
        if state is None:
            state = self._new_state(index, item, info, now)
            self.states[index] = state
            self._live[key] = index
            self.pods_total += 1
        state.info = info
        state.pending_since = now
        track = self.book.of_index.get(index)
        if track is not None:
            self.book.arrived(track, index, now)
        record = self.cache.pods.get(key)
        if record is not None and record.assumed and record.node is not None:
            status = framework.bind_reserved(info)
            if status.ok:
                self._bound(index, record.node, now, reserved=True)
                return
            self.ledger.release(key, now)
            self._record(now, "fail", key, None, f"reservation lost: {status.message()}")
            if track is not None:
                track.partial = True
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

    def _follow(self, pod: Pod, leader_key: str, label: str) -> Pod:
        """``pod`` with ``nodeSelector {label: <value on the leader's node>}`` (an LWS worker
        of an exclusive group, created once its leader is bound); unchanged when the leader
        is not running or its node lacks the label."""
        index = self._live.get(leader_key)
        leader = self.states.get(index) if index is not None else None
        node = self.cache.nodes.get(leader.node) if leader is not None and leader.node else None
        value = node.metadata.labels.get(label) if node is not None else None
        if value is None:
            return pod
        selector = {**pod.spec.node_selector, label: value}
        spec = pod.spec.model_copy(update={"node_selector": selector})
        return pod.model_copy(update={"spec": spec})

    def _info(self, pod: Pod, framework: Framework) -> PodInfo:
        """The pod's scheduling facts, batch by its profile's threshold."""
        return pod_info(
            pod,
            priority_classes=self.cache.priority_classes,
            pod_groups=self.cache.pod_groups,
            batch_threshold=framework.profile.batch_threshold,
        )

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
            self.attempts_failed += 1
        else:
            self._epoch += 1
        assert self._out is not None
        self._out.placement(entry)

    def _bound(self, index: int, node: str, now: float, *, reserved: bool = False) -> None:
        state = self.states[index]
        key = state.key
        state.node = node
        self._running += 1
        state.bound_at = now
        self._tried.pop(key, None)
        self._errors.pop(key, None)
        if not state.ever_bound:
            state.ever_bound = True
            self.pods_scheduled += 1
        self.samples.add(f"pending.{state.cls}", now - state.pending_since)
        self._record(now, "bind", key, node)
        if not reserved or key not in self.ledger.holders:
            self.ledger.hold(key, state.cls, self.usage.milli(state.info), now)
        if state.remaining is not None:
            self.engine.push(now + state.remaining, PodCompletion(index, state.incarnation))
            state.completion_due = True
        for waiting in self.waiting_on.pop(index, ()):
            self._push_pod(now + self._items[waiting].delay, PodArrival(waiting))
        track = self.book.of_index.get(index)
        if track is not None:
            wait = self.book.bound(track, index, now)
            if wait is not None:
                self.samples.add("gang_wait", wait)
                if state.cls == "serving" and track.rounds == 1:
                    self.samples.add("scaleup", wait)
        elif state.cls == "serving" and state.incarnation == 0:
            self.samples.add("scaleup", now - state.created_at)

    def _schedule_pass(self, now: float) -> None:
        while True:
            queued = self.queue.pop(now)
            if queued is None:
                return
            self._cycle(queued, now)
            if self.kube is not None:
                self.kube.after_cycle()

    def _cycle(self, queued: QueuedPod, now: float) -> None:
        info = queued.info
        framework = self._framework_for(info.pod)
        assert framework is not None  # pods no profile answers to are never queued
        if info.gang is not None and info.gang.size > 1 and framework.points.gang:
            self._gang_cycle(queued, framework, now)
            return
        if self.kube is not None:
            self.kube.before_cycle()
            result = framework.schedule_one(info, bind=False)
            if result.status.ok and result.binding is not None:
                self._start_binding(queued, framework, result.binding, now)
                return
        else:
            result = self._schedule_lone(info, framework)
        if result.status.ok and result.node is not None:
            self._bound(self._live[info.key], result.node, now)
            return
        reason = result.status.message()
        self._record(now, "fail", info.key, None, reason)
        if self.kube is not None:
            self._kube_failed(queued, framework, result.status, result.nominated)
        final = result.diagnosis.prefilter if result.diagnosis is not None else None
        if final is not None and final.final:
            # no cluster event can change this answer: the pod is never tried again
            summary = final.message()
            self.unplaceable[summary] = self.unplaceable.get(summary, 0) + 1
            return
        if result.victims:
            self.queue.requeue_active(queued, now)
        elif result.status.code == Code.ERROR:
            self._retry_error(info.key)
            self.queue.requeue_error(queued, now)
        else:
            self.queue.requeue_unschedulable(queued, now)

    def _schedule_lone(self, info: PodInfo, framework: Framework) -> ScheduleResult:
        """``framework.schedule_one(info)``, skipped when it cannot answer differently.

        Contract: a pod whose last attempt was a plain UNSCHEDULABLE failure (no victims, no
        nomination, not final) and that is retried at the same epoch — no bind, eviction,
        completion, deletion or fault since (every one bumps ``_epoch``) — gets that same
        result back: the framework is deterministic and a failed cycle changes no cluster
        state (the invariant :meth:`_settled` already relies on).
        """
        memo = self._failed.get(info.key)
        if memo is not None and memo[0] == self._epoch and memo[1] is info:
            return memo[2]
        result = framework.schedule_one(info)
        final = result.diagnosis.prefilter if result.diagnosis is not None else None
        if (
            result.status.code == Code.UNSCHEDULABLE
            and not result.victims
            and result.nominated is None
            and not (final is not None and final.final)
        ):
            # _record("fail") after this call leaves _tried[key] == _epoch unchanged
            self._failed[info.key] = (self._epoch, info, result)
        else:
            self._failed.pop(info.key, None)
        return result

    # -- kube-scheduler's binding cycle (replay --extender) ------------------------------------
    def _start_binding(
        self, queued: QueuedPod, framework: Framework, binding: BindingCycle, now: float
    ) -> None:
        """PreBind now (claims are written before any extender binds); then the extenders'
        bind on a binding thread, finished at the barrier, or the Bind plugins at once."""
        pod, node = binding.pod, binding.node
        status = framework.pre_bind(binding.state, pod, node)
        if status.ok and framework.extenders is not None and framework.extenders.binds(pod):
            assert self.kube is not None
            ticket = PendingBind(binding, framework, queued)
            self._binding_index[id(ticket)] = self._live[pod.key]
            self.kube.binds.submit(
                ticket, lambda: framework.extender_bind(pod, node), due=self.kube.bind_due(now)
            )
            return
        if status.ok:
            status = framework.finish_bind(binding.state, pod, node)
        self._binding_done(queued, node, status, now)

    def _bind_barrier(self) -> None:
        """The engine's barrier: finish the extender binds that are done (or due before the
        next event), in submission order, at the current virtual time (see
        :mod:`simulator.kubescheduler.binding`). A pod deleted while its bind was held is
        already forgotten (:meth:`_finish`): its bind's outcome is dropped."""
        kube = self.kube
        if kube is None or not kube.binds:
            return
        now, upcoming = self.engine.now, self.engine.peek_time()
        horizon = self.config.horizon
        if upcoming is not None and horizon is not None and upcoming > horizon:
            upcoming = None  # the replay ends here: every bind finishes now
        for done in kube.binds.wait(upcoming):
            pending = done.ticket
            binding = pending.binding
            index = self._binding_index.pop(id(pending), None)
            if index is None or self._live.get(binding.pod.key) != index:
                continue
            status = kube.confirm_bind(binding.pod.key, binding.node, done.status)
            status = pending.framework.finish_bind(binding.state, binding.pod, binding.node, status)
            self._binding_done(pending.queued, binding.node, status, now)

    def _binding_done(self, queued: QueuedPod, node: str, status: Status, now: float) -> None:
        """The end of a binding cycle: bound, or the pod was forgotten (its reservation freed,
        so unschedulable pods move) and goes back to the queue."""
        if status.ok:
            self._bound(self._live[queued.key], node, now)
            return
        self._record(now, "fail", queued.key, None, status.message())
        if self.kube is not None:
            framework = self._framework_for(queued.info.pod)
            if framework is not None:
                self._kube_failed(queued, framework, status, None)
        self.queue.move_all(now)
        if status.code == Code.ERROR:
            self._retry_error(queued.key)
            self.queue.requeue_error(queued, now)
        else:
            self.queue.requeue_unschedulable(queued, now)
        self._want_pass(now)

    def _kube_failed(
        self, queued: QueuedPod, framework: Framework, status: Status, nominated: str | None
    ) -> None:
        """kube-scheduler's ``handleSchedulingFailure``: a node preemption nominated goes into
        the pod's ``status.nominatedNodeName`` (its next cycle tries that node first), and the
        failure is written to the served API."""
        assert self.kube is not None
        if nominated:
            pod = queued.info.pod
            pod_status = pod.status.model_copy(update={"nominated_node_name": nominated})
            queued.info = dataclass_replace(
                queued.info, pod=pod.model_copy(update={"status": pod_status})
            )
        self.kube.failed(FailedAttempt(queued.key, framework.profile.name, status, nominated))

    def _retry_error(self, key: str) -> None:
        """Playing kube-scheduler, the first :data:`ERROR_RETRIES` attempts in a row of a pod
        that end in an ERROR leave the replay unsettled (the pod is retried after its backoff
        even if nothing else happens)."""
        if self.kube is None:
            return
        count = self._errors.get(key, 0) + 1
        self._errors[key] = count
        if count <= ERROR_RETRIES:
            self._tried.pop(key, None)

    def _gang_cycle(self, queued: QueuedPod, framework: Framework, now: float) -> None:
        """Place the whole gang of ``queued`` with ``framework`` (its profile's); members
        not created yet are reserved."""
        info = queued.info
        gang = info.gang
        assert gang is not None
        track = self.book.of_index.get(self._live[info.key])
        indices = track.members if track is not None else []
        pulled = [queued]
        members: list[PodInfo] = []
        created: set[str] = set()
        index_of: dict[str, int] = {}
        problem = ""
        if len(indices) < gang.size:
            problem = f"gang {gang.key}: {len(indices)} of {gang.size} members exist in the trace"
        for index in indices:
            item = self._items[index]
            key = item.key
            index_of[key] = index
            state = self.states.get(index)
            if state is not None and state.node is not None:
                problem = f"gang {gang.key}: member {key} is already running"
                break
            if index in self._gone:
                problem = f"gang {gang.key}: member {key} was deleted"
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
                missing = self.backend.missing_template(item.pod)
                if missing is not None:
                    problem = f"gang {gang.key}: member {key}: {missing}"
                    break
                members.append(self._info(item.pod, framework))
        if not problem:
            result = GangCycle(framework).run(members, created)
            for key in result.bound:
                self._bound(index_of[key], result.assignments[key], now)
            if result.status.ok:
                for member in members:
                    if member.key in result.reserved:
                        cls = "batch" if member.batch else "serving"
                        self.ledger.hold(member.key, cls, self.usage.milli(member), now)
                if track is not None:
                    self.book.placed_whole(track)
                return
            problem = result.status.message()
            if result.bound:
                # a Bind failure after some members bound: the group restarts as a whole
                # (the evicted members arrive again; the others wait in the queue)
                if track is not None:
                    track.partial = True
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

    def _drop_completion(self, state: _PodState) -> None:
        """The pod's queued completion (if any) no longer applies."""
        if state.completion_due:
            state.completion_due = False
            self._stale += 1

    def _finish(self, state: _PodState, now: float) -> None:
        """A pod is gone for good (completed or deleted): free what it held, forget it."""
        key = state.key
        self._drop_completion(state)
        if state.node is not None:
            state.node = None
            self._running -= 1
        self.ledger.release(key, now)
        self.backend.delete_pod(key)
        self.states.pop(state.index, None)
        if self._live.get(key) == state.index:
            del self._live[key]
        self._tried.pop(key, None)
        track = self.book.of_index.get(state.index)
        if track is not None:
            self.book.finished(track, state.index, now)
        self.queue.move_all(now)
        self._want_pass(now)

    def _complete(self, event: PodCompletion, now: float) -> None:
        state = self.states.get(event.index)
        if state is None or state.incarnation != event.incarnation or state.node is None:
            self._stale -= 1
            return
        state.completion_due = False
        slot = state.completes_slot
        self._finish(state, now)
        waiting = self.slot_waiting.get(slot) if slot is not None else None
        if waiting:
            self._push_pod(now, PodArrival(waiting.popleft()))

    def _delete(self, index: int, now: float) -> None:
        """``PodDeletion``: the pod's controller deleted it (see :class:`PodDeletion`)."""
        state = self.states.get(index)
        if state is None:
            self._gone.add(index)
            key = self._items[index].key
            record = self.cache.pods.get(key)
            if self._live.get(key) is None and record is not None and record.assumed:
                self.ledger.release(key, now)  # a reservation for a member never created
                self.backend.delete_pod(key)
            track = self.book.of_index.get(index)
            if track is not None:
                self.book.finished(track, index, now)
            return
        if state.node is None:
            self.queue.remove(state.key)
            self.pods_deleted_pending += 1
            self._record(now, "delete", state.key, None, "deleted while pending")
        self._finish(state, now)

    # -- evictions and faults ---------------------------------------------------------------
    def _evicted(self, key: str, reason: str) -> None:
        """Backend callback: a running pod is being deleted by preemption or a fault.

        Its controller recreates it (a new arrival); the unschedulable pods move, as upstream
        on any assigned pod's deletion (the room it held is free now), and a scheduling pass
        is asked for."""
        now = self.engine.now
        index = self._live.get(key)
        state = self.states.get(index) if index is not None else None
        if state is None or state.node is None:
            if index is None:
                self.ledger.release(key, now)  # a reservation for a member not created yet
            return  # not running (already evicted with its gang, or still pending)
        self.preemptions += reason.startswith("preempted")
        self._record(now, "evict", key, state.node, reason)
        self._running -= 1
        state.node = None
        state.incarnation += 1
        self._drop_completion(state)
        milli = self.ledger.release(key, now)
        progress = now - (state.bound_at if state.bound_at is not None else now)
        saved = checkpointed_work(progress, state.checkpoint)
        if state.remaining is not None:
            saved = min(saved, state.remaining)
            state.remaining -= saved
        self.lost[self._cause][state.cls] += (progress - saved) * milli / MILLI
        self._push_pod(now, PodArrival(state.index))
        self.queue.move_all(now)
        self._want_pass(now)
        track = self.book.of_index.get(state.index)
        if track is not None:
            self.book.stopped(track, state.index, now)
            # LWS restarts the whole group: the running siblings go too (each is re-entered
            # here with its node already cleared, so the recursion ends); places reserved
            # for members not created yet are given up
            for member in track.members:
                if member == state.index:
                    continue
                other = self.states.get(member)
                sibling = self._items[member].key
                if other is not None and other.node is not None:
                    self.backend.evict(sibling, f"gang {track.key} restarted: {key} evicted")
                elif other is None and self._live.get(sibling) is None:
                    record = self.cache.pods.get(sibling)
                    if record is not None and record.assumed:
                        self.ledger.release(sibling, now)
                        self.backend.delete_pod(sibling)

    def _capacity(self) -> int:
        """Milli-accelerators in service: nodes in service, minus their failed devices."""
        nodes = self.cache.node_index
        total = sum(cap for name, cap in self._node_cap.items() if name in nodes)
        total -= sum(milli for node, milli, _ in self._failed_devices.values() if node in nodes)
        return total

    def _node_failure(self, node: str, now: float) -> None:
        if node not in self.cache.nodes:
            return  # already lost
        self.failures["nodes"] += 1
        victims = sorted(r.key for r in self.cache.pods_on_node.get(node, {}).values())
        self._cause = "failure"
        try:
            for key in victims:
                self.backend.evict(key, f"node {node} lost")
        finally:
            self._cause = "preemption"
        self._lost_nodes[node] = self.cache.nodes[node]
        self.cache.remove_node(node)
        self.ledger.set_capacity(self._capacity(), now)
        self.queue.move_all(now)
        self._want_pass(now)

    def _node_repair(self, node: str, now: float) -> None:
        saved = self._lost_nodes.pop(node, None)
        if saved is None:
            return
        self.cache.add_node(saved)
        self.ledger.set_capacity(self._capacity(), now)
        self.queue.move_all(now)
        self._want_pass(now)

    def _device_taint(self, event: DeviceTaintEvent, now: float) -> None:
        if event.effect != "NoExecute":
            return
        device = (event.driver, event.pool, event.device)
        if device in self._failed_devices:
            return  # already out of service
        self.failures["devices"] += 1
        affected = set(self.cache.devices.counter_siblings(device))
        holders = sorted(
            state.key
            for state in self.states.values()
            if state.node is not None and affected & self._devices_of(state.key)
        )
        self._cause = "failure"
        try:
            for key in holders:
                self.backend.evict(key, f"device {'/'.join(device)} tainted {event.key}:NoExecute")
        finally:
            self._cause = "preemption"
        node = self.cache.devices.node_of(device) or ""
        owner = f"taint {event.key}:NoExecute"
        before = self._free_milli(node)
        self.cache.withdraw_device(device, owner)
        lost = MILLI if event.driver == TPU_DRIVER else before - self._free_milli(node)
        self._failed_devices[device] = (node, lost, owner)
        self.ledger.set_capacity(self._capacity(), now)
        self.queue.move_all(now)
        self._want_pass(now)

    def _device_repair(self, event: DeviceRepair, now: float) -> None:
        device = (event.driver, event.pool, event.device)
        failed = self._failed_devices.pop(device, None)
        if failed is None:
            return
        self.cache.restore_device(device, failed[2])
        self.ledger.set_capacity(self._capacity(), now)
        self.queue.move_all(now)
        self._want_pass(now)

    def _free_milli(self, node: str) -> int:
        """Free milli-GPU of ``node`` in the GPU view (0 for a node not in service)."""
        i = self.cache.node_index.get(node)
        if i is None:
            return 0
        return int(self.cache.gpu_view().gpu_free[i].sum())

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
        self.ledger.advance(now)
        ledger = self.ledger
        held = (ledger.capacity, ledger.used["serving"], ledger.used["batch"])
        key = (self.cache.generation, len(self.queue), self._running, held)
        row = self._last_row
        if row is None or key != self._sampled:
            self._sampled = key
            snapshot = self.cache.snapshot()
            gpus = snapshot.gpus
            capacity = int(gpus.gpu_count.sum()) * MILLI
            free = int(gpus.gpu_free.sum())
            frag = float(self._frag.values(snapshot).sum()) if self._frag is not None else 0.0
            pending = {"serving": 0, "batch": 0}
            for queued in self.queue.pending():
                pending["batch" if queued.info.batch else "serving"] += 1
            row = {
                "alloc_pct": round(100.0 * (capacity - free) / capacity, 4) if capacity else 0.0,
                "frag_pct": round(100.0 * frag / capacity, 4) if capacity else 0.0,
                "pending_serving": pending["serving"],
                "pending_batch": pending["batch"],
                "running": self._running,
                "gpus_capacity": _gpus(ledger.capacity),
                "gpus_serving": _gpus(ledger.used["serving"]),
                "gpus_batch": _gpus(ledger.used["batch"]),
                "gpus_idle": _gpus(ledger.idle),
            }
        row = {**row, "minute": round(now / SAMPLE_SECONDS)}
        self._last_row = row
        self._alloc_sum += row["alloc_pct"]
        assert self._out is not None
        self._out.timeline(row)
        if self._out.timeline_rows >= self._next_coarsen:
            self._sample_every *= 2
            self._next_coarsen += max((TIMELINE_MAX_ROWS - self._next_coarsen) // 2, 1)

    def _summary(self, end: float, wall: float) -> dict[str, Any]:
        self.ledger.advance(end)
        self.book.close(end)
        hours = self.ledger.hours()
        spare = hours["capacity"] - hours["serving"]
        rows = self._out.timeline_rows if self._out is not None else 0
        scale = 1.0 / 3600.0
        lost = {
            cause: {cls: round(v * scale, 4) for cls, v in by_class.items()}
            for cause, by_class in self.lost.items()
        }
        summary: dict[str, Any] = {
            "trace": self.trace.name,
            "cluster": self.cluster.name,
            "device_choice": self.config.device_choice,
            "policy": self.policy,
            "only": self.config.only,
            "end_seconds": round(end, 3),
            "pods_total": self.pods_total,
            "pods_scheduled": self.pods_scheduled,
            "pods_unschedulable": self.pods_total - self.pods_scheduled,
            "pods_deleted_pending": self.pods_deleted_pending,
            "attempts_failed": self.attempts_failed,
            "gangs_total": self.book.total,
            "gangs_placed": self.book.placed,
            "gangs_partial": self.book.partial,
            "preemptions": self.preemptions,
            "failures": dict(self.failures),
            "gpu_alloc_mean_pct": round(self._alloc_sum / rows, 4) if rows else 0.0,
            "gpu_hours": hours,
            "batch_fill_pct": round(100.0 * hours["batch"] / spare, 3) if spare > 0 else None,
            "batch_lost_gpu_hours": lost["preemption"]["batch"],
            "lost_gpu_hours": lost,
            "pending_seconds": {
                cls: percentiles(self.samples.get(f"pending.{cls}"), (50, 95, 99))
                for cls in ("serving", "batch")
            },
            "gang_wait_seconds": percentiles(self.samples.get("gang_wait"), (50, 99)),
            "serving_scaleup_seconds": percentiles(self.samples.get("scaleup"), (50, 99)),
            "events": self.engine.processed,
            "timeline_rows": rows,
            "wall_seconds": round(wall, 3),
        }
        if self.unplaceable:
            summary["pods_unplaceable"] = dict(sorted(self.unplaceable.items()))
            for reason, count in sorted(self.unplaceable.items()):
                log.warning("%s pod(s): %s (failed once, never retried)", f"{count:,}", reason)
        if self.kube is not None:
            summary["extenders"] = self.kube.summary()
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


def _with_uid(pod: Pod, index: int, incarnation: int) -> Pod:
    """``pod`` with a deterministic UID: the trace's own for its first incarnation, else one
    derived from the trace item and the incarnation (a recreated pod is a new object)."""
    given = pod.metadata.uid
    if given and incarnation == 0:
        return pod
    seed = f"{given}/{incarnation}" if given else f"tessera-replay/{index}/{incarnation}"
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
    return pod.model_copy(update={"metadata": pod.metadata.model_copy(update={"uid": uid})})


def _gpus(milli: int) -> float:
    """Milli-accelerators as accelerators (exact to 3 decimals)."""
    return milli / MILLI


def run_replay(
    cluster: LoadedCluster,
    trace: Trace,
    profiles: Profile | Sequence[Profile],
    config: ReplayConfig,
    out: Path | None = None,
) -> ReplayResult:
    """Replay ``trace`` on ``cluster`` with ``profiles`` (see the module docstring),
    streaming the three files into ``out`` (or a private temporary directory); the
    summary's ``policy`` is the profile names joined by ``+``."""
    return Replay(cluster, trace, profiles, config).run(out)
