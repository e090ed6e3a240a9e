"""Claims that need a DRA feature the scheduler runs without.

A claim whose request has subrequests (``firstAvailable``) needs DRAPrioritizedList; one
with ``capacity.requests`` or a ``distinctAttribute`` constraint needs DRAConsumableCapacity;
one with ``adminAccess`` needs DRAAdminAccess. With the gate off, no cluster event can make
the claim allocatable: the allocator refuses it on every node (upstream's ``Allocate``
errors, kube-scheduler 1.35 ``staging/src/k8s.io/dynamic-resource-allocation/structured``),
and DynamicResources' PreFilter already answers UnschedulableAndUnresolvable for the
prioritized-list case (``pkg/scheduler/framework/plugins/dynamicresources``).

One place decides, two use it:

* the allocator (:mod:`scheduler.dra.allocator`) raises upstream's error text
  (:attr:`FeatureProblem.detail`, prefixed with the claim and request) at the point upstream
  checks it, so the conformance cases keep their messages;
* DynamicResources' PreFilter (:func:`feature_problem`) answers UnschedulableAndUnresolvable
  with the pod-independent :attr:`FeatureProblem.summary` — "claim needs
  DRAConsumableCapacity, off in this cluster" — which a replay counts once per pod and never
  retries (tessera's deliberate difference: upstream lets the allocator's error retry the pod
  with backoff forever).
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.dra.claims import ClaimSpec, ConstraintSpec, RequestGroup, RequestSpec
from scheduler.dra.features import Features

__all__ = [
    "FeatureProblem",
    "constraint_feature_problem",
    "feature_problem",
    "group_feature_problem",
    "request_feature_problem",
]


@dataclass(frozen=True, slots=True)
class FeatureProblem:
    """A gate a claim needs and the scheduler runs without.

    ``gate`` is the Kubernetes feature-gate name, ``request`` the request (or constraint)
    that needs it, ``detail`` upstream's allocator text after ``claim X, request Y: ``.
    """

    gate: str
    request: str
    detail: str

    @property
    def summary(self) -> str:
        """The same for every pod it affects: ``claim needs <gate>, off in this cluster``."""
        return f"claim needs {self.gate}, off in this cluster"


def group_feature_problem(group: RequestGroup, features: Features) -> FeatureProblem | None:
    """A request with subrequests while DRAPrioritizedList is off."""
    if group.first_available and not features.prioritized_list:
        return FeatureProblem(
            "DRAPrioritizedList",
            group.name,
            "has subrequests, but the DRAPrioritizedList feature is disabled",
        )
    return None


def request_feature_problem(spec: RequestSpec, features: Features) -> FeatureProblem | None:
    """Capacity requests without DRAConsumableCapacity; admin access without DRAAdminAccess
    (in the allocator's order)."""
    if spec.capacity_requests and not features.consumable_capacity:
        return FeatureProblem(
            "DRAConsumableCapacity",
            spec.name,
            "has capacity requests, but the DRAConsumableCapacity feature is disabled",
        )
    if spec.admin_access is not None and not features.admin_access:
        return FeatureProblem(
            "DRAAdminAccess", spec.name, "admin access is requested, but the feature is disabled"
        )
    return None


def constraint_feature_problem(
    constraint: ConstraintSpec, index: int, features: Features
) -> FeatureProblem | None:
    """A ``distinctAttribute`` constraint without DRAConsumableCapacity (the allocator sees
    an empty constraint, as the API server would have dropped the field)."""
    if (
        constraint.match_attribute is None
        and constraint.distinct_attribute is not None
        and not features.consumable_capacity
    ):
        return FeatureProblem(
            "DRAConsumableCapacity",
            f"constraint #{index}",
            "empty constraint (unsupported constraint type?)",
        )
    return None


def feature_problem(claim: ClaimSpec, features: Features) -> FeatureProblem | None:
    """The first gate ``claim`` needs that ``features`` has off, or None."""
    for group in claim.requests:
        found = group_feature_problem(group, features)
        if found is not None:
            return found
        for spec in (group.exactly, *group.first_available):
            if spec is not None:
                found = request_feature_problem(spec, features)
                if found is not None:
                    return found
    for index, constraint in enumerate(claim.constraints):
        found = constraint_feature_problem(constraint, index, features)
        if found is not None:
            return found
    return None
