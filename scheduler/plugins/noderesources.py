"""NodeResourcesFit: does the pod fit the node's free resources (Filter), and how full would
the node be (Score, by the configured scoring strategy).

Semantics are kube-scheduler 1.35's ``noderesources`` package, per node, evaluated for all
candidate nodes at once over the snapshot's ``allocatable`` / ``requested`` arrays:

* **Fit** (Filter): a node fails with ``Too many pods`` when its pods plus this one exceed
  its allocatable ``pods``; then, for every resource the pod requests (> 0) among cpu,
  memory, ephemeral-storage and the *scalar* resources (extended, ``hugepages-*``,
  ``kubernetes.io/``-prefixed, ``attachable-volumes-*``; other names are not checked), it
  fails with ``Insufficient <resource>`` when ``request > allocatable - requested``. A node
  reports every reason that applies, in that order (scalar resources by name). The status is
  UNSCHEDULABLE, or UNSCHEDULABLE_AND_UNRESOLVABLE when some request exceeds the node's
  whole allocatable (preemption cannot help; upstream since 1.34). With DRAExtendedResource,
  an extended resource backed by a DeviceClass is not checked on nodes whose allocatable
  has 0 of it: DynamicResources serves it there from DRA devices (``fit.go``
  ``shouldDelegateResourceToDRA``; docs/semantics/extended-resources.md).
* **Score** (``NodeResourcesFitArgs.scoringStrategy``, default LeastAllocated over cpu and
  memory, weight 1): per configured resource, ``req`` = the node's requested + the pod's
  request against ``cap`` = allocatable, scored by the strategy
  (:mod:`scheduler.plugins.helper.resource_allocation`: LeastAllocated, MostAllocated,
  RequestedToCapacityRatio). cpu and memory use *non-zero* requests: a container without a
  cpu / memory request counts as 100m / 200Mi (:func:`non_zero_requests`); ephemeral-storage
  and scalar resources use actual requests, and a scalar resource the pod does not request is
  left out. Scores are already 0..100 (no normalisation).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from scheduler.api.pod import Container, Pod, pod_requests
from scheduler.api.resourcenames import is_extended_resource_name, is_scalar_resource_name
from scheduler.cluster.extended import extended_demand
from scheduler.framework.cycle_state import CycleState, StateKey
from scheduler.framework.interfaces import (
    FilterResult,
    Handle,
    NodeIds,
    PreFilterResult,
)
from scheduler.framework.podinfo import PodInfo
from scheduler.framework.status import Status
from scheduler.plugins.helper.args import PluginArgs, parse_args
from scheduler.plugins.helper.resource_allocation import ScoringStrategy, node_scorer

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "PLUGINS",
    "FitArgs",
    "NodeResourcesFit",
    "NonZeroRequested",
    "is_extended_resource",
    "is_scalar_resource",
    "non_zero_requests",
]

DEFAULT_MILLI_CPU_REQUEST = 100
"""kube-scheduler's ``DefaultMilliCPURequest``: a container without a cpu request, for scoring."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""kube-scheduler's ``DefaultMemoryRequest`` (200Mi), likewise for memory."""

_DEFAULT_QUANTITIES = {
    "cpu": f"{DEFAULT_MILLI_CPU_REQUEST}m",
    "memory": str(DEFAULT_MEMORY_REQUEST),
}
_FIXED = ("cpu", "memory", "ephemeral-storage")


# -- resource names -------------------------------------------------------------------------------
is_extended_resource = is_extended_resource_name
"""Upstream ``IsExtendedResourceName`` (defined in :mod:`scheduler.api.resourcenames`)."""
is_scalar_resource = is_scalar_resource_name
"""Upstream ``IsScalarResourceName`` (defined in :mod:`scheduler.api.resourcenames`)."""


# -- non-zero requests ----------------------------------------------------------------------------
def _pod_level_requests_set(pod: Pod) -> bool:
    """Upstream ``IsPodLevelRequestsSet`` (cpu, memory, hugepages-* at ``spec.resources``)."""
    resources = pod.spec.resources
    if resources is None:
        return False
    return any(
        name in ("cpu", "memory") or name.startswith("hugepages-") for name in resources.requests
    )


def _fill(container: Container, defaults: Mapping[str, str]) -> Container:
    missing = {k: v for k, v in defaults.items() if k not in container.resources.requests}
    if not missing:
        return container
    requests = {**missing, **container.resources.requests}
    return container.model_copy(
        update={"resources": container.resources.model_copy(update={"requests": requests})}
    )


def non_zero_requests(pod: Pod, *, assigned: bool) -> tuple[int, int]:
    """The pod's (milli-cpu, memory bytes) request with kube-scheduler's scoring defaults.

    Every container (and init container) without a ``cpu`` / ``memory`` key in its requests
    counts as 100m / 200Mi; then the usual effective request is taken (sidecars, init peak,
    pod-level requests, overhead). ``assigned=False`` is the incoming pod (``PreScore``:
    defaults always apply per container); ``assigned=True`` is a pod already on a node
    (``NodeInfo.NonZeroRequested``): when the pod sets pod-level requests, a default applies
    only if the pod's whole effective request lacks that resource.
    """
    defaults: Mapping[str, str] = _DEFAULT_QUANTITIES
    if assigned and _pod_level_requests_set(pod):
        exact = pod_requests(pod)
        defaults = {k: v for k, v in _DEFAULT_QUANTITIES.items() if k not in exact}
    spec = pod.spec
    everyone = (*spec.containers, *spec.init_containers)
    if defaults and any(k not in c.resources.requests for c in everyone for k in defaults):
        filled = spec.model_copy(
            update={
                "containers": tuple(_fill(c, defaults) for c in spec.containers),
                "init_containers": tuple(_fill(c, defaults) for c in spec.init_containers),
            }
        )
        pod = pod.model_copy(update={"spec": filled})
    amounts = pod_requests(pod)
    return amounts.get("cpu", 0), amounts.get("memory", 0)


class NonZeroRequested:
    """Per-node sums of the non-zero (cpu, memory) requests of the pods on each node.

    Who calls: the allocation score plugins, once per cycle (:meth:`view`). The sums live
    across cycles and are refreshed one node at a time, for the nodes whose
    ``node_version`` moved since the last call; a new cache or node set rebuilds them.
    """

    def __init__(self) -> None:
        self._cache_id = 0
        self._node_generation = -1
        self._versions = np.zeros(0, dtype=np.int64)
        self._values = np.zeros((0, 2), dtype=np.int64)

    def view(self, snapshot: Snapshot) -> npt.NDArray[np.int64]:
        """``[N, 2]`` int64: column 0 milli-cpu, column 1 memory bytes, per dense node id."""
        versions = np.array(snapshot.node_version, dtype=np.int64)
        if (
            self._cache_id != snapshot.cache_id
            or self._node_generation != snapshot.node_generation
            or len(self._values) != snapshot.size
        ):
            self._values = np.zeros((snapshot.size, 2), dtype=np.int64)
            stale: Sequence[int] = range(snapshot.size)
        else:
            stale = np.flatnonzero(self._versions != versions).tolist()
        for i in stale:
            cpu = memory = 0
            for record in snapshot.pods_on(snapshot.node_names[i]).values():
                pod_cpu, pod_memory = non_zero_requests(record.pod, assigned=True)
                cpu += pod_cpu
                memory += pod_memory
            self._values[i] = (cpu, memory)
        self._cache_id = snapshot.cache_id
        self._node_generation = snapshot.node_generation
        self._versions = versions
        view = self._values.view()
        view.setflags(write=False)
        return view


# -- NodeResourcesFit -----------------------------------------------------------------------------
class FitArgs(PluginArgs):
    """Args of NodeResourcesFit (kube-scheduler's ``NodeResourcesFitArgs``)."""

    ignored_resources: tuple[str, ...] = Field(
        default=(),
        alias="ignoredResources",
        description="Extended resources the filter does not check (e.g. managed by an extender).",
    )
    ignored_resource_groups: tuple[str, ...] = Field(
        default=(),
        alias="ignoredResourceGroups",
        description="Extended-resource domains (the part before '/') the filter does not check.",
    )

    scoring_strategy: ScoringStrategy = Field(
        default_factory=ScoringStrategy,
        alias="scoringStrategy",
        description="How Score rates a node (default LeastAllocated, cpu and memory).",
    )

    @field_validator("ignored_resource_groups")
    @classmethod
    def _no_slash(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        for group in groups:
            if not group or "/" in group:
                raise ValueError(f"resource group {group!r} must be non-empty and have no '/'")
        return groups


@dataclass(frozen=True, slots=True)
class _Check:
    """One requested resource: its column in the snapshot (None: no node has it), and
    whether DRA may serve it instead (a DeviceClass backs it, DRAExtendedResource on)."""

    resource: str
    column: int | None
    amount: int
    delegable: bool = False


_FIT_KEY = StateKey[tuple[_Check, ...]]("PreFilterNodeResourcesFit")
_SCORE_KEY = StateKey[tuple[int, ...]]("PreScoreNodeResourcesFit")


@functools.lru_cache(maxsize=4)
def _every_node(size: int) -> NodeIds:
    """``0, 1, ..., size - 1`` (read-only, shared)."""
    ids = np.arange(size, dtype=np.intp)
    ids.setflags(write=False)
    return ids


def _all_nodes(nodes: NodeIds, size: int) -> bool:
    """Whether ``nodes`` is exactly ``0, 1, ..., size - 1`` (every node, in order)."""
    return len(nodes) == size and bool(np.array_equal(nodes, _every_node(size)))


class NodeResourcesFit:
    """Filter: does the node have room for the pod's requests and one more pod?
    Score: the configured scoring strategy (see the module docstring)."""

    name = "NodeResourcesFit"

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        parsed = parse_args(self.name, FitArgs, args)
        self._ignored = frozenset(parsed.ignored_resources)
        self._statuses: dict[tuple[tuple[str, ...], int], Status] = {}
        self._ignored_groups = frozenset(parsed.ignored_resource_groups)
        strategy = parsed.scoring_strategy
        self.strategy = strategy.type
        self.resources = tuple((r.name, r.weight) for r in strategy.resources)
        self._weights = np.array([w for _, w in self.resources], dtype=np.int64)
        self._scorer = node_scorer(strategy)
        self._non_zero = NonZeroRequested()
        self.handle = handle

    def _checked(self, resource: str) -> bool:
        if resource in _FIXED:
            return True
        if not is_scalar_resource(resource):
            return False
        if is_extended_resource(resource):
            group = resource.split("/", 1)[0]
            return resource not in self._ignored and group not in self._ignored_groups
        return True

    def pre_filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[PreFilterResult | None, Status]:
        """Record the pod's checked requests (amount > 0) in reason order; never rejects."""
        fixed = [r for r in _FIXED if pod.requests.get(r, 0) > 0]
        scalars = sorted(
            r for r, v in pod.requests.items() if v > 0 and r not in _FIXED and self._checked(r)
        )
        demand = extended_demand(pod.requests, snapshot)
        delegable = {r for r, _, _ in demand.mapped} if demand is not None else set()
        checks = tuple(
            _Check(r, snapshot.column(r), pod.requests[r], r in delegable) for r in fixed + scalars
        )
        state.write(_FIT_KEY, checks)
        return None, Status.success()

    def filter(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> FilterResult:
        """Every node gets all its failure reasons (one status per distinct combination)."""
        checks = state.get(_FIT_KEY)
        if checks is None:
            self.pre_filter(state, pod, snapshot)
            checks = state.read(_FIT_KEY)
        count = len(nodes)
        # reason order: "Too many pods", then each check. A node's failure pattern is one
        # integer: bit j = reason j fails, the last bit = some request exceeds the node's
        # whole allocatable (unresolvable; "Too many pods" never is). One column at a time:
        # few requests, many nodes.
        # A delegable check is skipped where DRA serves the resource (0 allocatable):
        # DynamicResources allocates it there.
        wanted = [
            (snapshot.column("pods"), 1, False),
            *((c.column, c.amount, c.delegable) for c in checks),
        ]
        codes = np.zeros(count, dtype=np.int64)
        hopeless = np.zeros(count, dtype=bool)
        every = _all_nodes(nodes, snapshot.size)  # then columns are read without a gather
        free, allocatable = snapshot.free, snapshot.allocatable
        for bit, (column, amount, delegable) in enumerate(wanted):
            if column is None:  # no node has the resource: fails everywhere, for good
                if not delegable:
                    codes |= 1 << bit
                    hopeless |= bit > 0
                continue
            fails = (free[:, column] if every else free[:, column][nodes]) < amount
            if delegable:
                elsewhere = allocatable[:, column][nodes] > 0
                fails &= elsewhere
            if not fails.any():
                continue
            codes |= fails.astype(np.int64) << bit
            if bit:
                whole = (
                    allocatable[:, column] if every else allocatable[:, column][nodes]
                ) < amount
                if delegable:
                    whole &= elsewhere
                hopeless |= fails & whole
        codes |= hopeless.astype(np.int64) << len(wanted)
        rejected = codes != 0
        if not rejected.any():
            return FilterResult.all(count)
        # the distinct patterns (small codes: a bincount, no sort)
        patterns = np.flatnonzero(np.bincount(codes)) if len(wanted) < 20 else np.unique(codes)
        reasons = ("Too many pods", *(f"Insufficient {c.resource}" for c in checks))
        failures = tuple(
            (self._status(reasons, code), codes == code) for code in patterns.tolist() if code
        )
        return FilterResult(~rejected, failures)

    def _status(self, reasons: tuple[str, ...], code: int) -> Status:
        """The status of failure pattern ``code`` over ``reasons`` (built once per pair)."""
        key = (reasons, code)
        found = self._statuses.get(key)
        if found is None:
            texts = tuple(r for j, r in enumerate(reasons) if code >> j & 1)
            unresolvable = code >> len(reasons) & 1
            found = Status.unresolvable(*texts) if unresolvable else Status.unschedulable(*texts)
            if len(self._statuses) > 4096:
                self._statuses.clear()
            self._statuses[key] = found
        return found

    # -- Score ------------------------------------------------------------------------------------
    def _pod_requests(self, pod: PodInfo) -> tuple[int, ...]:
        cpu, memory = non_zero_requests(pod.pod, assigned=False)
        special = {"cpu": cpu, "memory": memory}
        return tuple(special.get(name, pod.requests.get(name, 0)) for name, _ in self.resources)

    def pre_score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> Status:
        """Record the pod's per-resource (non-zero for cpu/memory) requests."""
        state.write(_SCORE_KEY, self._pod_requests(pod))
        return Status.success()

    def score(
        self, state: CycleState, pod: PodInfo, snapshot: Snapshot, nodes: NodeIds
    ) -> npt.NDArray[np.int64]:
        """The strategy's node score over the configured resources the node has."""
        requests = state.get(_SCORE_KEY) or self._pod_requests(pod)
        count = len(nodes)
        requested = np.zeros((count, len(self.resources)), dtype=np.int64)
        capacity = np.zeros((count, len(self.resources)), dtype=np.int64)
        non_zero: npt.NDArray[np.int64] | None = None
        for r, ((name, _), request) in enumerate(zip(self.resources, requests, strict=True)):
            column = snapshot.column(name)
            if column is None:
                continue  # no node has it: capacity 0 leaves it out
            if name in ("cpu", "memory"):
                if non_zero is None:
                    non_zero = self._non_zero.view(snapshot)
                used = non_zero[nodes, 0 if name == "cpu" else 1]
            elif name == "ephemeral-storage" or (is_scalar_resource(name) and request > 0):
                used = snapshot.requested[nodes, column]
            else:
                continue  # a scalar resource the pod does not request is not scored
            requested[:, r] = used + request
            capacity[:, r] = snapshot.allocatable[nodes, column]
        return self._scorer(requested, capacity, self._weights)

    def normalize(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Scores are already 0..100 (no normalisation, as upstream)."""
        return scores


PLUGINS: dict[str, type] = {NodeResourcesFit.name: NodeResourcesFit}
