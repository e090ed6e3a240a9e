"""Topology spread constraints as PodTopologySpread evaluates them, and its args.

Who uses it: :mod:`scheduler.plugins.podtopologyspread`. Mirrors
``pkg/scheduler/framework/plugins/podtopologyspread/common.go`` and the args validation of
``pkg/scheduler/apis/config/validation/validation_pluginargs.go`` (1.35); see
``docs/semantics/interpodaffinity-podtopologyspread.md``.

* :func:`spread_constraints` keeps the constraints of one ``whenUnsatisfiable`` action,
  parses each selector (nil selects no pod) with ``matchLabelKeys`` merged in from the pod's
  labels, and applies the defaults: ``minDomains`` 1, ``nodeAffinityPolicy`` Honor,
  ``nodeTaintsPolicy`` Ignore.
* :func:`node_inclusion` says, per constraint, which nodes its policies admit: Honor node
  affinity = the node matches the pod's ``nodeSelector`` and required node affinity; Honor
  taints = the pod tolerates the node's NoSchedule/NoExecute taints.
* :func:`matching_pods` counts per node the pods a constraint's selector matches: same
  namespace as the incoming pod, not terminating; a selector that selects everything
  (``{}``) counts nothing (upstream's ``selector.Empty()`` shortcut).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationInfo, field_validator

from scheduler.api.pod import Pod, TopologySpreadConstraint
from scheduler.api.selectors import CompiledLabelSelector, compile_label_selector, label_key_problem
from scheduler.api.taints import find_untolerated
from scheduler.plugins.helper.affinityterms import (
    Narrowing,
    merge_label_keys,
    narrowing,
    selects_everything,
)
from scheduler.plugins.helper.args import PluginArgs
from scheduler.plugins.helper.nodeselection import required_plan
from scheduler.plugins.helper.placedpods import PlacedPods

if TYPE_CHECKING:
    from scheduler.cluster.snapshot import Snapshot

__all__ = [
    "DO_NOT_SCHEDULE",
    "HOSTNAME",
    "SCHEDULE_ANYWAY",
    "SYSTEM_DEFAULT_CONSTRAINTS",
    "PodTopologySpreadArgs",
    "SpreadConstraint",
    "matching_pods",
    "node_inclusion",
    "spread_constraints",
]

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"

SYSTEM_DEFAULT_CONSTRAINTS: tuple[TopologySpreadConstraint, ...] = (
    TopologySpreadConstraint(max_skew=3, topology_key=HOSTNAME, when_unsatisfiable=SCHEDULE_ANYWAY),
    TopologySpreadConstraint(max_skew=5, topology_key=ZONE, when_unsatisfiable=SCHEDULE_ANYWAY),
)
"""kube-scheduler's ``systemDefaultConstraints`` (``defaultingType: System``)."""

Mask = npt.NDArray[np.bool_]


class PodTopologySpreadArgs(PluginArgs):
    """Args of PodTopologySpread (kube-scheduler's ``PodTopologySpreadArgs``)."""

    default_constraints: tuple[TopologySpreadConstraint, ...] = Field(
        default=(),
        alias="defaultConstraints",
        description=(
            "Constraints for pods that define none (defaultingType List); each without a "
            "labelSelector: the selector comes from the pod's Services and controller."
        ),
    )
    defaulting_type: Literal["System", "List"] = Field(
        default="System",
        alias="defaultingType",
        description=(
            "System: kube-scheduler's built-in defaults (hostname maxSkew 3, zone maxSkew 5, "
            "ScheduleAnyway); List: defaultConstraints."
        ),
    )

    @field_validator("default_constraints")
    @classmethod
    def _valid_constraints(
        cls, constraints: tuple[TopologySpreadConstraint, ...]
    ) -> tuple[TopologySpreadConstraint, ...]:
        seen: set[tuple[str, str]] = set()
        for i, c in enumerate(constraints):
            where = f"defaultConstraints[{i}]"
            if c.max_skew <= 0:
                raise ValueError(f"{where}.maxSkew: {c.max_skew} is not in valid range (> 0)")
            problem = label_key_problem(c.topology_key) if c.topology_key else "required"
            if problem:
                raise ValueError(f"{where}.topologyKey: {problem}")
            if c.when_unsatisfiable not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
                raise ValueError(
                    f"{where}.whenUnsatisfiable: {c.when_unsatisfiable!r} is not supported "
                    f"({DO_NOT_SCHEDULE}, {SCHEDULE_ANYWAY})"
                )
            if c.label_selector is not None:
                raise ValueError(
                    f"{where}.labelSelector: forbidden, the selector is deduced for each pod"
                )
            pair = (c.topology_key, c.when_unsatisfiable)
            if pair in seen:
                raise ValueError(f"{where}: duplicate {{{pair[0]}, {pair[1]}}}")
            seen.add(pair)
        return constraints

    @field_validator("defaulting_type")
    @classmethod
    def _system_without_list(cls, kind: str, info: ValidationInfo) -> str:
        if kind == "System" and info.data.get("default_constraints"):
            raise ValueError("System cannot be combined with non-empty defaultConstraints")
        return kind


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """One constraint ready for evaluation (upstream ``topologySpreadConstraint``)."""

    max_skew: int
    topology_key: str
    selector: CompiledLabelSelector
    min_domains: int
    honor_node_affinity: bool
    honor_taints: bool
    narrowing: Narrowing | None = None


def spread_constraints(
    constraints: Sequence[TopologySpreadConstraint], pod: Pod, action: str
) -> tuple[SpreadConstraint, ...]:
    """The constraints whose ``whenUnsatisfiable`` is ``action``, parsed (see the module
    docstring). Raises :class:`~scheduler.api.errors.InvalidSelectorError`."""
    labels = pod.metadata.labels
    out: list[SpreadConstraint] = []
    for c in constraints:
        if c.when_unsatisfiable != action:
            continue
        selector = merge_label_keys(c.label_selector, labels, c.match_label_keys)
        out.append(
            SpreadConstraint(
                max_skew=c.max_skew,
                topology_key=c.topology_key,
                selector=compile_label_selector(selector),
                min_domains=c.min_domains if c.min_domains is not None else 1,
                honor_node_affinity=(c.node_affinity_policy or HONOR) == HONOR,
                honor_taints=c.node_taints_policy == HONOR,
                narrowing=narrowing(selector),
            )
        )
    return tuple(out)


def has_all_keys(
    snapshot: Snapshot, constraints: Sequence[SpreadConstraint], nodes: npt.NDArray[np.intp]
) -> Mask:
    """Which of ``nodes`` carry every constraint's topology key."""
    mask = np.ones(len(nodes), dtype=bool)
    for c in constraints:
        mask &= snapshot.label_column(c.topology_key)[0][nodes] >= 0
    return mask


def node_inclusion(
    snapshot: Snapshot, pod: Pod, constraints: Sequence[SpreadConstraint]
) -> list[Mask]:
    """Per constraint, which nodes (all of them, by id) its inclusion policies admit."""
    everything = np.ones(snapshot.size, dtype=bool)
    affinity = everything
    if any(c.honor_node_affinity for c in constraints):
        spec = pod.spec
        node_affinity = spec.affinity.node_affinity if spec.affinity else None
        plan = required_plan(node_affinity, spec.node_selector)
        affinity = plan.matches(snapshot, np.arange(snapshot.size, dtype=np.intp))
    tolerated = everything
    if any(c.honor_taints for c in constraints):
        groups, group_of = snapshot.taint_groups
        blocking = {"NoSchedule", "NoExecute"}
        ok = np.array(
            [not find_untolerated(t, pod.spec.tolerations, blocking) for t in groups], dtype=bool
        )
        tolerated = ok[group_of] if len(groups) else everything
    return [
        (affinity if c.honor_node_affinity else everything)
        & (tolerated if c.honor_taints else everything)
        for c in constraints
    ]


def matching_pods(
    placed: PlacedPods, constraint: SpreadConstraint, namespace: str, nodes: Mask
) -> npt.NDArray[np.int64]:
    """Per node id, how many pods on it ``constraint`` counts (0 outside ``nodes``)."""
    counts = np.zeros(len(nodes), dtype=np.int64)
    selector = constraint.selector
    if selects_everything(selector):
        return counts
    for i, p in placed.candidates(constraint.narrowing):
        if nodes[i] and not p.terminating and p.namespace == namespace:
            counts[i] += selector.matches(p.labels)
    return counts
