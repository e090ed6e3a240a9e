"""Plain instance and solution models of the solver.

Who builds them: the GangTopology and Preemption plugins (from the cluster snapshot) and
the simulator's experiments; tests and benchmarks build them directly. The solver sees no
Kubernetes objects: a cluster is a :class:`NodeTable` of integer supply per *dimension*
(``"cpu"``, ``"memory"``, ``"pods"``, ``"dev:gpu.nvidia.com"``, ``"counter:…"`` — whatever
the caller counts) plus a domain id per topology *level* (coarse to fine, the node-label keys
of the cluster's Topology); a gang is a :class:`GangSpec` of pods with integer demand per
dimension.

The solution models live in ``solution.py`` and are re-exported here.

The node side is held as numpy arrays (read-only copies), never one object per node, so that
a 5,000-node instance is built in well under a millisecond from the snapshot's arrays.
:class:`NodeSupply` and :meth:`NodeTable.from_nodes` are the convenient per-node form for
small instances.

Bad input raises ``ValueError`` naming the object, the field and the offending value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from scheduler.solver.solution import (
    GangSolution,
    PreemptionSolution,
    SolveStatus,
)

__all__ = [
    "Cut",
    "GangInstance",
    "GangSolution",
    "GangSpec",
    "IntArray",
    "NodeSupply",
    "NodeTable",
    "PodDemand",
    "PreemptionInstance",
    "PreemptionSolution",
    "SolveStatus",
    "Victim",
    "level_label",
]

IntArray = npt.NDArray[np.int64]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def level_label(key: str) -> str:
    """Short name of a topology level for messages: the last segment of its label key
    (``topology.tessera.io/rack`` -> ``rack``)."""
    return key.rsplit("/", 1)[-1] or key


def _int_array(value: Any, *, ndim: int, width: int | None, what: str) -> IntArray:
    """A read-only int64 copy of ``value`` with ``ndim`` dimensions (and ``width`` columns)."""
    try:
        raw = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"NodeTable.{what}: not a rectangular array ({err})") from None
    integral = raw.dtype.kind in "iub" or (raw.dtype.kind == "f" and np.all(np.mod(raw, 1) == 0))
    if raw.size and not integral:
        raise ValueError(f"NodeTable.{what}: expected integers, got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.int64)
    if arr.size == 0 and arr.ndim == 1 and ndim == 2 and width is not None:
        arr = arr.reshape(0, width)
    if arr.ndim != ndim:
        raise ValueError(f"NodeTable.{what}: expected {ndim} dimensions, got shape {arr.shape}")
    if width is not None and ndim == 2 and arr.shape[1] != width:
        raise ValueError(f"NodeTable.{what}: expected {width} columns, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


class NodeSupply(BaseModel):
    """One node in the per-node form (see :meth:`NodeTable.from_nodes`)."""

    model_config = _FROZEN

    id: int = Field(description="dense node id of the snapshot (unique in the table)")
    name: str = Field(description="node name, for messages")
    free: tuple[int, ...] = Field(description="free supply per dimension of the table")
    domain: tuple[int, ...] = Field(description="domain id per topology level, -1 = none")
    frag_cost: tuple[int, ...] | None = Field(
        default=None,
        description="fragmentation growth if k pods of the instance land here, k = 0, 1, ...",
    )


class NodeTable(BaseModel):
    """The candidate nodes of an instance, one row per node.

    ``free[r, d]`` is node r's free supply in dimension ``dims[d]`` (negative = over-committed,
    holds nothing). ``domain[r, l]`` is node r's domain id at level ``levels[l]`` (levels coarse
    to fine; -1 = the node has no domain at that level, and then none at finer levels). Domain
    ids are global per level and nested: a domain lies inside one domain of each coarser level
    (``scheduler.topology.domains.TopologyDomains`` numbers them so). ``frag_cost[r, k]`` is the
    fragmentation growth (an integer, e.g. milli-GPU) if k pods of the instance land on node r,
    precomputed by the caller; column 0 must be 0 and there must be a column for every pod
    count that can land on one node (the instance's pod count + 1). ``domain_names[l][id]``
    names domains in reasons; when empty, names are generated (``rack-7``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    dims: tuple[str, ...] = Field(description="dimension names, the columns of free")
    levels: tuple[str, ...] = Field(description="topology level label keys, coarse to fine")
    ids: IntArray = Field(description="int64[N]: dense node id of each row, unique")
    names: tuple[str, ...] = Field(description="node name of each row")
    free: IntArray = Field(description="int64[N, len(dims)]: free supply")
    domain: IntArray = Field(description="int64[N, len(levels)]: domain id per level, -1 = none")
    frag_cost: IntArray | None = Field(
        default=None, description="int64[N, K]: fragmentation growth for k = 0..K-1 pods"
    )
    domain_names: tuple[tuple[str, ...], ...] = Field(
        default=(), description="per level, the name of each domain id (optional)"
    )

    _row_of: dict[int, int] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _arrays(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        dims = tuple(out.get("dims", ()))
        levels = tuple(out.get("levels", ()))
        out["ids"] = _int_array(out.get("ids", ()), ndim=1, width=None, what="ids")
        out["free"] = _int_array(out.get("free", ()), ndim=2, width=len(dims), what="free")
        out["domain"] = _int_array(out.get("domain", ()), ndim=2, width=len(levels), what="domain")
        if out.get("frag_cost") is not None:
            out["frag_cost"] = _int_array(out["frag_cost"], ndim=2, width=None, what="frag_cost")
        return out

    @model_validator(mode="after")
    def _check(self) -> NodeTable:
        if self.__pydantic_private__ and self._row_of is not None:
            return self  # already checked: the table is being embedded in an instance
        n = len(self.ids)
        for what, arr in (("free", self.free), ("domain", self.domain)):
            if arr.shape[0] != n:
                raise ValueError(f"NodeTable.{what}: {arr.shape[0]} rows for {n} ids")
        if len(self.names) != n:
            raise ValueError(f"NodeTable.names: {len(self.names)} names for {n} ids")
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"NodeTable.dims: duplicate dimension names in {list(self.dims)}")
        row_of = {int(v): r for r, v in enumerate(self.ids.tolist())}
        if len(row_of) != n:
            values, counts = np.unique(self.ids, return_counts=True)
            dup = int(values[counts > 1][0])
            raise ValueError(f"NodeTable.ids: node id {dup} appears more than once")
        self._check_domains()
        if self.frag_cost is not None:
            if self.frag_cost.shape[0] != n or self.frag_cost.shape[1] < 1:
                raise ValueError(f"NodeTable.frag_cost: shape {self.frag_cost.shape} for {n} rows")
            bad = np.flatnonzero(self.frag_cost[:, 0] != 0)
            if bad.size:
                r = int(bad[0])
                raise ValueError(
                    f"NodeTable.frag_cost[{self.names[r]}][0]: growth for 0 pods must be 0, "
                    f"got {int(self.frag_cost[r, 0])}"
                )
        self._row_of = row_of
        return self

    def _check_domains(self) -> None:
        if self.domain.size and int(self.domain.min()) < -1:
            r, lv = (int(v) for v in np.argwhere(self.domain < -1)[0])
            raise ValueError(
                f"NodeTable.domain[{self.names[r]}][{self.levels[lv]}]: domain ids are >= 0 "
                f"or -1 for none, got {int(self.domain[r, lv])}"
            )
        for lv in range(1, len(self.levels)):
            coarse, fine = self.domain[:, lv - 1], self.domain[:, lv]
            orphan = np.flatnonzero((coarse < 0) & (fine >= 0))
            if orphan.size:
                r = int(orphan[0])
                raise ValueError(
                    f"NodeTable.domain[{self.names[r]}][{self.levels[lv]}]: node has domain "
                    f"{int(fine[r])} but none at the coarser level {self.levels[lv - 1]}"
                )
            has = fine >= 0
            parent = np.full(int(fine.max(initial=-1)) + 1, -1, dtype=np.int64)
            parent[fine[has]] = coarse[has]
            clash = np.flatnonzero(parent[fine[has]] != coarse[has])
            if clash.size:
                d = int(fine[has][clash[0]])
                raise ValueError(
                    f"NodeTable.domain[{self.levels[lv]}]: domain {d} lies in more than one "
                    f"{self.levels[lv - 1]} domain (domain ids must be nested)"
                )
        for lv, names in enumerate(self.domain_names):
            top = int(self.domain[:, lv].max()) if self.domain.shape[0] else -1
            if lv >= len(self.levels) or len(names) <= top:
                raise ValueError(
                    f"NodeTable.domain_names[{lv}]: {len(names)} names do not cover domain id {top}"
                )

    @classmethod
    def from_nodes(
        cls,
        nodes: Sequence[NodeSupply],
        dims: Sequence[str],
        levels: Sequence[str],
        domain_names: Sequence[Sequence[str]] = (),
    ) -> NodeTable:
        """Build a table from per-node records (rows in the given order)."""
        for node in nodes:
            if len(node.free) != len(dims) or len(node.domain) != len(levels):
                raise ValueError(
                    f"NodeSupply {node.name}: free has {len(node.free)} values for "
                    f"{len(dims)} dims, domain {len(node.domain)} for {len(levels)} levels"
                )
        frag: list[tuple[int, ...]] | None = None
        if any(node.frag_cost is not None for node in nodes):
            widths = {len(node.frag_cost or ()) for node in nodes}
            if len(widths) != 1 or 0 in widths:
                raise ValueError(
                    f"NodeSupply.frag_cost: every node needs the same number of values, "
                    f"got lengths {sorted(widths)}"
                )
            frag = [node.frag_cost or () for node in nodes]
        return cls(
            dims=tuple(dims),
            levels=tuple(levels),
            ids=[node.id for node in nodes],
            names=tuple(node.name for node in nodes),
            free=[node.free for node in nodes],
            domain=[node.domain for node in nodes],
            frag_cost=frag,
            domain_names=tuple(tuple(n) for n in domain_names),
        )

    def with_frag_cost(self, frag_cost: IntArray | None) -> NodeTable:
        """The same nodes with another fragmentation-growth table (validated), e.g. the one
        computed for the gang about to be placed."""
        return NodeTable(
            dims=self.dims,
            levels=self.levels,
            ids=self.ids,
            names=self.names,
            free=self.free,
            domain=self.domain,
            frag_cost=frag_cost,
            domain_names=self.domain_names,
        )

    def row(self, node_id: int) -> int | None:
        """Row of a dense node id, None when the node is not in the table."""
        private = self.__pydantic_private__
        assert private is not None
        found: int | None = private["_row_of"].get(node_id)
        return found

    def rows(self, node_ids: Sequence[int] | IntArray) -> IntArray:
        """Rows of many dense node ids at once (-1 for ids not in the table)."""
        ids = np.asarray(node_ids, dtype=np.int64)
        order = np.argsort(self.ids, kind="stable")
        pos = np.clip(np.searchsorted(self.ids, ids, sorter=order), 0, max(len(order) - 1, 0))
        if not len(order):
            return np.full(ids.shape, -1, dtype=np.int64)
        rows: IntArray = order[pos].astype(np.int64)
        rows[self.ids[rows] != ids] = -1
        return rows

    def domain_name(self, level: int, domain: int) -> str:
        """Display name of a domain at a level."""
        if level < len(self.domain_names) and 0 <= domain < len(self.domain_names[level]):
            return self.domain_names[level][domain]
        return f"{level_label(self.levels[level])}-{domain}"


class PodDemand(BaseModel):
    """One pod of a gang: integer demand per dimension of the table."""

    model_config = _FROZEN

    id: int = Field(description="pod id, unique within its gang")
    name: str = Field(default="", description="pod name, for messages")
    demand: tuple[int, ...] = Field(description="demand per dimension of the table, >= 0")
    allowed: tuple[int, ...] | None = Field(
        default=None, description="node ids the pod may use (None = every node of the table)"
    )


class Cut(BaseModel):
    """A limit learnt from the exact device allocator: node ``node`` cannot host more than
    ``max_pods`` of the pods ``pods`` (None = all pods of the gang) at once."""

    model_config = _FROZEN

    node: int = Field(description="dense node id")
    max_pods: int = Field(ge=0, description="most of these pods the node can host together")
    pods: tuple[int, ...] | None = Field(default=None, description="pod ids; None = all")


class GangSpec(BaseModel):
    """A set of pods placed all together or not at all, with its topology constraints.

    ``required_level``: all pods in one domain of that level. ``preferred_level`` (finer than
    the required one): use as few domains of that level as possible. ``exclusive``: the chosen
    required-level domain must not be one of ``blocked_domains`` (the domains other exclusive
    gangs use). ``priority`` gates preemption victims.
    """

    model_config = _FROZEN

    key: str = Field(description="gang name, for messages and results")
    pods: tuple[PodDemand, ...] = Field(min_length=1, description="the gang's pods")
    required_level: int | None = Field(default=None, description="level index, or None")
    preferred_level: int | None = Field(default=None, description="level index, or None")
    exclusive: bool = Field(default=False, description="take a domain no other gang uses")
    blocked_domains: tuple[int, ...] = Field(
        default=(), description="required-level domain ids the gang may not use"
    )
    cuts: tuple[Cut, ...] = Field(default=(), description="allocator refutations")
    priority: int = Field(default=0, description="pod priority of the gang")

    @property
    def size(self) -> int:
        """Number of pods."""
        return len(self.pods)

    def check_against(self, table: NodeTable, where: str) -> None:
        """Raise ValueError when the gang does not fit the table's dims, levels or node ids."""
        seen: set[int] = set()
        for pod in self.pods:
            if pod.id in seen:
                raise ValueError(f"{where}.pods: pod id {pod.id} appears more than once")
            seen.add(pod.id)
            if len(pod.demand) != len(table.dims):
                raise ValueError(
                    f"{where}.pods[{pod.id}].demand: {len(pod.demand)} values for dims "
                    f"{list(table.dims)}"
                )
            if any(v < 0 for v in pod.demand):
                raise ValueError(f"{where}.pods[{pod.id}].demand: negative value in {pod.demand}")
            for node in pod.allowed or ():
                if table.row(node) is None:
                    raise ValueError(f"{where}.pods[{pod.id}].allowed: unknown node id {node}")
        nlevels = len(table.levels)
        for field in ("required_level", "preferred_level"):
            value = getattr(self, field)
            if value is not None and not 0 <= value < nlevels:
                raise ValueError(f"{where}.{field}: {value} is not a level index below {nlevels}")
        req, pref = self.required_level, self.preferred_level
        if req is not None and pref is not None and pref <= req:
            raise ValueError(
                f"{where}.preferred_level: {pref} must be finer than required_level {req}"
            )
        if (self.exclusive or self.blocked_domains) and req is None:
            raise ValueError(f"{where}.required_level: exclusive or blocked domains need a level")
        for cut in self.cuts:
            if table.row(cut.node) is None:
                raise ValueError(f"{where}.cuts: unknown node id {cut.node}")
            unknown = sorted(set(cut.pods or ()) - seen)
            if unknown:
                raise ValueError(f"{where}.cuts[node {cut.node}].pods: unknown pod ids {unknown}")


def _check_frag_width(table: NodeTable, pods: int, where: str) -> None:
    if table.frag_cost is not None and table.frag_cost.shape[1] < pods + 1:
        raise ValueError(
            f"{where}.table.frag_cost: {table.frag_cost.shape[1]} columns, need {pods + 1} "
            f"(0..{pods} pods per node)"
        )


class GangInstance(BaseModel):
    """Whole-gang placement: put every pod of ``gang`` on the table's nodes, or none."""

    model_config = _FROZEN

    table: NodeTable
    gang: GangSpec

    @model_validator(mode="after")
    def _check(self) -> GangInstance:
        self.gang.check_against(self.table, f"GangInstance[{self.gang.key}]")
        _check_frag_width(self.table, self.gang.size, f"GangInstance[{self.gang.key}]")
        return self


class Victim(BaseModel):
    """A running pod that could be evicted to make room."""

    model_config = _FROZEN

    key: str = Field(description="pod key (namespace/name), unique in the instance")
    node: int = Field(description="dense node id the pod runs on")
    priority: int = Field(description="pod priority")
    work_lost: int = Field(ge=0, description="work lost if evicted now (caller's unit)")
    gang: str | None = Field(default=None, description="gang key; a gang is evicted whole")
    freed: tuple[int, ...] = Field(description="supply freed per dimension when evicted")
    frag_cost: int = Field(default=0, description="fragmentation created by evicting it")


class PreemptionInstance(BaseModel):
    """Make room for ``gang`` (one pod or a whole gang) by evicting victims of lower priority.

    ``table.free`` is the supply free now (the victims still running). Only victims with
    ``priority < gang.priority`` may be chosen, and a victim gang only whole, and only if
    every member is eligible; every member of a victim gang must be listed.
    """

    model_config = _FROZEN

    table: NodeTable
    gang: GangSpec
    victims: tuple[Victim, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> PreemptionInstance:
        where = f"PreemptionInstance[{self.gang.key}]"
        self.gang.check_against(self.table, where)
        _check_frag_width(self.table, self.gang.size, where)
        keys: set[str] = set()
        for v in self.victims:
            if v.key in keys:
                raise ValueError(f"{where}.victims: key {v.key!r} appears more than once")
            keys.add(v.key)
            if self.table.row(v.node) is None:
                raise ValueError(f"{where}.victims[{v.key}].node: unknown node id {v.node}")
            if len(v.freed) != len(self.table.dims) or any(x < 0 for x in v.freed):
                raise ValueError(f"{where}.victims[{v.key}].freed: bad value {v.freed}")
        return self
