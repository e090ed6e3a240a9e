"""The served API's side of a replay played with an extender (``replay --api-port --extender``).

:func:`attach_extender` connects the replay's
:class:`~simulator.kubescheduler.session.KubeSchedulerSession` to the API that serves it:

* :class:`ServedObjects` — extender requests carry the objects as the API serves them (the
  extender's informers list the same bytes); a bind reply is checked against the binding the
  API holds (``bound_node``);
* :class:`FailureWriter` — a failed attempt is written as kube-scheduler's
  ``handleSchedulingFailure`` writes it: the pod's ``PodScheduled=False`` condition, its
  ``nominatedNodeName``, a ``FailedScheduling`` Event; and a binding cycle that failed after
  PreBind releases what PreBind wrote, as DynamicResources' Unreserve and the resourceclaim
  controller do (:meth:`FailureWriter.release_claims`);
* the sync probe (``--extender-sync``) reads the API's resourceVersion and asks the watches
  for progress bookmarks (``Store.request_progress``).

The API accepts ``pods/binding`` from the extender in this mode
(``ServedCluster.replay_binds``); see docs/extender.md, *Playing kube-scheduler in the
simulator*.
"""

from __future__ import annotations

import threading

from scheduler.api.meta import format_timestamp
from scheduler.api.node import Node
from scheduler.api.pod import Pod
from simulator.apiserver.cluster import ServedCluster
from simulator.kubescheduler.objects import ModelObjects, Obj
from simulator.kubescheduler.session import FailedAttempt, KubeSchedulerSession
from simulator.kubescheduler.sync import SyncProbe

__all__ = ["EVENT_NOTE_LIMIT", "FailureWriter", "ServedObjects", "attach_extender"]


class ServedObjects:
    """kube-scheduler's request objects as the served API holds them (what the extender's
    own informers list), falling back to the models for an object the API does not hold.
    Thread-safe."""

    def __init__(self, cluster: ServedCluster) -> None:
        self.store = cluster.store
        self.clock = cluster.clock
        self._pods = cluster.resource("pods")
        self._nodes = cluster.resource("nodes")
        self._models = ModelObjects()
        self._node_json: dict[str, tuple[int, Obj]] = {}
        self._lock = threading.Lock()

    def pod(self, pod: Pod) -> Obj:
        """The served pod (its ``uid``, ``resourceVersion`` and ``status``)."""
        namespace = pod.metadata.namespace or "default"
        entry = self.store.get(self._pods, namespace, pod.metadata.name or "")
        if entry is None:
            return self._models.pod(pod)
        return entry.obj()

    def node(self, node: Node) -> Obj:
        """The served node (memoised per resourceVersion)."""
        name = node.metadata.name or ""
        entry = self.store.get(self._nodes, "", name)
        if entry is None:
            return self._models.node(node)
        with self._lock:
            seen = self._node_json.get(name)
            if seen is not None and seen[0] == entry.rv:
                return seen[1]
        data = entry.obj()
        with self._lock:
            self._node_json[name] = (entry.rv, data)
        return data

    def bound_node(self, pod_key: str) -> str | None:
        """The node the served pod ``namespace/name`` is bound to, if any."""
        namespace, _, name = pod_key.rpartition("/")
        entry = self.store.get(self._pods, namespace, name)
        if entry is None:
            return None
        return entry.fields.get("spec.nodeName") or None


EVENT_NOTE_LIMIT = 1024
"""kube-scheduler truncates an Event's note to this many bytes (``truncateMessage``)."""


class FailureWriter:
    """kube-scheduler's writes after a failed attempt (``handleSchedulingFailure``), into the
    served API: the pod's ``PodScheduled`` condition set to False with reason
    ``Unschedulable`` (rejected) or ``SchedulerError`` and the message, unless the same
    condition is already there; ``status.nominatedNodeName`` when preemption nominated a
    node; and a Warning Event ``FailedScheduling`` (action ``Scheduling``, reported by the
    profile's scheduler name), as the events API's Events read through core v1. Called from
    the replay's thread."""

    def __init__(self, cluster: ServedCluster) -> None:
        self.store = cluster.store
        self.clock = cluster.clock
        self._pods = cluster.resource("pods")
        self._events = cluster.resource("events")
        self._claims = cluster.resource("resourceclaims")
        self._count = 0

    def __call__(self, attempt: FailedAttempt) -> None:
        namespace, _, name = attempt.pod_key.rpartition("/")
        entry = self.store.get(self._pods, namespace, name)
        if entry is None:
            return
        pod = entry.obj()
        if pod.get("spec", {}).get("nodeName"):
            return  # bound after all (an extender bound it, then failed to answer)
        self.release_claims(namespace, pod, entry.uid)
        message = attempt.status.message()
        status = pod.setdefault("status", {})
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": attempt.reason,
            "message": message,
        }
        conditions = status.get("conditions") or []
        old = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        changed = old is None or any(old.get(k) != v for k, v in condition.items())
        if changed:
            condition["lastTransitionTime"] = format_timestamp(self.clock())
            status["conditions"] = [
                *(c for c in conditions if c.get("type") != "PodScheduled"),
                condition,
            ]
        if attempt.nominated and status.get("nominatedNodeName") != attempt.nominated:
            status["nominatedNodeName"] = attempt.nominated
            changed = True
        if changed:
            pod["metadata"].pop("resourceVersion", None)
            self.store.update(self._pods, pod)
        self._count += 1
        now = format_timestamp(self.clock(), micro=True)
        note = message.encode()[:EVENT_NOTE_LIMIT].decode(errors="ignore")
        self.store.create(
            self._events,
            {
                "metadata": {"name": f"{name}.{self._count:016x}", "namespace": namespace},
                "involvedObject": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "namespace": namespace,
                    "name": name,
                    "uid": entry.uid,
                },
                "reason": "FailedScheduling",
                "message": note,
                "type": "Warning",
                "action": "Scheduling",
                "reportingComponent": attempt.scheduler,
                "reportingInstance": f"{attempt.scheduler}-tessera-replay",
                "eventTime": now,
                "source": {},
                "count": 1,
            },
        )

    def release_claims(self, namespace: str, pod: Obj, uid: str) -> None:
        """An unbound pod's claims that PreBind reserved for it (its binding cycle failed
        after PreBind: an extender's bind failed): the pod leaves ``reservedFor``, as
        DynamicResources' Unreserve patches it (``pkg/scheduler/framework/plugins/
        dynamicresources/dynamicresources.go``), and a claim left without consumers loses its
        ``allocation``, as the resourceclaim controller deallocates it
        (``pkg/controller/resourceclaim/controller.go``, ``syncClaim``). The simulator's own
        cache forgot these allocations already (Unreserve); without this the API would keep
        showing the devices taken and the pod reserved."""
        names = {
            ref.get("resourceClaimName")
            for ref in [
                *(pod.get("spec", {}).get("resourceClaims") or ()),
                *(pod.get("status", {}).get("resourceClaimStatuses") or ()),
            ]
            if isinstance(ref, dict)
        }
        for claim_name in sorted(n for n in names if isinstance(n, str) and n):
            claim_entry = self.store.get(self._claims, namespace, claim_name)
            if claim_entry is None:
                continue
            claim = claim_entry.obj()
            status = claim.get("status") or {}
            reserved = status.get("reservedFor") or []
            kept = [r for r in reserved if not (isinstance(r, dict) and r.get("uid") == uid)]
            if len(kept) == len(reserved):
                continue
            status["reservedFor"] = kept or None
            if not kept:
                status.pop("allocation", None)
            status = {k: v for k, v in status.items() if v is not None}
            claim["status"] = status
            claim["metadata"].pop("resourceVersion", None)
            self.store.update(self._claims, claim)


def attach_extender(kube: KubeSchedulerSession, cluster: ServedCluster) -> None:
    """Connect a replay's kube-scheduler session to its served API: extender requests carry
    the served objects, extender binds are checked against the served bindings, failed
    attempts are written as kube-scheduler writes them (:class:`FailureWriter`), and the
    sync probe (``--extender-sync``) reads the API's resourceVersion and asks for progress
    bookmarks."""
    objects = ServedObjects(cluster)
    kube.set_objects(objects)
    kube.bound_node = objects.bound_node
    kube.report_failure = FailureWriter(cluster)
    setup = kube.setup
    if setup.sync_url:
        store = cluster.store
        kube.sync = SyncProbe(
            setup.sync_url,
            version=lambda: store.rv,
            request_progress=store.request_progress,
            timeout=setup.sync_timeout,
            clock=cluster.clock,
        )
