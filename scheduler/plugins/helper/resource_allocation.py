"""The resource-allocation scoring strategies of NodeResourcesFit (kube-scheduler 1.35).

``NodeResourcesFitArgs.scoringStrategy`` (``pkg/scheduler/apis/config/types_pluginargs.go``;
defaults in ``v1/defaults.go``; checks in ``validation/validation_pluginargs.go``) picks one
of three per-resource scores, combined over the configured resources (default cpu and
memory, weight 1) that the node has (allocatable > 0):

* **LeastAllocated** (``least_allocated.go``): ``floor((cap - req) * 100 / cap)``, 0 when
  ``req > cap``; node score ``floor(sum(score * w) / sum(w))``;
* **MostAllocated** (``most_allocated.go``): ``floor(min(req, cap) * 100 / cap)``; combined
  likewise;
* **RequestedToCapacityRatio** (``requested_to_capacity_ratio.go``, ``helper/shape_score.go``):
  utilisation ``floor(req * 100 / cap)`` (100 when ``req > cap``) goes through a piecewise
  linear ``shape`` of ``(utilization, score)`` points, scores 0..10 scaled by 10, Go's
  truncating division between points and the end values outside them; only resources with
  a positive score count, and the node score is ``round(sum(score * w) / sum(w))``.

``req`` is the node's requested amount plus the pod's (non-zero for cpu and memory: see
:func:`scheduler.plugins.noderesources.non_zero_requests`). Who calls: NodeResourcesFit's
Score, with per-resource ``[nodes, resources]`` arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from scheduler.framework.interfaces import MAX_NODE_SCORE
from scheduler.plugins.helper.args import PluginArgs

__all__ = [
    "MAX_CUSTOM_PRIORITY_SCORE",
    "ResourceSpec",
    "ScoringStrategy",
    "ShapePoint",
    "least_requested_score",
    "most_requested_score",
    "node_scorer",
    "unique_resources",
]

MAX_CUSTOM_PRIORITY_SCORE = 10
"""``config.MaxCustomPriorityScore``: the top of a RequestedToCapacityRatio shape."""

Ints = npt.NDArray[np.int64]


class ResourceSpec(PluginArgs):
    """One scored resource and its weight (``ResourceSpec``)."""

    name: str = Field(min_length=1, description="Resource name, e.g. cpu, memory, nvidia.com/gpu.")
    weight: int = Field(
        default=1, ge=0, le=100, description="Weight in 1..100 (0 or unset means 1)."
    )

    @field_validator("weight")
    @classmethod
    def _default_zero(cls, weight: int) -> int:
        return weight or 1  # SetDefaults_NodeResourcesFitArgs: a 0 weight becomes 1


DEFAULT_RESOURCES = (ResourceSpec(name="cpu"), ResourceSpec(name="memory"))


def unique_resources(resources: tuple[ResourceSpec, ...]) -> tuple[ResourceSpec, ...]:
    """Reject a resource listed twice (the validator of every resources list)."""
    names = [r.name for r in resources]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"resource {name!r} is listed more than once")
    return resources


class ShapePoint(PluginArgs):
    """One point of a RequestedToCapacityRatio shape (``UtilizationShapePoint``)."""

    utilization: int = Field(ge=0, le=100, description="Utilisation in percent, 0..100.")
    score: int = Field(ge=0, le=MAX_CUSTOM_PRIORITY_SCORE, description="Score 0..10.")


class RequestedToCapacityRatio(PluginArgs):
    """``RequestedToCapacityRatioParam``: the shape of the scoring function."""

    shape: tuple[ShapePoint, ...] = Field(
        min_length=1, description="Points with strictly increasing utilization."
    )

    @field_validator("shape")
    @classmethod
    def _increasing(cls, shape: tuple[ShapePoint, ...]) -> tuple[ShapePoint, ...]:
        for before, point in itertools.pairwise(shape):
            if before.utilization >= point.utilization:
                raise ValueError(
                    f"utilization values must be sorted in increasing order "
                    f"({before.utilization} then {point.utilization})"
                )
        return shape


class ScoringStrategy(PluginArgs):
    """``ScoringStrategy`` of NodeResourcesFitArgs."""

    type: Literal["LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"] = Field(
        default="LeastAllocated", description="How per-resource allocation becomes a score."
    )
    resources: tuple[ResourceSpec, ...] = Field(
        default=DEFAULT_RESOURCES,
        description="Resources scored and their weights (default cpu and memory, weight 1).",
    )
    requested_to_capacity_ratio: RequestedToCapacityRatio | None = Field(
        default=None,
        alias="requestedToCapacityRatio",
        description="The shape; required for, and only for, RequestedToCapacityRatio.",
    )

    @field_validator("resources")
    @classmethod
    def _resources(cls, resources: tuple[ResourceSpec, ...]) -> tuple[ResourceSpec, ...]:
        return unique_resources(resources) if resources else DEFAULT_RESOURCES

    @model_validator(mode="after")
    def _shape_matches_type(self) -> ScoringStrategy:
        has_shape = self.requested_to_capacity_ratio is not None
        if self.type == "RequestedToCapacityRatio" and not has_shape:
            raise ValueError("requestedToCapacityRatio must be specified for this type")
        if self.type != "RequestedToCapacityRatio" and has_shape:
            raise ValueError(f"requestedToCapacityRatio must be unset for type {self.type}")
        return self


# -- per-resource scores ------------------------------------------------------------------------
def least_requested_score(requested: Ints, capacity: Ints) -> Ints:
    """Upstream ``leastRequestedScore``: ``floor((cap - req) * 100 / cap)``, 0 if over-full."""
    score = (capacity - requested) * MAX_NODE_SCORE // np.maximum(capacity, 1)
    return np.where((capacity == 0) | (requested > capacity), 0, score)


def most_requested_score(requested: Ints, capacity: Ints) -> Ints:
    """Upstream ``mostRequestedScore``: ``floor(min(req, cap) * 100 / cap)``."""
    score = np.minimum(requested, capacity) * MAX_NODE_SCORE // np.maximum(capacity, 1)
    return np.where(capacity == 0, 0, score)


def _trunc_div(numerator: Ints, denominator: int) -> Ints:
    """Go's integer division (truncates toward zero) for a positive denominator."""
    magnitude: Ints = np.abs(numerator) // denominator
    return np.sign(numerator) * magnitude


def shape_score(utilization: Ints, shape: Sequence[ShapePoint]) -> Ints:
    """Upstream ``BuildBrokenLinearFunction`` over scores scaled to 0..100."""
    scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
    points = [(p.utilization, p.score * scale) for p in shape]
    out = np.full(utilization.shape, points[-1][1], dtype=np.int64)
    done = np.zeros(utilization.shape, dtype=bool)
    for i, (u, s) in enumerate(points):
        here = ~done & (utilization <= u)
        if i == 0:
            value = np.full(utilization.shape, s, dtype=np.int64)
        else:
            u0, s0 = points[i - 1]
            value = s0 + _trunc_div((s - s0) * (utilization - u0), u - u0)
        out = np.where(here, value, out).astype(np.int64)
        done |= here
    return out


# -- node scores --------------------------------------------------------------------------------
NodeScorer = Callable[[Ints, Ints, Ints], Ints]
"""``(requested [N, R], capacity [N, R], weights [R]) -> [N]`` node scores."""


def _weighted_floor(per_resource: Callable[[Ints, Ints], Ints]) -> NodeScorer:
    def score(requested: Ints, capacity: Ints, weights: Ints) -> Ints:
        present = capacity > 0
        total = (np.where(present, per_resource(requested, capacity), 0) * weights).sum(axis=1)
        weight = (present * weights).sum(axis=1)
        return np.where(weight > 0, total // np.maximum(weight, 1), 0).astype(np.int64)

    return score


def _ratio_scorer(shape: Sequence[ShapePoint]) -> NodeScorer:
    def score(requested: Ints, capacity: Ints, weights: Ints) -> Ints:
        present = capacity > 0
        full = requested > capacity
        utilization = np.where(
            full | ~present,
            100,
            np.maximum(requested, 0) * 100 // np.maximum(capacity, 1),
        )
        per_resource = shape_score(utilization.astype(np.int64), shape)
        counted = present & (per_resource > 0)
        total = (np.where(counted, per_resource, 0) * weights).sum(axis=1)
        weight = (counted * weights).sum(axis=1)
        # Go's math.Round of a non-negative ratio: half rounds up
        rounded = (2 * total + weight) // np.maximum(2 * weight, 1)
        return np.where(weight > 0, rounded, 0).astype(np.int64)

    return score


def node_scorer(strategy: ScoringStrategy) -> NodeScorer:
    """The node scorer of a scoring strategy (see the module docstring)."""
    if strategy.type == "LeastAllocated":
        return _weighted_floor(least_requested_score)
    if strategy.type == "MostAllocated":
        return _weighted_floor(most_requested_score)
    assert strategy.requested_to_capacity_ratio is not None  # checked by the model
    return _ratio_scorer(strategy.requested_to_capacity_ratio.shape)
