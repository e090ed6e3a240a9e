"""DynamicResources: DRA claims, with kube-scheduler 1.35's allocator semantics.

Extension points (what kube-scheduler's plugin of the same name does, docs/semantics/dra.md
§4.12):

* **PreFilter** — resolve the pod's claims (by name, or the claim the resourceclaim
  controller generated from a template, found through ``status.resourceClaimStatuses``);
  a missing claim or class, or an allocated claim with no room left in ``reservedFor``,
  makes the pod unschedulable. A claim that needs a DRA feature gate the cluster has off
  (:mod:`scheduler.dra.feature_check`: prioritized list, consumable capacity, admin access)
  is UNSCHEDULABLE_AND_UNRESOLVABLE and *final* ("claim needs DRAConsumableCapacity, off in
  this cluster"): no cluster event can change it. Pods without claims SKIP the plugin.
* **Filter** — allocated claims: the allocation's node selector must match the node.
  Unallocated claims: the vectorised prefilter narrows the nodes; then the exact allocator
  runs on each survivor — unless the prefilter's answer is exact, in which case the exact
  allocator runs only at Reserve on the chosen node. A fatal allocator error aborts the
  cycle (Status ERROR), as upstream. A device shortfall (cannot allocate all claims, invalid
  pools, a timed-out search; a claim in use at PreFilter) is UNSCHEDULABLE_AND_UNRESOLVABLE,
  as upstream 1.35 reports it (so DefaultPreemption never evicts to free devices); with the
  ``devicePreemption`` arg, which tessera's policies set, it is UNSCHEDULABLE, and tessera's
  Preemption planner, which models the devices victims free, considers the node.
* **Score** (1.35) — for claims with ``firstAvailable`` requests, +(8 − index of the chosen
  alternative) per request, normalised (highest = 100).
* **Reserve / Unreserve** — allocate on the chosen node (honouring a device-choice hint,
  :mod:`scheduler.framework.hints`) and assume the allocations in the cache; forget them.
* **PreBind** — write each allocation (and the pod's reservation) through the backend.

DRA-backed extended resources (DRAExtendedResource, KEP-5004; upstream
``extendeddynamicresources.go``): a pod whose container requests name an extended resource
backed by a DeviceClass (:mod:`scheduler.dra.extended`) is handled even without claims.
PreFilter notes those resources (and whether a special claim of the pod exists already from
an earlier attempt: then every node is UNSCHEDULABLE, "cannot schedule extended resource
claim"). Filter: on each node, the resources with 0 allocatable are served by DRA — the
node's variant of the special claim (one request per container and resource) is allocated
after the pod's own claims; a requested extended resource that no class backs and the node
does not list fails with "cannot fit resource"; a node whose device plugin offers them all
needs nothing from DRA. Reserve assumes the special claim as an in-memory claim; PreBind
creates it, allocates it and records it in the pod's ``status.extendedResourceClaimStatus``
(through ``write_allocation``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from scheduler.api.pod import ContainerExtendedResourceRequest, pod_claim_keys
from scheduler.api.selectors import NodeSelector, node_selector_matches
from scheduler.cluster.extended import ExtendedDemand, extended_demand
from scheduler.cluster.prefilter import PrefilterAnswer, PrefilterCache, prefilter
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import DEFAULT_TIMEOUT_SECONDS, Allocator, MatchCache
from scheduler.dra.cel import CelEnvironment
from scheduler.dra.claims import AllocationOutcome, ClaimAllocation, ClaimSpec
from scheduler.dra.convert import claim_spec
from scheduler.dra.extended import (
    IN_MEMORY_CLAIM_NAME,
    NO_EXTENDED_RESOURCE,
    ExtendedRequest,
    ExtendedResourceAllocation,
    extended_claim_key,
    extended_claim_object,
    extended_claim_requests,
    extended_claim_spec,
)
from scheduler.dra.feature_check import feature_problem
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.hints import DEVICE_PREFERENCE
from scheduler.framework.interfaces import FilterResult, Handle, NodeIds, PreFilterResult
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.normalize import default_normalize

log = logging.getLogger(__name__)

MAX_RESERVED_FOR = 256  # ResourceClaimReservedForMaxSize
_CANNOT = "cannot allocate all claims"
_STALE_EXTENDED = "cannot schedule extended resource claim"


class DynamicResourcesArgs(BaseModel):
    """Arguments of the DynamicResources plugin."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    filter_timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        alias="filterTimeoutSeconds",
        ge=0,
        description="Per-node allocation deadline (DynamicResourcesArgs.filterTimeout); 0 = none.",
    )
    device_preemption: bool = Field(
        default=False,
        alias="devicePreemption",
        description=(
            "Report device shortfalls (cannot allocate all claims, invalid pools, a timed-out "
            "search, a claim in use) as UNSCHEDULABLE, so that a preemption plugin that frees "
            "devices (tessera's Preemption) considers the node. Off (upstream 1.35): they are "
            "UNSCHEDULABLE_AND_UNRESOLVABLE and preemption never runs for them."
        ),
    )


@dataclass(slots=True)
class _Extended:
    """The pod's DRA-backed extended resources: the special claim's key, whether it exists
    already, and its variant per served-resource code (see :class:`ExtendedDemand`)."""

    pod: PodInfo
    demand: ExtendedDemand
    key: str
    stale: bool
    variants: dict[
        int,
        tuple[ClaimSpec, tuple[ExtendedRequest, ...], tuple[ContainerExtendedResourceRequest, ...]],
    ] = field(default_factory=dict)


@dataclass(slots=True)
class _State:
    """What PreFilter learned, kept for Filter/Reserve.

    ``codes[i]``: which extended resources DRA serves on node ``i`` (0: none, or no
    extended resources); ``answers`` the prefilter's answer per code.
    """

    pending: list[tuple[str, ClaimSpec]] = field(default_factory=list)
    allocated_keys: list[str] = field(default_factory=list)
    allocated_selectors: list[NodeSelector | None] = field(default_factory=list)
    extended: _Extended | None = None
    allocator: Allocator | None = None
    answers: dict[int, PrefilterAnswer] = field(default_factory=dict)
    codes: dict[int, int] = field(default_factory=dict)
    outcomes: dict[int, AllocationOutcome] = field(default_factory=dict)
    assumed: list[str] = field(default_factory=list)
    allocations: dict[str, ClaimAllocation] = field(default_factory=dict)


_KEY: StateKey[_State] = StateKey("DynamicResources")


class DynamicResources:
    """The DRA plugin (see the module docstring)."""

    name = "DynamicResources"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.args = DynamicResourcesArgs.model_validate(dict(args))
        self.handle = handle
        self._caches: dict[bool, MatchCache] = {}
        self._counts = PrefilterCache()

    def _match_cache(self, consumable: bool) -> MatchCache:
        found = self._caches.get(consumable)
        if found is None:
            found = MatchCache(CelEnvironment(consumable_capacity=consumable))
            self._caches[consumable] = found
        return found

    # -- PreFilter --------------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        """Resolve claims and DRA-backed extended resources; unknown claims or classes make
        the pod unschedulable; a pod with neither SKIPs the plugin."""
        refs = pod_claim_keys(pod.pod)
        demand = extended_demand(pod.requests, snapshot)
        if not refs and demand is None:
            return None, Status.skip()
        data = _State()
        if demand is not None:
            special = extended_claim_key(pod.pod)
            data.extended = _Extended(pod, demand, special, special in snapshot.claims)
        for name, key in refs:
            if key is None:
                return None, Status.unresolvable(
                    f"waiting for resource claim {name} of pod {pod.key} to be created"
                )
            record = snapshot.claims.get(key)
            if record is None:
                return None, Status.unresolvable(f'resourceclaim "{key}" not found')
            claim = record.claim
            if claim.metadata.deletion_timestamp is not None:
                return None, Status.unresolvable(f'resourceclaim "{key}" is being deleted')
            if record.results:
                reserved = {r.uid for r in claim.status.reserved_for}
                if len(reserved) >= MAX_RESERVED_FOR and pod.pod.metadata.uid not in reserved:
                    return None, self._shortfall("resourceclaim in use")
                allocation = claim.status.allocation
                data.allocated_keys.append(key)
                data.allocated_selectors.append(
                    allocation.node_selector if allocation is not None else None
                )
                continue
            spec = claim_spec(claim)
            problem = feature_problem(spec, snapshot.features)
            if problem is not None:
                return None, Status.unresolvable_final(problem.summary)
            for group in spec.requests:
                for request in (group.exactly, *group.first_available):
                    if (
                        request is not None
                        and request.class_name
                        and request.class_name not in snapshot.classes
                    ):
                        return None, Status.unresolvable(
                            f"request {request.name}: "
                            f"device class {request.class_name} does not exist"
                        )
            data.pending.append((key, spec))
        if data.pending or data.extended is not None:
            features = snapshot.features
            data.allocator = Allocator(
                features=features,
                classes=snapshot.classes,
                allocated=snapshot,
                cache=self._match_cache(features.consumable_capacity),
                timeout_seconds=self.args.filter_timeout_seconds or None,
            )
        state.write(_KEY, data)
        return None, Status.success()

    def _shortfall(self, message: str) -> Status:
        """A device shortfall on a node: UNSCHEDULABLE_AND_UNRESOLVABLE as upstream 1.35
        reports it, or UNSCHEDULABLE with ``devicePreemption`` (see the args)."""
        if self.args.device_preemption:
            return Status.unschedulable(message)
        return Status.unresolvable(message)

    # -- Filter -----------------------------------------------------------------------------------
    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Allocated claims must be usable on the node; pending ones must be allocatable."""
        data = state.read(_KEY)
        passed = np.ones(len(nodes), dtype=bool)
        checks: list[tuple[Status, npt.NDArray[np.bool_]]] = []
        if data.allocated_selectors:
            ok = np.array(
                [
                    all(
                        node_selector_matches(sel, snapshot.node_names[i], snapshot.labels(i))
                        for sel in data.allocated_selectors
                    )
                    for i in nodes
                ],
                dtype=bool,
            )
            checks.append((Status.unresolvable("resourceclaim not available on the node"), ~ok))
            passed &= ok
        ext = data.extended
        codes = np.zeros(len(nodes), dtype=np.int64)
        if ext is not None:
            if ext.stale:
                failed = np.ones(len(nodes), dtype=bool)
                return FilterResult(~failed, ((Status.unschedulable(_STALE_EXTENDED), failed),))
            for resource in ext.demand.unmapped:
                missing = passed & ~snapshot.lists_allocatable(resource)[nodes]
                checks.append((Status.unschedulable(NO_EXTENDED_RESOURCE), missing))
                passed &= ~missing
            codes = ext.demand.codes(snapshot, nodes)
            data.codes.update(zip(nodes.tolist(), codes.tolist(), strict=True))
        needs = codes != 0 if not data.pending else np.ones(len(nodes), dtype=bool)
        if ext is None:  # every code is 0
            distinct = [0] if (needs & passed).any() else []
        else:
            distinct = np.unique(codes[needs & passed]).tolist()
        for code in distinct:
            group = needs & passed & (codes == code)
            answer = self._answer(data, snapshot, code)
            hopeless = group & ~answer.possible[nodes]
            checks.append((self._shortfall(_CANNOT), hopeless))
            passed &= ~hopeless
            if answer.exact:
                continue
            for position in np.flatnonzero(group & passed):
                i = int(nodes[position])
                outcome = self._allocate(data, snapshot, i, None)
                if outcome.ok:
                    continue
                passed[position] = False
                if outcome.status == "error" and outcome.fatal:
                    failed = np.ones(len(nodes), dtype=bool)
                    return FilterResult(~failed, ((Status.error(outcome.message), failed),))
                mask = np.zeros(len(nodes), dtype=bool)
                mask[position] = True
                checks.append((self._shortfall(outcome.message), mask))
        return FilterResult.from_checks(checks, len(nodes))

    @staticmethod
    def _claims(data: _State, code: int) -> list[tuple[str, ClaimSpec]]:
        """The claims to allocate on a node of ``code``: the pod's pending claims, then the
        node's variant of the special claim (built once per code)."""
        ext = data.extended
        if ext is None or code == 0:
            return data.pending
        variant = ext.variants.get(code)
        if variant is None:
            pod = ext.pod
            requests, mappings = extended_claim_requests(pod.pod, ext.demand.served(code))
            spec = extended_claim_spec(pod.namespace, pod.pod.metadata.uid or "", requests)
            variant = (spec, requests, mappings)
            ext.variants[code] = variant
        return [*data.pending, (ext.key, variant[0])]

    def _code(self, data: _State, snapshot: Snapshot, i: int) -> int:
        """Which extended resources DRA serves on node ``i`` (bits of the demand)."""
        ext = data.extended
        if ext is None:
            return 0
        found = data.codes.get(i)
        if found is None:
            found = int(ext.demand.codes(snapshot, np.array([i], dtype=np.intp))[0])
            data.codes[i] = found
        return found

    def _answer(self, data: _State, snapshot: Snapshot, code: int) -> PrefilterAnswer:
        """The prefilter's answer for the claims of nodes of ``code`` (kept per cycle)."""
        found = data.answers.get(code)
        if found is None:
            assert data.allocator is not None
            specs = [spec for _, spec in self._claims(data, code)]
            found = prefilter(snapshot, specs, data.allocator.cache, self._counts)
            data.answers[code] = found
        return found

    def _allocate(
        self,
        data: _State,
        snapshot: Snapshot,
        i: int,
        preference: tuple[tuple[str, str, str], ...] | None,
    ) -> AllocationOutcome:
        if preference is None and i in data.outcomes:
            return data.outcomes[i]
        assert data.allocator is not None
        order = None
        if preference:
            rank = {device: r for r, device in enumerate(preference)}

            def order(candidates: list[Any]) -> list[Any]:
                return sorted(candidates, key=lambda c: rank.get(c.key, len(rank)))

        outcome = data.allocator.allocate(
            [spec for _, spec in self._claims(data, self._code(data, snapshot, i))],
            snapshot.node_names[i],
            snapshot.labels(i),
            snapshot.node_pools(i),
            preferred=order,
        )
        if preference is None:
            data.outcomes[i] = outcome
        return outcome

    # -- Score ------------------------------------------------------------------------------------
    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """1.35: reward nodes where earlier ``firstAvailable`` alternatives were chosen."""
        data = state.get(_KEY)
        scores = np.zeros(len(nodes), dtype=np.int64)
        if data is None or not any(
            g.first_available for _, spec in data.pending for g in spec.requests
        ):
            return scores
        for position, i in enumerate(nodes):
            outcome = self._allocate(data, snapshot, int(i), None)
            if not outcome.ok:
                continue
            total = 0
            # the pod's own claims come first; a special claim after them has no alternatives
            for (_, spec), allocation in zip(data.pending, outcome.allocations, strict=False):
                chosen = {r.request for r in allocation.devices}
                for group in spec.requests:
                    for index, alternative in enumerate(group.first_available):
                        if alternative.name in chosen:
                            total += 8 - index
                            break
            scores[position] = total
        return scores

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Highest score -> 100."""
        return default_normalize(scores)

    # -- Reserve / Unreserve / PreBind ------------------------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """Allocate on the chosen node and assume the allocations in the cache (the special
        claim of DRA-backed extended resources as an in-memory claim)."""
        data = state.get(_KEY)
        if data is None or (not data.pending and data.extended is None):
            return Status.success()
        snapshot = self.handle.snapshot()
        i = snapshot.node_index[node]
        code = self._code(data, snapshot, i)
        claims = self._claims(data, code)
        if not claims:
            return Status.success()  # a device plugin offers every extended resource here
        hints = state.get(DEVICE_PREFERENCE)
        preference = hints.get(i) if hints else None
        outcome = self._allocate(data, snapshot, i, preference)
        if not outcome.ok:
            answer = data.answers.get(code)
            if answer is not None and answer.exact:
                log.warning(
                    "prefilter said %s fits on %s, allocator: %s", pod.key, node, outcome.message
                )
            if outcome.status == "error" and outcome.fatal:
                return Status.error(outcome.message)
            return Status.unschedulable(outcome.message or _CANNOT)
        ext = data.extended
        for (key, _), found in zip(claims, outcome.allocations, strict=True):
            allocation = found
            if ext is not None and key == ext.key:
                _, requests, mappings = ext.variants[code]
                allocation = ExtendedResourceAllocation(
                    devices=found.devices,
                    config=found.config,
                    node_selector=found.node_selector,
                    claim=extended_claim_object(pod.pod, requests),
                    mappings=mappings,
                )
            self.handle.assume_claim(key, allocation)
            data.assumed.append(key)
            data.allocations[key] = allocation
        return Status.success()

    def unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        """Forget what Reserve assumed (idempotent)."""
        data = state.get(_KEY)
        if data is None:
            return
        for key in data.assumed:
            self.handle.forget_claim(key)
        data.assumed.clear()
        data.allocations.clear()

    def pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status:
        """Write each allocation and the pod's reservation (status.allocation, reservedFor)."""
        data = state.get(_KEY)
        if data is None:
            return self._pre_bind_reserved(state, pod)
        writes: list[tuple[str, ClaimAllocation | None]] = [
            *data.allocations.items(),
            *((key, None) for key in data.allocated_keys),
        ]
        for key, allocation in writes:
            try:
                self.handle.backend.write_allocation(key, allocation, pod.key)
            except Exception as err:
                return Status.error(f"writing allocation of resourceclaim {key}: {err}")
        return Status.success()

    def _pre_bind_reserved(self, state: CycleState, pod: PodInfo) -> Status:
        """PreBind for a pod bound into a reservation made before it existed (no PreFilter
        ran): write what the cache holds for its claims. The claims held for it are noted in
        ``state`` so that Unreserve after a failure releases them with the pod."""
        claims = self.handle.snapshot().claims
        data = _State()
        state.write(_KEY, data)
        refs = pod_claim_keys(pod.pod)
        special = extended_claim_key(pod.pod)
        if special in claims:
            refs.append((IN_MEMORY_CLAIM_NAME, special))
        for name, key in refs:
            record = claims.get(key) if key is not None else None
            if key is None or record is None:
                return Status.error(f"claim {name} of reserved pod {pod.key} not found")
            if record.assumed:
                data.assumed.append(key)
            allocation = record.allocation if record.assumed else None
            try:
                self.handle.backend.write_allocation(key, allocation, pod.key)
            except Exception as err:
                return Status.error(f"writing allocation of resourceclaim {key}: {err}")
        return Status.success()


PLUGINS = {DynamicResources.name: DynamicResources}
