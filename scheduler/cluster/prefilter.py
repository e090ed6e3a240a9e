"""The vectorised DRA prefilter: a necessary condition, over every node at once.

Before the exact allocator runs node by node, :func:`prefilter` answers for all nodes
together, from the snapshot's template arrays: "could this pod's claims possibly be
allocated here?". It never rejects a node the exact allocator would accept (a property test
checks this); when it cannot tell, it lets the node through.

Per request (class selectors AND request selectors): each template's kinds are matched
once on the template's representative devices (cached); a node's count of matching,
currently available devices (exclusive: free and counters fit; shared: enough capacity
left for this request) must reach the request's count. An admin-access request may take
devices other claims hold, so for it held devices count too (kubernetes/kubernetes
``staging/src/k8s.io/dynamic-resource-allocation/structured/internal/*/allocator_*.go``,
``allocateDevice``: the in-use check skips admin requests; read at 02d2899). A request with
alternatives passes when any alternative does. Conservative cases (the node passes that
request):

* selectors that may read per-node identifiers (:func:`instance_sensitive`) or whose
  evaluation fails (the exact allocator reports the error);
* devices in pools that are not node-local (nodeSelector/allNodes/per-device selection);
* nodes with slices not yet attached to a template (pools mid-update);
* ``All`` requests: only "some matching device exists" is checked.

``exact`` is True when the answer is also *sufficient*: a single claim with a single
ExactCount request, no constraints, no admin access, matched devices without taints or
binding conditions, and either one device wanted or no two matched devices draw on one
counter set (:func:`picks_may_collide`). Then the exact allocator only needs to run on the
node finally chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scheduler.cluster.devices import TemplateState
from scheduler.cluster.snapshot import Snapshot
from scheduler.cluster.templates import DeviceTemplate, instance_sensitive
from scheduler.dra.allocator import MatchCache
from scheduler.dra.capacity import consumed_capacity
from scheduler.dra.cel import CelError
from scheduler.dra.claims import ClaimSpec, ClassSpec, RequestSpec
from scheduler.dra.features import Features

UNBOUNDED = 1 << 30
"""Slot count of a shared device whose capacity does not bound this request's shares."""


@dataclass(frozen=True, slots=True)
class PrefilterAnswer:
    """``possible[n]``: node n may fit all claims; ``exact``: the answer is also sufficient."""

    possible: npt.NDArray[np.bool_]
    exact: bool


@dataclass(slots=True)
class _KindMatch:
    kinds: npt.NDArray[np.bool_]
    certain: bool
    needed: npt.NDArray[np.int64] | None  # per-capacity need of one share, per shared slot
    needed_exact: bool = True  # False when some need is fractional (needed truncates)
    plan: _RowPlan | None = None  # what :func:`_count_few` reads, built on first use


@dataclass(frozen=True, slots=True)
class _RowPlan:
    """A match's kinds as Python lists, for counting a few rows without arrays: the matched
    exclusive kinds, and per matched shared kind ``(kind, [(total, used column, need)])``
    for its capacities bounding the share count (None: the share count is not bounded by
    capacity arithmetic — one slot each without a need, unbounded otherwise)."""

    exclusive: tuple[int, ...]
    shared: tuple[tuple[int, int, tuple[tuple[int, int, int], ...] | None], ...]
    exact: bool
    """Whether capacity arithmetic applies (the exact branch of :func:`_count`)."""
    exact_capacity: bool
    """The template state's ``exact_capacity`` the plan was built for."""


def _match_kinds(
    template: DeviceTemplate,
    spec: RequestSpec,
    cls: ClassSpec,
    cache: MatchCache,
    features: Features,
) -> _KindMatch:
    """Which kinds of a template a request's selectors accept (and the shares' needs)."""
    expressions = [e for e in (*cls.selectors, *spec.selectors) if e is not None]
    if len(expressions) != len(cls.selectors) + len(spec.selectors):
        return _KindMatch(np.ones(template.kinds, dtype=bool), False, None)
    sensitive = any(instance_sensitive(e, template.instance_names) for e in expressions)
    kinds = np.zeros(template.kinds, dtype=bool)
    certain = not sensitive
    for k, device in enumerate(template.devices):
        if device.binding_conditions and not features.device_binding_and_status:
            continue
        if device.consumes and not features.partitionable_devices:
            continue
        if sensitive:
            kinds[k] = True
            continue
        driver = template.driver_of_slice[template.kind_slice[k]]
        try:
            kinds[k] = all(cache.matches(e, driver, device) for e in expressions)
        except CelError:
            kinds[k] = True
            certain = False
    needed: npt.NDArray[np.int64] | None = None
    needed_exact = True
    if features.consumable_capacity:
        needed = np.zeros(
            (len(template.shared_kinds), len(template.capacity_names)), dtype=np.int64
        )
        for k in np.flatnonzero(kinds).tolist():
            device = template.devices[k]
            consumed = consumed_capacity(device, spec.capacity_requests, None, None)
            if consumed is None:
                kinds[k] = False
                continue
            slot = int(template.shared_slot[k])
            if slot >= 0:
                for name, amount in consumed.items():
                    if int(amount) != amount:
                        needed_exact = False
                    needed[slot, template.capacity_names.index(name)] = int(amount)
    return _KindMatch(kinds, certain, needed, needed_exact)


def _count(
    template: DeviceTemplate,
    state: TemplateState,
    match: _KindMatch,
    admin: bool,
    rows: npt.NDArray[np.intp],
) -> npt.NDArray[np.int64]:
    """For the given rows: how many slots of the request matching devices could serve now.

    An exclusive device serves one slot. A multi-allocatable device may serve several slots
    of one request (the allocator reuses it while capacity lasts): as many as its remaining
    capacity holds shares of this request (unbounded without a capacity limit; one each with
    DRAConsumableCapacity off, when it is allocated exclusively).

    ``admin``: the request ignores who holds a device. Every matched exclusive kind counts
    (counters unchecked); a multi-allocatable kind counts when available or held exclusively
    (with DRAConsumableCapacity off every claim holds it exclusively, and ``available`` is
    then False although an admin request may still take it).
    """
    kinds = match.kinds
    exclusive = kinds & template.exclusive
    if admin:
        count = np.full(len(rows), int(exclusive.sum()), dtype=np.int64)
    else:
        count = state.available[rows][:, exclusive].sum(axis=1).astype(np.int64)
    shared = np.flatnonzero(kinds & ~template.exclusive)
    if len(shared):
        slots = template.shared_slot[shared]
        ok = state.available[rows][:, shared]
        if admin:
            ok = ok | state.allocated[rows][:, shared]
        if match.needed is None:
            per = np.ones(ok.shape, dtype=np.int64)
        elif match.needed_exact and template.capacity_integral and state.exact_capacity:
            total = template.capacity[shared]  # [S, Q]; -1 where absent
            used = state.shared_used[rows][:, slots, :]
            need = match.needed[slots]  # [S, Q]
            limited = (total >= 0) & (need > 0)  # capacities that bound the share count
            room = np.where(limited[None], total[None] - used, 0)
            shares = np.where(limited[None], room // np.maximum(need, 1)[None], UNBOUNDED)
            per = (
                np.minimum(np.maximum(shares.min(axis=2), 0), UNBOUNDED)  # np.clip is slow
                if shares.shape[2]
                else np.full(ok.shape, UNBOUNDED, dtype=np.int64)
            )
        else:
            per = np.full(ok.shape, UNBOUNDED, dtype=np.int64)
        count = count + np.where(ok, per, 0).sum(axis=1)
    return count


FEW_ROWS = 8
"""Up to this many rows of one template, :meth:`PrefilterCache.counts` recounts them with
:func:`_count_few` (plain Python on integers) rather than :func:`_count` (arrays): after a
bind only a row or two changed, where numpy's per-call set-up costs more than the work."""


def _row_plan(template: DeviceTemplate, state: TemplateState, match: _KindMatch) -> _RowPlan:
    """The lists :func:`_count_few` reads (kept on the match and rebuilt when the state's
    ``exact_capacity`` differs from the one it was built for; the template never changes)."""
    kinds = match.kinds
    exclusive = tuple(np.flatnonzero(kinds & template.exclusive).tolist())
    exact = (
        match.needed is not None
        and match.needed_exact
        and template.capacity_integral
        and state.exact_capacity
    )
    shared: list[tuple[int, int, tuple[tuple[int, int, int], ...] | None]] = []
    for k in np.flatnonzero(kinds & ~template.exclusive).tolist():
        slot = int(template.shared_slot[k])
        bounds: tuple[tuple[int, int, int], ...] | None = None
        if exact:
            assert match.needed is not None
            total = template.capacity[k].tolist()
            need = match.needed[slot].tolist()
            bounds = tuple(
                (int(total[q]), q, int(need[q]))
                for q in range(len(total))
                if total[q] >= 0 and need[q] > 0
            )
        shared.append((k, slot, bounds))
    return _RowPlan(exclusive, tuple(shared), exact, bool(state.exact_capacity))


def _count_few(
    template: DeviceTemplate,
    state: TemplateState,
    match: _KindMatch,
    admin: bool,
    rows: list[int],
) -> list[int]:
    """:func:`_count` of a few rows in plain Python: the same integers (floor division,
    the same clamps), row by row."""
    plan = match.plan
    if plan is None or plan.exact_capacity != state.exact_capacity:
        plan = match.plan = _row_plan(template, state, match)
    out: list[int] = []
    for r in rows:
        available = state.available[r].tolist()
        if admin:
            count = len(plan.exclusive)
            allocated = state.allocated[r].tolist()
        else:
            count = sum(1 for k in plan.exclusive if available[k])
            allocated = []
        used: list[list[int]] | None = None
        for k, slot, bounds in plan.shared:
            if not (available[k] or (admin and allocated[k])):
                continue
            if match.needed is None:
                count += 1
            elif bounds is None:
                count += UNBOUNDED
            else:
                if used is None:
                    used = state.shared_used[r].tolist()
                least = UNBOUNDED  # no bounding capacity: unbounded, as in _count
                for total, q, need in bounds:
                    least = min(least, (total - used[slot][q]) // max(need, 1))
                count += min(max(least, 0), UNBOUNDED)
        out.append(count)
    return out


@dataclass(slots=True)
class _Counts:
    """Cached per-node device counts of one request signature."""

    counts: npt.NDArray[np.int64]
    versions: npt.NDArray[np.int64]
    matches: dict[int, _KindMatch]
    exact: bool
    everywhere: bool
    collide: bool = False
    """Two picks of matched devices may draw on one counter set (:func:`picks_may_collide`)."""


class PrefilterCache:
    """Per-request, per-node counts, refreshed only for nodes whose ``node_version`` moved.

    Owned by the DynamicResources plugin (long-lived). A node's count for a request depends
    only on that node's device state, so after a bind only that node is recounted. Entries
    are dropped when the node set or the device inventory changes shape.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[object, ...], _Counts] = {}
        self._shape: tuple[int, ...] | None = None

    def counts(
        self,
        snapshot: Snapshot,
        spec: RequestSpec,
        cls: ClassSpec,
        cache: MatchCache,
    ) -> _Counts:
        """Current counts for one (sub)request (ExactCount or All)."""
        shape = (
            snapshot.cache_id,
            snapshot.node_generation,
            *snapshot.device_generation,
            len(snapshot.templates),
        )
        if shape != self._shape or len(self._entries) > self.max_entries:
            self._entries.clear()
            self._shape = shape
        features = snapshot.features
        key = (
            cls.name,
            cls.selectors,
            spec.selectors,
            spec.mode or "ExactCount",
            bool(spec.admin_access),
            tuple(sorted((spec.capacity_requests or {}).items())),
            features,
        )
        entry = self._entries.get(key)
        if entry is None:
            entry = _full_counts(snapshot, spec, cls, cache)
            self._entries[key] = entry
            return entry
        stale = np.flatnonzero(entry.versions != snapshot.node_version)
        if len(stale) == 0:
            return entry
        if len(stale) * 8 > snapshot.size:
            entry = _full_counts(snapshot, spec, cls, cache)
            self._entries[key] = entry
            return entry
        admin = bool(spec.admin_access)
        all_mode = (spec.mode or "ExactCount") == "All"
        by_template: dict[int, tuple[list[int], list[int]]] = {}
        for i in stale.tolist():
            for t, row, _ in snapshot.device_rows(i):
                if t in entry.matches:
                    rows, owners = by_template.setdefault(t, ([], []))
                    rows.append(row)
                    owners.append(i)
        entry.counts[stale] = 0
        for t, (rows, owners) in by_template.items():
            if not all_mode and len(rows) <= FEW_ROWS:
                counts = entry.counts
                state = snapshot.template_states[t]
                few = _count_few(snapshot.templates[t], state, entry.matches[t], admin, rows)
                for owner, value in zip(owners, few, strict=True):
                    counts[owner] += value
                continue
            if all_mode:
                per_row = np.ones(len(rows), dtype=np.int64)
            else:
                state = snapshot.template_states[t]
                per_row = _count(
                    snapshot.templates[t], state, entry.matches[t], admin, np.array(rows)
                )
            np.add.at(entry.counts, np.array(owners), per_row)
        entry.versions[stale] = snapshot.node_version[stale]
        return entry


def _full_counts(
    snapshot: Snapshot, spec: RequestSpec, cls: ClassSpec, cache: MatchCache
) -> _Counts:
    features = snapshot.features
    admin = bool(spec.admin_access)
    all_mode = (spec.mode or "ExactCount") == "All"
    counts = np.zeros(snapshot.size, dtype=np.int64)
    matches: dict[int, _KindMatch] = {}
    exact = not all_mode and not admin
    everywhere = False
    for t, (template, state) in enumerate(
        zip(snapshot.templates, snapshot.template_states, strict=True)
    ):
        if state.rows == 0:
            continue
        match = _match_kinds(template, spec, cls, cache, features)
        if not match.kinds.any():
            continue
        matches[t] = match
        if (
            not match.certain
            or not template.integral
            or not template.capacity_integral
            or not match.needed_exact
            or not state.exact_capacity
        ):
            exact = False
        for k in np.flatnonzero(match.kinds).tolist():
            device = template.devices[k]
            if (device.taints and features.device_taints) or device.binding_conditions:
                exact = False
        rows = np.arange(state.rows)
        alive = state.row_alive[: state.rows]
        nodes = state.row_node[: state.rows]
        per_row = (
            alive.astype(np.int64) if all_mode else _count(template, state, match, admin, rows)
        )
        if not template.node_local and (alive & (per_row > 0)).any():
            everywhere = True
            continue
        local = alive & (nodes >= 0)
        np.add.at(counts, nodes[local], per_row[local])
    collide = any(picks_may_collide(snapshot.templates[t], m) for t, m in matches.items())
    return _Counts(counts, snapshot.node_version.copy(), matches, exact, everywhere, collide)


def prefilter(
    snapshot: Snapshot,
    claims: Sequence[ClaimSpec],
    cache: MatchCache,
    counts_cache: PrefilterCache,
) -> PrefilterAnswer:
    """Necessary condition for allocating ``claims`` on each node (see the module docstring).

    Nodes with slices outside any template always pass. Unknown classes and other request
    errors pass too: the exact allocator reports them.
    """
    size = snapshot.size
    classes = snapshot.classes
    possible = np.ones(size, dtype=bool)
    exact = len(claims) == 1
    for claim in claims:
        if claim.constraints or len(claim.requests) != 1:
            exact = False
        for group in claim.requests:
            alternatives = group.first_available or ((group.exactly,) if group.exactly else ())
            if group.first_available or not alternatives:
                exact = False
            group_ok = np.zeros(size, dtype=bool)
            for spec in alternatives:
                assert spec is not None
                cls = classes.get(spec.class_name)
                mode = spec.mode or "ExactCount"
                if cls is None or mode not in ("ExactCount", "All"):
                    group_ok[:] = True
                    exact = False
                    continue
                entry = counts_cache.counts(snapshot, spec, cls, cache)
                wanted = (
                    (spec.count if spec.count is not None else 1) if mode == "ExactCount" else 1
                )
                if entry.everywhere:
                    group_ok[:] = True
                    exact = False
                    continue
                group_ok |= entry.counts >= wanted
                exact = exact and entry.exact
                if wanted > 1 and entry.collide:
                    exact = False
            if not alternatives:
                group_ok[:] = True
            possible &= group_ok
    unsettled = snapshot.unsettled
    if unsettled.any():
        possible |= unsettled
        exact = False
    return PrefilterAnswer(possible, exact)


def picks_may_collide(template: DeviceTemplate, match: _KindMatch) -> bool:
    """Whether two picks of matched kinds may compete for one counter set, so that the
    count of devices available one by one is not enough for several picks at once.

    Picks cannot collide when every matched counter-consuming kind is exclusive, draws only
    on known counter sets, and no counter set is drawn on by two matched kinds (as the whole
    GPUs of dynamic MIG: each consumes its own GPU's set, and the partitions that share it are
    not matched). Then taking one available device leaves every other one available, and
    ``count >= wanted`` is sufficient."""
    using = match.kinds & template.uses_counters
    if not using.any():
        return False
    if (using & ~template.exclusive).any() or (using & template.unknown_counters).any():
        return True
    drawn = template.consumes[using].any(axis=2)  # [matched kinds, S]
    return bool((drawn.sum(axis=0) > 1).any())
