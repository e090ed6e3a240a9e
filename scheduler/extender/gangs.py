"""Gang plans: a whole gang placed on its first member's filter, held until bound or expired.

kube-scheduler sends gang members to the extender one at a time and knows nothing of gangs;
this module gives it tessera's all-or-nothing placement (docs/extender.md, "tessera serve"):

* **planning** — the first member's filter runs the framework's gang cycle
  (:class:`~scheduler.framework.gang_cycle.GangCycle`, without binding) on every member
  that is not placed yet: existing pods, and stand-ins for LWS members not created yet
  (:mod:`scheduler.extender.members`). Each member is *assumed* in the cache on its planned
  node, with the devices kube-scheduler's DynamicResources will pick (first fit), so that
  filters of other pods see the room as taken. Members already placed (bound, or being
  bound) pin the gang's required topology domain (a ``nodeSelector`` on that level's label
  for the others). A gang whose members cannot all be named yet (a PodGroup short of
  ``minMember``) waits: every node is unresolvable for it;
* **answering** — each member's filter passes exactly its planned node;
* **releasing** (reservations are keyed by pod, checked against the pod UID): a member
  filtered a second time (its previous attempt failed), deleted, or newly marked
  ``PodScheduled=False`` (``Unschedulable``) while not held releases the whole plan — every
  member not bound is unassumed and its predicted claims dropped, and held binds fail
  (:attr:`GangPlanner.on_release`); so does a plan older than its TTL with nothing held, a
  failed bind, or the bind hold's deadline (:mod:`scheduler.extender.binding`). A plan whose
  members are all bound is simply done.

A restart loses the plans, never a committed gang: plans are rebuilt from API state. Held
binds fail (answered at once on shutdown, or with the dropped connection) and kube-scheduler
retries them; bound members are in the API, and the next member's filter plans the rest
around them, pinned to their domain (docs/extender.md, "Restarts: plans are rebuilt from API
state"; tested end to end by ``tests/extender/test_e2e_chaos.py``).

Every method runs under the state's lock (the caller holds it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace

from scheduler.api.pod import Pod, pod_claim_keys, pod_key
from scheduler.dra.extended import extended_claim_key
from scheduler.extender.cluster import TemplateMissingError, WebhookCluster
from scheduler.extender.evictions import GangPreemptions, waiting_message
from scheduler.extender.members import GangMembers, collect_members
from scheduler.extender.metrics import WebhookMetrics
from scheduler.extender.state import ClusterState
from scheduler.framework.gang_cycle import GangCycle
from scheduler.framework.podinfo import GangRef, GangSpecError, PodInfo, gang_of, pod_info
from scheduler.framework.runtime import Framework
from scheduler.framework.status import Code, Status

__all__ = ["GangPlanner", "Member", "Plan", "failed_condition"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Member:
    """One planned member: its node, the pod UID it was planned for (None until a stand-in's
    pod exists), and where it stands."""

    key: str
    node: str
    uid: str | None
    arrived: bool
    """The pod exists (False: a stand-in reserved under its future name)."""
    filtered: bool = False
    held: bool = False
    bound: bool = False


@dataclass(slots=True)
class Plan:
    """A gang's planned members and the plan's deadline."""

    gang: GangRef
    members: dict[str, Member]
    created: float
    expires: float
    domain: str | None = None
    placed: list[str] = field(default_factory=list)
    """Members already placed when the plan was made (they pinned the domain)."""

    def waiting_for_pods(self) -> bool:
        """Some member does not exist yet (binding the others may be what creates it: LWS
        creates an exclusive group's workers once the leader is bound)."""
        return any(not m.arrived for m in self.members.values())

    def complete(self) -> bool:
        """Every member is held or bound: the held binds may be released."""
        return all(m.held or m.bound for m in self.members.values())


def failed_condition(pod: Pod | None) -> object:
    """The pod's ``PodScheduled=False`` condition with reason ``Unschedulable``, or None."""
    if pod is None:
        return None
    for condition in pod.status.conditions:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return condition
    return None


class GangPlanner:
    """Gang plans over one framework (see the module docstring); a StateListener."""

    def __init__(
        self,
        state: ClusterState,
        cluster: WebhookCluster,
        framework: Framework,
        metrics: WebhookMetrics,
        *,
        ttl: float,
    ) -> None:
        self.state = state
        self.cluster = cluster
        self.framework = framework
        self.metrics = metrics
        self.ttl = ttl
        self.plans: dict[str, Plan] = {}
        self.index: dict[str, set[str]] = {}
        """Gang key -> the keys of its pods in the cache."""
        self._gang_of: dict[str, str] = {}
        self.on_release: Callable[[Plan, str], None] | None = None
        """Called with each released plan and the reason (the binder fails held binds)."""
        self.preemptions: GangPreemptions | None = None
        """Carries out a failed gang's preemption (``--preempt-gangs``); None: the dry run's
        victims are dropped (:mod:`scheduler.extender.evictions`)."""
        state.listeners.append(self)
        with state.lock:
            for key, record in state.cache.pods.items():
                self._index(key, record.pod)

    # -- lookups -------------------------------------------------------------------------------
    def gang(self, pod: Pod) -> GangRef | None:
        """The pod's gang when it has more than one member (None for a lone pod)."""
        try:
            found = gang_of(pod, self.state.cache.pod_groups)
        except GangSpecError:
            return None
        return found if found is not None and found.size > 1 else None

    def member(self, key: str) -> tuple[Plan, Member] | None:
        """The plan holding the pod ``namespace/name``, and its member entry."""
        gang = self._gang_of.get(key)
        plan = self.plans.get(gang) if gang is not None else None
        if plan is None:
            for candidate in self.plans.values():
                if key in candidate.members:
                    plan = candidate
                    break
        if plan is None or key not in plan.members:
            return None
        return plan, plan.members[key]

    def info(self, pod: Pod) -> PodInfo:
        """The pod's PodInfo under the framework's profile (GangSpecError for a bad gang)."""
        cache = self.state.cache
        return pod_info(
            pod,
            priority_classes=cache.priority_classes,
            pod_groups=cache.pod_groups,
            batch_threshold=self.framework.profile.batch_threshold,
        )

    def members_of(self, info: PodInfo) -> GangMembers | None:
        """The gang's members as the cache has them (the pod itself as given)."""
        if info.gang is None:
            return None
        keys = set(self.index.get(info.gang.key, ())) | {info.key}
        members = collect_members(self.state.cache, info.gang, keys)
        members.pending = [info.pod if pod_key(p) == info.key else p for p in members.pending]
        return members

    # -- filter ----------------------------------------------------------------------------------
    def filter_member(self, info: PodInfo) -> tuple[str | None, Status]:
        """The node planned for this gang member (planning the gang if needed), or why none."""
        gang = info.gang
        assert gang is not None
        plan = self.plans.get(gang.key)
        if plan is not None:
            member = plan.members.get(info.key)
            uid = info.pod.metadata.uid
            if member is not None and (member.uid is None or not uid or member.uid == uid):
                if member.uid is None and uid:
                    member.uid = uid
                    member.arrived = True
                if member.bound or member.held or not member.filtered:
                    member.filtered = True
                    return member.node, Status.success()
                self.release(gang.key, f"member {info.key} was filtered again", "released")
            elif member is not None:
                self.release(gang.key, f"member {info.key} is a new pod (UID {uid})", "released")
        return self._plan(info)

    def _plan(self, info: PodInfo) -> tuple[str | None, Status]:
        gang = info.gang
        assert gang is not None
        if gang.key in self.plans:
            self.release(gang.key, f"{info.key} is not one of its members", "released")
        if not info.pod.spec.node_name and info.pod.metadata.uid:
            self.state.observe_pod(info.pod)
        if self.preemptions is not None:
            victims = self.preemptions.waiting(gang.key)
            if victims:
                return None, Status.unschedulable(waiting_message(victims))
        members = self.members_of(info)
        assert members is not None
        if members.waiting is not None:
            self.metrics.gang_plans.labels(result="waiting").inc()
            return None, Status.unresolvable(members.waiting)
        if info.key not in {pod_key(p) for p in members.pending}:
            return None, Status.unresolvable(f"gang {gang.key}: member {info.key} is placed")
        pin = self._pin(gang, members.bound)
        planning = [*members.pending, *members.standins]
        infos: list[PodInfo] = []
        for pod in planning:
            try:
                found = info if pod_key(pod) == info.key else self.info(pod)
            except GangSpecError as err:
                return None, Status.unresolvable(str(err))
            if pin is not None:
                selector = {**pod.spec.node_selector, **pin}
                pinned = pod.model_copy(
                    update={"spec": pod.spec.model_copy(update={"node_selector": selector})}
                )
                found = dataclass_replace(found, pod=pinned)
            infos.append(found)
        created = {pod_key(p) for p in members.pending}
        try:
            result = GangCycle(self.framework).run(infos, created, bind=False)
        except TemplateMissingError as err:
            return None, Status.unresolvable(str(err))
        finally:
            self.cluster.take_evicted()  # the dry run's record: result.victims has them
        if not result.status.ok:
            self.metrics.gang_plans.labels(result="unschedulable").inc()
            status = result.status
            if (
                self.preemptions is not None
                and result.victims
                and status.code == Code.UNSCHEDULABLE
            ):
                return None, self.preemptions.start(info, result.victims)
            if status.code not in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE):
                status = Status.error(f"gang {gang.key}: {status.message()}")
            return None, status
        now = time.monotonic()
        plan = Plan(
            gang,
            {
                key: Member(
                    key,
                    node,
                    uid=next((p.metadata.uid for p in members.pending if pod_key(p) == key), None),
                    arrived=key in created,
                )
                for key, node in result.assignments.items()
            },
            created=now,
            expires=now + self.ttl,
            domain=result.plan.domain if result.plan is not None else None,
            placed=[pod_key(p) for p in members.bound],
        )
        plan.members[info.key].filtered = True
        self.plans[gang.key] = plan
        self.metrics.gang_plans.labels(result="planned").inc()
        log.info(
            "gang %s planned: %s",
            gang.key,
            ", ".join(f"{k}->{m.node}" for k, m in sorted(plan.members.items())),
        )
        return plan.members[info.key].node, Status.success()

    def preempt_failed(self, info: PodInfo) -> None:
        """A member's scheduling attempt failed without a plan (kube-scheduler asks the
        extender only when some node passes its own filters, so a gang that only
        preemption can place may never reach :meth:`filter_member`): run the gang's cycle as
        its filter would, which starts the preemption when only victims make room. A plan
        made here is dropped at once — no filter waits for it; the members' next filters
        plan again."""
        gang = info.gang
        if gang is None or gang.key in self.plans or self.preemptions is None:
            return
        if gang.key in self.preemptions.gangs:
            return  # victims terminating, or gone and the gang planned first on the next filter
        node, _ = self._plan(info)
        if node is not None:
            self.release(gang.key, f"planned on {info.key}'s failed attempt", "released")

    def plan_preempted(self) -> None:
        """Plan each gang whose preemption victims are all gone, before any other pod is
        filtered: the room they freed is the gang's (kube-scheduler's nominated node). The
        plan waits for the members' filters like any other."""
        if self.preemptions is None or not self.preemptions.gangs:
            return
        for preemptor in self.preemptions.ready():
            gang = preemptor.gang
            record = self.state.cache.pods.get(preemptor.key)
            if gang is None or gang.key in self.plans or record is None or record.node:
                continue
            if record.pod.metadata.uid != preemptor.pod.metadata.uid:
                continue  # the preemptor was replaced: its gang plans on its next filter
            try:
                info = self.info(record.pod)
            except GangSpecError:
                continue
            node, _ = self._plan(info)
            plan = self.plans.get(gang.key)
            if node is not None and plan is not None:
                plan.members[info.key].filtered = False  # not filtered yet: its filter comes

    def _pin(self, gang: GangRef, placed: list[Pod]) -> dict[str, str] | None:
        """``{level label: value}`` of the placed members' required domain, if any."""
        if gang.required is None:
            return None
        for pod in placed:
            node = self.state.cache.nodes.get(pod.spec.node_name or "")
            record = self.state.cache.pods.get(pod_key(pod))
            if node is None and record is not None and record.node is not None:
                node = self.state.cache.nodes.get(record.node)
            value = node.metadata.labels.get(gang.required) if node is not None else None
            if value is not None:
                return {gang.required: value}
        return None

    # -- release -------------------------------------------------------------------------------
    def release(
        self, gang_key: str, reason: str, outcome: str, gone: tuple[str, Pod] | None = None
    ) -> None:
        """Drop a plan: unassume every member not bound, drop their predicted claims, and
        tell :attr:`on_release` (held binds fail with ``reason``). ``gone`` is a member just
        deleted from the cache, with its last pod."""
        plan = self.plans.pop(gang_key, None)
        if plan is None:
            return
        for member in plan.members.values():
            if not member.bound:
                deleted = gone[1] if gone is not None and gone[0] == member.key else None
                self._unreserve(member, deleted)
        self.metrics.gang_plans.labels(result=outcome).inc()
        log.info("gang %s released: %s", gang_key, reason)
        if self.on_release is not None:
            self.on_release(plan, reason)

    def _unreserve(self, member: Member, gone: Pod | None = None) -> None:
        """Undo a member's reservation: its assumed claims (also those of ``gone``, the pod
        just deleted from the cache), the assumed pod, the predicted claims, and a stand-in
        whose pod never came."""
        cache = self.state.cache
        record = cache.pods.get(member.key)
        pod = record.pod if record is not None else gone
        if pod is not None and (record is None or record.assumed):
            keys = [key for _, key in pod_claim_keys(pod) if key is not None]
            keys.append(extended_claim_key(pod))
            for key in keys:
                claim = cache.claims.get(key)
                if claim is not None and claim.assumed:
                    cache.forget_claim(key)
        if record is not None and record.assumed:
            cache.forget_pod(member.key)
        for key in self.cluster.predicted_of(member.key):
            self.cluster.drop_predicted(key)
        if not member.arrived and record is not None:
            cache.remove_pod(member.key)

    def expire(self, now: float | None = None) -> None:
        """Release plans past their TTL that hold no bind (held binds have their own
        deadline)."""
        moment = time.monotonic() if now is None else now
        for key, plan in list(self.plans.items()):
            if plan.expires <= moment and not any(m.held for m in plan.members.values()):
                self.release(key, f"plan older than {self.ttl:g}s", "expired")

    def bound(self, plan: Plan, member: Member) -> None:
        """A member's binding was written: the plan is done once every member is bound."""
        member.bound = True
        member.held = False
        if all(m.bound for m in plan.members.values()) and self.plans.get(plan.gang.key) is plan:
            del self.plans[plan.gang.key]
            self.metrics.gang_plans.labels(result="bound").inc()

    # -- StateListener -------------------------------------------------------------------------
    def _index(self, key: str, pod: Pod | None) -> None:
        old = self._gang_of.pop(key, None)
        if old is not None:
            keys = self.index.get(old)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.index[old]
        if pod is None:
            return
        # indexed by the gang's key whatever its size: a PodGroup member may arrive before
        # its PodGroup (informers list kinds in parallel), when its size still reads as 1
        try:
            gang = gang_of(pod, self.state.cache.pod_groups)
        except GangSpecError:
            return
        if gang is not None:
            self._gang_of[key] = gang.key
            self.index.setdefault(gang.key, set()).add(key)

    def pod_changed(self, key: str, old: Pod | None, new: Pod | None) -> None:
        """Follow members: arrivals, bindings, deletions, failed attempts."""
        self._index(key, new)
        found = self.member(key)
        if found is None:
            return
        plan, member = found
        if new is None:
            gone = (key, old) if old is not None else None
            self.release(plan.gang.key, f"member {key} was deleted", "released", gone)
            return
        if member.uid is not None and new.metadata.uid and new.metadata.uid != member.uid:
            self.release(plan.gang.key, f"member {key} was recreated", "released")
            return
        if not member.arrived:
            member.arrived = True
            member.uid = new.metadata.uid or None
        if new.spec.node_name:
            if new.spec.node_name == member.node:
                self.bound(plan, member)
            else:
                self.release(
                    plan.gang.key,
                    f"member {key} was bound to {new.spec.node_name}, planned {member.node}",
                    "released",
                )
            return
        failed = failed_condition(new)
        if (
            failed is not None
            and failed != failed_condition(old)
            and member.filtered
            and not member.held
        ):
            self.release(plan.gang.key, f"member {key} failed scheduling", "released")

    def claim_changed(self, key: str, claim: object) -> None:
        """Claims are followed by the cluster backend (predictions)."""
