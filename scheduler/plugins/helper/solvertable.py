"""Building the solver's instance from a snapshot (shared by GangTopology and Preemption).

The solver sees integer supply and demand per *dimension* and nested topology domains
(:mod:`scheduler.solver.instance`). :class:`TableBuilder` derives them:

* ``cpu``, ``memory``, ``pods``: free = allocatable - requested (one pod = 1);
* one ``dev:<hash>`` dimension per distinct device request among the members' pending
  claims: supply = matching devices available on the node now (the DRA prefilter's counts),
  demand = the request's count. A victim frees, in that dimension, the devices it holds that
  the request's selectors accept;
* one ``res:<name>`` dimension per scalar resource the members request (extended resources
  such as ``nvidia.com/gpu``, ``hugepages-*``): supply = allocatable - requested, demand =
  the request, a victim frees its request. With DRAExtendedResource, a resource a
  DeviceClass backs is counted on the nodes where DRA serves it (0 allocatable,
  :mod:`scheduler.cluster.extended`) as the class's available devices, and a victim there
  frees the devices it holds that the class accepts;
* topology levels: the configured ones, or the gang's own label key when it is not one of
  them (e.g. ``nvidia.com/gpu.clique``);
* blocked domains: domains of the required level that pods of *other* exclusive gangs
  occupy.

Device counts are a necessary condition only (counters, e.g. MIG geometry, are not
modelled); the exact allocator checks what the solver chooses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scheduler.api.meta import ResourceList
from scheduler.api.pod import pod_claim_keys
from scheduler.api.resourcenames import is_scalar_resource_name
from scheduler.cluster.extended import ExtendedDemand, dra_served, extended_demand
from scheduler.cluster.prefilter import PrefilterCache
from scheduler.cluster.snapshot import Snapshot
from scheduler.dra.allocator import MatchCache
from scheduler.dra.cel import CelEnvironment, CelError
from scheduler.dra.claims import ClaimSpec, ClassSpec, RequestSpec
from scheduler.dra.convert import claim_spec
from scheduler.dra.extended import extended_claim_requests, extended_claim_spec
from scheduler.framework.podinfo import PodInfo, gang_of
from scheduler.solver.instance import GangSpec, NodeTable, PodDemand
from scheduler.topology.domains import TopologyDomains

BASE_DIMS = ("cpu", "memory", "pods")
LWS_GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"


def request_key(spec: RequestSpec) -> str:
    """A short stable, readable id of a request's device shape: the class name, plus a hash
    of the selectors, mode and capacity when the request has any (``gpu.nvidia.com#1a2b3c``)."""
    text = repr(
        (
            spec.class_name,
            spec.selectors,
            spec.mode,
            bool(spec.admin_access),
            tuple(sorted((spec.capacity_requests or {}).items())),
        )
    )
    if not spec.selectors and not spec.capacity_requests and not spec.admin_access:
        return spec.class_name
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"{spec.class_name}#{digest}"


def _scalar(resource: str) -> bool:
    """Scalar resources get their own dimension (cpu, memory and pods are base dims)."""
    return resource not in ("cpu", "memory") and is_scalar_resource_name(resource)


def first_alternative(group: object) -> RequestSpec | None:
    """The request a group stands for in counting (``exactly`` or its first alternative)."""
    exactly = getattr(group, "exactly", None)
    alternatives = getattr(group, "first_available", ())
    return exactly if exactly is not None else (alternatives[0] if alternatives else None)


def pending_claims(member: PodInfo, snapshot: Snapshot) -> list[ClaimSpec]:
    """The member's claims that still need devices."""
    out = []
    for _, key in pod_claim_keys(member.pod):
        record = snapshot.claims.get(key) if key is not None else None
        if record is not None and not record.results:
            out.append(claim_spec(record.claim))
    return out


def _class_request(class_name: str) -> RequestSpec:
    """A plain request of one device of a class (what a DRA-backed extended resource asks)."""
    return RequestSpec(class_name, class_name, "", class_name, mode="ExactCount", count=1)


@dataclass(slots=True)
class Layout:
    """Dimensions of one instance: names, the device requests behind ``dev:`` columns, the
    scalar resources behind ``res:`` columns (with the DeviceClass backing each, when DRA
    may serve it), and per member its pending claims and DRA-servable extended resources."""

    dims: list[str]
    devices: dict[str, tuple[RequestSpec, int]]
    claims: list[list[ClaimSpec]]
    resources: dict[str, tuple[str | None, int]]
    extended: list[ExtendedDemand | None]

    def claims_on(
        self, member: int, pod: PodInfo, snapshot: Snapshot, node: int
    ) -> list[ClaimSpec]:
        """Member ``member``'s claims to allocate on ``node``: its pending claims, then its
        special extended-resource claim when DRA serves some of its resources there."""
        demand = self.extended[member]
        claims = self.claims[member]
        if demand is None:
            return claims
        code = int(demand.codes(snapshot, np.array([node], dtype=np.intp))[0])
        if code == 0:
            return claims
        requests, _ = extended_claim_requests(pod.pod, demand.served(code))
        special = extended_claim_spec(pod.namespace, pod.pod.metadata.uid or "", requests)
        return [*claims, special]


class TableBuilder:
    """Builds NodeTables and GangSpecs for members on a snapshot (see the module docstring)."""

    def __init__(self, levels: Sequence[str]) -> None:
        self.levels = tuple(levels)
        self.counts = PrefilterCache()
        self._match: dict[bool, MatchCache] = {}

    def match_cache(self, consumable: bool) -> MatchCache:
        """The CEL match cache for a feature setting (long-lived)."""
        found = self._match.get(consumable)
        if found is None:
            found = MatchCache(CelEnvironment(consumable_capacity=consumable))
            self._match[consumable] = found
        return found

    def layout(self, members: Sequence[PodInfo], snapshot: Snapshot) -> Layout:
        """The dimensions needed by the members' pending claims and scalar requests."""
        claims = [pending_claims(m, snapshot) for m in members]
        dims = list(BASE_DIMS)
        devices: dict[str, tuple[RequestSpec, int]] = {}
        for member_claims in claims:
            for claim in member_claims:
                for group in claim.requests:
                    spec = first_alternative(group)
                    if spec is not None:
                        devices.setdefault(request_key(spec), (spec, len(dims) + len(devices)))
        dims.extend(f"dev:{k}" for k in devices)
        extended = [extended_demand(m.requests, snapshot) for m in members]
        backed = {r: c for demand in extended if demand for r, c, _ in demand.mapped}
        names = sorted({r for m in members for r, v in m.requests.items() if v > 0 and _scalar(r)})
        resources = {r: (backed.get(r), len(dims) + j) for j, r in enumerate(names)}
        dims.extend(f"res:{r}" for r in names)
        return Layout(dims, devices, claims, resources, extended)

    def levels_for(self, members: Sequence[PodInfo]) -> tuple[str, ...]:
        """The topology levels of the instance."""
        gang = members[0].gang
        if gang is not None:
            for key in (gang.required, gang.preferred):
                if key is not None and key not in self.levels:
                    return (key,)
        return self.levels

    def table(
        self,
        members: Sequence[PodInfo],
        snapshot: Snapshot,
        nodes: npt.NDArray[np.intp],
        layout: Layout,
    ) -> tuple[NodeTable, TopologyDomains]:
        """Supply of ``nodes`` in every dimension of ``layout``, with their domains."""
        free = np.zeros((len(nodes), len(layout.dims)), dtype=np.int64)
        for column, resource in enumerate(BASE_DIMS):
            index = snapshot.column(resource)
            if index is not None:
                free[:, column] = snapshot.free[nodes, index]
        cache = self.match_cache(snapshot.features.consumable_capacity)
        for spec, column in layout.devices.values():
            cls = snapshot.classes.get(spec.class_name)
            if cls is None:
                continue
            counts = self.counts.counts(snapshot, spec, cls, cache)
            free[:, column] = counts.counts[nodes] if not counts.everywhere else len(members) * 64
        for resource, (class_name, column) in layout.resources.items():
            index = snapshot.column(resource)
            if index is not None:
                free[:, column] = snapshot.free[nodes, index]
            cls = snapshot.classes.get(class_name) if class_name is not None else None
            if cls is None:
                continue
            served = dra_served(snapshot, resource, nodes)
            counts = self.counts.counts(snapshot, _class_request(cls.name), cls, cache)
            devices = counts.counts[nodes] if not counts.everywhere else len(members) * 64
            free[:, column] = np.where(served, devices, free[:, column])
        levels = self.levels_for(members)
        domains = snapshot.topology(levels)
        domain = np.stack([domains.domain_of[level][nodes] for level in range(len(levels))], axis=1)
        table = NodeTable(
            dims=tuple(layout.dims),
            levels=levels,
            ids=nodes.astype(np.int64),
            names=tuple(snapshot.node_names[i] for i in nodes),
            free=free,
            domain=domain,
            domain_names=domains.names,
        )
        return table, domains

    def demand(
        self, member: PodInfo, claims: Sequence[ClaimSpec], layout: Layout
    ) -> tuple[int, ...]:
        """A member's demand in every dimension."""
        demand = [member.requests.get("cpu", 0), member.requests.get("memory", 0), 1]
        demand.extend([0] * (len(layout.devices) + len(layout.resources)))
        for claim in claims:
            for group in claim.requests:
                spec = first_alternative(group)
                if spec is not None:
                    demand[layout.devices[request_key(spec)][1]] += spec.count or 1
        for resource, (_, column) in layout.resources.items():
            demand[column] += max(member.requests.get(resource, 0), 0)
        return tuple(demand)

    def gang_spec(
        self,
        members: Sequence[PodInfo],
        snapshot: Snapshot,
        layout: Layout,
        domains: TopologyDomains,
        allowed: Sequence[npt.NDArray[np.intp] | None],
        table_size: int,
    ) -> GangSpec:
        """The members as a GangSpec (topology constraints from the gang's conventions).

        ``allowed[i]`` are member i's feasible nodes; a member allowed everywhere in the table
        (the common case) gets ``allowed=None`` instead of thousands of node ids.
        """
        pods = [
            PodDemand(
                id=pid,
                name=member.key,
                demand=self.demand(member, claims, layout),
                allowed=None
                if nodes is None or len(nodes) >= table_size
                else tuple(int(i) for i in nodes),
            )
            for pid, (member, claims, nodes) in enumerate(
                zip(members, layout.claims, allowed, strict=True)
            )
        ]
        gang = members[0].gang
        levels = domains.levels
        required = (
            levels.index(gang.required) if gang is not None and gang.required in levels else None
        )
        preferred = (
            levels.index(gang.preferred) if gang is not None and gang.preferred in levels else None
        )
        if required is not None and preferred is not None and preferred <= required:
            preferred = None
        exclusive = bool(gang is not None and gang.exclusive and required is not None)
        blocked: tuple[int, ...] = ()
        if exclusive and gang is not None and required is not None:
            blocked = self.blocked(snapshot, domains, required, gang.key)
        return GangSpec(
            key=gang.key if gang is not None else members[0].key,
            pods=tuple(pods),
            required_level=required,
            preferred_level=preferred,
            exclusive=exclusive,
            blocked_domains=blocked,
            priority=members[0].priority,
        )

    @staticmethod
    def blocked(
        snapshot: Snapshot, domains: TopologyDomains, level: int, own: str
    ) -> tuple[int, ...]:
        """Domains of ``level`` that pods of other exclusive gangs occupy."""
        key = domains.levels[level]
        out: set[int] = set()
        for record in snapshot.pods.values():
            if record.node is None or LWS_GROUP_KEY not in record.pod.metadata.labels:
                continue
            gang = gang_of(record.pod)
            if gang is None or gang.key == own or not gang.exclusive or gang.required != key:
                continue
            i = snapshot.node_index.get(record.node)
            if i is not None and domains.domain_of[level][i] >= 0:
                out.add(int(domains.domain_of[level][i]))
        return tuple(sorted(out))

    def freed_devices(
        self, holder_claims: Sequence[str], snapshot: Snapshot, node: int, layout: Layout
    ) -> list[int]:
        """Per ``dev:`` dimension, how many of the holder's devices the request accepts."""
        requests = [
            (snapshot.classes.get(spec.class_name), spec) for spec, _ in layout.devices.values()
        ]
        return self._accepted(holder_claims, snapshot, node, requests)

    def freed_resources(
        self,
        holder_requests: ResourceList,
        holder_claims: Sequence[str],
        snapshot: Snapshot,
        node: int,
        layout: Layout,
    ) -> list[int]:
        """Per ``res:`` dimension, what evicting the holder frees on ``node``: its request,
        or, where DRA serves the resource, its held devices that the backing class accepts."""
        freed = [max(holder_requests.get(r, 0), 0) for r in layout.resources]
        nodes = np.array([node], dtype=np.intp)
        for position, (resource, (class_name, _)) in enumerate(layout.resources.items()):
            cls = snapshot.classes.get(class_name) if class_name is not None else None
            if cls is None or not bool(dra_served(snapshot, resource, nodes)[0]):
                continue
            request = _class_request(cls.name)
            freed[position] = self._accepted(holder_claims, snapshot, node, [(cls, request)])[0]
        return freed

    def _accepted(
        self,
        holder_claims: Sequence[str],
        snapshot: Snapshot,
        node: int,
        requests: Sequence[tuple[ClassSpec | None, RequestSpec]],
    ) -> list[int]:
        """Per request, how many devices the holder's claims hold on ``node`` that the
        request's class and selectors accept."""
        accepted = [0] * len(requests)
        if not requests:
            return accepted
        devices = {}
        for pool in snapshot.node_pools(node):
            for s, d in pool.devices_in_order():
                devices[(s.driver, s.pool, d.name)] = (s.driver, d)
        cache = self.match_cache(snapshot.features.consumable_capacity)
        for claim in holder_claims:
            for result in snapshot.claim_results(claim):
                found = devices.get(result.device_id)
                if found is None:
                    continue
                driver, device = found
                for position, (cls, spec) in enumerate(requests):
                    if cls is None:
                        continue
                    expressions = [e for e in (*cls.selectors, *spec.selectors) if e is not None]
                    try:
                        if all(cache.matches(e, driver, device) for e in expressions):
                            accepted[position] += 1
                    except CelError:
                        continue
        return accepted
