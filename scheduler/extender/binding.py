"""The bind verb: lone pods bound at once, gang members held until their gang is complete.

kube-scheduler calls bind in each pod's own binding goroutine, after PreBind (DRA claims are
already allocated), and many binds can be in flight while filters go on. :class:`Binder`
serves them on the event loop without ever blocking it: Binding POSTs run in worker threads,
held requests wait on futures.

* **Identity** — the pod is looked up in the webhook's cache and its UID checked; a pod
  already bound to the requested node is a success (idempotent), to another node an error.
  The Binding itself carries the UID as a precondition, so a recreated pod of the same name
  is never bound. The pod is never patched.
* **Lone pods** are assumed on the node in the cache — with the devices kube-scheduler's
  DynamicResources picked, predicted first-fit until the written allocation is seen — and
  bound at once (:class:`BindingWriter`); a failed bind forgets the assumption.
* **Gang members** (a plan of :mod:`scheduler.extender.gangs`) must ask for their planned
  node. A member is held until every member of its plan has asked or is bound; then all
  held Bindings are POSTed together and every held request answered (a member whose POST
  failed gets the error, and the plan is released so that the rest is planned again around
  what was bound). The hold ends with an error for all held members, none bound, at the
  *hold deadline* — the first held bind of the gang plus ``hold`` seconds, which must be
  strictly shorter than the bind entry's ``httpTimeout`` — or when the plan is released
  (a member deleted or failing, a re-filter). A held request whose client disconnects is
  dropped from the hold and never bound. A member of a plan whose other members do not exist
  yet is bound at once: their pods may only be created once it is bound (LWS creates an
  exclusive group's workers after its leader is scheduled); they stay reserved in the cache.
* **Shutdown** — :meth:`Binder.fail_all` answers every held bind with an error, none bound,
  when the server starts shutting down (the server calls it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio.to_thread
import numpy as np

from scheduler.api.pod import Pod
from scheduler.extender.gangs import GangPlanner, Member, Plan
from scheduler.extender.metrics import WebhookMetrics
from scheduler.extender.state import ClusterState
from scheduler.extender.wire import ExtenderBindingArgs
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.podinfo import GangSpecError, PodInfo
from scheduler.framework.runtime import Framework

__all__ = ["ApiBindings", "Binder", "BindingWriter", "InMemoryBindings"]

log = logging.getLogger(__name__)


class BindingWriter(Protocol):
    """Writes one Binding. A ``blocking`` writer (network I/O) runs in a worker thread; the
    others run on the event loop (an in-memory binding takes microseconds)."""

    blocking: bool

    def bind(self, namespace: str, name: str, uid: str, node: str) -> str:
        """Bind the pod (UID precondition) to ``node``: ``""`` on success — including a
        conflict because the pod is already bound to that very node — else the error."""
        ...


class InMemoryBindings:
    """Bindings applied to the state itself (``--snapshot``: no API server)."""

    blocking = False

    def __init__(self, state: ClusterState) -> None:
        self.state = state

    def bind(self, namespace: str, name: str, uid: str, node: str) -> str:
        """Set the pod's ``spec.nodeName`` in the cache, as the API server would."""
        key = f"{namespace}/{name}"
        with self.state.lock:
            record = self.state.cache.pods.get(key)
            if record is None:
                return f'pods "{name}" not found in namespace {namespace}'
            pod_uid = record.pod.metadata.uid
            if pod_uid and pod_uid != uid:
                return f"Precondition failed: UID in precondition: {uid}, UID in object: {pod_uid}"
            bound = record.pod.spec.node_name
            if bound:
                return "" if bound == node else f'pod {key} is already assigned to node "{bound}"'
            if node not in self.state.cache.node_index:
                return f'node "{node}" not found'
            self.state.bound_in_memory(key, node)
        return ""


class ApiBindings:
    """Bindings POSTed to ``pods/binding`` with the official Kubernetes client."""

    blocking = True

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client  # noqa: PLC0415 (only with an API server)

        self._client = client
        self.core = client.CoreV1Api(api_client)

    def bind(self, namespace: str, name: str, uid: str, node: str) -> str:
        """POST the Binding; a 409 is a success when the pod is bound to ``node`` already."""
        c = self._client
        body = c.V1Binding(
            metadata=c.V1ObjectMeta(name=name, namespace=namespace, uid=uid),
            target=c.V1ObjectReference(api_version="v1", kind="Node", name=node),
        )
        try:
            # the response is a Status, which the generated client cannot read as a Binding
            self.core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)
            return ""
        except c.ApiException as err:
            if err.status == 409:
                try:
                    pod = self.core.read_namespaced_pod(name, namespace)
                except c.ApiException as again:
                    return f"binding conflict, then reading the pod: {again.status} {again.reason}"
                spec, meta = pod.spec, pod.metadata
                same_node = spec is not None and spec.node_name == node
                if same_node and meta is not None and meta.uid == uid:
                    return ""
            return f"POST pods/binding: {err.status} {err.reason}: {_text(err.body)}"
        except Exception as err:  # transport failures: the bind fails, kube-scheduler retries
            return f"POST pods/binding: {type(err).__name__}: {err}"


def _text(body: object) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:500]
    return str(body)[:500]


@dataclass(slots=True)
class _Held:
    future: asyncio.Future[str]
    args: ExtenderBindingArgs


@dataclass(slots=True)
class _Hold:
    """The held binds of one gang."""

    started: float
    deadline: float
    members: dict[str, _Held] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    releasing: bool = False
    task: asyncio.Task[None] | None = None


class Binder:
    """The bind verb (see the module docstring)."""

    def __init__(
        self,
        state: ClusterState,
        planner: GangPlanner,
        framework: Framework,
        writer: BindingWriter,
        metrics: WebhookMetrics,
        *,
        hold: float,
    ) -> None:
        self.state = state
        self.planner = planner
        self.framework = framework
        self.writer = writer
        self.metrics = metrics
        self.hold = hold
        self.holds: dict[str, _Hold] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        planner.on_release = self._released

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop serving the requests (held binds live on it)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    # -- the verb -------------------------------------------------------------------------------
    async def bind(
        self, args: ExtenderBindingArgs, disconnected: Callable[[], Awaitable[None]]
    ) -> str:
        """Bind (or hold) one pod; returns the reply's ``Error`` (``""`` on success).
        ``disconnected()`` completes when the client goes away."""
        if self._loop is None:
            self.attach(asyncio.get_running_loop())
        key = f"{args.pod_namespace}/{args.pod_name}"
        with self.state.lock:
            record = self.state.cache.pods.get(key)
            pod = record.pod if record is not None else None
            uid = pod.metadata.uid if pod is not None else None
            if uid and uid != args.pod_uid:
                self.metrics.binds.labels(result="failed").inc()
                return f"pod {key}: UID {args.pod_uid} asked, the pod is {uid}"
            if record is not None and record.node is not None and not record.assumed:
                if record.node == args.node:
                    self.metrics.binds.labels(result="already_bound").inc()
                    return ""
                self.metrics.binds.labels(result="failed").inc()
                return f"pod {key} is already bound to node {record.node}"
            found = self.planner.member(key)
            gang = self.planner.gang(pod) if pod is not None else None
            if found is None and gang is not None:
                self.metrics.binds.labels(result="failed").inc()
                return f"gang {gang.key}: no plan holds member {key} (it must be filtered again)"
        if found is None:
            return await self._bind_lone(args, pod)
        plan, member = found
        if member.node != args.node:
            self.metrics.binds.labels(result="failed").inc()
            return (
                f"gang {plan.gang.key}: member {key} is planned on node {member.node}, "
                f"not {args.node}"
            )
        if plan.waiting_for_pods():
            return await self._bind_member_now(plan, member, args)
        return await self._hold(plan, member, args, disconnected)

    async def _bind_lone(self, args: ExtenderBindingArgs, pod: Pod | None) -> str:
        with self.state.lock:
            undo = self._assume(pod, args.node) if pod is not None else None
        error = await self._write(args)
        with self.state.lock:
            if error and undo is not None:
                undo()
        self.metrics.binds.labels(result="failed" if error else "bound").inc()
        return error

    async def _write(self, args: ExtenderBindingArgs) -> str:
        """One Binding through the writer (in a worker thread when it blocks)."""
        call = (args.pod_namespace, args.pod_name, args.pod_uid, args.node)
        if self.writer.blocking:
            return await anyio.to_thread.run_sync(self.writer.bind, *call)
        return self.writer.bind(*call)

    def _assume(self, pod: Pod, node: str) -> Callable[[], None] | None:
        """Assume a lone pod on ``node`` with the devices DynamicResources picks first-fit;
        returns how to undo it (None when nothing was assumed)."""
        cache = self.state.cache
        record = cache.pods.get(f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}")
        i = cache.node_index.get(node)
        if record is None or record.node is not None or i is None:
            return None
        try:
            info: PodInfo = self.planner.info(record.pod)
        except GangSpecError:
            return None
        fw = self.framework
        state = CycleState()
        fits, _ = fw.find_feasible(state, info, cache.snapshot(), np.array([i], dtype=np.intp))
        if len(fits) and fw.assume(state, info, node).ok:
            return lambda: fw.forget(state, info, node)
        # tessera's cache disagrees with kube-scheduler's: hold the node's resources anyway
        cache.assume_pod(info.key, node)
        return lambda: cache.forget_pod(info.key)

    async def _bind_member_now(self, plan: Plan, member: Member, args: ExtenderBindingArgs) -> str:
        error = await self._write(args)
        with self.state.lock:
            if error:
                self.planner.release(plan.gang.key, f"binding {member.key} failed", "released")
            else:
                self.planner.bound(plan, member)
        self.metrics.binds.labels(result="failed" if error else "bound").inc()
        return error

    async def _hold(
        self,
        plan: Plan,
        member: Member,
        args: ExtenderBindingArgs,
        disconnected: Callable[[], Awaitable[None]],
    ) -> str:
        loop = asyncio.get_running_loop()
        gang = plan.gang.key
        with self.state.lock:
            hold = self.holds.get(gang)
            if hold is None:
                now = time.monotonic()
                hold = _Hold(started=now, deadline=now + self.hold)
                hold.timer = loop.call_later(self.hold, self._expire, gang)
                self.holds[gang] = hold
            previous = hold.members.pop(member.key, None)
            if previous is not None and not previous.future.done():
                previous.future.set_result("superseded by a newer bind request for this pod")
                self.metrics.gang_held.dec()
            future: asyncio.Future[str] = loop.create_future()
            hold.members[member.key] = _Held(future, args)
            member.held = True
            plan.expires = max(plan.expires, hold.deadline + 1.0)
            self.metrics.gang_held.inc()
            if plan.complete() and not hold.releasing:
                hold.releasing = True
                hold.task = loop.create_task(self._release(gang, hold, plan))
        gone = loop.create_task(_wait(disconnected))
        try:
            waiters: set[asyncio.Future[Any]] = {future, gone}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if future.done():
            return future.result()
        with self.state.lock:
            current = hold.members.get(member.key)
            if current is not None and current.future is future and not hold.releasing:
                del hold.members[member.key]
                member.held = False
                self.metrics.gang_held.dec()
                future.set_result("client disconnected")
        await asyncio.sleep(0)
        return future.result() if future.done() else "client disconnected"

    async def _release(self, gang: str, hold: _Hold, plan: Plan) -> None:
        """Every member asked: POST all held Bindings, answer every held request."""
        if hold.timer is not None:
            hold.timer.cancel()
        held = list(hold.members.items())
        results = await asyncio.gather(*(self._write(h.args) for _, h in held))
        with self.state.lock:
            if self.holds.get(gang) is hold:
                del self.holds[gang]
            failed = [key for (key, _), error in zip(held, results, strict=True) if error]
            for (key, _), error in zip(held, results, strict=True):
                entry = plan.members.get(key)
                if entry is not None and not error:
                    self.planner.bound(plan, entry)
            if failed:
                self.planner.release(gang, f"binding {', '.join(failed)} failed", "released")
        for (_, h), error in zip(held, results, strict=True):
            if not h.future.done():
                h.future.set_result(error)
            self.metrics.binds.labels(result="failed" if error else "bound").inc()
        self.metrics.gang_held.dec(len(held))
        self.metrics.gang_releases.labels(outcome="failed" if failed else "bound").inc()
        self.metrics.gang_hold_seconds.observe(time.monotonic() - hold.started)

    def _expire(self, gang: str) -> None:
        """The hold deadline passed: every held member fails, the plan is released."""
        with self.state.lock:
            hold = self.holds.get(gang)
            if hold is None or hold.releasing:
                return
            plan = self.planner.plans.get(gang)
            size = len(plan.members) if plan is not None else 0
            asked = len(hold.members)
            reason = (
                f"gang {gang}: {asked} of {size} members asked to bind within the "
                f"{self.hold:g}s hold"
            )
            self._fail(gang, reason, "expired")
            self.planner.release(gang, reason, "expired")

    def _released(self, plan: Plan, reason: str) -> None:
        """The planner released a plan: its held binds fail (on the loop's thread)."""
        gang = plan.gang.key
        if gang not in self.holds:
            return
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self._fail(gang, f"gang {gang}: {reason}", "failed")
        else:
            self._loop.call_soon_threadsafe(self._fail, gang, f"gang {gang}: {reason}", "failed")

    def _fail(self, gang: str, reason: str, outcome: str) -> None:
        hold = self.holds.get(gang)
        if hold is None or hold.releasing:
            return
        del self.holds[gang]
        if hold.timer is not None:
            hold.timer.cancel()
        for held in hold.members.values():
            if not held.future.done():
                held.future.set_result(reason)
                self.metrics.binds.labels(result="failed").inc()
        self.metrics.gang_held.dec(len(hold.members))
        self.metrics.gang_releases.labels(outcome=outcome).inc()

    def fail_all(self, reason: str) -> int:
        """Answer every held bind with ``reason``, none bound (the server is shutting down:
        a held request must not keep it waiting until the hold deadline, and kube-scheduler
        retries the members). Returns how many were held. Call on the loop's thread."""
        with self.state.lock:
            count = self.held()
            for gang in list(self.holds):
                self._fail(gang, f"gang {gang}: {reason}", "failed")
        return count

    def held(self) -> int:
        """Binds held right now."""
        return sum(len(h.members) for h in self.holds.values())


async def _wait(disconnected: Callable[[], Awaitable[None]]) -> None:
    await disconnected()
