"""Gang (and lone-pod) preemption carried out by the webhook itself (``tessera serve
--preempt-gangs``).

Why the webhook must do it: kube-scheduler 1.35's DynamicResources reports a device shortfall
as UnschedulableAndUnresolvable, so DefaultPreemption finds no candidate node for a pod that
lacks devices and returns before it calls any extender's preempt verb
(kubernetes/kubernetes ``pkg/scheduler/framework/preemption/preemption.go``,
``Evaluator.Preempt``: ``findCandidates`` keeps only ``Unschedulable`` nodes, and no candidate
means no ``callExtenders``). The gang planner's preemption dry run
(:mod:`scheduler.extender.gangs`) knows the victims that would make room for a whole gang;
with this module they are evicted, as Kueue evicts workloads to admit others. A lone pod's
victims come from the profile's PostFilter (:class:`~scheduler.extender.backend.Decisions`)
and are kept under the pod's own key where a gang's key stands below. Both are decided on a
filter, or on a failed attempt the webhook sees in the API (kube-scheduler does not call the
extender when no node passes its own filters).

* :class:`GangPreemptions` keeps, per gang, the victims it is evicting. When a gang's cycle
  fails with victims, :meth:`GangPreemptions.start` checks them (every victim bound and of
  strictly lower priority than the preemptor; every member of a victim gang among them —
  never half a gang), records them with their claims, and queues one eviction per victim.
  The gang's filters then answer ``waiting for N preemption victims to terminate`` (no new
  plan, no second eviction) until every victim is gone from the cache — its pod (by UID) and
  its claims' reservations — or ``wait`` seconds have passed; kube-scheduler retries the
  members on the deletions, which are cluster events. Once the victims are gone the gang is
  planned ahead of any other pod (:meth:`GangPreemptions.ready`, used by the planner), so a
  lower-priority pod cannot take the room first: the part kube-scheduler's nominated node
  plays for a preemptor.
* Each eviction does what kube-scheduler's ``PreemptPod`` does for a victim: the pod's
  ``DisruptionTarget`` condition (status ``True``, reason ``PreemptionByScheduler``, a message
  naming the preemptor) through the pod's status, then ``DELETE`` of the pod — here with the
  victim's UID as a precondition, so a recreated pod of the same name is never deleted. A
  victim already gone (404, or the UID precondition failing) is a success.
  :class:`ApiEvictions` writes through the API (in a worker thread);
  :class:`InMemoryEvictions` applies both to the state (``--snapshot``).
* :meth:`GangPreemptions.run_pending` runs the queued evictions one after another, in the
  order they were queued (a preemption's victims in the planner's order, its sorted keys).
  kube-scheduler deletes one node's victims in parallel, in no set order; here the order is
  fixed because it is observable: each victim's controller creates its replacement as the
  deletion arrives, and replacements of equal priority queue in creation order, so parallel
  deletions would make which replacement is scheduled first (and the replay's outcome) vary
  from run to run. The filter verb or sync probe that decided them awaits the writes (up to
  :data:`WRITE_WAIT` seconds, they go on in the background after that) on the event loop,
  so no other request waits.

Every method but :meth:`~GangPreemptions.run_pending` runs under the state's lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread

from scheduler.api.dra import ResourceClaim
from scheduler.api.meta import format_timestamp
from scheduler.api.pod import Pod, pod_claim_keys, pod_extended_claim_key
from scheduler.api.podgroup import PodGroup
from scheduler.extender.metrics import WebhookMetrics
from scheduler.extender.state import ClusterState
from scheduler.framework.podinfo import GangSpecError, PodInfo, gang_of, pod_priority
from scheduler.framework.status import Status

__all__ = [
    "DISRUPTION_TARGET",
    "PREEMPTION_BY_SCHEDULER",
    "WRITE_WAIT",
    "ApiEvictions",
    "EvictionWriter",
    "GangPreemptions",
    "InMemoryEvictions",
    "Victim",
    "disruption_condition",
    "waiting_message",
]

log = logging.getLogger(__name__)

DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
WRITE_WAIT = 2.0
"""Seconds the filter that decided a preemption waits for its evictions to be written."""


def disruption_condition(preemptor: PodInfo, now: float) -> dict[str, Any]:
    """The ``DisruptionTarget`` condition kube-scheduler's ``PreemptPod`` sets on a victim
    (its message, plus the preemptor and its gang), stamped at ``now`` (seconds since the
    epoch: the cluster's clock)."""
    scheduler = preemptor.pod.spec.scheduler_name or "default-scheduler"
    gang = f" (gang {preemptor.gang.key})" if preemptor.gang is not None else ""
    return {
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": PREEMPTION_BY_SCHEDULER,
        "message": (
            f"{scheduler}: preempting to accommodate a higher priority pod: {preemptor.key}{gang}"
        ),
        "lastTransitionTime": format_timestamp(now),
    }


@dataclass(frozen=True, slots=True)
class Victim:
    """One pod to evict: ``namespace/name``, its UID and node, and the condition to set."""

    namespace: str
    name: str
    uid: str
    node: str
    condition: dict[str, Any]

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


class EvictionWriter(Protocol):
    """Evicts one victim. A ``blocking`` writer (network I/O) runs in a worker thread; the
    others run on the event loop."""

    blocking: bool

    def evict(self, victim: Victim) -> str:
        """Set the victim's condition, then delete it (UID precondition): ``""`` on success —
        including a victim already gone — else the error."""
        ...


class InMemoryEvictions:
    """Evictions applied to the state itself (``--snapshot``: no API server). The pod is
    deleted at once (no kubelet, no grace period); its generated claims are deleted and its
    reservations of shared claims dropped (deallocated when no consumer is left), as the
    resourceclaim controller does."""

    blocking = False

    def __init__(self, state: ClusterState) -> None:
        self.state = state

    def evict(self, victim: Victim) -> str:
        """Delete the victim from the state (see the class docstring)."""
        state = self.state
        with state.lock:
            record = state.cache.pods.get(victim.key)
            if record is None or (record.pod.metadata.uid or "") != victim.uid:
                return ""
            pod = record.pod
            conditions = [
                c
                for c in pod.status.conditions
                if not (isinstance(c, dict) and c.get("type") == DISRUPTION_TARGET)
            ]
            status = pod.status.model_copy(update={"conditions": (*conditions, victim.condition)})
            marked = pod.model_copy(update={"status": status})
            state.apply("Pod", "MODIFIED", marked.to_dict())
            state.apply("Pod", "DELETED", marked.to_dict())
            for key in _claim_keys(pod):
                claim = state.cache.claims.get(key)
                if claim is not None:
                    self._release(claim.claim, victim.uid)
        return ""

    def _release(self, claim: ResourceClaim, uid: str) -> None:
        owned = any(r.kind == "Pod" and r.uid == uid for r in claim.metadata.owner_references)
        if owned:
            self.state.apply("ResourceClaim", "DELETED", claim.to_dict())
            return
        reserved = tuple(r for r in claim.status.reserved_for if r.uid != uid)
        update: dict[str, object] = {"reserved_for": reserved}
        if not reserved:
            update["allocation"] = None
        status = claim.status.model_copy(update=update)
        self.state.apply(
            "ResourceClaim", "MODIFIED", claim.model_copy(update={"status": status}).to_dict()
        )


class ApiEvictions:
    """Evictions through the API with the official Kubernetes client: a strategic-merge
    patch of ``pods/status`` adding the condition, then ``DELETE`` of the pod with a UID
    precondition."""

    blocking = True

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client  # noqa: PLC0415 (only with an API server)

        self._client = client
        self.core = client.CoreV1Api(api_client)

    def evict(self, victim: Victim) -> str:
        """Patch the condition, then delete (see the class docstring)."""
        c = self._client
        patch = {"status": {"conditions": [victim.condition]}}
        try:
            self.core.patch_namespaced_pod_status(
                victim.name,
                victim.namespace,
                patch,
                _content_type="application/strategic-merge-patch+json",
                _preload_content=False,
            )
        except c.ApiException as err:
            if err.status == 404:
                return ""  # already gone
            return f"PATCH pods/status {victim.key}: {err.status} {err.reason}: {_text(err.body)}"
        except Exception as err:  # transport failures: this victim is not evicted
            return f"PATCH pods/status {victim.key}: {type(err).__name__}: {err}"
        options = c.V1DeleteOptions(preconditions=c.V1Preconditions(uid=victim.uid))
        try:
            self.core.delete_namespaced_pod(
                victim.name, victim.namespace, body=options, _preload_content=False
            )
        except c.ApiException as err:
            if err.status == 404 or (err.status == 409 and "UID" in _text(err.body)):
                return ""  # gone, or the name is another pod's now
            return f"DELETE pod {victim.key}: {err.status} {err.reason}: {_text(err.body)}"
        except Exception as err:
            return f"DELETE pod {victim.key}: {type(err).__name__}: {err}"
        return ""


def _text(body: object) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:500]
    return str(body)[:500]


def _holds(claim: ResourceClaim, uid: str) -> bool:
    """The claim is still the victim's: owned by it (generated), or reserved for it."""
    meta, status = claim.metadata, claim.status
    return any(r.kind == "Pod" and r.uid == uid for r in meta.owner_references) or any(
        r.uid == uid for r in status.reserved_for
    )


def _claim_keys(pod: Pod) -> list[str]:
    """The pod's ResourceClaim keys (named, generated and its extended-resource claim)."""
    keys = [key for _, key in pod_claim_keys(pod) if key is not None]
    special = pod_extended_claim_key(pod)
    if special is not None:
        keys.append(special)
    return keys


@dataclass(slots=True)
class _Evicting:
    """A victim being evicted: its UID and claims (gone when none is held for it)."""

    uid: str
    claims: list[str]


@dataclass(slots=True)
class _Preemption:
    """One gang's preemption in progress."""

    preemptor: PodInfo
    victims: dict[str, _Evicting]
    deadline: float


@dataclass(slots=True)
class GangPreemptions:
    """The preemptions in progress, per gang key (a lone preemptor: per pod key; see the
    module docstring)."""

    state: ClusterState
    writer: EvictionWriter
    metrics: WebhookMetrics
    wait: float = 300.0
    """Seconds a gang waits for its victims before it may plan (and preempt) again."""
    write_wait: float = WRITE_WAIT
    gangs: dict[str, _Preemption] = field(default_factory=dict)
    _queue: list[Victim] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- under the state's lock ---------------------------------------------------------------
    def waiting(self, gang: str) -> int:
        """Victims of ``gang`` (a gang key, or a lone preemptor's pod key) still present (0:
        none, or the wait is over and the record dropped)."""
        found = self.gangs.get(gang)
        if found is None:
            return 0
        if found.deadline <= time.monotonic():
            del self.gangs[gang]
            self.metrics.gang_preemptions.labels(result="expired").inc()
            log.warning("%s: its preemption victims did not terminate in time", gang)
            return 0
        left = sum(1 for key, v in found.victims.items() if self._present(key, v))
        if left == 0:
            del self.gangs[gang]
            self.metrics.gang_preemptions.labels(result="completed").inc()
            log.info("%s: every preemption victim is gone", gang)
        return left

    def ready(self) -> list[PodInfo]:
        """The preemptors of gangs whose victims are all gone (their records dropped): the
        planner plans them before anything else."""
        out = []
        for gang, found in list(self.gangs.items()):
            if self.waiting(gang) == 0:
                out.append(found.preemptor)
        return out

    def _present(self, key: str, victim: _Evicting) -> bool:
        cache = self.state.cache
        record = cache.pods.get(key)
        if record is not None and (record.pod.metadata.uid or "") == victim.uid:
            return True
        for claim_key in victim.claims:
            claim = cache.claims.get(claim_key)
            if claim is not None and _holds(claim.claim, victim.uid):
                return True
        return False

    def start(self, preemptor: PodInfo, victims: Sequence[str]) -> Status:
        """Evict ``victims`` for the gang of ``preemptor`` — or for ``preemptor`` alone when
        it is a lone pod (recorded under its own key) — (see the module docstring): the
        filter status (UNSCHEDULABLE, waiting for the victims), or why not."""
        gang = preemptor.gang
        owner = gang.key if gang is not None and gang.size > 1 else preemptor.key
        problem = self._refusal(preemptor, victims)
        if problem:
            self.metrics.gang_preemptions.labels(result="refused").inc()
            log.warning("%s: preemption refused: %s", owner, problem)
            return Status.unschedulable(f"preemption refused: {problem}")
        cache = self.state.cache
        evicting = {v for p in self.gangs.values() for v in p.victims}
        condition = disruption_condition(preemptor, self.state.clock.now())
        record: dict[str, _Evicting] = {}
        for key in victims:
            pod = cache.pods[key].pod
            uid = pod.metadata.uid or ""
            record[key] = _Evicting(uid, _claim_keys(pod))
            if key in evicting:
                continue  # another gang's preemption deletes it already
            namespace, _, name = key.rpartition("/")
            node = cache.pods[key].node or ""
            self._queue.append(Victim(namespace, name, uid, node, condition))
        self.gangs[owner] = _Preemption(preemptor, record, time.monotonic() + self.wait)
        self.metrics.gang_preemptions.labels(result="started").inc()
        log.info("%s: preempting %s for %s", owner, ", ".join(sorted(record)), preemptor.key)
        return Status.unschedulable(waiting_message(len(record)))

    def _refusal(self, preemptor: PodInfo, victims: Sequence[str]) -> str:
        """Why these victims must not be evicted ("" when they may)."""
        cache = self.state.cache
        if not victims:
            return "no victims"
        gangs: set[str] = set()
        for key in victims:
            record = cache.pods.get(key)
            if record is None or record.node is None or record.assumed:
                return f"victim {key} is not running"
            if not record.pod.metadata.uid:
                return f"victim {key} has no UID"
            priority = pod_priority(record.pod, cache.priority_classes)
            if priority >= preemptor.priority:
                return f"victim {key} has priority {priority} >= {preemptor.priority}"
            victim_gang = _gang_key(record.pod, cache.pod_groups)
            if victim_gang is not None:
                gangs.add(victim_gang)
        if not gangs:
            return ""
        chosen = set(victims)
        for other in cache.pods.values():
            if other.node is None or other.assumed or other.key in chosen:
                continue
            same = _gang_key(other.pod, cache.pod_groups)
            if same is not None and same in gangs:
                return f"victim gang {same} would be split ({other.key} stays)"
        return ""

    # -- on the event loop --------------------------------------------------------------------
    async def run_pending(self) -> None:
        """Run the queued evictions one after another, in queue order (see the module
        docstring); return when they are written, or after :attr:`write_wait` seconds (they
        go on in the background)."""
        with self.state.lock:
            queued, self._queue = self._queue, []
        if not queued:
            return
        task = asyncio.ensure_future(self._evict_in_order(queued))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.wait([task], timeout=self.write_wait)

    async def _evict_in_order(self, victims: Sequence[Victim]) -> None:
        for victim in victims:
            await self._evict(victim)

    async def _evict(self, victim: Victim) -> None:
        try:
            if self.writer.blocking:
                error = await anyio.to_thread.run_sync(self.writer.evict, victim)
            else:
                error = self.writer.evict(victim)
        except Exception as err:  # a crashed writer is a failed eviction
            error = f"{type(err).__name__}: {err}"
        if not error:
            self.metrics.evictions.labels(result="evicted").inc()
            log.info("evicted %s (%s)", victim.key, victim.condition["message"])
            return
        self.metrics.evictions.labels(result="failed").inc()
        log.warning("evicting %s failed: %s", victim.key, error)
        with self.state.lock:
            # not evicted: no gang waits for it (the next plan may choose it again)
            for found in self.gangs.values():
                evicting = found.victims.get(victim.key)
                if evicting is not None and evicting.uid == victim.uid:
                    del found.victims[victim.key]


def _gang_key(pod: Pod, pod_groups: Mapping[str, PodGroup]) -> str | None:
    """The key of the pod's gang when it has more than one member."""
    try:
        gang = gang_of(pod, pod_groups)
    except GangSpecError:
        return None
    return gang.key if gang is not None and gang.size > 1 else None


def waiting_message(count: int) -> str:
    """The members' filter reason while their victims terminate."""
    noun = "victim" if count == 1 else "victims"
    return f"waiting for {count} preemption {noun} to terminate"
