"""The structured-parameters allocator, with kube-scheduler 1.35 semantics.

Algorithm overview (docs/semantics/dra.md §4 and §6 are the specification):

1. *Prepare* every request of every claim (§4.2): feature checks, class lookup, count
   mode; ``All`` requests compute their device set up front. A claim whose minimum device
   count exceeds 32 is a fatal error. Constraints are instantiated per claim.
2. *Search* depth-first with backtracking (§4.3): claims in order, requests in spec order,
   device slots ``0..n-1``. A ``firstAvailable`` request tries each alternative against the
   whole remaining problem. An ExactCount slot walks usable pools -> node-visible slices ->
   devices; later slots of the same request start at the previous pick (combination search,
   which finds the same first solution as upstream's permutation search for every
   order-independent check, without its factorial blow-up). The first complete assignment
   wins; nothing is scored.
3. *Per-device checks* in upstream order (§4.4): in use, selectors (cached), consumable
   capacity, counters, taints, constraints, then record.
4. *Results* (§4.11): devices in allocation order, class config then claim config, and a
   node selector per claim.

Outcomes are values (:class:`AllocationOutcome`): ``allocated``; ``unschedulable`` (no
solution, or the deadline passed); ``error`` with ``fatal`` True (aborts the pod's attempt:
CEL errors, unknown class, disabled feature used, …) or False (invalid pools met on this
node). Upstream's message texts are kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from scheduler.api.taints import find_untolerated
from scheduler.dra.capacity import consumed_capacity
from scheduler.dra.cel import CelDevice, CelEnvironment, CelError, SemVer
from scheduler.dra.claims import (
    MAX_DEVICES_PER_CLAIM,
    AllocatedView,
    AllocationOutcome,
    ClaimAllocation,
    ClaimSpec,
    ClassSpec,
    DeviceResult,
    RequestSpec,
)
from scheduler.dra.constraints import Constraint, DistinctAttribute, MatchAttribute
from scheduler.dra.feature_check import (
    constraint_feature_problem,
    group_feature_problem,
    request_feature_problem,
)
from scheduler.dra.features import Features
from scheduler.dra.inventory import CompiledDevice, CompiledSlice, Number
from scheduler.dra.pools import Pool, device_matches_node
from scheduler.dra.results import ResultError, build_allocation

DEFAULT_TIMEOUT_SECONDS = 10.0  # DynamicResourcesArgs.filterTimeout default
_DEADLINE_CHECK_EVERY = 256
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})  # None and unknown effects are ignored


class AllocationFailure(Exception):
    """Internal: a fatal or node-scoped error with upstream's message."""

    def __init__(self, message: str, *, fatal: bool = True) -> None:
        super().__init__(message)
        self.fatal = fatal


class _MaxSizeExceeded(Exception):
    """Internal: the branch would exceed 32 results for the claim (pruning signal)."""


class _Timeout(Exception):
    """Internal: the deadline passed."""


class MatchCache:
    """Selector results and CEL device views, shared across allocate calls.

    Keys hold the compiled device object itself, so entries stay valid for as long as the
    compiled slice lives (the cluster cache recompiles a slice when it changes). Only
    successful evaluations are cached; errors are raised every time. The cache is emptied
    when it exceeds ``max_entries`` (devices materialised for many nodes would otherwise
    pin memory).
    """

    def __init__(self, environment: CelEnvironment, *, max_entries: int = 1_000_000) -> None:
        self.environment = environment
        self.max_entries = max_entries
        self.results: dict[tuple[CompiledDevice, str], bool] = {}
        self._views: dict[CompiledDevice, CelDevice | str] = {}

    def view(self, driver: str, device: CompiledDevice) -> CelDevice:
        """The CEL ``device`` variable for a device (raises CelError for bad attributes)."""
        found = self._views.get(device)
        if found is None:
            found = _cel_view(driver, device)
            self._views[device] = found
        if isinstance(found, str):
            raise CelError("runtime", found)
        return found

    def matches(self, expression: str, driver: str, device: CompiledDevice) -> bool:
        """Evaluate one selector on one device (raises CelError)."""
        device = device.match_key(expression)
        key = (device, expression)
        found = self.results.get(key)
        if found is None:
            compiled = self.environment.compile(expression)
            found = compiled.matches(self.view(driver, device))
            if len(self.results) >= self.max_entries:
                self.results.clear()
                self._views.clear()
            self.results[key] = found
        return found


def _cel_view(driver: str, device: CompiledDevice) -> CelDevice | str:
    attributes: dict[str, int | bool | str | SemVer] = {}
    for name, (kind, value) in device.attributes.items():
        if kind == "version":
            try:
                attributes[name] = SemVer.parse(str(value))
            except ValueError:
                return (
                    f"unsupported attribute value: attribute {name} of device {device.name} "
                    f"is not a semantic version: {value!r}"
                )
        elif kind == "":
            return (
                f"unsupported attribute value: attribute {name} of device {device.name} "
                "has no typed value"
            )
        else:
            assert value is not None
            attributes[name] = value
    capacity = {name: Fraction(c.value) for name, c in device.capacity.items()}
    return CelDevice(
        driver=driver,
        attributes=attributes,
        capacity=capacity,
        allow_multiple_allocations=device.allow_multiple,
    )


@dataclass(slots=True)
class _Request:
    """A prepared request or subrequest."""

    spec: RequestSpec
    cls: ClassSpec
    n: int
    all_devices: list[tuple[Pool, CompiledSlice, CompiledDevice]] | None
    group_index: int


@dataclass(slots=True)
class _Candidate:
    pool: Pool
    slice: CompiledSlice
    device: CompiledDevice
    key: tuple[str, str, str]


@dataclass(slots=True)
class _Pick:
    """One recorded device: what to undo on backtracking and what to report."""

    request: _Request
    candidate: _Candidate
    charged: bool
    result: DeviceResult


class Allocator:
    """One scheduling cycle's allocator: fixed classes, features and allocated devices.

    The DynamicResources plugin builds one per pod cycle (PreFilter) and calls
    :meth:`allocate` per candidate node (Filter). ``allocate`` never raises for
    "does not fit" or for bad API content; it returns an :class:`AllocationOutcome`.
    """

    def __init__(
        self,
        *,
        features: Features,
        classes: Mapping[str, ClassSpec],
        allocated: AllocatedView,
        cache: MatchCache,
        timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.features = features
        self.classes = classes
        self.allocated = allocated
        self.cache = cache
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    def allocate(
        self,
        claims: Sequence[ClaimSpec],
        node_name: str,
        node_labels: Mapping[str, str],
        pools: Sequence[Pool],
        *,
        preferred: Callable[[list[_Candidate]], list[_Candidate]] | None = None,
    ) -> AllocationOutcome:
        """Allocate all claims of one pod on one node (``pools`` as gathered for the node).

        ``preferred`` may reorder the ExactCount candidate list (a device-choice policy);
        without it the order is upstream's pools -> slices -> devices.
        """
        search = _Search(self, claims, node_name, node_labels, pools, preferred)
        try:
            found = search.run()
        except AllocationFailure as failure:
            return AllocationOutcome(
                "error", message=str(failure), fatal=failure.fatal, steps=search.steps
            )
        except _Timeout:
            return AllocationOutcome(
                "unschedulable",
                message="timed out trying to allocate devices",
                steps=search.steps,
                timed_out=True,
            )
        except CelError as err:  # pragma: no cover - wrapped where raised; kept as a guard
            return AllocationOutcome("error", message=str(err), fatal=True, steps=search.steps)
        if not found:
            if any(p.invalid_reason is not None for p in pools):
                return AllocationOutcome(
                    "error",
                    message="invalid resource pools were encountered",
                    fatal=False,
                    steps=search.steps,
                )
            return AllocationOutcome(
                "unschedulable", message="cannot allocate all claims", steps=search.steps
            )
        try:
            allocations = search.results()
        except ResultError as err:
            return AllocationOutcome("error", message=str(err), fatal=True, steps=search.steps)
        return AllocationOutcome("allocated", allocations=allocations, steps=search.steps)


class _Search:
    """State of one allocate call (dra.md §6)."""

    def __init__(
        self,
        alloc: Allocator,
        claims: Sequence[ClaimSpec],
        node_name: str,
        node_labels: Mapping[str, str],
        pools: Sequence[Pool],
        preferred: Callable[[list[_Candidate]], list[_Candidate]] | None,
    ) -> None:
        self.alloc = alloc
        self.features = alloc.features
        self.claims = claims
        self.node_name = node_name
        self.node_labels = node_labels
        self.pools = pools
        self.preferred = preferred
        self.steps = 0
        self.deadline = alloc.clock() + alloc.timeout_seconds if alloc.timeout_seconds else None
        self.requests: list[list[list[_Request]]] = []  # [claim][group][alternative]
        self.constraints: list[list[Constraint]] = []
        self.chosen_alternative: list[list[int]] = []
        self.picked: list[list[_Pick]] = []
        # device -> claim indices allocating it in this call (exclusive picks only)
        self.allocating: dict[tuple[str, str, str], list[int]] = {}
        self.allocating_capacity: dict[tuple[str, str, str], dict[str, Number]] = {}
        self.shared_picked: dict[tuple[str, str, str], int] = {}
        self.counter_use: dict[tuple[str, str], dict[str, dict[str, Number]]] = {}
        self.available: dict[tuple[str, str], dict[str, dict[str, Number]]] = {}
        self.candidates: list[_Candidate] | None = None
        self.share_seq = 0

    # -- preparation (§4.2) -----------------------------------------------------------------------
    def run(self) -> bool:
        for claim in self.claims:
            self._prepare_claim(claim)
        return self._claim(0)

    def _prepare_claim(self, claim: ClaimSpec) -> None:
        groups: list[list[_Request]] = []
        minimum = 0
        for gi, group in enumerate(claim.requests):
            if group.first_available:
                problem = group_feature_problem(group, self.features)
                if problem is not None:
                    raise AllocationFailure(
                        f"claim {claim.key}, request {group.name}: {problem.detail}"
                    )
                alternatives = [
                    self._prepare_request(claim, sub, gi) for sub in group.first_available
                ]
                minimum += min(r.n for r in alternatives)
            else:
                if group.exactly is None:
                    raise AllocationFailure(
                        f"claim {claim.key}, request {group.name}: missing device class name "
                        "(unsupported request type?)"
                    )
                alternatives = [self._prepare_request(claim, group.exactly, gi)]
                minimum += alternatives[0].n
            groups.append(alternatives)
        if minimum > MAX_DEVICES_PER_CLAIM:
            raise AllocationFailure(
                f"claim {claim.key}: number of requested devices {minimum} exceeds the claim "
                f"limit of {MAX_DEVICES_PER_CLAIM}"
            )
        constraints: list[Constraint] = []
        for i, c in enumerate(claim.constraints):
            if c.match_attribute is not None:
                constraints.append(MatchAttribute(c.requests, c.match_attribute))
            elif c.distinct_attribute is not None and self.features.consumable_capacity:
                constraints.append(DistinctAttribute(c.requests, c.distinct_attribute))
            else:
                problem = constraint_feature_problem(c, i, self.features)
                detail = (
                    problem.detail
                    if problem is not None
                    else "empty constraint (unsupported constraint type?)"
                )
                raise AllocationFailure(f"claim {claim.key}, constraint #{i}: {detail}")
        self.requests.append(groups)
        self.constraints.append(constraints)
        self.chosen_alternative.append([0] * len(groups))
        self.picked.append([])

    def _prepare_request(self, claim: ClaimSpec, spec: RequestSpec, group_index: int) -> _Request:
        prefix = f"claim {claim.key}, request {spec.name}"
        problem = request_feature_problem(spec, self.features)
        if problem is not None and problem.gate == "DRAConsumableCapacity":
            raise AllocationFailure(f"{prefix}: {problem.detail}")
        for i, selector in enumerate(spec.selectors):
            if selector is None:
                raise AllocationFailure(
                    f"{prefix}, selector #{i}: CEL expression empty (unsupported selector type?)"
                )
        if problem is not None:
            raise AllocationFailure(f"{prefix}: {problem.detail}")
        if not spec.class_name:
            raise AllocationFailure(
                f"{prefix}: missing device class name (unsupported request type?)"
            )
        cls = self.alloc.classes.get(spec.class_name)
        if cls is None:
            raise AllocationFailure(
                f"{prefix}: could not retrieve device class {spec.class_name}: "
                f'deviceclass.resource.k8s.io "{spec.class_name}" not found'
            )
        mode = spec.mode or "ExactCount"
        request = _Request(spec=spec, cls=cls, n=0, all_devices=None, group_index=group_index)
        if mode == "ExactCount":
            request.n = spec.count if spec.count is not None else 1
        elif mode == "All":
            devices: list[tuple[Pool, CompiledSlice, CompiledDevice]] = []
            for pool in self.pools:
                if pool.incomplete:
                    raise AllocationFailure(
                        f"{prefix}: asks for all devices, but resource pool "
                        f"{pool.driver}/{pool.name} is currently being updated"
                    )
                if pool.invalid_reason is not None:
                    raise AllocationFailure(
                        f"{prefix}: asks for all devices, but resource pool "
                        f"{pool.driver}/{pool.name} is currently invalid"
                    )
                for s in pool.device_slices():
                    for d in s.devices:
                        if not self._selectable(claim, request, s, d):
                            continue
                        if self.features.consumable_capacity and (
                            consumed_capacity(
                                d,
                                spec.capacity_requests,
                                self.alloc.allocated.shared_consumed((s.driver, s.pool, d.name)),
                                None,
                            )
                            is None
                        ):
                            continue
                        devices.append((pool, s, d))
            request.all_devices = devices
            request.n = len(devices)
        else:
            raise AllocationFailure(f"{prefix}: unsupported count mode {mode}")
        return request

    # -- selectors (§4.4 step 2) ------------------------------------------------------------------
    def _selectable(
        self, claim: ClaimSpec, request: _Request, s: CompiledSlice, d: CompiledDevice
    ) -> bool:
        if d.binding_conditions and not self.features.device_binding_and_status:
            return False
        cache = self.alloc.cache
        for owner, selectors in (
            (f"class {request.cls.name}", request.cls.selectors),
            (f"claim {claim.key}, request {request.spec.name}", request.spec.selectors),
        ):
            for i, expression in enumerate(selectors):
                if expression is None:
                    raise AllocationFailure(
                        f"{owner}: selector #{i}: CEL expression empty (unsupported selector type?)"
                    )
                try:
                    if not cache.matches(expression, s.driver, d):
                        return False
                except CelError as err:
                    raise AllocationFailure(f"{owner}: selector #{i}: {err}") from err
        if s.per_device_node_selection:
            return device_matches_node(d, self.node_name, self.node_labels)
        return True

    # -- search (§4.3, §6) ------------------------------------------------------------------------
    def _tick(self) -> None:
        self.steps += 1
        if (
            self.deadline is not None
            and self.steps % _DEADLINE_CHECK_EVERY == 0
            and self.alloc.clock() > self.deadline
        ):
            raise _Timeout

    def _claim(self, ci: int) -> bool:
        if ci == len(self.claims):
            return True
        try:
            return self._group(ci, 0)
        except _MaxSizeExceeded:
            return False

    def _group(self, ci: int, gi: int) -> bool:
        groups = self.requests[ci]
        if gi == len(groups):
            return self._claim(ci + 1)
        alternatives = groups[gi]
        if len(alternatives) == 1 and not self.claims[ci].requests[gi].first_available:
            return self._slot(ci, gi, alternatives[0], 0, -1)
        all_exceeded = True
        for j, request in enumerate(alternatives):
            try:
                if self._slot(ci, gi, request, 0, -1):
                    self.chosen_alternative[ci][gi] = j
                    return True
                all_exceeded = False
            except _MaxSizeExceeded:
                continue
        if all_exceeded:
            raise _MaxSizeExceeded
        return False

    def _slot(self, ci: int, gi: int, request: _Request, k: int, start: int) -> bool:
        self._tick()
        if request.all_devices is not None and request.n == 0:
            return False
        if k == request.n:
            return self._group(ci, gi + 1)
        if len(self.picked[ci]) + request.n - k > MAX_DEVICES_PER_CLAIM:
            raise _MaxSizeExceeded
        claim = self.claims[ci]
        if request.all_devices is not None:
            pool, s, d = request.all_devices[k]
            candidate = _Candidate(pool, s, d, (s.driver, s.pool, d.name))
            if not self._take(ci, request, candidate, must=True):
                return False
            try:
                if self._slot(ci, gi, request, k + 1, -1):
                    return True
            except _MaxSizeExceeded:
                self._undo(ci)
                raise
            self._undo(ci)
            return False

        candidates = self._candidates()
        admin = bool(request.spec.admin_access)
        for index in range(max(start, 0), len(candidates)):
            self._tick()
            candidate = candidates[index]
            if not admin and (
                self.alloc.allocated.is_allocated(candidate.key) or candidate.key in self.allocating
            ):
                continue
            if not self._selectable(claim, request, candidate.slice, candidate.device):
                continue
            if not self._take(ci, request, candidate, must=False):
                continue
            # the next slot may reuse a shared device, never an exclusive one
            reuse = candidate.key in self.shared_picked
            try:
                if self._slot(ci, gi, request, k + 1, index if reuse else index + 1):
                    return True
            except _MaxSizeExceeded:
                self._undo(ci)
                raise
            self._undo(ci)
        return False

    def _candidates(self) -> list[_Candidate]:
        if self.candidates is None:
            found = [
                _Candidate(pool, s, d, (s.driver, s.pool, d.name))
                for pool in self.pools
                if pool.usable
                for s, d in pool.devices_in_order()
            ]
            self.candidates = self.preferred(found) if self.preferred is not None else found
        return self.candidates

    # -- per-device checks (§4.4 steps 1, 3-7) ----------------------------------------------------
    def _take(self, ci: int, request: _Request, candidate: _Candidate, *, must: bool) -> bool:
        spec = request.spec
        d = candidate.device
        key = candidate.key
        admin = bool(spec.admin_access)
        if admin:
            if ci in self.allocating.get(key, ()):
                return False
        elif must and (self.alloc.allocated.is_allocated(key) or key in self.allocating):
            return False
        shared = self.features.consumable_capacity and d.allow_multiple
        consumed: dict[str, Number] | None = None
        if self.features.consumable_capacity:
            consumed = consumed_capacity(
                d,
                spec.capacity_requests,
                self.alloc.allocated.shared_consumed(key),
                self.allocating_capacity.get(key),
            )
            if consumed is None:
                return False
        charged = False
        if d.consumes:
            if not self.features.partitionable_devices:
                return False
            already_shared = shared and (
                self.alloc.allocated.shared_consumed(key) is not None or key in self.shared_picked
            )
            if not already_shared:
                if not self._charge(candidate):
                    return False
                charged = True
        if (
            self.features.device_taints
            and d.taints
            and find_untolerated(d.taints, spec.tolerations, _BLOCKING_EFFECTS)
        ):
            if charged:
                self._release(candidate)
            return False
        accepted: list[Constraint] = []
        for constraint in self.constraints[ci]:
            if constraint.add(spec.base, spec.sub, candidate.slice.driver, d):
                accepted.append(constraint)
                continue
            for done in reversed(accepted):
                done.remove(spec.base, spec.sub)
            if charged:
                self._release(candidate)
            if must:
                raise AllocationFailure(
                    f"claim {self.claims[ci].key}, request {spec.name}: cannot add device "
                    f"{key[0]}/{key[1]}/{key[2]} because a claim constraint would not be satisfied"
                )
            return False
        # record (§4.4 step 7)
        share_id: str | None = None
        if shared:
            self.shared_picked[key] = self.shared_picked.get(key, 0) + 1
            running = self.allocating_capacity.setdefault(key, {})
            for name, amount in (consumed or {}).items():
                running[name] = running.get(name, 0) + amount
            share_id = self._share_id(ci, spec, key)
        else:
            self.allocating.setdefault(key, []).append(ci)
        result = DeviceResult(
            request=spec.name,
            driver=key[0],
            pool=key[1],
            device=key[2],
            admin_access=admin,
            tolerations=spec.tolerations,
            binding_conditions=d.binding_conditions
            if self.features.device_binding_and_status
            else (),
            binding_failure_conditions=(
                d.binding_failure_conditions if self.features.device_binding_and_status else ()
            ),
            share_id=share_id,
            consumed_capacity=consumed if shared and d.capacity else None,
        )
        self.picked[ci].append(_Pick(request, candidate, charged, result))
        return True

    def _undo(self, ci: int) -> None:
        pick = self.picked[ci].pop()
        spec, result = pick.request.spec, pick.result
        for constraint in reversed(self.constraints[ci]):
            constraint.remove(spec.base, spec.sub)
        key = result.device_id
        if result.share_id is not None:
            self.shared_picked[key] -= 1
            if self.shared_picked[key] == 0:
                del self.shared_picked[key]
            running = self.allocating_capacity[key]
            for name, amount in (result.consumed_capacity or {}).items():
                running[name] -= amount
        else:
            owners = self.allocating[key]
            owners.pop()
            if not owners:
                del self.allocating[key]
        if pick.charged:
            self._release(pick.candidate)

    # -- counters (§4.6) --------------------------------------------------------------------------
    def _pool_available(self, pool: Pool) -> dict[str, dict[str, Number]]:
        key = (pool.driver, pool.name)
        found = self.available.get(key)
        if found is None:
            found = {name: dict(counters) for name, counters in pool.counter_sets.items()}
            state = self.alloc.allocated
            for d in pool.all_devices():
                if not d.consumes:
                    continue
                dev_key = (pool.driver, pool.name, d.name)
                if state.is_allocated(dev_key) or state.shared_consumed(dev_key) is not None:
                    for set_name, counters in d.consumes:
                        target = found.get(set_name)
                        if target is None:
                            continue
                        for counter, amount in counters.items():
                            if counter in target:
                                target[counter] -= amount
            self.available[key] = found
        return found

    def _charge(self, candidate: _Candidate) -> bool:
        pool = candidate.pool
        available = self._pool_available(pool)
        use = self.counter_use.setdefault((pool.driver, pool.name), {})
        for set_name, counters in candidate.device.consumes:
            totals = available.get(set_name)
            if totals is None:
                return False
            running = use.get(set_name, {})
            for counter, amount in counters.items():
                if totals.get(counter, 0) < running.get(counter, 0) + amount:
                    return False
        for set_name, counters in candidate.device.consumes:
            running = use.setdefault(set_name, {})
            for counter, amount in counters.items():
                running[counter] = running.get(counter, 0) + amount
        return True

    def _release(self, candidate: _Candidate) -> None:
        pool = candidate.pool
        use = self.counter_use[(pool.driver, pool.name)]
        for set_name, counters in candidate.device.consumes:
            running = use[set_name]
            for counter, amount in counters.items():
                running[counter] -= amount

    def _share_id(self, ci: int, spec: RequestSpec, key: tuple[str, str, str]) -> str:
        """A deterministic UID for a share (upstream generates a random one)."""
        self.share_seq += 1
        claim = self.claims[ci]
        seed = f"{claim.uid or claim.key}/{spec.name}/{'/'.join(key)}/{self.share_seq}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))

    # -- results (§4.11) --------------------------------------------------------------------------
    def results(self) -> tuple[ClaimAllocation, ...]:
        out: list[ClaimAllocation] = []
        for ci, claim in enumerate(self.claims):
            picks = self.picked[ci]
            chosen = [
                self.requests[ci][gi][self.chosen_alternative[ci][gi]]
                for gi in range(len(claim.requests))
            ]
            out.append(
                build_allocation(
                    claim,
                    [(r.spec, r.cls) for r in chosen],
                    [(p.candidate.slice, p.candidate.device, p.result) for p in picks],
                    self.node_name,
                    bind_to_node=self.features.device_binding_and_status,
                )
            )
        return tuple(out)
