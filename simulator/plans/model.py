"""The Plan schema (``apiVersion: tessera.io/v1alpha1``, ``kind: Plan``) and its loader.

A plan asks "how many nodes of which pool, under which policy, so that every target holds
on every seed": it names a scenario (:mod:`simulator.scenarios`), optionally overridden (a
shorter window of the day, other demand), the cluster spec the candidate pools are added to
(default: the scenario's), the candidate node pools with their count bounds and prices, the
policies and seeds to replay, the targets, and the what-if rows of the report. The fields are
documented here (``description=``) and in ``traces/README.md``.

:func:`load_plan` reads, validates and resolves a plan file into a :class:`ResolvedPlan`:
the scenario with the overrides applied, the base cluster spec, and every candidate pool as
a cluster-spec node pool (checked by building the cluster spec at the pools' minimum and
maximum counts). Any problem is a ValueError of one line naming the plan file, the field
path and the value, e.g. ``llm.yaml: invalid plan: pools[1].costPerHour: Input should be
greater than or equal to 0 (got -3.0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from simulator.drivers.spec import (
    ClusterSpec,
    NoAccelerator,
    NodePoolSpec,
    TpuAccelerator,
    load_cluster_spec,
    parse_cluster_spec,
)
from simulator.drivers.tpu import tpu_slice_shape
from simulator.experiments.policies import REPLAY_POLICIES
from simulator.scenarios.model import Model, Scenario, Seconds, is_scenario, parse_scenario
from simulator.validation_problem import field_path, parse_mapping

__all__ = [
    "KIND",
    "CandidatePool",
    "Plan",
    "ResolvedPlan",
    "Targets",
    "load_plan",
    "merge_overrides",
    "parse_plan",
]

KIND = "Plan"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PoolName = Annotated[str, Field(min_length=1, max_length=40, pattern=DNS_LABEL)]
MAX_COUNT = 10_000


class ScenarioRef(Model):
    """The scenario the plan replays, with optional overrides."""

    path: str = Field(min_length=1, description="Scenario file, relative to the plan file.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Merged into the scenario before it is validated: mappings merge key by "
        "key, ``workloads`` and ``priorityClasses`` entries merge with the scenario's entry "
        "of the same ``name``, other lists and values replace.",
    )


class CandidatePool(Model):
    """A candidate node pool: what its nodes are, how many may be bought, at what price."""

    name: PoolName = Field(description="Pool name (label tessera.io/node-pool).")
    from_pool: str | None = Field(
        default=None,
        alias="from",
        description="A pool of the base cluster spec whose node, accelerator, placement, "
        "labels, taints and instanceType this pool starts from.",
    )
    node: dict[str, Any] | None = Field(default=None, description="Cluster-spec node shape.")
    accelerator: dict[str, Any] | None = Field(
        default=None, description="Cluster-spec accelerator (replaces the base pool's)."
    )
    exposure: Literal["dra", "device-plugin"] | None = Field(
        default=None, description="How the accelerators are offered (over the accelerator's)."
    )
    placement: dict[str, Any] | None = Field(
        default=None, description="Cluster-spec placement, merged over the base pool's."
    )
    labels: dict[str, str] | None = Field(default=None, description="Extra node labels.")
    instance_type: str | None = Field(default=None, description="Instance type label.")
    min: int = Field(ge=0, le=MAX_COUNT, description="Fewest nodes (0: the pool may be absent).")
    max: int = Field(ge=1, le=MAX_COUNT, description="Most nodes.")
    cost_per_hour: float = Field(ge=0, description="Price of one node for one hour.")

    @field_validator("cost_per_hour")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number (got {value})")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> CandidatePool:
        if self.min > self.max:
            raise ValueError(f"min must be <= max (got min {self.min} > max {self.max})")
        return self


class Targets(Model):
    """What must hold on every seed (at least one target)."""

    serving_pending_p99: Seconds | None = Field(
        default=None,
        description="Serving pods' pending time, 99th percentile, at most this (a serving "
        "pod never placed counts as pending until it was deleted).",
    )
    gang_wait_p99: Seconds | None = Field(
        default=None, description="Gang wait (first member created -> all bound), p99, at most."
    )
    batch_gpu_hours_per_day: float | None = Field(
        default=None, ge=0, description="Batch accelerator-hours done, per day, at least."
    )
    batch_fill_pct: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Batch share of the accelerator-hours serving left, at least (percent).",
    )

    @model_validator(mode="after")
    def _some(self) -> Targets:
        if all(getattr(self, name) is None for name in TARGET_FIELDS):
            raise ValueError(
                "set at least one of servingPendingP99, gangWaitP99, batchGpuHoursPerDay, "
                "batchFillPct"
            )
        return self


TARGET_FIELDS = (
    "serving_pending_p99",
    "gang_wait_p99",
    "batch_gpu_hours_per_day",
    "batch_fill_pct",
)


class LoseRack(Model):
    """What-if: the last full rack of the largest pool fails at ``at`` (default: mid-scenario)."""

    at: Seconds | None = Field(default=None, description="When the rack fails.")


class MigLayout(Model):
    """What-if: ``pool``'s GPUs carry a static MIG ``layout`` instead."""

    pool: PoolName
    layout: tuple[str, ...] = Field(min_length=1, max_length=7, description="Profiles of one GPU.")


class WhatIf(Model):
    """The what-if rows of the report (each replayed at the recommended mix and policy)."""

    lose_rack: LoseRack | None = Field(default_factory=LoseRack)
    device_plugin: bool = Field(
        default=True, description="Offer the GPUs through the device plugin instead of DRA."
    )
    mig_layout: MigLayout | None = None


class Stranded(Model):
    """When to measure stranded capacity at the recommended size."""

    at: Seconds | None = Field(default=None, description="Default: mid-scenario.")


class PlanMeta(Model):
    """``metadata``."""

    name: PoolName
    description: str = ""


class Search(Model):
    """Search limits."""

    max_points: int = Field(default=80, ge=1, le=10_000, description="At most this many points.")


class Plan(Model):
    """A capacity plan (see the module docstring)."""

    api_version: Literal["tessera.io/v1alpha1"]
    kind: Literal["Plan"]
    metadata: PlanMeta
    scenario: ScenarioRef
    cluster: str | None = Field(
        default=None, description="Base cluster spec, relative to the plan (default: scenario's)."
    )
    keep_pools: tuple[str, ...] | None = Field(
        default=None,
        description="Base pools kept as they are (default: those without accelerators).",
    )
    pools: tuple[CandidatePool, ...] = Field(min_length=1, max_length=8)
    policies: tuple[str, ...] = Field(default=("tessera",), min_length=1)
    seeds: tuple[int, ...] | None = Field(default=None, min_length=1)
    targets: Targets
    what_if: WhatIf = Field(default_factory=WhatIf)
    stranded: Stranded = Field(default_factory=Stranded)
    search: Search = Field(default_factory=Search)

    @field_validator("policies")
    @classmethod
    def _policies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, name in enumerate(value):
            if name not in REPLAY_POLICIES:
                raise ValueError(
                    f"[{i}] {name!r} is not a replay policy (expected one of "
                    f"{', '.join(REPLAY_POLICIES)})"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"a policy is repeated (got {list(value)})")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (any(s < 0 for s in value) or len(set(value)) != len(value)):
            raise ValueError(f"seeds must be distinct integers >= 0 (got {list(value)})")
        return value

    @model_validator(mode="after")
    def _names(self) -> Plan:
        names = [p.name for p in self.pools]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ValueError(f"pools[{i}].name: {name!r} is used twice")
        if self.what_if.mig_layout is not None and self.what_if.mig_layout.pool not in names:
            raise ValueError(
                f"whatIf.migLayout.pool: {self.what_if.mig_layout.pool!r} is not one of the "
                f"pools ({', '.join(names)})"
            )
        return self


@dataclass(frozen=True, slots=True)
class ResolvedPlan:
    """A validated plan with its inputs read: the scenario (overrides applied, as data and
    as a model), the base cluster spec without the candidate pools, and each candidate pool
    as cluster-spec data (its ``count`` set per point)."""

    plan: Plan
    source: Path
    scenario_path: Path
    scenario: Scenario
    scenario_data: dict[str, Any]
    base: ClusterSpec
    pool_specs: tuple[dict[str, Any], ...]
    seeds: tuple[int, ...]

    @property
    def pools(self) -> tuple[CandidatePool, ...]:
        """The candidate pools, in plan order."""
        return self.plan.pools

    def cluster_data(
        self, counts: tuple[int, ...], pools: tuple[dict[str, Any], ...] | None = None
    ) -> dict[str, Any]:
        """The cluster spec (as data) with ``counts`` nodes in the candidate pools (a pool at
        0 is left out); ``pools`` replaces the candidate pools' data (what-ifs)."""
        base = self.base.model_dump(mode="json", by_alias=True, exclude_none=True)
        chosen = self.pool_specs if pools is None else pools
        added = [{**spec, "count": n} for spec, n in zip(chosen, counts, strict=True) if n > 0]
        return {**base, "nodePools": [*added, *base["nodePools"]]}


def merge_overrides(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base`` (see :class:`ScenarioRef`): mappings key by key, lists
    of mappings with a ``name`` entry by name (entries not in ``base`` are appended), other
    values replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge_overrides(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in [*base, *patch])
    ):
        merged = [dict(x) for x in base]
        index = {x["name"]: i for i, x in enumerate(merged)}
        for entry in patch:
            if entry["name"] in index:
                i = index[entry["name"]]
                merged[i] = merge_overrides(merged[i], entry)
            else:
                merged.append(entry)
        return merged
    return patch


def parse_plan(data: Any, source: str = "<plan>") -> Plan:
    """Validate a parsed plan; ValueError (one line: source, field path, value)."""
    return parse_mapping(Plan, data, source, "plan")


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None


def _candidate_pool(
    pool: CandidatePool, index: int, base: ClusterSpec, source: str
) -> dict[str, Any]:
    """A candidate pool as cluster-spec node-pool data (without ``count``)."""
    where = f"{source}: invalid plan: pools[{index}]"
    data: dict[str, Any] = {"name": pool.name}
    if pool.from_pool is not None:
        found = next((p for p in base.node_pools if p.name == pool.from_pool), None)
        if found is None:
            names = ", ".join(p.name for p in base.node_pools)
            raise ValueError(
                f"{where}.from: {pool.from_pool!r} is not a pool of cluster "
                f"{base.metadata.name} ({names})"
            )
        if found.from_openb_csv is not None:
            raise ValueError(f"{where}.from: {pool.from_pool!r} is an openb pool (no count)")
        copied = found.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key in ("node", "accelerator", "placement", "labels", "taints", "instanceType"):
            if key in copied:
                data[key] = copied[key]
    if pool.node is not None:
        data["node"] = pool.node
    if pool.accelerator is not None:
        data["accelerator"] = pool.accelerator
    if pool.placement is not None:
        data["placement"] = {**data.get("placement", {}), **pool.placement}
    if pool.labels is not None:
        data["labels"] = {**data.get("labels", {}), **pool.labels}
    if pool.instance_type is not None:
        data["instanceType"] = pool.instance_type
    if "node" not in data:
        raise ValueError(f"{where}.node: required (or name a base pool with from)")
    if pool.exposure is not None:
        accel = data.get("accelerator")
        if not isinstance(accel, dict) or accel.get("kind") not in ("nvidia", "tpu"):
            raise ValueError(
                f"{where}.exposure: {pool.exposure!r} needs an nvidia or tpu accelerator"
            )
        data["accelerator"] = {**accel, "exposure": pool.exposure}
    try:
        spec = NodePoolSpec.model_validate({**data, "count": max(pool.max, 1)})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = field_path(tuple(err["loc"]), ("nvidia", "tpu", "none"))
        message = str(err["msg"]).removeprefix("Value error, ")
        shown = repr(err.get("input"))
        got = f" (got {shown})" if err["type"] != "value_error" and len(shown) <= 60 else ""
        raise ValueError(f"{where}.{loc}: {message}{got}") from None
    if isinstance(spec.accelerator, NoAccelerator):
        raise ValueError(f"{where}.accelerator: a candidate pool needs accelerators")
    return data


def accelerators_per_node(pool: dict[str, Any]) -> int:
    """Accelerators (GPUs or TPU chips) on one node of a cluster-spec pool."""
    spec = NodePoolSpec.model_validate({**pool, "count": pool.get("count", 1)})
    acc = spec.accelerator
    if isinstance(acc, TpuAccelerator):
        shape = tpu_slice_shape(acc.generation, acc.topology, acc.chips_per_vm)
        return shape.chips_per_vm
    if isinstance(acc, NoAccelerator):
        return 0
    return acc.count


def load_plan(path: str | Path) -> ResolvedPlan:
    """Read, validate and resolve a plan file (see the module docstring)."""
    file = Path(path)
    data = _read_yaml(file, "plan")
    plan = parse_plan(data, str(file))
    source = str(file)
    scenario_path = (file.parent / plan.scenario.path).resolve()
    if not is_scenario(scenario_path):
        problem = "does not exist" if not scenario_path.exists() else "is not a kind: Scenario file"
        raise ValueError(
            f"{source}: invalid plan: scenario.path: {plan.scenario.path!r} {problem} "
            f"({scenario_path})"
        )
    raw = _read_yaml(scenario_path, "scenario")
    if not isinstance(raw, dict):
        raise ValueError(f"{scenario_path}: a scenario must be a mapping")
    merged = merge_overrides(raw, plan.scenario.overrides)
    try:
        scenario = parse_scenario(merged, f"{scenario_path} with {source} scenario.overrides")
    except ValueError as exc:
        raise ValueError(f"{source}: invalid plan: scenario: {exc}") from None
    cluster_file = (
        (file.parent / plan.cluster).resolve()
        if plan.cluster is not None
        else (scenario_path.parent / scenario.cluster).resolve()
    )
    if not cluster_file.is_file():
        field = "cluster" if plan.cluster is not None else "scenario.path (its cluster)"
        raise ValueError(f"{source}: invalid plan: {field}: {str(cluster_file)!r} does not exist")
    spec = load_cluster_spec(cluster_file)
    names = {p.name for p in plan.pools}
    keep = plan.keep_pools
    if keep is None:
        keep = tuple(p.name for p in spec.node_pools if isinstance(p.accelerator, NoAccelerator))
    base_names = [p.name for p in spec.node_pools]
    for i, name in enumerate(keep):
        if name not in base_names:
            raise ValueError(
                f"{source}: invalid plan: keepPools[{i}]: {name!r} is not a pool of "
                f"{cluster_file.name} ({', '.join(base_names)})"
            )
        if name in names:
            raise ValueError(
                f"{source}: invalid plan: keepPools[{i}]: {name!r} is also a candidate pool"
            )
    pool_specs = tuple(_candidate_pool(p, i, spec, source) for i, p in enumerate(plan.pools))
    base = spec.model_copy(update={"node_pools": [p for p in spec.node_pools if p.name in keep]})
    seeds = plan.seeds if plan.seeds is not None else scenario.seeds
    resolved = ResolvedPlan(
        plan, file, scenario_path, scenario, merged, base, pool_specs, tuple(seeds)
    )
    for label, counts in (
        ("min", tuple(p.min for p in plan.pools)),
        ("max", tuple(p.max for p in plan.pools)),
    ):
        if label == "min" and not any(counts) and not base.node_pools:
            continue  # an empty cluster is not a spec; the search starts at max anyway
        try:
            parse_cluster_spec(resolved.cluster_data(counts), f"{source} (pools at {label})")
        except ValueError as exc:
            raise ValueError(
                f"{source}: invalid plan: pools: {' '.join(str(exc).split())}"
            ) from None
    if plan.what_if.mig_layout is not None:
        index = [p.name for p in plan.pools].index(plan.what_if.mig_layout.pool)
        if pool_specs[index].get("accelerator", {}).get("kind") != "nvidia":
            raise ValueError(
                f"{source}: invalid plan: whatIf.migLayout.pool: "
                f"{plan.what_if.mig_layout.pool!r} has no NVIDIA GPUs"
            )
    return resolved
