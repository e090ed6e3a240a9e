"""Evictions from an extender in a replay played with one (``replay --api-port --extender``).

A replay's API is read-only (a replay thread writes the simulator alone), except for what an
extender writes while it places pods: ``pods/binding`` (``ServedCluster.replay_binds``) and,
through :class:`ReplayDeletions`, what a preempting extender (``tessera serve
--preempt-gangs``) writes for each victim — the two writes of kube-scheduler's own
preemption:

* a pod's **status write** (``PATCH``/``PUT pods/{name}/status``) that changes only
  ``status.conditions`` (the ``DisruptionTarget`` condition) is stored as is: list and watch
  show it; the simulator does not model conditions, so nothing else changes (a write that
  changes nothing is not stored, as the API server skips no-op updates). A status write
  that changes anything else is refused (405: the simulator owns the rest of the status);
* a **DELETE** of a running pod is a graceful deletion, as the API server makes it for a pod
  on a node: ``metadata.deletionTimestamp`` and ``deletionGracePeriodSeconds`` (the options',
  else the pod's ``terminationGracePeriodSeconds``, else 30) are set and the object returned
  (200); preconditions (``uid``, ``resourceVersion``) are checked (409); a second DELETE of a
  terminating pod returns it unchanged. Deleting a pending pod is refused (405: the replay's
  queue owns it). The pod is then removed by the replay thread, which calls :meth:`apply`
  before it takes its next event (the engine's barrier, see ``simulator.apiserver.live``):
  through the simulated cluster's eviction path at the current virtual time
  (``SimulatedCluster.evict``), exactly as a native preemption — it counts in
  ``preemptions`` when its ``DisruptionTarget`` reason is ``PreemptionByScheduler``, its lost
  work is counted, its controller recreates it (a Job's replacement pod, an LWS group
  restarted whole) — and the pods waiting as unschedulable are moved (a deleted pod is the
  cluster event that retries them). The simulated kubelet has no grace period: the pod is
  gone at the virtual instant of its deletion.

Thread-safety: HTTP threads call :meth:`write_status` and :meth:`delete` under the served
cluster's lock; only the replay thread calls :meth:`apply`.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from scheduler.api.meta import format_timestamp
from simulator.apiserver import status
from simulator.apiserver.clock import Clock, wall_clock
from simulator.apiserver.resources import Resource
from simulator.apiserver.status import bad_request
from simulator.apiserver.store import Entry, Store
from simulator.backend import SimulatedCluster

__all__ = ["DEFAULT_GRACE_SECONDS", "ApiDeletion", "ReplayDeletions", "deletion_reason"]

Obj = dict[str, Any]

DEFAULT_GRACE_SECONDS = 30
"""A pod's ``terminationGracePeriodSeconds`` when it sets none (the API's default)."""

_READ_ONLY = (
    "the server does not allow this method on the requested resource (this API serves a replay"
)


@dataclass(frozen=True, slots=True)
class ApiDeletion:
    """A pod deleted over the API, waiting for the replay thread: its key, UID and the
    reason the replay records."""

    key: str
    uid: str
    reason: str


def deletion_reason(pod: Obj) -> str:
    """Why the replay evicts a pod deleted over the API: ``preempted ...`` (counted as a
    preemption) when its ``DisruptionTarget`` condition says ``PreemptionByScheduler``,
    else ``deleted over the API``."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "DisruptionTarget"
            and condition.get("status") == "True"
            and condition.get("reason") == "PreemptionByScheduler"
        ):
            return f"preempted over the API: {condition.get('message') or 'PreemptionByScheduler'}"
    return "deleted over the API"


def _without_conditions(pod: Obj) -> Obj:
    st = dict(pod.get("status") or {})
    st.pop("conditions", None)
    return st


def _check_conditions(resource: Resource, name: str, conditions: object) -> None:
    if conditions is None:
        return
    if not isinstance(conditions, list):
        raise bad_request("status.conditions: expected an array")
    for i, condition in enumerate(conditions):
        field = f"status.conditions[{i}]"
        if not isinstance(condition, dict) or not isinstance(condition.get("type"), str):
            raise status.invalid(
                resource, name, [("FieldValueRequired", f"{field}.type", "Required value")]
            )
        if condition.get("status") not in ("True", "False", "Unknown"):
            value = condition.get("status")
            raise status.invalid(
                resource,
                name,
                [
                    (
                        "FieldValueNotSupported",
                        f"{field}.status",
                        f'Unsupported value: "{value}": supported values: "False", "True", '
                        '"Unknown"',
                    )
                ],
            )


class ReplayDeletions:
    """The status writes and deletions a replay accepts from its extender (see the module
    docstring)."""

    def __init__(
        self,
        store: Store,
        pods: Resource,
        changed: threading.Event,
        clock: Clock = wall_clock,
    ) -> None:
        self.store = store
        self.pods = pods
        self.changed = changed
        self.clock = clock
        """Stamps ``deletionTimestamp`` (:mod:`simulator.apiserver.clock`)."""
        self._pending: list[ApiDeletion] = []
        self._lock = threading.Lock()
        self.applied = 0
        """Deletions the replay has applied."""

    def accepts(self, resource: Resource, sub: str | None, *, delete: bool = False) -> bool:
        """Whether a write to ``resource`` (``sub``: its subresource) is one of those: a
        pod's status write, or (``delete``) a pod's DELETE."""
        if resource.name != self.pods.name:
            return False
        return sub is None if delete else sub == "status"

    # -- HTTP threads --------------------------------------------------------------------------
    def write_status(self, old: Entry, obj: Obj, expect_rv: str) -> Entry:
        """Store a pod status write that changes only ``status.conditions`` (the body
        ``obj`` is the whole pod as patched or sent; 405 otherwise, 409 on a stale
        ``resourceVersion``)."""
        before = old.obj()
        name = old.key[1]
        new_status = obj.get("status")
        if new_status is not None and not isinstance(new_status, dict):
            raise bad_request("status: expected an object")
        merged = copy.deepcopy(before)
        merged["status"] = copy.deepcopy(new_status or {})
        if _without_conditions(merged) != _without_conditions(before):
            raise status.method_not_allowed(
                f"{_READ_ONLY}: a pod's status write may change only status.conditions)"
            )
        _check_conditions(self.pods, name, merged["status"].get("conditions"))
        if merged["status"] == (before.get("status") or {}):
            if expect_rv and expect_rv != str(old.rv):
                raise status.conflict(self.pods, name, status.STALE)
            return old  # nothing changes: no write, no event (as the API server)
        entry = self.store.update(self.pods, merged, expect_rv=expect_rv or None)
        self.changed.set()
        return entry

    def delete(
        self,
        namespace: str,
        name: str,
        expect_rv: str | None,
        expect_uid: str | None,
        grace: object,
    ) -> Entry:
        """Start a running pod's graceful deletion (see the module docstring)."""
        entry = self.store.get(self.pods, namespace, name)
        if entry is None:
            raise status.not_found(self.pods, name)
        if expect_rv and expect_rv != str(entry.rv):
            raise status.conflict(
                self.pods,
                name,
                f"Precondition failed: ResourceVersion in precondition: {expect_rv}, "
                f"ResourceVersion in object meta: {entry.rv}",
            )
        if expect_uid and expect_uid != entry.uid:
            raise status.conflict(
                self.pods,
                name,
                f"Precondition failed: UID in precondition: {expect_uid}, UID in object meta: "
                f"{entry.uid}",
            )
        pod = entry.obj()
        meta, spec = pod.setdefault("metadata", {}), pod.get("spec") or {}
        if meta.get("deletionTimestamp"):
            return entry  # already terminating
        if not spec.get("nodeName"):
            raise status.method_not_allowed(
                f"{_READ_ONLY}: only a running pod can be deleted, as its eviction)"
            )
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise bad_request("gracePeriodSeconds: expected an integer")
        seconds = grace if grace is not None else spec.get("terminationGracePeriodSeconds")
        meta["deletionTimestamp"] = format_timestamp(self.clock())
        meta["deletionGracePeriodSeconds"] = (
            seconds if isinstance(seconds, int) else DEFAULT_GRACE_SECONDS
        )
        meta.pop("resourceVersion", None)
        stored = self.store.update(self.pods, pod)
        with self._lock:
            self._pending.append(
                ApiDeletion(f"{namespace}/{name}", entry.uid, deletion_reason(pod))
            )
        self.changed.set()
        return stored

    # -- the replay thread ---------------------------------------------------------------------
    def pending(self) -> int:
        """Deletions waiting for the replay thread."""
        with self._lock:
            return len(self._pending)

    def apply(self, backend: SimulatedCluster) -> int:
        """Evict every pod deleted over the API since the last call, through ``backend`` at
        its current virtual time. A pod no longer running under that UID is skipped. Returns
        the evictions."""
        with self._lock:
            pending, self._pending = self._pending, []
        done = 0
        for deletion in pending:
            record = backend.cache.pods.get(deletion.key)
            if record is None or record.node is None or record.assumed:
                continue
            if (record.pod.metadata.uid or "") != deletion.uid:
                continue
            backend.evict(deletion.key, deletion.reason)
            done += 1
        self.applied += done
        return done
